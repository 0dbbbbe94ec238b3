"""The visual report: one self-contained HTML file whose charts show exactly what the warehouse holds."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.cli import main
from pipelines.planning import DateRange
from pipelines.report import svg
from pipelines.report.data import load_report_data
from pipelines.warehouse import Warehouse
from tests.client_support import server_stats
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, query, run

DEMO_START, DEMO_END = TODAY - dt.timedelta(days=35), TODAY - dt.timedelta(days=1)  # the demo warehouse's range
NO_SPLIT_DAYS = "FROM user_account_daily WHERE split_field = 'NO_SPLIT' AND content_type = 'ORGANIC' AND date BETWEEN ? AND ?"


def write(monkeypatch, home: Path, output: Path, *args: str) -> str:
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(home))
    assert main(["report", "--output", str(output), *args]) == 0
    return output.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def demo_report(demo_warehouse, tmp_path_factory) -> str:
    """The report of the demo warehouse's whole range, written by the command line."""
    output = tmp_path_factory.mktemp("report") / "report.html"
    with pytest.MonkeyPatch.context() as monkeypatch:
        return write(monkeypatch, demo_warehouse, output, "--start", str(DEMO_START), "--end", str(DEMO_END))


def chart(page: str, chart_id: str) -> str:
    match = re.search(rf'<svg id="{re.escape(chart_id)}" .*?</svg>', page, re.DOTALL)
    assert match, f"no chart {chart_id}"
    return match.group(0)


def marks(svg_text: str, css_class: str) -> list[str]:
    """The opening tags of the chart's data marks with exactly that class."""
    return re.findall(rf'<[a-z]+ class="{css_class}"[^>]*>', svg_text)


class _Resources(HTMLParser):
    """Everything in a page that a browser would fetch or navigate to."""

    FETCHING_TAGS = {"img", "iframe", "object", "embed", "video", "audio", "source", "link", "script", "frame", "base"}

    def __init__(self):
        super().__init__()
        self.references: list[str] = []
        self.fetching_tags: list[str] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        if tag in self.FETCHING_TAGS:
            self.fetching_tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "data", "action", "poster", "background"):
                self.references.append(value or "")
            if name == "style":
                self.css.append(value or "")

    def handle_endtag(self, tag):
        self._in_style = False if tag == "style" else self._in_style

    def handle_data(self, data):
        if self._in_style:
            self.css.append(data)


def test_the_report_loads_nothing_from_anywhere(demo_report):
    page = _Resources()
    page.feed(demo_report)
    assert page.fetching_tags == []  # no <script>, <link>, <img>, ...: styles and charts are inline
    assert all(ref.startswith("#") for ref in page.references), page.references
    css = " ".join(page.css)
    assert "@import" not in css and "@font-face" not in css and "url(" not in css
    urls = re.findall(r"url\(([^)]*)\)", demo_report)  # SVG paint servers: hatch patterns of the same page
    assert urls and all(u.startswith("#") for u in urls)
    assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", demo_report)


def test_the_daily_trend_has_a_bar_per_day_with_impressions_and_marks_the_days_not_final(demo_report, demo_warehouse):
    final, not_final = query(demo_warehouse, f"""
        SELECT count(*) FILTER (WHERE all_final), count(*) FILTER (WHERE NOT all_final) FROM (
            SELECT bool_and(is_final) AS all_final {NO_SPLIT_DAYS} GROUP BY date HAVING sum(impression) IS NOT NULL)""",
                             [DEMO_START, DEMO_END])[0]
    bars = chart(demo_report, "chart-organic-impressions")
    assert (len(marks(bars, "mark bar")), len(marks(bars, "mark bar not-final"))) == (final, not_final)
    assert final > 0 and not_final > 0
    days_not_final = query(demo_warehouse, f"SELECT count(DISTINCT date) {NO_SPLIT_DAYS} AND NOT is_final",
                           [DEMO_START, DEMO_END])[0][0]
    assert days_not_final > not_final  # a day still PROCESSING has no bar, but its column is hatched all the same
    assert bars.count('<rect class="band"') == 1  # the not-final days are the last ones, one run of days


@pytest.mark.parametrize("series, column", [("Saves", "save"), ("Pin clicks", "pin_click"),
                                            ("Outbound clicks", "outbound_click")])
def test_the_engagement_lines_have_a_point_per_day_with_a_value(demo_report, demo_warehouse, series, column):
    days = query(demo_warehouse, f"SELECT count(*) FROM (SELECT date {NO_SPLIT_DAYS} GROUP BY date "
                                 f"HAVING sum({column}) IS NOT NULL)", [DEMO_START, DEMO_END])[0][0]
    lines = chart(demo_report, "chart-organic-engagement")
    points = [m for m in re.findall(r'<circle class="mark point[^"]*"[^>]*>', lines) if f'data-series="{series}"' in m]
    assert len(points) == days > 0


