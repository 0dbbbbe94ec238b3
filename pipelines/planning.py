"""Date windows for a partition range: what the API can still serve, in as few calls as possible."""

from __future__ import annotations

import dataclasses
import datetime as dt

from pipelines.pinterest.endpoints import ANALYTICS_WINDOW_DAYS, REPORT_WINDOW_DAYS

# The planners stay this many days inside the API's reach and never ask for its oldest day: on that boundary
# Pinterest answers "You can only get data from the last 90 days." (its clock and ours may straddle midnight UTC).
BOUNDARY_MARGIN_DAYS = 1
# The oldest start of a sync window (organic and sync ads analytics): today - 89.
SYNC_BACK_DAYS = ANALYTICS_WINDOW_DAYS - BOUNDARY_MARGIN_DAYS
# The oldest date an async ads report is asked for: today - 913.
REPORT_BACK_DAYS = REPORT_WINDOW_DAYS - BOUNDARY_MARGIN_DAYS


@dataclasses.dataclass(frozen=True)
class DateRange:
    """Inclusive range of UTC dates."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"the range starts {self.start} after it ends {self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


@dataclasses.dataclass(frozen=True)
class WindowPlan:
    """The API windows that cover the reachable part of a range, and the dates it can no longer serve."""

    windows: tuple[DateRange, ...]
    unreachable: DateRange | None  # dates older than the API's window, oldest part of the range


def oldest_reachable(today: dt.date, back_days: int = SYNC_BACK_DAYS) -> dt.date:
    """The oldest date the planners ask for, `back_days` before today (the API's reach less the margin)."""
    return today - dt.timedelta(days=back_days)


def plan_windows(requested: DateRange, today: dt.date, back_days: int = SYNC_BACK_DAYS,
                 span_days: int = ANALYTICS_WINDOW_DAYS) -> WindowPlan:
    """Split the reachable part of `requested` into the fewest windows the API accepts: each at most
    `span_days` long (end - start < span_days, so a window holds at most 90 dates), none starting more
    than `back_days` before today (89: one day of margin inside the API's 90), none ending after today."""
    if requested.start > today:
        raise ValueError(f"the range {requested} starts after today ({today} UTC)")
    end = min(requested.end, today)
    first = max(requested.start, oldest_reachable(today, back_days))
    unreachable = None
    if requested.start < first:
        unreachable = DateRange(requested.start, min(first - dt.timedelta(days=1), end))
    windows = []
    cursor = first
    while cursor <= end:
        window_end = min(cursor + dt.timedelta(days=span_days - 1), end)
        windows.append(DateRange(cursor, window_end))
        cursor = window_end + dt.timedelta(days=1)
    return WindowPlan(tuple(windows), unreachable)


def chunks(items: list, size: int) -> list[list]:
    """Consecutive slices of at most `size` items (the last one may be shorter)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1 (got {size})")
    return [items[i:i + size] for i in range(0, len(items), size)]
