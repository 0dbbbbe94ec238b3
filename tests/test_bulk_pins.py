"""Bulk pin analytics: one pin type per call, answers checked for every requested pin, the documented refusals
of the beta endpoint told apart from a refused pin, and refused pins skipped and reported."""

from __future__ import annotations

import datetime as dt
import math
import urllib.parse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines import api_enums
from pipelines.lake import Lake
from pipelines.metric_values import AnswerValueError
from pipelines.organic.dimensions import BOARDS, PINS, USER_ACCOUNTS, OrganicDimensions, extract_dimensions
from pipelines.organic.extract import (
    ExtractSummary,
    PinAnalyticsAccessLostError,
    PinRef,
    extract_organic,
    first_note_per_pin,
    plan_organic,
)
from pipelines.organic.source import ORGANIC
from pipelines.pinterest.errors import InvalidRequestError
from pipelines.planning import DateRange
from pipelines.raw_zone import RawZone
from pipelines.resume import QuotaStop, replay_index
from pipelines.transform import normalize_range
from tests.client_support import make_client, server_stats
from tests.conftest import TODAY
from tests.fault_support import latest_run_metadata
from tests.mutating_proxy_support import MutatingProxy
from tests.pipeline_support import pipeline_env, run

WINDOW = DateRange(TODAY - dt.timedelta(days=13), TODAY - dt.timedelta(days=1))


def pin_refs(server) -> list[PinRef]:
    """Every pin of the simulator's world, in the world's order, with its type."""
    world = server.state.world
    return [PinRef(pin_id, bool(is_video)) for pin_id, is_video in zip(world.pin_ids, world.pin_is_video.tolist())]


def extract(server, tmp_path, refs: list[PinRef]) -> tuple[ExtractSummary, RawZone]:
    """The organic extraction of `refs` for WINDOW (no split) into a raw zone under tmp_path."""
    raw = RawZone(tmp_path / "raw")
    plan = plan_organic(WINDOW, TODAY, refs, ())
    with make_client(server) as client:
        summary = extract_organic(client, raw, plan, server.state.world.user_id)
    return summary, raw


def extract_through_proxy(server, tmp_path, refs: list[PinRef], rewrite=None, refuse=None, window: DateRange = WINDOW
                          ) -> tuple[ExtractSummary, RawZone, dict[str, int]]:
    """The organic extraction of `refs` for `window` through a MutatingProxy (answers rewritten by `rewrite`, requests
    refused by `refuse`), with the pin analytics calls the proxy received by endpoint."""
    raw = RawZone(tmp_path / "raw")
    with MutatingProxy(server.root_url, rewrite or (lambda path, body: None), refuse=refuse) as proxy, \
            make_client(server, base_url=proxy.base_url) as client:
        extract_dimensions(client, raw)  # whose pins the answers are, for normalization
        summary = extract_organic(client, raw, plan_organic(window, TODAY, refs, ()), server.state.world.user_id)
    paths = [urllib.parse.urlsplit(path).path for path in proxy.requests]
    calls = {"multi_pins/analytics": sum(path == "/v5/pins/analytics" for path in paths),
             "pins/analytics": sum(path.startswith("/v5/pins/") and path.endswith("/analytics")
                                   and path != "/v5/pins/analytics" for path in paths)}
    return summary, raw, calls


def is_bulk(path: str) -> bool:
    return urllib.parse.urlsplit(path).path == "/v5/pins/analytics"


def bulk_ids(path: str) -> list[str]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["pin_ids"][0].split(",")


def rewrite_pin(pin_id: str, change):
    """A rewrite of bulk answers holding `pin_id`: its block becomes change(block)."""
    def rewrite(path, body):
        if is_bulk(path) and isinstance(body, dict) and pin_id in body:
            return {**body, pin_id: change(body[pin_id])}
        return None
    return rewrite


def refuse_bulk_with(pin_id: str, status: int, code: int, message: str):
    """A refusal of every bulk call asking for `pin_id`."""
    return lambda path: (status, {"code": code, "message": message}) if is_bulk(path) and pin_id in bulk_ids(path) else None


def lake_days_per_pin(tmp_path, raw: RawZone):
    """Normalize WINDOW of `raw` into a lake under tmp_path: (the summary, the number of days per pin)."""
    lake = Lake(tmp_path / "lake")
    summary = normalize_range([raw], lake, WINDOW, ORGANIC, TODAY)
    days: dict[str, int] = {}
    for path in lake.files("pin_daily", WINDOW.dates(), "organic"):
        for pin_id in pq.read_table(path, columns=["pin_id"]).column("pin_id").to_pylist():
            days[pin_id] = days.get(pin_id, 0) + 1
    return summary, days


