"""Resuming after a daily quota: the next run of a stopped account re-uses the answers of identical requests the
stopped run(s) stored instead of calling again (never counted as calls, never stored twice), for 48 hours at most,
and only while the stop is recorded; a range needing more calls than a day's quota finishes over several days.
Real HTTP against the simulator (--daily-quota; POST /_sandbox/reset starts the next UTC day)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse

import pytest
import requests

from pipelines.planning import DateRange
from pipelines.raw_zone import RawZone
from pipelines.resume import MAX_REPLAY_AGE, QuotaStop, Resumption, record_stops, replay_index, stop_path
from tests.client_support import make_client, quota_reset_hours_away, server_stats
from tests.conftest import TODAY
from tests.hostile_server_support import HostileServer
from tests.pipeline_support import pipeline_env, run

START, END = TODAY - dt.timedelta(days=29), TODAY - dt.timedelta(days=1)
RANGE = DateRange(START, END)
WINDOW = {"start_date": START, "end_date": END, "metric_types": ["IMPRESSION", "SAVE"], "split_field": "NO_SPLIT"}
ORGANIC, PAID = {**WINDOW, "content_type": "ORGANIC"}, {**WINDOW, "content_type": "PAID"}


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def store_answer(client, raw: RawZone, params: dict) -> bytes:
    """One call, stored as the extraction stores it."""
    response = client.fetch("user_account/analytics", params=params)
    raw.write("user_account/analytics", response.content, params=params, window=RANGE, fetched_at=now(),
              request_id=response.request_id)
    return response.content


def stopped_before(minutes: int = 1) -> QuotaStop:
    return QuotaStop("organic_raw", "default", RANGE, now() - dt.timedelta(minutes=minutes), "Run again after midnight")


def test_a_request_identical_to_one_the_stopped_run_stored_is_answered_from_the_raw_zone_without_a_call(
        sandbox, tmp_path):
    raw = RawZone(tmp_path / "raw")
    with make_client(sandbox) as client:
        stored = store_answer(client, raw, ORGANIC)
    with make_client(sandbox) as resumed:
        resumed.use_replay(replay_index(raw, [stopped_before()], RANGE, now()))
        response = resumed.fetch("user_account/analytics", params=dict(reversed(ORGANIC.items())))  # same request
    assert response.replayed and response.content == stored
    snapshot = resumed.stats.snapshot()
    assert (snapshot["calls"], snapshot["replayed"]) == (0, 1)
    assert snapshot["replayed_by_endpoint"] == {"user_account/analytics": 1}


def test_a_request_differing_in_one_parameter_is_called(make_sandbox, tmp_path):
    server = make_sandbox()
    raw = RawZone(tmp_path / "raw")
    with make_client(server) as client:
        store_answer(client, raw, ORGANIC)
    with make_client(server) as resumed:
        resumed.use_replay(replay_index(raw, [stopped_before()], RANGE, now()))
        assert not resumed.fetch("user_account/analytics", params=PAID).replayed
    assert server_stats(server)["requests"] == {"user_account/analytics": 2}


def test_a_call_asked_without_replay_is_sent_even_when_a_stored_answer_matches(make_sandbox, tmp_path):
    """An access check must hear the API now, not a stopped run's answer."""
    server = make_sandbox()
    raw = RawZone(tmp_path / "raw")
    with make_client(server) as client:
        store_answer(client, raw, ORGANIC)
    with make_client(server) as resumed:
        resumed.use_replay(replay_index(raw, [stopped_before()], RANGE, now()))
        assert not resumed.fetch("user_account/analytics", params=ORGANIC, replay=False).replayed
    assert server_stats(server)["requests"] == {"user_account/analytics": 2}


def test_answers_fetched_before_the_stopped_run_started_are_not_re_used(sandbox, tmp_path):
    """An ordinary earlier run's answers are not a stopped run's: only what was fetched since the stop's start counts."""
    raw = RawZone(tmp_path / "raw")
    with make_client(sandbox) as client:
        store_answer(client, raw, ORGANIC)
    later = QuotaStop("organic_raw", "default", RANGE, now() + dt.timedelta(seconds=1), "")
    assert len(replay_index(raw, [later], RANGE, now())) == 0


def test_without_a_recorded_stop_nothing_is_re_used(sandbox, tmp_path):
    raw = RawZone(tmp_path / "raw")
    with make_client(sandbox) as client:
        store_answer(client, raw, ORGANIC)
    assert len(replay_index(raw, [], RANGE, now())) == 0


