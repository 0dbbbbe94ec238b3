"""Normalization: raw answers of a date range → the newest value per key → the Parquet lake.

One machinery for every source (organic, ads): a `Source` says which raw answers it reads and how one
answer becomes wide rows (one per key: entity, day, split bucket; one column per metric); staging, choosing the
newest answer per key and writing the wide tables' lake files are shared.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import functools
import pickle
import queue
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines import catalog, normalize_workers, settings, wide
from pipelines.atomic_files import staging_prefix
from pipelines.lake import Lake, StagedFile, identity_of, keyed
from pipelines.metric_values import AnswerValueError, DuplicateKeyError
from pipelines.pinterest.errors import ResponseShapeError
from pipelines.planning import DateRange
from pipelines.progress import StepProgress
from pipelines.raw_zone import RawRecord, RawZone
from pipelines.sql_text import identifier, literal
from pipelines.tables import DAILY_STATUS, DAILY_STATUS_KEY, PIN_LIFETIME, UNFILTERED_CONTENT

STAGING_MEMORY_LIMIT = "512MB"
_FLUSH_ROWS = 500_000  # rows buffered before each date's share is written to a staging file of its own
# Staging column: the answer's number in reading order (newer fetches have higher numbers). Its leading underscore
# keeps it apart from every metric column, whose API name starts with a letter (catalog.metric_column); so do the
# other helper columns named in SQL beside metric columns (DuckDB compares names without case).
_SOURCE = "_source"
# The columns every normalized row starts with (daily_status's); the answer's metric columns follow, float64 each.
ROW_COLUMNS = DAILY_STATUS
# Per staged answer: when it was fetched, the metrics its request asked for, and its coverage (null when it has none).
_ANSWERS = pa.schema([(_SOURCE, pa.int64()), ("extracted_at", DAILY_STATUS.field("extracted_at").type),
                      ("requested_metrics", pa.list_(pa.string())), ("entity_type", pa.string()),
                      ("entity_ids", pa.list_(pa.string())), ("split_field", pa.string()), ("split_value", pa.string()),
                      ("content_type", pa.string()), ("first_date", pa.date32()), ("last_date", pa.date32()), ("final_up_to", pa.date32())])
# Each entity with each entity it cannot deliver without (an ad with its ad group and its campaign).
ANCESTRY = pa.schema([("entity_type", pa.string()), ("entity_id", pa.string()), ("ancestor_type", pa.string()),
                      ("ancestor_id", pa.string())])


@dataclasses.dataclass(frozen=True)
class Normalized:
    """The rows one raw answer contributes. `rows`: one per key it answers (entity, day, split bucket; a day
    without numbers too), ROW_COLUMNS then one float64 column per metric it has a value of, named as the API names
    it (NULL: no value, absent rather than zero), ordered by date."""

    rows: pa.Table
    lifetime: pa.Table | None = None
    # Entities the answer holds although its request did not ask for them (id -> rows dropped).
    unrequested: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # The keys the answer speaks for, rows or not (None: only those it has rows for).
    coverage: Coverage | None = None
    # The metrics its request asked for (None: every metric); a final value of another metric is not rescued.
    requested_metrics: frozenset[str] | None = None
    # Parts of the answer skipped because they cannot be read ("pin <id>", "the answer" -> what was wrong with it).
    unreadable: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def status(self) -> pa.Table:
        """The rows' daily_status columns."""
        return self.rows.select(ROW_COLUMNS.names)


def metric_names(rows: pa.Table) -> list[str]:
    """The metric columns of normalized (or staged) rows: every column after ROW_COLUMNS but the answer number."""
    return [name for name in rows.column_names[len(ROW_COLUMNS):] if name != _SOURCE]


@dataclasses.dataclass(frozen=True)
class Coverage:
    """What an answer covers: every requested entity on every day of its window, in its split bucket. An answer
    with a coverage answers each key it covers wholly: a metric it has no value for is absent (the ads API leaves out
    zero values) and a key it has no row for has no delivery (the ads API leaves out such rows), so a newer covering
    answer replaces an older answer's key and values; days up to `final_up_to` are final."""

    entity_type: str
    entity_ids: tuple[str, ...]
    split_field: str
    split_value: str
    dates: DateRange
    final_up_to: dt.date
    content_type: str = UNFILTERED_CONTENT


@dataclasses.dataclass(frozen=True)
class UnrequestedRows:
    """Rows of one raw answer dropped because its request did not ask for their entities."""

    endpoint: str
    raw_file: str
    entity_ids: tuple[str, ...]
    rows: int


@dataclasses.dataclass(frozen=True)
class Source:
    """What a source reads from the raw zone and how. `prepare` sees the raw zone first and returns the
    function that normalizes one answer (for example with the readiness the ads answers need); `identify` sees it
    too and returns the function naming the stable Pinterest identity an answer's rows belong to, whose lake files
    they go to (`user=<id>`, `ad_account=<id>`: pipelines/lake.py). `ancestry` (ANCESTRY rows of a raw zone) widens
    coverage: an answer covering an entity without a row covers its descendants too (they had no delivery either)."""

    name: str
    entity_types: tuple[str, ...]
    endpoints: tuple[str, ...]
    prepare: Callable[[RawZone, DateRange], Callable[[RawRecord], Normalized]]
    identify: Callable[[RawZone], Callable[[RawRecord], str]]
    ancestry: Callable[[RawZone], pa.Table] | None = None


@dataclasses.dataclass(frozen=True)
class UnreadableParts:
    """Parts of one raw answer skipped because they cannot be read: what ("pin <id>", "the answer") -> why."""

    endpoint: str
    raw_file: str
    parts: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class RowsOutsideWindow:
    """Rows of one raw answer dropped because their days are outside the window its request asked for: `dates`
    those days, `rows` their number of daily_status rows (entity-days)."""

    endpoint: str
    raw_file: str
    window: DateRange
    dates: tuple[dt.date, ...]
    rows: int


