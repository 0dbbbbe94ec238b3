"""Daily organic metrics of the synthetic world: pins, and the user account as the sum of its pins.

Final values are a pure function of (seed, pin, day). What the API *reports* also depends on the age
of the day relative to `today`: the last 2 days are PROCESSING (no metrics), the 2 before them
ESTIMATE (a fraction of the final value), older days READY (final). Days before a pin existed are
BEFORE_PIN_CREATED with no metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from pipelines.sandbox.hashing import uniform
from pipelines.sandbox.world import World

PROCESSING_DAYS = 2
ESTIMATE_DAYS = 2
# Fraction of the final value reported for an ESTIMATE day, by its age in days (today = 0).
ESTIMATE_FACTORS = {2: 0.86, 3: 0.95}
# Relative activity by weekday (Monday first): pinners plan on weekends.
WEEKLY_PATTERN = np.array([0.96, 0.93, 0.95, 1.0, 1.04, 1.12, 1.1])

COUNT_METRICS = (
    "IMPRESSION", "PIN_CLICK", "OUTBOUND_CLICK", "SAVE", "TOTAL_COMMENTS", "TOTAL_REACTIONS", "USER_FOLLOW",
    "PROFILE_VISIT", "VIDEO_START", "VIDEO_MRC_VIEW", "VIDEO_10S_VIEW", "QUARTILE_95_PERCENT_VIEW",
    "VIDEO_V50_WATCH_TIME",
)
# Ratio metrics and how they are recomputed from counts (never summed).
RATIO_METRICS = {
    "SAVE_RATE": ("SAVE", "IMPRESSION"),
    "PIN_CLICK_RATE": ("PIN_CLICK", "IMPRESSION"),
    "OUTBOUND_CLICK_RATE": ("OUTBOUND_CLICK", "IMPRESSION"),
    "ENGAGEMENT_RATE": ("ENGAGEMENT", "IMPRESSION"),
    "VIDEO_AVG_WATCH_TIME": ("VIDEO_V50_WATCH_TIME", "VIDEO_START"),
}
ENGAGEMENT_PARTS = ("PIN_CLICK", "OUTBOUND_CLICK", "SAVE", "TOTAL_COMMENTS", "TOTAL_REACTIONS")

# Share of activity per bucket for the splits that pins cannot derive from their own attributes.
SPLIT_SHARES = {
    "APP_TYPE": (("MOBILE", 0.62), ("WEB", 0.27), ("TABLET", 0.11)),
    "OWNED_CONTENT": (("CLAIMED", 0.7), ("OTHER", 0.3)),
    "SOURCE": (("YOUR_PINS", 0.84), ("OTHER_PINS", 0.16)),
}
_SPLIT_STREAMS = {"APP_TYPE": 40, "OWNED_CONTENT": 41, "SOURCE": 42}
_PIN_CHUNK = 8192

READY, ESTIMATE, PROCESSING, BEFORE_PIN_CREATED, BEFORE_BUSINESS_CREATED = (
    "READY", "ESTIMATE", "PROCESSING", "BEFORE_PIN_CREATED", "BEFORE_BUSINESS_CREATED")


def weekday_factor(days: np.ndarray) -> np.ndarray:
    return WEEKLY_PATTERN[(np.asarray(days) - 1) % 7]  # ordinal 1 (0001-01-01) was a Monday


def reporting_status(today_day: int, days: np.ndarray) -> np.ndarray:
    """PROCESSING / ESTIMATE / READY for each day, from its age relative to today."""
    age = today_day - np.asarray(days)
    return np.where(age < PROCESSING_DAYS, PROCESSING, np.where(age < PROCESSING_DAYS + ESTIMATE_DAYS, ESTIMATE, READY))


def reporting_factor(today_day: int, days: np.ndarray) -> np.ndarray:
    age = today_day - np.asarray(days)
    return np.array([ESTIMATE_FACTORS.get(int(a), 1.0) for a in age])


class OrganicModel:
    """Reported daily counts for pins and for the user account (the sum over its pins)."""

    def __init__(self, world: World):
        self.world = world
        self._account_cache: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def final_pin_counts(self, pins: np.ndarray, days: np.ndarray) -> dict[str, np.ndarray]:
        """Final (settled) counts, shape (len(pins), len(days)); zero before a pin existed."""
        w = self.world
        keys = w.pin_keys[pins]
        age = days[None, :] - w.pin_created_day[pins][:, None]
        alive = age >= 0
        decay = 0.25 + 0.75 * np.exp(-np.maximum(age, 0) / 120.0)
        noise = 0.75 + 0.5 * uniform(keys, days, 10)
        impressions = np.floor(w.pin_popularity[pins][:, None] * decay * weekday_factor(days)[None, :] * noise) * alive

        def part(base: np.ndarray, rate: np.ndarray | float, stream: int, of: np.ndarray = keys) -> np.ndarray:
            expected = base * rate * (0.8 + 0.4 * uniform(of, days, stream))
            # Stochastic rounding: a pin's few clicks a day keep their mean instead of flooring to zero.
            return np.floor(expected + uniform(of, days, stream + 100))

        pin_click = part(impressions, w.pin_click_rate[pins][:, None], 11)
        counts = {
            "IMPRESSION": impressions,
            "PIN_CLICK": pin_click,
            "OUTBOUND_CLICK": part(pin_click, 0.45, 12),
            "SAVE": part(impressions, w.pin_save_rate[pins][:, None], 13),
            "TOTAL_COMMENTS": part(impressions, 0.0015, 14),
            "TOTAL_REACTIONS": part(impressions, 0.004, 15),
            "USER_FOLLOW": part(impressions, 0.002, 16),
            "PROFILE_VISIT": part(impressions, 0.01, 17),
        }
        counts = {m: v.astype(np.int64) for m, v in counts.items()}
        # Video metrics are zero for image pins: draw their streams (18..22) for the video pins only.
        video = np.flatnonzero(w.pin_is_video[pins])
        video_keys = keys[video]
        video_start = part(impressions[video], 0.55, 18, video_keys)
        mrc = part(video_start, 0.6, 19, video_keys)
        watch_ms_per_view = 3000 + 6000 * uniform(video_keys, days, 20)
        ten_seconds = part(mrc, 0.55, 21, video_keys)
        video_counts = {
            "VIDEO_START": video_start,
            "VIDEO_MRC_VIEW": mrc,
            "VIDEO_10S_VIEW": ten_seconds,
            "VIDEO_V50_WATCH_TIME": np.floor(mrc * watch_ms_per_view),
            "QUARTILE_95_PERCENT_VIEW": part(ten_seconds, 0.45, 22, video_keys),
        }
        for m, v in video_counts.items():
            counts[m] = np.zeros((len(pins), len(days)), dtype=np.int64)
            counts[m][video] = v
        return counts

    def reported_pin_counts(self, pins: np.ndarray, days: np.ndarray) -> dict[str, np.ndarray]:
        """Counts as the API reports them today: ESTIMATE days scaled down, PROCESSING days zero."""
        counts = self.final_pin_counts(pins, days)
        factor = reporting_factor(self.world.today_day, days)
        factor = np.where(reporting_status(self.world.today_day, days) == PROCESSING, 0.0, factor)
        late = np.flatnonzero(factor != 1.0)  # READY days are reported as they are
        if len(late):
            keys = self.world.pin_keys[pins]
            for stream, v in enumerate(counts.values()):
                # Stochastically rounded, so an estimate of a pin's few saves is not rounded down to nothing.
                jitter = uniform(keys, days[late], 300 + stream)
                v[:, late] = np.minimum(np.floor(v[:, late] * factor[late][None, :] + jitter), v[:, late]).astype(np.int64)
        return counts

    def pin_window_totals(self, pins: np.ndarray, days: np.ndarray) -> dict[str, np.ndarray]:
        """Reported counts of each pin summed over `days`, shape (len(pins),), computed in chunks of pins."""
        totals = {m: np.zeros(len(pins), dtype=np.int64) for m in COUNT_METRICS}
        for start, chunk, counts in self._reported_in_chunks(pins, days):
            for m, values in counts.items():
                totals[m][start:start + len(chunk)] = values.sum(axis=1)
        return totals

    def _reported_in_chunks(self, pins: np.ndarray, days: np.ndarray) -> Iterator[tuple[int, np.ndarray, dict[str, np.ndarray]]]:
        """(offset in `pins`, the chunk's pins, their reported counts) per chunk of at most _PIN_CHUNK pins (bounded memory)."""
        for start in range(0, len(pins), _PIN_CHUNK):
            chunk = pins[start:start + _PIN_CHUNK]
            yield start, chunk, self.reported_pin_counts(chunk, days)

    def pin_statuses(self, pins: np.ndarray, days: np.ndarray) -> np.ndarray:
        status = np.broadcast_to(reporting_status(self.world.today_day, days), (len(pins), len(days)))
        before = days[None, :] < self.world.pin_created_day[pins][:, None]
        return np.where(before, BEFORE_PIN_CREATED, status)

    def account_counts_by_format(self, days: np.ndarray) -> np.ndarray:
        """Reported account counts, shape (2 formats [image, video], len(COUNT_METRICS), len(days))."""
        out = np.zeros((2, len(COUNT_METRICS), len(days)), dtype=np.int64)
        missing = [d for d in days.tolist() if d not in self._account_cache]
        if missing:
            computed = self._sum_over_pins(np.array(missing, dtype=np.int64))
            with self._lock:
                for j, d in enumerate(missing):
                    self._account_cache[d] = computed[:, :, j]
        for j, d in enumerate(days.tolist()):
            out[:, :, j] = self._account_cache[d]
        return out

    def _sum_over_pins(self, days: np.ndarray) -> np.ndarray:
        w = self.world
        total = np.zeros((2, len(COUNT_METRICS), len(days)), dtype=np.int64)
        for _, pins, counts in self._reported_in_chunks(np.arange(len(w.pin_ids)), days):
            video = w.pin_is_video[pins]
            for m, name in enumerate(COUNT_METRICS):
                everything = counts[name].sum(axis=0)
                of_video = counts[name][video].sum(axis=0)
                total[0, m] += everything - of_video
                total[1, m] += of_video
        return total

    def account_statuses(self, days: np.ndarray) -> np.ndarray:
        status = reporting_status(self.world.today_day, days)
        return np.where(days < self.world.user_created_day, BEFORE_BUSINESS_CREATED, status)

    def split_shares(self, split_field: str, days: np.ndarray, key: int) -> list[tuple[str, np.ndarray]]:
        """Per-day shares of each bucket of a split (they sum to 1 on every day)."""
        return [(name, shares[0]) for name, shares in self.split_shares_of(split_field, days, np.array([key], dtype=np.uint64))]

    def split_shares_of(self, split_field: str, days: np.ndarray, keys: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """`split_shares` of many keys at once: each bucket's shares have shape (len(keys), len(days))."""
        buckets = SPLIT_SHARES[split_field]
        noise = uniform(keys, days, _SPLIT_STREAMS[split_field])
        raw = np.array([share * (0.9 + 0.2 * ((noise * (i + 3)) % 1.0)) for i, (_, share) in enumerate(buckets)])
        raw /= raw.sum(axis=0, keepdims=True)
        return [(name, raw[i]) for i, (name, _) in enumerate(buckets)]


def split_counts(counts: dict[str, np.ndarray], shares: list[tuple[str, np.ndarray]]) -> dict[str, dict[str, np.ndarray]]:
    """Split integer counts into buckets by per-day shares so that the buckets add up exactly (counts of shape
    (len(days),) with shares of one key, or (entities, len(days)) with shares of one key or one per entity)."""
    out: dict[str, dict[str, np.ndarray]] = {name: {} for name, _ in shares}
    for metric, values in counts.items():
        previous = np.zeros_like(values)
        cumulative = np.zeros(values.shape[-1])
        for i, (name, share) in enumerate(shares):
            cumulative = cumulative + share
            upto = values if i == len(shares) - 1 else np.floor(values * cumulative).astype(np.int64)
            out[name][metric] = upto - previous
            previous = upto
    return out


def with_derived(counts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Counts plus ENGAGEMENT and the ratio metrics, recomputed from counts (0 when the base is 0)."""
    values = dict(counts)
    values["ENGAGEMENT"] = sum(counts[p] for p in ENGAGEMENT_PARTS)
    for ratio, (numerator, denominator) in RATIO_METRICS.items():
        num, den = values[numerator].astype(np.float64), values[denominator].astype(np.float64)
        values[ratio] = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return values
