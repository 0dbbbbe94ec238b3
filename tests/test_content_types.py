"""User-account totals per content_type (ALL, ORGANIC, PAID): the simulator, the setting, the calls, the key column,
lakes written before it, and the warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import catalog, settings
from pipelines.analyst_sql import named_queries, open_read_only
from pipelines.api_enums import USER_ACCOUNT_METRIC_TYPES
from pipelines.lake import Lake, keyed
from pipelines.organic.dimensions import extract_dimensions
from pipelines.organic.extract import ContentTypeRefusedError, PinRef, extract_organic, plan_organic
from pipelines.organic.source import ORGANIC
from pipelines.pinterest.errors import InvalidRequestError
from pipelines.planning import DateRange
from pipelines.quality import ADDITIVE_ACCOUNT_METRICS, ORGANIC_CHECKS
from pipelines.raw_zone import RawZone
from pipelines.report import ReportError, write_report
from pipelines.report.data import load_report_data
from pipelines.run_settings import check_all
from pipelines.run_summary import EXAMPLE_QUERIES
from pipelines.sandbox.organic_model import COUNT_METRICS, RATIO_METRICS
from pipelines.tables import DAILY_STATUS, METRIC_DAILY, duckdb_columns
from pipelines.transform import normalize_range
from pipelines.warehouse import DIMENSIONS, OutdatedWarehouseError, Warehouse
from tests.client_support import make_client, server_stats
from tests.conftest import TODAY
from tests.content_type_proxy_support import ContentTypeProxy
from tests.pipeline_support import pipeline_env, query, run

START, END = TODAY - dt.timedelta(days=20), TODAY - dt.timedelta(days=5)  # READY days only
USER = "1234"
# The counts and ratios user-account analytics have (ENGAGEMENT: the sum of its parts, a count too).
ACCOUNT_COUNTS = [m for m in (*COUNT_METRICS, "ENGAGEMENT") if m in USER_ACCOUNT_METRIC_TYPES]
ACCOUNT_RATIOS = {r: parts for r, parts in RATIO_METRICS.items() if r in USER_ACCOUNT_METRIC_TYPES}


def account_answer(api, server, content_type: str | None, **params) -> dict:
    query_params = {"start_date": START.isoformat(), "end_date": END.isoformat(), **params,
                    **({"content_type": content_type} if content_type else {})}
    response = api.get(f"{server.base_url}/user_account/analytics", params=query_params)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_simulators_all_is_organic_plus_paid_for_every_count_and_rates_are_recomputed(sandbox, api):
    answers = {ct: account_answer(api, sandbox, ct)["all"] for ct in ("ALL", "ORGANIC", "PAID")}
    for day in range((END - START).days + 1):
        total, organic, paid = (answers[ct]["daily_metrics"][day]["metrics"] for ct in ("ALL", "ORGANIC", "PAID"))
        assert {m: total[m] for m in ACCOUNT_COUNTS} == {m: organic[m] + paid[m] for m in ACCOUNT_COUNTS}
        for ratio, (numerator, denominator) in ACCOUNT_RATIOS.items():
            assert total[ratio] == pytest.approx(total[numerator] / total[denominator] if total[denominator] else 0)
    assert answers["PAID"]["summary_metrics"]["IMPRESSION"] > 0  # the default world's user owns an ad account
    assert answers["ORGANIC"]["summary_metrics"]["IMPRESSION"] < answers["ALL"]["summary_metrics"]["IMPRESSION"]


def test_the_simulators_default_content_type_is_all(sandbox, api):
    assert account_answer(api, sandbox, None) == account_answer(api, sandbox, "ALL")


def test_the_simulators_split_buckets_of_all_are_their_organic_plus_their_paid_buckets(sandbox, api):
    answers = {ct: account_answer(api, sandbox, ct, split_field="APP_TYPE") for ct in ("ALL", "ORGANIC", "PAID")}
    assert set(answers["ALL"]) == {"MOBILE", "WEB", "TABLET"}
    for bucket, block in answers["ALL"].items():
        assert block["summary_metrics"]["IMPRESSION"] == (answers["ORGANIC"][bucket]["summary_metrics"]["IMPRESSION"]
                                                          + answers["PAID"][bucket]["summary_metrics"]["IMPRESSION"])


def test_the_simulators_paid_activity_is_zero_for_a_user_without_ads(make_sandbox, api):
    server = make_sandbox(ad_accounts=0)
    paid = account_answer(api, server, "PAID")["all"]["summary_metrics"]
    assert {m: paid[m] for m in ACCOUNT_COUNTS} == dict.fromkeys(ACCOUNT_COUNTS, 0)
    assert account_answer(api, server, "ALL") == account_answer(api, server, "ORGANIC")


def test_the_simulator_refuses_a_content_type_outside_the_enum(sandbox, api):
    response = api.get(f"{sandbox.base_url}/user_account/analytics",
                       params={"start_date": START.isoformat(), "end_date": END.isoformat(), "content_type": "BOOSTED"})
    assert response.status_code == 400 and response.json()["code"] == 1 and "content_type" in response.json()["message"]


def test_content_types_default_to_all_organic_and_paid():
    assert settings.content_types({}) == ("ALL", "ORGANIC", "PAID")
    assert settings.content_types({"PINTEREST_CONTENT_TYPES": " ORGANIC, ORGANIC"}) == ("ORGANIC",)


@pytest.mark.parametrize("value", ["ALL,BOOSTED", "", "organic"])
def test_an_unknown_content_type_is_refused_before_any_call_naming_the_variable_and_the_values(value):
    with pytest.raises(settings.SettingsError) as refused:
        check_all({"PINTEREST_CONTENT_TYPES": value})
    assert str(refused.value).startswith("PINTEREST_CONTENT_TYPES: expected a comma-separated list of ALL, PAID, ORGANIC")


def test_user_account_calls_are_planned_once_per_content_type_and_split():
    pins = [PinRef(str(10**17 + i), False) for i in range(150)]
    plan = plan_organic(DateRange(START, END), TODAY, pins, ("APP_TYPE", "SOURCE"), ("ALL", "ORGANIC", "PAID"))
    assert plan.analytics_calls == 3 * (1 + 2) + 2


def test_extraction_sends_each_content_type_explicitly_once_per_split(make_sandbox, tmp_path):
    server = make_sandbox(pins=0)
    plan = plan_organic(DateRange(START, END), TODAY, [], ("APP_TYPE",), ("ALL", "ORGANIC", "PAID"))
    raw = RawZone(tmp_path / "raw")
    with make_client(server) as client:
        extract_organic(client, raw, plan, USER)
    assert server_stats(server)["requests"]["user_account/analytics"] == 6
    sent = sorted((r.params["content_type"], r.params["split_field"]) for r in raw.records("user_account/analytics",
                                                                                            DateRange(START, END)))
    assert sent == [(ct, split) for ct in ("ALL", "ORGANIC", "PAID") for split in ("APP_TYPE", "NO_SPLIT")]


def old_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([field for field in schema if field.name != "content_type"])


def write_old_lake_file(lake: Lake, table: str, rows: list[dict], schema: pa.Schema) -> None:
    """A file of the long lake layout as written before content_type existed (no checksum file: as old as checksums
    too)."""
    path = lake.path(table, END, keyed("organic", f"user={USER}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, old_schema(schema)), path)


def lake_files(lake: Lake) -> list[str]:
    return [str(path.relative_to(lake.root)) for path in lake.all_files()]


def test_a_long_layout_lake_written_before_content_types_is_converted_by_the_load_with_its_rows_as_all(tmp_path):
    lake = Lake(tmp_path / "lake")
    moment = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)
    key = {"date": END, "entity_type": "user_account", "entity_id": USER, "split_field": "NO_SPLIT", "split_value": "ALL"}
    write_old_lake_file(lake, "daily_status", [{**key, "data_status": "READY", "is_final": True, "extracted_at": moment}],
                        DAILY_STATUS)
    write_old_lake_file(lake, "metric_daily", [{**key, "metric": "IMPRESSION", "value": 7.0, "data_status": "READY",
                                                "is_final": True, "extracted_at": moment}], METRIC_DAILY)
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    loaded = warehouse.load(lake, "organic", ("user_account", "pin"), [END], checks=ORGANIC_CHECKS)
    assert lake_files(lake) == [f"{table}/date={END}/organic.user={USER}.parquet" for table in ("pin_daily",
                                                                                               "user_account_daily")]
    assert loaded.rows == {"metric_daily": 1, "daily_status": 1, "user_account_daily": 1, "pin_daily": 0}
    assert all(outcome.passed for outcome in loaded.checks if outcome.check.blocking)
    with warehouse.connect(read_only=True) as con:
        assert con.execute("SELECT content_type, impression FROM user_account_daily").fetchall() == [("ALL", 7)]


def test_a_long_layout_file_written_before_content_types_converts_to_a_wide_file_with_content_type_all_after_split_value(
        tmp_path):
    lake = Lake(tmp_path / "lake")
    moment = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)
    key = {"date": END, "entity_type": "user_account", "entity_id": USER, "split_field": "NO_SPLIT", "split_value": "ALL"}
    write_old_lake_file(lake, "daily_status", [{**key, "data_status": "READY", "is_final": True, "extracted_at": moment}],
                        DAILY_STATUS)
    assert lake.convert_long_layout() == 1
    table = catalog.FACT_TABLES["user_account_daily"]
    [path] = lake.files(table.name, [END], "organic")
    rows = pq.read_table(path)
    assert rows.schema.names == ["date", "user_id", "split_field", "split_value", "content_type", "data_status",
                                 "is_final", "extracted_at", *(metric.lower() for metric in USER_ACCOUNT_METRIC_TYPES)]
    assert rows.select(table.key).to_pylist() == [
        {"date": END, "user_id": USER, "split_field": "NO_SPLIT", "split_value": "ALL", "content_type": "ALL"}]
    assert lake.files("daily_status", [END], "organic") == []


def test_a_legacy_pin_file_trimmed_by_a_new_normalization_keeps_its_columns_and_loads(make_sandbox, tmp_path):
    """content_type is added only to long-layout files written before it existed: pins have no content type, and a
    pin_daily file of the legacy layout (named after an account) keeps, once the identity's file of its date holds
    the other pins, the row of a pin no answer holds any more, with the columns it had."""
    server = make_sandbox(pins=5)
    raw, lake = RawZone(tmp_path / "raw"), Lake(tmp_path / "lake")
    with make_client(server) as client:
        pins = extract_dimensions(client, raw).pin_refs()
        extract_organic(client, raw, plan_organic(DateRange(END, END), TODAY, pins, (), ("ALL",)),
                        server.state.world.user_id)
    normalize_range([raw], lake, DateRange(END, END), ORGANIC, TODAY)
    [identity_file] = lake.files("pin_daily", [END], "organic")
    rows = pq.read_table(identity_file)
    deleted_pin = rows.slice(0, 1).set_column(rows.schema.get_field_index("pin_id"), "pin_id", pa.array(["999"]))
    legacy = lake.path("pin_daily", END, "organic")
    lake.commit([lake.stage_rows("pin_daily", END, "organic", pa.concat_tables([rows, deleted_pin]))], [identity_file])

    normalize_range([raw], lake, DateRange(END, END), ORGANIC, TODAY)

    assert lake.files("pin_daily", [END], "organic") == [legacy, identity_file]
    assert pq.read_schema(legacy).names == rows.schema.names
    assert pq.read_table(legacy, columns=["pin_id"]).column("pin_id").to_pylist() == ["999"]
    loaded = Warehouse(tmp_path / "warehouse.duckdb").load(lake, "organic", ("user_account", "pin"), [END])
    assert loaded.rows["pin_daily"] == len(pins) + 1


def test_a_warehouse_created_before_content_types_gets_the_column_with_its_rows_as_all(tmp_path):
    """Its first load converts it in place (the lake has nothing for END: START's row comes from the warehouse)."""
    warehouse = old_warehouse(tmp_path, START)
    warehouse.load(Lake(tmp_path / "lake"), "organic", ("user_account", "pin"), [END])
    with warehouse.connect(read_only=True) as con:
        assert [r[0] for r in con.execute("DESCRIBE daily_status").fetchall()] == DAILY_STATUS.names
        assert con.execute("SELECT date, content_type FROM daily_status").fetchall() == [(START, "ALL")]
        assert con.execute("SELECT date, content_type, impression FROM user_account_daily").fetchall() == \
            [(START, "ALL", 7)]
        assert table_types(con, "metric_daily", "daily_status", *catalog.FACT_TABLES) == {
            "metric_daily": "VIEW", "daily_status": "VIEW", **dict.fromkeys(catalog.FACT_TABLES, "BASE TABLE")}


def test_the_pipeline_stores_each_content_type_per_day_and_all_is_organic_plus_paid(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox(pins=20, boards=2)
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(START, END) == 0
    days = (END - START).days + 1
    rows = query(tmp_path, "SELECT content_type, split_field, count(*) FROM user_account_daily GROUP BY ALL ORDER BY ALL")
    assert rows == [(ct, split, days * buckets) for ct in ("ALL", "ORGANIC", "PAID")
                    for split, buckets in (("APP_TYPE", 3), ("NO_SPLIT", 1))]
    assert query(tmp_path, "SELECT DISTINCT content_type FROM pin_daily JOIN daily_status s USING (date) "
                           "WHERE s.entity_type = 'pin'") == [("ALL",)]
    mismatched = query(tmp_path, """
        SELECT date FROM user_account_daily WHERE split_field = 'NO_SPLIT' GROUP BY date
        HAVING sum(impression) FILTER (WHERE content_type = 'ALL')
               <> sum(impression) FILTER (WHERE content_type IN ('ORGANIC', 'PAID'))""")
    assert mismatched == []


# --- after the upgrade, and against an API that treats content_type differently ---------------------------------

def stored_account_days(con, days: list[dt.date], content_type: str, impressions: int) -> None:
    """Unsplit, READY user-account rows of `content_type` for `days`, with `impressions` a day."""
    for day in days:
        con.execute("INSERT INTO user_account_daily (date, user_id, split_field, split_value, content_type, data_status, "
                    "is_final, extracted_at, impression) VALUES (?, ?, 'NO_SPLIT', 'ALL', ?, 'READY', true, now(), ?)",
                    [day, USER, content_type, impressions])


def days_of(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(count)]


def old_wide_view(table: catalog.FactTable) -> str:
    """A wide relation as the version before content types defined it: a view pivoting the long tables (of its
    metrics, impressions only)."""
    return (f"CREATE VIEW {table.name} AS SELECT s.date, s.entity_id AS {table.id_column}, s.split_field, "
            "s.split_value, s.data_status, s.is_final, max(m.value) FILTER (WHERE m.metric = 'IMPRESSION') AS impression, "
            "s.extracted_at FROM daily_status s "
            "LEFT JOIN metric_daily m USING (date, entity_type, entity_id, split_field, split_value) "
            f"WHERE s.entity_type = '{table.entity_type}' GROUP BY ALL")


def old_warehouse(home: Path, day: dt.date = END) -> Warehouse:
    """A warehouse as the version before content types wrote it (the long layout): the dimension tables, the fact
    tables metric_daily and daily_status without content_type, the wide relations as views over them, and one
    unsplit, READY user-account row of `day` with 7 impressions."""
    warehouse = Warehouse(home / "warehouse.duckdb")
    with warehouse.connect() as con:
        for name, schema in DIMENSIONS.items():
            con.execute(f"CREATE TABLE {name} ({duckdb_columns(schema)})")
        for table, schema in (("daily_status", DAILY_STATUS), ("metric_daily", METRIC_DAILY)):
            con.execute(f"CREATE TABLE {table} ({duckdb_columns(old_schema(schema))})")
        for table in catalog.FACT_TABLES.values():
            con.execute(old_wide_view(table))
        key = [day, "user_account", USER, "NO_SPLIT", "ALL"]
        con.execute("INSERT INTO daily_status VALUES (?, ?, ?, ?, ?, 'READY', true, now())", key)
        con.execute("INSERT INTO metric_daily VALUES (?, ?, ?, ?, ?, 'IMPRESSION', 7, 'READY', true, now())", key)
    return warehouse


def table_types(con, *names: str) -> dict[str, str]:
    """Whether each named relation is a BASE TABLE or a VIEW."""
    return dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                            "WHERE table_name IN (SELECT unnest(?::VARCHAR[]))", [list(names)]).fetchall())