def pin_calls(server) -> dict[str, int]:
    calls = server_stats(server)["requests"]
    return {endpoint: calls.get(endpoint, 0) for endpoint in ("multi_pins/analytics", "pins/analytics")}


def requested_ids(params: dict) -> list[str]:
    ids = params["pin_ids"]
    return ids.split(",") if isinstance(ids, str) else list(ids)


def requested_metrics(params: dict) -> tuple[str, ...]:
    metrics = params["metric_types"]
    return tuple(metrics.split(",") if isinstance(metrics, str) else metrics)


def test_bulk_calls_batch_pins_by_type_each_asking_its_types_metrics(make_sandbox, tmp_path):
    server = make_sandbox(pins=250)
    refs = pin_refs(server)
    video = {p.pin_id for p in refs if p.is_video}
    standard = {p.pin_id for p in refs if not p.is_video}
    assert video and len(standard) > 100  # several standard batches and a video one
    summary, raw = extract(server, tmp_path, refs)

    batches = math.ceil(len(standard) / 100) + math.ceil(len(video) / 100)
    assert pin_calls(server) == {"multi_pins/analytics": batches, "pins/analytics": 0}
    asked = [record.params for record in raw.records("multi_pins/analytics", WINDOW)]
    assert len(asked) == batches
    assert sorted(pin for params in asked for pin in requested_ids(params)) == sorted(standard | video)
    for params in asked:
        ids = set(requested_ids(params))
        assert len(ids) <= 100
        if ids <= video:
            assert requested_metrics(params) == api_enums.PIN_VIDEO_METRIC_TYPES
        else:
            assert ids <= standard
            assert requested_metrics(params) == api_enums.PIN_STANDARD_METRIC_TYPES
    assert summary.bulk_available and summary.pins_missing_from_bulk == 0 and summary.skipped_pins == []


def test_the_plan_counts_one_bulk_call_per_batch_of_one_pin_type():
    refs = [PinRef(str(10**17 + i), is_video=i < 30) for i in range(250)]  # 30 video, 220 standard
    plan = plan_organic(WINDOW, TODAY, refs, ("APP_TYPE",))
    assert [len(batch) for batch in plan.pin_batches] == [100, 100, 20, 30]
    assert all(len({pin.is_video for pin in batch}) == 1 for batch in plan.pin_batches)
    assert plan.analytics_calls == 1 * (1 + 1) + 4


def test_pins_missing_from_a_bulk_answer_are_asked_alone_once(make_sandbox, tmp_path):
    server = make_sandbox(pins=120, missing_bulk_pins=3)
    refs = pin_refs(server)
    summary, raw = extract(server, tmp_path, refs)

    batches = len(plan_organic(WINDOW, TODAY, refs, ()).pin_batches)
    assert pin_calls(server) == {"multi_pins/analytics": batches, "pins/analytics": 3}
    alone = sorted(record.path_params["pin_id"] for record in raw.records("pins/analytics", WINDOW))
    assert alone == sorted(server.state.world.pin_ids[-3:])
    assert summary.pins_missing_from_bulk == 3 and summary.skipped_pins == []
    assert summary.bulk_available


def test_a_pin_missing_from_a_bulk_answer_and_refused_alone_is_reported(make_sandbox, tmp_path):
    server = make_sandbox(pins=120, missing_bulk_pins=3, private_pins=1)
    summary, raw = extract(server, tmp_path, pin_refs(server))

    private = server.state.world.pin_ids[-1]
    assert pin_calls(server)["pins/analytics"] == 3  # each missing pin asked alone once, never again
    assert len(list(raw.records("pins/analytics", WINDOW))) == 2
    assert summary.pins_missing_from_bulk == 3
    assert [(s.pin_id, s.window) for s in summary.skipped_pins] == [(private, WINDOW)]
    assert summary.pins_without_analytics() == {private: f"{WINDOW}: HTTP 403, Pinterest code 403: "
                                                          "Not authorized to access board or Pin."}


@pytest.mark.parametrize("refusal", ["403", "401-7", "404-50", "400-1"])
def test_each_documented_refusal_falls_back_to_one_call_per_pin_once_two_one_pin_bulk_calls_are_refused_too(
        make_sandbox, tmp_path, refusal):
    server = make_sandbox(pins=20, bulk_pin_analytics=False, bulk_pin_refusal=refusal)
    summary, raw = extract(server, tmp_path, pin_refs(server))

    # The refused batch, then a bulk call for each of its first two pins, which answer alone.
    assert pin_calls(server) == {"multi_pins/analytics": 3, "pins/analytics": 20}
    assert not summary.bulk_available and summary.skipped_pins == []
    assert len(list(raw.records("pins/analytics", WINDOW))) == 20


