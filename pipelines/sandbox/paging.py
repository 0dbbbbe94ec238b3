"""Bookmark paging: `{"items": [...], "bookmark": str | null}` over a stable, ordered list."""

from __future__ import annotations

import base64
import hashlib
import json

from pipelines.sandbox.errors import invalid
from pipelines.sandbox.params import Query, int_param, one

_NOT_FILTERS = {"bookmark", "page_size"}


def _filters_digest(path: str, query: Query) -> str:
    filters = sorted((k, sorted(v)) for k, v in query.items() if k not in _NOT_FILTERS)
    return hashlib.sha1(json.dumps([path, filters]).encode()).hexdigest()[:10]


def page(path: str, query: Query, total: int) -> tuple[range, str | None]:
    """The index range of the requested page and the bookmark of the next one (None on the last page).

    A bookmark is opaque to clients and valid only with the filters it was issued for."""
    size = int_param(query, "page_size", 25, 1, 250)
    digest = _filters_digest(path, query)
    start = 0
    bookmark = one(query, "bookmark")
    if bookmark is not None:
        try:
            offset_text, bookmark_digest = base64.urlsafe_b64decode(bookmark.encode()).decode().split(":")
            start = int(offset_text)
        except (ValueError, UnicodeDecodeError):
            raise invalid("Invalid bookmark.") from None
        if bookmark_digest != digest or not 0 <= start <= total:
            raise invalid("Invalid bookmark: it belongs to a different request.")
    stop = min(start + size, total)
    next_bookmark = base64.urlsafe_b64encode(f"{stop}:{digest}".encode()).decode() if stop < total else None
    return range(start, stop), next_bookmark
