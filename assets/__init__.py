"""Dagster assets of the Pinterest analytics ETL (thin wrappers around the library in `pipelines/`)."""