def test_a_first_bulk_refusal_explained_by_a_private_pin_keeps_the_bulk_endpoint(make_sandbox, tmp_path):
    """401 code 7 on the run's first bulk call: its first pin is refused alone too, the second answers alone and
    in a bulk call of its own, so the refusal was about pins of the batch: its other 98 pins go in one bulk call."""
    server = make_sandbox(pins=250, private_pins=1)
    private = server.state.world.pin_ids[-1]
    refs = pin_refs(server)
    standard = [p for p in refs if not p.is_video]
    assert private == standard[-1].pin_id
    first_batch = [standard[-1], *standard[:99]]  # the private pin in the first bulk call of the run
    summary, _ = extract(server, tmp_path, [*first_batch, *standard[99:-1]])

    assert pin_calls(server) == {"multi_pins/analytics": 3 + math.ceil((len(standard) - 100) / 100),
                                 "pins/analytics": 2}
    assert summary.bulk_available
    assert [s.pin_id for s in summary.skipped_pins] == [private]


def test_a_later_bulk_refusal_bisects_that_batch_and_skips_the_refused_pin(make_sandbox, tmp_path):
    server = make_sandbox(pins=250, private_pins=1)
    private = server.state.world.pin_ids[-1]
    standard = [p for p in pin_refs(server) if not p.is_video]
    assert private == standard[-1].pin_id and len(standard) >= 200
    refs = [*standard[:199], standard[-1], *standard[199:-1]]  # the private pin last of the second batch
    batches = plan_organic(WINDOW, TODAY, refs, ()).pin_batches
    summary, raw = extract(server, tmp_path, refs)

    # The refused batch of 100 is halved 7 times, both halves asked each time (the half without the private pin
    # answers), down to the private pin, asked alone.
    assert pin_calls(server) == {"multi_pins/analytics": len(batches) + 2 * 7, "pins/analytics": 1}
    assert summary.bulk_available
    assert [s.pin_id for s in summary.skipped_pins] == [private]
    asked = sorted(pin for record in raw.records("multi_pins/analytics", WINDOW)
                   for pin in requested_ids(record.params))
    assert asked == sorted(p.pin_id for p in refs if p.pin_id != private)  # every other pin answered once


def test_a_refused_single_pin_is_skipped_and_the_run_goes_on(make_sandbox, tmp_path):
    server = make_sandbox(pins=40, bulk_pin_analytics=False, private_pins=2)
    summary, raw = extract(server, tmp_path, pin_refs(server))

    private = server.state.world.pin_ids[-2:]
    assert pin_calls(server) == {"multi_pins/analytics": 3, "pins/analytics": 40}
    assert sorted(summary.pins_without_analytics()) == sorted(private)
    assert all("HTTP 403" in reason for reason in summary.pins_without_analytics().values())
    assert len(list(raw.records("pins/analytics", WINDOW))) == 38


