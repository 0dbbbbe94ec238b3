"""Resuming an extraction a daily quota stopped: the record of the stop, and the stored answers the next run re-uses.

When an account's extraction (one asset) stops on a spent daily quota, `PINTEREST_ETL_HOME/resume/<asset>/<account>.json`
records it among that account's stops, one per range and settings: the range asked, since when that run (and the
stopped runs it resumed) fetched, and the API's words on when the quota resets. The next run of that account and
asset whose range overlaps any of them sends no request whose identical twin (endpoint, path parameters, encoded
query) such a run already answered: the client takes the stored answer (`ReplayIndex`), counts it as replayed (not
as an API call) and the raw zone does not store it twice. Answers fetched more than MAX_REPLAY_AGE ago are never
re-used: a date that was not final then may have changed since. A resumed run plans its windows as of the stopped
run's day when that is at most BOUNDARY_MARGIN_DAYS earlier, so its requests match the stored ones after midnight
UTC (the window's start is then the API's own oldest day, still inside its 90). A stop is removed once a run of that
account completes its whole range with the same settings, so an ordinary re-run always fetches fresh answers, and a
shorter run (the daily schedule's) or another range's stop leaves it in place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from pipelines.atomic_files import temporary_path
from pipelines.pinterest.endpoints import encode_query
from pipelines.pinterest.errors import DailyQuotaError
from pipelines.pinterest.replay import ReplayIndex, StoredAnswer, request_key
from pipelines.planning import BOUNDARY_MARGIN_DAYS, DateRange
from pipelines.raw_zone import RawZone

log = logging.getLogger(__name__)

# Two days: a resumed run normally comes the day after the stop; older answers of recent, not yet final dates
# would be too stale to pass for today's.
MAX_REPLAY_AGE = dt.timedelta(hours=48)
@dataclasses.dataclass(frozen=True)
class QuotaStop:
    """An extraction of one account and asset a daily quota stopped: the range asked, the earliest start of the
    stopped run(s) whose answers a resume re-uses, when the quota resets as the API said it, the day the stopped
    run planned its windows as of, and the settings that shaped its requests (`Resumption.settings`)."""

    asset: str
    account: str
    requested: DateRange
    since: dt.datetime
    reset: str
    planned_on: dt.date | None = None
    settings: str = ""

    def overlaps(self, requested: DateRange) -> bool:
        return self.requested.start <= requested.end and self.requested.end >= requested.start

    def completed_by(self, requested: DateRange, settings: str) -> bool:
        """Whether a completed run of `requested` with `settings` fetched everything the stopped run(s) set out to."""
        return requested.start <= self.requested.start and requested.end >= self.requested.end and settings == self.settings


    def same_run_as(self, other: QuotaStop) -> bool:
        """Whether `other` stopped the same range with the same settings (its record replaces this one's)."""
        return self.requested == other.requested and self.settings == other.settings


def stop_path(home: Path, asset: str, account: str) -> Path:
    return home / "resume" / asset / f"{account}.json"


def _stop_fields(stop: QuotaStop) -> dict:
    return {"start": stop.requested.start.isoformat(), "end": stop.requested.end.isoformat(),
            "since": stop.since.isoformat(), "reset": stop.reset,
            "planned_on": stop.planned_on.isoformat() if stop.planned_on else None, "settings": stop.settings}


def _stop_of(asset: str, account: str, fields: dict) -> QuotaStop:
    planned_on = fields.get("planned_on")
    return QuotaStop(asset, account, DateRange(dt.date.fromisoformat(fields["start"]), dt.date.fromisoformat(fields["end"])),
                     dt.datetime.fromisoformat(fields["since"]), str(fields.get("reset", "")),
                     dt.date.fromisoformat(planned_on) if planned_on else None, str(fields.get("settings", "")))


def read_stops(home: Path, asset: str, account: str) -> list[QuotaStop]:
    """The recorded stops of an account's extraction: none recorded, or a record that cannot be read, is none
    (then nothing is re-used, which only costs calls). A record of one stop (written before stops were kept per
    range) is read as that one stop."""
    path = stop_path(home, asset, account)
    try:
        fields = json.loads(path.read_text())
        stops = fields["stops"] if isinstance(fields, dict) and "stops" in fields else [fields]
        return [_stop_of(asset, account, stop) for stop in stops]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.warning("ignoring the resume record %s (%s: %s): the run fetches every answer again", path,
                    type(error).__name__, error)
        return []


def record_stops(home: Path, asset: str, account: str, stops: Iterable[QuotaStop]) -> Path:
    """Write (atomically) the record of an account's stopped extractions; with none left, remove it."""
    path = stop_path(home, asset, account)
    stops = list(stops)
    if not stops:
        path.unlink(missing_ok=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    tmp.write_text(json.dumps({"stops": [_stop_fields(stop) for stop in stops]}, indent=1))
    os.replace(tmp, path)
    return path


def replay_index(raw: RawZone, stops: Iterable[QuotaStop], requested: DateRange, now: dt.datetime) -> ReplayIndex:
    """The answers of the stopped run(s) a run of `requested` may re-use: those fetched since the earliest start
    of the stops overlapping it (none without one), none fetched more than MAX_REPLAY_AGE before `now`."""
    starts = [stop.since for stop in stops if stop.overlaps(requested)]
    if not starts:
        return ReplayIndex()
    answers = {request_key(record.endpoint, record.path_params, encode_query(record.params)):
               StoredAnswer(record.body, record.request_id, record.fetched_at, record.path)
               for record in raw.records_fetched_since(max(min(starts), now - MAX_REPLAY_AGE), requested)}
    return ReplayIndex(answers)


@dataclasses.dataclass
class Resumption:
    """The resume bookkeeping of one asset's run over its accounts: each account's replay index, and its
    record written when a quota stops it (or a sibling account) and removed when it completes."""

    home: Path
    asset: str
    requested: DateRange
    only: str  # the `pinterest-etl run --only` value that runs this asset
    # What else shapes this asset's requests (content types and splits, ads columns and attribution): a completed
    # run with other settings fetched other answers, so it leaves a stop's record in place.
    settings: str = ""
    _planned_on: dict[str, dt.date] = dataclasses.field(default_factory=dict)

    def resumes(self, stop: QuotaStop) -> bool:
        """Whether this run resumes `stop`: an overlapping range with the same settings (another API base URL or
        other settings asked other requests)."""
        return stop.overlaps(self.requested) and stop.settings == self.settings

    def _resumed_stops(self, account: str) -> list[QuotaStop]:
        return [stop for stop in read_stops(self.home, self.asset, account) if self.resumes(stop)]

    def planning_day(self, account: str, today: dt.date) -> dt.date:
        """The day the account's windows are planned as of: a resumed stopped run's when it is at most
        BOUNDARY_MARGIN_DAYS before `today` (its windows' oldest start is then the API's own oldest day, so the
        resumed run sends the requests the stopped one stored, instead of windows one day shorter that match
        none), else `today`. The stop of this very range decides, else the most recent day of the others."""
        recent = [stop for stop in self._resumed_stops(account) if stop.planned_on is not None
                  and dt.timedelta(0) <= today - stop.planned_on <= dt.timedelta(days=BOUNDARY_MARGIN_DAYS)]
        own = [stop for stop in recent if stop.requested == self.requested]
        day = max((stop.planned_on for stop in own or recent), default=today)
        self._planned_on[account] = day
        return day

    def index(self, account: str, raw: RawZone, now: dt.datetime | None = None) -> ReplayIndex:
        index = replay_index(raw, self._resumed_stops(account), self.requested, now or dt.datetime.now(dt.timezone.utc))
        if len(index):
            log.info("account %r: %d answer(s) of the run(s) a daily quota stopped are re-used instead of called again",
                     account, len(index))
        return index

    def planned_on(self, account: str) -> dt.date | None:
        """The day `planning_day` planned the account's windows as of (None before it did)."""
        return self._planned_on.get(account)

    def stopped(self, account: str, started: dt.datetime, reset: str, planned_on: dt.date | None = None) -> None:
        """Record that the account's extraction of this range, started at `started`, stopped (or must be resumed
        with a sibling's), replacing an earlier stop of the same range and settings and keeping the others: its
        resume also re-uses what the earlier stopped runs it resumed fetched. `planned_on`: the day its windows
        were planned as of when another Resumption (the account's own step) planned them."""
        stops = read_stops(self.home, self.asset, account)
        started = min([started, *(stop.since for stop in stops if self.resumes(stop))])
        stop = QuotaStop(self.asset, account, self.requested, started, reset, planned_on or self.planned_on(account),
                         self.settings)
        record_stops(self.home, self.asset, account, [*(earlier for earlier in stops if not earlier.same_run_as(stop)), stop])

    def completed(self, account: str) -> None:
        """Remove the account's stops whose whole range this run fetched with the same settings; the others stay."""
        stops = read_stops(self.home, self.asset, account)
        left = [stop for stop in stops if not stop.completed_by(self.requested, self.settings)]
        if len(left) < len(stops):
            record_stops(self.home, self.asset, account, left)

    def note(self, raw_root: Path) -> str:
        """What a quota stop's message adds: where the answers are, that they are re-used, the command that resumes."""
        hours = MAX_REPLAY_AGE.total_seconds() / 3600
        return (f". Everything fetched so far is kept in the raw zone ({raw_root}) and re-used by a resumed run for "
                f"{hours:.0f} hours instead of being fetched again; once the quota has reset, materialize the same "
                f"partitions again or resume with: pinterest-etl run --start {self.requested.start} "
                f"--end {self.requested.end} --only {self.only}")


def with_resume_note(error: DailyQuotaError, note: str) -> DailyQuotaError:
    """The same quota error, its message followed by `note` (the step failure and the run's metadata show it)."""
    noted = DailyQuotaError(error.status, error.code, error.api_message, error.endpoint, error.request_id)
    noted.args = (f"{error}{note}",)
    return noted
