"""Comments on the warehouse's tables, views and columns (`COMMENT ON`), from the data dictionary, so that any
client shows what a relation holds and what a column means (`duckdb_tables().comment`, `duckdb_columns().comment`)."""

from __future__ import annotations

import duckdb

from pipelines import data_dictionary
from pipelines.sql_text import identifier, literal


def relation_comment(name: str) -> str:
    """What a table or view is, from the dictionary: its grain, its key and what it holds; empty when unknown."""
    entry = data_dictionary.RELATIONS.get(name)
    if entry is None:
        return ""
    return f"{entry.grain[:1].upper()}{entry.grain[1:]}; key: {', '.join(entry.key)}. {entry.about}"


def set_comments(con: duckdb.DuckDBPyConnection) -> None:
    """Comment every table and view of the main schema, and each of their columns the dictionary describes, where
    the comment differs from the one stored (a view created again has lost its comments). Relations and columns
    the dictionary does not know keep what they have."""
    stored = con.execute(
        "SELECT table_name, NULL, comment, 'TABLE' FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' UNION ALL "
        "SELECT view_name, NULL, comment, 'VIEW' FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT internal UNION ALL "
        "SELECT c.table_name, c.column_name, c.comment, NULL FROM duckdb_columns() c WHERE c.database_name = "
        "current_database() AND c.schema_name = 'main' AND NOT c.internal").fetchall()
    for relation, column, comment, kind in stored:
        if column is None:
            wanted, target = relation_comment(relation), f"{kind} {identifier(relation)}"
        else:
            wanted, target = data_dictionary.describe_column(relation, column), \
                f"COLUMN {identifier(relation)}.{identifier(column)}"
        if wanted and wanted != comment:
            con.execute(f"COMMENT ON {target} IS {literal(wanted)}")
