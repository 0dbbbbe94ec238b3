"""Normalized rows → the typed wide rows of one fact table, as its lake files hold them.

The lake and the warehouse store the wide form (pipelines/catalog.py): one row per entity per UTC day per split
bucket, content type or attribution setting, one typed column per metric. Normalization gives rows of that grain
for every entity type of a source, with one float64 column per metric the answers had (pipelines/transform.py);
`lake_rows` takes one table's share, names and types its columns. `to_wide` converts lake files of the earlier
long layout (one row per metric value).
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines import catalog
from pipelines.sql_text import identifier, literal
from pipelines.tables import DAILY_STATUS, UTC_TIMESTAMP

DAILY_STATUS_NAMES = tuple(DAILY_STATUS.names)
_LONG_KEY = ("date", "entity_id", "split_field", "split_value", "content_type")
_ARROW = {"DATE": pa.date32(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_(), "TIMESTAMPTZ": UTC_TIMESTAMP,
          "BIGINT": pa.int64(), "DOUBLE": pa.float64()}


def lake_columns(table: catalog.FactTable) -> list[tuple[str, str]]:
    """The columns a lake file of the table has before its metrics: its key, data_status, is_final and
    extracted_at (the parents' ids and the currency are added by the warehouse, from the dimensions)."""
    return [(name, kind) for name, kind in table.base_columns() if name not in (*table.parents, "currency")]


def lake_schema(table: catalog.FactTable, metrics: dict[str, str]) -> pa.Schema:
    """The Arrow schema of a lake file with these metric columns (column -> SQL type)."""
    return pa.schema([(name, _ARROW[kind]) for name, kind in [*lake_columns(table), *metrics.items()]])


def empty(table: catalog.FactTable) -> pa.Table:
    """A lake file's rows when there are none: the table's default metric columns."""
    return lake_schema(table, {catalog.metric_column(m): catalog.metric_type(m) for m in table.default_metrics}).empty_table()


_BIGINT_LIMIT = 9.2e18  # whole numbers at or beyond this do not fit BIGINT (2**63 ~ 9.22e18)


def lake_rows(table: catalog.FactTable, rows: pa.Table, requested: Collection[str] = (),
              carry: tuple[str, ...] = ()) -> pa.Table:
    """The rows of `table` among normalized rows of any entity types (daily_status's columns, then one float64
    column per metric named as the API names it, NULL where absent), as its lake file holds them: the key with the
    table's own column names, data_status, is_final, extracted_at, then a column per default metric of the table,
    per metric `requested` (asked for: a column even when no value came; the ads API leaves zeros out) and per
    metric with a value here (in name order), typed as the catalog says, except a count holding a value that is
    not a whole number (or beyond BIGINT), which stays DOUBLE; then the `carry` columns as they are. Ordered by
    entity and split. Pins have neither split nor content type: only their unsplit, unfiltered rows are theirs."""
    mine = pc.equal(rows.column("entity_type"), table.entity_type)
    if table.entity_type == "pin":
        mine = pc.and_(mine, pc.and_(pc.equal(rows.column("split_field"), "NO_SPLIT"),
                                     pc.equal(rows.column("content_type"), "ALL")))
    if pc.all(mine).as_py() is False:
        rows = rows.filter(mine)
    base = set(DAILY_STATUS_NAMES) | set(carry)
    present = sorted(name for name in rows.column_names
                     if name not in base and rows.column(name).null_count < rows.num_rows)
    metrics = list(dict.fromkeys([*table.default_metrics, *sorted(requested), *present]))
    rows = rows.take(pc.sort_indices(rows, [(name, "ascending") for name in _LONG_KEY[1:]]))
    columns = {"date": rows.column("date"), table.id_column: rows.column("entity_id"),
               **{column: rows.column(expression) for column, expression in table.splits},
               **{name: rows.column(name) for name in ("data_status", "is_final", "extracted_at")}}
    counted = [metric for metric in metrics if metric in present and catalog.metric_type(metric) == "BIGINT"]
    # One check of every count column at once (the API sends whole numbers); column by column only when one is not.
    fractional = set() if _whole(_concatenated(rows, counted)) else {m for m in counted if not _whole(rows.column(m))}
    kinds = {}
    for metric in metrics:
        name = catalog.metric_column(metric, table)  # distinct per metric: API names are upper case
        kinds[name] = "DOUBLE" if metric in fractional else catalog.metric_type(metric)
        columns[name] = rows.column(metric) if metric in present else pa.nulls(rows.num_rows, pa.float64())
    schema = lake_schema(table, kinds)
    for name in carry:
        columns[name] = rows.column(name)
        schema = schema.append(rows.schema.field(name))
    return pa.table(list(columns.values()), names=list(columns)).cast(schema)


def _concatenated(rows: pa.Table, names: list[str]) -> pa.ChunkedArray:
    """The float64 columns `names` of `rows` as one array (their chunks, not copied)."""
    return pa.chunked_array([chunk for name in names for chunk in rows.column(name).chunks], pa.float64())


def _whole(values: pa.ChunkedArray) -> bool:
    """Every value a whole number BIGINT holds."""
    fits = pc.and_(pc.equal(values, pc.trunc(values)), pc.less(pc.abs(values), _BIGINT_LIMIT))
    return pc.all(fits).as_py() is not False


def to_wide(con: duckdb.DuckDBPyConnection, table: catalog.FactTable, status: pa.Table, metric: pa.Table,
            carry: tuple[str, ...] = (), requested: tuple[str, ...] = ()) -> pa.Table:
    """The wide rows of `table` from long rows of any entity types (`status`: daily_status's columns, `metric`:
    metric_daily's): one row per key of either (a key with a status row and no value has NULL metrics; a value
    without a status row takes its status from its own row), a column per default metric of the table and per
    metric present, typed as the catalog says, except a count with a value that is not a whole number (or beyond
    BIGINT), which is DOUBLE here; `requested`: metrics asked for, columns even when no value came (the ads API
    leaves zeros out). `carry`: status columns kept as they are (the rows' answer numbers), after the metrics.
    Pins have neither split nor content type: only their unsplit, unfiltered rows are theirs."""
    con.register("long_status", status)
    con.register("long_metric", metric)
    try:
        scope = "entity_type = $entity" + (" AND split_field = 'NO_SPLIT' AND content_type = 'ALL'"
                                           if table.entity_type == "pin" else "")
        params = {"entity": table.entity_type}
        present = [r[0] for r in con.execute(f"SELECT DISTINCT metric FROM long_metric WHERE {scope} ORDER BY 1",
                                             params).fetchall()]
        metrics = list(dict.fromkeys([*table.default_metrics, *requested, *present]))
        kinds = {m: catalog.metric_type(m) for m in metrics}
        counted = [m for m in present if kinds[m] == "BIGINT"]
        if counted:
            for (fraction,) in con.execute(
                    f"SELECT DISTINCT metric FROM long_metric WHERE {scope} AND metric IN (SELECT unnest($counted)) "
                    "AND (value <> trunc(value) OR abs(value) >= 9.2e18)", {**params, "counted": counted}).fetchall():
                kinds[fraction] = "DOUBLE"
        columns = {catalog.metric_column(m, table): kinds[m] for m in metrics}
        pivot = ", ".join(f"max(value) FILTER (WHERE metric = {literal(m)})::{kinds[m]} AS {identifier(catalog.metric_column(m))}"
                          for m in present) or "NULL AS no_metric"
        key = ", ".join(_LONG_KEY)
        splits = {column: expression for column, expression in table.splits}
        selected = ["k.date", f"k.entity_id AS {identifier(table.id_column)}",
                    *(f"k.{expression} AS {identifier(column)}" for column, expression in splits.items()),
                    "k.data_status", "k.is_final", "k.extracted_at",
                    *(f"m.{identifier(c)}" if m in present else f"NULL::{kinds[m]} AS {identifier(c)}"
                      for m, c in zip(metrics, columns)),
                    *(f"k.{identifier(c)}" for c in carry)]
        carried = "".join(f", {identifier(c)}" for c in carry)
        orphan_carry = "".join(f", any_value(x.{identifier(c)})" for c in carry)
        rows = con.sql(f"""
            WITH statuses AS (SELECT {key}, data_status, is_final, extracted_at{carried} FROM long_status WHERE {scope}),
                 values AS (SELECT {key}, {pivot} FROM long_metric WHERE {scope} GROUP BY ALL),
                 k AS (SELECT * FROM statuses
                       UNION ALL
                       SELECT {', '.join(f'x.{c}' for c in _LONG_KEY)}, any_value(x.data_status), bool_and(x.is_final),
                              max(x.extracted_at){orphan_carry}
                       FROM long_metric x ANTI JOIN statuses s USING ({key})
                       WHERE x.{scope.replace(' AND ', ' AND x.')} GROUP BY ALL)
            SELECT {', '.join(selected)} FROM k LEFT JOIN values m USING ({key})
            ORDER BY k.entity_id, k.split_field, k.split_value, k.content_type""", params=params).to_arrow_table()
    finally:
        con.unregister("long_status")
        con.unregister("long_metric")
    schema = lake_schema(table, columns)
    for name in carry:
        schema = schema.append(status.schema.field(name))
    return rows.rename_columns(schema.names).cast(schema)


def long_keys_as_wide(table: catalog.FactTable, keys: pa.Table) -> pa.Table:
    """Long keys (date, entity_type, entity_id, split_field, split_value, content_type) of the table's entity type
    as the table's key columns (pins: their unsplit, unfiltered keys only)."""
    mine = pc.equal(keys.column("entity_type"), table.entity_type)
    if table.entity_type == "pin":
        mine = pc.and_(mine, pc.and_(pc.equal(keys.column("split_field"), "NO_SPLIT"),
                                     pc.equal(keys.column("content_type"), "ALL")))
    rows = keys.filter(mine)
    return pa.table({"date": rows.column("date"), table.id_column: rows.column("entity_id"),
                     **{column: rows.column(expression) for column, expression in table.splits}})
