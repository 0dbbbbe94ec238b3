"""Answers a client takes instead of calling: the stored answers of a resumed run, by the identity of their request
(pipelines/resume.py finds them in the raw zone)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path

RequestKey = tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]


def request_key(endpoint: str, path_params: Mapping[str, object], query: Iterable[tuple[str, str]]) -> RequestKey:
    """The identity of a request: endpoint, path parameters and encoded query pairs (order does not matter)."""
    return endpoint, tuple(sorted((k, str(v)) for k, v in path_params.items())), tuple(sorted(query))


@dataclasses.dataclass(frozen=True)
class StoredAnswer:
    """An answer the raw zone holds: its body byte for byte, its request id, when it was fetched and its raw file."""

    body: bytes
    request_id: str | None
    fetched_at: dt.datetime
    path: Path


class ReplayIndex:
    """The stored answers a resumed run re-uses, by the identity of their request (the newest of identical ones)."""

    def __init__(self, answers: Mapping[RequestKey, StoredAnswer] | None = None):
        self._answers = dict(answers or {})

    def __len__(self) -> int:
        return len(self._answers)

    def find(self, key: RequestKey) -> StoredAnswer | None:
        return self._answers.get(key)
