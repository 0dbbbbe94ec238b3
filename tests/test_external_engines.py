"""docs/external-engines.md: the lake reads as hive-partitioned Parquet. Every DuckDB example of the page runs
verbatim on a lake a real run made (the default simulator world) and answers what the warehouse holds; the files'
`date` column and their folders agree; columns added later need union_by_name; checksum and temporary files are
never read through the documented globs."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import catalog
from pipelines.ads.extract import DEFAULT_COLUMNS as DEFAULT_ADS_COLUMNS
from pipelines.atomic_files import temporary_path
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, run

DOC = Path(__file__).resolve().parents[1] / "docs" / "external-engines.md"
NEW_ADS_COLUMN = "IMPRESSION_2"  # a valid ads column the default settings do not request


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


DUCKDB_EXAMPLES = re.findall(r"```sql\n(.*?)```", section("DuckDB (run here)"), flags=re.S)
VIEW_EXAMPLES = [sql for sql in DUCKDB_EXAMPLES if "CREATE VIEW" in sql]
QUERY_EXAMPLES = [sql for sql in DUCKDB_EXAMPLES if "CREATE VIEW" not in sql]


def lake_copy(home: Path, copy: Path) -> Path:
    """The lake and the warehouse of `home` under `copy`."""
    copy.mkdir(parents=True)
    shutil.copytree(home / "lake", copy / "lake")
    shutil.copy(home / "warehouse.duckdb", copy / "warehouse.duckdb")
    return copy


@pytest.fixture(scope="module")
def lake_home(demo_warehouse, tmp_path_factory) -> Path:
    """A copy of the demo run's lake and warehouse, with a temporary of a writer still at work (this process) in one
    date folder of every fact table: garbage bytes, as a half-written file would be."""
    home = lake_copy(demo_warehouse, tmp_path_factory.mktemp("engines") / "home")
    for table in catalog.FACT_TABLES:
        target = next((home / "lake" / table).glob("date=*/*.parquet"))
        temporary_path(target).write_bytes(b"PAR1 half-written")
    return home


@pytest.fixture(scope="module")
def evolved_home(demo_warehouse, sandbox, tmp_path_factory) -> Path:
    """A copy of the demo run's data directory after an ads run of its last day asking for NEW_ADS_COLUMN too: the
    newest date's ads files have a column the older ones lack."""
    home = tmp_path_factory.mktemp("evolved") / "home"
    shutil.copytree(demo_warehouse, home)
    last = TODAY - dt.timedelta(days=1)
    with pytest.MonkeyPatch.context() as monkeypatch:
        pipeline_env(monkeypatch, home, sandbox, TODAY,
                     PINTEREST_ADS_COLUMNS=",".join((*DEFAULT_ADS_COLUMNS, NEW_ADS_COLUMN)))
        assert run(last, last, only="ads") == 0
    return home


