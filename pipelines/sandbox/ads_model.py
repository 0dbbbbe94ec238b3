"""Daily ads delivery of the synthetic world, per ad, summed exactly up to ad groups, campaigns, accounts.

Each ad delivers between its ad group's start and end days. Non-conversion metrics for today are
partial (the day is not over); conversion metrics for a day keep growing until the attribution
window (`max(click, engagement, view)` days) has passed, then settle. Zero values are omitted from
rows and rows with no delivery are left out, as the API does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import numpy as np

from pipelines.sandbox.hashing import uniform
from pipelines.sandbox.organic_model import COUNT_METRICS, PROCESSING, reporting_factor, reporting_status, weekday_factor
from pipelines.sandbox.world import World

TODAY_PARTIAL_FACTOR = 0.45
CONVERSION_SETTLE_TAU_DAYS = 6.0
_MAX_ADS_PER_CHUNK = 4096

# Share of a conversion type's final count attributed through each path, by window length in days.
CLICK_SHARE = {0: 0.0, 1: 0.45, 7: 0.72, 14: 0.83, 30: 0.92, 60: 1.0}
ENGAGEMENT_SHARE = {0: 0.0, 1: 0.04, 7: 0.07, 14: 0.08, 30: 0.09, 60: 0.1}
VIEW_SHARE = {0: 0.0, 1: 0.12, 7: 0.2, 14: 0.24, 30: 0.27, 60: 0.3}
_EVENTS = {  # event: (base multiplier on paid clicks, has a value column)
    "CHECKOUT": (1.0, True),
    "SIGNUP": (0.5, True),
    "LEAD": (0.3, False),
    "ADD_TO_CART": (2.2, False),
}
_PATHS = ("CLICK", "ENGAGEMENT", "VIEW")

DELIVERY_COUNTS = (
    "IMPRESSION_1", "IMPRESSION_2", "CLICKTHROUGH_1", "CLICKTHROUGH_2", "OUTBOUND_CLICK_1", "OUTBOUND_CLICK_2",
    "REPIN_1", "REPIN_2", "ENGAGEMENT_1", "ENGAGEMENT_2", "SPEND_IN_MICRO_DOLLAR", "VIDEO_3SEC_VIEWS_1",
    "VIDEO_MRC_VIEWS_1", "VIDEO_P100_COMPLETE_2", "WEB_SESSIONS_1", "WEB_SESSIONS_2",
)
CONVERSION_COUNTS = tuple(
    f"TOTAL_{path}_{event}{suffix}"
    for event, (_, has_value) in _EVENTS.items()
    for path in _PATHS
    for suffix in (("", "_VALUE_IN_MICRO_DOLLAR") if has_value else ("",))
) + ("TOTAL_PAGE_VISIT",)
BASE_COUNTS = DELIVERY_COUNTS + CONVERSION_COUNTS
# The user account's metric counted by each delivery column of its ads (paid = first-party, the `_1` columns);
# the account's other metrics have no paid activity.
PAID_ACCOUNT_METRICS = {"IMPRESSION": "IMPRESSION_1", "PIN_CLICK": "CLICKTHROUGH_1", "OUTBOUND_CLICK": "OUTBOUND_CLICK_1",
                        "SAVE": "REPIN_1", "VIDEO_START": "VIDEO_3SEC_VIEWS_1", "VIDEO_MRC_VIEW": "VIDEO_MRC_VIEWS_1"}


@dataclasses.dataclass(frozen=True)
class Attribution:
    """Attribution settings of a request; they change conversion numbers, never delivery numbers."""

    click_window_days: int = 30
    engagement_window_days: int = 30
    view_window_days: int = 1
    conversion_report_time: str = "TIME_OF_AD_ACTION"

    @property
    def settle_days(self) -> int:
        return max(self.click_window_days, self.engagement_window_days, self.view_window_days, 1)


def _ratio(num: np.ndarray, den: np.ndarray, scale: float = 1.0) -> np.ndarray:
    num = num.astype(np.float64)
    den = den.astype(np.float64)
    return np.divide(num * scale, den, out=np.zeros_like(num), where=den > 0)


def derived_columns(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every modelled reporting column, computed from summed base counts (rates never summed)."""
    out = dict(c)
    spend = c["SPEND_IN_MICRO_DOLLAR"]
    for event, (_, has_value) in _EVENTS.items():
        out[f"TOTAL_{event}"] = sum(c[f"TOTAL_{p}_{event}"] for p in _PATHS)
        if has_value:
            out[f"TOTAL_{event}_VALUE_IN_MICRO_DOLLAR"] = sum(c[f"TOTAL_{p}_{event}_VALUE_IN_MICRO_DOLLAR"] for p in _PATHS)
    out["TOTAL_CONVERSIONS"] = sum(out[f"TOTAL_{e}"] for e in _EVENTS) + c["TOTAL_PAGE_VISIT"]
    for path in _PATHS:  # every modelled checkout is a web checkout
        out[f"TOTAL_WEB_{path}_CHECKOUT"] = c[f"TOTAL_{path}_CHECKOUT"]
        out[f"TOTAL_WEB_{path}_CHECKOUT_VALUE_IN_MICRO_DOLLAR"] = c[f"TOTAL_{path}_CHECKOUT_VALUE_IN_MICRO_DOLLAR"]
    out["TOTAL_WEB_CHECKOUT"] = out["TOTAL_CHECKOUT"]
    out["TOTAL_WEB_CHECKOUT_VALUE_IN_MICRO_DOLLAR"] = out["TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR"]
    out["LEADS"] = out["TOTAL_LEAD"]
    out.update({
        "PAID_IMPRESSION": c["IMPRESSION_1"],
        "TOTAL_IMPRESSION": c["IMPRESSION_1"] + c["IMPRESSION_2"],
        "TOTAL_CLICKTHROUGH": c["CLICKTHROUGH_1"] + c["CLICKTHROUGH_2"],
        "TOTAL_ENGAGEMENT": c["ENGAGEMENT_1"] + c["ENGAGEMENT_2"],
        "TOTAL_WEB_SESSIONS": c["WEB_SESSIONS_1"] + c["WEB_SESSIONS_2"],
        "TOTAL_VIDEO_3SEC_VIEWS": c["VIDEO_3SEC_VIEWS_1"],
        "TOTAL_VIDEO_MRC_VIEWS": c["VIDEO_MRC_VIEWS_1"],
        "TOTAL_VIDEO_P100_COMPLETE": c["VIDEO_P100_COMPLETE_2"],
        "SPEND_IN_DOLLAR": spend / 1e6,
        "CTR": _ratio(c["CLICKTHROUGH_1"], c["IMPRESSION_1"]),
        "ECTR": _ratio(c["CLICKTHROUGH_1"], c["IMPRESSION_1"]),
        "CTR_2": _ratio(c["CLICKTHROUGH_2"], c["IMPRESSION_2"]),
        "OUTBOUND_CTR_1": _ratio(c["OUTBOUND_CLICK_1"], c["IMPRESSION_1"]),
        "ENGAGEMENT_RATE": _ratio(c["ENGAGEMENT_1"] + c["ENGAGEMENT_2"], c["IMPRESSION_1"] + c["IMPRESSION_2"]),
        "EENGAGEMENT_RATE": _ratio(c["ENGAGEMENT_1"], c["IMPRESSION_1"]),
        "REPIN_RATE": _ratio(c["REPIN_1"], c["IMPRESSION_1"]),
        "TOTAL_REPIN_RATE": _ratio(c["REPIN_1"] + c["REPIN_2"], c["IMPRESSION_1"] + c["IMPRESSION_2"]),
        "CPC_IN_MICRO_DOLLAR": np.floor(_ratio(spend, c["CLICKTHROUGH_1"])).astype(np.int64),
        "ECPC_IN_MICRO_DOLLAR": np.floor(_ratio(spend, c["CLICKTHROUGH_1"])).astype(np.int64),
        "ECPC_IN_DOLLAR": _ratio(spend, c["CLICKTHROUGH_1"], 1e-6),
        "CPM_IN_MICRO_DOLLAR": np.floor(_ratio(spend, c["IMPRESSION_1"], 1000.0)).astype(np.int64),
        "CPM_IN_DOLLAR": _ratio(spend, c["IMPRESSION_1"], 1e-3),
        "ECPM_IN_MICRO_DOLLAR": np.floor(_ratio(spend, c["IMPRESSION_1"], 1000.0)).astype(np.int64),
        "ECPE_IN_DOLLAR": _ratio(spend, c["ENGAGEMENT_1"], 1e-6),
        "COST_PER_OUTBOUND_CLICK_IN_DOLLAR": _ratio(spend, c["OUTBOUND_CLICK_1"], 1e-6),
        "ECPV_IN_DOLLAR": _ratio(spend, c["VIDEO_3SEC_VIEWS_1"], 1e-6),
        "CHECKOUT_ROAS": _ratio(out["TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR"], spend),
        "WEB_CHECKOUT_ROAS": _ratio(out["TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR"], spend),
    })
    return out


