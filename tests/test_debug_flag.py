"""--debug shows the traceback of an error every command reports in one line; without it, the one line only."""

from __future__ import annotations

import pytest

from pipelines.cli import main


@pytest.mark.parametrize("argv", [["--debug", "sql", "SELECT * FROM no_such_table"],
                                  ["sql", "SELECT * FROM no_such_table", "--debug"]])
def test_debug_shows_the_traceback_of_a_failed_query(demo_warehouse, monkeypatch, capsys, argv):
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(demo_warehouse))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("pinterest-etl sql: error: Catalog Error: Table with name no_such_table")


def test_without_debug_a_failed_query_is_one_line(demo_warehouse, monkeypatch, capsys):
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(demo_warehouse))
    assert main(["sql", "SELECT * FROM no_such_table"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_debug_shows_the_traceback_of_a_missing_data_directory_in_the_dictionary(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(tmp_path / "nothing here"))
    assert main(["--debug", "dictionary"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "pinterest-etl dictionary: error:" in err