@dataclasses.dataclass
class NormalizeSummary:
    raw_files: int = 0
    dates_written: list[dt.date] = dataclasses.field(default_factory=list)
    metric_rows: int = 0
    status_rows: int = 0
    not_final_dates: list[dt.date] = dataclasses.field(default_factory=list)
    lifetime_rows: int = 0
    identities: list[str] = dataclasses.field(default_factory=list)  # whose lake files were written
    legacy_files_retired: int = 0  # files of the legacy layout left empty by identities' files, and removed
    # Keys that kept a final value over a newer answer not final, or final without that metric (per date).
    final_values_kept: dict[dt.date, int] = dataclasses.field(default_factory=dict)
    unrequested: list[UnrequestedRows] = dataclasses.field(default_factory=list)
    unreadable: list[UnreadableParts] = dataclasses.field(default_factory=list)
    outside_window: list[RowsOutsideWindow] = dataclasses.field(default_factory=list)


class _DateFiles:
    """Wide rows, tagged with their answer's number, buffered as answers are read and written to staging files per
    date: memory holds at most _FLUSH_ROWS rows, and each date's lake files are then written from its own staging
    files, without sorting or scanning the whole range. Answers carry different metric columns, so each flush
    writes one file per date with the columns its rows have (reading a date unites them, NULL where a file lacks a
    column). Staging files are Arrow IPC (uncompressed, memory-mapped when read back): writing and reading them
    costs next to nothing next to the lake's Parquet."""

    def __init__(self, folder: Path, name: str):
        self.folder, self.name = folder, name
        self.parts: dict[dt.date, list[pa.Table]] = {}
        self.buffered = 0
        self.rows_by_date: collections.Counter[dt.date] = collections.Counter()
        self.files: dict[dt.date, list[Path]] = {}

    @property
    def dates(self) -> list[dt.date]:
        return sorted(self.files.keys() | self.parts.keys())

    def add(self, table: pa.Table, number: int) -> None:
        """An answer's rows; cut into per-date slices (sorted first unless the normalizer gave them by date)."""
        table = table.append_column(_SOURCE, pa.repeat(pa.scalar(number, pa.int64()), table.num_rows))
        dates = table.column("date")
        if len(dates) > 1 and not pc.all(pc.less_equal(dates.slice(0, len(dates) - 1), dates.slice(1))).as_py():
            table = table.take(pc.sort_indices(dates))
            dates = table.column("date")
        counts = pc.value_counts(dates)  # in order of first appearance: ascending, as the rows are sorted
        offset = 0
        for date, count in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
            self.parts.setdefault(date, []).append(table.slice(offset, count))
            self.rows_by_date[date] += count
            offset += count
        self.buffered += table.num_rows
        if self.buffered >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for date, parts in self.parts.items():
            files = self.files.setdefault(date, [])
            path = self.folder / f"{self.name}-{date.isoformat()}-{len(files)}.arrow"
            rows = pa.concat_tables(parts, promote_options="permissive").combine_chunks()
            with pa.ipc.new_file(str(path), rows.schema) as writer:
                writer.write_table(rows)
            files.append(path)
        self.parts, self.buffered = {}, 0

    def close(self) -> None:
        """The rows still buffered go to their files, unless no flush was ever needed: a range that fits the buffer
        (a daily run, a small account) is read back from memory."""
        if self.files:
            self.flush()

    def read(self, date: dt.date) -> pa.Table:
        """A date's rows, memory-mapped (one table when a single file holds them), or from the buffer."""
        parts = [pa.ipc.open_file(pa.memory_map(str(path))).read_all() for path in self.files.get(date, ())]
        parts += self.parts.get(date, [])
        if not parts:
            return ROW_COLUMNS.append(pa.field(_SOURCE, pa.int64())).empty_table()
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")


@dataclasses.dataclass
class _Staged:
    files: int
    rows: _DateFiles
    lifetime: pa.Table
    unrequested: list[UnrequestedRows]
    identities: pa.Array  # per answer number, the identity whose lake files its rows go to
    answers: pa.Table  # per answer number, _ANSWERS
    ancestry: Callable[[], pa.Table]  # ANCESTRY of every raw zone, read when first needed
    coverage: pa.Table  # one row per entity an answer's coverage holds (_coverage_of)
    recency: pa.Array  # per answer number, its place among the answers from the oldest (_recency_of)
    unreadable: list[UnreadableParts] = dataclasses.field(default_factory=list)
    outside_window: list[RowsOutsideWindow] = dataclasses.field(default_factory=list)


def stage(folder: Path, zones: list[RawZone], requested: DateRange, source: Source,
          workers: int | None = None, progress: StepProgress | None = None,
          available_workers: int | None = None) -> _Staged:
    """Normalize every stored answer overlapping the range, of every raw zone (each account's folder: an
    identity's answers may be in several after a rename or a move), into per-date staging files, streaming one
    answer at a time; rows of dates outside the range are dropped, and so are (reported in `outside_window`) rows of
    days outside the window the answer's request asked for. An answer that cannot be read fails with its raw file
    named (AnswerValueError). `workers`: processes normalizing answers beside this one (0: none; None: up to
    `available_workers`, a run's PINTEREST_NORMALIZE_WORKERS, when the answers are large: `_worker_count`);
    staged the same either way. `progress` is told the answers planned and normalized so far."""
    identities: list[str] = []
    staged_rows = _DateFiles(folder, "rows")
    lifetime: list[pa.Table] = []
    unrequested: list[UnrequestedRows] = []
    unreadable: list[UnreadableParts] = []
    outside_window: list[RowsOutsideWindow] = []
    answers: list[dict] = []
    files = 0
    try:
        # Answers are numbered as they are read (per endpoint in fetch order: file names start with fetched_at).
        for number, answer in enumerate(_normalized_answers(zones, requested, source, workers, progress,
                                                                 available_workers)):
            if progress is not None:
                progress.update(number + 1)
            identities.append(answer.identity)
            answers.append({_SOURCE: number, **answer.answer})
            if answer.unrequested is not None:
                unrequested.append(answer.unrequested)
            if answer.unreadable is not None:
                unreadable.append(answer.unreadable)
            if answer.outside_window is not None:
                outside_window.append(answer.outside_window)
            if answer.rows.num_rows:
                staged_rows.add(answer.rows, number)
            if answer.lifetime is not None and answer.lifetime.num_rows:
                lifetime.append(answer.lifetime.append_column(
                    _SOURCE, pa.repeat(pa.scalar(number, pa.int64()), answer.lifetime.num_rows)))
            files += 1
    finally:
        staged_rows.close()
    empty = PIN_LIFETIME.append(pa.field(_SOURCE, pa.int64())).empty_table()
    ancestry = functools.cache(lambda: pa.concat_tables(
        [ANCESTRY.empty_table(), *(source.ancestry(zone) for zone in zones if source.ancestry)]))
    answered = pa.Table.from_pylist(answers, _ANSWERS)
    return _Staged(files, staged_rows, pa.concat_tables([empty, *lifetime]), unrequested,
                   pa.array(identities, pa.string()), answered, ancestry, _coverage_of(answered), _recency_of(answered),
                   unreadable, outside_window)


