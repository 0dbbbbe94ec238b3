"""The organic source of the normalization machinery: user-account and pin analytics answers."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection

from pipelines import settings
from pipelines.lake import USER, LakeIdentityError, identity
from pipelines.organic.normalize import normalize_pin_analytics, normalize_user_account_analytics
from pipelines.organic.pin_answers import split_unreadable_pins, split_unrequested_pins
from pipelines.planning import DateRange
from pipelines.raw_zone import RawRecord, RawZone
from pipelines.tables import DAILY_STATUS, UNFILTERED_CONTENT
from pipelines.transform import Normalized, Source


def _normalize(record: RawRecord, content_types: Collection[str]) -> Normalized:
    """An organic answer has no coverage: a metric it lacks that its request asked for is absent, not zero (a READY
    day answered again empty keeps its values); one its request did not ask for (metric_types) is not its to keep.
    A user-account answer of a content type not in `content_types` (one without content_type is ALL) gives no
    rows: a re-normalized date holds exactly the configured content types, and a type PINTEREST_CONTENT_TYPES no
    longer fetches does not keep its last, perhaps preliminary, numbers for ever."""
    asked = record.params.get("metric_types")
    requested_metrics = frozenset(asked.split(",") if isinstance(asked, str) else map(str, asked)) if asked else None
    if record.endpoint == "user_account/analytics":
        content_type = record.params.get("content_type", UNFILTERED_CONTENT)
        if content_type not in content_types:
            return Normalized(DAILY_STATUS.empty_table())
        rows = normalize_user_account_analytics(
            record.json(), record.context["user_id"], record.params.get("split_field", "NO_SPLIT"), record.fetched_at,
            content_type)
        return Normalized(rows, requested_metrics=requested_metrics)
    # A pin whose answer cannot be read is skipped and reported (the extraction asked it alone, so a later answer
    # has its days): one malformed block must not block every later normalization of its dates.
    body, pin_id = record.json(), record.path_params.get("pin_id")
    unrequested = {}
    if pin_id is None:
        body, unrequested = split_unrequested_pins(body, record.params.get("pin_ids"))
    per_pin, unreadable = split_unreadable_pins(body, pin_id)
    rows, lifetime = (normalize_pin_analytics(per_pin[pin_id], record.fetched_at, pin_id) if pin_id is not None and per_pin
                      else normalize_pin_analytics(per_pin, record.fetched_at))
    return Normalized(rows, lifetime, unrequested=unrequested, requested_metrics=requested_metrics,
                      unreadable=unreadable)


def _prepare(raw: RawZone, requested: DateRange, content_types: tuple[str, ...] | None = None):
    """`_normalize` keeping `content_types` (None, outside a run: PINTEREST_CONTENT_TYPES read now)."""
    return functools.partial(_normalize, content_types=settings.content_types() if content_types is None
                             else content_types)


def _identify(raw: RawZone):
    """Answers of user-account analytics name their user; pin analytics answers belong to the user the raw
    zone's account was when they were fetched: that of its newest `user_account/get` answer fetched before (the
    dimensions are always extracted before the analytics), else of its first one."""
    users = [(record.fetched_at, record.json().get("id")) for record in raw.undated_records("user_account/get")]

    def identify(record: RawRecord) -> str:
        if record.endpoint == "user_account/analytics":
            return identity(USER, record.context.get("user_id"))
        if not users:
            raise LakeIdentityError(f"raw file {record.path} holds pin analytics, but its raw folder {raw.root} holds "
                                    "no user_account answer telling whose pins they are; re-run the organic dimensions "
                                    "of that account, or move the folder aside")
        before = [user for fetched, user in users if fetched <= record.fetched_at]
        return identity(USER, before[-1] if before else users[0][1])

    return identify


ORGANIC = Source(name="organic", entity_types=("user_account", "pin"),
                 endpoints=("user_account/analytics", "multi_pins/analytics", "pins/analytics"), prepare=_prepare,
                 identify=_identify)


def organic_source(content_types: tuple[str, ...]) -> Source:
    """ORGANIC keeping the user-account answers of `content_types` (a run's settings): it carries them to the
    normalization's worker processes, which then read no environment."""
    return dataclasses.replace(ORGANIC, prepare=functools.partial(_prepare, content_types=content_types))