def test_read_only_commands_refuse_a_warehouse_written_before_content_types_in_one_line_naming_the_load(tmp_path):
    warehouse = old_warehouse(tmp_path)
    fix = f"pinterest-etl load --start {END} --end {END}"
    with pytest.raises(OutdatedWarehouseError) as refused:
        open_read_only(tmp_path)  # `sql` and `dictionary`
    assert str(refused.value) == (
        f"the warehouse {(tmp_path / 'warehouse.duckdb').resolve()} was written by an earlier version of pinterest-etl "
        "(its facts are in the long layout (metric_daily and daily_status as tables, the wide tables as views)); "
        f"update it without API calls (its data is kept), then try again: {fix}")
    assert "\n" not in str(refused.value)
    with pytest.raises(ReportError, match=fix):
        write_report(warehouse, tmp_path / "report.html")


def test_the_load_a_refusal_names_brings_an_old_warehouse_up_to_date_for_the_read_only_commands(tmp_path):
    warehouse = old_warehouse(tmp_path)
    warehouse.load(Lake(tmp_path / "lake"), "organic", ("user_account", "pin"), [END])
    # The lake has nothing of END: the warehouse keeps its row of END (converted, content type ALL), all there is of it.
    with open_read_only(tmp_path) as con:
        assert con.execute("SELECT content_type FROM daily_status").fetchall() == [("ALL",)]
        assert con.execute("SELECT impression FROM user_account_organic_daily").fetchall() == [(7,)]
    assert write_report(warehouse, tmp_path / "report.html", START, END).row_counts["trend_days"] == 1


