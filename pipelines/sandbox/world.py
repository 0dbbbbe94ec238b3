"""The synthetic Pinterest world the simulator serves: one business account, boards, pins, ad accounts.

Every attribute is drawn from the seed and dated relative to the world's epoch (by default its
`today`): the same seed and epoch build the same world in any process, and moving `today` forward
with the epoch fixed shows that same world ageing. Entities are held column-wise (numpy arrays) so 100,000 pins cost milliseconds; the JSON
resources are built per request from the columns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from pipelines.sandbox.config import SandboxConfig
from pipelines.sandbox.hashing import entity_keys, entity_uniform

_ADJECTIVES = ("Cozy", "Rustic", "Modern", "Minimal", "Bold", "Fresh", "Vintage", "Bright", "Calm", "Easy",
               "Quick", "Seasonal", "Handmade", "Classic", "Playful", "Elegant")
_SUBJECTS = ("kitchen ideas", "living room makeover", "summer salads", "fall outfits", "garden path",
             "holiday table", "reading nook", "weekend brunch", "desk setup", "balcony plants",
             "wedding flowers", "travel packing list", "pasta recipes", "nursery decor", "workout routine",
             "DIY shelves")
_BOARD_TOPICS = ("Recipes", "Home decor", "Garden", "Style", "Travel", "DIY", "Fitness", "Weddings",
                 "Kids", "Gifts", "Art", "Outdoors")
_COUNTRIES_BY_CURRENCY = (("USD", "US"), ("EUR", "DE"), ("GBP", "GB"), ("CAD", "CA"), ("AUD", "AU"))
_OBJECTIVES = ("AWARENESS", "CONSIDERATION", "WEB_CONVERSION", "CATALOG_SALES", "VIDEO_COMPLETION")
# Pinterest's own epoch for ids is not public; ids here only need to look real, be unique, grow with
# creation time and exceed 2**53 for pins (as real pin ids do).
_PIN_ID_BASE = 600_000_000_000_000_000
# --wide-ids: every id 20 digits, above 2**64, so a consumer storing ids as 64-bit integers breaks.
WIDE_ID_OFFSET = 2 * 10**19
# The ids of boards, ad accounts, campaigns, ad groups and ads are spaced by their index, with a random part of
# under 1,000 (7,000 for boards): the n-th user's are moved (n - 1) strides up, so no two users' worlds share one,
# as no two Pinterest entities do.
_USER_ID_STRIDE = 10**12


def day_to_iso(day: int) -> str:
    return dt.date.fromordinal(int(day)).isoformat()


def _seconds_of(day: int, second_of_day: int) -> int:
    return int((dt.date.fromordinal(int(day)) - dt.date(1970, 1, 1)).days) * 86400 + int(second_of_day)


@dataclasses.dataclass(frozen=True)
class DeliveryStatus:
    """Entity status and delivery window (ordinal days, inclusive) of an ad entity."""

    status: str
    summary_status: str
    start_day: int
    end_day: int | None  # last day with delivery; None while it still delivers


class World:
    """One business account with its boards, pins and ad accounts (campaigns > ad groups > ads)."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.seed = config.seed
        self.today = config.resolved_today()
        self.today_day = self.today.toordinal()
        self.epoch_day = config.resolved_epoch().toordinal()
        self._rng = np.random.Generator(np.random.PCG64(config.seed))
        self.id_offset = WIDE_ID_OFFSET if config.wide_ids else 0
        self._indexed_id_offset = self.id_offset + (config.user - 1) * _USER_ID_STRIDE
        self._build_user()
        self._build_boards()
        self._build_pins()
        self._build_ads()

    # ----------------------------------------------------------------------------------- user
    def _build_user(self) -> None:
        self.user_id = str(self.id_offset + 1_000_000_000_000_000_000 + int(self._rng.integers(0, 10**17)))
        self.username = "sandbox_studio"
        self.user_created_day = self.epoch_day - 800
        self.partner_user_id = str(self.id_offset + 1_000_000_000_000_000_000 + int(self._rng.integers(0, 10**17)))

    def user_account_resource(self) -> dict:
        return {
            "account_type": "BUSINESS",
            "id": self.user_id,
            "username": self.username,
            "profile_image": f"https://i.pinimg.com/600x600_R/sandbox/{self.user_id}.jpg",
            "website_url": "https://studio.example",
            "business_name": "Sandbox Studio",
            "about": "Ideas for home, food and style. A synthetic account served by the local simulator.",
            "board_count": len(self.board_ids),
            "pin_count": len(self.pin_ids),
            "follower_count": 1200 + self.seed % 5000,
            "following_count": 180 + self.seed % 97,
            "monthly_views": int(self._monthly_views),
        }

    # --------------------------------------------------------------------------------- boards
    def _build_boards(self) -> None:
        n = self.config.boards
        offsets = np.sort(self._rng.integers(760, 799, size=n))[::-1]
        self.board_created_day = (self.epoch_day - offsets).astype(np.int64)
        self.board_ids = [str(self._indexed_id_offset + 549_755_000_000 + i * 7919 + int(x)) for i, x in enumerate(self._rng.integers(0, 7000, size=n))]
        # Every sixth board is secret: visible only to tokens with boards:read_secret.
        self.board_secret = np.array([i % 6 == 5 for i in range(n)], dtype=bool)
        self.board_index_by_id = {board_id: i for i, board_id in enumerate(self.board_ids)}

    def board_resource(self, i: int) -> dict:
        created = _seconds_of(self.board_created_day[i], 37_000 + i * 17)
        iso = dt.datetime.fromtimestamp(created, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return {
            "id": self.board_ids[i],
            "name": f"{_BOARD_TOPICS[i % len(_BOARD_TOPICS)]}{'' if i < len(_BOARD_TOPICS) else f' {i // len(_BOARD_TOPICS) + 1}'}",
            "description": f"Saved ideas about {_BOARD_TOPICS[i % len(_BOARD_TOPICS)].lower()}.",
            "owner": {"username": self.username},
            "privacy": "SECRET" if self.board_secret[i] else "PUBLIC",
            "created_at": iso,
            "board_pins_modified_at": iso,
            "pin_count": int(self._board_pin_counts[i]),
            "follower_count": 40 + (i * 37) % 400,
            "collaborator_count": 0,
            "is_ads_only": False,
            "media": {"image_cover_url": f"https://i.pinimg.com/400x300/sandbox/{self.board_ids[i]}.jpg", "pin_thumbnail_urls": []},
        }

    # ----------------------------------------------------------------------------------- pins
    def _build_pins(self) -> None:
        n = self.config.pins
        keys = entity_keys(self.seed, "pin", n)
        age = (entity_uniform(keys, 1) * 730).astype(np.int64) + 1
        second = (entity_uniform(keys, 2) * 86400).astype(np.int64)
        newest_first = np.lexsort((-second, age))
        keys, age, second = keys[newest_first], age[newest_first], second[newest_first]
        self.pin_keys = keys
        self.pin_created_day = self.epoch_day - age
        self.pin_created_second = second
        self.pin_is_video = entity_uniform(keys, 3) < 0.12
        self.pin_board = (entity_uniform(keys, 4) * max(self.config.boards, 1)).astype(np.int64)
        # Base daily impressions at creation: a heavy-tailed popularity, as real pins have.
        self.pin_popularity = np.exp(2.2 + 1.3 * _normal(entity_uniform(keys, 5), entity_uniform(keys, 6)))
        self.pin_click_rate = 0.008 + 0.03 * entity_uniform(keys, 7)
        self.pin_save_rate = 0.004 + 0.02 * entity_uniform(keys, 8)
        created_seconds = np.array([_seconds_of(d, s) for d, s in zip(self.pin_created_day, self.pin_created_second)], dtype=np.int64)
        # Real pin ids grow with creation time; the low digits make them unique within a second.
        self.pin_ids = [str(self.id_offset + _PIN_ID_BASE + int(sec) * 1000 + i % 1000) for i, sec in enumerate(created_seconds)]
        self.pin_index_by_id = {pin_id: i for i, pin_id in enumerate(self.pin_ids)}
        repin = entity_uniform(keys, 9) < 0.05
        self.foreign_pin_ids = [str(self.id_offset + _PIN_ID_BASE + 10**15 + i * 104729) for i in range(20)]
        self.pin_parent = [self.foreign_pin_ids[i % 20] if repin[i] else None for i in range(n)]
        self._board_pin_counts = np.bincount(self.pin_board, minlength=self.config.boards) if n else np.zeros(self.config.boards, dtype=np.int64)
        self._monthly_views = float(self.pin_popularity.sum() * 20) if n else 0.0

    def pin_on_secret_board(self, i: int) -> bool:
        return bool(self.board_secret[self.pin_board[i]])

    def pin_resource(self, i: int) -> dict:
        created = dt.datetime.fromtimestamp(_seconds_of(self.pin_created_day[i], self.pin_created_second[i]), dt.timezone.utc)
        pin_id = self.pin_ids[i]
        key = int(self.pin_keys[i])
        title = f"{_ADJECTIVES[key % len(_ADJECTIVES)]} {_SUBJECTS[(key >> 8) % len(_SUBJECTS)]}"
        image = f"https://i.pinimg.com/sandbox/{pin_id}"
        images = {size: {"width": w, "height": h, "url": f"{image}/{size}.jpg"}
                  for size, w, h in (("150x150", 150, 150), ("400x300", 400, 300), ("600x", 600, 900), ("1200x", 1200, 1800))}
        if self.pin_is_video[i]:
            media = {"media_type": "video", "images": images, "cover_image_url": f"{image}/cover.jpg",
                     "video_url": f"{image}/video.mp4", "duration": 6000 + key % 54000, "width": 720, "height": 1280}
        else:
            media = {"media_type": "image", "images": images}
        return {
            "id": pin_id,
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%S"),
            "link": f"https://studio.example/ideas/{pin_id}",
            "title": title,
            "description": f"{title}: a synthetic idea pin from the local simulator.",
            "dominant_color": f"#{key & 0xFFFFFF:06X}",
            "alt_text": None,
            "board_id": self.board_ids[self.pin_board[i]],
            "board_section_id": None,
            "board_owner": {"username": self.username},
            "parent_pin_id": self.pin_parent[i],
            "is_owner": True,
            "is_standard": not bool(self.pin_is_video[i]),
            "has_been_promoted": i in self.promoted_pins,
            "creative_type": "VIDEO" if self.pin_is_video[i] else "REGULAR",
            "media": media,
            "pin_metrics": None,
        }

    # ------------------------------------------------------------------------------------ ads
    def _build_ads(self) -> None:
        cfg = self.config
        n_accounts, per_account, per_campaign, per_group = cfg.ad_accounts, cfg.campaigns, cfg.ad_groups, cfg.ads
        self.ad_account_ids = [str(self._indexed_id_offset + 549_764_000_000 + i * 104_729 + int(self._rng.integers(0, 1000))) for i in range(n_accounts)]
        self.ad_account_index_by_id = {a: i for i, a in enumerate(self.ad_account_ids)}
        self.ad_account_currency = [_COUNTRIES_BY_CURRENCY[i % len(_COUNTRIES_BY_CURRENCY)][0] for i in range(n_accounts)]
        self.ad_account_country = [_COUNTRIES_BY_CURRENCY[i % len(_COUNTRIES_BY_CURRENCY)][1] for i in range(n_accounts)]
        # The first ad account is owned by the user; the others are shared with it by an agency.
        self.ad_account_owned = [i == 0 for i in range(n_accounts)]

        n_campaigns = n_accounts * per_account
        ckeys = entity_keys(self.seed, "campaign", n_campaigns)
        self.campaign_keys = ckeys
        self.campaign_account = np.repeat(np.arange(n_accounts), per_account)
        start = self.epoch_day - 10 - (entity_uniform(ckeys, 1) * 690).astype(np.int64)
        kind = entity_uniform(ckeys, 2)
        length = 14 + (entity_uniform(ckeys, 3) * 150).astype(np.int64)
        self.campaign_delivery = []
        for k in range(n_campaigns):
            s = int(start[k])
            if kind[k] < 0.2:  # archived after running its course
                end = min(s + int(length[k]), self.epoch_day - 2)
                self.campaign_delivery.append(DeliveryStatus("ARCHIVED", "ARCHIVED", s, end))
            elif kind[k] < 0.35:  # paused some time ago
                end = min(s + int(length[k]), self.epoch_day - 1)
                self.campaign_delivery.append(DeliveryStatus("PAUSED", "PAUSED", s, end))
            else:
                self.campaign_delivery.append(DeliveryStatus("ACTIVE", "RUNNING", s, None))
        order = np.argsort(start, kind="stable")
        rank = np.empty(n_campaigns, dtype=np.int64)
        rank[order] = np.arange(n_campaigns)
        self.campaign_ids = [str(self._indexed_id_offset + 626_000_000_000 + int(r) * 1000 + int(self._rng.integers(0, 1000))) for r in rank]
        self.campaign_objective = [_OBJECTIVES[int(k) % len(_OBJECTIVES)] for k in (entity_uniform(ckeys, 4) * 1000).astype(np.int64)]

        n_groups = n_campaigns * per_campaign
        gkeys = entity_keys(self.seed, "ad_group", n_groups)
        self.ad_group_campaign = np.repeat(np.arange(n_campaigns), per_campaign)
        self.ad_group_delivery = []
        group_pause = entity_uniform(gkeys, 1)
        for g in range(n_groups):
            parent = self.campaign_delivery[self.ad_group_campaign[g]]
            if parent.status == "ACTIVE" and group_pause[g] < 0.1:
                end = max(parent.start_day, self.epoch_day - 1 - int(group_pause[g] * 300))
                self.ad_group_delivery.append(DeliveryStatus("PAUSED", "PAUSED", parent.start_day, end))
            else:
                self.ad_group_delivery.append(parent)
        self.ad_group_ids = [str(self._indexed_id_offset + 2_580_000_000_000 + g * 1009 + int(x)) for g, x in enumerate(self._rng.integers(0, 1000, size=n_groups))]

        n_ads = n_groups * per_group
        akeys = entity_keys(self.seed, "ad", n_ads)
        self.ad_keys = akeys
        self.ad_group = np.repeat(np.arange(n_groups), per_group)
        self.ad_campaign = self.ad_group_campaign[self.ad_group] if n_ads else np.zeros(0, dtype=np.int64)
        self.ad_account = self.campaign_account[self.ad_campaign] if n_ads else np.zeros(0, dtype=np.int64)
        self.ad_ids = [str(self._indexed_id_offset + 687_000_000_000 + a * 1013 + int(x)) for a, x in enumerate(self._rng.integers(0, 1000, size=n_ads))]
        n_pins = len(self.pin_ids)
        self.ad_pin = (entity_uniform(akeys, 1) * n_pins).astype(np.int64) if n_pins else np.full(n_ads, -1, dtype=np.int64)
        self.promoted_pins = frozenset(int(p) for p in self.ad_pin if p >= 0)
        self.ad_start_day = np.array([self.ad_group_delivery[g].start_day for g in self.ad_group], dtype=np.int64)
        self.ad_end_day = np.array([self.ad_group_delivery[g].end_day or self.today_day for g in self.ad_group], dtype=np.int64)
        self.ad_is_video = self.pin_is_video[self.ad_pin] if n_pins else np.zeros(n_ads, dtype=bool)
        # Delivery parameters per ad: daily paid impressions, CPM and rates, in the account currency.
        self.ad_daily_impressions = np.exp(6.5 + 0.9 * _normal(entity_uniform(akeys, 2), entity_uniform(akeys, 3)))
        self.ad_cpm_micro = 2_000_000 + entity_uniform(akeys, 4) * 9_000_000
        self.ad_ctr = 0.004 + 0.02 * entity_uniform(akeys, 5)
        self.ad_conversion_rate = 0.01 + 0.05 * entity_uniform(akeys, 6)
        self.ad_order_value_micro = 25_000_000 + entity_uniform(akeys, 7) * 120_000_000
        self.ad_group_index_by_id = {g: i for i, g in enumerate(self.ad_group_ids)}
        self.campaign_index_by_id = {c: i for i, c in enumerate(self.campaign_ids)}
        self.ad_index_by_id = {a: i for i, a in enumerate(self.ad_ids)}

    def campaigns_of_account(self, account: int) -> range:
        per = self.config.campaigns
        return range(account * per, (account + 1) * per)

    def ad_groups_of_account(self, account: int) -> range:
        per = self.config.campaigns * self.config.ad_groups
        return range(account * per, (account + 1) * per)

    def ads_of_account(self, account: int) -> range:
        per = self.config.campaigns * self.config.ad_groups * self.config.ads
        return range(account * per, (account + 1) * per)

    def ads_of_campaign(self, campaign: int) -> range:
        per = self.config.ad_groups * self.config.ads
        return range(campaign * per, (campaign + 1) * per)

    def ads_of_ad_group(self, group: int) -> range:
        per = self.config.ads
        return range(group * per, (group + 1) * per)

    def ad_account_resource(self, i: int) -> dict:
        created = _seconds_of(self.epoch_day - 900 + i * 11, 43_200)
        owner = (self.user_id, self.username) if self.ad_account_owned[i] else (self.partner_user_id, "partner_agency")
        return {
            "id": self.ad_account_ids[i],
            "name": f"Sandbox Studio {self.ad_account_country[i]}" if self.ad_account_owned[i] else f"Partner agency {self.ad_account_country[i]}",
            "owner": {"id": owner[0], "username": owner[1]},
            "country": self.ad_account_country[i],
            "currency": self.ad_account_currency[i],
            "permissions": ["OWNER"] if self.ad_account_owned[i] else ["ADMIN"],
            "created_time": created,
            "updated_time": created + 86_400 * 30,
        }

    def _times(self, delivery: DeliveryStatus, offset: int) -> tuple[int, int, int | None]:
        start = _seconds_of(delivery.start_day, 0)
        end = _seconds_of(delivery.end_day + 1, 0) if delivery.end_day is not None and delivery.status == "ARCHIVED" else None
        return start - 86_400 + offset, start, end

    def campaign_resource(self, k: int) -> dict:
        d = self.campaign_delivery[k]
        created, start, end = self._times(d, k % 3600)
        return {
            "id": self.campaign_ids[k],
            "ad_account_id": self.ad_account_ids[self.campaign_account[k]],
            "name": f"{_SUBJECTS[k % len(_SUBJECTS)].capitalize()} {self.campaign_objective[k].lower().replace('_', ' ')} {k + 1}",
            "status": d.status,
            "summary_status": d.summary_status,
            "objective_type": self.campaign_objective[k],
            "daily_spend_cap": None,
            "lifetime_spend_cap": None,
            "start_time": start,
            "end_time": end,
            "created_time": created,
            "updated_time": _seconds_of(d.end_day, 3600) if d.end_day is not None else created,
            "order_line_id": None,
            "tracking_urls": None,
            "is_flexible_daily_budgets": False,
            "is_campaign_budget_optimization": False,
            "is_automated_campaign": False,
            "is_performance_plus": False,
            "type": "campaign",
        }

    def ad_group_resource(self, g: int) -> dict:
        d = self.ad_group_delivery[g]
        k = int(self.ad_group_campaign[g])
        created, start, end = self._times(d, g % 3600 + 60)
        return {
            "id": self.ad_group_ids[g],
            "ad_account_id": self.ad_account_ids[self.campaign_account[k]],
            "campaign_id": self.campaign_ids[k],
            "name": f"Ad group {g + 1}",
            "status": d.status,
            "summary_status": d.summary_status,
            "budget_in_micro_currency": 20_000_000 + (g % 7) * 5_000_000,
            "bid_in_micro_currency": None,
            "budget_type": "DAILY",
            "start_time": start,
            "end_time": end,
            "lifetime_frequency_cap": -1,
            "placement_group": "ALL",
            "pacing_delivery_type": "STANDARD",
            "billable_event": "IMPRESSION",
            "created_time": created,
            "updated_time": created,
            "type": "adgroup",
        }

    def ad_resource(self, a: int) -> dict:
        g = int(self.ad_group[a])
        d = self.ad_group_delivery[g]
        k = int(self.ad_campaign[a])
        created, _, _ = self._times(d, a % 3600 + 120)
        pin = int(self.ad_pin[a])
        return {
            "id": self.ad_ids[a],
            "ad_account_id": self.ad_account_ids[self.ad_account[a]],
            "campaign_id": self.campaign_ids[k],
            "ad_group_id": self.ad_group_ids[g],
            "pin_id": self.pin_ids[pin] if pin >= 0 else self.foreign_pin_ids[a % 20],
            "name": f"Ad {a + 1}",
            "status": d.status,
            "summary_status": "APPROVED" if d.status == "ACTIVE" else d.summary_status,
            "review_status": "APPROVED",
            "creative_type": "VIDEO" if self.ad_is_video[a] else "REGULAR",
            "destination_url": f"https://studio.example/ideas/{self.pin_ids[pin] if pin >= 0 else a}",
            "is_pin_deleted": False,
            "is_removable": False,
            "rejected_reasons": [],
            "rejection_labels": [],
            "created_time": created,
            "updated_time": created,
            "type": "pinpromotion",
        }


def _normal(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Standard normal draws from two uniform draws (Box-Muller)."""
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
