"""Hostile values in answers: non-finite, boolean, text or object metrics, unknown data_status values and a key
answered twice in one answer are refused at normalization (nothing of the source reaches the lake); a final value is
never taken back by a later answer (not final, or final without that metric); entities nobody asked for are dropped
and reported. Runs go through real HTTP: a mutating proxy between the pipeline and the simulator, or a newer answer
stored in the raw zone and a `--from-raw` run."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from pipelines import catalog
from pipelines.orchestration import run_range
from pipelines.planning import DateRange
from pipelines.raw_zone import RawRecord, RawZone
from pipelines.sandbox import SandboxConfig, running_sandbox
from tests.conftest import TODAY, UNLIMITED
from tests.fault_support import latest_run_metadata
from tests.mutating_proxy_support import HOSTILE, MutatingProxy
from tests.pipeline_support import pipeline_env, query
from tests.process_support import SMALL_WORLD, lake_files, warehouse_contents

# Each test runs the pipeline: CI runs them (`make test-slow`), `make test` stays fast.
pytestmark = pytest.mark.slow

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
    """The lake's fact files (of the wide tables) by path, with their bytes."""
    found = {name: path.read_bytes() for name, path in lake_files(home).items()
             if name.startswith(tuple(f"{table}/" for table in catalog.FACT_TABLES))}
    assert found  # what the tests compare is there
    return found


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


def newest_record(home: Path, endpoint: str, query_has: dict | None = None) -> RawRecord:
    """The newest stored answer of `endpoint` whose request has the parameters `query_has`."""
    raw = RawZone(home / "raw")
    return max((r for p in raw.all_files() if (r := raw.read(p)).endpoint == endpoint
                and all(r.params.get(k) == v for k, v in (query_has or {}).items())), key=lambda r: r.fetched_at)


def store_newer_answer(home: Path, endpoint: str, query_has: dict, change, *, params: dict | None = None,
                       context: dict | None = None) -> Path:
    """A copy of the newest stored answer of `endpoint` whose request has the parameters `query_has`, with its body
    changed by `change` (its request's parameters and context updated by `params` and `context`), stored as fetched
    a minute later (as a later run would have)."""
    record = newest_record(home, endpoint, query_has)
    body = change(json.loads(record.body))
    return RawZone(home / "raw").write(
        endpoint, json.dumps(body).encode(), params={**record.params, **(params or {})}, path_params=record.path_params,
        window=record.window, context={**record.context, **(context or {})},
        fetched_at=record.fetched_at + dt.timedelta(minutes=1), request_id="test")


def a_ready_day(home: Path) -> tuple[dt.date, float]:
    return query(home, "SELECT date, impression FROM user_account_daily WHERE split_field = 'NO_SPLIT' AND content_type = 'ALL' "
                       "AND data_status = 'READY' ORDER BY date LIMIT 1")[0]


def unsplit_day(home: Path, date: dt.date) -> tuple:
    return query(home, "SELECT data_status, is_final, impression FROM user_account_daily "
                       "WHERE split_field = 'NO_SPLIT' AND content_type = 'ALL' AND date = ?", [date])[0]


def set_day(answer: dict, date: dt.date, **fields) -> dict:
    day = next(d for d in answer["all"]["daily_metrics"] if d["date"] == date.isoformat())
    day.update(fields)
    return answer


def metrics_of(answer: dict, date: dt.date) -> dict:
    return next(d for d in answer["all"]["daily_metrics"] if d["date"] == date.isoformat())["metrics"]


@pytest.mark.slow
def test_a_ready_day_answered_processing_later_keeps_its_ready_numbers_and_is_reported(home, capsys):
    date, impression = a_ready_day(home)
    store_newer_answer(home, "user_account/analytics", {"split_field": "NO_SPLIT", "content_type": "ALL"},
                       lambda answer: set_day(answer, date, data_status="PROCESSING", metrics={}))
    assert run_range(START, END, from_raw=True, only="organic") == 0
    assert unsplit_day(home, date) == ("READY", True, impression)
    printed = capsys.readouterr()
    assert "check organic_lake.no_final_value_regressed: FAILED (violations: 1)" in printed.out
    assert f"organic: 1 key(s) kept final value(s) over a newer answer that was not final or lacked them ({date}: 1)" \
        in printed.err
    metadata = latest_run_metadata(home.parent / "dagster")["organic_lake"]
    assert metadata["final_values_kept"] == 1 and metadata["final_values_kept_per_date"] == {str(date): 1}