def switched_warehouse(home: Path) -> tuple[Warehouse, list[dt.date], list[dt.date]]:
    """Seven days of ALL (stored before the upgrade: paid included), then seven of ORGANIC and ALL."""
    warehouse = Warehouse(home / "warehouse.duckdb")
    before, after = days_of(END - dt.timedelta(days=13), 7), days_of(END - dt.timedelta(days=6), 7)
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
        stored_account_days(con, before, "ALL", 1000)
        stored_account_days(con, after, "ALL", 1000)
        stored_account_days(con, after, "ORGANIC", 160)
    return warehouse, before, after


def test_the_report_never_compares_organic_totals_with_a_period_of_paid_inclusive_totals(tmp_path):
    warehouse, before, after = switched_warehouse(tmp_path)
    with warehouse.connect(read_only=True) as con:
        kpis = load_report_data(con, DateRange(after[0], after[-1])).kpis
    impressions = next(k for k in kpis if k.label == "Impressions")
    assert (impressions.value, impressions.previous) == (7 * 160, None)
    assert impressions.not_compared.startswith("not comparable: content_type ALL before (paid activity included)")
    page = write_report(warehouse, tmp_path / "report.html", after[0], after[-1]).path.read_text()
    assert "not comparable: content_type ALL before" in page and "▼" not in page


