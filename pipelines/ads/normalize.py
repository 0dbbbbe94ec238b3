"""The ads source of the normalization machinery: rows of the four analytics levels, and their finality."""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Collection, Iterator
from itertools import compress, repeat
from operator import itemgetter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ads.extract import carries_conversions, is_ready
from pipelines.ads.levels import ACCOUNT, BY_NAME, LEVELS, NAMES, ancestors
from pipelines.lake import AD_ACCOUNT, identity
from pipelines.metric_values import MetricValueError, as_float64
from pipelines.pinterest.errors import ResponseShapeError
from pipelines.planning import DateRange
from pipelines.raw_zone import RawRecord, RawZone
from pipelines.tables import DAILY_STATUS, UNFILTERED_CONTENT
from pipelines.transform import ANCESTRY, Coverage, Normalized, Source

ATTRIBUTION_SPLIT = "ATTRIBUTION"
# The fields of each level's listed entities naming the entities it cannot deliver without (its ancestors under the
# ad account: every answer is of one ad account already).
_ANCESTOR_FIELDS = {level.name: fields for level in LEVELS if (fields := {
    ancestor.name: ancestor.id_column for ancestor in ancestors(level) if ancestor is not ACCOUNT})}
# Columns that name or describe the entity rather than measure it; every other requested column is a metric.
NOT_METRICS = frozenset({"DATE", "AD_ACCOUNT_ID", "ADVERTISER_ID", "CAMPAIGN_ID", "AD_GROUP_ID", "AD_ID", "PIN_ID",
                         "PIN_PROMOTION_ID", "CAMPAIGN_NAME", "AD_GROUP_NAME", "AD_NAME", "CAMPAIGN_ENTITY_STATUS",
                         "AD_GROUP_ENTITY_STATUS", "CAMPAIGN_OBJECTIVE_TYPE", "CAMPAIGN_BRAND_LABEL", "PROMO_ID",
                         "PROMO_NAME", "ORDER_LINE_ID", "ORDER_LINE_NAME", "AD_GROUP_BUDGET_TYPE", "AD_GROUP_OPTIMIZATION",
                         "PRODUCT_GROUP_AD_IMAGE_TAG", "PRODUCT_GROUP_AD_VIDEO_TAG", "CAMPAIGN_BUDGET_OPTIMIZATION",
                         "IS_PREMIERE_CAMPAIGN"})