def test_a_newer_ready_answer_replaces_an_older_ready_one(home, capsys):
    date, impression = a_ready_day(home)
    store_newer_answer(home, "user_account/analytics", {"split_field": "NO_SPLIT", "content_type": "ALL"},
                       lambda answer: set_day(answer, date, metrics={**metrics_of(answer, date),
                                                                     "IMPRESSION": impression + 1000}))
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
    added: list[str] = []

    def add_stranger(path: str, answer):  # to the first bulk answer only (pins of each type have their own)
        if "pin_ids=" not in path or added:
            return None
        added.append(path)
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


READY_DAYS = ("SELECT date, impression, save, pin_click, outbound_click FROM user_account_daily "
              "WHERE split_field = 'NO_SPLIT' AND content_type = 'ALL' AND data_status = 'READY' ORDER BY date")


def test_a_newer_ready_answer_lacking_metrics_keeps_the_older_final_values_and_is_reported(home, capsys):
    """Absent is not zero: a READY day answered READY again without metrics (`{}`), or with only some, keeps the
    final values the newer answer lacks (and takes those it has)."""
    (emptied, *values), (partial, impression, *others) = query(home, READY_DAYS)[:2]

    def change(answer):
        set_day(answer, emptied, metrics={})
        return set_day(answer, partial, metrics={"IMPRESSION": impression + 1000})

    store_newer_answer(home, "user_account/analytics", {"split_field": "NO_SPLIT", "content_type": "ALL"}, change)
    assert run_range(START, END, from_raw=True, only="organic") == 0
    after = {date: tuple(rest) for date, *rest in query(home, READY_DAYS)}
    assert after[emptied] == tuple(values)
    assert after[partial] == (impression + 1000, *others)
    printed = capsys.readouterr()
    assert "check organic_lake.no_final_value_regressed: FAILED (violations: 2)" in printed.out
    assert (f"organic: 2 key(s) kept final value(s) over a newer answer that was not final or lacked them "
            f"({emptied}: 1, {partial}: 1)") in printed.err
    metadata = latest_run_metadata(home.parent / "dagster")["organic_lake"]
    assert metadata["final_values_kept_per_date"] == {str(emptied): 1, str(partial): 1}


CAMPAIGN_DAYS = "SELECT campaign_id, date, spend_in_micro_dollar, is_final FROM campaign_daily ORDER BY campaign_id, date"
LATER = {"today": (TODAY + dt.timedelta(days=60)).isoformat()}  # fetched long after the attribution window: final


def test_a_newer_final_ads_answer_with_a_null_column_replaces_the_older_values_without_warning(home, capsys):
    """Two later fetches of every ads answer, both final: the newest has SPEND_IN_MICRO_DOLLAR null in every row,
    which for the ads API is no value (as a left-out zero): the spend is 0, nothing was taken back."""
    restate_ads(home, lambda level, rows: rows, minutes=1, context=LATER)
    restate_ads(home, lambda level, rows: every_row(None, "SPEND_IN_MICRO_DOLLAR")(rows), minutes=2, context=LATER)
    before = query(home, CAMPAIGN_DAYS)
    assert run_range(START, END, from_raw=True, only="ads") == 0
    assert query(home, CAMPAIGN_DAYS) == [(campaign, date, 0, True) for campaign, date, *_ in before]
    assert "check ads_lake.no_final_value_regressed: passed" in capsys.readouterr().out
    assert latest_run_metadata(home.parent / "dagster")["ads_lake"]["final_values_kept"] == 0


def store_campaign_report(home: Path, change=lambda report: report) -> Path:
    """An async campaign report of the range as a later run would store it (the request extract_reports makes),
    holding the campaigns' rows of their newest answer, changed by `change` ({campaign id: rows})."""
    answer = newest_record(home, "campaigns/analytics")
    report = {}
    for row in json.loads(answer.body):
        report.setdefault(row["CAMPAIGN_ID"], []).append({k: v for k, v in row.items() if k != "CAMPAIGN_ID"})
    params = {**{k: v for k, v in answer.params.items() if k != "campaign_ids"}, "level": "CAMPAIGN",
              "columns": ["CAMPAIGN_ID", *answer.params["columns"]], "report_format": "JSON"}
    return RawZone(home / "raw").write(
        "analytics/report", json.dumps(change(report)).encode(), params=params, path_params=answer.path_params,
        window=answer.window, context=answer.context, fetched_at=answer.fetched_at + dt.timedelta(minutes=1),
        request_id=None)


