"""The ads source of the normalization machinery: rows of the four analytics levels, and their finality."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from pipelines.ads.extract import ENDPOINTS, ID_COLUMNS
from pipelines.pinterest.errors import ResponseShapeError
from pipelines.planning import DateRange
from pipelines.raw_zone import RawRecord, RawZone
from pipelines.tables import DAILY_STATUS, METRIC_DAILY
from pipelines.transform import Normalized, Source

ATTRIBUTION_SPLIT = "ATTRIBUTION"
# Columns that name or describe the entity rather than measure it.
NOT_METRICS = frozenset({"DATE", "AD_ACCOUNT_ID", "ADVERTISER_ID", "CAMPAIGN_ID", "AD_GROUP_ID", "AD_ID", "PIN_ID",
                         "PIN_PROMOTION_ID", "CAMPAIGN_NAME", "AD_GROUP_NAME", "AD_NAME", "CAMPAIGN_ENTITY_STATUS",
                         "AD_GROUP_ENTITY_STATUS", "CAMPAIGN_OBJECTIVE_TYPE", "CAMPAIGN_BRAND_LABEL", "PROMO_ID",
                         "PROMO_NAME", "ORDER_LINE_ID", "ORDER_LINE_NAME", "AD_GROUP_BUDGET_TYPE", "AD_GROUP_OPTIMIZATION",
                         "PRODUCT_GROUP_AD_IMAGE_TAG", "PRODUCT_GROUP_AD_VIDEO_TAG"})


def is_final_ads(date: dt.date, fetched_on: dt.date, settle_days: int, newest_ready: dt.date | None) -> bool:
    """A day's ads numbers are final once its attribution window has passed, or once
    metrics_ready_state said so before the numbers were fetched."""
    return (fetched_on - date).days >= settle_days or (newest_ready is not None and date <= newest_ready)


def normalize_rows(rows: list, level: str, attribution: str, settle_days: int, fetched_at: dt.datetime,
                   fetched_on: dt.date, newest_ready: dt.date | None, endpoint: str) -> Normalized:
    """Flat analytics rows → metric_daily rows (one per non-empty metric column) and daily_status rows
    (one per entity per day, data_status NULL: the ads API reports no status)."""
    if not isinstance(rows, list):
        raise ResponseShapeError(f"{endpoint}: expected a JSON array of rows")
    id_column = ID_COLUMNS[level]
    metric = {name: [] for name in METRIC_DAILY.names}
    status = {name: [] for name in DAILY_STATUS.names}
    for row in rows:
        if "DATE" not in row or id_column not in row:
            raise ResponseShapeError(f"{endpoint}: a row lacks the field {'DATE' if 'DATE' not in row else id_column!r}")
        date = dt.date.fromisoformat(str(row["DATE"])[:10])
        entity_id = str(row[id_column])
        final = is_final_ads(date, fetched_on, settle_days, newest_ready)
        for column, value in zip(DAILY_STATUS.names, (date, level, entity_id, ATTRIBUTION_SPLIT, attribution, None,
                                                      final, fetched_at)):
            status[column].append(value)
        for name, value in row.items():
            if name in NOT_METRICS or value is None or isinstance(value, str):
                continue
            for column, cell in zip(METRIC_DAILY.names, (date, level, entity_id, ATTRIBUTION_SPLIT, attribution, name,
                                                         float(value), None, final, fetched_at)):
                metric[column].append(cell)
    return Normalized(pa.table(metric, schema=METRIC_DAILY), pa.table(status, schema=DAILY_STATUS))


def report_rows(report: dict, level: str) -> list[dict]:
    """An async report file ({entity_id: [rows]}) as flat rows carrying the level's id column."""
    if not isinstance(report, dict):
        raise ResponseShapeError("analytics/report: expected a JSON object keyed by entity id")
    id_column = ID_COLUMNS[level]
    return [{**row, id_column: row.get(id_column, entity_id)} for entity_id, rows in report.items() for row in rows]


def _settle_days(attribution: str) -> int:
    """The largest window named in an attribution label (CLICK_30D|ENGAGEMENT_30D|VIEW_1D|...)."""
    return max(int(part.split("_")[1].rstrip("D")) for part in attribution.split("|")[:3])


def _prepare(raw: RawZone, requested: DateRange):
    # Ready states of every fetch, so each answer is judged by what was known when it was fetched.
    ready_checks = sorted(((r.fetched_at, dt.date.fromisoformat(str(r.params["date"])), r.json())
                           for r in raw.records("metrics_ready_state/get", DateRange(requested.start, dt.date.max))),
                          key=lambda item: item[0])

    def newest_ready_at(moment: dt.datetime) -> dt.date | None:
        ready = [date for fetched, date, state in ready_checks if fetched <= moment
                 and state.get("conversion_metrics_ready") and state.get("non_conversion_metrics_ready")]
        return max(ready, default=None)

    def normalize(record: RawRecord) -> Normalized:
        attribution = record.context["attribution"]
        body = record.json()
        if record.endpoint == "analytics/report":
            body = report_rows(body, record.context["level"])
        # The UTC date the pipeline took as today when it fetched the answer (PINTEREST_ETL_TODAY in replays).
        fetched_on = dt.date.fromisoformat(record.context.get("today") or record.fetched_at.date().isoformat())
        return normalize_rows(body, record.context["level"], attribution, _settle_days(attribution),
                              record.fetched_at, fetched_on, newest_ready_at(record.fetched_at), record.endpoint)

    return normalize


ADS = Source(name="ads", entity_types=("ad_account", "campaign", "ad_group", "ad"),
             endpoints=("analytics/report", *ENDPOINTS.values()), prepare=_prepare)