def normalize_rows(rows: list, level: str, attribution: str, settle_days: int, fetched_at: dt.datetime,
                   fetched_on: dt.date, newest_ready: dt.date | None, endpoint: str, *,
                   requested_columns: Collection[str] = (), requested_ids: Collection[str] | None = None,
                   window: DateRange | None = None) -> Normalized:
    """Flat analytics rows → wide rows: one per entity per day (daily_status's columns, data_status NULL: the ads
    API reports none), then one float64 column per metric column with a value (named as the API names it). Built
    column-wise: one Python list per column.
    A requested column (but those of NOT_METRICS) must hold finite JSON numbers (or nulls), and so must any other
    column holding numbers; rows of entities outside `requested_ids` (None: every entity of the ad account) are
    dropped and counted in `Normalized.unrequested`.
    The answer covers `window` (when given) for every entity of `requested_ids` (None: those it has rows for): the
    API leaves out zero values and rows without delivery, so a newer answer replaces this one's keys wholly.
    A date is final only when both hold: its attribution window (`settle_days`) had passed on `fetched_on`, and
    it is no newer than `newest_ready`, the newest date metrics_ready_state had said ready (for what the answer
    carries) before the fetch (None: none was, so nothing is final)."""
    final_up_to = min(fetched_on - dt.timedelta(days=settle_days), newest_ready or dt.date.min)

    asked = frozenset(c for c in requested_columns if c not in NOT_METRICS) or None

    def answered(rows: pa.Table, unrequested: dict[str, int]) -> Normalized:
        if window is None:
            return Normalized(rows, unrequested=unrequested, requested_metrics=asked)
        entities = requested_ids if requested_ids is not None else pc.unique(rows.column("entity_id")).to_pylist()
        coverage = Coverage(level, tuple(map(str, entities)), ATTRIBUTION_SPLIT, attribution, window, final_up_to)
        return Normalized(rows, unrequested=unrequested, coverage=coverage, requested_metrics=asked)

    if not isinstance(rows, list):
        raise ResponseShapeError(f"{endpoint}: expected a JSON array of rows")
    if not all(isinstance(row, dict) for row in rows):
        bad = next(row for row in rows if not isinstance(row, dict))
        raise ResponseShapeError(f"{endpoint}: expected rows as JSON objects, got {type(bad).__name__}")
    if not rows:
        return answered(DAILY_STATUS.empty_table(), {})
    id_column = BY_NAME[level].row_id_field
    columns = _columns(rows)
    for required in ("DATE", id_column):
        if required not in columns or None in columns[required]:
            raise ResponseShapeError(f"{endpoint}: a row lacks the field {required!r}")
    ids = _strings(columns[id_column])
    unrequested = {}
    if requested_ids is not None:
        wanted = pc.is_in(ids, value_set=pa.array(list(map(str, requested_ids)), pa.string()))
        if not pc.all(wanted).as_py():
            dropped = pc.value_counts(ids.filter(pc.invert(wanted)))
            unrequested = dict(zip(dropped.field("values").to_pylist(), dropped.field("counts").to_pylist()))
            rows = list(compress(rows, wanted.to_pylist()))
            if not rows:
                return answered(DAILY_STATUS.empty_table(), unrequested)
            columns, ids = _columns(rows), ids.filter(wanted)
    date_array = _dates(columns["DATE"], endpoint)
    final = pc.less_equal(date_array, pa.scalar(final_up_to, pa.date32()))
    n = len(rows)
    extracted = pa.scalar(fetched_at, type=DAILY_STATUS.field("extracted_at").type)
    status = pa.table({"date": date_array, "entity_type": pa.repeat(pa.scalar(level), n),
                       "entity_id": ids,
                       "split_field": pa.repeat(pa.scalar(ATTRIBUTION_SPLIT), n),
                       "split_value": pa.repeat(pa.scalar(attribution), n),
                       "content_type": pa.repeat(pa.scalar(UNFILTERED_CONTENT), n),
                       "data_status": pa.nulls(n, pa.string()), "is_final": final, "extracted_at": pa.repeat(extracted, n)},
                      schema=DAILY_STATUS)
    rows = status
    for name, column in columns.items():
        if name in NOT_METRICS:
            continue
        measured, invalid = _metric_values(column, name in requested_columns)
        if invalid is not None:
            raise MetricValueError(endpoint, name, level, ids[invalid].as_py(), columns["DATE"][invalid], column[invalid])
        if measured is None or measured.null_count == len(measured):
            continue
        rows = rows.append_column(pa.field(name, pa.float64()), measured)
    rows = _zero_where_omitted(rows, asked or frozenset())
    # Rows come out ordered by date (stable), so that staging can cut each answer into per-date slices.
    day_numbers = date_array.cast(pa.int32()).to_numpy(zero_copy_only=False)
    return answered(rows.take(pa.array(np.argsort(day_numbers, kind="stable"))), unrequested)


def _zero_where_omitted(rows: pa.Table, asked: frozenset[str]) -> pa.Table:
    """Each metric the request asked for, 0 where a row lacks it: ads reports "will not zero-fill metrics" (the
    official description), so a requested metric left out of a row is a zero. A metric not asked for stays absent:
    unknown, not zero."""
    for name in sorted(asked):
        if name in rows.column_names:
            rows = rows.set_column(rows.schema.get_field_index(name), pa.field(name, pa.float64()),
                                   pc.fill_null(rows.column(name), 0.0))
        else:
            rows = rows.append_column(pa.field(name, pa.float64()), pa.repeat(pa.scalar(0.0), rows.num_rows))
    return rows


def _columns(rows: list[dict]) -> dict[str, list]:
    """Rows (objects) as one list per field, None where a row lacks the field."""
    names = sorted(set().union(*rows))
    if len(names) > 1:
        try:  # every row has every field (the usual answer): transposed in C, one call per row
            return dict(zip(names, map(list, zip(*map(itemgetter(*names), rows)))))
        except KeyError:
            pass
    return {name: list(map(dict.get, rows, repeat(name))) for name in names}


