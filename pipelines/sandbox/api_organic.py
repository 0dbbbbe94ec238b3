"""Organic endpoints: user account, its analytics and top pins, boards, pins and pin analytics."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np

from pipelines import api_enums as enums
from pipelines.sandbox import organic_model as om
from pipelines.sandbox.errors import ApiError, invalid, missing_scope, not_permitted
from pipelines.sandbox.paging import page
from pipelines.sandbox.params import bool_param, date_window, enum_list, enum_param, id_list, int_param, many, one
from pipelines.sandbox.routing import Reply, Request, Route
from pipelines.sandbox.world import day_to_iso

STANDARD_METRICS = frozenset(enums.PIN_STANDARD_METRIC_TYPES)
VIDEO_METRICS = frozenset(enums.PIN_VIDEO_METRIC_TYPES)
PIN_METRIC_TYPES = STANDARD_METRICS | VIDEO_METRICS
_WITH_METRICS = (om.READY, om.ESTIMATE)
_LIFETIME_METRICS = ("TOTAL_COMMENTS", "TOTAL_REACTIONS")
# The account filter on each split's dimension, and the filter value that means "everything".
_SPLIT_FILTERS = {"APP_TYPE": ("app_types", "ALL"), "OWNED_CONTENT": ("from_claimed_content", "BOTH"),
                  "SOURCE": ("source", "ALL"), "PIN_FORMAT": ("pin_format", "ALL")}
_SHARE_SPLITS = ("APP_TYPE", "OWNED_CONTENT", "SOURCE")  # split by shares: pins carry no such attribute


def _check_business_access(request: Request) -> None:
    """`ad_account_id` on org endpoints: the simulator models organic data of its own user only."""
    ad_account_id = one(request.query, "ad_account_id")
    if ad_account_id is None:
        return
    w = request.state.world
    index = w.ad_account_index_by_id.get(ad_account_id)
    if index is None or not w.ad_account_owned[index]:
        raise not_permitted()


def _can_see_secret(request: Request) -> bool:
    return {"boards:read_secret", "pins:read_secret"} <= request.token.scopes


def _visible_pins(request: Request) -> np.ndarray:
    w = request.state.world
    pins = np.arange(len(w.pin_ids))
    if not _can_see_secret(request):
        pins = pins[~w.board_secret[w.pin_board]]
    return pins


def _day_range(start: dt.date, end: dt.date) -> np.ndarray:
    return np.arange(start.toordinal(), end.toordinal() + 1, dtype=np.int64)


def _iso_dates(days: np.ndarray) -> list[str]:
    return [day_to_iso(day) for day in days.tolist()]


def analytics_blocks(dates: list[str], statuses: list[list[str]], counts: dict[str, np.ndarray],
                     metrics: list[list[str]]) -> list[dict]:
    """{daily_metrics, summary_metrics} of each entity (or split bucket of one) from its daily counts: entity i is
    row i of every `counts` array (shape (entities, days)), with `statuses[i]` its days' data_status and
    `metrics[i]` the metrics it reports. `dates` are the window's days as YYYY-MM-DD (see `_iso_dates`)."""
    wanted = list(dict.fromkeys(itertools.chain.from_iterable(metrics)))
    daily, summary = om.with_derived(counts), om.with_derived({m: v.sum(axis=1) for m, v in counts.items()})
    daily_columns = {m: daily[m].tolist() for m in wanted}
    summary_columns = {m: summary[m].tolist() for m in wanted}
    return [{"daily_metrics": _daily_metrics(dates, statuses[i], names, [daily_columns[m][i] for m in names]),
             "summary_metrics": {m: summary_columns[m][i] for m in names}}
            for i, names in enumerate(metrics)]


def _daily_metrics(dates: list[str], statuses: list[str], names: list[str], columns: list[list]) -> list[dict]:
    """One entity's daily_metrics: its values by day (`columns`, one list per metric of `names`)."""
    values_by_day = zip(*columns) if columns else itertools.repeat(())
    return [{"date": date, "data_status": status, "metrics": dict(zip(names, values)) if status in _WITH_METRICS else {}}
            for date, status, values in zip(dates, statuses, values_by_day)]