def test_the_top_pins_are_the_warehouse_top_ten_with_their_titles(demo_report, demo_warehouse):
    for metric, chart_id in (("save", "chart-top-pins-saves"), ("impression", "chart-top-pins-impressions")):
        expected = query(demo_warehouse, f"""
            SELECT d.pin_id, p.title FROM pin_daily d JOIN pins p USING (pin_id) WHERE d.date BETWEEN ? AND ?
            GROUP BY d.pin_id, p.title HAVING sum(d.{metric}) > 0 ORDER BY sum(d.{metric}) DESC, d.pin_id LIMIT 10""",
                         [DEMO_START, DEMO_END])
        ranked = chart(demo_report, chart_id)
        assert re.findall(r'<g class="mark row" data-key="(\d+)"', ranked) == [pin_id for pin_id, _ in expected]
        assert len(expected) == 10
        for _, title in expected:
            assert html.escape(title) in ranked


def test_spend_vs_conversions_has_a_point_per_campaign_in_a_chart_per_currency(demo_report, demo_warehouse):
    campaigns = query(demo_warehouse, """
        SELECT campaign_id, currency, sum(spend_in_micro_dollar) FROM campaign_daily WHERE date BETWEEN ? AND ?
        GROUP BY campaign_id, currency""", [DEMO_START, DEMO_END])
    currencies = {currency for _, currency, _ in campaigns}
    points = {}
    for currency in currencies:
        scatter = chart(demo_report, f"chart-spend-conversions-{currency.lower()}")
        points[currency] = set(re.findall(r'<circle class="mark point" data-key="(\d+)"', scatter))
    assert points == {c: {i for i, cur, _ in campaigns if cur == c} for c in currencies}
    assert len(currencies) == 2 and len(campaigns) == 8
    assert demo_report.count('class="chart chart-scatter"') == len(currencies)
    table = re.search(r'<table id="campaigns-table">.*?</table>', demo_report, re.DOTALL).group(0)
    for _, currency, micro in campaigns:  # money in units of the account's currency, from micro-units
        assert f"{micro / 1e6:,.2f} {currency}" in table


def test_freshness_has_a_column_per_day_with_final_and_not_final_rows(demo_report, demo_warehouse):
    days, latest = query(demo_warehouse, "SELECT count(DISTINCT date), max(extracted_at) FROM daily_status "
                                         "WHERE date BETWEEN ? AND ?", [DEMO_START, DEMO_END])[0]
    freshness = chart(demo_report, "chart-freshness")
    assert len(marks(freshness, "mark day")) == days == 35
    segments = re.findall(r'<rect class="segment" data-series="([a-z ]+)"', freshness)
    expected = query(demo_warehouse, """
        SELECT count(*) FILTER (WHERE o_final > 0) + count(*) FILTER (WHERE o_open > 0)
             + count(*) FILTER (WHERE a_final > 0) + count(*) FILTER (WHERE a_open > 0) FROM (
          SELECT date, count(*) FILTER (WHERE entity_type IN ('user_account', 'pin') AND is_final) AS o_final,
                 count(*) FILTER (WHERE entity_type IN ('user_account', 'pin') AND NOT is_final) AS o_open,
                 count(*) FILTER (WHERE entity_type NOT IN ('user_account', 'pin') AND is_final) AS a_final,
                 count(*) FILTER (WHERE entity_type NOT IN ('user_account', 'pin') AND NOT is_final) AS a_open
          FROM daily_status WHERE date BETWEEN ? AND ? GROUP BY date)""", [DEMO_START, DEMO_END])[0][0]
    assert len(segments) == expected
    assert {"organic final", "organic not final", "ads not final"} <= set(segments)
    assert latest.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") in demo_report


def test_the_header_names_the_range_and_the_accounts_and_the_tiles_show_the_totals(demo_report, demo_warehouse):
    assert f"<h1>{DEMO_START:%b} {DEMO_START.day} – {DEMO_END:%b} {DEMO_END.day}, {DEMO_END.year}</h1>" in demo_report
    for (name,) in query(demo_warehouse, "SELECT name FROM ad_accounts"):
        assert html.escape(name) in demo_report
    assert "@" + query(demo_warehouse, "SELECT username FROM user_accounts")[0][0] in demo_report
    impressions = query(demo_warehouse, f"SELECT sum(impression) {NO_SPLIT_DAYS}", [DEMO_START, DEMO_END])[0][0]
    assert f'<span class="kpi-value" title="{impressions:,.0f}">' in demo_report
    assert 'id="kpis"' in demo_report and "no data for the 35 days before to compare" in demo_report  # nothing earlier


# Per UTC day, a tile's total and whether all the rows it sums are final, as the report must compute it.
DAILY_TOTALS = {
    "Impressions": "SELECT date, sum(impression) AS value, bool_and(is_final) AS final FROM user_account_daily "
                   "WHERE split_field = 'NO_SPLIT' AND content_type = 'ORGANIC' GROUP BY date",
    "Conversions": "SELECT date, coalesce(sum(total_conversions), 0) AS value, bool_and(is_final) AS final "
                   "FROM ad_account_daily GROUP BY date",
    "Ad spend (USD)": "SELECT date, coalesce(sum(spend_in_micro_dollar), 0) / 1e6 AS value, bool_and(is_final) AS final "
                      "FROM ad_account_daily WHERE currency = 'USD' GROUP BY date",
}


