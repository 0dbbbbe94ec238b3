"""Every response the simulator serves validates against the official OpenAPI description.

Schemas are never written here: each validator is a `$ref` into the official description
(../shared/reference/pinterest-openapi-v5.json), registered whole with `referencing`, so the
operation's `responses.<status>.content["application/json"].schema` and every
`#/components/schemas/...` it refers to resolve exactly as the description states them.
Validation uses `openapi_schema_validator.OAS30Validator` (OpenAPI 3.0.3: `nullable`,
`discriminator` inside `oneOf`, ...) with format assertions switched on.

One format deviates from strict RFC 3339 on purpose: Pinterest's `date-time` values carry no
UTC offset. The description itself documents its `format: date-time` fields as
"Date and time (UTC) ... YYYY-MM-DD'T'hh:mm:ss" and its examples read "2024-01-01T20:10:40",
so `date-time` accepts an ISO-8601 date and time with an optional offset (still rejecting
anything that is not a real date and time).

Besides the schema, every id field (`id`, `*_id`, `*_ids`, `*_ID`) must be a string of digits:
the API never sends ids as JSON numbers (pin ids exceed 2**53).

Every test that needs the description skips, with the reason, when it is absent (the `spec`
fixture); the sandbox is not even started then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
import requests
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT4

from pipelines.sandbox.auth import APP_ID, APP_SECRET, DEV_ACCESS_TOKEN, DEV_REFRESH_TOKEN
from tests.conftest import TODAY

SPEC_URI = "urn:pinterest:api-v5:openapi.json"
JSON = "application/json"

# Request windows inside the organic and ads 90-day limits, ending today (so they include
# PROCESSING and ESTIMATE days, and days before recently created pins existed).
START = TODAY - dt.timedelta(days=30)
END = TODAY
ADS_COLUMNS = "SPEND_IN_MICRO_DOLLAR,IMPRESSION_1,CLICKTHROUGH_1,TOTAL_CONVERSIONS,CTR"
USER_ACCOUNT_SPLIT_FIELDS = ("NO_SPLIT", "APP_TYPE", "OWNED_CONTENT", "SOURCE", "PIN_FORMAT")
TOP_PINS_SORT_BY = ("ENGAGEMENT", "IMPRESSION", "OUTBOUND_CLICK", "PIN_CLICK", "SAVE")
IMAGE_PIN_METRICS = "IMPRESSION,SAVE,PIN_CLICK,OUTBOUND_CLICK,SAVE_RATE,TOTAL_COMMENTS,TOTAL_REACTIONS"
VIDEO_PIN_METRICS = "IMPRESSION,SAVE,PIN_CLICK,OUTBOUND_CLICK,VIDEO_START,VIDEO_MRC_VIEW,VIDEO_AVG_WATCH_TIME"
ALL_ENTITY_STATUSES = "ACTIVE,PAUSED,ARCHIVED"
REPORT_LEVELS = ("ADVERTISER", "CAMPAIGN", "AD_GROUP", "PIN_PROMOTION")
MAX_REPORT_POLLS = 10

_DIGITS = re.compile(r"^\d+$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$")


# ---------------------------------------------------------------------------------- validation
def _pinterest_format_checker() -> FormatChecker:
    """The OpenAPI 3.0 format checker, with `date-time` as Pinterest uses it (offset optional)."""
    checker = FormatChecker(formats=())
    checker.checkers = dict(oas30_format_checker.checkers)

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _DATE_TIME.match(value):
            return False
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))  # a real date and time, or ValueError
        return True

    return checker


FORMAT_CHECKER = _pinterest_format_checker()


def _pointer(*segments: str) -> str:
    return "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segments)


class OpenApiSchemas:
    """Validators for pieces of the official description, each a `$ref` into the whole document."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.registry = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(spec))

    def validator(self, pointer: str):
        return OAS30Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=self.registry, format_checker=FORMAT_CHECKER)

    def _resolve(self, pointer: str) -> tuple[str, Any]:
        """The node at a JSON pointer, following `$ref` objects at the pointer itself."""
        resolved = self.registry.resolver(SPEC_URI).lookup(f"{SPEC_URI}#{pointer}")
        node = resolved.contents
        while isinstance(node, dict) and "$ref" in node:
            pointer = urllib.parse.unquote(node["$ref"].partition("#")[2])
            node = self.registry.resolver(SPEC_URI).lookup(f"{SPEC_URI}#{pointer}").contents
        return pointer, node

    def response_pointer(self, method: str, path: str, status: str = "200") -> str:
        """Pointer to the application/json schema of an operation's response for `status`.

        200 must be documented; an error status falls back to the operation's `default` response."""
        operation = self.spec["paths"].get(path, {}).get(method.lower())
        assert operation is not None, f"{method.upper()} {path} is not an operation of the official description"
        responses = operation["responses"]
        key = status if status in responses or status == "200" else "default"
        assert key in responses, f"{method.upper()} {path} documents no {status} response"
        pointer, response = self._resolve(_pointer("paths", path, method.lower(), "responses", key))
        assert JSON in response.get("content", {}), f"{method.upper()} {path} {key} has no {JSON} content"
        return pointer + _pointer("content", JSON, "schema")

    def parameters(self, method: str, path: str) -> dict[str, dict]:
        """An operation's parameters by name, `$ref`s to #/components/parameters followed."""
        base = _pointer("paths", path, method.lower(), "parameters")
        count = len(self.spec["paths"][path][method.lower()]["parameters"])
        resolved = [self._resolve(f"{base}/{i}")[1] for i in range(count)]
        return {p["name"]: p for p in resolved}

    def response(self, method: str, path: str, status: str = "200"):
        return self.validator(self.response_pointer(method, path, status))

    def component(self, name: str):
        assert name in self.spec["components"]["schemas"], f"#/components/schemas/{name} is not in the description"
        return self.validator(_pointer("components", "schemas", name))

    def discriminated(self, pointer: str, instance: dict):
        """For a schema with a bare `discriminator` (no oneOf/anyOf, which the validator would
        apply itself): the validator of the schema its mapping names for this instance."""
        _, schema = self._resolve(pointer)
        discriminator = schema.get("discriminator")
        if discriminator is None:
            return None
        value = instance.get(discriminator["propertyName"])
        target = discriminator.get("mapping", {}).get(value, f"#/components/schemas/{value}")
        return self.validator(urllib.parse.unquote(target.partition("#")[2]))


