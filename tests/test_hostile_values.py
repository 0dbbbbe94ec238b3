"""Hostile values in answers: non-finite, boolean or text metrics are refused at normalization (nothing of the source
reaches the lake); a final value is never replaced by a later answer that is not final; entities nobody asked for
are dropped and reported. Runs go through real HTTP: a mutating proxy between the pipeline and the simulator, or a
newer answer stored in the raw zone and a `--from-raw` run."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from pipelines.orchestration import run_range
from pipelines.raw_zone import RawZone
from pipelines.sandbox import SandboxConfig, running_sandbox
from tests.conftest import TODAY, UNLIMITED
from tests.fault_support import latest_run_metadata
from tests.mutating_proxy_support import HOSTILE, MutatingProxy
from tests.pipeline_support import pipeline_env, query
from tests.process_support import SMALL_WORLD, lake_files, warehouse_contents

START, END = TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=1)  # READY, ESTIMATE and PROCESSING days
# The raw JSON text of each hostile value, and how the error shows it.
HOSTILE_VALUES = {"infinity": ("1e999", "Infinity"), "nan": ("NaN", "NaN"), "boolean": ("true", "true"),
                  "string": ('"12"', '"12"')}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    """A data directory holding one run (organic and ads) of the range."""
    home = tmp_path_factory.mktemp("loaded") / "home"
    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **SMALL_WORLD)) as server, \
            pytest.MonkeyPatch.context() as monkeypatch:
        pipeline_env(monkeypatch, home, server, TODAY)
        assert run_range(START, END) == 0
    return home


@pytest.fixture
def home(loaded, tmp_path, monkeypatch, sandbox) -> Path:
    """A copy of the loaded data directory as PINTEREST_ETL_HOME, runs recorded in a DAGSTER_HOME beside it."""
    copy = tmp_path / "home"
    shutil.copytree(loaded, copy)
    (tmp_path / "dagster").mkdir()
    pipeline_env(monkeypatch, copy, sandbox, TODAY, DAGSTER_HOME=str(tmp_path / "dagster"))
    return copy


def facts(home: Path) -> dict[str, bytes]:
    """The lake's fact files (metric_daily, daily_status) by path, with their bytes."""
    return {name: path.read_bytes() for name, path in lake_files(home).items()
            if name.startswith(("metric_daily/", "daily_status/"))}


class FirstValue:
    """A rewrite: the first answer of `path` (and `query`) gets HOSTILE as the value of `metric` in its first day
    (organic) or row (ads) that has it; remembers where (entity, date)."""

    def __init__(self, path: str, metric: str, query: str = "", id_column: str = ""):
        self.path, self.query, self.metric, self.id_column = path, query, metric, id_column
        self.where: tuple[str, str] | None = None

    def __call__(self, path: str, answer):
        if self.where or not path.split("?")[0].endswith(self.path) or self.query not in path:
            return None
        if isinstance(answer, list):  # ads rows
            row = next(r for r in answer if self.metric in r)
            row[self.metric] = HOSTILE
            self.where = (str(row[self.id_column]), row["DATE"][:10])
            return answer
        day = next(d for d in answer["all"]["daily_metrics"] if self.metric in (d.get("metrics") or {}))
        day["metrics"][self.metric] = HOSTILE
        self.where = ("", day["date"])
        return answer


def raw_file_with(home: Path, text: str) -> Path:
    """The one raw answer whose body holds `text`."""
    found = [p for p in RawZone(home / "raw").all_files() if text.encode() in RawZone.read(p).body]
    assert len(found) == 1, found
    return found[0]


def run_through_proxy(home: Path, monkeypatch, rewrite, raw_text: str, only: str) -> int:
    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **SMALL_WORLD)) as server, \
            MutatingProxy(server.root_url, rewrite, raw_text) as proxy:
        pipeline_env(monkeypatch, home, proxy, TODAY, DAGSTER_HOME=str(home.parent / "dagster"))
        code = run_range(START, END, only=only)
        assert proxy.rewritten, "the proxy changed no answer"
    return code