def every_row(value, column: str):
    """A change of a campaigns answer (rows) or report ({id: rows}) setting `column` to `value` in every row."""
    def change(answer):
        rows = answer if isinstance(answer, list) else [row for rows in answer.values() for row in rows]
        for row in rows:
            row[column] = value
        return answer
    return change


@pytest.mark.parametrize("endpoint, column, value", [
    ("campaigns/analytics", "SPEND_IN_MICRO_DOLLAR", "n/a"), ("campaigns/analytics", "PAID_IMPRESSION", {"value": 5}),
    ("analytics/report", "SPEND_IN_MICRO_DOLLAR", [1]), ("analytics/report", "PAID_IMPRESSION", "5 impressions"),
], ids=["text", "object", "report-array", "report-text"])
def test_a_requested_ads_column_holding_no_number_is_refused_naming_it(home, capsys, endpoint, column, value):
    """A column the pipeline requested as a metric holds JSON numbers or nulls, even when none of its values is a
    number (then it is not taken for a name or a status column and dropped)."""
    lake_before = facts(home)
    first = json.loads(newest_record(home, "campaigns/analytics").body)[0]  # the first row of either answer
    if endpoint == "analytics/report":
        raw_file = store_campaign_report(home, every_row(value, column))
    else:
        raw_file = store_newer_answer(home, endpoint, {}, every_row(value, column))
    assert run_range(START, END, from_raw=True, only="ads") == 1
    printed = capsys.readouterr().err
    assert (f"step ads_lake failed: MetricValueError: {endpoint}: metric {column} of campaign {first['CAMPAIGN_ID']} "
            f"on {first['DATE']} is "
            f"{json.dumps(value)}, not a finite number (raw file {raw_file}): the answer is malformed") in printed, printed
    assert facts(home) == lake_before


STRANGER = "999000111"


def test_a_report_row_of_an_entity_its_ad_account_does_not_list_is_dropped_and_reported(home, capsys):
    """An async report covers the ad account's entities: those its entity lists (in the raw zone) name."""
    stranger_rows = [{"DATE": START.isoformat(), "SPEND_IN_MICRO_DOLLAR": 123456789, "PAID_IMPRESSION": 5}]
    raw_file = store_campaign_report(home, lambda report: {**report, STRANGER: stranger_rows})
    assert run_range(START, END, from_raw=True, only="ads") == 0
    assert query(home, "SELECT count(*) FROM daily_status WHERE entity_id = ?", [STRANGER]) == [(0,)]
    printed = capsys.readouterr()
    assert "check ads_lake.no_unrequested_rows: FAILED (violations: 1)" in printed.out
    assert (f"analytics/report: 1 entit(ies) the request did not ask for ({STRANGER}): 1 row(s) dropped, "
            f"raw file {raw_file}") in printed.err
    assert latest_run_metadata(home.parent / "dagster")["ads_lake"]["unrequested_entities"] == [
        {"endpoint": "analytics/report", "ids": [STRANGER], "rows": 1, "raw_file": str(raw_file)}]


def test_the_report_shows_an_ad_account_without_currency_or_name_as_unknown(home, monkeypatch):
    """The ad accounts' listing answers `currency` and `name` null: the report names them unknown instead of failing."""
    def without_currency(path: str, answer):
        if not path.split("?")[0].endswith("/ad_accounts"):
            return None
        return {**answer, "items": [{**item, "currency": None, "name": None} for item in answer["items"]]}

    assert run_through_proxy(home, monkeypatch, without_currency, "null", "ads") == 0
    assert {currency for (currency,) in query(home, "SELECT DISTINCT currency FROM campaign_daily")} == {None}
    report = (home / "report.html").read_text()
    assert "Spend vs conversions, unknown" in report
    account = query(home, "SELECT ad_account_id FROM ad_accounts")[0][0]
    assert f"</small></td><td>{account}</td><td>" in report and " unknown</td>" in report