@pytest.mark.slow
def test_pins_left_without_analytics_are_in_the_run_metadata_and_log(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(pins=120, missing_bulk_pins=3, private_pins=1)
    home, dagster_home = tmp_path / "etl", tmp_path / "dagster"
    dagster_home.mkdir()
    pipeline_env(monkeypatch, home, server, TODAY, DAGSTER_HOME=str(dagster_home))
    assert run(WINDOW.start, WINDOW.end) == 0

    private = server.state.world.pin_ids[-1]
    metadata = latest_run_metadata(dagster_home)["organic_raw"]
    assert metadata["pins_without_analytics"] == 1
    assert metadata["pins_missing_from_bulk_answers"] == 3
    assert metadata["pins_without_analytics_first"] == [
        {"account": "default", "pin_id": private,
         "reason": f"{WINDOW}: HTTP 403, Pinterest code 403: Not authorized to access board or Pin."}]
    assert (f"account 'default': 1 pin(s) have no analytics for (part of) the range: the API refused them when asked "
            f"alone (private, deleted or not this account's) or answered without any day; first: {private} ({WINDOW}: "
            "HTTP 403") in capsys.readouterr().err


UNREADABLE_BLOCKS = {"empty object": lambda block: {}, "null": lambda block: None,
                     "upper-case ALL": lambda block: {"ALL": block["all"]},
                     "no daily_metrics": lambda block: {"all": {}}}


@pytest.mark.parametrize("change", UNREADABLE_BLOCKS.values(), ids=UNREADABLE_BLOCKS.keys())
def test_a_pin_answered_with_an_unreadable_block_is_asked_alone_once(make_sandbox, tmp_path, change):
    server = make_sandbox(pins=20)
    refs = pin_refs(server)
    victim = refs[0].pin_id
    summary, _, calls = extract_through_proxy(server, tmp_path, refs, rewrite_pin(victim, change))

    assert calls == {"multi_pins/analytics": len(plan_organic(WINDOW, TODAY, refs, ()).pin_batches), "pins/analytics": 1}
    assert summary.pins_missing_from_bulk == 1 and summary.skipped_pins == []


def test_an_unreadable_pin_block_is_skipped_by_normalization_and_the_pins_answer_alone_is_used(make_sandbox, tmp_path):
    server = make_sandbox(pins=20)
    refs = pin_refs(server)
    victim = refs[0].pin_id
    _, raw, _ = extract_through_proxy(server, tmp_path, refs, rewrite_pin(victim, lambda block: {}))
    normalized, days = lake_days_per_pin(tmp_path, raw)

    assert days == {p.pin_id: WINDOW.days for p in refs}
    [skipped] = normalized.unreadable
    assert skipped.endpoint == "multi_pins/analytics"
    assert skipped.parts == {f"pin {victim}": "its answer has no 'all' object (keys: [])"}
    assert skipped.raw_file in {str(r.path) for r in raw.records("multi_pins/analytics", WINDOW)}


def test_a_bulk_answer_that_is_not_an_object_has_its_pins_asked_alone_and_is_skipped_by_normalization(
        make_sandbox, tmp_path):
    server = make_sandbox(pins=20)
    refs = pin_refs(server)
    standard = [p for p in refs if not p.is_video]

    def as_list(path, body):
        return [{"pin_id": pin, **block} for pin, block in body.items()] if is_bulk(path) \
            and standard[0].pin_id in body else None

    summary, raw, calls = extract_through_proxy(server, tmp_path, refs, as_list)
    normalized, days = lake_days_per_pin(tmp_path, raw)

    assert calls["pins/analytics"] == len(standard) and summary.pins_missing_from_bulk == len(standard)
    assert days == {p.pin_id: WINDOW.days for p in refs}
    assert [u.parts for u in normalized.unreadable] == [{"the answer": "a list, not an object keyed by pin id"}]


def changed_first_day(change):
    """A change of a pin's block: its first day changed by change(day) (in place)."""
    def change_block(block):
        days = [dict(day) for day in block["all"]["daily_metrics"]]
        change(days[0])
        return {"all": {**block["all"], "daily_metrics": days}}
    return change_block


MALFORMED_DAYS = {
    "date with a time": (changed_first_day(lambda day: day.update(date=f"{day['date']}T00:00:00Z")),
                         "has a day dated {first}T00:00:00Z, not YYYY-MM-DD"),
    "null date": (changed_first_day(lambda day: day.update(date=None)), "has a day dated null, not YYYY-MM-DD"),
    "impossible date": (changed_first_day(lambda day: day.update(date="2026-02-30")),
                        "has a day dated 2026-02-30, not YYYY-MM-DD"),
    "no data_status": (changed_first_day(lambda day: day.pop("data_status")), "has no data_status string for {first}"),
    "metrics a list": (changed_first_day(lambda day: day.update(metrics=[])),
                       "has 'metrics' of {first} that are a list, not an object"),
}


@pytest.mark.parametrize("change, problem", MALFORMED_DAYS.values(), ids=MALFORMED_DAYS.keys())
def test_a_pin_block_with_one_malformed_day_is_asked_alone_and_skipped_by_normalization(make_sandbox, tmp_path,
                                                                                         change, problem):
    server = make_sandbox(pins=20)
    refs = pin_refs(server)
    victim = refs[0].pin_id
    summary, raw, calls = extract_through_proxy(server, tmp_path, refs, rewrite_pin(victim, change))
    normalized, days = lake_days_per_pin(tmp_path, raw)

    assert calls["pins/analytics"] == 1 and summary.pins_missing_from_bulk == 1 and summary.skipped_pins == []
    assert days == {p.pin_id: WINDOW.days for p in refs}  # the pin's answer alone is used
    [skipped] = normalized.unreadable
    assert skipped.parts == {f"pin {victim}": problem.format(first=WINDOW.start)}


@pytest.mark.parametrize("date", [None, "2026-11-25T00:00:00Z"], ids=["null", "with a time"])
def test_a_user_account_answer_with_a_malformed_date_fails_normalization_naming_its_raw_file(make_sandbox, tmp_path,
                                                                                            date):
    server = make_sandbox(pins=0)

    def malformed(path, body):
        if urllib.parse.urlsplit(path).path != "/v5/user_account/analytics":
            return None
        block = body["all"]
        return {"all": {**block, "daily_metrics": [{**block["daily_metrics"][0], "date": date},
                                                   *block["daily_metrics"][1:]]}}

    _, raw, _ = extract_through_proxy(server, tmp_path, [], malformed)
    [answer] = raw.records("user_account/analytics", WINDOW)
    with pytest.raises(AnswerValueError) as refused:
        normalize_range([raw], Lake(tmp_path / "lake"), WINDOW, ORGANIC, TODAY)
    assert str(refused.value).startswith("user_account/analytics: a daily_metrics date is ")
    assert f"(raw file {answer.path})" in str(refused.value) and "move the raw file aside" in str(refused.value)


def test_days_outside_an_answers_window_are_reported_and_never_replace_those_days(make_sandbox, tmp_path):
    """A bulk answer for -5..-4 also carrying day -6 of a pin: the extraction reports it (no call more); a later
    normalization over -8..-4 keeps day -6 as its own answer (-8..-6) said, and reports the dropped row."""
    server = make_sandbox(pins=20)
    refs = pin_refs(server)
    victim = refs[0].pin_id
    earlier, later = (DateRange(TODAY - dt.timedelta(days=8), TODAY - dt.timedelta(days=6)),
                      DateRange(TODAY - dt.timedelta(days=5), TODAY - dt.timedelta(days=4)))
    stray = {"date": earlier.end.isoformat(), "data_status": "READY", "metrics": {"IMPRESSION": 999999}}
    extract_through_proxy(server, tmp_path, refs, window=earlier)
    summary, raw, calls = extract_through_proxy(server, tmp_path, refs, rewrite_pin(
        victim, lambda block: {"all": {**block["all"], "daily_metrics": [stray, *block["all"]["daily_metrics"]]}}),
        window=later)

    assert calls == {"multi_pins/analytics": len(plan_organic(later, TODAY, refs, ()).pin_batches), "pins/analytics": 0}
    assert first_note_per_pin(summary.outside_window_answers) == {
        victim: f"{later}: answered 1 day(s) outside the window (first: {earlier.end}); normalization drops them"}
    lake = Lake(tmp_path / "lake")
    normalized = normalize_range([raw], lake, DateRange(earlier.start, later.end), ORGANIC, TODAY)
    [path] = lake.files("pin_daily", [earlier.end], "organic")
    [impression] = pq.read_table(path).filter(pc.field("pin_id") == victim).column("impression").to_pylist()
    assert impression is not None and impression != 999999
    [dropped] = normalized.outside_window
    assert (dropped.endpoint, dropped.window, dropped.dates, dropped.rows) == (
        "multi_pins/analytics", later, (earlier.end,), 1)


def test_a_pin_answered_with_no_day_is_asked_alone_once(make_sandbox, tmp_path):
    server = make_sandbox(pins=20)
    refs = pin_refs(server)
    victim = refs[0].pin_id
    no_days = rewrite_pin(victim, lambda block: {"all": {**block["all"], "daily_metrics": []}})
    summary, raw, calls = extract_through_proxy(server, tmp_path, refs, no_days)

    assert calls["pins/analytics"] == 1 and summary.pins_missing_from_bulk == 1
    assert summary.short_answers == [] and summary.skipped_pins == []
    assert [r.path_params["pin_id"] for r in raw.records("pins/analytics", WINDOW)] == [victim]


def test_a_pin_answered_without_some_days_is_reported_and_not_asked_again(make_sandbox, tmp_path):
    server = make_sandbox(pins=20)
    refs = pin_refs(server)
    victim = refs[0].pin_id
    one_day = rewrite_pin(victim, lambda block: {"all": {**block["all"], "daily_metrics": block["all"]["daily_metrics"][:1]}})
    summary, _, calls = extract_through_proxy(server, tmp_path, refs, one_day)

    assert calls["pins/analytics"] == 0
    assert [(n.pin_id, n.window, n.what) for n in summary.short_answers] == [
        (victim, WINDOW, f"answered 1 of the {WINDOW.days} days")]


def test_days_before_a_pin_was_created_are_answered_so_no_pin_is_reported_short(make_sandbox, tmp_path):
    server = make_sandbox(pins=250)
    summary, raw = extract(server, tmp_path, pin_refs(server))

    statuses = {day["data_status"] for record in raw.records("multi_pins/analytics", WINDOW)
                for block in record.json().values() for day in block["all"]["daily_metrics"]}
    assert "BEFORE_PIN_CREATED" in statuses  # pins created inside the window
    assert summary.short_answers == [] and summary.retyped_pins == []


def test_a_pin_listed_twice_is_planned_once_as_a_video_pin():
    standard, video = PinRef("100", is_video=False), PinRef("200", is_video=True)
    plan = plan_organic(WINDOW, TODAY, [standard, video, PinRef("100", is_video=True), video], ())

    assert plan.pin_batches == ((PinRef("100", is_video=True), video),)
    assert plan.analytics_calls == 1 + 1


def test_a_standard_pin_listed_as_video_is_asked_again_alone_with_the_standard_set(make_sandbox, tmp_path):
    server = make_sandbox(pins=20)
    refs = pin_refs(server)
    victim = next(p for p in refs if not p.is_video)
    listed = [PinRef(p.pin_id, True) if p == victim else p for p in refs]
    summary, raw, calls = extract_through_proxy(server, tmp_path, listed)

    assert calls == {"multi_pins/analytics": len(plan_organic(WINDOW, TODAY, listed, ()).pin_batches),
                     "pins/analytics": 1}
    [alone] = raw.records("pins/analytics", WINDOW)
    assert alone.path_params["pin_id"] == victim.pin_id
    assert requested_metrics(alone.params) == api_enums.PIN_STANDARD_METRIC_TYPES
    assert [(n.pin_id, n.what) for n in summary.retyped_pins] == [
        (victim.pin_id, "asked as a video pin, answered with standard pin metrics")]


def with_metrics(added: dict, removed: tuple[str, ...] = ()):
    """A change of a pin's block: every day's metrics with `added`, without `removed`."""
    def change(block):
        days = [{**day, "metrics": {**{k: v for k, v in (day.get("metrics") or {}).items() if k not in removed},
                                    **added}} for day in block["all"]["daily_metrics"]]
        return {"all": {**block["all"], "daily_metrics": days}}
    return change


def test_an_answer_with_the_other_types_metrics_and_none_of_its_own_is_asked_again_with_that_types_set(
        make_sandbox, tmp_path):
    server = make_sandbox(pins=20)
    refs = pin_refs(server)
    victim = next(p for p in refs if not p.is_video)
    as_video = with_metrics({"VIDEO_START": 7}, removed=("PROFILE_VISIT", "USER_FOLLOW"))
    summary, raw, calls = extract_through_proxy(server, tmp_path, refs, rewrite_pin(victim.pin_id, as_video))

    assert calls["pins/analytics"] == 1
    [alone] = raw.records("pins/analytics", WINDOW)
    assert requested_metrics(alone.params) == api_enums.PIN_VIDEO_METRIC_TYPES
    assert first_note_per_pin(summary.retyped_pins) == {
        victim.pin_id: f"{WINDOW}: asked as a standard pin, answered with video pin metrics"}


def test_an_api_answering_more_metrics_than_asked_has_no_pin_asked_again(make_sandbox, tmp_path):
    """Every pin answered with VIDEO_START and PROFILE_VISIT: each has its own type's metrics, so none is taken for
    the other type (the extra metrics are stored: normalization keeps every metric an answer has)."""
    server = make_sandbox(pins=60)
    refs = pin_refs(server)
    extra = with_metrics({"VIDEO_START": 0, "PROFILE_VISIT": 0})

    def everything(path, body):
        return {pin: extra(block) for pin, block in body.items()} if is_bulk(path) else None

    summary, _, calls = extract_through_proxy(server, tmp_path, refs, everything)

    assert calls == {"multi_pins/analytics": len(plan_organic(WINDOW, TODAY, refs, ()).pin_batches), "pins/analytics": 0}
    assert summary.retyped_pins == []


def test_a_persistent_last_90_days_refusal_of_bulk_calls_fails_the_extraction_with_its_own_message(
        make_sandbox, tmp_path):
    server = make_sandbox(pins=20)

    def window_refusal(path):
        return (400, {"code": 1, "message": "You can only get data from the last 90 days."}) if is_bulk(path) else None

    with pytest.raises(InvalidRequestError) as refused:
        extract_through_proxy(server, tmp_path, pin_refs(server), refuse=window_refusal)
    assert f"answered 4 times for start_date {WINDOW.start}" in str(refused.value)
    assert "not available" not in str(refused.value)


BULK_REFUSALS_OF_ONE_PIN = {"403": (403, 403, "Not authorized to access board or Pin."),
                            "400-1": (400, 1, "Invalid multi_pins analytics parameters."),
                            "401-7": (401, 7, "Not authorized to access board or Pin.")}


@pytest.mark.parametrize("refusal", BULK_REFUSALS_OF_ONE_PIN.values(), ids=BULK_REFUSALS_OF_ONE_PIN.keys())
def test_a_first_bulk_refusal_caused_by_one_pin_that_answers_alone_keeps_the_bulk_endpoint(make_sandbox, tmp_path,
                                                                                             refusal):
    server = make_sandbox(pins=20)
    refs = pin_refs(server)
    victim = next(p for p in refs if not p.is_video).pin_id  # first of the run's first batch
    summary, raw, calls = extract_through_proxy(server, tmp_path, refs, refuse=refuse_bulk_with(victim, *refusal))

    # The batch (refused), the victim alone (answered) and in a bulk call of its own (refused), the next pin alone
    # and in a bulk call of its own (answered), the batch's 98 other pins, the video batch.
    assert calls == {"multi_pins/analytics": 5, "pins/analytics": 2}
    assert summary.bulk_available and summary.skipped_pins == []
    _, days = lake_days_per_pin(tmp_path, raw)
    assert days == {p.pin_id: WINDOW.days for p in refs}


def test_a_refused_pin_in_every_batch_costs_a_bisection_not_a_call_per_pin(make_sandbox, tmp_path):
    server = make_sandbox(pins=300)
    standard = [p for p in pin_refs(server) if not p.is_video][:200]
    refused = {standard[99].pin_id, standard[199].pin_id}  # the last pin of each batch

    def refuse(path):
        if is_bulk(path) and refused & set(bulk_ids(path)):
            return 401, {"code": 7, "message": "Not authorized to access board or Pin."}
        if not is_bulk(path) and urllib.parse.urlsplit(path).path.split("/")[-2] in refused:
            return 403, {"code": 403, "message": "Not authorized to access board or Pin."}
        return None

    summary, _, calls = extract_through_proxy(server, tmp_path, standard, refuse=refuse)

    # First batch: refused, its first pin alone and in a bulk call of its own, its 99 other pins (refused) halved 7
    # times (both halves asked), the refused pin alone. Second batch: refused, halved 7 times, the refused pin alone.
    assert calls == {"multi_pins/analytics": (3 + 2 * 7) + (1 + 2 * 7), "pins/analytics": 2 + 1}
    assert summary.bulk_available
    assert sorted(summary.pins_without_analytics()) == sorted(refused)


def refuse_every_pin_call_after_the_first_bulk_answer():
    """Access revoked during the run: the first bulk call answers, every pin analytics call after it is refused."""
    answered = []

    def refuse(path):
        if not urllib.parse.urlsplit(path).path.endswith("/analytics") or "/pins" not in path:
            return None
        if not answered and is_bulk(path):
            answered.append(path)
            return None
        return 403, {"code": 403, "message": "Not authorized to access board or Pin."}
    return refuse


def test_pins_refused_one_after_the_other_stop_the_run_once_a_pin_it_had_answered_is_refused_too(make_sandbox,
                                                                                                 tmp_path):
    server = make_sandbox(pins=300)
    standard = [p for p in pin_refs(server) if not p.is_video][:200]

    with pytest.raises(PinAnalyticsAccessLostError) as stopped:
        extract_through_proxy(server, tmp_path, standard, refuse=refuse_every_pin_call_after_the_first_bulk_answer())

    message = str(stopped.value)
    assert "one after the other" in message and f"pin {standard[0].pin_id}, answered earlier in this run" in message
    assert "pinterest-etl probe" in message and str(tmp_path / "raw") in message and "\n" not in message


def test_access_lost_during_the_run_costs_a_bounded_number_of_calls(make_sandbox, tmp_path):
    """The second batch: refused whole, each level of its bisection (100 -> 50 -> ... -> 3 -> 1, 2) asked both
    halves, the 2-pin half's two pins in bulk calls of their own; its first three leaves refused alone, then the pin
    the first batch answered, refused too: 16 bulk and 4 single calls instead of about 3 a pin."""
    server = make_sandbox(pins=300)
    standard = [p for p in pin_refs(server) if not p.is_video][:200]
    with MutatingProxy(server.root_url, lambda path, body: None,
                       refuse=refuse_every_pin_call_after_the_first_bulk_answer()) as proxy, \
            make_client(server, base_url=proxy.base_url) as client, pytest.raises(PinAnalyticsAccessLostError):
        extract_organic(client, RawZone(tmp_path / "raw"), plan_organic(WINDOW, TODAY, standard, ()),
                        server.state.world.user_id)
    paths = [urllib.parse.urlsplit(path).path for path in proxy.requests if path.startswith("/v5/pins")]
    assert (sum(path == "/v5/pins/analytics" for path in paths), len(paths)) == (16, 16 + 4)


def test_bulk_access_revoked_during_the_run_stops_the_bisection_and_asks_each_other_pin_alone(make_sandbox, tmp_path):
    """The first bulk call answers, every later one is refused, pins answer alone: the second batch's bisection
    (16 bulk calls, as above) reaches two pins served alone and none of its bulk calls answered, so the bulk
    endpoint is taken to be unavailable: each of its 100 pins is asked alone once."""
    server = make_sandbox(pins=300)
    standard = [p for p in pin_refs(server) if not p.is_video][:200]
    first = []

    def refuse_bulk_after_the_first(path):
        if not is_bulk(path) or not first:
            first.extend([path] if is_bulk(path) else [])
            return None
        return 403, {"code": 403, "message": "Not authorized to access this endpoint."}

    summary, _, calls = extract_through_proxy(server, tmp_path, standard, refuse=refuse_bulk_after_the_first)

    assert calls == {"multi_pins/analytics": 16, "pins/analytics": 100}
    assert not summary.bulk_available and summary.skipped_pins == []


def refuse_every_pin_analytics_call(path):
    """Access lost: every pin analytics call (bulk or single) is refused."""
    pin_analytics = "/pins" in path and urllib.parse.urlsplit(path).path.endswith("/analytics")
    return (403, {"code": 403, "message": "Not authorized to access board or Pin."}) if pin_analytics else None


def test_no_pin_answered_and_pins_refused_alone_stop_the_run_after_three(make_sandbox, tmp_path):
    server = make_sandbox(pins=20)
    with pytest.raises(PinAnalyticsAccessLostError, match="no pin analytics call has answered in this run"):
        extract_through_proxy(server, tmp_path, pin_refs(server), refuse=refuse_every_pin_analytics_call)


def test_answers_a_resumed_run_replays_prove_no_access_so_lost_access_stops_it_after_three_refused_pins(
        make_sandbox, tmp_path):
    """Replayed answers set the pin asked again to check access, and that check was answered from the raw zone
    too: a resumed run whose access was revoked asked every pin it had not stored (and ended as a success)."""
    server = make_sandbox(pins=20, bulk_pin_analytics=False)
    refs = pin_refs(server)
    raw = RawZone(tmp_path / "raw")
    stop = QuotaStop("organic_raw", "default", WINDOW, dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1), "q")
    with make_client(server) as client:  # the stopped run: the first 12 pins answered, alone
        extract_organic(client, raw, plan_organic(WINDOW, TODAY, refs[:12], ()), server.state.world.user_id)
    with MutatingProxy(server.root_url, lambda path, body: None, refuse=refuse_every_pin_analytics_call) as proxy, \
            make_client(server, base_url=proxy.base_url) as resumed, \
            pytest.raises(PinAnalyticsAccessLostError, match="no pin analytics call has answered in this run"):
        resumed.use_replay(replay_index(raw, [stop], WINDOW, dt.datetime.now(dt.timezone.utc)))
        extract_organic(resumed, raw, plan_organic(WINDOW, TODAY, refs, ()), server.state.world.user_id)
    paths = [urllib.parse.urlsplit(path).path for path in proxy.requests if path.startswith("/v5/pins")]
    # Standard pins go first: those stored are replayed, the batch and two one-pin bulk calls are refused, then
    # three pins refused alone stop the run (not every pin left asked, each refused).
    assert resumed.stats.snapshot()["replayed_by_endpoint"]["pins/analytics"] == sum(not p.is_video for p in refs[:12])
    assert (sum(path == "/v5/pins/analytics" for path in paths), len(paths)) == (3, 3 + 3)


