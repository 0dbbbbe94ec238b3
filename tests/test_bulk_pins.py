"""Bulk pin analytics: one pin type per call, answers checked for every requested pin, the documented refusals
of the beta endpoint told apart from a refused pin, and refused pins skipped and reported."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from pipelines import api_enums
from pipelines.organic.extract import ExtractSummary, PinRef, extract_organic, plan_organic
from pipelines.planning import DateRange
from pipelines.raw_zone import RawZone
from tests.client_support import make_client, server_stats
from tests.conftest import TODAY
from tests.fault_support import latest_run_metadata
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
def test_each_documented_refusal_of_the_first_bulk_call_falls_back_to_one_call_per_pin(make_sandbox, tmp_path, refusal):
    server = make_sandbox(pins=20, bulk_pin_analytics=False, bulk_pin_refusal=refusal)
    summary, raw = extract(server, tmp_path, pin_refs(server))

    assert pin_calls(server) == {"multi_pins/analytics": 1, "pins/analytics": 20}  # the one bulk call that found out
    assert not summary.bulk_available and summary.skipped_pins == []
    assert len(list(raw.records("pins/analytics", WINDOW))) == 20


def test_a_first_bulk_refusal_explained_by_a_private_pin_keeps_the_bulk_endpoint(make_sandbox, tmp_path):
    """401 code 7 on the run's first bulk call: its pins are asked alone, one is refused alone too, so the
    refusal was about that pin; the next batch goes by the bulk endpoint again."""
    server = make_sandbox(pins=250, private_pins=1)
    private = server.state.world.pin_ids[-1]
    refs = pin_refs(server)
    standard = [p for p in refs if not p.is_video]
    assert private == standard[-1].pin_id
    first_batch = [standard[-1], *standard[:99]]  # the private pin in the first bulk call of the run
    summary, _ = extract(server, tmp_path, [*first_batch, *standard[99:-1]])

    assert pin_calls(server) == {"multi_pins/analytics": 1 + math.ceil((len(standard) - 100) / 100),
                                 "pins/analytics": 100}
    assert summary.bulk_available
    assert [s.pin_id for s in summary.skipped_pins] == [private]


def test_a_later_bulk_refusal_asks_that_batch_pin_by_pin_and_skips_the_refused_pin(make_sandbox, tmp_path):
    server = make_sandbox(pins=250, private_pins=1)
    private = server.state.world.pin_ids[-1]
    refs = pin_refs(server)
    batches = plan_organic(WINDOW, TODAY, refs, ()).pin_batches
    refused = next(batch for batch in batches if private in {p.pin_id for p in batch})
    assert refused is not batches[0]
    summary, raw = extract(server, tmp_path, refs)

    assert pin_calls(server) == {"multi_pins/analytics": len(batches), "pins/analytics": len(refused)}
    assert summary.bulk_available
    assert [s.pin_id for s in summary.skipped_pins] == [private]
    assert len(list(raw.records("pins/analytics", WINDOW))) == len(refused) - 1


def test_a_refused_single_pin_is_skipped_and_the_run_goes_on(make_sandbox, tmp_path):
    server = make_sandbox(pins=40, bulk_pin_analytics=False, private_pins=2)
    summary, raw = extract(server, tmp_path, pin_refs(server))

    private = server.state.world.pin_ids[-2:]
    assert pin_calls(server) == {"multi_pins/analytics": 1, "pins/analytics": 40}
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
            f"alone (private, deleted or not this account's); first: {private} ({WINDOW}: HTTP 403") in capsys.readouterr().err
