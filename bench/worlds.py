"""The benchmark scenarios as data: each world (pins; ad accounts x campaigns x ad groups x ads), the range it is
run over and how (latency, rate budgets), and the constants the call formulas use. bench/scenarios.py runs them;
bench/report.py describes them in BENCHMARKS.md."""

from __future__ import annotations

import dataclasses
import datetime as dt

from bench.common import CATEGORIES, RAISED_BUDGET, ROOT, SEED

RESULTS = ROOT / "bench" / "results"
TODAY = dt.date(2026, 11, 28)  # the backfill scenarios' today; the world is built around it (--epoch)
BACKFILL = (dt.date(2026, 8, 31), dt.date(2026, 11, 27))  # 89 complete days: one 90-day API window
DAILY_REPULL_DAYS = 30  # the schedule's default: max(PINTEREST_ORGANIC_REPULL_DAYS 5, PINTEREST_ADS_REPULL_DAYS 30)
BOARDS = 12  # the simulator's default
SPLITS = 1  # PINTEREST_ORGANIC_SPLITS unset: APP_TYPE
CONTENT_TYPES = 3  # PINTEREST_CONTENT_TYPES unset: ALL, ORGANIC, PAID (the peers send none: the API's ALL)
PAGE_SIZE = 250
AIRBYTE_SLICE_DAYS = 30
AIRBYTE_PAGE_SIZE = 25
WINDOW_DAYS = 90
LOAD_SAMPLE_SECONDS = 1.0
DEFAULT_BUDGETS = {"org_analytics": 300, "org_read": 1000, "ads_analytics": 300, "ads_read": 1000}  # per minute


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A world (pins; ad accounts x campaigns x ad groups x ads) and how it is run."""

    name: str
    title: str
    pins: int
    ads: tuple[int, int, int, int]
    latency_ms: int = 0
    default_budgets: bool = False  # the rate budgets as shipped (simulator and client); otherwise raised out of the way
    daily_on_top: bool = False  # a backfill first (not measured), then one day later the schedule's re-pull window

    def sim_args(self, today: dt.date) -> list[str]:
        accounts, campaigns, groups, ads = self.ads
        args = ["--today", today.isoformat(), "--epoch", TODAY.isoformat(), "--seed", str(SEED), "--pins", str(self.pins),
                "--ad-accounts", str(accounts), "--campaigns", str(campaigns), "--ad-groups", str(groups), "--ads", str(ads)]
        if self.latency_ms:
            args += ["--latency-ms", str(self.latency_ms)]
        if not self.default_budgets:
            args += [arg for c in CATEGORIES for arg in ("--rate-limit", f"{c}={RAISED_BUDGET}")]
        return args

    def measured_range(self) -> tuple[dt.date, dt.date, dt.date]:
        """(start, end, today) of the measured run."""
        if self.daily_on_top:
            today = TODAY + dt.timedelta(days=1)
            end = today - dt.timedelta(days=1)
            return end - dt.timedelta(days=DAILY_REPULL_DAYS - 1), end, today
        return (*BACKFILL, TODAY)


M_WORLD = {"pins": 20_000, "ads": (2, 50, 4, 5)}
SCENARIOS = {
    "S": Scenario("S", "S: default world, 90-day backfill", 500, (2, 6, 2, 3)),
    "M": Scenario("M", "M: 20,000 pins, 2x50x4x5 ads, 90-day backfill", **M_WORLD),
    "daily": Scenario("daily", "Daily: one incremental day on top of M (the schedule's 30-day re-pull)", **M_WORLD,
                      daily_on_top=True),
    "with-latency": Scenario("with-latency", "With latency: M, 150 ms per call, default rate budgets", **M_WORLD,
                             latency_ms=150, default_budgets=True),
    "L": Scenario("L", "L: 100,000 pins, 5x200x5x5 ads, 90-day backfill", 100_000, (5, 200, 5, 5)),
}
DEFAULT_SCENARIOS = ("S", "M", "daily", "with-latency")
