"""Data layer: sources, ingestion, schema and data access."""