def assert_valid(validator, instance: Any, what: str) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [f"  at $/{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:15]]
        more = f"\n  ... and {len(errors) - 15} more" if len(errors) > 15 else ""
        pytest.fail(f"{what}: {len(errors)} schema violation(s)\n" + "\n".join(lines) + more)


def id_values(document: Any, path: str = "$") -> list[tuple[str, Any]]:
    """Every (json path, value) of an id field: `id`, `*_id`/`*_ID`, and each element of `*_ids`."""
    found: list[tuple[str, Any]] = []
    if isinstance(document, dict):
        for key, value in document.items():
            here = f"{path}.{key}"
            lowered = key.lower()
            if lowered == "id" or lowered.endswith("_id"):
                found.append((here, value))
            elif lowered.endswith("_ids") and isinstance(value, list):
                found.extend((f"{here}[{i}]", v) for i, v in enumerate(value))
            found.extend(id_values(value, here))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            found.extend(id_values(value, f"{path}[{i}]"))
    return found


def assert_ids_are_digit_strings(document: Any) -> int:
    """Every id field is a string of digits (null only where the schema allows it); returns the count."""
    ids = id_values(document)
    wrong = [(where, value) for where, value in ids
             if value is not None and not (isinstance(value, str) and _DIGITS.match(value))]
    wrong += [(where, value) for where, value in ids if value is None and where.endswith(".id")]
    assert not wrong, f"id fields that are not strings of digits: {wrong[:10]}"
    return sum(value is not None for _, value in ids)


def checked(schemas: OpenApiSchemas, method: str, path: str, response: requests.Response, *,
            status: int = 200) -> Any:
    """Status, content type, schema of the documented response, and digit-string ids of a reply."""
    what = f"{method.upper()} {path} -> {response.status_code} ({response.request.url})"
    assert response.status_code == status, f"{what}: expected {status}; body: {response.text[:400]}"
    assert response.headers.get("Content-Type", "").split(";")[0] == JSON, what
    body = response.json()
    assert_valid(schemas.response(method, path, str(status)), body, what)
    assert_ids_are_digit_strings(body)
    return body


def all_pages(schemas: OpenApiSchemas, api: requests.Session, url: str, path: str, params: dict) -> list[dict]:
    """Items of every page of a list endpoint, each page validated; the last page's bookmark is null."""
    items, bookmark, pages = [], None, 0
    while True:
        page = checked(schemas, "get", path, api.get(url, params={**params, **({"bookmark": bookmark} if bookmark else {})}))
        items.extend(page["items"])
        pages += 1
        bookmark = page.get("bookmark")
        if not bookmark:
            assert bookmark is None, f"{path}: the last page must carry bookmark null (was {bookmark!r})"
            return items
        assert pages < 50, f"{path}: paging does not end"


def window_dates() -> list[str]:
    return [(START + dt.timedelta(days=i)).isoformat() for i in range((END - START).days + 1)]


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def schemas(spec) -> OpenApiSchemas:
    return OpenApiSchemas(spec)


@dataclasses.dataclass(frozen=True)
class WorldIds:
    """Ids of the served world, taken from its list endpoints as a client would."""

    board_ids: list[str]
    image_pin_ids: list[str]
    video_pin_ids: list[str]
    foreign_pin_id: str  # the source pin of a repin: it exists but belongs to someone else
    ad_account_ids: list[str]
    owned_ad_account_id: str
    shared_ad_account_id: str


def _every_item(api: requests.Session, url: str) -> list[dict]:
    items, params = [], {"page_size": 250}
    while True:
        page = api.get(url, params=params).json()
        items.extend(page["items"])
        if not page.get("bookmark"):
            return items
        params["bookmark"] = page["bookmark"]


@pytest.fixture(scope="module")
def ids(sandbox, api) -> WorldIds:
    base = sandbox.base_url
    boards = _every_item(api, f"{base}/boards")
    pins = _every_item(api, f"{base}/pins")
    accounts = _every_item(api, f"{base}/ad_accounts")
    owned = [a["id"] for a in accounts if "OWNER" in a["permissions"]]
    shared = [a["id"] for a in accounts if "OWNER" not in a["permissions"]]
    return WorldIds(
        board_ids=[b["id"] for b in boards],
        image_pin_ids=[p["id"] for p in pins if p["media"]["media_type"] == "image"],
        video_pin_ids=[p["id"] for p in pins if p["media"]["media_type"] == "video"],
        foreign_pin_id=next(p["parent_pin_id"] for p in pins if p["parent_pin_id"]),
        ad_account_ids=[a["id"] for a in accounts],
        owned_ad_account_id=owned[0],
        shared_ad_account_id=shared[0],
    )


# ------------------------------------------------------------------------ the validator itself
def test_schema_validators_reject_responses_that_break_the_official_schema(schemas):
    """Guard against vacuous validation (e.g. a $ref that silently resolves to an empty schema)."""
    pin = schemas.response("get", "/pins/{pin_id}")
    assert not list(pin.iter_errors({"id": "642396334344813594", "media": {"media_type": "image"}}))
    assert list(pin.iter_errors({"id": 642396334344813594}))  # an id as a JSON number
    assert list(pin.iter_errors({"id": "1", "media": {"media_type": "hologram"}}))  # discriminator
    assert list(pin.iter_errors({"id": "1", "created_at": "2026-02-30T10:00:00"}))  # not a date-time
    assert list(pin.iter_errors({"id": "1", "alt_text": "x" * 501}))  # maxLength
    assert list(pin.iter_errors({"id": "1", "title": None, "board_id": None}))  # board_id not nullable
    analytics = schemas.response("get", "/user_account/analytics")
    assert list(analytics.iter_errors({"all": {"daily_metrics": [{"date": "2026-11-01", "data_status": "BOGUS"}]}}))
    assert list(analytics.iter_errors({"all": {"summary_metrics": {"IMPRESSION": "12"}}}))
    boards = schemas.response("get", "/boards")
    assert list(boards.iter_errors({"bookmark": None}))  # items is required
    assert not list(boards.iter_errors({"items": [], "bookmark": None}))
    ad_rows = schemas.response("get", "/ad_accounts/{ad_account_id}/analytics")
    assert list(ad_rows.iter_errors([{"DATE": "2026-11-01", "SPEND_IN_MICRO_DOLLAR": 5}]))  # AD_ACCOUNT_ID missing
    error = schemas.component("Error")
    assert not list(error.iter_errors({"code": 2, "message": "Authentication failed."}))
    assert list(error.iter_errors({"code": "2", "message": "Authentication failed."}))
    assert list(error.iter_errors({"message": "no code"}))


def test_id_check_flags_numeric_and_non_digit_ids():
    assert assert_ids_are_digit_strings({"id": "1", "items": [{"board_id": "2", "parent_pin_id": None}],
                                         "rows": [{"AD_ID": "3"}], "pin_ids": ["4", "5"]}) == 5
    for bad in ({"id": 1}, {"items": [{"pin_id": "AG12"}]}, {"CAMPAIGN_ID": 12.0}, {"campaign_ids": [1]}, {"id": None}):
        with pytest.raises(AssertionError):
            assert_ids_are_digit_strings(bad)


def test_parametrized_enums_cover_every_value_the_spec_defines(schemas):
    """The split_field and sort_by cases below are exactly the operations' parameter enums."""
    account = schemas.parameters("get", "/user_account/analytics")
    assert set(account["split_field"]["schema"]["enum"]) == set(USER_ACCOUNT_SPLIT_FIELDS)
    top_pins = schemas.parameters("get", "/user_account/analytics/top_pins")
    assert set(top_pins["sort_by"]["schema"]["enum"]) == set(TOP_PINS_SORT_BY)
    pin = schemas.parameters("get", "/pins/{pin_id}/analytics")
    assert set(pin["split_field"]["schema"]["enum"]) == {"NO_SPLIT", "APP_TYPE"}


# -------------------------------------------------------------------------------------- organic
def test_user_account_matches_account_schema(schemas, sandbox, api):
    body = checked(schemas, "get", "/user_account", api.get(f"{sandbox.base_url}/user_account"))
    assert body["account_type"] == "BUSINESS"
    assert assert_ids_are_digit_strings(body) == 1


@pytest.mark.parametrize("split_field", USER_ACCOUNT_SPLIT_FIELDS)
def test_user_account_analytics_matches_analytics_response_schema(schemas, sandbox, api, split_field):
    params = {"start_date": START.isoformat(), "end_date": END.isoformat(), "split_field": split_field}
    body = checked(schemas, "get", "/user_account/analytics", api.get(f"{sandbox.base_url}/user_account/analytics", params=params))
    if split_field == "NO_SPLIT":
        assert set(body) == {"all"}
    else:
        assert len(body) >= 2 and "all" not in body, f"{split_field} should give one key per bucket: {sorted(body)}"
    for bucket, block in body.items():
        assert [row["date"] for row in block["daily_metrics"]] == window_dates(), bucket
        assert block["summary_metrics"], bucket
    statuses = {row["data_status"] for block in body.values() for row in block["daily_metrics"]}
    assert {"READY", "PROCESSING"} <= statuses


@pytest.mark.parametrize("sort_by", TOP_PINS_SORT_BY)
def test_top_pins_match_top_pins_analytics_response_schema(schemas, sandbox, api, sort_by):
    params = {"start_date": START.isoformat(), "end_date": END.isoformat(), "sort_by": sort_by, "num_of_pins": 25}
    body = checked(schemas, "get", "/user_account/analytics/top_pins",
                   api.get(f"{sandbox.base_url}/user_account/analytics/top_pins", params=params))
    assert body["sort_by"] == sort_by
    assert len(body["pins"]) == 25
    values = [pin["metrics"][sort_by] for pin in body["pins"]]
    assert values == sorted(values, reverse=True)
    assert assert_ids_are_digit_strings(body) == 25


def test_boards_list_matches_schema_on_every_page(schemas, sandbox, api):
    boards = all_pages(schemas, api, f"{sandbox.base_url}/boards", "/boards", {"page_size": 5})
    assert len(boards) == len({b["id"] for b in boards}) >= 2
    assert {b["privacy"] for b in boards} >= {"PUBLIC", "SECRET"}


def test_every_board_matches_board_schema(schemas, sandbox, api, ids):
    for board_id in ids.board_ids:
        body = checked(schemas, "get", "/boards/{board_id}", api.get(f"{sandbox.base_url}/boards/{board_id}"))
        assert body["id"] == board_id


def test_every_boards_pins_match_paginated_pin_schema(schemas, sandbox, api, ids):
    total = 0
    for board_id in ids.board_ids:
        pins = all_pages(schemas, api, f"{sandbox.base_url}/boards/{board_id}/pins", "/boards/{board_id}/pins",
                         {"page_size": 250})
        assert all(pin["board_id"] == board_id for pin in pins)
        total += len(pins)
    assert total == len(ids.image_pin_ids) + len(ids.video_pin_ids)


@pytest.mark.parametrize("pin_metrics", [False, True], ids=["without-pin-metrics", "with-pin-metrics"])
def test_pins_list_matches_schema_on_every_page(schemas, sandbox, api, pin_metrics):
    params = {"page_size": 250, **({"pin_metrics": "true"} if pin_metrics else {})}
    pins = all_pages(schemas, api, f"{sandbox.base_url}/pins", "/pins", params)
    assert len(pins) > 250  # more than one page
    assert {pin["media"]["media_type"] for pin in pins} == {"image", "video"}  # both discriminator branches
    if pin_metrics:
        assert all(set(pin["pin_metrics"]) == {"90d", "lifetime_metrics"} for pin in pins)
    else:
        assert all(pin["pin_metrics"] is None for pin in pins)


@pytest.mark.parametrize("media_type", ["image", "video"])
@pytest.mark.parametrize("pin_metrics", [False, True], ids=["without-pin-metrics", "with-pin-metrics"])
def test_single_pin_matches_pin_schema(schemas, sandbox, api, ids, media_type, pin_metrics):
    pin_id = (ids.image_pin_ids if media_type == "image" else ids.video_pin_ids)[0]
    params = {"pin_metrics": "true"} if pin_metrics else {}
    body = checked(schemas, "get", "/pins/{pin_id}", api.get(f"{sandbox.base_url}/pins/{pin_id}", params=params))
    assert body["id"] == pin_id and body["media"]["media_type"] == media_type
    assert (body["pin_metrics"] is not None) == pin_metrics


@pytest.mark.parametrize("media_type", ["image", "video"])
@pytest.mark.parametrize("split_field", [None, "APP_TYPE"], ids=["default-split", "split-APP_TYPE"])
def test_pin_analytics_match_pin_analytics_response_schema(schemas, sandbox, api, ids, media_type, split_field):
    pin_id = (ids.image_pin_ids if media_type == "image" else ids.video_pin_ids)[0]
    params = {"start_date": START.isoformat(), "end_date": END.isoformat(),
              "metric_types": IMAGE_PIN_METRICS if media_type == "image" else VIDEO_PIN_METRICS,
              **({"split_field": split_field} if split_field else {})}
    body = checked(schemas, "get", "/pins/{pin_id}/analytics",
                   api.get(f"{sandbox.base_url}/pins/{pin_id}/analytics", params=params))
    if split_field is None:
        assert set(body) == {"all"}
    else:
        assert len(body) >= 2 and "all" not in body
    for block in body.values():
        assert [row["date"] for row in block["daily_metrics"]] == window_dates()
        assert set(block["lifetime_metrics"]) >= {"TOTAL_COMMENTS", "TOTAL_REACTIONS"}


def test_bulk_pin_analytics_match_bulk_pin_analytics_response_schema(schemas, sandbox, api, ids):
    pin_ids = ids.image_pin_ids[:8] + ids.video_pin_ids[:2]
    params = {"pin_ids": ",".join(pin_ids),  # comma-joined, as Pinterest's SDK sends it (repeated keys are refused)
              "start_date": START.isoformat(), "end_date": END.isoformat(), "metric_types": "IMPRESSION,SAVE,PIN_CLICK"}
    body = checked(schemas, "get", "/pins/analytics", api.get(f"{sandbox.base_url}/pins/analytics", params=params))
    assert set(body) == set(pin_ids)
    assert all(_DIGITS.match(key) for key in body)  # the keys are pin ids
    assert all(set(per_pin) == {"all"} for per_pin in body.values())


# ------------------------------------------------------------------------------------------ ads
def test_ad_accounts_list_matches_schema(schemas, sandbox, api):
    accounts = all_pages(schemas, api, f"{sandbox.base_url}/ad_accounts", "/ad_accounts", {"page_size": 1})
    assert len(accounts) >= 2
    assert all(len(a["id"]) <= 18 and _DIGITS.match(a["owner"]["id"]) for a in accounts)


# HOUR is left out: the description declares DATE as `format: date` for every time-based
# granularity, which cannot carry an hour, and the real HOUR row format is unknown.
@pytest.mark.parametrize("granularity", ["DAY", "WEEK", "MONTH", "TOTAL"])
def test_ad_account_analytics_match_ad_account_analytics_response_schema(schemas, sandbox, api, ids, granularity):
    for account_id in ids.ad_account_ids:
        params = {"start_date": START.isoformat(), "end_date": END.isoformat(), "columns": ADS_COLUMNS,
                  "granularity": granularity}
        rows = checked(schemas, "get", "/ad_accounts/{ad_account_id}/analytics",
                       api.get(f"{sandbox.base_url}/ad_accounts/{account_id}/analytics", params=params))
        assert rows, f"ad account {account_id} should have delivery in the window"
        assert all(row["AD_ACCOUNT_ID"] == account_id for row in rows)
        assert all(("DATE" in row) == (granularity != "TOTAL") for row in rows)
        if granularity == "DAY":
            assert {row["DATE"] for row in rows} <= set(window_dates())


ENTITY_KINDS = {
    # list path segment: (analytics id parameter, analytics id column)
    "campaigns": ("campaign_ids", "CAMPAIGN_ID"),
    "ad_groups": ("ad_group_ids", "AD_GROUP_ID"),
    "ads": ("ad_ids", "AD_ID"),
}


def _entities(schemas, sandbox, api, account_id: str, kind: str) -> list[dict]:
    path = f"/ad_accounts/{{ad_account_id}}/{kind}"
    return all_pages(schemas, api, f"{sandbox.base_url}/ad_accounts/{account_id}/{kind}", path,
                     {"entity_statuses": ALL_ENTITY_STATUSES})


@pytest.mark.parametrize("kind", list(ENTITY_KINDS))
def test_ad_entity_lists_with_every_status_match_schema(schemas, sandbox, api, ids, kind):
    statuses = set()
    for account_id in ids.ad_account_ids:
        entities = _entities(schemas, sandbox, api, account_id, kind)
        assert entities, f"{kind} of {account_id}"
        assert all(e["ad_account_id"] == account_id for e in entities)
        statuses |= {e["status"] for e in entities}
    assert statuses <= set(ALL_ENTITY_STATUSES.split(","))
    assert "ARCHIVED" in statuses, "entity_statuses=ARCHIVED must return archived entities"


@pytest.mark.parametrize("kind", list(ENTITY_KINDS))
def test_ad_entity_analytics_match_analytics_response_schema(schemas, sandbox, api, ids, kind):
    id_parameter, id_column = ENTITY_KINDS[kind]
    total_rows = 0
    for account_id in ids.ad_account_ids:
        entity_ids = [e["id"] for e in _entities(schemas, sandbox, api, account_id, kind)]
        params = {id_parameter: ",".join(entity_ids), "start_date": START.isoformat(), "end_date": END.isoformat(),
                  "columns": ADS_COLUMNS, "granularity": "DAY"}
        rows = checked(schemas, "get", f"/ad_accounts/{{ad_account_id}}/{kind}/analytics",
                       api.get(f"{sandbox.base_url}/ad_accounts/{account_id}/{kind}/analytics", params=params))
        assert all(row[id_column] in entity_ids for row in rows)
        assert {row["DATE"] for row in rows} <= set(window_dates())
        total_rows += len(rows)
    assert total_rows > 0


def test_ads_analytics_by_campaign_and_pin_ids_match_schema(schemas, sandbox, api, ids):
    ads = _entities(schemas, sandbox, api, ids.owned_ad_account_id, "ads")
    active = [ad for ad in ads if ad["status"] == "ACTIVE"][:5]
    params = {"campaign_ids": ",".join(sorted({ad["campaign_id"] for ad in active})),
              "pin_ids": ",".join(sorted({ad["pin_id"] for ad in active})),
              "start_date": START.isoformat(), "end_date": END.isoformat(), "columns": ADS_COLUMNS, "granularity": "DAY"}
    rows = checked(schemas, "get", "/ad_accounts/{ad_account_id}/ads/analytics",
                   api.get(f"{sandbox.base_url}/ad_accounts/{ids.owned_ad_account_id}/ads/analytics", params=params))
    assert {row["AD_ID"] for row in rows} >= {ad["id"] for ad in active[:1]}


@pytest.mark.parametrize("days_ago", [0, 1, 7, 30, 60])
def test_metrics_ready_state_matches_book_closed_schema(schemas, sandbox, api, days_ago):
    params = {"date": (TODAY - dt.timedelta(days=days_ago)).isoformat()}
    body = checked(schemas, "get", "/resources/metrics_ready_state",
                   api.get(f"{sandbox.base_url}/resources/metrics_ready_state", params=params))
    assert set(body) == {"conversion_metrics_ready", "non_conversion_metrics_ready"}
    assert body["non_conversion_metrics_ready"] == (days_ago >= 1)


@pytest.mark.parametrize("level", REPORT_LEVELS)
def test_async_report_create_and_every_poll_match_schema(schemas, sandbox, api, ids, level):
    url = f"{sandbox.base_url}/ad_accounts/{ids.owned_ad_account_id}/reports"
    request = {"start_date": START.isoformat(), "end_date": END.isoformat(), "granularity": "DAY", "level": level,
               "columns": ["SPEND_IN_MICRO_DOLLAR", "IMPRESSION_1", "CLICKTHROUGH_1", "TOTAL_CONVERSIONS", "CTR"],
               "report_format": "JSON"}
    created = checked(schemas, "post", "/ad_accounts/{ad_account_id}/reports", api.post(url, json=request))
    assert created["report_status"] == "IN_PROGRESS" and created["token"]
    statuses = []
    for _ in range(MAX_REPORT_POLLS):
        polled = checked(schemas, "get", "/ad_accounts/{ad_account_id}/reports",
                         api.get(url, params={"token": created["token"]}))
        statuses.append(polled["report_status"])
        if polled["report_status"] != "IN_PROGRESS":
            break
    assert statuses == ["IN_PROGRESS", "IN_PROGRESS", "FINISHED"], statuses  # the default config: 2 polls in progress
    assert polled["url"] and polled["size"] > 0
    download = requests.get(polled["url"], timeout=10)  # a signed URL: no Bearer header
    assert download.status_code == 200
    report = download.json()
    assert report and all(_DIGITS.match(entity_id) for entity_id in report)
    assert assert_ids_are_digit_strings(report) >= len(report)


def test_report_poll_with_unknown_token_matches_schema(schemas, sandbox, api, ids):
    body = checked(schemas, "get", "/ad_accounts/{ad_account_id}/reports",
                   api.get(f"{sandbox.base_url}/ad_accounts/{ids.owned_ad_account_id}/reports",
                           params={"token": "no-such-report-token"}))
    assert body["report_status"] == "DOES_NOT_EXIST"


# ---------------------------------------------------------------------------------------- OAuth
def _authorization_code(sandbox, scope: str) -> dict:
    redirect_uri = "http://localhost:8085/callback"
    consent = requests.get(f"{sandbox.root_url}/oauth/", allow_redirects=False, timeout=10,
                           params={"client_id": APP_ID, "redirect_uri": redirect_uri, "response_type": "code",
                                   "scope": scope, "state": "csrf-1"})
    assert consent.status_code == 302
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(consent.headers["Location"]).query)["code"][0]
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}


