"""Faults a full run survives with nothing lost: rate limits, server errors and cut-off answers, and an access
token expiring in the middle of concurrent calls. Each faulty run is compared row for row with a run of the same
range against a fault-free simulator of the same world."""

from __future__ import annotations

import json
import math
import stat
from pathlib import Path

import pytest
import requests

from pipelines import settings
from pipelines.sandbox import SandboxConfig, running_sandbox
from tests.client_support import server_stats
from tests.conftest import TODAY, UNLIMITED
from tests.fault_support import FAST_RETRIES, RANGE, WORLD, api_totals, assert_same_warehouse
from tests.pipeline_support import bulk_pin_calls_per_window, pipeline_env, run

# The injected 429s ask to wait 50 ms (Retry-After), so a run meeting dozens of them still takes seconds.
RETRY_AFTER = 0.05


@pytest.fixture(scope="module")
def clean_home(tmp_path_factory):
    """PINTEREST_ETL_HOME of an organic and ads run of RANGE against a fault-free simulator of WORLD."""
    home = tmp_path_factory.mktemp("clean")
    with pytest.MonkeyPatch.context() as monkeypatch, \
            running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **WORLD)) as server:
        pipeline_env(monkeypatch, home, server, TODAY, **FAST_RETRIES)
        assert run(*RANGE, only=None) == 0
    return home


def faulty_run(make_sandbox, monkeypatch, tmp_path, **faults):
    """An organic and ads run of RANGE against a simulator of WORLD with the faults, recorded in a real
    Dagster instance; returns (simulator, data directory, DAGSTER_HOME)."""
    server = make_sandbox(**WORLD, **faults)
    home, dagster_home = tmp_path / "etl", tmp_path / "dagster"
    dagster_home.mkdir()
    pipeline_env(monkeypatch, home, server, TODAY, **FAST_RETRIES)
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    assert run(*RANGE, only=None) == 0
    return server, home, dagster_home


@pytest.mark.parametrize("headers", [True, pytest.param(False, marks=pytest.mark.slow)],
                         ids=["with-rate-limit-headers", "without-headers"])
@pytest.mark.slow
def test_a_run_meeting_30_percent_429s_completes_with_the_same_data(make_sandbox, monkeypatch, tmp_path, clean_home,
                                                                    headers):
    server, home, dagster_home = faulty_run(make_sandbox, monkeypatch, tmp_path, throttle_rate=0.3,
                                            throttle_retry_after=RETRY_AFTER, rate_limit_headers=headers)
    assert_same_warehouse(home, clean_home)
    answers = server_stats(server)
    totals = api_totals(dagster_home)
    # Every 429 the simulator sent is in the materialization metadata, and was retried.
    assert totals["api_429s"] == answers["responses"]["429"] > 0
    assert totals["api_retries"] == totals["api_429s"]
    assert totals["api_calls"] == sum(answers["requests"].values())
    if headers:  # each retry waited at least the Retry-After it was given
        assert totals["api_wait_seconds"] >= totals["api_429s"] * RETRY_AFTER
    else:  # exponential backoff from PINTEREST_RETRY_BACKOFF_SECONDS (at least half of it per retry)
        assert totals["api_wait_seconds"] >= totals["api_retries"] * float(FAST_RETRIES["PINTEREST_RETRY_BACKOFF_SECONDS"]) / 2


@pytest.mark.slow
def test_a_run_meeting_10_percent_5xx_and_cut_off_answers_completes_with_the_same_data(make_sandbox, monkeypatch,
                                                                                       tmp_path, clean_home):
    server, home, dagster_home = faulty_run(make_sandbox, monkeypatch, tmp_path, fail_rate=0.1, truncate_rate=0.03)
    assert_same_warehouse(home, clean_home)
    answers = server_stats(server)
    totals = api_totals(dagster_home)
    server_errors = answers["responses"].get("500", 0) + answers["responses"].get("503", 0)
    assert totals["api_5xx"] == server_errors > 0
    assert totals["api_calls"] == sum(answers["requests"].values())
    # Answers that arrived whole: calls minus retries. The simulator sent more 200s than that: the ones it cut off.
    whole = totals["api_calls"] - totals["api_retries"]
    cut_off = answers["responses"]["200"] - whole
    assert cut_off > 0
    assert totals["api_retries"] == server_errors + cut_off


@pytest.mark.slow  # 3 s and more: run by CI's second phase (make test-slow)
def test_a_token_expiring_under_concurrent_calls_is_refreshed_once_and_persisted(make_sandbox, monkeypatch, tmp_path,
                                                                                 clean_home):
    """The development token stops working right when the pin analytics start on the thread pool: every
    thread meets a 401 (each call also takes 100 ms, so they are all in flight together), yet exactly one
    refresh happens, its rotated refresh token is saved (0600), and the run completes with all its data."""
    pins, boards, splits = WORLD["pins"], WORLD["boards"], 1  # APP_TYPE, the default split
    content_types = len(settings.DEFAULT_CONTENT_TYPES)
    sequential_calls = (1 + math.ceil(boards / 250) + math.ceil(pins / 250)  # user account, board and pin pages
                        + content_types * (1 + splits) + 1)  # account analytics per content type, the first bulk batch
    server = make_sandbox(**WORLD, token_max_calls=sequential_calls, latency_ms=100)
    pin_batches = bulk_pin_calls_per_window(server.state.world)
    assert pin_batches - 1 <= sequential_calls  # so the refreshed token lasts until the end: one refresh only
    home = tmp_path / "etl"
    pipeline_env(monkeypatch, home, server, TODAY, PINTEREST_APP_ID="1234567", PINTEREST_APP_SECRET="sandbox-secret")
    assert run(*RANGE, only="organic") == 0

    answers = server_stats(server)
    assert answers["requests"]["oauth/token"] == 1
    assert answers["responses"]["401"] >= 2  # several threads met the expired token
    assert answers["requests"]["multi_pins/analytics"] == pin_batches + answers["responses"]["401"]
    token_file = home / "credentials" / "pinterest-token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    saved = json.loads(token_file.read_text())
    assert saved["refresh_token"] != "pinr_SANDBOX" and saved["refresh_token"] in server.state.tokens.known_tokens()
    works = requests.get(f"{server.base_url}/user_account", headers={"Authorization": f"Bearer {saved['access_token']}"})
    assert works.status_code == 200
    assert_same_warehouse(home, clean_home, organic_only=True)


def test_the_fault_flags_shape_the_simulator_and_are_documented(make_sandbox):
    from pipelines.cli import build_parser
    from pipelines.commands.sandbox import _sandbox_config

    flags = ["--throttle-retry-after", "0.05", "--token-max-calls", "2", "--extra-fields", "--drop-field", "id", "--wide-ids"]
    config = _sandbox_config(build_parser().parse_args(["sandbox", *flags]))
    assert (config.throttle_retry_after, config.token_max_calls, config.extra_fields, config.drop_field,
            config.wide_ids) == (0.05, 2, True, "id", True)
    docs = (Path(__file__).resolve().parents[1] / "docs" / "simulator.md").read_text()
    for flag in flags[::2] + ["--wide-ids"]:
        assert f"`{flag}" in docs, flag

    server = make_sandbox(throttle_rate=1.0, throttle_retry_after=0.05)
    throttled = requests.get(f"{server.base_url}/user_account", headers={"Authorization": "Bearer pina_SANDBOX"})
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "0.05"

    server = make_sandbox(token_max_calls=2)
    statuses = [requests.get(f"{server.base_url}/user_account", headers={"Authorization": "Bearer pina_SANDBOX"})
                for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 401] and statuses[2].json()["code"] == 2