def _metric_values(column: list, requested: bool) -> tuple[pa.Array | None, int | None]:
    """A column's measurements as float64 (null where a row has none), or (None, the position of a value that is not
    a finite JSON number in a metric column), or (None, None) when it is not a metric column.
    A requested column is a metric column (the pipeline asked for it as one), and so is any holding a JSON number.
    What else a row carries (fields the API added later) is not measured."""
    measured, invalid = as_float64(column)
    if invalid is None or requested or any(map(_is_number, column)):
        return measured, invalid
    return None, None


def _is_number(value: object) -> bool:
    return type(value) in (int, float)  # not bool, whose type is its own


def _dates(column: list, endpoint: str) -> pa.Array:
    """DATE values ('YYYY-MM-DD', possibly with a time after it) as date32."""
    try:
        text = _strings(column)
        return pc.utf8_slice_codeunits(text, 0, 10).cast(pa.date32())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        raise ResponseShapeError(f"{endpoint}: a row's DATE is not YYYY-MM-DD") from None


def _strings(column: list) -> pa.Array:
    """Values as their text: strings as they are, integers in decimal (ids may come as numbers)."""
    try:
        array = pa.array(column)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        array = None
    if array is not None and pa.types.is_string(array.type):
        return array
    if array is not None and pa.types.is_integer(array.type):
        return array.cast(pa.string())
    return pa.array([str(v) for v in column], pa.string())


def report_rows(report: dict, level: str) -> list[dict]:
    """An async report file ({entity_id: [rows]}) as flat rows carrying the level's id column."""
    if not isinstance(report, dict):
        raise ResponseShapeError("analytics/report: expected a JSON object keyed by entity id")
    id_column = BY_NAME[level].row_id_field
    if not all(isinstance(rows, list) and all(isinstance(row, dict) for row in rows) for rows in report.values()):
        raise ResponseShapeError("analytics/report: expected a list of row objects per entity id")
    return [{**row, id_column: row.get(id_column, entity_id)} for entity_id, rows in report.items() for row in rows]


def _settle_days(attribution: str) -> int:
    """The largest window named in an attribution label (CLICK_30D|ENGAGEMENT_30D|VIEW_1D|...)."""
    return max(int(part.split("_")[1].rstrip("D")) for part in attribution.split("|")[:3])


def requested_ids(record: RawRecord, listed: Callable[[str, str], Collection[str] | None]) -> Collection[str] | None:
    """The entity ids an analytics answer's request asked for: its ad account at the account level, the id list
    of a batch call; for the other levels of an async report, which covers every entity of the ad account, the
    entities `listed` (ad account, level) names. None: every entity is taken."""
    level = record.context["level"]
    account = record.path_params.get("ad_account_id")
    if level == ACCOUNT.name:
        return [str(account)] if account is not None else None
    if record.endpoint == "analytics/report":
        return listed(str(account), level)
    return record.params.get(BY_NAME[level].id_parameter)


class _EntityListings:
    """A raw zone's entity lists (every status, per ad account), each level's pages read and parsed once, when
    first needed: the ids they name per ad account (what an async report covers) and each listed ad group and ad
    with the entities it cannot deliver without (ANCESTRY)."""

    def __init__(self, raw: RawZone):
        self.raw = raw
        self._pages: dict[str, list[tuple[str, list[dict]]]] = {}
        self._ids: dict[str, dict[str, frozenset[str]]] = {}

    def pages(self, level: str) -> list[tuple[str, list[dict]]]:
        """(ad account, items) of every page of the level's entity lists, oldest fetch first; of each item only its
        id and the fields naming its parents are kept."""
        if level not in self._pages:
            kept = ("id", *_ANCESTOR_FIELDS.get(level, {}).values())
            self._pages[level] = [(account, [{name: item.get(name) for name in kept} for item in items])
                                  for account, items in _list_pages(self.raw, level)]
        return self._pages[level]

    def listed(self, account: str, level: str) -> frozenset[str] | None:
        """The ids of every entity of the level the lists of that ad account ever named (all statuses are listed,
        so an archived entity stays named), or None when the raw zone holds no list of that ad account (nothing to
        judge by). The dimensions are extracted before the analytics in every run, so a report's raw zone holds the
        lists of its ad account."""
        if level not in self._ids:
            per_account: dict[str, set[str]] = {}
            for page_account, items in self.pages(level):
                per_account.setdefault(page_account, set()).update(str(item.get("id")) for item in items)
            self._ids[level] = {account: frozenset(ids) for account, ids in per_account.items()}
        return self._ids[level].get(account)

    def ancestry(self) -> pa.Table:
        """Every listed ad group with its campaign and every listed ad with its ad group and campaign (ANCESTRY): an
        answer covering a campaign or an ad group without a row covers them too, as a child cannot deliver without
        its parent. Without lists nothing is widened (and the warehouse's level sums refuse what is left)."""
        pairs = {(level, str(item["id"]), ancestor, str(item[field]))
                 for level, fields in _ANCESTOR_FIELDS.items() for _, items in self.pages(level) for item in items
                 for ancestor, field in fields.items() if item.get("id") is not None and item.get(field) is not None}
        return pa.Table.from_pylist([dict(zip(ANCESTRY.names, pair)) for pair in sorted(pairs)], ANCESTRY)