class AdsModel:
    """Reported ads metrics for any set of ads, ad groups, campaigns or ad accounts and any dates."""

    def __init__(self, world: World):
        self.world = world
        self._paid_cache: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def paid_account_counts_by_format(self, days: np.ndarray) -> np.ndarray:
        """The user account's paid activity as its analytics report it: the delivery of the ads of the ad accounts
        the user owns, shape (2 formats [standard, video], len(COUNT_METRICS), len(days)), reported as the organic
        counts are (ESTIMATE days scaled down, PROCESSING days zero). Zero for a user without ads."""
        missing = [d for d in days.tolist() if d not in self._paid_cache]
        if missing:
            computed = self._owned_ads_delivery(np.array(missing, dtype=np.int64))
            with self._lock:
                for j, d in enumerate(missing):
                    self._paid_cache[d] = computed[:, :, j]
        return np.stack([self._paid_cache[d] for d in days.tolist()], axis=-1) if len(days) else \
            np.zeros((2, len(COUNT_METRICS), 0), dtype=np.int64)

    def _owned_ads_delivery(self, days: np.ndarray) -> np.ndarray:
        w = self.world
        total = np.zeros((2, len(COUNT_METRICS), len(days)), dtype=np.int64)
        owned = [i for i, is_owned in enumerate(w.ad_account_owned) if is_owned]
        ads = np.concatenate([np.arange(r.start, r.stop) for r in map(w.ads_of_account, owned)] or [np.zeros(0, np.int64)])
        # As the organic counts are reported: ESTIMATE days scaled down, PROCESSING days nothing yet.
        factor = np.where(reporting_status(w.today_day, days) == PROCESSING, 0.0, reporting_factor(w.today_day, days))
        for start in range(0, len(ads), _MAX_ADS_PER_CHUNK):
            chunk = ads[start:start + _MAX_ADS_PER_CHUNK]
            counts = self.ad_counts(chunk, days, Attribution())
            video = w.ad_is_video[chunk]
            for m, metric in enumerate(COUNT_METRICS):
                if metric in PAID_ACCOUNT_METRICS:
                    values = counts[PAID_ACCOUNT_METRICS[metric]]
                    total[0, m] += values[~video].sum(axis=0)
                    total[1, m] += values[video].sum(axis=0)
        return np.floor(total * factor[None, None, :]).astype(np.int64)

    def ad_counts(self, ads: np.ndarray, days: np.ndarray, attribution: Attribution) -> dict[str, np.ndarray]:
        """Reported base counts per ad per day, shape (len(ads), len(days)), as of the world's today."""
        w = self.world
        keys = w.ad_keys[ads]
        active = (days[None, :] >= w.ad_start_day[ads][:, None]) & (days[None, :] <= w.ad_end_day[ads][:, None])
        age = w.today_day - days
        delivered = np.where(age == 0, TODAY_PARTIAL_FACTOR, 1.0)[None, :] * active

        def draw(stream: int, low: float = 0.8, high: float = 1.2) -> np.ndarray:
            return low + (high - low) * uniform(keys, days, stream)

        impr1 = np.floor(w.ad_daily_impressions[ads][:, None] * weekday_factor(days)[None, :] * draw(1, 0.7, 1.3) * delivered)
        click1 = np.floor(impr1 * w.ad_ctr[ads][:, None] * draw(2))
        out1 = np.floor(click1 * 0.55 * draw(3))
        repin1 = np.floor(impr1 * 0.003 * draw(4, 0.5, 1.5))
        impr2 = np.floor(impr1 * 0.25 * draw(6, 0.5, 1.5))
        click2 = np.floor(impr2 * w.ad_ctr[ads][:, None] * 0.6 * draw(7))
        out2 = np.floor(click2 * 0.5 * draw(8))
        repin2 = np.floor(impr2 * 0.004 * draw(9, 0.5, 1.5))
        video = w.ad_is_video[ads][:, None]
        v3 = np.floor(impr1 * 0.35 * draw(10)) * video
        mrc = np.floor(v3 * 0.7 * draw(11))
        counts = {
            "IMPRESSION_1": impr1, "IMPRESSION_2": impr2, "CLICKTHROUGH_1": click1, "CLICKTHROUGH_2": click2,
            "OUTBOUND_CLICK_1": out1, "OUTBOUND_CLICK_2": out2, "REPIN_1": repin1, "REPIN_2": repin2,
            "ENGAGEMENT_1": click1 + repin1 + np.floor(impr1 * 0.002 * draw(5, 0.5, 1.5)),
            "ENGAGEMENT_2": click2 + repin2,
            "SPEND_IN_MICRO_DOLLAR": np.floor(impr1 * w.ad_cpm_micro[ads][:, None] / 1000.0 * draw(12, 0.9, 1.1)),
            "VIDEO_3SEC_VIEWS_1": v3, "VIDEO_MRC_VIEWS_1": mrc, "VIDEO_P100_COMPLETE_2": np.floor(mrc * 0.3 * draw(13)),
            "WEB_SESSIONS_1": np.floor(out1 * 0.8 * draw(14)), "WEB_SESSIONS_2": np.floor(out2 * 0.8 * draw(15)),
        }
        completeness = conversion_completeness(age, attribution.settle_days)[None, :]
        report_time = 0.95 if attribution.conversion_report_time == "TIME_OF_CONVERSION" else 1.0
        shares = {"CLICK": CLICK_SHARE[attribution.click_window_days],
                  "ENGAGEMENT": ENGAGEMENT_SHARE[attribution.engagement_window_days],
                  "VIEW": VIEW_SHARE[attribution.view_window_days]}
        final_clicks = np.floor(w.ad_daily_impressions[ads][:, None] * weekday_factor(days)[None, :] * draw(1, 0.7, 1.3) * active
                                * w.ad_ctr[ads][:, None] * draw(2))
        for e, (event, (multiplier, has_value)) in enumerate(_EVENTS.items()):
            base = final_clicks * w.ad_conversion_rate[ads][:, None] * multiplier * draw(20 + e, 0.6, 1.4)
            for p, path in enumerate(_PATHS):
                count = np.floor(base * shares[path] * completeness * report_time)
                counts[f"TOTAL_{path}_{event}"] = count
                if has_value:
                    value = w.ad_order_value_micro[ads][:, None] * (0.2 if event == "SIGNUP" else 1.0) * draw(30 + e * 3 + p)
                    counts[f"TOTAL_{path}_{event}_VALUE_IN_MICRO_DOLLAR"] = np.floor(count * value)
        counts["TOTAL_PAGE_VISIT"] = np.floor(out1 * 0.9 * draw(40) * completeness)
        return {name: values.astype(np.int64) for name, values in counts.items()}

    def entity_counts(self, groups: list[range], days: np.ndarray, attribution: Attribution) -> dict[str, np.ndarray]:
        """Base counts summed over each group of ads (one group per entity), shape (len(groups), len(days))."""
        totals = {name: np.zeros((len(groups), len(days)), dtype=np.int64) for name in BASE_COUNTS}
        start = 0
        while start < len(groups):
            stop, n_ads = start, 0
            while stop < len(groups) and (n_ads == 0 or n_ads + len(groups[stop]) <= _MAX_ADS_PER_CHUNK):
                n_ads += len(groups[stop])
                stop += 1
            chunk = groups[start:stop]
            ads = np.concatenate([np.arange(g.start, g.stop) for g in chunk]) if n_ads else np.zeros(0, dtype=np.int64)
            if all(len(g) == 1 for g in chunk):  # one ad per entity (an ads answer): the sums are the ads' own counts
                for name, values in self.ad_counts(ads, days, attribution).items():
                    totals[name][start:stop] = values
            elif len(ads):
                counts = self.ad_counts(ads, days, attribution)
                offsets = np.cumsum([0] + [len(g) for g in chunk[:-1]])
                nonempty = np.array([len(g) > 0 for g in chunk])
                for name, values in counts.items():
                    summed = np.add.reduceat(values, offsets, axis=0)
                    totals[name][start:stop] = np.where(nonempty[:, None], summed, 0)
            start = stop
        return totals

    def metrics_ready_state(self, day: dt.date) -> dict:
        """Whether a date's books are closed: delivery numbers once the day is over, conversions once
        `conversions_ready_after_days` have passed (30 by default: the default attribution window, after which
        the world's conversions of that setting stop changing). Monotonic: an older date is never less ready."""
        age = self.world.today_day - day.toordinal()
        return {
            "conversion_metrics_ready": age >= self.world.config.conversions_ready_after_days,
            "non_conversion_metrics_ready": age >= 1,
        }


def conversion_completeness(age: np.ndarray, settle_days: int) -> np.ndarray:
    """Fraction of a day's final conversions reported at each age: grows, reaching 1 at settle_days."""
    age = np.maximum(np.asarray(age, dtype=np.float64), 0.0)
    grown = (1 - np.exp(-age / CONVERSION_SETTLE_TAU_DAYS)) / (1 - np.exp(-settle_days / CONVERSION_SETTLE_TAU_DAYS))
    return np.where(age >= settle_days, 1.0, np.minimum(grown, 1.0))
