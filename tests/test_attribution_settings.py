"""Ads attribution settings are checked against the official enums before anything is called or written."""

from __future__ import annotations

import pytest

from pipelines import settings
from pipelines.cli import main
from tests.client_support import server_stats
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env

WINDOWS = "0, 1, 7, 14, 30, 60"


@pytest.mark.parametrize("variable, value, message", [
    ("PINTEREST_ADS_CLICK_WINDOW_DAYS", "2", f"PINTEREST_ADS_CLICK_WINDOW_DAYS must be one of {WINDOWS} (days of the "
                                             "conversion attribution window; got '2')"),
    ("PINTEREST_ADS_ENGAGEMENT_WINDOW_DAYS", "thirty", "PINTEREST_ADS_ENGAGEMENT_WINDOW_DAYS must be one of "
                                                       f"{WINDOWS} (days of the conversion attribution window; got 'thirty')"),
    ("PINTEREST_ADS_VIEW_WINDOW_DAYS", "90", f"PINTEREST_ADS_VIEW_WINDOW_DAYS must be one of {WINDOWS}"),
    ("PINTEREST_ADS_CONVERSION_REPORT_TIME", "TIME_OF_CLICK", "PINTEREST_ADS_CONVERSION_REPORT_TIME must be "
                                                              "TIME_OF_AD_ACTION or TIME_OF_CONVERSION (got 'TIME_OF_CLICK')"),
])
def test_an_attribution_value_outside_its_enum_stops_the_run_before_any_call(make_sandbox, monkeypatch, tmp_path,
                                                                             capsys, variable, value, message):
    server = make_sandbox()
    home = tmp_path / "home"
    pipeline_env(monkeypatch, home, server, TODAY, **{variable: value})
    assert main(["run", "--only", "ads", "--start", TODAY.isoformat(), "--end", TODAY.isoformat()]) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith("pinterest-etl run: error: ") and message in printed.err
    assert printed.err.count("\n") == 1 and printed.out == ""
    assert server_stats(server)["requests"] == {}
    assert not home.exists()


@pytest.mark.parametrize("click, engagement, view", [(1, 0, 60), (0, 60, 30), (60, 1, 0)])
def test_every_combination_of_documented_windows_is_accepted(click, engagement, view):
    """The official description constrains each window to its enum and documents no rule between them (a view
    window longer than the click window included)."""
    attribution = settings.ads_attribution({"PINTEREST_ADS_CLICK_WINDOW_DAYS": str(click),
                                            "PINTEREST_ADS_ENGAGEMENT_WINDOW_DAYS": str(engagement),
                                            "PINTEREST_ADS_VIEW_WINDOW_DAYS": str(view),
                                            "PINTEREST_ADS_CONVERSION_REPORT_TIME": "TIME_OF_CONVERSION"})
    assert attribution.label == f"CLICK_{click}D|ENGAGEMENT_{engagement}D|VIEW_{view}D|TIME_OF_CONVERSION"