def test_the_report_trend_names_the_days_whose_totals_include_paid_activity(tmp_path):
    warehouse, before, after = switched_warehouse(tmp_path)
    page = write_report(warehouse, tmp_path / "report.html", before[0], after[-1]).path.read_text()
    assert f"7 day(s) with <code>'ALL'</code>, {before[0]}..{before[-1]}" in page
    assert f"{after[0]}: 160 impressions (READY; content_type ORGANIC)" in page


def test_the_organic_view_takes_organic_where_stored_and_all_elsewhere_so_history_is_kept(tmp_path):
    _, before, after = switched_warehouse(tmp_path)
    rows = query(tmp_path, "SELECT content_type, count(*), sum(impression) FROM user_account_organic_daily GROUP BY 1")
    assert sorted(rows) == [("ALL", 7, 7000.0), ("ORGANIC", 7, 1120.0)]


def test_week_over_week_keeps_the_history_before_content_types_and_computes_no_change_across_the_switch(tmp_path):
    switched_warehouse(tmp_path)
    sql = named_queries((Path(__file__).resolve().parents[1] / "docs" / "queries.sql").read_text())["impressions_week_over_week"]
    with open_read_only(tmp_path) as con:
        rows = con.execute(f"SELECT content_types, impressions, change_per_day FROM ({sql})").fetchall()
    assert rows == [("ALL", 7000.0, None), ("ORGANIC", 1120.0, None)]


