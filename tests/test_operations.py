"""Operating the pipeline: the daily schedule's run requests, the freshness checks, the code location as
Dagster loads it, and the UI command."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import freeze_time  # Dagster's own clock control for schedule/check tests

from assets.schedules import daily_schedule, freshness_checks
from pipelines import settings
from pipelines.definitions import defs
from tests.conftest import PARTITIONS_FIRST

ROOT = Path(__file__).resolve().parents[1]
UTC = dt.timezone.utc
ATTRIBUTION_SETTINGS = ("PINTEREST_ADS_CLICK_WINDOW_DAYS", "PINTEREST_ADS_ENGAGEMENT_WINDOW_DAYS",
                        "PINTEREST_ADS_VIEW_WINDOW_DAYS")


@pytest.fixture(autouse=True)
def empty_home(monkeypatch, tmp_path):
    """Each test's own data directory: the daily tick reads the lake (ads dates not final yet)."""
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(tmp_path))


def tick(when: dt.datetime) -> dg.RunRequest:
    with dg.instance_for_test() as instance:
        return daily_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=when))


def test_the_daily_tick_requests_the_trailing_33_days_as_one_run(monkeypatch):
    """The attribution window (30 days) plus 3: an ads date is still re-pulled when its window has passed, to
    become final once metrics_ready_state says ready."""
    for name in ("PINTEREST_ORGANIC_REPULL_DAYS", "PINTEREST_ADS_REPULL_DAYS", *ATTRIBUTION_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    request = tick(dt.datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    assert request.run_key == "daily-2026-11-27"
    assert request.partition_key_range == dg.PartitionKeyRange("2026-10-26", "2026-11-27")


def test_the_default_ads_repull_follows_the_attribution_window(monkeypatch):
    for name in ("PINTEREST_ORGANIC_REPULL_DAYS", "PINTEREST_ADS_REPULL_DAYS", *ATTRIBUTION_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PINTEREST_ADS_CLICK_WINDOW_DAYS", "60")
    assert settings.repull_days("ads") == 63
    assert tick(dt.datetime(2026, 11, 28, 6, tzinfo=UTC)).partition_key_range.start == "2026-09-26"
    assert daily_schedule.job_name == "pinterest_daily" and daily_schedule.execution_timezone == "UTC"


def test_the_window_is_the_longer_of_the_two_repull_settings_and_never_before_the_first_partition(monkeypatch):
    monkeypatch.setenv("PINTEREST_ORGANIC_REPULL_DAYS", "12")
    monkeypatch.setenv("PINTEREST_ADS_REPULL_DAYS", "7")
    assert tick(dt.datetime(2026, 11, 28, 6, tzinfo=UTC)).partition_key_range == dg.PartitionKeyRange(
        "2026-11-16", "2026-11-27")
    early = PARTITIONS_FIRST + dt.timedelta(days=3)
    request = tick(dt.datetime.combine(early, dt.time(6), UTC))
    assert request.partition_key_range.start == PARTITIONS_FIRST.isoformat()


def test_a_bad_repull_setting_is_refused_with_its_name(monkeypatch):
    monkeypatch.setenv("PINTEREST_ADS_REPULL_DAYS", "120")
    with pytest.raises(Exception, match="PINTEREST_ADS_REPULL_DAYS must be a whole number of days from 1 to 89"):
        tick(dt.datetime(2026, 11, 28, 6, tzinfo=UTC))


def test_freshness_checks_want_yesterdays_partition_by_the_deadline():
    job = dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(*freshness_checks))
    definitions = dg.Definitions(assets=defs.assets, asset_checks=freshness_checks, jobs=[job], resources=defs.resources)

    with dg.instance_for_test() as instance:
        def evaluate(hour: int) -> dict[str, bool]:
            with freeze_time(dt.datetime(2026, 11, 28, hour, tzinfo=UTC)):
                result = definitions.resolve_job_def("freshness").execute_in_process(instance=instance)
            return {e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()}

        assert evaluate(10) == {"organic_warehouse": False, "ads_warehouse": False}
        instance.report_runless_asset_event(dg.AssetMaterialization("organic_warehouse", partition="2026-11-27"))
        # After the 09:00 deadline yesterday's partition is expected: organic has it, ads does not.
        assert evaluate(10) == {"organic_warehouse": True, "ads_warehouse": False}
        # Before the deadline only the day before yesterday is expected, which organic lacks.
        assert evaluate(8) == {"organic_warehouse": False, "ads_warehouse": False}


def test_every_asset_has_an_owner_a_group_kinds_and_a_description_tables_with_their_grain():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners and node.group_name in {"organic", "ads", "warehouse"} and node.kinds and node.description, key
        if node.kinds & {"duckdb", "parquet"}:
            assert "one row per" in node.description.lower(), key
            columns = node.metadata["dagster/column_schema"].columns
            assert columns and all(c.description for c in columns), key


def test_dagster_loads_and_validates_the_code_location(tmp_path):
    env = {**os.environ, "PINTEREST_ETL_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    result = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
                             "-w", str(ROOT / "workspace.yaml")], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _interrupts_ignored() -> None:
    """As a background job of a script starts (SIGINT ignored), after Dagster mapped SIGTERM to SIGINT's handler."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _signals_as_a_new_process_has_them() -> None:
    """In the child: SIGTERM's default action and no signal blocked, whatever the test process inherited or set
    (these tests are about when UiProcess sends SIGTERM, not about the xdist worker's signal state; once in CI both
    children outlived their SIGTERM in one worker, after other tests had run in it)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def test_a_sigterm_while_the_ui_process_is_being_started_stops_it_once_it_runs():
    """The handler runs in the middle of starting `dagster dev` (here: right after the fork, before the command
    has its process): it must not raise there, which would leave the process running unowned."""
    from pipelines.commands.ui import UiProcess

    ui = UiProcess()

    class SignalledWhileStarting(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            ui.stop()

    process = ui.start([sys.executable, "-c", "import time; time.sleep(60)"], popen=SignalledWhileStarting,
                       preexec_fn=_signals_as_a_new_process_has_them)
    assert process.wait(timeout=20) == -signal.SIGTERM


def test_a_sigterm_before_the_ui_process_is_started_stops_the_command_and_after_stops_the_process():
    from pipelines.commands.ui import UiProcess

    ui = UiProcess()
    with pytest.raises(KeyboardInterrupt):
        ui.stop()
    process = ui.start([sys.executable, "-c", "import time; time.sleep(60)"],
                       preexec_fn=_signals_as_a_new_process_has_them)
    ui.stop()
    assert process.wait(timeout=20) == -signal.SIGTERM


@pytest.mark.slow
@pytest.mark.parametrize("preexec_fn", [None, _interrupts_ignored], ids=["signals-default", "started-ignoring-interrupts"])
def test_the_ui_command_serves_the_assets_with_the_embedded_simulator(tmp_path, preexec_fn):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINTEREST_")}
    env.update(PINTEREST_ETL_HOME=str(tmp_path / "data"), DAGSTER_HOME=str(tmp_path / "dagster"))
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "ui", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               preexec_fn=preexec_fn)
    try:
        query = json.dumps({"query": "{ assetNodes { assetKey { path } groupName } }"}).encode()
        deadline, nodes = time.monotonic() + 120, None
        while time.monotonic() < deadline and nodes is None:
            time.sleep(1)
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=query,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=5) as answer:
                    nodes = json.load(answer)["data"]["assetNodes"] or None
            except OSError:
                assert process.poll() is None, process.stdout.read()
        assert nodes, "the UI did not serve the code location within 120 s"
        keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
        assert {"organic_raw", "organic_warehouse", "ads_raw", "ads_warehouse", "pins", "campaigns"} <= keys
    finally:
        process.terminate()  # SIGTERM to the command alone: it must stop the Dagster processes it started
        output = process.communicate(timeout=60)[0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and session_processes(process.pid):
            time.sleep(0.5)
        left = session_processes(process.pid)
        if left:
            os.killpg(process.pid, 9)
    assert "embedded simulator" in output
    assert not left, f"processes of the UI still running after SIGTERM: {left}"


def session_processes(session: int) -> list[str]:
    listing = subprocess.run(["ps", "-o", "pid=,args=", "-s", str(session)], capture_output=True, text=True).stdout
    return [line.strip() for line in listing.splitlines() if line.strip()]


def _ads_lake_file(home: Path, date: dt.date, final: bool, table_name: str = "ad_account_daily",
                   entity_id: str = "549764000545") -> None:
    """Ad account 549764000545's lake file of the date for an ads wide table: one row (the ad account's own, or one
    of its campaigns', ad groups' or ads'), the table's default metric columns without a value."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines import catalog, wide

    table = catalog.FACT_TABLES[table_name]
    path = home / "lake" / table.name / f"date={date.isoformat()}" / "ads.ad_account=549764000545.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"date": date, table.id_column: entity_id, "attribution": "CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION",
           "data_status": None, "is_final": final, "extracted_at": dt.datetime(2026, 11, 1, tzinfo=UTC)}
    pq.write_table(pa.Table.from_pylist([row], schema=wide.empty(table).schema), path)


def test_the_daily_tick_reaches_back_to_the_oldest_ads_date_not_final_yet(monkeypatch, tmp_path):
    """A date whose books were not closed when it left the re-pull window is re-pulled until it is final (same calls:
    one window either way), never further back than the sync endpoints' 89 days."""
    for name in ("PINTEREST_ORGANIC_REPULL_DAYS", "PINTEREST_ADS_REPULL_DAYS", *ATTRIBUTION_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    _ads_lake_file(tmp_path, dt.date(2026, 10, 10), final=True)
    assert tick(dt.datetime(2026, 11, 28, 6, tzinfo=UTC)).partition_key_range.start == "2026-10-26"
    _ads_lake_file(tmp_path, dt.date(2026, 10, 12), final=False, table_name="ad_daily", entity_id="687194767361")
    _ads_lake_file(tmp_path, dt.date(2026, 10, 20), final=False)
    assert tick(dt.datetime(2026, 11, 28, 6, tzinfo=UTC)).partition_key_range.start == "2026-10-12"
    _ads_lake_file(tmp_path, dt.date(2026, 8, 30), final=False)  # 90 days back: out of the sync endpoints' reach
    assert tick(dt.datetime(2026, 11, 28, 6, tzinfo=UTC)).partition_key_range.start == "2026-10-12"


@pytest.mark.parametrize("name", ["PINTEREST_ADS_REPULL_DAYS", "PINTEREST_ORGANIC_REPULL_DAYS"])
def test_a_repull_window_reaching_the_90th_day_back_is_refused(monkeypatch, name):
    """The 90th day back is beyond the sync endpoints' reach with the one-day margin: a daily run would ask an async
    report for it every day."""
    monkeypatch.setenv(name, "90")
    with pytest.raises(settings.SettingsError, match=f"{name} must be a whole number of days from 1 to 89"):
        settings.repull_days("ads" if "ADS" in name else "organic")


def test_an_ad_account_no_longer_extracted_holds_no_daily_tick_back(monkeypatch, tmp_path):
    """Only the ad accounts the latest extractions covered (lake/_accounts records) can hold the range back: one
    dropped by PINTEREST_AD_ACCOUNT_IDS, or whose access was revoked, would never become final."""
    from pipelines.lake import Lake

    for name in ("PINTEREST_ORGANIC_REPULL_DAYS", "PINTEREST_ADS_REPULL_DAYS", *ATTRIBUTION_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    _ads_lake_file(tmp_path, dt.date(2026, 10, 12), final=False)  # ad account 549764000545
    Lake(tmp_path / "lake").record_account_identities("default", "ads", ["ad_account=549764105172"])
    assert tick(dt.datetime(2026, 11, 28, 6, tzinfo=UTC)).partition_key_range.start == "2026-10-26"
    Lake(tmp_path / "lake").record_account_identities("default", "ads", ["ad_account=549764000545"])
    assert tick(dt.datetime(2026, 11, 28, 6, tzinfo=UTC)).partition_key_range.start == "2026-10-12"