def expected_tile(home: Path, label: str, start: dt.date, end: dt.date) -> tuple[float, float, int, int]:
    """Recomputed in SQL: the totals of the days compared (each day of the range final with a number, with the day
    one period earlier final with a number), how many they are, and the days of the range not final yet."""
    days = (end - start).days + 1
    return query(home, f"""
        WITH days AS ({DAILY_TOTALS[label]}),
             pairs AS (SELECT now.value AS now, before.value AS before FROM days now JOIN days before
                       ON before.date = now.date - {days}::INTEGER
                       WHERE now.date BETWEEN $start AND $end AND now.final AND before.final
                         AND now.value IS NOT NULL AND before.value IS NOT NULL)
        SELECT (SELECT sum(now) FROM pairs), (SELECT sum(before) FROM pairs), (SELECT count(*) FROM pairs),
               (SELECT count(*) FROM days WHERE date BETWEEN $start AND $end AND NOT final)""",
                 {"start": start, "end": end})[0]


def tile(page: str, label: str) -> str:
    match = re.search(rf'<div class="kpi"><span class="kpi-label">{re.escape(label)}</span>.*?</div>', page)
    assert match, f"no tile {label}"
    return html.unescape(re.sub(r"<[^>]+>", " | ", match.group(0)))


@pytest.mark.parametrize("first, last", [(None, None), (TODAY - dt.timedelta(days=31), TODAY - dt.timedelta(days=28))],
                         ids=["default-28-days", "4-days-half-settled"])
def test_changes_compare_only_the_days_final_in_both_periods(demo_warehouse, monkeypatch, tmp_path, first, last):
    """The demo's organic days near today are ESTIMATE/PROCESSING, its ads days inside the 30-day attribution window
    are not final: they never enter a change, and each tile says what it compares and what may still change."""
    dates = ["--start", str(first), "--end", str(last)] if first else []
    page = write(monkeypatch, demo_warehouse, tmp_path / "r.html", *dates)
    first, last = first or DEMO_END - dt.timedelta(days=27), last or DEMO_END
    days = (last - first).days + 1
    compared_any = False
    for label in DAILY_TOTALS:
        now, before, pairs, not_final = expected_tile(demo_warehouse, label, first, last)
        shown = tile(page, label)
        if pairs:
            compared_any = True
            change = (now - before) / before
            assert f"{'▲' if change > 0 else '▼'} {abs(change):.1%} vs the {days} days before" in shown, shown
            assert (f"all {days} days final in both periods" if pairs == days else
                    f"{pairs} of {days} days: those final in both periods") in shown
        else:
            assert "no change shown" in shown or f"no data for the {days} days before" in shown, shown
            assert "%" not in shown
        pending = f"not final yet: all {days} days" if not_final == days else f"not final yet: {not_final} day"
        assert (pending in shown) == bool(not_final), shown
    assert compared_any


def test_conversions_inside_the_attribution_window_make_no_change(demo_report, demo_warehouse, monkeypatch, tmp_path):
    page = write(monkeypatch, demo_warehouse, tmp_path / "r.html")
    final_days = query(demo_warehouse, "SELECT count(DISTINCT date) FILTER (WHERE is_final) FROM ad_account_daily "
                                       "WHERE date > ?", [DEMO_END - dt.timedelta(days=28)])[0][0]
    assert final_days == 0  # the last 28 days are all inside the demo's 30-day attribution window
    conversions = tile(page, "Conversions")
    assert "no change shown: no day of this period is final yet" in conversions and "%" not in conversions
    assert "not final yet: all 28 days, may still change" in conversions


def test_the_organic_totals_are_the_accounts_organic_content_type_and_the_cards_say_so(demo_report, demo_warehouse):
    organic, everything = query(demo_warehouse, """
        SELECT sum(impression) FILTER (WHERE content_type = 'ORGANIC'), sum(impression) FILTER (WHERE content_type = 'ALL')
        FROM user_account_daily WHERE split_field = 'NO_SPLIT' AND date BETWEEN ? AND ?""", [DEMO_START, DEMO_END])[0]
    assert organic < everything  # the demo account has ads: ALL counts their paid impressions too
    assert f'<span class="kpi-value" title="{organic:,.0f}">' in demo_report
    assert f'title="{everything:,.0f}"' not in demo_report
    assert "Account totals of <code>content_type = 'ORGANIC'</code>: organic activity only" in demo_report


def test_without_organic_rows_the_report_counts_the_all_content_type_and_says_so(monkeypatch, tmp_path):
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
        for content_type, impressions in (("ALL", 100), ("PAID", 60)):  # as loaded with PINTEREST_CONTENT_TYPES=ALL,PAID
            con.execute("INSERT INTO user_account_daily (date, user_id, split_field, split_value, content_type, "
                        "data_status, is_final, extracted_at, impression) "
                        "VALUES (?, '1', 'NO_SPLIT', 'ALL', ?, 'READY', true, now(), ?)", [DEMO_END, content_type, impressions])
    page = write(monkeypatch, tmp_path, tmp_path / "r.html", "--start", str(DEMO_END), "--end", str(DEMO_END))
    assert '<span class="kpi-value" title="100">' in page
    assert "Account totals of <code>content_type = 'ALL'</code>: paid activity included" in page


