"""User-account totals per content_type (ALL, ORGANIC, PAID): the simulator, the setting, the calls, the key column,
lakes written before it, and the warehouse."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import settings
from pipelines.api_enums import USER_ACCOUNT_METRIC_TYPES
from pipelines.lake import Lake, keyed, read_fact_file
from pipelines.organic.extract import PinRef, extract_organic, plan_organic
from pipelines.planning import DateRange
from pipelines.quality import ORGANIC_CHECKS
from pipelines.raw_zone import RawZone
from pipelines.sandbox.organic_model import COUNT_METRICS, RATIO_METRICS
from pipelines.tables import DAILY_STATUS, DAILY_STATUS_KEY, METRIC_DAILY
from pipelines.warehouse import Warehouse
from tests.client_support import make_client, server_stats
from tests.conftest import TODAY
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
        settings.check_all({"PINTEREST_CONTENT_TYPES": value})
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
    """A lake file as written before content_type existed (no checksum file: as old as checksums too)."""
    path = lake.path(table, END, keyed("organic", f"user={USER}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, old_schema(schema)), path)


def test_lake_files_written_before_content_types_load_as_all(tmp_path):
    lake = Lake(tmp_path / "lake")
    moment = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)
    key = {"date": END, "entity_type": "user_account", "entity_id": USER, "split_field": "NO_SPLIT", "split_value": "ALL"}
    write_old_lake_file(lake, "daily_status", [{**key, "data_status": "READY", "is_final": True, "extracted_at": moment}],
                        DAILY_STATUS)
    write_old_lake_file(lake, "metric_daily", [{**key, "metric": "IMPRESSION", "value": 7.0, "data_status": "READY",
                                                "is_final": True, "extracted_at": moment}], METRIC_DAILY)
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    loaded = warehouse.load(lake, "organic", ("user_account", "pin"), [END], checks=ORGANIC_CHECKS)
    assert loaded.rows == {"metric_daily": 1, "daily_status": 1}
    assert all(outcome.passed for outcome in loaded.checks if outcome.check.blocking)
    with warehouse.connect(read_only=True) as con:
        assert con.execute("SELECT content_type, impression FROM user_account_daily").fetchall() == [("ALL", 7.0)]


def test_a_lake_file_written_before_content_types_reads_with_content_type_all_after_split_value(tmp_path):
    lake = Lake(tmp_path / "lake")
    key = {"date": END, "entity_type": "user_account", "entity_id": USER, "split_field": "NO_SPLIT", "split_value": "ALL"}
    write_old_lake_file(lake, "daily_status", [{**key, "data_status": "READY", "is_final": True,
                                                "extracted_at": dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)}],
                        DAILY_STATUS)
    path = lake.files("daily_status", [END], "organic")[0]
    assert read_fact_file(path).schema.names == DAILY_STATUS.names
    assert read_fact_file(path, list(DAILY_STATUS_KEY)).to_pylist() == [{**key, "content_type": "ALL"}]


def test_a_warehouse_created_before_content_types_gets_the_column_with_its_rows_as_all(tmp_path):
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as con:
        con.execute("CREATE TABLE daily_status (date DATE, entity_type VARCHAR, entity_id VARCHAR, split_field VARCHAR, "
                    "split_value VARCHAR, data_status VARCHAR, is_final BOOLEAN, extracted_at TIMESTAMPTZ)")
        con.execute(f"INSERT INTO daily_status VALUES (?, 'user_account', '{USER}', 'NO_SPLIT', 'ALL', 'READY', true, "
                    "now())", [START])
        warehouse.ensure_schema(con)
        assert [r[0] for r in con.execute("DESCRIBE daily_status").fetchall()] == DAILY_STATUS.names
        assert con.execute("SELECT date, content_type FROM daily_status").fetchall() == [(START, "ALL")]


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
