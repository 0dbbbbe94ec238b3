"""Running the organic pipeline against a test simulator in a temporary PINTEREST_ETL_HOME."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb

from pipelines.orchestration import run_range
from tests.conftest import PARTITIONS_FIRST


def pipeline_env(monkeypatch, home: Path, server, today: dt.date, **extra: str) -> None:
    """Point the pipeline at `server` with the development tokens, data in `home`, clock at `today`."""
    for key in ("PINTEREST_TOKEN_FILE", "PINTEREST_APP_ID", "PINTEREST_APP_SECRET", "DAGSTER_HOME",
                "PINTEREST_ORGANIC_SPLITS", "PINTEREST_CONTENT_TYPES"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(home))
    monkeypatch.setenv("PINTEREST_API_BASE_URL", server.base_url)
    monkeypatch.setenv("PINTEREST_ACCESS_TOKEN", "pina_SANDBOX")
    monkeypatch.setenv("PINTEREST_REFRESH_TOKEN", "pinr_SANDBOX")
    monkeypatch.setenv("PINTEREST_ETL_TODAY", today.isoformat())
    monkeypatch.setenv("PINTEREST_START_DATE", PARTITIONS_FIRST.isoformat())
    # The simulator under test is not rate limited; neither is the client (rate tests are elsewhere).
    monkeypatch.setenv("PINTEREST_RATE_BUDGETS", ",".join(f"{c}=1000000" for c in (
        "org_analytics", "org_read", "org_write", "ads_analytics", "ads_read")))
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def run(start: dt.date, end: dt.date, only: str | None = "organic", **kwargs) -> int:
    """The pipeline for a range (only the organic assets unless told otherwise: the organic tests are
    about organic data, and skipping the ads assets keeps them fast)."""
    return run_range(start, end, only=only, **kwargs)


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def bulk_pin_calls_per_window(world) -> int:
    """The bulk pin analytics calls one window takes for a simulator's world: 100 pins a call, one pin type
    (standard or video) per call."""
    videos = int(world.pin_is_video.sum())
    return math.ceil((len(world.pin_ids) - videos) / 100) + math.ceil(videos / 100)


def store_restated_answers(home: Path, endpoints: tuple[str, ...] = ("user_account/analytics", "campaigns/analytics")
                           ) -> None:
    """Every analytics answer of `endpoints` in the raw zone stored again a minute later, so that each key has two
    answers to choose from: campaigns answers without their first row (restated to no delivery), user account
    answers with another IMPRESSION and without SAVE (two final answers compete; a READY day keeps its older SAVE)."""
    import json

    from pipelines.raw_zone import RawZone

    raw = RawZone(home / "raw")
    for path in raw.all_files():
        record = raw.read(path)
        if record.window is None or record.endpoint not in endpoints:
            continue
        body = json.loads(record.body)
        if record.endpoint == "campaigns/analytics":
            body = body[1:]
        elif record.endpoint == "user_account/analytics":
            for day in (day for bucket in body.values() for day in bucket["daily_metrics"]):
                day.setdefault("metrics", {})["IMPRESSION"] = 7
                day["metrics"].pop("SAVE", None)
        raw.write(record.endpoint, json.dumps(body).encode(), params=record.params, path_params=record.path_params,
                  window=record.window, context=record.context, fetched_at=record.fetched_at + dt.timedelta(minutes=1),
                  request_id="restated")