@dataclasses.dataclass(frozen=True)
class _NormalizedAnswer:
    """One raw answer as staging takes it (picklable: workers send it): the identity its rows belong to, its row of
    _ANSWERS but the number, its rows inside the range and its request's window, its pin lifetimes, and what was
    dropped or skipped of it."""

    identity: str
    answer: dict
    rows: pa.Table
    lifetime: pa.Table | None
    unrequested: UnrequestedRows | None
    unreadable: UnreadableParts | None
    outside_window: RowsOutsideWindow | None


def normalize_answer(record: RawRecord, normalize: Callable[[RawRecord], Normalized],
                     identify: Callable[[RawRecord], str], requested: DateRange) -> _NormalizedAnswer:
    """One raw answer normalized (by the source's prepared `normalize`) and checked, its rows cut to the range and
    the window its request asked for. A value the API does not send fails with the raw file named."""
    identity = identify(record)
    try:
        rows = normalize(record)
        _refuse_unusable_metric_names(record.endpoint, rows.rows)
        _refuse_repeated_keys(record.endpoint, rows.rows)
    except AnswerValueError as error:
        raise error.in_raw_file(record.path) from None
    except ResponseShapeError as error:
        raise AnswerValueError(str(error), record.path) from None
    window = record.window or requested
    low = pa.scalar(max(requested.start, window.start), pa.date32())
    high = pa.scalar(min(requested.end, window.end), pa.date32())
    table = rows.rows
    dates = table.column("date")
    inside = pc.and_(pc.greater_equal(dates, low), pc.less_equal(dates, high))
    if pc.all(inside).as_py() is False:
        table = table.filter(inside)
    return _NormalizedAnswer(
        identity, _answer(record, rows), table, rows.lifetime,
        UnrequestedRows(record.endpoint, str(record.path), tuple(rows.unrequested), sum(rows.unrequested.values()))
        if rows.unrequested else None,
        UnreadableParts(record.endpoint, str(record.path), dict(rows.unreadable)) if rows.unreadable else None,
        _rows_outside_window(record, rows.rows) if record.window is not None else None)


def _normalized_answers(zones: list[RawZone], requested: DateRange, source: Source, workers: int | None,
                        progress: StepProgress | None = None,
                        available_workers: int | None = None) -> Iterator[_NormalizedAnswer]:
    """Every stored answer of the source overlapping the range, normalized, in reading order: zone by zone,
    endpoint by endpoint, oldest fetch first. In worker processes when `_worker_count` says so."""
    paths = [(zone, [path for endpoint in source.endpoints for path in zone.paths(endpoint, requested)])
             for zone in zones]
    if progress is not None:
        progress.plan(sum(len(files) for _, files in paths))
    count = _worker_count(paths, source, available_workers) if workers is None else workers
    if not count:
        return (normalize_answer(zone.read(path), normalize, identify, requested) for zone, files in paths
                for normalize, identify in [(source.prepare(zone, requested), source.identify(zone))]
                for path in files)
    # A zone without answers is prepared all the same (as in this process): what its preparation refuses still fails.
    tasks = ((source, zone.root, requested, path) for zone, files in paths for path in (files or [None]))
    return (answer for answer in normalize_workers.map_in_order(_normalize_file, tasks, count, _task_text)
            if answer is not None)


def _worker_count(paths: list[tuple[RawZone, list[Path]]], source: Source, available: int | None = None) -> int:
    """Worker processes for normalizing these answers: `available` (PINTEREST_NORMALIZE_WORKERS as the run's
    settings hold it; None, outside a run: read now) when they are large enough to repay starting them
    (normalize_workers.WORKER_MIN_RAW_BYTES) and the source can be sent to a worker, else 0."""
    workers = settings.normalize_workers() if available is None else available
    if not workers:
        return 0
    raw_bytes = sum(path.stat().st_size for _, files in paths for path in files)
    if raw_bytes < normalize_workers.WORKER_MIN_RAW_BYTES:
        return 0
    try:
        pickle.dumps(source)
    except (pickle.PicklingError, AttributeError, TypeError):
        return 0  # a source made on the fly (its functions not at a module's top level) normalizes here
    return workers


# In a worker process: per source, raw folder and range, the source's prepared normalize and identify functions.
_PREPARED: dict[tuple[str, Path, DateRange], tuple[Callable[[RawRecord], Normalized], Callable[[RawRecord], str]]] = {}


def _normalize_file(source: Source, root: Path, requested: DateRange, path: Path | None) -> _NormalizedAnswer | None:
    """A worker's task: the raw file at `path` of the raw folder `root`, normalized (None: the folder only prepared)."""
    key = (source.name, root, requested)
    if key not in _PREPARED:
        zone = RawZone(root)
        _PREPARED[key] = source.prepare(zone, requested), source.identify(zone)
    if path is None:
        return None
    normalize, identify = _PREPARED[key]
    return normalize_answer(RawZone.read(path), normalize, identify, requested)