def test_the_runs_example_query_reads_the_organic_totals_of_a_warehouse_holding_all_only(tmp_path):
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
        stored_account_days(con, days_of(START, 3), "ALL", 50)
        assert len(con.execute(EXAMPLE_QUERIES["organic"]).fetchall()) == 3


def test_the_report_counts_each_entity_day_once_in_its_freshness(tmp_path):
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
        for content_type in ("ALL", "ORGANIC", "PAID"):
            stored_account_days(con, [END], content_type, 10)
        freshness = load_report_data(con, DateRange(END, END)).freshness
    assert [(d.organic_final, d.organic_not_final) for d in freshness] == [(1, 0)]


def test_content_types_without_organic_or_all_are_refused_before_any_call_naming_what_reads_them():
    with pytest.raises(settings.SettingsError) as refused:
        check_all({"PINTEREST_CONTENT_TYPES": "PAID"})
    assert str(refused.value).startswith("PINTEREST_CONTENT_TYPES: PAID leaves out both ORGANIC and ALL")
    assert "the report" in str(refused.value)


def load_extracted(server, home: Path, base_url: str, content_types=("ALL", "ORGANIC", "PAID")):
    """Extract the unsplit account totals of START..END through `base_url`, normalize them and load them with the
    organic checks; returns the load's check outcomes by name."""
    raw = RawZone(home / "raw")
    with make_client(server, base_url=base_url) as client:
        extract_organic(client, raw, plan_organic(DateRange(START, END), TODAY, [], (), content_types), USER)
    lake = Lake(home / "lake")
    normalize_range([raw], lake, DateRange(START, END), ORGANIC, TODAY)
    loaded = Warehouse(home / "warehouse.duckdb").load(lake, "organic", ("user_account", "pin"),
                                                       DateRange(START, END).dates(), checks=ORGANIC_CHECKS)
    return {outcome.check.name: outcome for outcome in loaded.checks}