def analytics_block(dates: list[str], statuses: np.ndarray, counts: dict[str, np.ndarray], metrics: list[str]) -> dict:
    """`analytics_blocks` of one entity: counts and statuses of shape (len(days),)."""
    return analytics_blocks(dates, [statuses.tolist()], {m: v[None, :] for m, v in counts.items()}, [metrics])[0]


# ------------------------------------------------------------------------------------------- account
def user_account(request: Request) -> Reply:
    _check_business_access(request)
    return Reply(request.state.world.user_account_resource())


def _account_filters(request: Request) -> dict[str, str]:
    q = request.query
    return {
        "from_claimed_content": enum_param(q, "from_claimed_content", enums.FROM_CLAIMED_CONTENT, "BOTH"),
        "pin_format": enum_param(q, "pin_format", enums.PIN_FORMATS, "ALL"),
        "app_types": enum_param(q, "app_types", enums.APP_TYPES, "ALL"),
        "content_type": enum_param(q, "content_type", enums.CONTENT_TYPES, "ALL"),
        "source": enum_param(q, "source", enums.SOURCES, "ALL"),
    }


def _account_split_key(request: Request) -> int:
    """The key of the account's split shares (its first pin's key; 1 for a world without pins)."""
    w = request.state.world
    return int(w.pin_keys[0]) if len(w.pin_ids) else 1


def _apply_share_filters(request: Request, counts: dict[str, np.ndarray], days: np.ndarray, filters: dict[str, str]) -> dict[str, np.ndarray]:
    organic, key = request.state.organic, _account_split_key(request)
    for split_field in _SHARE_SPLITS:
        name, everything = _SPLIT_FILTERS[split_field]
        if filters[name] != everything:
            counts = om.split_counts(counts, organic.split_shares(split_field, days, key))[filters[name]]
    return counts


def _account_formats(request: Request, days: np.ndarray, content_type: str) -> dict[str, np.ndarray]:
    """The account's counts per pin format, shape (len(COUNT_METRICS), len(days)), for the formats the content type
    covers: ORGANIC its pins' own activity, PAID the delivery of the ads of the ad accounts it owns (zero without
    ads), ALL both (so that ALL = ORGANIC + PAID for every count)."""
    state = request.state
    formats = {}
    if content_type in ("ALL", "ORGANIC"):
        organic = state.organic.account_counts_by_format(days)
        formats.update(ORGANIC_IMAGE=organic[0], ORGANIC_VIDEO=organic[1])
    if content_type in ("ALL", "PAID"):
        paid = state.ads.paid_account_counts_by_format(days)
        formats.update(ADS_STANDARD=paid[0], ADS_VIDEO=paid[1])
    return formats


def user_account_analytics(request: Request) -> Reply:
    q, state = request.query, request.state
    _check_business_access(request)
    start, end = date_window(q, state.world.today, message="Invalid user accounts analytics parameters.")
    metrics = enum_list(q, "metric_types", enums.USER_ACCOUNT_METRIC_TYPES) or list(enums.USER_ACCOUNT_METRIC_TYPES)
    split_field = enum_param(q, "split_field", enums.USER_ACCOUNT_SPLIT_FIELDS, "NO_SPLIT")
    filters = _account_filters(request)
    days = _day_range(start, end)
    formats = _account_formats(request, days, filters["content_type"])
    if filters["pin_format"] != "ALL":
        formats = {name: arr if name == filters["pin_format"] else np.zeros_like(arr) for name, arr in formats.items()}
    per_format = {name: _apply_share_filters(request, {m: arr[i] for i, m in enumerate(om.COUNT_METRICS)}, days, filters)
                  for name, arr in formats.items()}
    total = {m: sum(counts[m] for counts in per_format.values()) for m in om.COUNT_METRICS}
    filter_name, everything = _SPLIT_FILTERS.get(split_field, ("", ""))
    if split_field == "NO_SPLIT":
        buckets = {"all": total}
    elif filters[filter_name] != everything:
        # The filter already narrowed the split's dimension to one bucket: it holds the filtered counts.
        buckets = {filters[filter_name]: total}
    elif split_field == "PIN_FORMAT":
        buckets = per_format
    else:
        # Each format split on its own, then summed: a bucket of ALL is then exactly its ORGANIC plus its PAID bucket.
        shares = state.organic.split_shares(split_field, days, _account_split_key(request))
        split_formats = [om.split_counts(counts, shares) for counts in per_format.values()]
        buckets = {name: {m: sum(split[name][m] for split in split_formats) for m in om.COUNT_METRICS} for name, _ in shares}
    statuses = state.organic.account_statuses(days)
    dates = _iso_dates(days)
    return Reply({name: analytics_block(dates, statuses, counts, metrics) for name, counts in buckets.items()})


