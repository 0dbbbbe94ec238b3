"""Ads finality: a date is final only once its attribution window has passed AND metrics_ready_state says ready."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import pytest

from pipelines.ads.attribution import Attribution
from pipelines.ads.extract import DEFAULT_COLUMNS, fetch_ready_states, is_ready
from pipelines.ads.normalize import normalize_rows
from pipelines.planning import DateRange
from pipelines.raw_zone import RawZone
from tests.client_support import make_client, server_stats
from tests.conftest import TODAY
from tests.hostile_server_support import HostileServer
from tests.pipeline_support import pipeline_env, query, run

LABEL = Attribution().label  # CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION: a 30-day window
SETTLE_DAYS = Attribution().settle_days
DELIVERY_ONLY = ("SPEND_IN_MICRO_DOLLAR", "PAID_IMPRESSION")


def days_back(oldest: int, newest: int) -> list[dt.date]:
    """The dates from `oldest` to `newest` days before TODAY."""
    return [TODAY - dt.timedelta(days=age) for age in range(oldest, newest - 1, -1)]


def finality(date: dt.date, newest_ready: dt.date | None, columns=DEFAULT_COLUMNS) -> bool:
    """is_final of an ad account's row of `date` fetched TODAY, when metrics_ready_state had said `newest_ready`."""
    rows = [{"DATE": date.isoformat(), "AD_ACCOUNT_ID": "1", "SPEND_IN_MICRO_DOLLAR": 5, "TOTAL_CONVERSIONS": 2}]
    normalized = normalize_rows(rows, "ad_account", LABEL, SETTLE_DAYS, dt.datetime.now(dt.timezone.utc), TODAY,
                                newest_ready, "ad_account/analytics", requested_columns=columns)
    return normalized.status.column("is_final").to_pylist() == [True]


def ready_state_calls(server, tmp_path, dates, columns=DEFAULT_COLUMNS) -> tuple[int, list[dt.date]]:
    """fetch_ready_states against `server` for `dates`: the calls it made (as the simulator counted them too) and
    the dates whose answers it stored."""
    raw = RawZone(tmp_path / "raw")
    with make_client(server) as client:
        counted = fetch_ready_states(client, raw, dates, TODAY, Attribution(), columns)
    assert counted == server_stats(server)["requests"].get("metrics_ready_state/get", 0)
    asked = sorted(dt.date.fromisoformat(str(r.params["date"]))
                   for r in raw.records("metrics_ready_state/get", DateRange(dt.date.min, dt.date.max)))
    return counted, asked


def test_a_date_past_the_attribution_window_that_is_not_ready_is_not_final():
    date = TODAY - dt.timedelta(days=SETTLE_DAYS + 5)
    assert not finality(date, newest_ready=None)
    assert not finality(date, newest_ready=date - dt.timedelta(days=1))


def test_a_date_ready_inside_the_attribution_window_is_not_final():
    date = TODAY - dt.timedelta(days=SETTLE_DAYS - 1)
    assert not finality(date, newest_ready=TODAY - dt.timedelta(days=1))


def test_a_date_past_the_window_and_ready_is_final_and_so_are_the_older_ones():
    newest_ready = TODAY - dt.timedelta(days=SETTLE_DAYS)
    assert finality(newest_ready, newest_ready)
    assert finality(newest_ready - dt.timedelta(days=40), newest_ready)  # books close in date order


def test_only_the_newest_date_past_the_window_is_asked_when_it_is_ready(make_sandbox, tmp_path):
    server = make_sandbox()  # conversions ready once 30 days old: the default window has passed
    assert ready_state_calls(server, tmp_path, days_back(89, 1)) == (1, [TODAY - dt.timedelta(days=SETTLE_DAYS)])


def test_dates_inside_the_window_are_never_asked(make_sandbox, tmp_path):
    assert ready_state_calls(make_sandbox(), tmp_path, days_back(SETTLE_DAYS - 1, 1)) == (0, [])


