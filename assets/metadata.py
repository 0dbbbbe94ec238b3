"""Materialization metadata shared by the assets: API use, dates, previews."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pyarrow as pa

from pipelines.pinterest.accounting import CallStats


def api_metadata(stats: CallStats) -> dict:
    snapshot = stats.snapshot()
    return {
        "api_calls": dg.MetadataValue.int(snapshot["calls"]),
        "api_calls_by_endpoint": dg.MetadataValue.json(snapshot["calls_by_endpoint"]),
        "api_replayed": dg.MetadataValue.int(snapshot["replayed"]),
        "api_retries": dg.MetadataValue.int(snapshot["retries"]),
        "api_429s": dg.MetadataValue.int(snapshot["throttled_429"]),
        "api_5xx": dg.MetadataValue.int(snapshot["server_errors_5xx"]),
        "api_wait_seconds": dg.MetadataValue.float(snapshot["limiter_wait_seconds"] + snapshot["retry_wait_seconds"]),
    }


def dates_text(dates: list[dt.date]) -> str:
    """Dates as compact ranges: 2026-11-01..2026-11-05, 2026-11-09."""
    if not dates:
        return "none"
    ranges, start, previous = [], dates[0], dates[0]
    for date in dates[1:] + [None]:
        if date is not None and (date - previous).days == 1:
            previous = date
            continue
        ranges.append(str(start) if start == previous else f"{start}..{previous}")
        if date is not None:
            start = previous = date
    return ", ".join(ranges)


def preview(table: pa.Table, rows: int = 5) -> dg.MetadataValue:
    head = table.slice(0, rows).to_pylist()
    if not head:
        return dg.MetadataValue.md("(no rows)")
    columns = list(head[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if row[c] is None else str(row[c]) for c in columns) + " |" for row in head]
    return dg.MetadataValue.md("\n".join(lines))


def column_schema(table: str, schema: pa.Schema) -> dict:
    """Definition metadata showing a table's columns, types and meanings (from the data dictionary) in the UI."""
    from pipelines.data_dictionary import RELATIONS, describe_column

    columns = [dg.TableColumn(field.name, str(field.type), description=describe_column(table, field.name) or None)
               for field in schema]
    grain = RELATIONS[table].grain if table in RELATIONS else None
    return {"dagster/column_schema": dg.TableSchema(columns=columns), **({"grain": grain} if grain else {})}


def fact_table_schema(*tables: str, lake: bool = False) -> dict:
    """Definition metadata of the wide fact tables an asset writes, as pipelines/catalog.py declares them: each
    table's key and parent columns (`lake`: as its lake files hold them, without the parents' ids and currency the
    warehouse adds), then one column per default metric, with their SQL types and meanings (from the data
    dictionary). Dagster shows one column schema per asset: the first table's; every table's is `schema_<table>`,
    and `grain` gives each table's grain. A load adds a column for a metric first seen (PINTEREST_ADS_COLUMNS beyond
    the defaults): the materialization's `columns_added` names those."""
    from pipelines import catalog, wide
    from pipelines.data_dictionary import describe_column

    schemas = {}
    for table in tables:
        fact = catalog.FACT_TABLES[table]
        base = wide.lake_columns(fact) if lake else fact.base_columns()
        declared = [*base, *((catalog.metric_column(m), catalog.metric_type(m)) for m in fact.default_metrics)]
        schemas[table] = dg.TableSchema(columns=[dg.TableColumn(name, kind, description=describe_column(table, name) or None)
                                                 for name, kind in declared])
    return {"dagster/column_schema": schemas[tables[0]],
            **{f"schema_{table}": dg.MetadataValue.table_schema(schema) for table, schema in schemas.items()},
            "grain": "; ".join(f"{table}: {catalog.FACT_TABLES[table].grain}" for table in tables)}


def fact_tables_of(source: str) -> list[str]:
    """The wide fact tables of a source ("organic", "ads"), as pipelines/catalog.py declares them."""
    from pipelines import catalog

    return [table.name for table in catalog.FACT_TABLES.values() if table.source == source]


def lake_rows_per_date(lake, tables: list[str], dates: list[dt.date], source: str) -> dict[str, dict[dt.date, int]]:
    """Per wide table, the rows the lake holds of each date for the source (every identity's file), read from the
    Parquet footers only."""
    from pipelines.lake import footer

    counts: dict[str, dict[dt.date, int]] = {}
    for table in tables:
        per_date = counts[table] = {}
        for date in dates:
            per_date[date] = sum(footer(path)[0] for path in lake.files(table, [date], source))
    return counts


def warehouse_rows_per_date(con, tables: list[str], first: dt.date, last: dt.date) -> dict[str, dict[dt.date, int]]:
    """Per wide table, the warehouse's rows of each date from `first` to `last` (a date without rows is absent)."""
    from pipelines.sql_text import identifier

    return {table: dict(con.execute(f"SELECT date, count(*) FROM {identifier(table)} WHERE date BETWEEN ? AND ? "
                                    "GROUP BY date", [first, last]).fetchall())
            for table in tables}


def add_rows_per_partition(context, dates: list[dt.date], rows: dict[str, dict[dt.date, int]]) -> None:
    """Each daily partition's materialization gets that day's rows per table (`rows_<table>`), in place of the
    run's totals that Dagster otherwise copies onto every partition of a range (those are `run_rows_<table>`)."""
    for date in dates:
        context.add_asset_metadata({f"rows_{table}": dg.MetadataValue.int(per_date.get(date, 0))
                                    for table, per_date in rows.items()}, partition_key=date.isoformat())