@pytest.mark.parametrize("status", ["ready", "READY ", None])
def test_a_data_status_outside_the_official_enum_is_refused_naming_it(home, capsys, status):
    """Such a day would be neither final nor stale: nothing says what it is."""
    lake_before = facts(home)
    user_id = query(home, "SELECT user_id FROM user_accounts")[0][0]
    date, _ = a_ready_day(home)
    raw_file = store_newer_answer(home, "user_account/analytics", {"split_field": "NO_SPLIT", "content_type": "ALL"},
                                  lambda answer: set_day(answer, date, data_status=status))
    assert run_range(START, END, from_raw=True, only="organic") == 1
    printed = capsys.readouterr().err
    assert (f"step organic_lake failed: DataStatusError: user_account/analytics: data_status of user_account {user_id} "
            f"on {date} is {json.dumps(status)}, not one of the API's DataStatus values (raw file {raw_file}): the answer is "
            "malformed") in printed, printed
    assert facts(home) == lake_before


def test_an_answer_holding_a_day_twice_is_refused_naming_the_raw_file(home, capsys):
    """The same campaign on the same day twice in one answer (a second DATE written with a time of day)."""
    lake_before = facts(home)
    answer = newest_record(home, "campaigns/analytics")
    first = json.loads(answer.body)[0]
    twice = {**first, "DATE": f"{first['DATE']}T00:00:00", "SPEND_IN_MICRO_DOLLAR": 1}
    raw_file = store_newer_answer(home, "campaigns/analytics", {}, lambda rows: [*rows, twice])
    assert run_range(START, END, from_raw=True, only="ads") == 1
    printed = capsys.readouterr().err
    assert (f"step ads_lake failed: DuplicateKeyError: campaigns/analytics: the answer holds campaign "
            f"{first['CAMPAIGN_ID']} on {first['DATE']} (ATTRIBUTION {answer.context['attribution']}) more than once "
            f"(raw file {raw_file}): the answer is malformed") in printed, printed
    assert facts(home) == lake_before


# A value echoing a credential, long enough to flood a terminal and the run's event log.
ECHOED_TOKEN = "echo Bearer pina_SANDBOX " + "Z" * 5000


def set_impression(answer: dict, date: dt.date, value) -> dict:
    metrics_of(answer, date)["IMPRESSION"] = value
    return answer


@pytest.mark.parametrize("field", ["data_status", "metric"])
def test_a_value_echoing_a_token_reaches_no_message_unmasked_or_whole(home, capsys, field):
    """Messages show answer values through one helper: credentials masked, cut to 80 characters with the length."""
    date, _ = a_ready_day(home)
    if field == "data_status":
        store_newer_answer(home, "user_account/analytics", {"split_field": "NO_SPLIT", "content_type": "ALL"},
                           lambda answer: set_day(answer, date, data_status=ECHOED_TOKEN))
    else:
        store_newer_answer(home, "user_account/analytics", {"split_field": "NO_SPLIT", "content_type": "ALL"},
                           lambda answer: set_impression(answer, date, ECHOED_TOKEN))
    assert run_range(START, END, from_raw=True, only="organic") == 1
    printed = capsys.readouterr().err
    error = "DataStatusError" if field == "data_status" else "MetricValueError"
    shown = f'"echo Bearer **** {"Z" * 62}… ({len(json.dumps(ECHOED_TOKEN))} chars)'
    assert f"step organic_lake failed: {error}: user_account/analytics: " in printed, printed
    assert shown in printed, printed
    assert "pina_" not in printed and "Z" * 81 not in printed
    event_log = b"".join(p.read_bytes() for p in (home.parent / "dagster").rglob("*") if p.is_file())
    assert b"pina_" not in event_log and b"Z" * 81 not in event_log


ADS_ENDPOINTS = {"ad_account": "ad_account/analytics", "campaign": "campaigns/analytics",
                 "ad_group": "ad_groups/analytics", "ad": "ads/analytics"}
ID_COLUMNS = {"ad_account": "AD_ACCOUNT_ID", "campaign": "CAMPAIGN_ID", "ad_group": "AD_GROUP_ID", "ad": "AD_ID"}
ADDITIVE = ("SPEND_IN_MICRO_DOLLAR", "PAID_IMPRESSION", "CLICKTHROUGH_1")  # what the warehouse adds up level to level