@pytest.mark.slow
@pytest.mark.parametrize("case", HOSTILE_VALUES)
def test_a_hostile_organic_metric_value_is_refused_naming_it_and_the_lake_keeps_its_files(home, monkeypatch, capsys, case):
    raw_text, shown = HOSTILE_VALUES[case]
    lake_before, warehouse_before = facts(home), warehouse_contents(home)
    user_id = query(home, "SELECT user_id FROM user_accounts")[0][0]
    rewrite = FirstValue("/user_account/analytics", "IMPRESSION", "split_field=NO_SPLIT")
    assert run_through_proxy(home, monkeypatch, rewrite, raw_text, "organic") == 1
    printed = capsys.readouterr().err
    raw_file = raw_file_with(home, f'"IMPRESSION": {raw_text}')
    assert (f"step organic_lake failed: MetricValueError: user_account/analytics: metric IMPRESSION of user_account "
            f"{user_id} on {rewrite.where[1]} is {shown}, not a finite number (raw file {raw_file}): the answer is "
            "malformed; move the raw file aside and re-run its dates") in printed, printed
    assert facts(home) == lake_before
    assert warehouse_contents(home) == warehouse_before


@pytest.mark.slow
@pytest.mark.parametrize("case", HOSTILE_VALUES)
def test_a_hostile_ads_metric_value_is_refused_naming_it_and_the_lake_keeps_its_files(home, monkeypatch, capsys, case):
    raw_text, shown = HOSTILE_VALUES[case]
    lake_before, warehouse_before = facts(home), warehouse_contents(home)
    rewrite = FirstValue("/campaigns/analytics", "SPEND_IN_MICRO_DOLLAR", id_column="CAMPAIGN_ID")
    assert run_through_proxy(home, monkeypatch, rewrite, raw_text, "ads") == 1
    printed = capsys.readouterr().err
    raw_file = raw_file_with(home, f'"SPEND_IN_MICRO_DOLLAR": {raw_text}')
    campaign, date = rewrite.where
    assert (f"step ads_lake failed: MetricValueError: campaigns/analytics: metric SPEND_IN_MICRO_DOLLAR of campaign "
            f"{campaign} on {date} is {shown}, not a finite number (raw file {raw_file}): the answer is malformed; "
            "move the raw file aside and re-run its dates") in printed, printed
    assert facts(home) == lake_before
    assert warehouse_contents(home) == warehouse_before


def store_newer_answer(home: Path, endpoint: str, query_has: dict, change) -> Path:
    """A copy of the newest stored answer of `endpoint` whose request has the parameters `query_has`, with its body
    changed by `change`, stored as fetched a minute later (as a later run would have)."""
    raw = RawZone(home / "raw")
    records = [r for p in raw.all_files() if (r := raw.read(p)).endpoint == endpoint
               and all(r.params.get(k) == v for k, v in query_has.items())]
    record = max(records, key=lambda r: r.fetched_at)
    body = change(json.loads(record.body))
    return raw.write(endpoint, json.dumps(body).encode(), params=record.params, path_params=record.path_params,
                     window=record.window, context=record.context, fetched_at=record.fetched_at + dt.timedelta(minutes=1),
                     request_id="test")


def a_ready_day(home: Path) -> tuple[dt.date, float]:
    return query(home, "SELECT date, impression FROM user_account_daily WHERE split_field = 'NO_SPLIT' "
                       "AND data_status = 'READY' ORDER BY date LIMIT 1")[0]


def unsplit_day(home: Path, date: dt.date) -> tuple:
    return query(home, "SELECT data_status, is_final, impression FROM user_account_daily "
                       "WHERE split_field = 'NO_SPLIT' AND date = ?", [date])[0]