def test_answers_older_than_48_hours_are_not_re_used(sandbox, tmp_path):
    """A date that was not final when it was fetched may have changed since: such an answer is fetched again."""
    raw = RawZone(tmp_path / "raw")
    with make_client(sandbox) as client:
        store_answer(client, raw, ORGANIC)
    assert len(replay_index(raw, [stopped_before()], RANGE, now() + MAX_REPLAY_AGE - dt.timedelta(minutes=1))) == 1
    assert len(replay_index(raw, [stopped_before()], RANGE, now() + MAX_REPLAY_AGE + dt.timedelta(minutes=1))) == 0


def test_a_stop_of_a_range_that_does_not_overlap_re_uses_nothing(sandbox, tmp_path):
    raw = RawZone(tmp_path / "raw")
    with make_client(sandbox) as client:
        store_answer(client, raw, ORGANIC)
    elsewhere = DateRange(START - dt.timedelta(days=60), START - dt.timedelta(days=31))
    assert len(replay_index(raw, [stopped_before()], elsewhere, now())) == 0


def test_a_second_stop_keeps_the_first_stops_start_so_a_third_run_re_uses_both(tmp_path):
    resume = Resumption(tmp_path, "organic_raw", RANGE, only="organic")
    first = now() - dt.timedelta(hours=20)
    resume.stopped("default", first, "Run again after ...")
    resume.stopped("default", now(), "Run again after ...")
    record = json.loads((tmp_path / "resume" / "organic_raw" / "default.json").read_text())
    assert [dt.datetime.fromisoformat(stop["since"]) for stop in record["stops"]] == [first]
    resume.completed("default")
    assert not (tmp_path / "resume" / "organic_raw" / "default.json").exists()


def test_an_unreadable_record_re_uses_nothing(tmp_path):
    path = record_stops(tmp_path, "organic_raw", "default", [stopped_before()])
    path.write_text("{not json")
    assert len(Resumption(tmp_path, "organic_raw", RANGE, only="organic").index("default", RawZone(tmp_path / "raw"))) == 0


