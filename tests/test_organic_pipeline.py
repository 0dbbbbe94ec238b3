"""The organic pipeline end to end against the simulator: calls, correctness, idempotence, late data."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
import requests

from pipelines.raw_zone import RawZone
from pipelines.tables import METRIC_DAILY_KEY
from tests.client_support import server_stats
from tests.conftest import TODAY
from tests.pipeline_support import bulk_pin_calls_per_window, pipeline_env, query, run

START, END = TODAY - dt.timedelta(days=89), TODAY - dt.timedelta(days=1)  # 89 complete days
ORGANIC_OPERATIONS = {"user_account/get", "boards/list", "pins/list", "user_account/analytics", "multi_pins/analytics",
                      "pins/analytics", "user_account/analytics/top_pins"}


@pytest.mark.slow
def test_a_backfill_makes_exactly_the_planned_calls(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(START, END) == 0
    days = (END - START).days + 1
    pin_batches = bulk_pin_calls_per_window(server.state.world)  # 449 standard and 51 video pins: 5 + 1
    content_types = 3  # PINTEREST_CONTENT_TYPES unset: ALL, ORGANIC, PAID
    analytics = math.ceil(days / 90) * (content_types * (1 + 1) + pin_batches)  # (unsplit + APP_TYPE) per type + pins
    organic = {k: v for k, v in server_stats(server)["requests"].items() if k in ORGANIC_OPERATIONS}
    assert organic == {
        "user_account/get": 1, "boards/list": 1, "pins/list": 2,  # dimensions: every page
        "user_account/analytics": content_types * 2, "multi_pins/analytics": pin_batches,
        "user_account/analytics/top_pins": 3}  # one ranking per sort metric per run
    assert organic["user_account/analytics"] + organic["multi_pins/analytics"] == analytics
    assert query(tmp_path, "SELECT count(*) FROM pins")[0][0] == 500
    assert query(tmp_path, "SELECT count(DISTINCT date) FROM daily_status")[0][0] == days


def expected_from_raw(home) -> dict:
    """An independent recomputation: (date, entity_type, entity_id, split_field, split_value, content_type, metric)
    -> value, reading every raw answer with plain json, newest answer per (date, entity, split, content type) winning."""
    raw = RawZone(home / "raw")
    chosen: dict[tuple, tuple] = {}
    for endpoint in ("user_account/analytics", "multi_pins/analytics"):
        folder = raw.root / endpoint.replace("/", "__")
        for path in sorted(folder.glob("*/*.json.gz"), key=lambda p: p.name):
            record = raw.read(path)
            body = json.loads(record.body)
            if endpoint == "user_account/analytics":
                split, content = record.params["split_field"], record.params.get("content_type", "ALL")
                entities = [("user_account", record.context["user_id"], split, "ALL" if split == "NO_SPLIT" else bucket,
                             content, block) for bucket, block in body.items()]
            else:
                entities = [("pin", pin_id, "NO_SPLIT", "ALL", "ALL", buckets["all"]) for pin_id, buckets in body.items()]
            for entity_type, entity_id, split, value, content, block in entities:
                for day in block["daily_metrics"]:
                    chosen[(day["date"], entity_type, entity_id, split, value, content)] = (day["data_status"], day["metrics"])
    return {(*key, metric): value for key, (_, metrics) in chosen.items() for metric, value in metrics.items()}


def warehouse_values(home) -> dict:
    rows = query(home, "SELECT date, entity_type, entity_id, split_field, split_value, content_type, metric, value "
                       "FROM metric_daily WHERE entity_type IN ('user_account', 'pin')")
    return {(str(d), t, i, f, v, c, m): value for d, t, i, f, v, c, m, value in rows}


@pytest.mark.slow
def test_the_warehouse_equals_an_independent_recomputation_from_raw(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(START, END) == 0
    expected = expected_from_raw(tmp_path)
    assert warehouse_values(tmp_path) == {k: float(v) for k, v in expected.items()}
    assert len(expected) > 100_000


def test_the_wide_tables_show_processing_days_without_metrics(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(END - dt.timedelta(days=6), END) == 0
    rows = query(tmp_path, "SELECT date, data_status, is_final, impression FROM user_account_daily "
                           "WHERE split_field = 'NO_SPLIT' AND content_type = 'ALL' ORDER BY date")
    # today (not in the range) and yesterday are PROCESSING, the two days before ESTIMATE
    assert [r[1] for r in rows] == ["READY"] * 4 + ["ESTIMATE"] * 2 + ["PROCESSING"]
    assert [r[2] for r in rows] == [True] * 4 + [False] * 3
    assert rows[-1][3] is None and rows[0][3] > 0
    kinds = dict(query(tmp_path, "SELECT table_name, table_type FROM information_schema.tables"))
    assert {name: kinds[name] for name in ("user_account_daily", "pin_daily", "metric_daily", "daily_status",
                                           "user_account_organic_daily")} == {
        "user_account_daily": "BASE TABLE", "pin_daily": "BASE TABLE",
        "metric_daily": "VIEW", "daily_status": "VIEW", "user_account_organic_daily": "VIEW"}
    assert query(tmp_path, "SELECT count(*) FROM pin_daily WHERE date = ?", [END])[0][0] == 500


def snapshot(home, exclude=("extracted_at",)) -> dict:
    out = {}
    for table in ("metric_daily", "daily_status", "pins", "boards", "user_accounts", "pin_lifetime"):
        columns = [r[0] for r in query(home, f"SELECT column_name FROM duckdb_columns() WHERE table_name = '{table}'")
                   if r[0] not in exclude]
        out[table] = sorted(query(home, f"SELECT {', '.join(columns)} FROM {table}"), key=repr)
    return out


@pytest.mark.slow
def test_rerunning_a_range_gives_the_same_tables(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(START, END) == 0
    first = snapshot(tmp_path)
    assert run(START, END) == 0
    assert snapshot(tmp_path) == first
    key = ", ".join(METRIC_DAILY_KEY)
    assert query(tmp_path, f"SELECT count(*) - count(DISTINCT ({key})) FROM metric_daily")[0][0] == 0


@pytest.mark.slow
def test_late_data_converges_to_ready_values_on_a_later_day(make_sandbox, monkeypatch, tmp_path):
    epoch = TODAY - dt.timedelta(days=30)
    day1 = make_sandbox(today=TODAY, epoch=epoch)
    pipeline_env(monkeypatch, tmp_path, day1, TODAY)
    assert run(TODAY - dt.timedelta(days=10), TODAY - dt.timedelta(days=1)) == 0
    late = TODAY - dt.timedelta(days=2)
    before = query(tmp_path, "SELECT data_status, impression FROM user_account_daily WHERE date = ? "
                          "AND split_field = 'NO_SPLIT' AND content_type = 'ALL'",
                   [late])[0]
    assert before[0] == "ESTIMATE"

    later = TODAY + dt.timedelta(days=5)
    day2 = make_sandbox(today=later, epoch=epoch)
    pipeline_env(monkeypatch, tmp_path, day2, later)
    assert run(later - dt.timedelta(days=7), later - dt.timedelta(days=1)) == 0  # the trailing re-pull window
    after = query(tmp_path, "SELECT data_status, impression FROM user_account_daily WHERE date = ? "
                          "AND split_field = 'NO_SPLIT' AND content_type = 'ALL'",
                  [late])[0]
    final = requests.get(f"{day2.base_url}/user_account/analytics", headers={"Authorization": "Bearer pina_SANDBOX"},
                         params={"start_date": late.isoformat(), "end_date": late.isoformat()}).json()
    assert after == ("READY", float(final["all"]["daily_metrics"][0]["metrics"]["IMPRESSION"]))
    assert after[1] > before[1]
    # Dates outside the re-pull window keep what the first run loaded.
    untouched = query(tmp_path, "SELECT count(*) FROM daily_status WHERE date < ?", [later - dt.timedelta(days=7)])[0][0]
    assert untouched > 0


@pytest.mark.slow
def test_without_the_bulk_endpoint_it_falls_back_to_one_call_per_pin(make_sandbox, monkeypatch, tmp_path):
    bulk_home, single_home = tmp_path / "bulk", tmp_path / "single"
    with_bulk, without = make_sandbox(pins=120), make_sandbox(pins=120, bulk_pin_analytics=False)
    window = (END - dt.timedelta(days=13), END)
    pipeline_env(monkeypatch, bulk_home, with_bulk, TODAY)
    assert run(*window) == 0
    pipeline_env(monkeypatch, single_home, without, TODAY)
    assert run(*window) == 0
    calls = server_stats(without)["requests"]
    assert calls["multi_pins/analytics"] == 3  # the refused batch, then one-pin calls for two pins that answer alone
    assert calls["pins/analytics"] == 120
    pin_rows = "SELECT date, entity_id, metric, value FROM metric_daily WHERE entity_type = 'pin' ORDER BY ALL"
    assert query(single_home, pin_rows) == query(bulk_home, pin_rows)


@pytest.mark.slow
def test_renormalizing_from_raw_makes_no_call_and_gives_the_same_tables(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(START, END) == 0
    first = snapshot(tmp_path)
    requests.post(f"{server.root_url}/_sandbox/reset")
    assert run(START, END, from_raw=True) == 0
    assert server_stats(server)["requests"] == {}
    assert snapshot(tmp_path) == first


def test_dates_older_than_the_window_are_reported_not_requested(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    start = TODAY - dt.timedelta(days=100)
    assert run(start, TODAY - dt.timedelta(days=80)) == 0
    assert f"unreachable_dates={start}..{TODAY - dt.timedelta(days=90)}" in capsys.readouterr().out
    assert query(tmp_path, "SELECT min(date) FROM daily_status")[0][0] == TODAY - dt.timedelta(days=89)


@pytest.mark.parametrize("args, message", [
    (["--start", "2026-11-20", "--end", "2026-11-10"], "after --end"),
    (["--start", "2026-11-31"], "YYYY-MM-DD"),
    (["--end", "2026-11-28"], "not a complete day"),
    (["--only", "organic", "--start", "2026-06-01", "--end", "2026-07-01"], "entirely older than the API serves (dates are requested up to 89 days"),
    (["--start", "2026-11-20", "PINTEREST_ORGANIC_SPLITS=APP_TYPE,BY_MOOD"], "unknown split field(s) BY_MOOD"),
    (["--start", "2026-11-20", "PINTEREST_RATE_BUDGETS=org_reads=5"], "PINTEREST_RATE_BUDGETS"),
])
@pytest.mark.slow
def test_bad_input_fails_before_any_call_and_writes_nothing(make_sandbox, monkeypatch, tmp_path, args, message):
    import subprocess
    import sys

    server = make_sandbox()
    settings_ = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("--"))
    args = [a for a in args if "=" not in a or a.startswith("--")]
    pipeline_env(monkeypatch, tmp_path / "home", server, TODAY, **settings_)
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert server_stats(server)["requests"] == {}
    assert not (tmp_path / "home" / "warehouse.duckdb").exists() and not (tmp_path / "home" / "raw").exists()


@pytest.mark.slow
def test_a_failure_between_lake_and_warehouse_leaves_both_consistent_and_the_next_run_repairs(
        make_sandbox, monkeypatch, tmp_path, capsys):
    import subprocess
    import sys

    epoch = TODAY - dt.timedelta(days=30)
    day1 = make_sandbox(today=TODAY, epoch=epoch)
    pipeline_env(monkeypatch, tmp_path, day1, TODAY)
    window = (TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=1))
    assert run(*window) == 0
    before = snapshot(tmp_path)

    later = TODAY + dt.timedelta(days=3)
    day2 = make_sandbox(today=later, epoch=epoch)
    pipeline_env(monkeypatch, tmp_path, day2, later, PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS="0")
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('locked', flush=True); time.sleep(60)", str(tmp_path / "warehouse.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert run(*window) == 1
    finally:
        holder.kill()
        holder.wait()
    assert f"is still locked by process {holder.pid}" in capsys.readouterr().err
    assert snapshot(tmp_path) == before  # the warehouse holds exactly the old data
    lake_status = duckdb_lake_statuses(tmp_path, window[1] - dt.timedelta(days=2))
    assert lake_status == {"READY"}  # ...while the lake already holds the new, settled day

    assert run(*window, from_raw=True) == 0  # loading later needs no API call
    assert query(tmp_path, "SELECT DISTINCT data_status FROM daily_status WHERE date = ? AND entity_type = 'pin'",
                 [window[1] - dt.timedelta(days=2)]) == [("READY",)]


def duckdb_lake_statuses(home, date: dt.date) -> set[str]:
    import duckdb

    paths = [path for table in ("user_account_daily", "pin_daily")
             for path in (home / "lake" / table / f"date={date}").glob("organic.user=*.parquet")]
    assert len(paths) == 2  # the account's file and its pins' file
    with duckdb.connect() as con:
        return {r[0] for r in con.execute("SELECT DISTINCT data_status FROM read_parquet(?, union_by_name = true)",
                                          [[str(p) for p in paths]]).fetchall()}


@pytest.mark.slow
def test_dates_the_api_no_longer_serves_are_renormalized_from_raw(make_sandbox, monkeypatch, tmp_path):
    epoch = TODAY - dt.timedelta(days=30)
    early = make_sandbox(today=TODAY, epoch=epoch)
    pipeline_env(monkeypatch, tmp_path, early, TODAY)
    old = (TODAY - dt.timedelta(days=20), TODAY - dt.timedelta(days=11))
    assert run(*old) == 0
    kept = query(tmp_path, "SELECT * EXCLUDE (extracted_at) FROM metric_daily ORDER BY ALL")

    much_later = TODAY + dt.timedelta(days=100)  # the old dates are now far out of the API's window
    late = make_sandbox(today=much_later, epoch=epoch)
    pipeline_env(monkeypatch, tmp_path, late, much_later)
    assert run(*old, from_raw=True) == 0
    assert server_stats(late)["requests"] == {}
    assert query(tmp_path, "SELECT * EXCLUDE (extracted_at) FROM metric_daily ORDER BY ALL") == kept


def test_no_credential_is_written_anywhere_under_the_data_directory(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox(token_ttl_seconds=1)  # forces a refresh, so rotated tokens exist too
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    import time

    time.sleep(1.1)
    assert run(END - dt.timedelta(days=3), END) == 0
    rotated = json.loads((tmp_path / "credentials" / "pinterest-token.json").read_text())
    secrets = [b"pina_SANDBOX", b"pinr_SANDBOX", b"sandbox-secret", rotated["refresh_token"].encode(),
               rotated["access_token"].encode()]
    import gzip

    for path in tmp_path.rglob("*"):
        if not path.is_file() or path.name == "pinterest-token.json":
            continue
        content = path.read_bytes()
        if path.suffix == ".gz":
            content += gzip.decompress(content)
        for secret in secrets:
            assert secret not in content, f"{secret!r} found in {path}"
