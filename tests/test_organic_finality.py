"""Which organic days are final: READY and every BEFORE_* status (the day precedes something in the past), nothing else."""

from __future__ import annotations

import datetime as dt

from pipelines.api_enums import DATA_STATUSES
from pipelines.lake import Lake
from pipelines.organic.normalize import normalize_user_account_analytics
from tests.pipeline_support import query

ORGANIC_ROWS = "FROM daily_status WHERE entity_type IN ('user_account', 'pin')"

NOT_FINAL = {"PROCESSING", "ESTIMATE", "IN_BAD_TAG_DATE", "PURCHASERS_METRIC_SMALLER_THAN_THRESHOLD",
             "AUDIENCE_SEGMENT_SMALLER_THAN_THRESHOLD", "AUDIENCE_TOTAL_SMALLER_THAN_THRESHOLD"}


def test_ready_and_every_before_status_are_final_and_no_other():
    first = dt.date(2026, 1, 1)
    days = [{"date": str(first + dt.timedelta(days=i)), "data_status": status, "metrics": {}}
            for i, status in enumerate(DATA_STATUSES)]
    rows = normalize_user_account_analytics({"all": {"daily_metrics": days}}, "1", "NO_SPLIT",
                                            dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc))
    final = dict(zip(rows.column("data_status").to_pylist(), rows.column("is_final").to_pylist()))
    assert {status for status, is_final in final.items() if not is_final} == NOT_FINAL
    assert {status for status, is_final in final.items() if is_final} == \
        {"READY"} | {status for status in DATA_STATUSES if status.startswith("BEFORE_")}
    assert len(final) == len(DATA_STATUSES) == 23


def test_days_before_a_pin_existed_are_final_in_the_warehouse(demo_warehouse):
    statuses = dict(query(demo_warehouse, "SELECT data_status, bool_and(is_final) FROM pin_daily GROUP BY data_status"))
    assert statuses["BEFORE_PIN_CREATED"] is True and statuses["READY"] is True
    assert not statuses["ESTIMATE"] and not statuses["PROCESSING"]


def test_only_days_still_processing_or_estimated_are_not_final_nor_re_pulled(demo_warehouse):
    """Per day, every organic row is final except on the few days near today still PROCESSING or ESTIMATE; the
    re-pull planning (the oldest date of the lake not final) starts there, not at the first day before a pin."""
    not_final = [d for (d,) in query(demo_warehouse, f"SELECT date {ORGANIC_ROWS} GROUP BY date HAVING NOT bool_and(is_final) "
                                                     "ORDER BY date")]
    preliminary = [d for (d,) in query(demo_warehouse, f"SELECT DISTINCT date {ORGANIC_ROWS} "
                                                       "AND data_status IN ('PROCESSING', 'ESTIMATE') ORDER BY date")]
    assert not_final == preliminary and 0 < len(not_final) < 10
    first_pin_day, days_before_pins = query(demo_warehouse, f"SELECT min(date), count(DISTINCT date) {ORGANIC_ROWS} "
                                                            "AND data_status = 'BEFORE_PIN_CREATED'")[0]
    assert first_pin_day < not_final[0] and days_before_pins > 20
    first, last = query(demo_warehouse, f"SELECT min(date), max(date) {ORGANIC_ROWS}")[0]
    assert Lake(demo_warehouse / "lake").oldest_not_final("organic", first, last) == not_final[0]