def test_a_limit_on_pins_per_bulk_call_is_learned_once_and_blames_no_pin(make_sandbox, tmp_path):
    server = make_sandbox(pins=400)
    standard = [p for p in pin_refs(server) if not p.is_video][:300]

    def refuse_over_50(path):
        return (400, {"code": 1, "message": "Invalid parameters."}) if is_bulk(path) and len(bulk_ids(path)) > 50 else None

    summary, raw, calls = extract_through_proxy(server, tmp_path, standard, refuse=refuse_over_50)

    # The first batch (refused), its first pin alone and in a bulk call of its own, its other 99 (refused), their
    # halves of 49 and 50 (answered): at most 50 a call from then on, two calls for each of the other two batches.
    assert calls == {"multi_pins/analytics": 1 + 1 + 1 + 2 + 2 * 2, "pins/analytics": 1}
    assert summary.bulk_available and summary.skipped_pins == []
    assert max(len(requested_ids(r.params)) for r in raw.records("multi_pins/analytics", WINDOW)) == 50


def test_the_pins_listing_gives_each_pin_once_and_a_pin_listed_with_both_types_as_video():
    listed = pa.Table.from_pylist([{"pin_id": "1", "is_video": False}, {"pin_id": "2", "is_video": False},
                                   {"pin_id": "1", "is_video": True}], schema=PINS)
    dimensions = OrganicDimensions(USER_ACCOUNTS.empty_table(), BOARDS.empty_table(), listed)

    assert dimensions.pin_refs() == [PinRef("1", is_video=True), PinRef("2", is_video=False)]
