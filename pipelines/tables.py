"""The warehouse contract: Arrow schemas of the tidy tables (names and columns are a public contract)."""

from __future__ import annotations

import pyarrow as pa

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
# The content a row counts (user-account analytics' `content_type`: ALL = paid and organic, ORGANIC, PAID). Entities
# whose analytics have no such filter (pins, ads) are ALL, and so is every row of lake files written before the column.
UNFILTERED_CONTENT = "ALL"

# One row per metric value: per entity, per UTC day, per split bucket, per content type. Absent metrics have no row.
METRIC_DAILY = pa.schema([
    ("date", pa.date32()),
    ("entity_type", pa.string()),
    ("entity_id", pa.string()),
    ("split_field", pa.string()),
    ("split_value", pa.string()),
    ("content_type", pa.string()),
    ("metric", pa.string()),
    ("value", pa.float64()),
    ("data_status", pa.string()),
    ("is_final", pa.bool_()),
    ("extracted_at", UTC_TIMESTAMP),
])
METRIC_DAILY_KEY = ("date", "entity_type", "entity_id", "split_field", "split_value", "content_type", "metric")

# One row per entity per UTC day per split bucket (and content type) that the API reported, with or without metrics
# (PROCESSING days have none): the wide views take data_status and is_final from here.
DAILY_STATUS = pa.schema([
    ("date", pa.date32()),
    ("entity_type", pa.string()),
    ("entity_id", pa.string()),
    ("split_field", pa.string()),
    ("split_value", pa.string()),
    ("content_type", pa.string()),
    ("data_status", pa.string()),
    ("is_final", pa.bool_()),
    ("extracted_at", UTC_TIMESTAMP),
])
DAILY_STATUS_KEY = ("date", "entity_type", "entity_id", "split_field", "split_value", "content_type")

# All-time totals of a pin as last reported (`lifetime_metrics`): one row per pin per metric.
PIN_LIFETIME = pa.schema([
    ("pin_id", pa.string()),
    ("metric", pa.string()),
    ("value", pa.float64()),
    ("extracted_at", UTC_TIMESTAMP),
])


def duckdb_columns(schema: pa.Schema) -> str:
    """Column definitions for CREATE TABLE from an Arrow schema (the same types on both sides)."""
    def sql_type(t: pa.DataType) -> str:
        if pa.types.is_timestamp(t):
            return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
        return {pa.date32(): "DATE", pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN",
                pa.int64(): "BIGINT"}[t]
    return ", ".join(f"{field.name} {sql_type(field.type)}" for field in schema)