GRANTS: dict[str, Callable[[Any], dict]] = {
    "refresh_token": lambda sandbox: {"grant_type": "refresh_token", "refresh_token": DEV_REFRESH_TOKEN},
    "authorization_code": lambda sandbox: _authorization_code(sandbox, "ads:read,boards:read,pins:read,user_accounts:read"),
    "client_credentials": lambda sandbox: {"grant_type": "client_credentials", "scope": "user_accounts:read,pins:read,boards:read"},
}


@pytest.mark.parametrize("grant", list(GRANTS))
def test_oauth_token_response_matches_schema_and_its_discriminated_variant(schemas, sandbox, grant):
    response = requests.post(f"{sandbox.base_url}/oauth/token", data=GRANTS[grant](sandbox),
                             auth=(APP_ID, APP_SECRET), timeout=10)  # Basic auth, form body
    body = checked(schemas, "post", "/oauth/token", response)
    assert body["response_type"] == grant
    variant = schemas.discriminated(schemas.response_pointer("post", "/oauth/token"), body)
    assert variant is not None, "OauthAccessTokenResponse is discriminated by response_type"
    assert_valid(variant, body, f"/oauth/token {grant} against its discriminator mapping")
    assert body["access_token"].startswith("pina_") and body["token_type"] == "bearer"
    assert ("refresh_token" in body) == (grant != "client_credentials")
    # The issued token works.
    me = requests.get(f"{sandbox.base_url}/user_account", headers={"Authorization": f"Bearer {body['access_token']}"},
                      timeout=10)
    checked(schemas, "get", "/user_account", me)


