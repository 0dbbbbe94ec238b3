"""The Dagster code location as a readable snapshot (tests/snapshots/definitions.json): every asset with its group,
deps, partitions, backfill policy, pool, owners, kinds, tags, freshness policy and checks; every job with the assets
and checks it selects; the schedules, sensors and resources. A change to the graph fails this test until the
snapshot is regenerated, so that it shows in review as a diff of that file.

Regenerate it with UPDATE_SNAPSHOTS=1:
    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest -q tests/test_definitions_snapshot.py
The partitions are those tests/conftest.py imports the assets with (first 2025-11-01, last day 2027-02-28)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "definitions.json"
UPDATE = "UPDATE_SNAPSHOTS"


def _date(timestamp: float | None) -> str | None:
    import datetime as dt

    return None if timestamp is None else dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).date().isoformat()


def _partitions(definition) -> dict | None:
    if definition is None:
        return None
    if isinstance(definition, dg.TimeWindowPartitionsDefinition):
        return {"cron": definition.cron_schedule, "timezone": definition.timezone,
                "start": _date(definition.start.timestamp()),
                "end_exclusive": _date(definition.end.timestamp()) if definition.end else None}
    return {"type": type(definition).__name__}


def _freshness(policy) -> dict | None:
    if policy is None:
        return None
    return {"deadline_cron": policy.deadline_cron, "lower_bound": str(policy.lower_bound_delta),
            "timezone": policy.timezone}


def _checks(keys) -> list[str]:
    return sorted(f"{key.asset_key.to_user_string()}.{key.name}" for key in keys)


def definitions_snapshot(defs: dg.Definitions) -> dict:
    """What the code location declares, as sorted plain data (no descriptions or column metadata: those change with
    wording, the graph does not)."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        checks = {check.name: graph.get(check) for check in node.check_keys}
        assets[key.to_user_string()] = {
            "group": node.group_name, "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "backfill_policy": str(node.backfill_policy) if node.backfill_policy else None,
            "pools": sorted(node.pools), "owners": list(node.owners), "kinds": sorted(node.kinds),
            "tags": {k: v for k, v in sorted(node.tags.items()) if not k.startswith("dagster/kind/")},
            "freshness_policy": _freshness(node.freshness_policy),
            "checks": {name: {"blocking": check.blocking} for name, check in sorted(checks.items())}}
    jobs = {}
    for job in sorted(defs.jobs, key=lambda j: j.name):
        jobs[job.name] = {"assets": sorted(k.to_user_string() for k in job.selection.resolve(graph)),
                          "checks": _checks(job.selection.resolve_checks(graph))}
    schedules = {schedule.name: {"cron": schedule.cron_schedule, "timezone": schedule.execution_timezone,
                                 "job": schedule.job_name, "default_status": schedule.default_status.value}
                 for schedule in sorted(defs.schedules, key=lambda s: s.name)}
    sensors = {sensor.name: {"type": sensor.sensor_type.value, "default_status": sensor.default_status.value,
                             "minimum_interval_seconds": sensor.minimum_interval_seconds}
               for sensor in sorted(defs.sensors, key=lambda s: s.name)}
    resources = {name: type(resource).__name__ for name, resource in sorted(defs.resources.items())}
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors, "resources": resources}


def test_the_definitions_match_their_snapshot():
    from pipelines.definitions import defs

    current = json.dumps(definitions_snapshot(defs), indent=2) + "\n"
    if os.environ.get(UPDATE):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), f"no snapshot yet: run the test with {UPDATE}=1 to write {SNAPSHOT}"
    assert current == SNAPSHOT.read_text(), (
        "the Dagster definitions differ from tests/snapshots/definitions.json; "
        f"if the change is intended, regenerate it with {UPDATE}=1 .venv/bin/python -m pytest -q "
        "tests/test_definitions_snapshot.py and commit the file")
