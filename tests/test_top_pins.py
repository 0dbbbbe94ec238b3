"""The API's top-pins rankings (`top_pins_api`): one call per ranking per run, the same numbers as the stored pin
data over the ranking's window, and an unusable ranking that costs a warning, never the day's data."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.metric_values import AnswerValueError
from pipelines.organic.top_pins import (
    ENDPOINT,
    METRICS,
    PINS_PER_RANKING,
    SORT_METRICS,
    WINDOW_DAYS,
    ranking_rows,
    top_pins_window,
)
from pipelines.planning import SYNC_BACK_DAYS, DateRange
from pipelines.raw_zone import RawZone
from tests.client_support import server_stats
from tests.conftest import TODAY
from tests.mutating_proxy_support import MutatingProxy
from tests.pipeline_support import pipeline_env, query, run
from tests.process_support import SMALL_WORLD

WINDOW = DateRange(TODAY - dt.timedelta(days=28), TODAY - dt.timedelta(days=1))
EXTRACTED_AT = dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)


def test_the_window_is_the_28_days_ending_at_the_range_end_or_yesterday():
    today = dt.date(2026, 11, 30)
    assert top_pins_window(DateRange(dt.date(2026, 9, 1), dt.date(2026, 11, 29)), today) == \
        DateRange(dt.date(2026, 11, 2), dt.date(2026, 11, 29))
    assert top_pins_window(DateRange(dt.date(2026, 11, 1), dt.date(2026, 12, 5)), today).end == dt.date(2026, 11, 29)
    old_end = today - dt.timedelta(days=SYNC_BACK_DAYS - 3)  # only 4 days of its 28 are still served
    assert top_pins_window(DateRange(old_end - dt.timedelta(days=40), old_end), today) == \
        DateRange(today - dt.timedelta(days=SYNC_BACK_DAYS), old_end)
    too_old = today - dt.timedelta(days=SYNC_BACK_DAYS + 1)
    assert top_pins_window(DateRange(too_old - dt.timedelta(days=5), too_old), today) is None


def _answer(pins: list[dict], sort_by: str = "IMPRESSION") -> dict:
    return {"date_availability": {"is_realtime": False, "latest_available_timestamp": 1764460799000},
            "pins": pins, "sort_by": sort_by}


def _pin(pin_id: str, value: object = 10, status: str = "READY") -> dict:
    return {"pin_id": pin_id, "metrics": {m: value for m in METRICS}, "data_status": {m: status for m in METRICS}}


def test_a_ranking_answer_becomes_one_row_per_place():
    rows = ranking_rows(_answer([_pin("2", 30), _pin("1", 20, "ESTIMATE")]), "IMPRESSION", WINDOW, "7", EXTRACTED_AT)
    assert rows.to_pylist() == [
        {"user_id": "7", "sort_by": "IMPRESSION", "rank": 1, "pin_id": "2", "window_start": WINDOW.start,
         "window_end": WINDOW.end, **{m.lower(): 30 for m in METRICS}, "data_status": "READY", "is_final": True,
         "latest_available_date": dt.date(2025, 11, 29), "extracted_at": EXTRACTED_AT},
        {"user_id": "7", "sort_by": "IMPRESSION", "rank": 2, "pin_id": "1", "window_start": WINDOW.start,
         "window_end": WINDOW.end, **{m.lower(): 20 for m in METRICS}, "data_status": "ESTIMATE", "is_final": False,
         "latest_available_date": dt.date(2025, 11, 29), "extracted_at": EXTRACTED_AT}]
    assert ranking_rows(_answer([], "SAVE"), "SAVE", WINDOW, "7", EXTRACTED_AT).num_rows == 0


@pytest.mark.parametrize("answer, message", [
    ([], "the answer is not an object with a `pins` list"),
    ({"pins": {}}, "the answer is not an object with a `pins` list"),
    (_answer([_pin("1")], sort_by="SAVE"), 'asked for sort_by IMPRESSION, the answer ranks by "SAVE"'),
    (_answer([_pin(str(i)) for i in range(PINS_PER_RANKING + 1)]), "51 pins answered for num_of_pins=50"),
    (_answer([_pin("1"), _pin("1")]), "pin 1 is listed twice in the IMPRESSION ranking"),
    (_answer([{"metrics": {}}]), "a pin of the answer has no string pin_id"),
    (_answer([{"pin_id": 12, "metrics": {}}]), "a pin of the answer has no string pin_id"),
    (_answer([{"pin_id": "1", "metrics": [1]}]), "metrics of pin 1 is [1], not an object"),
    (_answer([_pin("1", -1)]), "metric IMPRESSION of pin 1 is -1, not a non-negative integer within BIGINT"),
    (_answer([_pin("1", 1.5)]), "metric IMPRESSION of pin 1 is 1.5, not a non-negative integer within BIGINT"),
    (_answer([_pin("1", True)]), "metric IMPRESSION of pin 1 is true, not a non-negative integer within BIGINT"),
    (_answer([_pin("1", "12")]), 'metric IMPRESSION of pin 1 is "12", not a non-negative integer within BIGINT'),
    (_answer([_pin("1", status="DONE")]), 'data_status of pin 1 is {"IMPRESSION": "DONE"'),
])
def test_an_unusable_ranking_answer_is_refused_naming_what_is_wrong(answer, message):
    with pytest.raises(AnswerValueError) as refused:
        ranking_rows(answer, "IMPRESSION", WINDOW, "7", EXTRACTED_AT)
    assert f"{ENDPOINT}: {message}" in str(refused.value)


def test_the_api_ranking_has_the_numbers_of_the_stored_pin_data_over_its_window(demo_warehouse):
    """The simulator ranks the pins it serves; the stored pin_daily sums over the same window must give the same
    numbers for every ranked pin, and the same top values (ties may order differently)."""
    windows = query(demo_warehouse, "SELECT DISTINCT window_start, window_end FROM top_pins_api")
    assert len(windows) == 1 and (windows[0][1] - windows[0][0]).days == WINDOW_DAYS - 1
    for sort_by in SORT_METRICS:
        column = sort_by.lower()
        differences = query(demo_warehouse, """
            WITH stored AS (SELECT pin_id, sum(impression) AS impression, sum(save) AS save,
                                   sum(outbound_click) AS outbound_click, sum(pin_click) AS pin_click
                            FROM pin_daily, (SELECT DISTINCT window_start, window_end FROM top_pins_api) w
                            WHERE date BETWEEN w.window_start AND w.window_end GROUP BY pin_id)
            SELECT a.rank, a.pin_id FROM top_pins_api a LEFT JOIN stored s USING (pin_id)
            WHERE a.sort_by = ? AND (a.impression IS DISTINCT FROM s.impression OR a.save IS DISTINCT FROM s.save
                  OR a.outbound_click IS DISTINCT FROM s.outbound_click OR a.pin_click IS DISTINCT FROM s.pin_click)""",
                              [sort_by])
        assert differences == [], sort_by
        ranked = [r[0] for r in query(demo_warehouse, f"SELECT {column} FROM top_pins_api WHERE sort_by = ? "
                                                      "ORDER BY rank", [sort_by])]
        assert len(ranked) == PINS_PER_RANKING and ranked == sorted(ranked, reverse=True)
        top_stored = [r[0] for r in query(demo_warehouse, f"""
            SELECT sum({column}) AS total FROM pin_daily, (SELECT DISTINCT window_start, window_end FROM top_pins_api) w
            WHERE date BETWEEN w.window_start AND w.window_end GROUP BY pin_id ORDER BY total DESC LIMIT 50""")]
        assert ranked == top_stored, sort_by


@pytest.mark.slow
def test_a_run_makes_one_call_per_ranking_and_a_run_from_raw_none(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox(**SMALL_WORLD)
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    start, end = TODAY - dt.timedelta(days=5), TODAY - dt.timedelta(days=1)
    assert run(start, end) == 0
    assert server_stats(server)["requests"]["user_account/analytics/top_pins"] == len(SORT_METRICS)
    assert query(tmp_path, "SELECT sort_by, count(*) FROM top_pins_api GROUP BY ALL ORDER BY ALL") == \
        [(sort_by, SMALL_WORLD["pins"]) for sort_by in sorted(SORT_METRICS)]
    assert run(start, end, from_raw=True) == 0
    assert server_stats(server)["requests"]["user_account/analytics/top_pins"] == len(SORT_METRICS)
    assert len(RawZone(tmp_path / "raw").all_files()) == len(list((tmp_path / "raw").rglob("*.json.gz")))


@pytest.mark.slow
def test_an_unusable_ranking_fails_only_its_warning_check_and_the_day_loads(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(**SMALL_WORLD)

    def negative_saves(path: str, answer):
        if "/user_account/analytics/top_pins" in path and "sort_by=SAVE" in path:
            answer["pins"][0]["metrics"]["SAVE"] = -3
            return answer
        return None

    start, end = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
    with MutatingProxy(server.root_url, negative_saves) as proxy:
        pipeline_env(monkeypatch, tmp_path, proxy, TODAY)
        assert run(start, end) == 0
    out = capsys.readouterr().out
    bad = [p for p in RawZone(tmp_path / "raw").all_files() if b'"SAVE":-3' in RawZone.read(p).body.replace(b" ", b"")]
    assert len(bad) == 1
    assert (f"check top_pins_api.rankings_fetched: FAILED (failed_accounts: {{'default': 'AnswerValueError: {ENDPOINT}: "
            f"metric SAVE of pin ") in out and f"is -3, not a non-negative integer within BIGINT (raw file {bad[0]})" in out, out
    assert query(tmp_path, "SELECT count(*) FROM top_pins_api")[0][0] == 0  # no ranking half-stored
    assert query(tmp_path, "SELECT count(DISTINCT date) FROM pin_daily")[0][0] == 3  # the day's data loaded


@pytest.mark.parametrize("value", [1e19, 2**70, 2.0**63])
def test_a_count_beyond_bigint_is_refused_as_an_unusable_answer(value):
    with pytest.raises(AnswerValueError) as refused:
        ranking_rows(_answer([_pin("1", value)]), "IMPRESSION", WINDOW, "7", EXTRACTED_AT)
    assert "metric IMPRESSION of pin 1 is" in str(refused.value) and "within BIGINT" in str(refused.value)


@pytest.mark.parametrize("stamp", [9e14, -9e14, -1, float("nan"), "1764460799000", True])
def test_a_latest_available_timestamp_that_is_no_date_reads_null(stamp):
    answer = {**_answer([_pin("1")]), "date_availability": {"latest_available_timestamp": stamp}}
    rows = ranking_rows(answer, "IMPRESSION", WINDOW, "7", EXTRACTED_AT)
    assert rows.column("latest_available_date").to_pylist() == [None]


@pytest.mark.slow
def test_a_ranking_value_beyond_bigint_fails_only_the_warning_check(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(**SMALL_WORLD)

    def huge(path: str, answer):
        if "/user_account/analytics/top_pins" in path and "sort_by=SAVE" in path:
            answer["pins"][0]["metrics"]["SAVE"] = 1e19
            return answer
        return None

    with MutatingProxy(server.root_url, huge) as proxy:
        pipeline_env(monkeypatch, tmp_path, proxy, TODAY)
        assert run(TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)) == 0
    assert "check top_pins_api.rankings_fetched: FAILED" in capsys.readouterr().out
    assert query(tmp_path, "SELECT count(DISTINCT date) FROM pin_daily")[0][0] == 3