def _task_text(task: tuple) -> str:
    _, root, _, path = task
    return f"raw file {path}" if path is not None else f"the raw folder {root}"


def _rows_outside_window(record: RawRecord, status: pa.Table) -> RowsOutsideWindow | None:
    """The days of an answer outside the window its request asked for, if any: nothing the request asked for, so
    they must not replace what an answer of those days said (a later re-normalization would take them)."""
    dates = status.column("date")
    window = record.window
    outside = pc.or_(pc.less(dates, pa.scalar(window.start, pa.date32())),
                     pc.greater(dates, pa.scalar(window.end, pa.date32())))
    if not pc.any(outside).as_py():
        return None
    stray = status.filter(outside)
    return RowsOutsideWindow(record.endpoint, str(record.path), window,
                             tuple(sorted(set(stray.column("date").to_pylist()))), stray.num_rows)


def _coverage_of(answers: pa.Table) -> pa.Table:
    """The answers' coverage with one row per covered entity: _SOURCE, entity_type, entity_id, split_field,
    split_value, content_type, first_date, last_date, final_up_to, extracted_at."""
    covering = answers.filter(pc.is_valid(answers.column("entity_ids")))
    entity_ids = covering.column("entity_ids").combine_chunks()
    return (covering.drop_columns(["entity_ids", "requested_metrics"]).take(pc.list_parent_indices(entity_ids))
            .append_column("entity_id", pc.list_flatten(entity_ids)))


def _recency_of(answers: pa.Table) -> pa.Array:
    """Per answer number (answers are numbered 0, 1, ... as read), its place when ordered from the oldest: by
    extracted_at, then by the number (the later read is the newer)."""
    order = pc.sort_indices(answers, [("extracted_at", "ascending"), (_SOURCE, "ascending")]).to_numpy()
    places = np.empty(len(order), np.int64)
    places[order] = np.arange(len(order))
    return pa.array(places)


def _answer(record: RawRecord, rows: Normalized) -> dict:
    """An answer's row of _ANSWERS, but its number."""
    answer = {"extracted_at": record.fetched_at,
              "requested_metrics": sorted(rows.requested_metrics) if rows.requested_metrics is not None else None}
    if rows.coverage is not None:
        covered = rows.coverage
        answer.update(entity_type=covered.entity_type, entity_ids=list(covered.entity_ids),
                      split_field=covered.split_field, split_value=covered.split_value,
                      content_type=covered.content_type, first_date=covered.dates.start,
                      last_date=covered.dates.end, final_up_to=covered.final_up_to)
    return answer


def _refuse_repeated_keys(endpoint: str, status: pa.Table) -> None:
    """One answer holds each key (entity, day, split bucket) at most once: twice (a date repeated, or written once
    with a time of day) leaves no way to tell which value is the answer's."""
    if _unique_entity_days(status):
        return
    keys = status.group_by(list(DAILY_STATUS_KEY)).aggregate([([], "count_all")])
    if keys.num_rows == status.num_rows:
        return
    first = keys.filter(pc.greater(keys.column("count_all"), 1)).slice(0, 1).to_pylist()[0]
    raise DuplicateKeyError(endpoint, first["entity_type"], first["entity_id"], first["date"],
                            f"{first['split_field']} {first['split_value']}")


def _unique_entity_days(rows: pa.Table) -> bool:
    """Whether rows whose split and content type are the same throughout hold each entity's day once (False also
    when they vary: then only grouping by the whole key tells): numbers compared, not six text columns grouped."""
    for name in ("entity_type", "split_field", "split_value", "content_type"):
        column = rows.column(name)
        if len(column) and pc.all(pc.equal(column, column[0])).as_py() is not True:
            return False
    entities = rows.column("entity_id").combine_chunks().dictionary_encode().indices.to_numpy().astype(np.int64)
    days = rows.column("date").combine_chunks().cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    keys = (entities << 32) | (days & 0xFFFFFFFF)
    return len(np.unique(keys)) == len(keys)


def _refuse_unusable_metric_names(endpoint: str, rows: pa.Table) -> None:
    """Every metric name of an answer can be a column of its entity type's wide table (catalog.metric_column):
    refused here, where the raw file is known, not once the date's lake files are written. Checked first: a name
    like `date` would otherwise stand beside the row's own column of that name."""
    names = rows.column_names[len(ROW_COLUMNS):]
    if not names or not rows.num_rows:
        return
    for entity_type in pc.unique(rows.column(ROW_COLUMNS.get_field_index("entity_type"))).to_pylist():
        for name in names:
            try:
                catalog.metric_column(name, catalog.BY_ENTITY_TYPE[entity_type])
            except catalog.MetricNameError as error:
                raise AnswerValueError(f"{endpoint}: {error}") from None


def choose_newest(con: duckdb.DuckDBPyConnection, staged: _Staged, date: dt.date,
                  rows: pa.Table | None = None) -> tuple[pa.Table, int, pa.Table]:
    """A date's staged rows (`rows`: read when not given) with one answer per key: (the rows, the number of keys
    that kept a final value a newer answer did not hold as final, the keys answers cover that are left without a
    row).
    The answers of a key are those with a row for it and those whose coverage holds it (ads: every requested entity,
    day and attribution, with or without a row, and the descendants of an entity it holds without a row: an ad group
    cannot deliver without its campaign). Per key one answer wins: a final one over one that is not (a READY
    day is never replaced by a later PROCESSING or empty one; ads answers are final as of their own fetch), then the
    newest (latest extracted_at, then the later read). The key's status row and values are the winner's; a winner
    covering the key without a row removes it (ads: restated to no delivery).
    Answers without coverage (organic) leave a final value in place that the winning final answer lacks although its
    request asked for it (absent is not zero: an empty or partial READY day does not wipe READY values): per key and
    metric the newest final value stays (filled into the winner's row), so such a key may mix metrics of two final
    answers. A metric the request did not ask for (a narrower metric_types) is not rescued.
    A date where no answer takes anything from another (every key's newest answer wins and no other answer has a row
    for it: a range fetched once, also when a parent's coverage reaches its children) keeps its staged rows as they
    are, without ranking (`_ranked`)."""
    rows = staged.rows.read(date) if rows is None else rows
    claims = _claims(staged, date, rows)
    keys = _claimed_keys(claims, staged.recency)
    if pc.all(keys.column("uncontested")).as_py() is not False:
        return rows, 0, keys.filter(pc.equal(keys.column("rows"), 0)).select(DAILY_STATUS_KEY)
    return _ranked(con, staged, rows, claims)