# --------------------------------------------------------------------------------------- errors
@dataclasses.dataclass(frozen=True)
class ErrorCase:
    method: str
    path: str  # the operation in the description
    build: Callable[[WorldIds], tuple[str, dict]]  # (URL path under /v5, requests kwargs)
    status: int
    code: int | None = None
    token: str | None = "dev"  # "dev": the development token; None: no Authorization header; else that header


def _analytics_window(**extra) -> dict:
    return {"start_date": START.isoformat(), "end_date": END.isoformat(), **extra}


ERROR_CASES = {
    "400-user-account-analytics-start-beyond-90-days": ErrorCase(
        "get", "/user_account/analytics",
        lambda ids: ("/user_account/analytics", {"params": {"start_date": (TODAY - dt.timedelta(days=91)).isoformat(),
                                                            "end_date": END.isoformat()}}), 400, 1),
    "400-pin-analytics-without-metric-types": ErrorCase(
        "get", "/pins/{pin_id}/analytics",
        lambda ids: (f"/pins/{ids.image_pin_ids[0]}/analytics", {"params": _analytics_window()}), 400, 1),
    "400-bulk-pin-analytics-with-split-field": ErrorCase(
        "get", "/pins/analytics",
        lambda ids: ("/pins/analytics", {"params": _analytics_window(pin_ids=",".join(ids.image_pin_ids[:2]), metric_types="IMPRESSION",
                                                                     split_field="APP_TYPE")}), 400, 1),
    "400-pins-page-size-over-250": ErrorCase(
        "get", "/pins", lambda ids: ("/pins", {"params": {"page_size": 251}}), 400, 1),
    "400-campaign-analytics-unknown-column": ErrorCase(
        "get", "/ad_accounts/{ad_account_id}/campaigns/analytics",
        lambda ids: (f"/ad_accounts/{ids.owned_ad_account_id}/campaigns/analytics",
                     {"params": _analytics_window(campaign_ids="1", columns="NOT_A_COLUMN", granularity="DAY")}), 400, 1),
    "400-report-create-with-query-parameters": ErrorCase(
        "post", "/ad_accounts/{ad_account_id}/reports",
        lambda ids: (f"/ad_accounts/{ids.owned_ad_account_id}/reports", {"params": {"level": "CAMPAIGN"}, "json": {}}), 400, 1),
    "401-user-account-without-token": ErrorCase(
        "get", "/user_account", lambda ids: ("/user_account", {}), 401, 2, token=None),
    "401-ad-accounts-with-unknown-token": ErrorCase(
        "get", "/ad_accounts", lambda ids: ("/ad_accounts", {}), 401, 2, token="Bearer pina_NOT_A_TOKEN"),
    "401-bulk-pin-analytics-for-someone-elses-pin": ErrorCase(
        "get", "/pins/analytics",
        lambda ids: ("/pins/analytics", {"params": _analytics_window(pin_ids=[ids.foreign_pin_id], metric_types="IMPRESSION")}),
        401, 7),
    "401-oauth-token-with-wrong-client-secret": ErrorCase(
        "post", "/oauth/token",
        lambda ids: ("/oauth/token", {"data": {"grant_type": "refresh_token", "refresh_token": DEV_REFRESH_TOKEN},
                                      "auth": (APP_ID, "wrong-secret")}), 401, 2, token=None),
    "403-user-account-as-shared-ad-account": ErrorCase(
        "get", "/user_account", lambda ids: ("/user_account", {"params": {"ad_account_id": ids.shared_ad_account_id}}), 403, 29),
    "403-analytics-of-unknown-ad-account": ErrorCase(
        "get", "/ad_accounts/{ad_account_id}/analytics",
        lambda ids: ("/ad_accounts/123456789/analytics",
                     {"params": _analytics_window(columns=ADS_COLUMNS, granularity="DAY")}), 403, 29),
    "404-unknown-board": ErrorCase("get", "/boards/{board_id}", lambda ids: ("/boards/1", {}), 404, 40),
    "404-pins-of-unknown-board": ErrorCase("get", "/boards/{board_id}/pins", lambda ids: ("/boards/1/pins", {}), 404, 40),
    "404-unknown-pin": ErrorCase("get", "/pins/{pin_id}", lambda ids: ("/pins/1", {}), 404),
    "404-analytics-of-unknown-pin": ErrorCase(
        "get", "/pins/{pin_id}/analytics",
        lambda ids: ("/pins/1/analytics", {"params": _analytics_window(metric_types="IMPRESSION")}), 404),
    "404-bulk-pin-analytics-unknown-pin": ErrorCase(
        "get", "/pins/analytics",
        lambda ids: ("/pins/analytics", {"params": _analytics_window(pin_ids=["1"], metric_types="IMPRESSION")}), 404, 50),
}