@pytest.mark.slow
def test_a_range_needing_twice_the_daily_quota_finishes_on_the_second_day_and_the_next_run_fetches_fresh(
        make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(pins=60, daily_quotas={"org_analytics": 1000})
    home = tmp_path / "etl"
    pipeline_env(monkeypatch, home, server, TODAY)
    assert run(START, END) == 0  # an unlimited day: how many org_analytics calls the range needs
    needed = server_stats(server)["requests"]
    analytics = {k: v for k, v in needed.items() if k in ("user_account/analytics", "multi_pins/analytics", "pins/analytics")}
    total = sum(analytics.values())
    assert total >= 8

    quota = total // 2 + 1  # two days' quota cover the range, one does not
    stopped = make_sandbox(pins=60, daily_quotas={"org_analytics": quota})
    quota_reset_hours_away(stopped)
    home = tmp_path / "stopped"
    pipeline_env(monkeypatch, home, stopped, TODAY)
    capsys.readouterr()
    assert run(START, END) == 1
    stop = next(line for line in capsys.readouterr().err.splitlines() if "DailyQuotaError" in line)
    assert "re-used by a resumed run for 48 hours" in stop
    assert stop.endswith(f"resume with: pinterest-etl run --start {START} --end {END} --only organic")
    first_day = server_stats(stopped)
    assert first_day["responses"]["429"] == 1  # the one refusal stopped the extraction
    assert (home / "resume" / "organic_raw" / "default.json").exists()

    requests.post(f"{stopped.root_url}/_sandbox/reset").raise_for_status()  # the next UTC day
    assert run(START, END) == 0
    second_day = server_stats(stopped)["requests"]
    answered_first_day = quota
    assert sum(second_day.get(k, 0) for k in analytics) == total - answered_first_day  # only what was missing
    assert not (home / "resume" / "organic_raw" / "default.json").exists()
    raw_answers = [p for p in (home / "raw").rglob("*.json.gz") if "analytics" in str(p.relative_to(home / "raw"))
                   and "top_pins" not in str(p)]  # the rankings come after, from what is left of the quota
    assert len(raw_answers) == total  # each answer stored once

    requests.post(f"{stopped.root_url}/_sandbox/reset").raise_for_status()
    assert run(START, END) == 1  # an ordinary re-run re-uses nothing: it calls again, and meets the quota again
    assert server_stats(stopped)["responses"] == {**server_stats(stopped)["responses"], "429": 1}
    assert sum(server_stats(stopped)["requests"].get(k, 0) for k in analytics) == quota + 1


def test_a_completed_run_of_a_shorter_range_keeps_the_record_of_the_stopped_backfill(tmp_path):
    """The daily schedule's 33-day run completed each morning and deleted the record: a backfill never finished."""
    Resumption(tmp_path, "organic_raw", RANGE, only="organic").stopped("default", now(), "Run again after ...")
    last_days = DateRange(END - dt.timedelta(days=5), END)
    Resumption(tmp_path, "organic_raw", last_days, only="organic").completed("default")
    assert (tmp_path / "resume" / "organic_raw" / "default.json").exists()
    Resumption(tmp_path, "organic_raw", RANGE, only="organic").completed("default")
    assert not (tmp_path / "resume" / "organic_raw" / "default.json").exists()


def stopped_ranges(home) -> list[tuple[str, str]]:
    record = json.loads(stop_path(home, "organic_raw", "default").read_text())
    return [(stop["start"], stop["end"]) for stop in record["stops"]]


def test_a_shorter_run_that_stopped_too_and_then_completed_keeps_the_stopped_backfills_record(sandbox, tmp_path):
    """The daily schedule's 33-day run met the quota after the 89-day backfill had: its record replaced the
    backfill's, and its completion the next morning removed it (the backfill's resume re-used nothing)."""
    raw = RawZone(tmp_path / "raw")
    with make_client(sandbox) as client:
        store_answer(client, raw, ORGANIC)
    backfill, schedule = DateRange(END - dt.timedelta(days=88), END), DateRange(END - dt.timedelta(days=32), END)
    Resumption(tmp_path, "organic_raw", backfill, only="organic").stopped("default", now() - dt.timedelta(hours=3), "q")
    Resumption(tmp_path, "organic_raw", schedule, only="organic").stopped("default", now(), "q")
    assert stopped_ranges(tmp_path) == [(str(backfill.start), str(END)), (str(schedule.start), str(END))]
    Resumption(tmp_path, "organic_raw", schedule, only="organic").completed("default")
    assert stopped_ranges(tmp_path) == [(str(backfill.start), str(END))]
    assert len(Resumption(tmp_path, "organic_raw", backfill, only="organic").index("default", raw)) == 1


def test_a_stop_of_a_range_apart_keeps_the_first_stop_whose_resume_re_uses_its_answers(sandbox, tmp_path):
    """The second stop's record named only its own range: the first range's resume fetched everything again."""
    raw = RawZone(tmp_path / "raw")
    with make_client(sandbox) as client:
        store_answer(client, raw, ORGANIC)
    elsewhere = DateRange(START - dt.timedelta(days=60), START - dt.timedelta(days=31))
    Resumption(tmp_path, "organic_raw", RANGE, only="organic").stopped("default", now() - dt.timedelta(minutes=1), "q")
    Resumption(tmp_path, "organic_raw", elsewhere, only="organic").stopped("default", now(), "q")
    Resumption(tmp_path, "organic_raw", elsewhere, only="organic").completed("default")
    assert stopped_ranges(tmp_path) == [(str(START), str(END))]
    assert len(Resumption(tmp_path, "organic_raw", RANGE, only="organic").index("default", raw)) == 1


def test_a_record_of_a_single_stop_is_read_as_that_stop(sandbox, tmp_path):
    """Records written before stops were kept per range hold one stop's fields at the top level."""
    raw = RawZone(tmp_path / "raw")
    with make_client(sandbox) as client:
        store_answer(client, raw, ORGANIC)
    path = stop_path(tmp_path, "organic_raw", "default")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"start": str(START), "end": str(END), "reset": "q", "planned_on": str(TODAY),
                                "since": (now() - dt.timedelta(minutes=1)).isoformat(), "settings": ""}))
    resume = Resumption(tmp_path, "organic_raw", RANGE, only="organic")
    assert len(resume.index("default", raw)) == 1
    assert resume.planning_day("default", TODAY + dt.timedelta(days=1)) == TODAY
    resume.completed("default")
    assert not path.exists()