def test_the_default_range_is_the_last_28_days_of_data(demo_warehouse, monkeypatch, tmp_path):
    page = write(monkeypatch, demo_warehouse, tmp_path / "r.html")
    last = query(demo_warehouse, "SELECT max(date) FROM daily_status")[0][0]
    assert f"28 UTC days ({last - dt.timedelta(days=27)}..{last})" in page
    assert f"the 28 days before ({last - dt.timedelta(days=55)}..{last - dt.timedelta(days=28)})" in page
    assert len(marks(chart(page, "chart-freshness"), "mark day")) == 28


def test_the_default_range_ends_on_the_last_complete_day(demo_warehouse, monkeypatch, tmp_path):
    """With the clock two days earlier, the days after yesterday are not complete yet and are left out."""
    monkeypatch.setenv("PINTEREST_ETL_TODAY", str(DEMO_END - dt.timedelta(days=1)))
    page = write(monkeypatch, demo_warehouse, tmp_path / "r.html")
    end = DEMO_END - dt.timedelta(days=2)
    assert f"28 UTC days ({end - dt.timedelta(days=27)}..{end})" in page


def test_the_freshness_card_counts_the_days_that_may_change_per_source(demo_report, demo_warehouse):
    organic, ads = query(demo_warehouse, """
        SELECT count(DISTINCT date) FILTER (WHERE entity_type IN ('user_account', 'pin') AND NOT is_final),
               count(DISTINCT date) FILTER (WHERE entity_type NOT IN ('user_account', 'pin') AND NOT is_final)
        FROM daily_status WHERE date BETWEEN ? AND ?""", [DEMO_START, DEMO_END])[0]
    assert 0 < organic < 5 < ads  # days before a pin existed are final: only the last few organic days may change
    assert (f"May still change: organic numbers on {organic} of 35 days; ads numbers on {ads} of 35 days, as "
            "conversions still arrive inside the attribution window.") in demo_report


def test_text_from_the_warehouse_is_escaped_in_the_charts():
    hostile = '<script>alert("x")</script> & co'
    drawn = svg.ranked_bars("c", hostile, [svg.RankedBar('1"2', hostile, hostile, 5, hostile)], "save", hostile) + \
        svg.scatter("d", hostile, [svg.ScatterPoint("k", 1, 2, hostile, hostile)], hostile, hostile, "series0")
    assert "<script>" not in drawn and '1"2' not in drawn
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in drawn


def test_without_a_warehouse_the_command_fails_clearly_and_writes_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(tmp_path))
    assert main(["report"]) == 1
    error = capsys.readouterr().err
    assert error == (f"pinterest-etl report: error: no warehouse at {tmp_path / 'warehouse.duckdb'} yet; "
                     "run `pinterest-etl run` first\n")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_warehouse_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(tmp_path))
    assert main(["report"]) == 1
    assert capsys.readouterr().err == ("pinterest-etl report: error: the warehouse holds no daily rows of a complete "
                                       "day yet; run `pinterest-etl run` first\n")
    assert main(["report", "--start", "2026-11-01", "--end", "2026-11-07"]) == 1
    assert capsys.readouterr().err == ("pinterest-etl report: error: the warehouse has no daily rows from 2026-11-01 to "
                                       "2026-11-07 (it holds no daily rows yet); choose dates inside that range\n")
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("args, message", [
    (["--start", "2026-11-02", "--end", "2026-11-01"],
     "--start 2026-11-02 is after --end 2026-11-01; give a start on or before the end"),
    (["--start", "2025-01-01", "--end", "2025-01-31"],
     f"the warehouse has no daily rows from 2025-01-01 to 2025-01-31 (it holds {DEMO_START} to {DEMO_END}); "
     "choose dates inside that range"),
    (["--start", str(TODAY + dt.timedelta(days=3))],
     f"--start {TODAY + dt.timedelta(days=3)} is after the last complete day with data, {DEMO_END}; give --end too"),
], ids=["end-before-start", "no-data", "start-after-data"])
def test_a_range_it_cannot_report_is_refused_in_one_line(demo_warehouse, monkeypatch, tmp_path, capsys, args, message):
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(demo_warehouse))
    assert main(["report", "--output", str(tmp_path / "r.html"), *args]) == 1
    assert capsys.readouterr().err == f"pinterest-etl report: error: {message}\n"
    assert not (tmp_path / "r.html").exists()