def set_day(answer: dict, date: dt.date, **fields) -> dict:
    day = next(d for d in answer["all"]["daily_metrics"] if d["date"] == date.isoformat())
    day.update(fields)
    return answer


@pytest.mark.slow
def test_a_ready_day_answered_processing_later_keeps_its_ready_numbers_and_is_reported(home, capsys):
    date, impression = a_ready_day(home)
    store_newer_answer(home, "user_account/analytics", {"split_field": "NO_SPLIT"},
                       lambda answer: set_day(answer, date, data_status="PROCESSING", metrics={}))
    assert run_range(START, END, from_raw=True, only="organic") == 0
    assert unsplit_day(home, date) == ("READY", True, impression)
    printed = capsys.readouterr()
    assert "check organic_lake.no_final_value_regressed: FAILED (violations: 1)" in printed.out
    assert f"organic: 1 key(s) kept their final value over a newer answer that was not final ({date}: 1)" in printed.err
    metadata = latest_run_metadata(home.parent / "dagster")["organic_lake"]
    assert metadata["final_values_kept"] == 1 and metadata["final_values_kept_per_date"] == {str(date): 1}


def test_a_newer_ready_answer_replaces_an_older_ready_one(home, capsys):
    date, impression = a_ready_day(home)
    store_newer_answer(home, "user_account/analytics", {"split_field": "NO_SPLIT"},
                       lambda answer: set_day(answer, date, metrics={"IMPRESSION": impression + 1000}))
    assert run_range(START, END, from_raw=True, only="organic") == 0
    assert unsplit_day(home, date) == ("READY", True, impression + 1000)
    assert "check organic_lake.no_final_value_regressed: passed" in capsys.readouterr().out
    assert latest_run_metadata(home.parent / "dagster")["organic_lake"]["final_values_kept"] == 0


def test_ads_days_are_final_as_of_their_fetch_not_as_of_a_later_renormalization(home, monkeypatch):
    """Days inside the attribution window when fetched stay not final when the raw zone is normalized again
    long after (their conversions may have grown since: only a later fetch makes them final)."""
    not_final = "SELECT count(*) FROM daily_status WHERE entity_type = 'ad_account' AND NOT is_final"
    before = query(home, not_final)[0][0]
    assert before > 0
    monkeypatch.setenv("PINTEREST_ETL_TODAY", (TODAY + dt.timedelta(days=60)).isoformat())
    assert run_range(START, END, from_raw=True, only="ads") == 0
    assert query(home, not_final)[0][0] == before


@pytest.mark.slow
def test_a_pin_nobody_asked_for_is_dropped_and_reported(home, monkeypatch, capsys):
    stranger = "999999999999999999"

    def add_stranger(path: str, answer):
        if "pin_ids=" not in path or stranger in answer:
            return None
        return {**answer, stranger: next(iter(answer.values()))}

    assert run_through_proxy(home, monkeypatch, add_stranger, "null", "organic") == 0
    assert query(home, "SELECT count(*) FROM metric_daily WHERE entity_id = ?", [stranger])[0][0] == 0
    assert query(home, "SELECT count(*) FROM daily_status WHERE entity_id = ?", [stranger])[0][0] == 0
    printed = capsys.readouterr()
    days = (END - START).days + 1
    raw_file = raw_file_with(home, stranger)
    assert f"check organic_lake.no_unrequested_rows: FAILED (violations: {days})" in printed.out
    assert (f"multi_pins/analytics: 1 entit(ies) the request did not ask for ({stranger}): {days} row(s) dropped, "
            f"raw file {raw_file}") in printed.err
    metadata = latest_run_metadata(home.parent / "dagster")["organic_lake"]
    assert metadata["unrequested_rows_dropped"] == days
    assert metadata["unrequested_entities"] == [{"endpoint": "multi_pins/analytics", "ids": [stranger], "rows": days,
                                                 "raw_file": str(raw_file)}]
