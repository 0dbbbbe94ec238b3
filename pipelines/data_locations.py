"""Where the lake and the raw zone live (PINTEREST_LAKE_URI, PINTEREST_RAW_URI): a local folder, by default
PINTEREST_ETL_HOME/lake and PINTEREST_ETL_HOME/raw, or an S3 prefix (pipelines/object_store.py), which the
pipeline works on through a local copy under PINTEREST_ETL_HOME/stores/ (pipelines/object_mirror.py).

Each run pulls the lake's store into its copy before it reads it, and pushes each step's new lake files and raw
answers when the step ends; `pinterest-etl verify` pulls both whole and checks every file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path

from pipelines import settings
from pipelines.object_mirror import Mirror
from pipelines.object_store import ObjectStore, StoreError, parse_store

LAKE_SETTING, RAW_SETTING = "PINTEREST_LAKE_URI", "PINTEREST_RAW_URI"
STORES_FOLDER = "stores"


@dataclasses.dataclass(frozen=True)
class DataLocations:
    """The local folders the pipeline reads and writes as its lake and raw zone, and the stores they copy."""

    lake: Path
    raw: Path
    lake_store: ObjectStore | None = None
    raw_store: ObjectStore | None = None

    def mirrors(self) -> list[Mirror]:
        found = []
        if self.lake_store:
            found.append(Mirror(self.lake_store, self.lake, append_only=False))
        if self.raw_store:
            found.append(Mirror(self.raw_store, self.raw, append_only=True))
        return found

    def check_stores(self) -> None:
        """StoreError unless every store can be listed and written (before a run calls the API)."""
        for store in {self.lake_store, self.raw_store} - {None}:
            store.check()

    def pull_lake(self) -> int:
        """The lake's store's changes into its copy (nothing for a local lake); files downloaded."""
        return sum(mirror.pull() for mirror in self.mirrors() if not mirror.append_only)

    def pull_all(self) -> int:
        return sum(mirror.pull() for mirror in self.mirrors())

    def publish(self) -> int:
        """The copies' new and changed files (and the lake's removed ones) to their stores; files uploaded."""
        return sum(mirror.push() for mirror in self.mirrors())

    def describe_lake(self) -> str:
        return self.lake_store.uri if self.lake_store else str(self.lake)

    def describe_raw(self) -> str:
        return self.raw_store.uri if self.raw_store else str(self.raw)


def data_locations(home: Path | None = None, env: Mapping[str, str] = os.environ) -> DataLocations:
    """The lake's and raw zone's locations from the environment (SettingsError/StoreError for a refused value)."""
    home = home if home is not None else settings.etl_home(env)
    lake_value, raw_value = (env.get(LAKE_SETTING) or "").strip(), (env.get(RAW_SETTING) or "").strip()
    lake_store = parse_store(lake_value, LAKE_SETTING, env) if lake_value else None
    raw_store = parse_store(raw_value, RAW_SETTING, env) if raw_value else None
    lake = _copy(home, lake_store) if lake_store else _folder(lake_value, LAKE_SETTING) or home / "lake"
    raw = _copy(home, raw_store) if raw_store else _folder(raw_value, RAW_SETTING) or home / "raw"
    if lake_store and raw_store and lake_store.bucket == raw_store.bucket and lake_store.endpoint == raw_store.endpoint:
        _refuse_nested(lake_store.prefix, raw_store.prefix, f"{lake_store.uri} and {raw_store.uri}")
    if not lake_store and not raw_store:
        _refuse_nested(str(lake.resolve()), str(raw.resolve()), f"{lake} and {raw}")
    return DataLocations(lake, raw, lake_store, raw_store)


def _refuse_nested(first: str, second: str, shown: str) -> None:
    a, b = first.rstrip("/") + "/", second.rstrip("/") + "/"
    if a.startswith(b) or b.startswith(a):
        raise StoreError(f"{LAKE_SETTING} and {RAW_SETTING} must not be the same place nor one inside the other "
                         f"({shown}): the lake's files are replaced and removed, the raw zone's never; give each "
                         "a prefix (folder) of its own")


def _folder(value: str, setting: str) -> Path | None:
    if not value:
        return None
    path = Path(value.removeprefix("file://")).expanduser()
    if "\\" in os.path.abspath(path):
        raise settings.SettingsError(f"{setting} must not contain a backslash (it is {os.path.abspath(path)}): DuckDB "
                                     "reads \\ as /; choose a folder without")
    return settings.looked_up(path, setting)


def _copy(home: Path, store: ObjectStore) -> Path:
    """The local copy of `store`: PINTEREST_ETL_HOME/stores/<hash of endpoint and URI>, with a note of which."""
    folder = home / STORES_FOLDER
    copy = folder / store.cache_name()
    note = folder / f"{store.cache_name()}.json"
    if not note.exists():
        folder.mkdir(parents=True, exist_ok=True)
        note.write_text(json.dumps({"uri": store.uri, "endpoint": store.endpoint or "AWS", "setting": store.setting,
                                    "what": "a local copy of this store, which runs keep in step with it; "
                                            "safe to remove (the next run downloads it again)"}) + "\n")
    return copy