def test_the_help_says_what_the_default_range_is_and_how_changes_compare(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the last 28 complete UTC days with data" in text and "over the days final in both" in text
    assert "--start YYYY-MM-DD" in text and "--end YYYY-MM-DD" in text


@pytest.mark.slow
def test_an_organic_only_run_renders_the_report_in_the_same_run_with_a_no_ads_panel(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path / "home", server, TODAY)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    start, end = TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1)
    assert run(start, end, only="organic") == 0
    report = tmp_path / "home" / "report.html"
    page = report.read_text(encoding="utf-8")
    assert 'id="ads-empty"' in page and "No ads data in this range" in page and "chart-scatter" not in page
    assert len(marks(chart(page, "chart-freshness"), "mark day")) == 7
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("pinterest_report"))
        warehouse_run = instance.get_latest_materialization_event(dg.AssetKey("organic_warehouse")).run_id
    metadata = event.asset_materialization.metadata
    assert metadata["path"].value == str(report.resolve())
    assert metadata["url"].value == report.resolve().as_uri()
    assert metadata["range"].value == f"{end - dt.timedelta(days=27)}..{end}"  # 28 days, whatever the run loaded
    assert metadata["rows_campaigns"].value == 0 and metadata["rows_freshness_days"].value == 7
    assert event.run_id == warehouse_run  # rendered in the run that loaded the warehouse


@pytest.mark.slow  # 3 s and more: run by CI's second phase (make test-slow)
def test_from_raw_and_load_render_the_report_again_without_api_calls(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    start, end = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
    assert run(start, end, only="organic") == 0
    calls = server_stats(server)["requests"]
    for rerun in ({"from_raw": True}, {"from_lake": True}):
        (tmp_path / "report.html").unlink()
        assert run(start, end, only="organic", **rerun) == 0
        assert 'id="chart-organic-impressions"' in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert server_stats(server)["requests"] == calls


def test_the_daily_job_renders_the_report_in_its_run(make_sandbox, monkeypatch, tmp_path):
    from pipelines.definitions import defs

    pipeline_env(monkeypatch, tmp_path, make_sandbox(), TODAY)
    start, end = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
    result = defs.resolve_job_def("pinterest_daily").execute_in_process(tags={
        "dagster/asset_partition_range_start": str(start), "dagster/asset_partition_range_end": str(end)})
    assert result.success
    reports = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("pinterest_report")]
    assert [e.partition for e in reports] == [None]  # not partitioned: once per run, whatever its range
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="chart-spend-conversions-usd"' in page
    # A 3-day run leaves the default report: the trailing 28 days, compared with the 28 before.
    assert f"28 UTC days ({end - dt.timedelta(days=27)}..{end})" in page
    assert f"the 28 days before ({end - dt.timedelta(days=55)}..{end - dt.timedelta(days=28)})" in page
    assert "no data for the 28 days before to compare" in page


@pytest.mark.slow
def test_a_ui_backfill_renders_the_report_in_the_run_of_the_warehouse_loads(make_sandbox, monkeypatch, tmp_path):
    """What the UI's "Materialize all" over a partition range does: an asset backfill run by the daemon. The
    unpartitioned dimensions get a run of their own, the partitioned assets one run for the range, and the
    (unpartitioned) report a run after it."""
    import logging
    import time

    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.instance_for_test import instance_for_test
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.backfill import execute_backfill_iteration

    from pipelines.definitions import defs

    pipeline_env(monkeypatch, tmp_path, make_sandbox(), TODAY)
    days = [str(TODAY - dt.timedelta(days=i)) for i in range(3, 0, -1)]
    launch_at_once = {"run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
                      "run_launcher": {"module": "dagster._core.launcher.sync_in_memory_run_launcher",
                                       "class": "SyncInMemoryRunLauncher"}}
    with instance_for_test(overrides=launch_at_once) as instance, create_test_daemon_workspace_context(
            ModuleTarget(module_name="pipelines.definitions", attribute="defs", working_directory=str(Path.cwd()),
                         location_name="pinterest"), instance) as workspace:
        graph = defs.resolve_asset_graph()
        instance.add_backfill(PartitionBackfill.from_asset_partitions(
            backfill_id="ui", asset_graph=graph, partition_names=days, asset_selection=list(graph.materializable_asset_keys),
            backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance, all_partitions=False,
            title=None, description=None, run_config=None))
        for _ in range(10):
            list(execute_backfill_iteration(workspace, logging.getLogger("backfill")))
            if instance.get_backfill("ui").status != BulkActionStatus.REQUESTED:
                break
        assert instance.get_backfill("ui").status == BulkActionStatus.COMPLETED_SUCCESS
        runs = {frozenset(k.to_user_string() for k in r.asset_selection): r for r in instance.get_runs()}
    partitioned = frozenset({"organic_raw", "top_pins_api", "organic_lake", "organic_warehouse", "ads_raw", "ads_lake",
                             "ads_warehouse"})
    assert len(runs) == 3 and partitioned in runs and frozenset({"pinterest_report"}) in runs
    assert runs[partitioned].tags["dagster/asset_partition_range_start"] == days[0]
    end = dt.date.fromisoformat(days[-1])  # a 3-day backfill still leaves the 28-day report
    assert f"28 UTC days ({end - dt.timedelta(days=27)}..{end})" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_a_range_of_final_days_says_so_and_shows_nothing_pending(demo_warehouse, monkeypatch, tmp_path):
    first, last = DEMO_START, DEMO_START + dt.timedelta(days=4)
    assert query(demo_warehouse, "SELECT bool_and(is_final) FROM daily_status WHERE date BETWEEN ? AND ?", [first, last])[0][0]
    page = write(monkeypatch, demo_warehouse, tmp_path / "r.html", "--start", str(first), "--end", str(last))
    assert "Every number of these days is final." in page and 'class="pending"' not in page