# Each answer's claim on one of a date's keys: its row (has_row), or the key inside its coverage.
_CLAIMS = pa.schema([*(DAILY_STATUS.field(name) for name in DAILY_STATUS_KEY), (_SOURCE, pa.int64()),
                     ("final", pa.bool_()), ("extracted_at", DAILY_STATUS.field("extracted_at").type),
                     ("has_row", pa.bool_())])


def _claims(staged: _Staged, date: dt.date, status: pa.Table) -> pa.Table:
    """Every answer's claims on the date's keys (_CLAIMS): its rows, and the keys its coverage holds."""
    return pa.concat_tables([_row_claims(status), _covered_claims(staged, date, status)])


def _row_claims(status: pa.Table) -> pa.Table:
    """The claims of a date's staged status rows (_CLAIMS)."""
    return pa.table([*(status.column(name) for name in (*DAILY_STATUS_KEY, _SOURCE)),
                     pc.fill_null(status.column("is_final"), False), status.column("extracted_at"),
                     pa.repeat(pa.scalar(True), status.num_rows)], schema=_CLAIMS)


def _covered_claims(staged: _Staged, date: dt.date, status: pa.Table) -> pa.Table:
    """Every claim the answers' coverage makes on the date's keys (_CLAIMS, has_row false), widened to the
    descendants of each entity an answer covers without a row (the ancestry is read only when there is one)."""
    day = pa.scalar(date, pa.date32())
    coverage = staged.coverage
    on_date = coverage.filter(pc.and_(pc.less_equal(coverage.column("first_date"), day),
                                      pc.greater_equal(coverage.column("last_date"), day)))
    direct = pa.table([pa.repeat(day, on_date.num_rows), *(on_date.column(name) for name in (*DAILY_STATUS_KEY[1:], _SOURCE)),
                       pc.less_equal(day, on_date.column("final_up_to")), on_date.column("extracted_at"),
                       pa.repeat(pa.scalar(False), on_date.num_rows)], schema=_CLAIMS)
    answer_keys = [*DAILY_STATUS_KEY, _SOURCE]
    rowless = direct.join(status.select(answer_keys), answer_keys, join_type="left anti", use_threads=False) \
        if direct.num_rows else direct
    if not rowless.num_rows or not (ancestry := staged.ancestry()).num_rows:
        return direct
    descendants = rowless.join(ancestry.rename_columns(["descendant_type", "descendant_id", "entity_type", "entity_id"]),
                               ["entity_type", "entity_id"], join_type="inner", use_threads=False)
    widened = descendants.drop_columns(["entity_type", "entity_id"]).rename_columns(
        {"descendant_type": "entity_type", "descendant_id": "entity_id"}).select(_CLAIMS.names).cast(_CLAIMS)
    return pa.concat_tables([direct, widened])


def _claimed_keys(claims: pa.Table, recency: pa.Array) -> pa.Table:
    """Per key of the claims: the number of answers with a row for it (`rows`), and whether no answer takes
    anything from another there (`uncontested`): the answer that wins it (final first, then the newest) is its newest
    claim, and no other claim has a row. Ranked by each answer's place among all answers (`recency`), so that a
    final claim outranks every claim that is not."""
    answers = len(recency)
    place = pc.take(recency, claims.column(_SOURCE))
    ranked = pa.table({**{name: claims.column(name) for name in DAILY_STATUS_KEY}, "newest": place,
                       "top": pc.if_else(claims.column("final"), pc.add(place, answers), place),
                       "row_place": pc.if_else(claims.column("has_row"), place, -1),
                       "rows": pc.cast(claims.column("has_row"), pa.int64())})
    keys = ranked.group_by(list(DAILY_STATUS_KEY), use_threads=False).aggregate(
        [("newest", "max"), ("top", "max"), ("row_place", "max"), ("rows", "sum")])
    newest, top, rows = keys.column("newest_max"), keys.column("top_max"), keys.column("rows_sum")
    winner = pc.if_else(pc.greater_equal(top, answers), pc.subtract(top, answers), top)
    only_the_winner_has_a_row = pc.or_(pc.equal(rows, 0),
                                       pc.and_(pc.equal(rows, 1), pc.equal(keys.column("row_place_max"), newest)))
    return keys.select(DAILY_STATUS_KEY).append_column("rows", rows).append_column(
        "uncontested", pc.and_(pc.equal(winner, newest), only_the_winner_has_a_row))


def _ranked(con: duckdb.DuckDBPyConnection, staged: _Staged, rows: pa.Table,
            claims: pa.Table) -> tuple[pa.Table, int, pa.Table]:
    """`choose_newest` for a date where answers compete: of each key claimed by several answers, the rows of the
    answers that lose go (Arrow); final values are rescued (DuckDB) only where a final winner without coverage
    competes with another final answer."""
    contested = _contested(claims, staged.recency)
    answer_key = [*DAILY_STATUS_KEY, _SOURCE]
    lost = contested.filter(pc.invert(contested.column("won"))).select(answer_key)
    kept = rows.join(lost, answer_key, join_type="left anti", use_threads=False).select(rows.column_names)
    not_newest = contested.filter(pc.and_(contested.column("won"), pc.invert(contested.column("newest"))))
    rescuing = contested.filter(pc.and_(pc.and_(contested.column("won"), contested.column("final")),
                                        contested.column("finals_compete")))
    if not pc.any(pc.is_null(pc.take(staged.answers.column("entity_ids"), rescuing.column(_SOURCE)))).as_py():
        return kept, not_newest.num_rows, _without_rows(claims, kept)
    filled, rescued_keys = _rescued(con, staged, rows, contested)
    final_values_kept = pa.concat_tables([not_newest.select(DAILY_STATUS_KEY), rescued_keys]) \
        .group_by(list(DAILY_STATUS_KEY), use_threads=False).aggregate([]).num_rows
    kept = pa.concat_tables([kept.join(filled.select(answer_key), answer_key, join_type="left anti", use_threads=False)
                            .select(rows.column_names), filled.select(rows.column_names).cast(rows.schema)])
    return kept, final_values_kept, _without_rows(claims, kept)


