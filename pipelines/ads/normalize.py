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
    """Flat analytics rows → metric_daily rows (one per numeric metric column) and daily_status rows (one per
    entity per day, data_status NULL: the ads API reports none). Built column-wise: per row only its date
    and id are kept; per value only the column name, the value and the row's index."""
    if not isinstance(rows, list):
        raise ResponseShapeError(f"{endpoint}: expected a JSON array of rows")
    id_column = ID_COLUMNS[level]
    dates, ids, value_row, names, values = [], [], [], [], []
    for index, row in enumerate(rows):
        if "DATE" not in row or id_column not in row:
            raise ResponseShapeError(f"{endpoint}: a row lacks the field {'DATE' if 'DATE' not in row else id_column!r}")
        dates.append(str(row["DATE"])[:10])
        ids.append(str(row[id_column]))
        for name, value in row.items():
            if name not in NOT_METRICS and value is not None and not isinstance(value, str):
                names.append(name)
                values.append(value)
                value_row.append(index)
    try:
        date_array = pa.array(dates, type=pa.string()).cast(pa.date32())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise ResponseShapeError(f"{endpoint}: a row's DATE is not YYYY-MM-DD") from None
    final = pa.array([is_final_ads(d, fetched_on, settle_days, newest_ready) for d in date_array.to_pylist()],
                     type=pa.bool_())
    n = len(rows)
    constant = {"entity_type": pa.repeat(pa.scalar(level), n), "split_field": pa.repeat(pa.scalar(ATTRIBUTION_SPLIT), n),
                "split_value": pa.repeat(pa.scalar(attribution), n)}
    extracted = pa.scalar(fetched_at, type=METRIC_DAILY.field("extracted_at").type)
    status = pa.table({"date": date_array, "entity_type": constant["entity_type"], "entity_id": pa.array(ids, pa.string()),
                       "split_field": constant["split_field"], "split_value": constant["split_value"],
                       "data_status": pa.nulls(n, pa.string()), "is_final": final, "extracted_at": pa.repeat(extracted, n)},
                      schema=DAILY_STATUS)
    take = pa.array(value_row, type=pa.int64())
    metric = pa.table({"date": status.column("date").take(take), "entity_type": status.column("entity_type").take(take),
                       "entity_id": status.column("entity_id").take(take),
                       "split_field": status.column("split_field").take(take),
                       "split_value": status.column("split_value").take(take), "metric": pa.array(names, pa.string()),
                       "value": pa.array(values, pa.float64()), "data_status": pa.nulls(len(values), pa.string()),
                       "is_final": final.take(take), "extracted_at": pa.repeat(extracted, len(values))},
                      schema=METRIC_DAILY)
    return Normalized(metric, status)


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
