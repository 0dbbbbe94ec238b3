"""Where the lake and the raw zone live (PINTEREST_LAKE_URI, PINTEREST_RAW_URI): a local folder, by default
PINTEREST_ETL_HOME/lake and PINTEREST_ETL_HOME/raw, or an S3 prefix (pipelines/object_store.py), which the
pipeline works on through a local copy under PINTEREST_ETL_HOME/stores/ (pipelines/object_mirror.py).

Each run pulls the lake's store into its copy before it reads it, and pushes each step's new lake files and raw
answers when the step ends; `pinterest-etl verify` pulls both whole and checks every file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import urllib.parse
from collections.abc import Collection, Mapping
from pathlib import Path

from pipelines.object_mirror import Mirror
from pipelines.object_store import ObjectStore, StoreError, StoreSettingError, parse_store
from pipelines.planning import DateRange
from pipelines.setting_errors import SettingsError, looked_up

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
            found.append(Mirror(self.lake_store, self.lake, append_only=False, check=_lake_file_problem))
        if self.raw_store:
            found.append(Mirror(self.raw_store, self.raw, append_only=True, check=_raw_file_problem))
        return found

    def check_stores(self) -> None:
        """StoreError unless every store can be listed and written (before a run calls the API)."""
        for store in {self.lake_store, self.raw_store} - {None}:
            store.check()

    def pull_lake(self) -> int:
        """The lake's store's changes into its copy (nothing for a local lake); files downloaded."""
        pulled = sum(mirror.pull() for mirror in self.mirrors() if not mirror.append_only)
        if self.lake_store:
            refuse_earlier_layouts(self.lake, self.lake_store)
        return pulled

    def pull_raw(self, overlapping: DateRange) -> int:
        """The raw zone store's answers that normalizing `overlapping` reads (their window overlaps it, or they
        have none) into its copy, for a step that reads them on a machine that did not fetch them (`run
        --from-raw`; nothing for a local raw zone); files downloaded. Of every endpoint: a source's normalization
        reads other endpoints' answers too (whose pins they are: the user account's)."""
        return sum(mirror.pull(lambda relative: answer_overlaps(relative, overlapping))
                   for mirror in self.mirrors() if mirror.append_only)

    def pull_lake_tables(self, tables: Collection[str], since: dt.date) -> int:
        """The lake store's files of `tables` dated `since` or later, and the accounts' extraction records
        (`_accounts/`), into its copy (nothing for a local lake): what the daily schedule's tick reads, without
        the rest of the lake; files downloaded."""
        def wanted(relative: str) -> bool:
            table, _, rest = relative.partition("/")
            if table == "_accounts":
                return True
            day = rest.partition("/")[0].removeprefix("date=")
            try:
                return table in tables and dt.date.fromisoformat(day) >= since
            except ValueError:
                return False

        return sum(mirror.pull(wanted) for mirror in self.mirrors() if not mirror.append_only)

    def pull_all(self) -> int:
        return sum(mirror.pull() for mirror in self.mirrors())

    def ignored(self) -> list[str]:
        """The objects the last listings left out (URIs): keys no file of a copy can be (pipelines/object_mirror)."""
        return [uri for mirror in self.mirrors() for uri in mirror.ignored]

    def publish(self) -> int:
        """The copies' new and changed files (and the lake's removed ones) to their stores; files uploaded."""
        return sum(mirror.push() for mirror in self.mirrors())

    def describe_lake(self) -> str:
        return self.lake_store.uri if self.lake_store else str(self.lake)

    def describe_raw(self) -> str:
        return self.raw_store.uri if self.raw_store else str(self.raw)


def data_locations(home: Path, env: Mapping[str, str] = os.environ) -> DataLocations:
    """The lake's and raw zone's locations from the environment, for the data directory `home`
    (PINTEREST_ETL_HOME); StoreSettingError for a refused value."""
    lake_value, raw_value = (env.get(LAKE_SETTING) or "").strip(), (env.get(RAW_SETTING) or "").strip()
    lake_store = parse_store(lake_value, LAKE_SETTING, env) if lake_value else None
    raw_store = parse_store(raw_value, RAW_SETTING, env) if raw_value else None
    lake = _copy(home, lake_store) if lake_store else _folder(lake_value, LAKE_SETTING) or home / "lake"
    raw = _copy(home, raw_store) if raw_store else _folder(raw_value, RAW_SETTING) or home / "raw"
    if lake_store and raw_store and lake_store.bucket == raw_store.bucket and lake_store.endpoint == raw_store.endpoint:
        _refuse_nested(lake_store.prefix, raw_store.prefix, f"{lake_store.uri} and {raw_store.uri}")
    if not lake_store and not raw_store:
        _refuse_nested(str(lake.resolve()), str(raw.resolve()), f"{lake} and {raw}")
    elif not lake_store or not raw_store:  # a local folder must keep out of the stores' local copies
        local, copies = (raw if lake_store else lake), home / STORES_FOLDER
        _refuse_nested(str(local.resolve()), str(copies.resolve()),
                       f"{local} and {copies}, where the local copy of the other's store is kept")
    return DataLocations(lake, raw, lake_store, raw_store)


def answer_overlaps(relative: str, overlapping: DateRange) -> bool:
    """Whether a raw answer (its path in the raw zone: `[account=<name>/]<endpoint>/window=<start>_<end>/<file>`)
    is one normalizing `overlapping` reads: its window overlaps the range, or it has none (`window=none`)."""
    from pipelines.raw_zone import window_dates

    for part in relative.split("/"):
        if part.startswith("window="):
            dates = window_dates(part)
            # window=none, or a name this version does not know: taken
            return dates is None or (dates[0] <= overlapping.end and dates[1] >= overlapping.start)
    return True


def _lake_file_problem(path: Path) -> str | None:
    """A lake file's bytes against its checksum file (a checksum file, a JSON record: nothing to check)."""
    from pipelines.lake import Lake

    return Lake.check_file(path, full=False) if path.name.endswith(".parquet") else None