def _contested(claims: pa.Table, recency: pa.Array) -> pa.Table:
    """Per answer claiming a key that several answers claim: the key, the answer (_SOURCE), whether its claim is
    final, whether it wins the key (`won`: final first, then the newest), whether it is the key's newest claim
    (`newest`), and whether several final claims compete for the key (`finals_compete`)."""
    answer_key = [*DAILY_STATUS_KEY, _SOURCE]
    per_answer = claims.group_by(answer_key, use_threads=False).aggregate([("final", "any")]) \
        .rename_columns([*answer_key, "final"])
    answers = len(recency)
    place = pc.take(recency, per_answer.column(_SOURCE))
    rank = pc.if_else(per_answer.column("final"), pc.add(place, answers), place)
    per_answer = per_answer.append_column("place", place).append_column("rank", rank)
    per_key = per_answer.append_column("finals", pc.cast(per_answer.column("final"), pa.int64())).group_by(
        list(DAILY_STATUS_KEY), use_threads=False).aggregate(
        [("place", "max"), ("rank", "max"), ("finals", "sum"), (_SOURCE, "count")])
    per_key = per_key.filter(pc.greater(per_key.column(f"{_SOURCE}_count"), 1))
    contested = per_answer.join(per_key, list(DAILY_STATUS_KEY), join_type="inner", use_threads=False)
    return pa.table({**{name: contested.column(name) for name in answer_key}, "final": contested.column("final"),
                     "won": pc.equal(contested.column("rank"), contested.column("rank_max")),
                     "newest": pc.equal(contested.column("place"), contested.column("place_max")),
                     "finals_compete": pc.greater(contested.column("finals_sum"), 1)})


def _rescued(con: duckdb.DuckDBPyConnection, staged: _Staged, rows: pa.Table,
             contested: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Where several final answers compete for a key and the winner has no coverage (organic), the winner's rows
    with the final values they lack of metrics its request asked for filled in: of the older final answers, the
    newest that has each; and the keys where a value was filled in."""
    key = ", ".join(DAILY_STATUS_KEY)
    metrics = [identifier(name) for name in metric_names(rows)]
    if not metrics:
        return rows.schema.empty_table(), pa.table({name: rows.column(name).slice(0, 0) for name in DAILY_STATUS_KEY})
    asked = {m: f"(w._requested IS NULL OR list_contains(w._requested, {literal(name)}))"
             for m, name in zip(metrics, metric_names(rows))}
    con.register("staged_rows", rows)
    con.register("answers", staged.answers)
    con.register("contested", contested)
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE rescued AS
            WITH winners AS (SELECT c.* EXCLUDE ({_SOURCE}), c.{_SOURCE} AS _winner, a.requested_metrics AS _requested
                             FROM contested c JOIN answers a USING ({_SOURCE})
                             WHERE c.won AND c.final AND c.finals_compete AND a.entity_ids IS NULL),
                 older AS (SELECT {key}, {', '.join(
                               f"arg_max(r.{m}, struct_pack(r.extracted_at, r.{_SOURCE})) FILTER (WHERE r.{m} IS NOT NULL) AS {m}"
                               for m in metrics)}
                           FROM staged_rows r JOIN (SELECT * FROM contested WHERE final AND NOT won) USING ({key}, {_SOURCE})
                           JOIN winners USING ({key})
                           GROUP BY ALL)
            SELECT r.* REPLACE ({', '.join(f"coalesce(r.{m}, CASE WHEN {asked[m]} THEN o.{m} END) AS {m}" for m in metrics)}),
                   {' OR '.join(f"(r.{m} IS NULL AND {asked[m]} AND o.{m} IS NOT NULL)" for m in metrics)} AS _filled
            FROM staged_rows r JOIN winners w USING ({key}) LEFT JOIN older o USING ({key})
            WHERE r.{_SOURCE} = w._winner""")
        filled = con.sql("SELECT * EXCLUDE (_filled) FROM rescued").to_arrow_table()
        keys = con.sql(f"SELECT {key} FROM rescued WHERE _filled").to_arrow_table()
    finally:
        for name in ("staged_rows", "answers", "contested"):
            con.unregister(name)
    return filled, keys


def _without_rows(claims: pa.Table, kept_status: pa.Table) -> pa.Table:
    """The date's keys covered by an answer that the kept rows do not hold (restated to no delivery)."""
    names = list(DAILY_STATUS_KEY)
    covered = claims.filter(pc.invert(claims.column("has_row"))).select(names)
    if not covered.num_rows:
        return covered
    return covered.group_by(names, use_threads=False).aggregate([]).join(
        kept_status.select(names), names, join_type="left anti", use_threads=False).select(names)


@dataclasses.dataclass
class _DateLakeRows:
    """One date's lake rows, chosen and typed: per identity answered for the date (also one left without rows),
    its rows of each table (`files`: table name, identity, rows), and what the summary needs."""
    date: dt.date
    files: list[tuple[str, str, pa.Table]]
    identities: list[str]
    status_rows: int
    metric_rows: int
    final_values_kept: int
    not_final: bool
    rows: pa.Table  # the chosen rows (daily_status's columns), for the legacy layout's files
    without_rows: pa.Table