def restate_ads(home: Path, change, *, minutes: int, context: dict | None = None, levels=tuple(ADS_ENDPOINTS),
                params=lambda params: params) -> None:
    """Every ads analytics answer of the loaded run (of `levels`) stored again `minutes` later, as a later run of
    the same requests would: rows changed by `change(level, rows)`, parameters by `params`, context updated (a
    later `today` comes with metrics_ready_state saying the dates are ready, fetched just before)."""
    raw = RawZone(home / "raw")
    endpoints = {ADS_ENDPOINTS[level] for level in levels}
    originals = [r for path in raw.all_files() if (r := raw.read(path)).endpoint in endpoints and r.request_id != "test"]
    for record in originals:
        raw.write(record.endpoint, json.dumps(change(record.context["level"], json.loads(record.body))).encode(),
                  params=params(record.params), path_params=record.path_params, window=record.window,
                  context={**record.context, **(context or {})},
                  fetched_at=record.fetched_at + dt.timedelta(minutes=minutes), request_id="test")
    if context and "today" in context:  # a later run asks metrics_ready_state first: by then every date is ready
        newest = max(record.window.end for record in originals)
        raw.write("metrics_ready_state/get", b'{"conversion_metrics_ready": true, "non_conversion_metrics_ready": true}',
                  params={"date": newest.isoformat()}, window=DateRange(newest, newest),
                  fetched_at=min(r.fetched_at for r in originals) + dt.timedelta(minutes=minutes, seconds=-1),
                  request_id="test")


def an_ad_with_clicks(home: Path, final: bool | None = None) -> tuple[dict[str, str], dt.date]:
    """An ad with clicks on a day (not final, if final is False), and its ad group, campaign and ad account."""
    not_final = "AND NOT is_final" if final is False else ""
    ad, group, campaign, account, date = query(home, f"""
        SELECT ad_id, ad_group_id, campaign_id, ad_account_id, date FROM ad_daily
        WHERE clickthrough_1 > 0 {not_final} ORDER BY date, ad_id LIMIT 1""")[0]
    return {"ad": ad, "ad_group": group, "campaign": campaign, "ad_account": account}, date


def credit_back(home: Path, entities: dict[str, str], date: dt.date, *, whole_row: bool):
    """A change of the ads answers: the ad loses its clicks on `date` (whole_row: all its delivery, so the API
    leaves its row out; else the clicks only, whose column the API then leaves out as a zero), and its ad group,
    campaign and ad account lose the same."""
    ad_row = next(row for row in json.loads(newest_record(home, "ads/analytics").body)
                  if row["AD_ID"] == entities["ad"] and row["DATE"][:10] == date.isoformat())
    lost = {column: ad_row[column] for column in (ADDITIVE if whole_row else ("CLICKTHROUGH_1",)) if column in ad_row}

    def change(level: str, rows: list) -> list:
        restated = []
        for row in rows:
            if str(row[ID_COLUMNS[level]]) == entities[level] and row["DATE"][:10] == date.isoformat():
                for column, value in lost.items():
                    row[column] -= value
                    if not row[column]:
                        del row[column]
                if level == "ad" and whole_row:
                    continue
            restated.append(row)
        return restated
    return change


LEVEL_DAYS = ("SELECT entity_type, entity_id, metric, value FROM metric_daily WHERE date = ? "
              "AND entity_id IN (?, ?, ?, ?) AND metric IN ('SPEND_IN_MICRO_DOLLAR', 'PAID_IMPRESSION', 'CLICKTHROUGH_1')")


def level_values(home: Path, entities: dict[str, str], date: dt.date) -> dict[tuple[str, str], float]:
    return {(level, metric): value for level, _, metric, value in query(home, LEVEL_DAYS, [date, *entities.values()])}


def expected_after(before: dict, credited: dict[str, float], whole_row: bool) -> dict:
    """Every level's values less what was credited back (a requested metric left out is stored as 0); no values of
    the ad when its whole row was left out."""
    after = {(level, metric): value - credited.get(metric, 0) for (level, metric), value in before.items()}
    return {key: value for key, value in after.items() if not (whole_row and key[0] == "ad")}


