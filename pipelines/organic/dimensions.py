"""Organic dimensions: the user account, its boards and pins, fetched whole and normalized to Arrow."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pyarrow as pa

from pipelines.lake import USER, identity
from pipelines.organic.extract import PinRef, unique_pins
from pipelines.pinterest.client import PinterestClient
from pipelines.pinterest.errors import ResponseShapeError
from pipelines.raw_zone import RawZone

USER_ACCOUNTS = pa.schema([
    ("user_id", pa.string()), ("username", pa.string()), ("account_type", pa.string()),
    ("business_name", pa.string()), ("website_url", pa.string()), ("about", pa.string()),
    ("board_count", pa.int64()), ("pin_count", pa.int64()), ("follower_count", pa.int64()),
    ("following_count", pa.int64()), ("monthly_views", pa.int64()), ("extracted_at", pa.timestamp("us", tz="UTC")),
])
BOARDS = pa.schema([
    ("board_id", pa.string()), ("name", pa.string()), ("description", pa.string()), ("privacy", pa.string()),
    ("owner_username", pa.string()), ("created_at", pa.timestamp("s", tz="UTC")), ("pin_count", pa.int64()),
    ("follower_count", pa.int64()), ("collaborator_count", pa.int64()), ("is_ads_only", pa.bool_()),
    ("extracted_at", pa.timestamp("us", tz="UTC")),
])
PINS = pa.schema([
    ("pin_id", pa.string()), ("board_id", pa.string()), ("created_at", pa.timestamp("s", tz="UTC")),
    ("title", pa.string()), ("description", pa.string()), ("link", pa.string()), ("creative_type", pa.string()),
    ("media_type", pa.string()), ("is_video", pa.bool_()), ("parent_pin_id", pa.string()), ("is_owner", pa.bool_()),
    ("has_been_promoted", pa.bool_()), ("dominant_color", pa.string()), ("board_section_id", pa.string()),
    ("extracted_at", pa.timestamp("us", tz="UTC")),
])


@dataclasses.dataclass
class OrganicDimensions:
    """The latest state of the organic entities, one row per entity."""

    user_accounts: pa.Table
    boards: pa.Table
    pins: pa.Table

    @property
    def user_id(self) -> str:
        return self.user_accounts.column("user_id")[0].as_py()

    def tables_by_identity(self) -> dict[str, dict[str, pa.Table]]:
        """The tables under the lake identity of their user (`user=<id>`), as the lake keeps their snapshots."""
        return {identity(USER, self.user_id): {"user_accounts": self.user_accounts, "boards": self.boards,
                                               "pins": self.pins}}

    def pin_refs(self) -> list[PinRef]:
        """Each pin once with its type (a pin the listing gave twice with both types as video: `unique_pins`)."""
        return unique_pins([PinRef(pin_id, bool(video)) for pin_id, video in
                            zip(self.pins.column("pin_id").to_pylist(), self.pins.column("is_video").to_pylist())])


def _timestamp(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)  # the API's times are UTC


def _require(item: dict, name: str, endpoint: str):
    if name not in item or item[name] is None:
        raise ResponseShapeError(f"{endpoint}: an item lacks the field {name!r}")
    return item[name]


def normalize_user_account(body: dict, extracted_at: dt.datetime) -> pa.Table:
    if not isinstance(body, dict):
        raise ResponseShapeError(f"user_account/get: expected a JSON object, got {type(body).__name__}")
    row = {name: body.get(name) for name in USER_ACCOUNTS.names}
    row["user_id"] = str(_require(body, "id", "user_account/get"))
    row["extracted_at"] = extracted_at
    return pa.Table.from_pylist([row], schema=USER_ACCOUNTS)


def normalize_boards(items: list[dict], extracted_at: dt.datetime) -> pa.Table:
    rows = [{
        "board_id": str(_require(b, "id", "boards/list")), "name": b.get("name"), "description": b.get("description"),
        "privacy": b.get("privacy"), "owner_username": (b.get("owner") or {}).get("username"),
        "created_at": _timestamp(b.get("created_at")), "pin_count": b.get("pin_count"),
        "follower_count": b.get("follower_count"), "collaborator_count": b.get("collaborator_count"),
        "is_ads_only": b.get("is_ads_only"), "extracted_at": extracted_at,
    } for b in items]
    return pa.Table.from_pylist(rows, schema=BOARDS)


def normalize_pins(items: list[dict], extracted_at: dt.datetime) -> pa.Table:
    rows = []
    for p in items:
        media_type = (p.get("media") or {}).get("media_type")
        rows.append({
            "pin_id": str(_require(p, "id", "pins/list")), "board_id": p.get("board_id"),
            "created_at": _timestamp(p.get("created_at")), "title": p.get("title"), "description": p.get("description"),
            "link": p.get("link"), "creative_type": p.get("creative_type"), "media_type": media_type,
            "is_video": media_type in ("video", "multiple_videos") or p.get("creative_type") in ("VIDEO", "MAX_VIDEO"),
            "parent_pin_id": p.get("parent_pin_id"), "is_owner": p.get("is_owner"),
            "has_been_promoted": p.get("has_been_promoted"), "dominant_color": p.get("dominant_color"),
            "board_section_id": p.get("board_section_id"), "extracted_at": extracted_at,
        })
    return pa.Table.from_pylist(rows, schema=PINS)


def extract_dimensions(client: PinterestClient, raw: RawZone) -> OrganicDimensions:
    """GET /user_account, every page of /boards and /pins; each answer into the raw zone."""
    now = dt.datetime.now(dt.timezone.utc)
    account = client.fetch("user_account/get")
    raw.write("user_account/get", account.content, fetched_at=now, request_id=account.request_id)
    return OrganicDimensions(normalize_user_account(account.data, now),
                             listed_rows(client, raw, "boards/list", normalize_boards, now),
                             listed_rows(client, raw, "pins/list", normalize_pins, now))


def listed_rows(client: PinterestClient, raw: RawZone, name: str,
                normalize: Callable[[list[dict], dt.datetime], pa.Table], extracted_at: dt.datetime) -> pa.Table:
    """Every page of a listing into the raw zone, each normalized as it arrives. Only one page's items are Python
    objects at a time: 100,000 pins held as dicts until the last page left about 300 MB of Python heap the process
    kept for the rest of the run (the few objects that outlive each page pin its freed memory)."""
    tables = []
    for page in client.pages(name):
        raw.write(name, page.content, params={"page_size": 250}, fetched_at=dt.datetime.now(dt.timezone.utc),
                  request_id=page.request_id)
        tables.append(normalize(page.data["items"], extracted_at))
    return pa.concat_tables(tables).combine_chunks()