@pytest.mark.parametrize("case_id", list(ERROR_CASES))
def test_error_bodies_match_error_schema_and_the_documented_response(schemas, sandbox, api, ids, case_id):
    case = ERROR_CASES[case_id]
    url_path, kwargs = case.build(ids)
    url = f"{sandbox.base_url}{url_path}"
    if case.token == "dev":
        response = api.request(case.method.upper(), url, **kwargs)
    else:
        headers = {"Authorization": case.token} if case.token else {}
        response = requests.request(case.method.upper(), url, headers=headers, timeout=10, **kwargs)
    assert response.status_code == case.status, f"{case_id}: {response.status_code} {response.text[:300]}"
    assert response.headers.get("Content-Type", "").split(";")[0] == JSON
    body = response.json()
    assert_valid(schemas.component("Error"), body, f"{case_id} against #/components/schemas/Error")
    # The operation's own documented response for this status (or its `default`), e.g. Pinterest.Lib.Error.
    checked(schemas, case.method, case.path, response, status=case.status)
    if case.code is not None:
        assert body["code"] == case.code, body


def test_rate_limited_responses_match_error_schema(schemas, make_sandbox):
    server = make_sandbox(rate_limits={"org_read": 1})
    headers = {"Authorization": f"Bearer {DEV_ACCESS_TOKEN}"}
    first = requests.get(f"{server.base_url}/boards", headers=headers, timeout=10)
    checked(schemas, "get", "/boards", first)
    limited = requests.get(f"{server.base_url}/boards", headers=headers, timeout=10)
    body = checked(schemas, "get", "/boards", limited, status=429)
    assert_valid(schemas.component("Error"), body, "429 against #/components/schemas/Error")
    assert body["code"] == 8 and "rate limit" in body["message"]
    assert int(limited.headers["Retry-After"]) >= 1


def test_unknown_route_and_wrong_method_answer_with_error_schema(schemas, sandbox, api):
    for method, url, status in (("GET", f"{sandbox.base_url}/no_such_endpoint", 404),
                                ("PUT", f"{sandbox.base_url}/user_account", 405)):
        response = api.request(method, url)
        assert response.status_code == status
        assert response.headers.get("Content-Type", "").split(";")[0] == JSON
        assert_valid(schemas.component("Error"), response.json(), f"{method} {url}")


def test_injected_server_errors_match_the_documented_default_response(schemas, make_sandbox):
    server = make_sandbox(fail_rate=1.0)
    headers = {"Authorization": f"Bearer {DEV_ACCESS_TOKEN}"}
    for path in ("/user_account", "/ad_accounts"):
        response = requests.get(f"{server.base_url}{path}", headers=headers, timeout=10)
        assert response.status_code in (500, 503)
        body = checked(schemas, "get", path, response, status=response.status_code)
        assert_valid(schemas.component("Error"), body, f"{response.status_code} on {path}")