@pytest.mark.parametrize("whole_row", [False, True], ids=["column-left-out", "row-left-out"])
def test_a_final_ads_restatement_leaving_out_zeros_is_taken_at_every_level(home, capsys, whole_row):
    """The ads API leaves out a zero column and a row without delivery: a newer final answer without them says
    zero, not "missing". The restatement is taken whole, the levels still add up, nothing is reported."""
    entities, date = an_ad_with_clicks(home)
    before = level_values(home, entities, date)
    credited = {metric: value for (level, metric), value in before.items()
                if level == "ad" and (whole_row or metric == "CLICKTHROUGH_1")}
    restate_ads(home, lambda level, rows: rows, minutes=1, context=LATER)
    restate_ads(home, credit_back(home, entities, date, whole_row=whole_row), minutes=2, context=LATER)
    assert run_range(START, END, from_raw=True, only="ads") == 0
    assert level_values(home, entities, date) == expected_after(before, credited, whole_row)
    ad_days = query(home, "SELECT clickthrough_1 FROM ad_daily WHERE ad_id = ? AND date = ?", [entities["ad"], date])
    assert ad_days == ([] if whole_row else [(0,)])
    printed = capsys.readouterr().out
    assert "check ads_lake.no_final_value_regressed: passed" in printed
    assert "check ads_warehouse.ads_add_up_to_ad_groups: passed" in printed
    assert latest_run_metadata(home.parent / "dagster")["ads_lake"]["final_values_kept"] == 0


def test_a_newer_answer_not_final_without_an_ads_row_removes_the_older_row_not_final(home, capsys):
    """A restatement to zero (no delivery left) while the day is still inside the attribution window."""
    entities, date = an_ad_with_clicks(home, final=False)
    restate_ads(home, credit_back(home, entities, date, whole_row=True), minutes=1)
    assert run_range(START, END, from_raw=True, only="ads") == 0
    assert query(home, "SELECT count(*) FROM daily_status WHERE entity_id = ? AND date = ?",
                 [entities["ad"], date]) == [(0,)]
    assert "check ads_lake.no_final_value_regressed: passed" in capsys.readouterr().out


def test_a_newer_answer_not_final_without_an_ads_row_keeps_the_final_row_and_is_reported(home, capsys):
    """Every ad day was fetched final, then again not final (the ad's row left out on one day): each keeps its final
    answer, which is reported per key."""
    entities, date = an_ad_with_clicks(home)
    restate_ads(home, lambda level, rows: rows, minutes=1, context=LATER)
    clicks = query(home, "SELECT clickthrough_1 FROM ad_daily WHERE ad_id = ? AND date = ?", [entities["ad"], date])
    restate_ads(home, credit_back(home, entities, date, whole_row=True), minutes=2, levels=("ad",))
    assert run_range(START, END, from_raw=True, only="ads") == 0
    assert query(home, "SELECT clickthrough_1, is_final FROM ad_daily WHERE ad_id = ? AND date = ?",
                 [entities["ad"], date]) == [(clicks[0][0], True)]
    ad_days = query(home, "SELECT count(*) FROM daily_status WHERE entity_type = 'ad'")[0][0]
    assert f"check ads_lake.no_final_value_regressed: FAILED (violations: {ad_days})" in capsys.readouterr().out


def test_narrowed_ads_columns_drop_the_removed_column_without_warning(home, capsys):
    """PINTEREST_ADS_COLUMNS narrowed between two final fetches: the newer answers do not have the column because
    nobody asked for it, which is no value taken back."""
    def without_spend(level: str, rows: list) -> list:
        return [{k: v for k, v in row.items() if k != "SPEND_IN_MICRO_DOLLAR"} for row in rows]

    restate_ads(home, lambda level, rows: rows, minutes=1, context=LATER)
    restate_ads(home, without_spend, minutes=2, context=LATER, params=lambda params: {
        **params, "columns": [c for c in params["columns"] if c != "SPEND_IN_MICRO_DOLLAR"]})
    assert run_range(START, END, from_raw=True, only="ads") == 0
    assert query(home, "SELECT count(*) FROM metric_daily WHERE metric = 'SPEND_IN_MICRO_DOLLAR'") == [(0,)]
    assert query(home, "SELECT count(*) FROM metric_daily WHERE metric = 'PAID_IMPRESSION'")[0][0] > 0
    assert "check ads_lake.no_final_value_regressed: passed" in capsys.readouterr().out


