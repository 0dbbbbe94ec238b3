"""A run reads its settings once, when its resources start (assets/resources.py): its steps take every setting
from them, none from os.environ, so an environment that changes while it runs changes nothing of the run."""

from __future__ import annotations

import datetime as dt

from assets.resources import PinterestResource, StorageResource
from pipelines.settings import SETTINGS
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, query
from tests.process_support import SMALL_WORLD
from tests.test_settings_object import BAD

START = END = TODAY - dt.timedelta(days=1)


def test_a_run_keeps_the_settings_it_started_with_when_the_environment_changes_under_it(make_sandbox, monkeypatch,
                                                                                         tmp_path):
    """The daily job (organic, ads, report) with every PINTEREST_* variable changed to a refused value as soon as
    both resources have read theirs: a step reading any of them from the environment would fail. The data goes
    where the settings said at the start, with the content types they named."""
    from pipelines.definitions import defs

    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, make_sandbox(**SMALL_WORLD), TODAY, PINTEREST_CONTENT_TYPES="ORGANIC",
                 PINTEREST_NORMALIZE_WORKERS="0")
    monkeypatch.chdir(tmp_path)  # the refused PINTEREST_ETL_HOME is relative: anything written there shows here
    started = []

    def setup_then_change_the_environment(resource, context):
        setups[type(resource)](resource, context)
        started.append(type(resource))
        if len(started) == len(setups):
            for variable in SETTINGS:
                monkeypatch.setenv(variable, BAD[variable][variable])

    setups = {kind: kind.setup_for_execution for kind in (PinterestResource, StorageResource)}
    for kind in setups:
        monkeypatch.setattr(kind, "setup_for_execution", setup_then_change_the_environment)
    result = defs.resolve_job_def("pinterest_daily").execute_in_process(raise_on_error=False, tags={
        "dagster/asset_partition_range_start": str(START), "dagster/asset_partition_range_end": str(END)})
    failures = [event.step_failure_data.error.message for event in result.all_events if event.is_step_failure]
    assert failures == [] and result.success
    assert sorted(kind.__name__ for kind in started) == ["PinterestResource", "StorageResource"]  # once per run
    assert query(home, "SELECT DISTINCT content_type FROM user_account_daily") == [("ORGANIC",)]
    assert query(home, "SELECT DISTINCT date FROM ad_account_daily") == [(END,)]
    assert (home / "report.html").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["home"]