def top_pins(request: Request) -> Reply:
    q, state = request.query, request.state
    _check_business_access(request)
    start, end = date_window(q, state.world.today, message="Invalid user accounts analytics parameters.")
    sort_by = enum_param(q, "sort_by", enums.TOP_PINS_SORT_BY, required=True)
    metrics = enum_list(q, "metric_types", enums.USER_ACCOUNT_METRIC_TYPES) or list(enums.USER_ACCOUNT_METRIC_TYPES)
    num_of_pins = int_param(q, "num_of_pins", 10, 1, 50)
    created_in_last = int_param(q, "created_in_last_n_days", 0, 0, 30, allowed=(30,)) if one(q, "created_in_last_n_days") else 0
    _account_filters(request)
    days = _day_range(start, end)
    pins = _visible_pins(request)
    if created_in_last:
        pins = pins[state.world.pin_created_day[pins] >= state.world.today_day - created_in_last]
    values = om.with_derived(state.organic.pin_window_totals(pins, days))
    order = np.lexsort((np.arange(len(pins)), -values[sort_by]))[:num_of_pins]
    statuses = om.reporting_status(state.world.today_day, days)
    if (statuses == om.PROCESSING).all():
        status = om.PROCESSING
    else:
        status = om.READY if (statuses == om.READY).all() else om.ESTIMATE
    last_with_data = max((d for d, s in zip(days.tolist(), statuses) if s in _WITH_METRICS), default=int(days[0]) - 1)
    latest_ms = (dt.date.fromordinal(last_with_data + 1) - dt.date(1970, 1, 1)).days * 86_400_000 - 1
    return Reply({
        "date_availability": {"is_realtime": False, "latest_available_timestamp": latest_ms},
        "pins": [{"pin_id": state.world.pin_ids[pins[i]],
                  "metrics": {m: values[m][i].item() for m in metrics},
                  "data_status": {m: status for m in metrics}} for i in order],
        "sort_by": sort_by,
    })


# --------------------------------------------------------------------------------------- boards/pins
def _board_index(request: Request) -> int:
    w = request.state.world
    index = w.board_index_by_id.get(request.params["board_id"])
    if index is None or (w.board_secret[index] and not _can_see_secret(request)):
        raise ApiError(404, 40, "Board not found.")
    return index


def list_boards(request: Request) -> Reply:
    q, w = request.query, request.state.world
    _check_business_access(request)
    privacy = enum_param(q, "privacy", enums.BOARD_PRIVACY_FILTERS)
    boards = list(range(len(w.board_ids)))
    if privacy in ("SECRET", "PUBLIC_AND_SECRET") and "boards:read_secret" not in request.token.scopes:
        raise missing_scope()
    if privacy is None or privacy in ("ALL", "PUBLIC_AND_SECRET"):
        boards = [b for b in boards if not w.board_secret[b] or "boards:read_secret" in request.token.scopes]
    elif privacy == "PUBLIC":
        boards = [b for b in boards if not w.board_secret[b]]
    elif privacy == "SECRET":
        boards = [b for b in boards if w.board_secret[b]]
    else:  # PROTECTED: the simulated account has no protected boards
        boards = []
    window, bookmark = page(request.path, q, len(boards))
    return Reply({"items": [w.board_resource(boards[i]) for i in window], "bookmark": bookmark})


def get_board(request: Request) -> Reply:
    _check_business_access(request)
    return Reply(request.state.world.board_resource(_board_index(request)))


def _recent_days(state) -> np.ndarray:
    """The last 90 days, today included: the days of a pin's `90d` totals."""
    today = state.world.today_day
    return np.arange(today - 89, today + 1, dtype=np.int64)