def test_a_newer_ready_answer_of_narrower_metric_types_keeps_no_value_it_did_not_ask_for(home, capsys):
    """The organic rescue keeps a final value a newer final answer lacks only when its request asked for it."""
    def without_impression(answer):
        for day in answer["all"]["daily_metrics"]:
            (day.get("metrics") or {}).pop("IMPRESSION", None)
        return answer

    record = newest_record(home, "user_account/analytics", {"split_field": "NO_SPLIT", "content_type": "ALL"})
    store_newer_answer(home, "user_account/analytics", {"split_field": "NO_SPLIT", "content_type": "ALL"}, without_impression,
                       params={"metric_types": [m for m in record.params["metric_types"] if m != "IMPRESSION"]})
    assert run_range(START, END, from_raw=True, only="organic") == 0
    assert {impression for _, impression, *_ in query(home, READY_DAYS)} == {None}
    assert "check organic_lake.no_final_value_regressed: passed" in capsys.readouterr().out


def a_day_of_two_campaigns(home: Path) -> tuple[dt.date, str, str]:
    """A day on which two campaigns have ad rows: (the day, the first campaign, the second)."""
    date, first, second = query(home, """
        SELECT date, min(campaign_id), max(campaign_id) FROM ad_daily GROUP BY date
        HAVING count(DISTINCT campaign_id) > 1 ORDER BY date LIMIT 1""")[0]
    return date, first, second


def children_days(home: Path, campaign: str, date: dt.date) -> int:
    """The daily_status rows of the campaign's ad groups and ads on the day."""
    return query(home, """
        SELECT count(*) FROM daily_status WHERE date = ? AND (
            (entity_type = 'ad_group' AND entity_id IN (SELECT ad_group_id FROM ad_groups WHERE campaign_id = ?)) OR
            (entity_type = 'ad' AND entity_id IN (SELECT ad_id FROM ads WHERE campaign_id = ?)))""",
                 [date, campaign, campaign])[0][0]


def campaign_restated_away(home: Path, campaign: str, date: dt.date):
    """A change of the campaign and ad account answers: the campaign lost all delivery on `date` (the API leaves its
    row out) and the ad account lost the campaign's values."""
    campaign_row = next(row for row in json.loads(newest_record(home, "campaigns/analytics").body)
                        if str(row["CAMPAIGN_ID"]) == campaign and row["DATE"][:10] == date.isoformat())

    def change(level: str, rows: list) -> list:
        restated = []
        for row in rows:
            if row["DATE"][:10] == date.isoformat():
                if level == "campaign" and str(row["CAMPAIGN_ID"]) == campaign:
                    continue
                if level == "ad_account":
                    for column in ADDITIVE:
                        row[column] = row.get(column, 0) - campaign_row.get(column, 0)
                        if not row[column]:
                            del row[column]
            restated.append(row)
        return restated
    return change


@pytest.fixture
def two_campaigns(make_sandbox, tmp_path, monkeypatch) -> Path:
    """A data directory holding one ads run of the range over a world where several campaigns deliver."""
    server = make_sandbox(**{**SMALL_WORLD, "campaigns": 4, "ad_groups": 2})
    home = tmp_path / "home"
    (tmp_path / "dagster").mkdir()
    pipeline_env(monkeypatch, home, server, TODAY, DAGSTER_HOME=str(tmp_path / "dagster"))
    assert run_range(START, END, only="ads") == 0
    return home


def test_a_campaign_restated_to_no_delivery_takes_its_ad_groups_and_ads_with_it(two_campaigns, capsys):
    """A later run finds a campaign without rows, so it asks nothing of its ad groups and ads (they cannot deliver
    without it): the campaign's answer covers them too, by the ad account's entity lists. Their older rows of the
    day go, the levels still add up; a campaign with rows keeps its children's rows."""
    home = two_campaigns
    date, gone, kept = a_day_of_two_campaigns(home)
    kept_children = children_days(home, kept, date)
    assert children_days(home, gone, date) > 0 and kept_children > 0
    restate_ads(home, campaign_restated_away(home, gone, date), minutes=1, levels=("ad_account", "campaign"))
    assert run_range(START, END, from_raw=True, only="ads") == 0
    assert children_days(home, gone, date) == 0
    assert children_days(home, kept, date) == kept_children
    assert query(home, "SELECT count(*) FROM daily_status WHERE entity_id = ? AND date = ?", [gone, date]) == [(0,)]
    printed = capsys.readouterr().out
    assert "check ads_warehouse.ad_groups_add_up_to_campaigns: passed" in printed
    assert "check ads_warehouse.campaigns_add_up_to_accounts: passed" in printed