# Where the report may be written: never over the pipeline's data, never over a file it did not write unless --force,
# and nothing left behind when writing fails.

@pytest.fixture
def home(demo_warehouse, tmp_path) -> Path:
    """A PINTEREST_ETL_HOME with a copy of the demo warehouse, a lake, raw zone and tmp file, and a start_date file."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(demo_warehouse / "warehouse.duckdb", home / "warehouse.duckdb")
    for folder in ("lake", "raw", "tmp", "credentials"):
        (home / folder).mkdir()
        (home / folder / "report.html").write_text("pipeline data")
    (home / "start_date").write_text("2026-10-01")
    return home


def refused(monkeypatch, capsys, home: Path, output: Path, *args: str) -> str:
    """The one error line of a report command that must fail with exit 1."""
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(home))
    assert main(["report", "--output", str(output), *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pinterest-etl report: error: "), err
    return err.removeprefix("pinterest-etl report: error: ").rstrip("\n")


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["", "force"])
def test_the_report_never_overwrites_the_warehouse(home, monkeypatch, capsys, force):
    warehouse = home / "warehouse.duckdb"
    before = warehouse.read_bytes()
    message = refused(monkeypatch, capsys, home, warehouse, *force)
    assert message == f"refusing to write {warehouse}: it is the warehouse ({warehouse}); give another file name"
    assert warehouse.read_bytes() == before


@pytest.mark.parametrize("inside", ["lake/report.html", "raw/report.html", "tmp/report.html",
                                    "credentials/report.html", "start_date", "lake/new.html"])
def test_the_report_never_writes_inside_the_lake_raw_zone_or_the_data_directorys_other_files(home, monkeypatch, capsys,
                                                                                              inside):
    output = home / inside
    before = output.read_bytes() if output.exists() else None
    message = refused(monkeypatch, capsys, home, output, "--force")
    assert message.startswith(f"refusing to write {output}: it is inside the ") and "which only the pipeline writes" in message
    assert (output.read_bytes() if output.exists() else None) == before


def test_a_report_through_a_symlink_to_the_lake_is_refused(home, tmp_path, monkeypatch, capsys):
    (tmp_path / "elsewhere").symlink_to(home / "lake")
    message = refused(monkeypatch, capsys, home, tmp_path / "elsewhere" / "report.html", "--force")
    assert message.startswith(f"refusing to write {tmp_path / 'elsewhere' / 'report.html'}: it is inside the lake")
    assert (home / "lake" / "report.html").read_text() == "pipeline data"


def test_another_html_file_beside_the_warehouse_is_a_report_like_the_default(home, monkeypatch):
    assert write(monkeypatch, home, home / "october.html").startswith("<!DOCTYPE html>")


def test_an_output_that_is_a_directory_is_refused_in_one_line_and_leaves_nothing(home, tmp_path, monkeypatch, capsys):
    target = tmp_path / "out"
    target.mkdir()
    message = refused(monkeypatch, capsys, home, target, "--force")
    assert message == (f"refusing to write {target}: it is a directory, which is never replaced, even with --force; "
                       f"give a file name, for example {target / 'report.html'}")
    assert list(target.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["home", "out"]


def test_an_output_that_is_a_symlink_is_refused_even_with_force(home, tmp_path, monkeypatch, capsys):
    (tmp_path / "mine.html").write_text("mine")
    (tmp_path / "link.html").symlink_to(tmp_path / "mine.html")
    message = refused(monkeypatch, capsys, home, tmp_path / "link.html", "--force")
    assert message.startswith(f"refusing to write {tmp_path / 'link.html'}: it is a symbolic link, which is never replaced")
    assert (tmp_path / "link.html").is_symlink() and (tmp_path / "mine.html").read_text() == "mine"


def test_an_existing_file_that_is_not_a_report_is_replaced_only_with_force(home, tmp_path, monkeypatch, capsys):
    notes = tmp_path / "notes.html"
    notes.write_text("<!DOCTYPE html><title>My notes</title>")
    message = refused(monkeypatch, capsys, home, notes)
    assert message == (f"refusing to replace {notes}: it exists and is not a report of pinterest-etl; give --force to "
                       "replace it, or another file name")
    assert notes.read_text() == "<!DOCTYPE html><title>My notes</title>"
    assert "<title>Pinterest report " in write(monkeypatch, home, notes, "--force")


@pytest.mark.parametrize("made, force, refusal", [
    ("file", (), "it exists and is not a report of pinterest-etl"),
    ("symlink", ("--force",), "it is a symbolic link"),
], ids=["file", "symlink-with-force"])
def test_what_is_made_at_the_output_while_the_report_is_built_is_refused_and_kept(home, tmp_path, monkeypatch, capsys,
                                                                               made, force, refusal):
    """The output is checked again just before the page is put in place: a file another program wrote there while
    the report was being built (here: during rendering) is not replaced without --force, nor a link ever."""
    import pipelines.report as report

    output, render = tmp_path / "out.html", report.render_report

    def render_while_another_program_writes(*args, **kwargs):
        if made == "file":
            output.write_text("written meanwhile")
        else:
            output.symlink_to(tmp_path / "elsewhere.html")
        return render(*args, **kwargs)

    monkeypatch.setattr(report, "render_report", render_while_another_program_writes)
    message = refused(monkeypatch, capsys, home, output, *force)
    assert refusal in message and message.startswith("refusing to")
    assert output.is_symlink() if made == "symlink" else output.read_text() == "written meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "out.html"]


def test_an_earlier_report_is_replaced_without_force(home, tmp_path, monkeypatch):
    output = tmp_path / "r.html"
    write(monkeypatch, home, output, "--start", str(DEMO_END), "--end", str(DEMO_END))
    page = write(monkeypatch, home, output, "--start", str(DEMO_END - dt.timedelta(days=1)), "--end", str(DEMO_END))
    assert f"<title>Pinterest report {DEMO_END - dt.timedelta(days=1)}..{DEMO_END}</title>" in page


def test_a_failed_write_names_the_path_and_leaves_no_partial_file(home, tmp_path, monkeypatch, capsys):
    (tmp_path / "a-file").write_text("x")
    output = tmp_path / "a-file" / "report.html"
    message = refused(monkeypatch, capsys, home, output)
    assert message == (f"could not write the report to {output}: a part of the path is a file, not a directory; "
                       "nothing was written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "home"]


# After the attribution settings changed: the report counts each ad account and day under the setting of its newest
# extraction, as the reporting views do, and says the range mixes settings.

DEFAULT_SETTING, OTHER_SETTING = ("CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION",
                                  "CLICK_7D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION")


def repull_under_another_setting(con, first: dt.date, last: dt.date) -> None:
    """As a re-run of first..last with PINTEREST_ADS_CLICK_WINDOW_DAYS=7 leaves them: a second set of ads rows,
    extracted later, under another attribution setting."""
    for table in ("ad_account_daily", "campaign_daily", "ad_group_daily", "ad_daily"):
        con.execute(f"INSERT INTO {table} SELECT * REPLACE (? AS attribution, extracted_at + INTERVAL 1 HOUR AS "
                    f"extracted_at) FROM {table} WHERE date BETWEEN ? AND ?", [OTHER_SETTING, first, last])


def test_after_an_attribution_change_the_ads_tiles_and_campaigns_equal_the_views(home):
    """Before: the report kept only the rows of the newest setting (the 3 days re-pulled) for the whole range, and
    said there was no data in the 28 days before."""
    r = DateRange(DEMO_END - dt.timedelta(days=27), DEMO_END)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        repull_under_another_setting(con, DEMO_END - dt.timedelta(days=2), DEMO_END)
        views = dict(con.execute("SELECT currency, sum(spend)::DOUBLE FROM campaign_performance "
                                 "WHERE date BETWEEN ? AND ? GROUP BY 1", [r.start, r.end]).fetchall())
        per_campaign = con.execute("SELECT campaign_id, sum(spend)::DOUBLE, sum(conversions)::DOUBLE, count(*) "
                                   "FROM campaign_performance WHERE date BETWEEN ? AND ? GROUP BY 1 ORDER BY 1",
                                   [r.start, r.end]).fetchall()
        accounts = con.execute("SELECT count(DISTINCT ad_account_id) FROM ad_account_daily").fetchone()[0]
        superseded = con.execute("SELECT count(*) FROM campaign_daily WHERE date >= ? AND attribution <> ?",
                                 [DEMO_END - dt.timedelta(days=2), OTHER_SETTING]).fetchone()[0]
        data = load_report_data(con, r)
    spend = [k for k in data.kpis if k.label == "Ad spend"]
    assert {k.currency: k.value for k in spend} == pytest.approx(views, rel=1e-9)
    assert not any("no data for the 28 days before" in k.not_compared for k in spend)
    assert sorted((c.campaign_id, c.spend, c.conversions, c.days) for c in data.campaigns) == per_campaign
    assert list(data.attributions.items()) == [(OTHER_SETTING, 3 * accounts), (DEFAULT_SETTING, 25 * accounts)]
    assert data.other_attribution_rows == superseded > 0


def test_the_ads_card_says_when_the_range_mixes_attribution_settings(home, monkeypatch, tmp_path):
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        repull_under_another_setting(con, DEMO_END - dt.timedelta(days=2), DEMO_END)
        superseded = con.execute("SELECT count(*) FROM campaign_daily WHERE date >= ? AND attribution <> ?",
                                 [DEMO_END - dt.timedelta(days=2), OTHER_SETTING]).fetchone()[0]
        accounts = con.execute("SELECT count(DISTINCT ad_account_id) FROM ad_account_daily").fetchone()[0]
    page = html.unescape(re.sub(r"<[^>]+>", "", write(monkeypatch, home, tmp_path / "r.html")))
    assert (f"The attribution settings changed inside this range: its conversions are counted under different windows "
            f"({OTHER_SETTING} on {3 * accounts} account-days; {DEFAULT_SETTING} on {25 * accounts} account-days; "
            "newest first).") in page
    assert f"{superseded} campaign-day rows of this range, loaded under a setting replaced since, are not shown" in page


def test_conversions_under_other_attribution_settings_make_no_change_but_spend_does(home):
    """Days final in both periods, the current ones re-pulled under a 7-day click window: their conversions count
    other windows than the days before, so no change is shown for them; spend is not attributed and is compared."""
    r = DateRange(DEMO_START + dt.timedelta(days=4), DEMO_START + dt.timedelta(days=7))
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("UPDATE ad_account_daily SET is_final = true")
        repull_under_another_setting(con, r.start, r.end)
        data = load_report_data(con, r)
    conversions = next(k for k in data.kpis if k.label == "Conversions")
    assert conversions.change is None
    assert conversions.not_compared == (f"not comparable: counted under attribution {DEFAULT_SETTING} before, "
                                        f"{OTHER_SETTING} now")
    assert all(k.change is not None and k.change.days == 4 for k in data.kpis if k.label == "Ad spend")


def test_a_campaign_that_spent_without_checkouts_shows_checkout_value_and_roas_zero(demo_report, demo_warehouse):
    """As the views: the ads API omits a zero checkout value; the report showed "–" for it."""
    rows = query(demo_warehouse, "SELECT campaign_id, currency FROM campaign_performance WHERE date BETWEEN ? AND ? "
                                 "GROUP BY ALL HAVING sum(spend) > 0 AND sum(checkout_value) = 0", [DEMO_START, DEMO_END])
    assert rows
    table = re.search(r'<table id="campaigns-table">.*?</table>', demo_report, re.DOTALL).group(0)
    for campaign_id, currency in rows:
        row = re.search(rf"<tr><td>[^<]*<br><small class=sub>{campaign_id}</small>.*?</tr>", table).group(0)
        cells = re.findall(r"<td>(.*?)</td>", row)
        assert cells[5:7] == [f"0.00 {currency}", "0.00"], cells


def _one_error_line(monkeypatch, capsys, home: Path, *args: str) -> str:
    """The command's one error line; its exit code is that of a refused output (report 1, sql 2)."""
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(home))
    assert main(list(args)) == (2 if args[0] == "sql" else 1)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and " error: " in err, err
    return err


