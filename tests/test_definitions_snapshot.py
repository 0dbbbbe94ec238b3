"""The Dagster code location as a readable snapshot (tests/snapshots/definitions.json): every asset with its group,
deps, partitions, backfill policy, pool, owners, kinds, tags, freshness policy and checks; every job with the assets
and checks it selects; the schedules, sensors and resources. A change to the graph fails this test until the
snapshot is regenerated, so that it shows in review as a diff of that file.

Regenerate it with UPDATE_SNAPSHOTS=1:
    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest -q tests/test_definitions_snapshot.py
The snapshot is taken in a child process whose environment holds no setting but the partitions' (first 2025-11-01,
last day 2027-02-28, as tests/conftest.py imports the assets with): a developer's own settings (a schedule, a
freshness deadline) never show in it."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

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


def _resource_config(resource) -> dict:
    """A configurable resource's fields and their values (what the UI's launchpad offers and runs record)."""
    if not isinstance(resource, dg.ConfigurableResource):
        return {}
    return {name: repr(getattr(resource, name)) for name in sorted(type(resource).model_fields)}


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
            "code_version": node.code_version,
            "automation_condition": str(node.automation_condition) if node.automation_condition else None,
            "partitions": _partitions(node.partitions_def),
            "backfill_policy": str(node.backfill_policy) if node.backfill_policy else None,
            "pools": sorted(node.pools), "owners": list(node.owners), "kinds": sorted(node.kinds),
            "tags": {k: v for k, v in sorted(node.tags.items()) if not k.startswith("dagster/kind/")},
            "freshness_policy": _freshness(node.freshness_policy),
            "checks": {name: {"blocking": check.blocking} for name, check in sorted(checks.items())}}
    jobs = {}
    for job in sorted(defs.jobs, key=lambda j: j.name):
        jobs[job.name] = {"assets": sorted(k.to_user_string() for k in job.selection.resolve(graph)),
                          "checks": _checks(job.selection.resolve_checks(graph)),
                          "tags": dict(sorted((job.tags or {}).items())),
                          "run_tags": dict(sorted((getattr(job, "run_tags", None) or {}).items())),
                          "executor": job.executor_def.name if job.executor_def else None,
                          "config": repr(job.config) if job.config else None}
    schedules = {schedule.name: {"cron": schedule.cron_schedule, "timezone": schedule.execution_timezone,
                                 "job": schedule.job_name, "default_status": schedule.default_status.value}
                 for schedule in sorted(defs.schedules, key=lambda s: s.name)}
    sensors = {sensor.name: {"type": sensor.sensor_type.value, "default_status": sensor.default_status.value,
                             "minimum_interval_seconds": sensor.minimum_interval_seconds,
                             "jobs": sorted(target.job_name for target in sensor.targets),
                             "assets": sorted(k.to_user_string() for k in (sensor.asset_selection.resolve(graph)
                                                                           if sensor.asset_selection else ()))}
               for sensor in sorted(defs.sensors, key=lambda s: s.name)}
    resources = {name: {"type": type(resource).__name__, "config": _resource_config(resource)}
                 for name, resource in sorted(defs.resources.items())}
    executor = defs.executor.name if defs.executor else None
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors, "resources": resources,
            "executor": executor}


# Taken in a child process: the settings of the developer's shell and the tests' (the partitions' are fixed) stay out.
_SNAPSHOT_OF_THE_CODE_LOCATION = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.test_definitions_snapshot import definitions_snapshot
from pipelines.definitions import defs
print(json.dumps(definitions_snapshot(defs), indent=2))
"""


def test_the_definitions_match_their_snapshot(tmp_path):
    import subprocess
    import sys

    from tests.conftest import PARTITIONS_END, PARTITIONS_FIRST

    root = Path(__file__).resolve().parents[1]
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PINTEREST_", "DAGSTER_"))}
    env.update(PINTEREST_START_DATE=PARTITIONS_FIRST.isoformat(), PINTEREST_ETL_TODAY=PARTITIONS_END.isoformat(),
               PINTEREST_ETL_HOME=str(tmp_path / "data"))
    child = subprocess.run([sys.executable, "-c", _SNAPSHOT_OF_THE_CODE_LOCATION, str(root)], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=120)
    assert child.returncode == 0, child.stderr
    current = child.stdout
    if os.environ.get(UPDATE):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), f"no snapshot yet: run the test with {UPDATE}=1 to write {SNAPSHOT}"
    assert current == SNAPSHOT.read_text(), (
        "the Dagster definitions differ from tests/snapshots/definitions.json; "
        f"if the change is intended, regenerate it with {UPDATE}=1 .venv/bin/python -m pytest -q "
        "tests/test_definitions_snapshot.py and commit the file")


