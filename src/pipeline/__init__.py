"""Orchestration: the functions the CLI and the Airflow DAG tasks call."""