def test_content_types_that_add_up_pass_the_additivity_check(make_sandbox, tmp_path):
    server = make_sandbox(pins=0)
    assert load_extracted(server, tmp_path, server.base_url)["content_types_add_up"].passed


def test_an_api_ignoring_content_type_is_flagged_by_a_warning_naming_the_cause_and_the_probe(make_sandbox, tmp_path):
    server = make_sandbox(pins=0)
    with ContentTypeProxy(server.root_url, ignore=True) as proxy:
        outcome = load_extracted(server, tmp_path, proxy.base_url)["content_types_add_up"]
    assert not outcome.check.blocking
    assert outcome.violations == ((END - START).days + 1) * len(ADDITIVE_ACCOUNT_METRICS)  # every day, every count
    assert "ignored content_type" in outcome.check.description and "pinterest-etl probe" in outcome.check.description


def lake_content_types(lake: Lake) -> list[tuple[str, int]]:
    rows = pa.concat_tables([pq.read_table(p) for p in lake.files("user_account_daily", DateRange(START, END).dates(),
                                                                  "organic")])
    counts = rows.group_by("content_type").aggregate([("date", "count")]).to_pylist()
    return sorted((row["content_type"], row["date_count"]) for row in counts)


def test_renormalizing_after_narrowing_the_content_types_keeps_only_the_configured_ones(make_sandbox, monkeypatch,
                                                                                        tmp_path):
    server = make_sandbox(pins=0)
    raw, lake = RawZone(tmp_path / "raw"), Lake(tmp_path / "lake")
    with make_client(server) as client:
        extract_organic(client, raw, plan_organic(DateRange(START, END), TODAY, [], (), ("ALL", "ORGANIC", "PAID")), USER)
    days = (END - START).days + 1
    normalize_range([raw], lake, DateRange(START, END), ORGANIC, TODAY)
    assert lake_content_types(lake) == [("ALL", days), ("ORGANIC", days), ("PAID", days)]
    monkeypatch.setenv("PINTEREST_CONTENT_TYPES", "ORGANIC")
    normalize_range([raw], lake, DateRange(START, END), ORGANIC, TODAY)
    assert lake_content_types(lake) == [("ORGANIC", days)]


