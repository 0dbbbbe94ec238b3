"""Shared fixtures: a running simulator over real HTTP, an authenticated session, the official spec."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
import requests

from pipelines.sandbox import SandboxConfig, running_sandbox
from pipelines.sandbox.auth import DEV_ACCESS_TOKEN

# A fixed clock keeps every test independent of the real date.
TODAY = dt.date(2026, 11, 28)
# The Dagster partitions are defined when the assets are imported. Import them once with a partition
# set wide enough for every simulated "today" of the tests (each test then sets its own today).
PARTITIONS_FIRST, PARTITIONS_END = dt.date(2025, 11, 1), dt.date(2027, 3, 1)


def _import_partitions() -> None:
    saved = {k: os.environ.get(k) for k in ("PINTEREST_START_DATE", "PINTEREST_ETL_TODAY")}
    os.environ.update(PINTEREST_START_DATE=PARTITIONS_FIRST.isoformat(), PINTEREST_ETL_TODAY=PARTITIONS_END.isoformat())
    try:
        import assets.partitions  # noqa: F401
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_import_partitions()
# Rate budgets so high that only tests about rate limits (which set their own) ever meet them.
UNLIMITED = {c: 1_000_000 for c in ("org_analytics", "org_read", "org_write", "ads_analytics", "ads_read")}
SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pinterest-openapi-v5.json"


@pytest.fixture(scope="session")
def sandbox():
    """One default-world simulator for the whole session (tests must not depend on its counters)."""
    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED))) as server:
        yield server


@pytest.fixture
def make_sandbox():
    """Start simulators with specific settings; all are stopped at the end of the test."""
    servers = []

    def start(**settings):
        settings.setdefault("today", TODAY)
        settings.setdefault("rate_limits", dict(UNLIMITED))
        context = running_sandbox(SandboxConfig(**settings))
        server = context.__enter__()
        servers.append(context)
        return server

    yield start
    for context in reversed(servers):
        context.__exit__(None, None, None)


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory) -> Path:
    """PINTEREST_ETL_HOME of one pipeline run (organic and ads, the 35 days before TODAY) over the default
    world, built once per session: the analysts' queries, the data dictionary and the report read it."""
    from tests.pipeline_support import pipeline_env, run

    home = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as monkeypatch, \
            running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED))) as server:
        pipeline_env(monkeypatch, home, server, TODAY)
        assert run(TODAY - dt.timedelta(days=35), TODAY - dt.timedelta(days=1), only=None) == 0
    return home


@pytest.fixture(scope="session")
def api():
    """A requests session carrying the development access token."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {DEV_ACCESS_TOKEN}"
    yield session
    session.close()


@pytest.fixture(scope="session")
def spec() -> dict:
    if not SPEC_PATH.exists():
        pytest.skip(f"the official OpenAPI description is not at {SPEC_PATH} (it lives in ../shared/reference/)")
    return json.loads(SPEC_PATH.read_text())