def test_a_completed_run_with_other_settings_keeps_the_record_and_re_uses_nothing(sandbox, tmp_path):
    raw = RawZone(tmp_path / "raw")
    with make_client(sandbox) as client:
        store_answer(client, raw, ORGANIC)
    Resumption(tmp_path, "organic_raw", RANGE, only="organic", settings="content_types=ORGANIC").stopped(
        "default", now() - dt.timedelta(minutes=1), "Run again after ...")
    other = Resumption(tmp_path, "organic_raw", RANGE, only="organic", settings="content_types=ALL")
    assert len(other.index("default", raw)) == 0
    other.completed("default")
    assert (tmp_path / "resume" / "organic_raw" / "default.json").exists()
    same = Resumption(tmp_path, "organic_raw", RANGE, only="organic", settings="content_types=ORGANIC")
    assert len(same.index("default", raw)) == 1


def test_a_resume_the_next_day_plans_as_of_the_stopped_day_and_later_as_of_its_own(tmp_path):
    """Planned as of its own day, the resumed 89-day range started one day later: no request matched a stored one."""
    stopped = Resumption(tmp_path, "organic_raw", RANGE, only="organic")
    assert stopped.planning_day("default", TODAY) == TODAY
    stopped.stopped("default", now(), "Run again after ...")
    tomorrow, later = TODAY + dt.timedelta(days=1), TODAY + dt.timedelta(days=2)
    assert Resumption(tmp_path, "organic_raw", RANGE, only="organic").planning_day("default", tomorrow) == TODAY
    assert Resumption(tmp_path, "organic_raw", RANGE, only="organic").planning_day("default", later) == later
    elsewhere = DateRange(START - dt.timedelta(days=60), START - dt.timedelta(days=31))
    assert Resumption(tmp_path, "organic_raw", elsewhere, only="organic").planning_day("default", tomorrow) == tomorrow


@pytest.mark.slow
def test_a_default_range_stopped_by_the_quota_is_resumed_after_midnight_re_using_every_stored_answer(
        make_sandbox, monkeypatch, tmp_path):
    """The day after the stop, the default range (89 days back) starts one day inside the API's oldest day: the
    resumed run asks the stopped run's windows (the API's oldest day then starts them), so its stored answers
    recur instead of every request changing by one day."""
    start, end = TODAY - dt.timedelta(days=89), TODAY - dt.timedelta(days=1)
    analytics = ("user_account/analytics", "multi_pins/analytics", "pins/analytics")
    stopped = make_sandbox(pins=60, daily_quotas={"org_analytics": 5}, epoch=TODAY)
    quota_reset_hours_away(stopped)
    tomorrow = TODAY + dt.timedelta(days=1)
    resumed = make_sandbox(pins=60, epoch=TODAY, today=tomorrow)  # the same world, a day older
    home = tmp_path / "stopped"
    with HostileServer(lambda request: None, stopped.root_url) as api:  # one API base URL on both days
        pipeline_env(monkeypatch, home, api, TODAY)
        assert run(start, end, only="organic") == 1
        answered_first_day = 5
        api.upstream = urllib.parse.urlsplit(resumed.root_url)
        pipeline_env(monkeypatch, home, api, tomorrow)
        assert run(start, end, only="organic") == 0
    second_day = server_stats(resumed)["requests"]
    fresh = make_sandbox(pins=60, epoch=TODAY, today=tomorrow)
    pipeline_env(monkeypatch, tmp_path / "fresh", fresh, tomorrow)
    assert run(start, end, only="organic") == 0
    needed = sum(server_stats(fresh)["requests"].get(k, 0) for k in analytics)
    assert sum(second_day.get(k, 0) for k in analytics) == needed - answered_first_day
    assert not (home / "resume" / "organic_raw" / "default.json").exists()


def test_a_campaigns_answer_lacking_campaign_ids_is_refused_before_it_is_stored_so_no_resume_replays_it(
        make_sandbox, monkeypatch, tmp_path):
    """It was stored, then refused: a resume within 48 hours replayed the bad answer and failed the same way."""
    server = make_sandbox(drop_field="CAMPAIGN_ID", pins=5, ad_accounts=1, campaigns=2)
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(START, END, only="ads") == 1
    assert server_stats(server)["requests"]["campaigns/analytics"] == 1
    raw_files = [str(p.relative_to(tmp_path / "raw")) for p in (tmp_path / "raw").rglob("*.json.gz")]
    assert any(p.startswith("ad_account__analytics") for p in raw_files)
    assert not [p for p in raw_files if p.startswith("campaigns__analytics")]