def test_an_answer_stored_without_content_type_is_normalized_as_all(api, sandbox, monkeypatch, tmp_path):
    raw, lake = RawZone(tmp_path / "raw"), Lake(tmp_path / "lake")
    params = {"start_date": START.isoformat(), "end_date": END.isoformat(), "split_field": "NO_SPLIT"}
    body = api.get(f"{sandbox.base_url}/user_account/analytics", params=params).content
    raw.write("user_account/analytics", body, params=params, window=DateRange(START, END), context={"user_id": USER},
              fetched_at=dt.datetime.now(dt.timezone.utc), request_id=None)
    monkeypatch.setenv("PINTEREST_CONTENT_TYPES", "ALL")
    normalize_range([raw], lake, DateRange(START, END), ORGANIC, TODAY)
    assert lake_content_types(lake) == [("ALL", (END - START).days + 1)]
    monkeypatch.setenv("PINTEREST_CONTENT_TYPES", "ORGANIC,PAID")
    assert normalize_range([raw], lake, DateRange(START, END), ORGANIC, TODAY).status_rows == 0


def test_the_stale_rows_check_says_how_rows_of_a_dropped_content_type_go():
    stale = next(check for check in ORGANIC_CHECKS if check.name == "no_stale_preliminary_rows")
    assert "PINTEREST_CONTENT_TYPES" in stale.description and "pinterest-etl run --from-raw" in stale.description


def test_a_refused_content_type_fails_in_one_line_naming_the_setting_and_keeps_what_was_fetched(make_sandbox, tmp_path):
    server = make_sandbox(pins=0)
    raw = RawZone(tmp_path / "raw")
    plan = plan_organic(DateRange(START, END), TODAY, [], ("APP_TYPE",), ("ALL", "ORGANIC", "PAID"))
    with ContentTypeProxy(server.root_url, refuse="PAID", refusal_message="Invalid parameters.") as proxy, \
            make_client(server, base_url=proxy.base_url) as client, pytest.raises(ContentTypeRefusedError) as refused:
        extract_organic(client, raw, plan, USER)
    message = str(refused.value)
    assert "content_type=PAID refused: drop PAID from PINTEREST_CONTENT_TYPES, e.g. PINTEREST_CONTENT_TYPES=ALL,ORGANIC" \
        in message and str(raw.root) in message and "\n" not in message
    assert proxy.refused == 1
    assert sorted(r.params["content_type"] for r in raw.records("user_account/analytics", DateRange(START, END))) == \
        ["ALL", "ALL", "ORGANIC", "ORGANIC"]


def test_a_400_on_the_first_content_type_not_naming_content_type_is_not_blamed_on_the_setting(make_sandbox, tmp_path):
    server = make_sandbox(pins=0)
    plan = plan_organic(DateRange(START, END), TODAY, [], (), ("ALL", "ORGANIC"))
    with ContentTypeProxy(server.root_url, refuse="ALL", refusal_message="Invalid parameters.") as proxy, \
            make_client(server, base_url=proxy.base_url) as client, pytest.raises(InvalidRequestError) as refused:
        extract_organic(client, RawZone(tmp_path / "raw"), plan, USER)
    assert not isinstance(refused.value, ContentTypeRefusedError)


def test_the_organic_view_chooses_the_content_type_per_account_and_day_never_all_for_a_bucket_organic_lacks(
        make_sandbox, tmp_path):
    """PIN_FORMAT split: ORGANIC answers the organic formats only; ALL has the paid formats too (ADS_STANDARD,
    ADS_VIDEO), which must not enter the organic numbers."""
    server = make_sandbox(pins=0)
    raw, lake = RawZone(tmp_path / "raw"), Lake(tmp_path / "lake")
    with make_client(server) as client:
        extract_organic(client, raw, plan_organic(DateRange(START, END), TODAY, [], ("PIN_FORMAT",), ("ALL", "ORGANIC")),
                        USER)
    normalize_range([raw], lake, DateRange(START, END), ORGANIC, TODAY)
    Warehouse(tmp_path / "warehouse.duckdb").load(lake, "organic", ("user_account", "pin"), DateRange(START, END).dates())

    buckets = query(tmp_path, "SELECT DISTINCT split_value, content_type FROM user_account_organic_daily "
                              "WHERE split_field = 'PIN_FORMAT' ORDER BY ALL")
    assert buckets == [("ORGANIC_IMAGE", "ORGANIC"), ("ORGANIC_VIDEO", "ORGANIC")]
    totals = query(tmp_path, "SELECT split_field, sum(impression) FROM user_account_organic_daily GROUP BY 1 ORDER BY 1")
    organic = query(tmp_path, "SELECT sum(impression) FROM user_account_daily "
                              "WHERE content_type = 'ORGANIC' AND split_field = 'NO_SPLIT'")[0][0]
    paid = query(tmp_path, "SELECT sum(impression) FROM user_account_daily WHERE split_field = 'PIN_FORMAT' "
                           "AND split_value LIKE 'ADS%'")[0][0]
    assert paid > 0 and totals == [("NO_SPLIT", organic), ("PIN_FORMAT", organic)]