def pin_totals(request: Request, pins: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-pin sums over the last 90 days (today included) and lifetime totals (all time, whatever the
    request window)."""
    recent = request.state.organic.pin_window_totals(pins, _recent_days(request.state))
    return recent, _lifetime_totals(request.state, pins, recent)


def _lifetime_totals(state, pins: np.ndarray, recent: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Lifetime totals of pins from their sums over the last 90 days (`recent`)."""
    days = _recent_days(state)
    # Days older than the 90-day window are not simulated one by one: their total is extrapolated from
    # the recent daily average, scaled up because pins were more active when new.
    older_days = np.maximum(days[0] - state.world.pin_created_day[pins], 0)
    return {m: v + np.floor(v / float(len(days)) * older_days * 1.3).astype(np.int64) for m, v in recent.items()}


def _pin_resources(request: Request, pins: list[int]) -> list[dict]:
    w = request.state.world
    resources = [w.pin_resource(i) for i in pins]
    if bool_param(request.query, "pin_metrics", False) and pins:
        recent, lifetime = pin_totals(request, np.array(pins, dtype=np.int64))
        for j, resource in enumerate(resources):
            resource["pin_metrics"] = {"90d": _pin_metrics(recent, j, False), "lifetime_metrics": _pin_metrics(lifetime, j, True)}
    return resources


def _pin_metrics(totals: dict[str, np.ndarray], j: int, with_social: bool) -> dict:
    """`Pin.pin_metrics` parts use lowercase names of their own (from the official example)."""
    out = {"pin_click": int(totals["PIN_CLICK"][j]), "impression": int(totals["IMPRESSION"][j]),
           "clickthrough": int(totals["OUTBOUND_CLICK"][j])}
    if with_social:
        out.update(reaction=int(totals["TOTAL_REACTIONS"][j]), comment=int(totals["TOTAL_COMMENTS"][j]))
    return out


def _filter_creative_types(request: Request, pins: np.ndarray) -> np.ndarray:
    creative_types = enum_list(request.query, "creative_types", enums.CREATIVE_TYPES)
    if not creative_types:
        return pins
    is_video = request.state.world.pin_is_video[pins]
    keep = np.zeros(len(pins), dtype=bool)
    if "VIDEO" in creative_types:
        keep |= is_video
    if "REGULAR" in creative_types:
        keep |= ~is_video
    return pins[keep]


def list_pins(request: Request) -> Reply:
    q, w = request.query, request.state.world
    _check_business_access(request)
    pins = _visible_pins(request)
    pin_filter = enum_param(q, "pin_filter", ("exclude_native", "exclude_repins", "has_been_promoted"))
    if pin_filter == "exclude_repins":
        pins = np.array([i for i in pins.tolist() if w.pin_parent[i] is None], dtype=np.int64)
    elif pin_filter == "has_been_promoted":
        pins = np.array([i for i in pins.tolist() if i in w.promoted_pins], dtype=np.int64)
    elif pin_filter == "exclude_native":  # only the repins (saved from other users' pins)
        pins = np.array([i for i in pins.tolist() if w.pin_parent[i] is not None], dtype=np.int64)
    if enum_param(q, "pin_type", ("PRIVATE",)) == "PRIVATE":
        if not _can_see_secret(request):
            raise missing_scope()
        pins = pins[w.board_secret[w.pin_board[pins]]]
    bool_param(q, "include_protected_pins", False)  # no protected pins in the simulated account
    pins = _filter_creative_types(request, pins)
    window, bookmark = page(request.path, q, len(pins))
    return Reply({"items": _pin_resources(request, [int(pins[i]) for i in window]), "bookmark": bookmark})


def list_board_pins(request: Request) -> Reply:
    w = request.state.world
    _check_business_access(request)
    board = _board_index(request)
    pins = np.flatnonzero(w.pin_board == board)
    pins = _filter_creative_types(request, pins)
    window, bookmark = page(request.path, request.query, len(pins))
    return Reply({"items": _pin_resources(request, [int(pins[i]) for i in window]), "bookmark": bookmark})


def _pin_index(request: Request, pin_id: str, *, bulk: bool) -> int:
    w = request.state.world
    index = w.pin_index_by_id.get(pin_id)
    if index is None:
        if pin_id in w.foreign_pin_ids:
            raise ApiError(401 if bulk else 403, 7 if bulk else 403, "Not authorized to access board or Pin.")
        raise ApiError(404, 50 if bulk else 404, "Pin not found.")
    private = index >= len(w.pin_ids) - request.state.config.private_pins
    if private or (w.pin_on_secret_board(index) and not _can_see_secret(request)):
        raise ApiError(401 if bulk else 403, 7 if bulk else 403, "Not authorized to access board or Pin.")
    return index


def get_pin(request: Request) -> Reply:
    _check_business_access(request)
    if not request.params["pin_id"].isdigit():
        raise invalid("Parameter 'pin_id' must be numeric.")
    index = _pin_index(request, request.params["pin_id"], bulk=False)
    return Reply(_pin_resources(request, [index])[0])


def _pin_metric_types(request: Request) -> list[str]:
    requested = many(request.query, "metric_types")
    if not requested:
        raise invalid("Parameter 'metric_types' is required.")
    if requested == ["ALL"]:
        return list(dict.fromkeys(enums.PIN_STANDARD_METRIC_TYPES + enums.PIN_VIDEO_METRIC_TYPES))
    for metric in requested:
        if metric not in PIN_METRIC_TYPES:
            raise invalid(f"Parameter 'metric_types' has an invalid value {metric!r}.")
    return requested


def _pin_analytics(request: Request, pins: list[int], metrics: list[str], split_field: str, app_type: str) -> list[dict]:
    """Each pin's answer: its buckets (`all`, or app types) of daily and summary metrics, with lifetime totals."""
    state = request.state
    start, end = date_window(request.query, state.world.today, message="Invalid pins analytics parameters.")
    days = _day_range(start, end)
    idx = np.array(pins, dtype=np.int64)
    # The window's counts and the last 90 days' (for the lifetime totals) from one run of the model over both:
    # a pin's reported count of a day does not depend on the other days asked for.
    recent_days = _recent_days(state)
    span = np.arange(min(days[0], recent_days[0]), max(days[-1], recent_days[-1]) + 1, dtype=np.int64)
    reported = state.organic.reported_pin_counts(idx, span)
    counts = {m: v[:, days[0] - span[0]:days[-1] - span[0] + 1] for m, v in reported.items()}
    recent = {m: v[:, recent_days[0] - span[0]:recent_days[-1] - span[0] + 1].sum(axis=1) for m, v in reported.items()}
    keys = state.world.pin_keys[idx]
    if app_type != "ALL":
        counts = om.split_counts(counts, state.organic.split_shares_of("APP_TYPE", days, keys))[app_type]
    if split_field != "APP_TYPE":
        buckets = {"all": counts}
    elif app_type != "ALL":
        buckets = {app_type: counts}  # already narrowed to one app type by the filter
    else:
        buckets = om.split_counts(counts, state.organic.split_shares_of("APP_TYPE", days, keys))
    # A pin has the metrics of its type: the video set (no follows or profile visits) or the standard one.
    own = [[m for m in metrics if m in (VIDEO_METRICS if video else STANDARD_METRICS)]
           for video in state.world.pin_is_video[idx].tolist()]
    statuses = state.organic.pin_statuses(idx, days).tolist()
    dates = _iso_dates(days)
    blocks = {name: analytics_blocks(dates, statuses, c, own) for name, c in buckets.items()}
    lifetime = _lifetime_totals(state, idx, recent)
    lifetime_metrics = [dict(zip(_LIFETIME_METRICS, totals)) for totals in zip(*(lifetime[m].tolist() for m in _LIFETIME_METRICS))]
    return [{name: {**blocks[name][j], "lifetime_metrics": lifetime_metrics[j]} for name in buckets} for j in range(len(pins))]


def pin_analytics(request: Request) -> Reply:
    _check_business_access(request)
    if not request.params["pin_id"].isdigit():
        raise invalid("Parameter 'pin_id' must be numeric.")
    index = _pin_index(request, request.params["pin_id"], bulk=False)
    metrics = _pin_metric_types(request)
    split_field = enum_param(request.query, "split_field", enums.PIN_SPLIT_FIELDS, "NO_SPLIT")
    if split_field != "NO_SPLIT" and many(request.query, "metric_types") == ["ALL"]:
        raise invalid(f"Parameter 'metric_types' cannot be ALL when split_field is {split_field} (only with NO_SPLIT).")
    app_type = enum_param(request.query, "app_types", enums.APP_TYPES, "ALL")
    return Reply(_pin_analytics(request, [index], metrics, split_field, app_type)[0])


# How an app without the beta bulk endpoint is refused (SandboxConfig.bulk_pin_refusal): 403 code 29, or one of
# the refusals the official description documents for the endpoint, with its example message, which also
# means "a pin of the batch" (so a client cannot tell them apart by the answer alone).
_BULK_REFUSALS = {
    "403": (403, 29, "Your app does not have access to multi_pins/analytics (a beta endpoint)."),
    "401-7": (401, 7, "Not authorized to access board or Pin."),
    "404-50": (404, 50, "Pin not found."),
    "400-1": (400, 1, "Invalid multi_pins analytics parameters."),
}


def _left_out_of_bulk(request: Request, pin_id: str) -> bool:
    """A pin among the world's last `missing_bulk_pins`: bulk answers silently leave it out."""
    w = request.state.world
    index = w.pin_index_by_id.get(pin_id)
    return index is not None and index >= len(w.pin_ids) - request.state.config.missing_bulk_pins


def bulk_pin_analytics(request: Request) -> Reply:
    config = request.state.config
    if not config.bulk_pin_analytics:
        raise ApiError(*_BULK_REFUSALS[config.bulk_pin_refusal])
    _check_business_access(request)
    pin_ids = id_list(request.query, "pin_ids", 100, required=True)
    if "split_field" in request.query:
        raise ApiError(400, 1, "Invalid multi_pins analytics parameters: split_field is not supported.")
    metrics = _pin_metric_types(request)
    app_type = enum_param(request.query, "app_types", enums.APP_TYPES, "ALL")
    unique_ids = [pin_id for pin_id in dict.fromkeys(pin_ids) if not _left_out_of_bulk(request, pin_id)]
    pins = [_pin_index(request, pin_id, bulk=True) for pin_id in unique_ids]
    blocks = _pin_analytics(request, pins, metrics, "NO_SPLIT", app_type)
    return Reply(dict(zip(unique_ids, blocks)))


_ORG = "org_read"
_ORG_ANALYTICS = "org_analytics"
ROUTES = (
    Route("GET", "/v5/user_account", "user_account/get", user_account, _ORG, ("user_accounts:read",)),
    Route("GET", "/v5/user_account/analytics", "user_account/analytics", user_account_analytics, _ORG_ANALYTICS,
          ("user_accounts:read",), api_sandbox_enabled=False),
    Route("GET", "/v5/user_account/analytics/top_pins", "user_account/analytics/top_pins", top_pins, _ORG_ANALYTICS,
          ("pins:read", "user_accounts:read"), api_sandbox_enabled=False),
    Route("GET", "/v5/boards", "boards/list", list_boards, _ORG, ("boards:read",)),
    Route("GET", "/v5/boards/{board_id}", "boards/get", get_board, _ORG, ("boards:read",)),
    Route("GET", "/v5/boards/{board_id}/pins", "boards/list_pins", list_board_pins, _ORG, ("boards:read", "pins:read")),
    Route("GET", "/v5/pins", "pins/list", list_pins, _ORG, ("boards:read", "pins:read")),
    Route("GET", "/v5/pins/analytics", "multi_pins/analytics", bulk_pin_analytics, _ORG_ANALYTICS,
          ("boards:read", "pins:read"), api_sandbox_enabled=False),
    Route("GET", "/v5/pins/{pin_id}", "pins/get", get_pin, _ORG, ("boards:read", "pins:read")),
    Route("GET", "/v5/pins/{pin_id}/analytics", "pins/analytics", pin_analytics, _ORG_ANALYTICS,
          ("boards:read", "pins:read"), api_sandbox_enabled=False),
)