def _date_lake_rows(con: duckdb.DuckDBPyConnection, staged: _Staged, tables: list[catalog.FactTable],
                    requested: dict[str, set[str]], date: dt.date) -> _DateLakeRows:
    """A date's staged rows with one answer per key (`choose_newest`), typed per table (`wide.lake_rows`) and split
    by identity. Pure but for reading the date's staging files: runs on a worker thread (`_lake_rows_by_date`)."""
    answered = staged.rows.read(date)
    rows, final_values_kept, without_rows = choose_newest(con, staged, date, answered)
    written = pc.unique(pc.take(staged.identities, answered.column(_SOURCE))).to_pylist()
    outcome = _DateLakeRows(date, [], written, 0, 0, final_values_kept, False, rows, without_rows)
    for table in tables:
        on_date = wide.lake_rows(table, rows, requested.get(table.entity_type, ()), carry=(_SOURCE,))
        owners = pc.take(staged.identities, on_date.column(_SOURCE))
        for key in written:
            own = (on_date if len(written) == 1 else on_date.filter(pc.equal(owners, key))).drop_columns([_SOURCE])
            outcome.files.append((table.name, key, own))
            outcome.status_rows += own.num_rows
            outcome.metric_rows += _values_in(own, table)
    outcome.not_final = pc.any(pc.and_kleene(pc.invert(rows.column("is_final")), pc.or_kleene(
        pc.is_null(rows.column("data_status")),
        pc.is_in(rows.column("data_status"), pa.array(["PROCESSING", "ESTIMATE"]))))).as_py() is True
    return outcome


T = TypeVar("T")
_DATE_THREADS = 2  # dates chosen and typed at once: Arrow's kernels and DuckDB run without the GIL
# A date of more staged rows than this is prepared alone, in the caller's thread: its per-call overhead is small
# next to its work, and each date in flight holds its rows (at 100,000 pins, two more dates cost about 120 MB for
# no measurable gain). Below it (a small account, a daily run, the quiet dates of a backfill), the fixed cost of
# hundreds of small dates is what threads save.
_DATE_THREADS_UP_TO_ROWS = 20_000


def _lake_rows_by_date(con: duckdb.DuckDBPyConnection, staged: _Staged, tables: list[catalog.FactTable],
                       requested: dict[str, set[str]]) -> Iterator[_DateLakeRows]:
    """`_date_lake_rows` of every staged date, in date order (`prepared_by_date`)."""
    yield from prepared_by_date(con, staged.rows.dates, staged.rows.rows_by_date.__getitem__,
                                lambda cursor, date: _date_lake_rows(cursor, staged, tables, requested, date))


def prepared_by_date(con: duckdb.DuckDBPyConnection, dates: list[dt.date], staged_rows: Callable[[dt.date], int],
                     prepare: Callable[[duckdb.DuckDBPyConnection, dt.date], T]) -> Iterator[T]:
    """`prepare(connection, date)` of every date, in date order. Small dates are prepared `_DATE_THREADS` at a time
    (each thread with a DuckDB cursor of its own) while the caller takes the one before, so memory holds three
    dates at most; a date of more than `_DATE_THREADS_UP_TO_ROWS` `staged_rows` is prepared alone, in the caller's
    thread with `con`, once the caller has taken every date before it: never beside another date. Decided per
    date, so the few busy dates of a mostly quiet range are no more in flight at once than those of a busy one."""
    if _DATE_THREADS < 2 or all(staged_rows(date) > _DATE_THREADS_UP_TO_ROWS for date in dates):
        for date in dates:
            yield prepare(con, date)
        return
    cursors = queue.SimpleQueue()
    opened = [con.cursor() for _ in range(_DATE_THREADS)]
    for cursor in opened:
        cursors.put(cursor)

    def one_date(date: dt.date) -> T:
        cursor = cursors.get()
        try:
            return prepare(cursor, date)
        finally:
            cursors.put(cursor)

    def oldest() -> T:
        outcome = pending[0].result()  # off the list once done: interrupted, the finally waits for it
        pending.popleft()
        return outcome

    pending: collections.deque = collections.deque()
    with ThreadPoolExecutor(max_workers=_DATE_THREADS, thread_name_prefix="lake-date") as pool:
        try:
            for date in dates:
                if staged_rows(date) > _DATE_THREADS_UP_TO_ROWS:
                    while pending:
                        yield oldest()
                    yield prepare(con, date)
                    continue
                pending.append(pool.submit(one_date, date))
                if len(pending) > _DATE_THREADS:
                    yield oldest()
            while pending:
                yield oldest()
        finally:
            # A date's thread may be inside DuckDB: its cursor can be closed only once it has returned. A second
            # Ctrl+C while waiting is not held back (the cursors then go with the process).
            for future in pending:
                future.cancel()
            for future in pending:
                with contextlib.suppress(Exception):
                    future.result()
            for cursor in opened:
                with contextlib.suppress(duckdb.Error):  # still busy after a second Ctrl+C: goes with the process
                    cursor.close()


