"""Quoting for the parts of SQL that cannot be parameters: identifiers, and literals inside view definitions.

Everything else (paths, dates, ids, settings) goes to DuckDB as a parameter, never pasted into the text.
"""

from __future__ import annotations


def identifier(name: str) -> str:
    """`name` as a double-quoted SQL identifier (a table, view or column name), whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """`value` as a single-quoted SQL string literal, whatever characters it holds."""
    return "'" + value.replace("'", "''") + "'"