# The listings of each raw zone being normalized: made anew by _prepare, which the normalization calls first for
# every raw zone, and read again by _ancestry, so that one normalization parses each list page once.
_LISTINGS: weakref.WeakKeyDictionary[RawZone, _EntityListings] = weakref.WeakKeyDictionary()


def _list_pages(raw: RawZone, level: str) -> Iterator[tuple[str, list[dict]]]:
    """(ad account, items) of every page of the level's entity lists the raw zone holds, oldest fetch first."""
    for record in raw.undated_records(BY_NAME[level].list_endpoint):
        page = record.json()
        items = page.get("items") if isinstance(page, dict) else None
        yield str(record.path_params.get("ad_account_id")), [item for item in items or () if isinstance(item, dict)]


def _ancestry(raw: RawZone) -> pa.Table:
    """The raw zone's ANCESTRY (`_EntityListings.ancestry`), from the lists its normalization already read."""
    listings = _LISTINGS.get(raw)
    return (listings if listings is not None else _EntityListings(raw)).ancestry()


def _prepare(raw: RawZone, requested: DateRange):
    # Ready states of every fetch, so each answer is judged by what was known when it was fetched. A date
    # said ready makes every older date ready too (books close in date order; see extract.fetch_ready_states).
    ready_checks = sorted(((r.fetched_at, dt.date.fromisoformat(str(r.params["date"])), r.json())
                           for r in raw.records("metrics_ready_state/get", DateRange(requested.start, dt.date.max))),
                          key=lambda item: item[0])

    def newest_ready_at(moment: dt.datetime, conversions: bool) -> dt.date | None:
        ready = [date for fetched, date, state in ready_checks
                 if fetched <= moment and isinstance(state, dict) and is_ready(state, conversions)]
        return max(ready, default=None)

    listings = _LISTINGS[raw] = _EntityListings(raw)

    def normalize(record: RawRecord) -> Normalized:
        attribution = record.context["attribution"]
        body = record.json()
        if record.endpoint == "analytics/report":
            body = report_rows(body, record.context["level"])
        # The UTC date the pipeline took as today when it fetched the answer (PINTEREST_ETL_TODAY in replays).
        fetched_on = dt.date.fromisoformat(record.context.get("today") or record.fetched_at.date().isoformat())
        columns = frozenset(record.params.get("columns") or ())
        return normalize_rows(body, record.context["level"], attribution, _settle_days(attribution),
                              record.fetched_at, fetched_on, newest_ready_at(record.fetched_at, carries_conversions(columns)),
                              record.endpoint, requested_columns=columns,
                              requested_ids=requested_ids(record, listings.listed), window=record.window)

    return normalize


def _identify(raw: RawZone):
    """Every ads analytics answer (sync or report) is of the ad account in its path."""
    return lambda record: identity(AD_ACCOUNT, record.path_params.get("ad_account_id"))


ADS = Source(name="ads", entity_types=NAMES,
             endpoints=("analytics/report", *(level.analytics_endpoint for level in LEVELS)),
             prepare=_prepare, identify=_identify, ancestry=_ancestry)
