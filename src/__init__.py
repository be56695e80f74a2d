"""Loan-default MLOps stack."""