def lake_views(home: Path, monkeypatch) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB, in the data directory as the page says, holding the page's views, and the warehouse
    attached read-only as `wh`."""
    monkeypatch.chdir(home)
    con = duckdb.connect()
    for sql in VIEW_EXAMPLES:
        con.execute(sql)
    con.execute("ATTACH 'warehouse.duckdb' AS wh (READ_ONLY)")
    return con


def created_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [name for (name,) in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = 'memory' AND NOT internal ORDER BY view_name"
    ).fetchall()]


def differences(con: duckdb.DuckDBPyConnection, view: str) -> tuple[set[str], int, int]:
    """The columns only one of the view and the warehouse table of its name has, and the rows of each missing
    from the other (duplicates counted)."""
    columns = [name for name, *_ in con.execute(f"DESCRIBE {view}").fetchall()]
    stored = [name for name, *_ in con.execute(f"DESCRIBE wh.{view}").fetchall()]
    listed = ", ".join(f'"{name}"' for name in stored)
    only_lake, only_warehouse = (
        con.execute(f"SELECT count(*) FROM (SELECT {listed} FROM {a} EXCEPT ALL SELECT {listed} FROM {b})").fetchone()[0]
        for a, b in ((view, f"wh.{view}"), (f"wh.{view}", view)))
    return set(columns) ^ set(stored), only_lake, only_warehouse


def test_the_page_has_duckdb_views_and_queries_and_an_example_per_other_engine():
    assert len(VIEW_EXAMPLES) == 1 and len(QUERY_EXAMPLES) >= 1
    for engine in ("Spark", "Trino", "Athena", "BigQuery"):
        assert re.search(r"```(sql|python)\n", section(engine)), engine


def test_the_pages_duckdb_views_read_the_lake_as_the_warehouse_holds_it(lake_home, monkeypatch):
    con = lake_views(lake_home, monkeypatch)
    views = created_views(con)
    assert views == ["ad_accounts", "campaign_daily", "campaigns", "pin_daily", "user_account_daily"]
    for view in views:
        assert differences(con, view) == (set(), 0, 0), view
        assert con.execute(f"SELECT count(*) FROM {view}").fetchone()[0] > 0, view


@pytest.mark.parametrize("sql", QUERY_EXAMPLES)
def test_each_duckdb_query_of_the_page_answers_on_the_lake_what_it_answers_on_the_warehouse(lake_home, monkeypatch, sql):
    on_lake = lake_views(lake_home, monkeypatch).execute(sql).fetchall()
    with duckdb.connect(str(lake_home / "warehouse.duckdb"), read_only=True) as warehouse:
        assert on_lake == warehouse.execute(sql).fetchall()
    assert len(on_lake) == 7


def test_a_filter_on_date_reads_only_that_weeks_files_as_the_page_says(lake_home, monkeypatch):
    plan = lake_views(lake_home, monkeypatch).execute(f"EXPLAIN {QUERY_EXAMPLES[0]}").fetchall()[0][1]
    assert "Scanning Files: 7/35" in section("DuckDB (run here)") and "Scanning Files: 7/35" in plan


@pytest.mark.parametrize("table", catalog.FACT_TABLES)
def test_every_file_s_date_column_is_its_folder_s_date_so_hive_partitioning_on_or_off_reads_the_same_rows(
        lake_home, monkeypatch, table):
    monkeypatch.chdir(lake_home)
    con = duckdb.connect()

    def rows(hive: bool) -> str:
        return f"read_parquet('lake/{table}/*/*.parquet', hive_partitioning = {str(hive).lower()}, union_by_name = true)"

    assert con.execute(f"SELECT count(*) FROM (FROM {rows(True)} EXCEPT ALL FROM {rows(False)})").fetchone() == (0,)
    assert con.execute(f"SELECT count(*) FROM (FROM {rows(False)} EXCEPT ALL FROM {rows(True)})").fetchone() == (0,)
    dated = f"read_parquet('lake/{table}/*/*.parquet', hive_partitioning = false, union_by_name = true, filename = true)"
    total, out_of_place = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE 'date=' || strftime(date, '%Y-%m-%d') "
        f"<> regexp_extract(filename, '(date=[^/]+)/[^/]+$', 1)) FROM {dated}").fetchone()
    assert total > 0 and out_of_place == 0


def test_a_column_added_later_is_read_only_with_union_by_name_and_the_pages_views_carry_it(evolved_home, monkeypatch):
    column = NEW_ADS_COLUMN.lower()
    monkeypatch.chdir(evolved_home)
    first_file_schema = "read_parquet('lake/campaign_daily/*/*.parquet', hive_partitioning = true)"
    with pytest.raises(duckdb.BinderException, match=f'Referenced column "{column}" not found'):
        duckdb.connect().execute(f"SELECT {column} FROM {first_file_schema}")
    con = lake_views(evolved_home, monkeypatch)
    assert differences(con, "campaign_daily") == (set(), 0, 0)
    newest, older = con.execute(f"SELECT count({column}) FILTER (WHERE date = ?), count({column}) FILTER (WHERE date < ?) "
                                "FROM campaign_daily", [TODAY - dt.timedelta(days=1)] * 2).fetchone()
    assert newest > 0 and older == 0


def test_snapshot_files_hold_no_snapshot_date_ids_are_strings_and_extraction_times_are_utc(lake_home):
    for table in ("pins", "boards", "campaigns", "ad_accounts"):
        for path in (lake_home / "lake" / table).glob("snapshot_date=*/*.parquet"):
            assert "snapshot_date" not in pq.read_schema(path).names, path
    for table in catalog.FACT_TABLES.values():
        schema = pq.read_schema(next((lake_home / "lake" / table.name).glob("date=*/*.parquet")))
        assert schema.field("date").type == pa.date32() and schema.field(table.id_column).type == pa.string()
        assert schema.field("extracted_at").type == pa.timestamp("us", tz="UTC")


def test_the_views_read_a_date_added_after_they_were_created(lake_home, tmp_path, monkeypatch):
    home = lake_copy(lake_home, tmp_path / "home")
    newest = sorted((home / "lake" / "pin_daily").glob("date=*"))[-1]
    newest.rename(tmp_path / newest.name)
    con = lake_views(home, monkeypatch)
    dates = "SELECT count(DISTINCT date) FROM pin_daily"
    before = con.execute(dates).fetchone()[0]
    (tmp_path / newest.name).rename(newest)
    assert con.execute(dates).fetchone()[0] == before + 1


def test_a_count_stored_as_double_in_one_dates_file_reads_as_double_with_nothing_lost(lake_home, tmp_path, monkeypatch):
    """A count the API sent as a fraction is DOUBLE in that date's file only (docs/reliability.md): here the newest
    pin_daily file, rewritten so."""
    home = lake_copy(lake_home, tmp_path / "home")
    newest = sorted((home / "lake" / "pin_daily").glob("date=*/*.parquet"))[-1]
    table = pq.read_table(newest)
    position = table.schema.get_field_index("impression")
    pq.write_table(table.set_column(position, "impression", table["impression"].cast(pa.float64())), newest)
    con = lake_views(home, monkeypatch)
    assert con.execute("SELECT typeof(impression) FROM pin_daily LIMIT 1").fetchone() == ("DOUBLE",)
    assert con.execute("SELECT sum(impression) FROM pin_daily").fetchone() == \
        con.execute("SELECT sum(impression)::DOUBLE FROM wh.pin_daily").fetchone()


def test_the_documented_globs_never_list_a_checksum_or_a_temporary_and_a_bare_star_would(lake_home, monkeypatch):
    monkeypatch.chdir(lake_home)
    con = duckdb.connect()
    for table in catalog.FACT_TABLES:
        listed = [Path(name) for (name,) in con.execute(f"SELECT file FROM glob('lake/{table}/*/*.parquet')").fetchall()]
        hidden = {p.name for p in (lake_home / "lake" / table).glob("date=*/.*")}
        assert {name for name in hidden if name.endswith(".sha256")} and {name for name in hidden if name.endswith(".tmp")}
        assert listed and not any(p.name.startswith(".") for p in listed), table
        assert len(listed) == len(list((lake_home / "lake" / table).glob("date=*/[!.]*.parquet")))
    with pytest.raises(duckdb.InvalidInputException, match="No magic bytes"):
        con.execute("SELECT count(*) FROM read_parquet('lake/pin_daily/*/*')")