def _snapshot_with(**replaced):
    """tests/test_definitions_snapshot.py's snapshot of the code location with some of its parts replaced."""
    import dagster as dg

    from pipelines.definitions import defs
    parts = {"assets": list(defs.assets), "jobs": list(defs.jobs), "schedules": list(defs.schedules),
             "asset_checks": list(defs.asset_checks), "sensors": list(defs.sensors), "resources": dict(defs.resources)}
    parts.update(replaced)
    return definitions_snapshot(dg.Definitions(**parts))


def _changed_assets(change):
    from pipelines.definitions import defs

    return [change(a) if isinstance(a, __import__("dagster").AssetsDefinition) else a for a in defs.assets]


@pytest.mark.parametrize("change", ["automation_condition", "job_run_tags", "job_executor", "resource_config",
                                    "sensor_target", "code_version"])
def test_the_definitions_snapshot_sees_a_change_to_the_graph(change):
    """The snapshot sees an asset's automation condition (the asset would be materialized by itself), a job's run
    tags (e.g. dagster/max_retries) and executor, a resource's configuration (what the UI's launchpad offers), what a
    sensor targets, and code versions (each was left out before an attack found it)."""
    import dagster as dg

    from pipelines.definitions import defs
    before = definitions_snapshot(defs)
    if change == "automation_condition":
        after = _snapshot_with(assets=_changed_assets(lambda a: a.map_asset_specs(
            lambda spec: spec.replace_attributes(automation_condition=dg.AutomationCondition.eager())
            if spec.key.to_user_string() == "organic_warehouse" else spec)))
    elif change == "code_version":
        after = _snapshot_with(assets=_changed_assets(lambda a: a.map_asset_specs(
            lambda spec: spec.replace_attributes(code_version="2"))))
    elif change in ("job_run_tags", "job_executor"):
        job = defs.resolve_job_def("pinterest_daily")
        options = ({"run_tags": {"dagster/max_retries": "3"}} if change == "job_run_tags"
                   else {"executor_def": dg.in_process_executor})
        changed = dg.define_asset_job("pinterest_daily", selection=job.selection if hasattr(job, "selection") else
                                      [j for j in defs.jobs if j.name == "pinterest_daily"][0].selection, **options)
        schedule, = defs.schedules
        same_schedule = dg.ScheduleDefinition(name=schedule.name, cron_schedule=schedule.cron_schedule, job=changed,
                                              execution_timezone=schedule.execution_timezone,
                                              default_status=schedule.default_status)
        after = _snapshot_with(jobs=[changed if j.name == "pinterest_daily" else j for j in defs.jobs],
                               schedules=[same_schedule])
    elif change == "resource_config":
        from assets.resources import PinterestResource

        after = _snapshot_with(resources={**defs.resources, "pinterest": PinterestResource(concurrency=32)})
    else:  # sensor_target: the sensor of the same name, type, status and interval launching the daily job each tick
        sensor, = defs.sensors

        @dg.sensor(name=sensor.name, job_name="pinterest_daily", minimum_interval_seconds=sensor.minimum_interval_seconds,
                   default_status=sensor.default_status)
        def launches_the_daily_job(context):
            yield dg.RunRequest()

        after = _snapshot_with(sensors=[launches_the_daily_job])
    assert after != before


def test_the_snapshot_does_not_depend_on_the_developers_settings(monkeypatch, tmp_path):
    """A schedule or freshness deadline exported in the developer's shell does not show in the snapshot (taken in a
    child process without them): the comparison passes unchanged."""
    monkeypatch.setenv("PINTEREST_SCHEDULE_CRON", "0 7 * * *")
    monkeypatch.setenv("PINTEREST_FRESHNESS_DEADLINE_HOUR", "10")
    monkeypatch.delenv(UPDATE, raising=False)
    test_the_definitions_match_their_snapshot(tmp_path)