def stored_ad_delivery(con, day: dt.date, paid_impressions: int) -> None:
    """One ad account's paid impressions of `day` (ads rows have no data_status)."""
    con.execute("INSERT INTO ad_account_daily (date, ad_account_id, attribution, is_final, extracted_at, paid_impression) "
                "VALUES (?, '549764000201', 'CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION', true, now(), ?)",
                [day, paid_impressions])


def additivity_of(con, days: list[dt.date]):
    from pipelines.quality import run_check

    check = next(c for c in ORGANIC_CHECKS if c.name == "content_types_add_up")
    return run_check(con, check, ("user_account",), DateRange(min(days), max(days)))


def test_organic_equal_to_all_without_paid_stored_is_flagged_on_the_days_the_ad_accounts_delivered(tmp_path):
    """PINTEREST_CONTENT_TYPES=ALL,ORGANIC against an API ignoring content_type: ORGANIC = ALL every day; only the
    day the ad accounts had paid impressions is a violation (a warning), the day without delivery is not."""
    days = days_of(START, 2)
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
        for content_type in ("ALL", "ORGANIC"):
            stored_account_days(con, days, content_type, 100)
        stored_ad_delivery(con, days[0], 40)
        stored_ad_delivery(con, days[1], 0)
        outcome = additivity_of(con, days)
    assert not outcome.check.blocking
    assert outcome.violations == 1
    assert outcome.sample[0]["date"] == str(days[0]) and outcome.sample[0]["ads_paid_impressions"] == 40
    assert "the ad accounts have paid impressions" in outcome.check.description


def test_organic_below_all_or_no_ads_stored_passes_the_additivity_check_without_paid(tmp_path):
    days = days_of(START, 1)
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
        stored_account_days(con, days, "ALL", 100)
        stored_account_days(con, days, "ORGANIC", 100)
        assert additivity_of(con, days).passed  # no ads rows in the warehouse: nothing says there was paid activity
        con.execute("UPDATE user_account_daily SET impression = 60 WHERE content_type = 'ORGANIC'")
        stored_ad_delivery(con, days[0], 40)
        assert additivity_of(con, days).passed


def test_a_run_against_an_api_ignoring_content_type_prints_the_failed_warning_check_with_what_it_means(
        make_sandbox, monkeypatch, tmp_path, capsys):
    """The run goes on (a warning), and its summary says what the failed check means and what to do, not only
    how many rows break it."""
    server = make_sandbox(pins=0)
    days = days_of(END, 1)
    with ContentTypeProxy(server.root_url, ignore=True) as proxy:
        pipeline_env(monkeypatch, tmp_path, proxy, TODAY)
        assert run(days[0], days[-1]) == 0
    printed = capsys.readouterr().out
    buckets = 4  # NO_SPLIT and the 3 APP_TYPE buckets
    violations = len(days) * buckets * len(ADDITIVE_ACCOUNT_METRICS)
    assert (f"check organic_warehouse.content_types_add_up: FAILED (violations: {violations}); "
            "a warning (it does not stop the run): per user account, day, split bucket and count") in printed
    assert "the API most likely ignored content_type" in printed and "check with `pinterest-etl probe`" in printed


def test_a_failed_run_prints_what_its_steps_that_succeeded_loaded_before_the_failure(
        make_sandbox, monkeypatch, tmp_path, capsys):
    """content_type=PAID refused: the extraction fails; the dimensions it read first are summarized on stdout,
    the failure on stderr."""
    server = make_sandbox(pins=0)
    with ContentTypeProxy(server.root_url, refuse="PAID") as proxy:
        pipeline_env(monkeypatch, tmp_path, proxy, TODAY)
        assert run(END, END) == 1
    printed = capsys.readouterr()
    assert "  user_accounts: " in printed.out
    assert "step organic_raw failed: ContentTypeRefusedError" in printed.err