def write_lake(con: duckdb.DuckDBPyConnection, lake: Lake, staged: _Staged, source: Source,
               snapshot_date: dt.date) -> NormalizeSummary:
    """Replace, date by date, each identity's files of the source's wide tables for every date that has answers
    (each from its own staging files, one answer per key: `choose_newest`, then typed: `wide.lake_rows`; dates are
    prepared on threads, `_lake_rows_by_date`, and written on others, `Lake.row_stager`); snapshot pin lifetimes per
    identity. A date's files of the legacy layout (named after an account) lose, in the same commit, every key an
    identity's file holds."""
    summary = NormalizeSummary(dates_written=staged.rows.dates)
    tables = [catalog.BY_ENTITY_TYPE[entity_type] for entity_type in source.entity_types]
    # Every metric a covering request (ads) asked of an entity type is a column of its lake files, with or without
    # a value: the ads API leaves zero values out, and a configured column must exist before a value arrives.
    requested: dict[str, set[str]] = {}
    for entity_type, metrics in zip(staged.answers.column("entity_type").to_pylist(),
                                    staged.answers.column("requested_metrics").to_pylist()):
        if entity_type and metrics:
            requested.setdefault(entity_type, set()).update(metrics)
    not_final, identities = [], set()
    stager, legacy_files, retired = lake.row_stager(), [], []
    try:
        # closing(): on a failure here, the dates' threads are done and their cursors closed before anything else.
        with contextlib.closing(_lake_rows_by_date(con, staged, tables, requested)) as prepared_dates:
            for prepared in prepared_dates:
                date = prepared.date
                if prepared.final_values_kept:
                    summary.final_values_kept[date] = prepared.final_values_kept
                for table_name, key, own in prepared.files:
                    stager.stage_rows(table_name, date, keyed(source.name, key), own)
                summary.status_rows += prepared.status_rows
                summary.metric_rows += prepared.metric_rows
                identities.update(prepared.identities)
                if prepared.not_final:
                    not_final.append(date)
                replaced, emptied = _legacy_without_covered_keys(lake, date, source.name, tables, prepared.identities,
                                                                 prepared.rows, prepared.without_rows)
                legacy_files += replaced
                retired += emptied
        staged_files = stager.files()
    except BaseException as error:
        written, write_error = stager.abandon()
        lake.discard(written + legacy_files)  # a failure while writing leaves every date as it was
        if write_error is not None and write_error is not error and isinstance(error, Exception):
            raise write_error from None  # an earlier date's file failed first (the one-by-one order)
        raise
    # Identities' files first: a crash before the legacy ones are trimmed leaves keys twice, which the warehouse's
    # blocking unique-key check refuses, rather than keys missing, which no check could see.
    lake.commit(staged_files + legacy_files, retired)
    summary.not_final_dates = not_final
    summary.identities, summary.legacy_files_retired = sorted(identities), len(retired)
    owners = pc.take(staged.identities, staged.lifetime.column(_SOURCE))
    summary.lifetime_rows = sum(_snapshot_lifetime(con, lake, staged.lifetime.filter(pc.equal(owners, key)), snapshot_date, key)
                                for key in pc.unique(owners).to_pylist())
    return summary


def _values_in(rows: pa.Table, table: catalog.FactTable) -> int:
    """The metric values (non-NULL metric cells) of wide rows."""
    base = {name for name, _ in wide.lake_columns(table)}
    return sum(len(rows.column(name)) - rows.column(name).null_count for name in rows.column_names if name not in base)


def _legacy_without_covered_keys(lake: Lake, date: dt.date, source: str, tables: list[catalog.FactTable],
                                 written: list[str], status: pa.Table,
                                 without_rows: pa.Table) -> tuple[list[StagedFile], list[Path]]:
    """The date's legacy files of the source's tables without the keys identities' files hold (those written now
    and those already there) or the answers now cover without a row: replacements to stage, and files left empty
    to remove."""
    replaced, emptied = [], []
    for table in tables:
        legacy = lake.legacy_files(table.name, date, source)
        if not legacy:
            continue
        key = list(table.key)
        kept = [p for p in lake.files(table.name, [date], source) if identity_of(p) not in (None, *written)]
        now = [wide.long_keys_as_wide(table, rows.select(DAILY_STATUS_KEY)) for rows in (status, without_rows)]
        covered = pa.concat_tables([*now, *(pq.read_table(p, columns=key) for p in kept)], promote_options="permissive")
        for path in legacy:
            outcome = lake.stage_without_keys(path, key, covered)
            if isinstance(outcome, StagedFile):
                replaced.append(outcome)
            elif outcome is not None:
                emptied.append(outcome)
    return replaced, emptied


def _snapshot_lifetime(con: duckdb.DuckDBPyConnection, lake: Lake, lifetime: pa.Table, snapshot_date: dt.date,
                       key: str) -> int:
    """The newest all-time totals per pin and metric, as the day's pin_lifetime snapshot of identity `key`; the
    rows written."""
    if not lifetime.num_rows:
        return 0
    con.register("staged_lifetime", lifetime)
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE latest_lifetime AS
            SELECT {', '.join(PIN_LIFETIME.names)} FROM staged_lifetime
            QUALIFY row_number() OVER (PARTITION BY pin_id, metric ORDER BY extracted_at DESC, {_SOURCE} DESC) = 1""")
    finally:
        con.unregister("staged_lifetime")
    lake.snapshot(con, "pin_lifetime", snapshot_date, "SELECT * FROM latest_lifetime ORDER BY pin_id, metric", key)
    return con.execute("SELECT count(*) FROM latest_lifetime").fetchall()[0][0]


def normalize_range(zones: list[RawZone], lake: Lake, requested: DateRange, source: Source, snapshot_date: dt.date,
                    temp_directory: str | None = None, workers: int | None = None,
                    progress: StepProgress | None = None, available_workers: int | None = None) -> NormalizeSummary:
    """Raw zones → lake for a date range, with zero API calls (this is also the re-normalize path). `zones`: every
    account's raw folder there is, so that an identity's file of a date is made of all its answers, whichever
    account name fetched them. `workers`, `progress` and `available_workers`: as `stage` takes them."""
    with tempfile.TemporaryDirectory(prefix=staging_prefix(), dir=temp_directory) as folder, duckdb.connect() as con:
        # Staging streams through files, and DuckDB is bounded in memory (spilling to temp_directory), so the
        # number of pins does not set the peak RSS.
        con.execute("SET memory_limit = ?", [STAGING_MEMORY_LIMIT])
        con.execute("SET preserve_insertion_order = false")
        if temp_directory:
            con.execute("SET temp_directory = ?", [temp_directory])
        lake.convert_long_layout()
        staged = stage(Path(folder), zones, requested, source, workers, progress, available_workers)
        summary = write_lake(con, lake, staged, source, snapshot_date)
    summary.raw_files = staged.files
    summary.unrequested = staged.unrequested
    summary.unreadable = staged.unreadable
    summary.outside_window = staged.outside_window
    return summary