def test_a_newest_date_not_yet_ready_is_followed_by_a_binary_search_of_the_older_ones(make_sandbox, tmp_path):
    server = make_sandbox(conversions_ready_after_days=SETTLE_DAYS + 5)
    calls, asked = ready_state_calls(server, tmp_path, days_back(SETTLE_DAYS + 10, 1))
    # 11 dates past the window: the newest (not ready), then a binary search over the 10 older ones (4 calls)
    # ending on the boundary between the newest ready date and the oldest one not ready.
    assert calls == 5 and len(asked) == 5
    assert {TODAY - dt.timedelta(days=SETTLE_DAYS + 5), TODAY - dt.timedelta(days=SETTLE_DAYS + 4)} <= set(asked)


def test_delivery_only_columns_need_only_non_conversion_readiness(make_sandbox, tmp_path):
    server = make_sandbox(conversions_ready_after_days=SETTLE_DAYS + 5)
    assert ready_state_calls(server, tmp_path, days_back(SETTLE_DAYS + 10, 1), DELIVERY_ONLY)[0] == 1
    assert finality(TODAY - dt.timedelta(days=SETTLE_DAYS), TODAY - dt.timedelta(days=1), columns=DELIVERY_ONLY)


def flags_as_strings(request, reply):
    """A server that writes metrics_ready_state's booleans as JSON strings ("true", "false")."""
    if request.path.endswith("/metrics_ready_state") and reply.status == 200:
        return dataclasses.replace(reply, body={k: str(v).lower() for k, v in reply.json().items()})
    return reply


def test_ready_flags_that_are_not_json_booleans_leave_every_date_not_final_with_a_warning(
        make_sandbox, tmp_path, caplog):
    """"true"/"false" as strings (a Python string is truthy): no date is taken as ready, so none is final and each
    is re-pulled; the log names the endpoint, the date, the field and its value."""
    upstream = make_sandbox()  # every date past the 30-day window is ready, as booleans
    raw = RawZone(tmp_path / "raw")
    caplog.set_level(logging.WARNING)
    with HostileServer(lambda request: None, upstream.root_url, flags_as_strings) as server, \
            make_client(server) as client:
        calls = fetch_ready_states(client, raw, days_back(SETTLE_DAYS + 10, 1), TODAY, Attribution(), DEFAULT_COLUMNS)
    # The newest date past the window "not ready", then a binary search over the 10 older ones, none ready.
    assert calls == server.received["/v5/resources/metrics_ready_state"] == 4
    states = [r.json() for r in raw.records("metrics_ready_state/get", DateRange(dt.date.min, dt.date.max))]
    assert states and all(state["conversion_metrics_ready"] == "true" for state in states)
    assert not any(is_ready(state, conversions) for state in states for conversions in (True, False))
    newest = TODAY - dt.timedelta(days=SETTLE_DAYS)
    assert (f'metrics_ready_state/get for {newest}: non_conversion_metrics_ready is "true", conversion_metrics_ready '
            'is "true", not a JSON boolean; the date is taken as not ready (not final, re-pulled)') in caplog.text
    assert not finality(newest, newest_ready=None)


@pytest.mark.slow
def test_a_run_marks_final_exactly_the_dates_past_the_window_that_metrics_ready_state_says_are_ready(
        make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox(conversions_ready_after_days=SETTLE_DAYS + 5, campaigns=2, ad_groups=1, ads=1)
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(TODAY - dt.timedelta(days=SETTLE_DAYS + 10), TODAY - dt.timedelta(days=1), only="ads") == 0
    assert server_stats(server)["requests"]["metrics_ready_state/get"] == 5
    finals = query(tmp_path, "SELECT DISTINCT date, is_final FROM daily_status WHERE entity_type = 'ad_account' "
                             "ORDER BY date")
    assert finals and all(final == ((TODAY - date).days >= SETTLE_DAYS + 5) for date, final in finals)
    assert {final for _, final in finals} == {True, False}