@pytest.mark.parametrize("command", [["report", "--output"], ["sql", "SELECT 1", "--csv"]], ids=["report", "sql"])
@pytest.mark.parametrize("inside", ["", "r.html"], ids=["loop", "under-loop"])
def test_an_output_through_a_symlink_loop_fails_in_one_line(tmp_path, monkeypatch, capsys, command, inside):
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "data").mkdir()
    err = _one_error_line(monkeypatch, capsys, tmp_path / "data", *command, str(tmp_path / "loop1" / inside))
    assert "its path cannot be followed" in err


def test_a_failed_write_leaves_no_folders_it_created(tmp_path):
    from pipelines.report.output import ReportWriteError, write_whole

    output = tmp_path / "newA" / "newB" / ("x" * 300 + ".html")  # too long a name: fails after the folders are made
    with pytest.raises(ReportWriteError, match="nothing was written"):
        write_whole(output, "<!DOCTYPE html>")
    assert list(tmp_path.iterdir()) == []


def _forget_conversions(con, first: dt.date, last: dt.date) -> None:
    """As a re-pull of those days with PINTEREST_ADS_COLUMNS without TOTAL_CONVERSIONS leaves them."""
    for table in ("ad_account_daily", "campaign_daily", "ad_group_daily", "ad_daily"):
        con.execute(f"UPDATE {table} SET total_conversions = NULL WHERE date BETWEEN ? AND ?", [first, last])


def test_conversions_not_requested_are_unknown_in_the_report_not_zero(home):
    r = DateRange(TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1))
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        _forget_conversions(con, r.start, r.end)
        data = load_report_data(con, r)
    tiles = [k for k in data.kpis if k.label == "Conversions"]
    assert tiles and tiles[0].value is None and tiles[0].change is None
    assert data.campaigns and all(c.conversions is None for c in data.campaigns)
    from pipelines.report.render import render_report

    page = render_report(data, dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc), str(home / "warehouse.duckdb"))
    assert "Conversions were not requested" in page and "chart-spend-conversions" not in page


def test_a_change_never_compares_unrequested_conversions_with_measured_ones(home):
    r = DateRange(TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1))
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("UPDATE ad_account_daily SET is_final = true")
        _forget_conversions(con, r.start, r.end)
        data = load_report_data(con, r)
    assert next(k for k in data.kpis if k.label == "Conversions").change is None