def _raw_file_problem(path: Path) -> str | None:
    from pipelines.raw_zone import RawZone

    return RawZone.check_file(path) if path.name.endswith(".json.gz") else None


def refuse_earlier_layouts(copy: Path, store: ObjectStore) -> None:
    """StoreError when a store's lake holds files of an earlier version's layout (long `metric_daily` files, files
    named after an account): a local lake converts them in place, removing the old files, and the pipeline removes
    nothing from a store, so the old files would stay beside the new ones and external engines count both."""
    from pipelines.lake import Lake, identity_of

    lake = Lake(copy)
    earlier = [p for p in lake.all_files() if p.parent.parent.name in ("metric_daily", "daily_status")
               or (identity_of(p) is None and p.parent.name.startswith(("date=", "snapshot_date=")))]
    if earlier:
        example = store.key(earlier[0].relative_to(copy).as_posix()).replace(store.base, store.uri, 1)
        raise StoreError(f"{store.describe()} holds {len(earlier)} lake file(s) of an earlier version's layout (such as "
                         f"{example}): convert them in a local lake first (copy them to PINTEREST_ETL_HOME/lake, run "
                         "`pinterest-etl load` with the setting unset), then replace the store's lake with the result")


def _refuse_nested(first: str, second: str, shown: str) -> None:
    """Refused when one path (`/`-separated, a key prefix or a folder) is the other or holds it; "" (a bucket's
    root) holds every prefix."""
    a, b = [part for part in first.split("/") if part], [part for part in second.split("/") if part]
    if a[:len(b)] == b or b[:len(a)] == a:
        raise StoreSettingError(f"{LAKE_SETTING} and {RAW_SETTING} must not be the same place nor one inside the other "
                         f"({shown}): the lake's files are replaced and removed, the raw zone's never; give each "
                         "a prefix (folder) of its own")


def _folder(value: str, setting: str) -> Path | None:
    if not value:
        return None
    if value[:5].lower() == "file:":
        split = urllib.parse.urlsplit(value)
        if not value[5:].startswith("//") or split.netloc.lower() not in ("", "localhost") or split.query \
                or split.fragment:
            raise SettingsError(f"{setting}: {value[:80]!r} is not a file URI of this machine: write "
                                "file:///absolute/path (three slashes) or the folder itself")
        path = Path(urllib.parse.unquote(split.path))
    else:
        path = Path(value).expanduser()
    if "\\" in os.path.abspath(path):
        raise SettingsError(f"{setting} must not contain a backslash (it is {os.path.abspath(path)}): DuckDB "
                                     "reads \\ as /; choose a folder without")
    return looked_up(path, setting)


def _copy(home: Path, store: ObjectStore) -> Path:
    """The local copy of `store`: PINTEREST_ETL_HOME/stores/<hash of endpoint and URI> (the mirror writes a note
    beside it saying which store it copies)."""
    return home / STORES_FOLDER / store.cache_name()
