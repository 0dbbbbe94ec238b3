"""The data dictionary: what every warehouse table, view and column means, rendered as docs/data-dictionary.md
from the schema of a real warehouse (names and types come from DuckDB, meanings from here), so the two cannot drift."""

from __future__ import annotations

import dataclasses
import re

import duckdb

from pipelines import api_enums, history
from pipelines.ads.levels import ACCOUNT, LEVELS, AdsLevel, parent_ids
from pipelines.catalog import FACT_TABLES
from pipelines.reporting_views import REPORTING_VIEWS, ReportingView

REGENERATE = ".venv/bin/pinterest-etl dictionary --output docs/data-dictionary.md"
ADS_METRICS = tuple(dict.fromkeys(api_enums.ADS_ANALYTICS_COLUMNS + api_enums.ASYNC_REPORT_COLUMNS))


@dataclasses.dataclass(frozen=True)
class Relation:
    """What one table or view holds: what one row is (grain), its key, and what each column means. `metrics`
    are the API metric names that may appear in it as lowercase columns (described by `describe_metric`)."""

    grain: str
    key: tuple[str, ...]
    about: str
    columns: dict[str, str]
    metrics: tuple[str, ...] = ()


STRING_ID = "A string: Pinterest ids exceed 2^53, so never cast them to numbers."
DATE = "The UTC calendar day the numbers are for (Pinterest reports by UTC day)."
EXTRACTED_AT = "When the pipeline received the API answer this row comes from (UTC)."
ORGANIC_DATA_STATUS = (
    "Pinterest's status of the day's numbers: `READY` (final), `ESTIMATE` (may still change), `PROCESSING` (not "
    "available yet: metrics NULL), or `BEFORE_...` such as `BEFORE_PIN_CREATED` (the day precedes the pin, the "
    "account or the metric: metrics NULL).")
IS_FINAL = (
    "True when the numbers will not change any more: organic days once `READY`, and days with a `BEFORE_...` "
    "status (they precede the pin, the account or the metric); ads days once the attribution "
    "window has passed and `metrics_ready_state` says the date is ready. Rows not final are re-pulled and replaced "
    "by later runs.")
ORGANIC_IS_FINAL = ("True once the day's numbers will not change any more: Pinterest reports it `READY`, or a "
                    "`BEFORE_...` status (the day precedes the pin, the account, the retention cut-off or the metric). "
                    "`PROCESSING`, `ESTIMATE`, `IN_BAD_TAG_DATE` and the `..._SMALLER_THAN_THRESHOLD` statuses are not "
                    "final. Days not final are re-pulled and replaced by later runs.")
ADS_IS_FINAL = ("True when the day's numbers will not change any more: once the attribution window has passed and "
                "`metrics_ready_state` says the date is ready; until then conversions may still grow, and later runs "
                "replace them.")
ATTRIBUTION = (
    "The attribution settings the numbers were computed with: click, engagement and view windows and the conversion "
    "report time, e.g. `CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION`. Numbers under different settings are "
    "never mixed: filter or group by this column (delivery numbers such as spend are the same under every setting).")
CURRENCY = ("The ad account's currency (ISO 4217, e.g. `USD`, `EUR`): every `*_micro_dollar` column of the row is "
            "in micro-units of it. Nothing is converted: never add money of different currencies.")
SPLIT_FIELD = ("How the numbers are broken down: `NO_SPLIT` (with `split_value` `ALL`) for totals, an organic split "
               "such as `APP_TYPE`, or `ATTRIBUTION` for ads rows.")
SPLIT_VALUE = ("The bucket of `split_field`: `ALL` for totals; for `APP_TYPE` e.g. `MOBILE`, `WEB`, `TABLET`; for "
               "ads the attribution settings, e.g. `CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION`.")
CONTENT_TYPE = ("The content the numbers count (the API's `content_type`): for user accounts `ALL` (paid and organic "
                "together, the API's default), `ORGANIC` or `PAID` (`PINTEREST_CONTENT_TYPES`); `ALL` for pins and ads, "
                "whose analytics have no such filter. `ALL` = `ORGANIC` + `PAID` for counts: filter on one before summing.")
ENTITY_TYPE = "What `entity_id` is: `user_account`, `pin`, `ad_account`, `campaign`, `ad_group` or `ad`."
ENTITY_ID = "The id of that entity (a `user_id`, `pin_id`, `ad_account_id`, ...). " + STRING_ID
ENTITY_STATUS = "Status set by the advertiser: `ACTIVE`, `PAUSED` or `ARCHIVED` (archived ones are kept, with history)."


# Closes the description of every wide fact table.
WIDE_TABLE = (
    "The stored tidy form of the API's numbers (the lake holds the same table, without the parents' ids and currency): "
    "one row per observation, one column per metric, typed by its name (counts and micro-unit money BIGINT; rates, "
    "ratios, averages and prices DOUBLE; a column becomes DOUBLE if the API ever sends a fraction for it). A metric "
    "requested later adds a column, NULL in the rows loaded before. Ads: a requested metric the API left out of a "
    "row is 0 (ads answers omit zeros), a metric not requested is NULL (unknown; rows normalized before requested "
    "metrics were filled hold NULL for left-out zeros until `pinterest-etl run --from-raw`). Organic: a metric the "
    "API returned no value for that day is NULL (absent is not zero).")
ADS_DATA_STATUS = ("Always NULL: the ads API reports no status for a day (`is_final` says whether its numbers may "
                   "still change).")


def _fact_table(name: str, about: str, columns: dict[str, str], metrics: tuple[str, ...] | None = None) -> Relation:
    """A wide fact table's Relation: its grain and key as the catalog declares them, `about` its own rows, then
    WIDE_TABLE; `metrics` default to the catalog's default metrics."""
    table = FACT_TABLES[name]
    return Relation(grain=table.grain, key=table.key, about=f"{about} {WIDE_TABLE}", columns=columns,
                    metrics=table.default_metrics if metrics is None else metrics)


def _ads_table(level: AdsLevel) -> Relation:
    """An ads level's wide table, with its parents' id columns (and an ad's promoted pin)."""
    table = FACT_TABLES[level.fact_table]
    parents_from = f"their parents' ids from `{table.parent_dimension}` and " if table.parent_dimension else ""
    parents = {column: _BELONGS_TO[column] for column in parent_ids(level)}
    if level.pin_column:
        parents[level.pin_column] = _PROMOTED_PIN_ID
    return _fact_table(
        table.name,
        about=(f"Daily delivery and conversions of each {level.word} per attribution setting, one lowercase column per "
               "ads analytics column (`PINTEREST_ADS_COLUMNS`; the defaults are listed here). When a day is loaded, its "
               f"rows get {parents_from}the account's currency from `{ACCOUNT.dimension}`."),
        columns={"date": DATE, table.id_column: f"The {level.word}'s id. " + STRING_ID, **parents,
                 "currency": CURRENCY, "attribution": ATTRIBUTION, "data_status": ADS_DATA_STATUS,
                 "is_final": ADS_IS_FINAL, "extracted_at": EXTRACTED_AT},
        metrics=ADS_METRICS)


# An ads parent's id column in its children's rows, by id column: "The campaign it belongs to (join `campaigns`)."
_BELONGS_TO = {level.id_column: f"The {level.word} it belongs to (join `{level.dimension}`). " + STRING_ID
               for level in LEVELS}
_ACCOUNT_ID, _CAMPAIGN_ID, _AD_GROUP_ID = (_BELONGS_TO[c] for c in ("ad_account_id", "campaign_id", "ad_group_id"))
_PROMOTED_PIN_ID = "The promoted pin (join `pins` when the pin is one of the user account's). " + STRING_ID
_CREATED_TIME = "When it was created (UTC)."
_UPDATED_TIME = "When it was last changed (UTC)."
_SUMMARY_STATUS = ("Pinterest's summary of its delivery state, e.g. `RUNNING`, `PAUSED`, `NOT_STARTED`, "
                   "`COMPLETED`, `ARCHIVED`.")
_WIDE_TABLE_NAMES = ", ".join(f"`{name}`" for name in FACT_TABLES)
_SNAPSHOT = "latest state: each run replaces it with the newest snapshot (dated snapshots stay in the lake)"

# The columns that place a user-account row: its day, account and split bucket (the same in both account relations).
_ACCOUNT_DAY_BUCKET = {
    "date": DATE, "user_id": "The user account (join `user_accounts`). " + STRING_ID,
    "split_field": "`NO_SPLIT` for the total, or the split (e.g. `APP_TYPE`) the row is a bucket of.",
    "split_value": "`ALL` for the total, or the bucket (for `APP_TYPE`: `MOBILE`, `WEB`, `TABLET`, ...).",
}



def _reporting_view(view: ReportingView) -> Relation:
    """A reporting view's Relation, from its declaration (pipelines/reporting_views.py)."""
    return Relation(grain=view.grain, key=view.key, about=view.about,
                    columns={column.name: column.meaning for column in view.columns})


RELATIONS: dict[str, Relation] = {
    "user_account_daily": _fact_table(
        "user_account_daily",
        about=("Daily analytics of each Pinterest user account (all its pins), one lowercase column per metric, per "
               "`content_type`: `ALL` (paid and organic), `ORGANIC`, `PAID` (`PINTEREST_CONTENT_TYPES`). "
               "`split_field = 'NO_SPLIT'` (`split_value = 'ALL'`) is the total; other split fields "
               "(`PINTEREST_ORGANIC_SPLITS`, default `APP_TYPE`) break the same total down: filter on one "
               "`split_field` and one `content_type` before summing, or numbers are counted twice. A day the API "
               "reported without numbers (`PROCESSING`) is a row with NULL metrics."),
        columns={
            **_ACCOUNT_DAY_BUCKET,
            "content_type": ("`ALL` (paid and organic together, the API's default), `ORGANIC` (organic only) or `PAID` "
                             "(promoted activity only; zero for an account without ads); `ALL` = `ORGANIC` + `PAID` "
                             "for counts. Rows loaded before content types were stored are `ALL`."),
            "data_status": ORGANIC_DATA_STATUS, "is_final": ORGANIC_IS_FINAL, "extracted_at": EXTRACTED_AT,
        }),
    "user_account_organic_daily": Relation(
        grain="one row per user account per UTC day per split bucket",
        key=("date", "user_id", "split_field", "split_value"),
        about=("A view over `user_account_daily`, with its columns: the organic numbers of each user account, the rows "
               "of `content_type` `ORGANIC` where stored, else of `ALL` (paid activity included: days loaded before "
               "content types were stored, or `PINTEREST_CONTENT_TYPES` without `ORGANIC`). The report and the example "
               "queries read organic totals here (the pin-totals check applies the same rule). `content_type` says "
               "which a row is: never compare or add up periods of different content types without saying so."),
        columns={
            **_ACCOUNT_DAY_BUCKET,
            "content_type": ("`ORGANIC` (organic activity only) or, where no `ORGANIC` row is stored for the account "
                             "and day, `ALL` (paid and organic together)."),
            "data_status": ORGANIC_DATA_STATUS, "is_final": ORGANIC_IS_FINAL, "extracted_at": EXTRACTED_AT,
        },
        metrics=FACT_TABLES["user_account_daily"].default_metrics),
    "pin_daily": _fact_table(
        "pin_daily",
        about=("Daily analytics of each pin of the user accounts, one lowercase column per pin metric. A day the API "
               "reported without numbers (before the pin existed: `BEFORE_PIN_CREATED`; or still `PROCESSING`) is a "
               "row with NULL metrics, and video metrics are NULL for pins that are not videos."),
        columns={
            "date": DATE, "pin_id": "The pin (join `pins` for its title, board and creative type). " + STRING_ID,
            "data_status": ORGANIC_DATA_STATUS, "is_final": ORGANIC_IS_FINAL, "extracted_at": EXTRACTED_AT,
        }),
    **{level.fact_table: _ads_table(level) for level in LEVELS},
    "metric_daily": Relation(
        grain="one row per metric value: per entity, UTC day, split bucket, content type and metric",
        key=("date", "entity_type", "entity_id", "split_field", "split_value", "content_type", "metric"),
        about=(f"A view derived from the wide tables ({_WIDE_TABLE_NAMES}): every daily metric value of every "
               "entity, organic and ads, one row per value, in the long layout earlier versions stored (same columns, key "
               "and meaning as before). For generic analysis across entity types and metrics; "
               "the wide tables are faster. A metric that is NULL in its wide table has no row here."),
        columns={
            "date": DATE, "entity_type": ENTITY_TYPE, "entity_id": ENTITY_ID, "split_field": SPLIT_FIELD,
            "split_value": SPLIT_VALUE, "content_type": CONTENT_TYPE,
            "metric": ("The metric's name exactly as the API returns it (`IMPRESSION`, `SAVE_RATE`, "
                       "`SPEND_IN_MICRO_DOLLAR`, ...): the wide tables' lowercase column, in upper case."),
            "value": ("The value for that day as returned, DOUBLE whatever its wide column's type: a count, a ratio "
                      "(`*_RATE`, `CTR`: never sum) or money (`*_MICRO_DOLLAR`: micro-units of the ad account's "
                      "currency); see the metric rules."),
            "data_status": ORGANIC_DATA_STATUS + " NULL for ads rows (the ads API reports none).",
            "is_final": IS_FINAL, "extracted_at": EXTRACTED_AT,
        }),
    "daily_status": Relation(
        grain="one row per entity per UTC day per split bucket and content type the API reported, with or without metrics",
        key=("date", "entity_type", "entity_id", "split_field", "split_value", "content_type"),
        about=(f"A view derived from the wide tables ({_WIDE_TABLE_NAMES}), one row per wide row without its metrics, "
               "keyed like `metric_daily` (same columns, key and meaning as earlier versions' table): which "
               "days the API reported for each entity and how final they are, also for days without any metric "
               "(`PROCESSING`, `BEFORE_PIN_CREATED`). For generic analysis across entity types; the wide tables hold "
               "the same `data_status` and `is_final` and are faster."),
        columns={
            "date": DATE, "entity_type": ENTITY_TYPE, "entity_id": ENTITY_ID, "split_field": SPLIT_FIELD,
            "split_value": SPLIT_VALUE, "content_type": CONTENT_TYPE,
            "data_status": ORGANIC_DATA_STATUS + " NULL for ads rows (the ads API reports none).",
            "is_final": IS_FINAL, "extracted_at": EXTRACTED_AT,
        }),
    **{name: _reporting_view(view) for name, view in REPORTING_VIEWS.items()},
    "user_accounts": Relation(
        grain="one row per Pinterest user account", key=("user_id",),
        about=f"The user accounts whose organic analytics are loaded; {_SNAPSHOT}.",
        columns={
            "user_id": "The user account's id. " + STRING_ID, "username": "Its Pinterest username.",
            "account_type": "`BUSINESS` or `PINNER`.", "business_name": "The business name (business accounts).",
            "website_url": "The website claimed by the account.", "about": "The profile's description.",
            "board_count": "Boards of the account (as reported when extracted).",
            "pin_count": "Pins of the account (as reported when extracted).",
            "follower_count": "Followers (as reported when extracted).",
            "following_count": "Accounts it follows (as reported when extracted).",
            "monthly_views": "Pinterest's monthly views of the account (as reported when extracted).",
            "extracted_at": "When this snapshot was taken (UTC).",
        }),
    "boards": Relation(
        grain="one row per board of the user accounts", key=("board_id",),
        about=f"The user accounts' boards; {_SNAPSHOT}.",
        columns={
            "board_id": "The board's id. " + STRING_ID, "name": "Its name.", "description": "Its description.",
            "privacy": "`PUBLIC`, `PROTECTED` or `SECRET`.", "owner_username": "Username of its owner.",
            "created_at": "When it was created (UTC).", "pin_count": "Pins on it (as reported when extracted).",
            "follower_count": "Its followers (as reported when extracted).",
            "collaborator_count": "Its collaborators (as reported when extracted).",
            "is_ads_only": "True for a board that holds only ads pins.",
            "extracted_at": "When this snapshot was taken (UTC).",
        }),
    "pins": Relation(
        grain="one row per pin of the user accounts", key=("pin_id",),
        about=f"The user accounts' pins (join `pin_daily` on `pin_id`); {_SNAPSHOT}.",
        columns={
            "pin_id": "The pin's id. " + STRING_ID, "board_id": "The board it is on (join `boards`). " + STRING_ID,
            "created_at": "When it was created (UTC); `pin_daily` rows before it have `BEFORE_PIN_CREATED`.",
            "title": "Its title.", "description": "Its description.", "link": "Its destination URL.",
            "creative_type": "Pinterest's creative type, e.g. `REGULAR`, `VIDEO`, `CAROUSEL`, `IDEA`.",
            "media_type": "Its media, e.g. `image`, `video`, `multiple_images`.",
            "is_video": "True for video pins (which get the video metrics in `pin_daily`).",
            "parent_pin_id": "The pin it was saved from, if any. " + STRING_ID,
            "is_owner": "True when the user account owns the pin.",
            "has_been_promoted": "True when the pin has been promoted (used in ads).",
            "dominant_color": "Its dominant color as a hex code.",
            "board_section_id": "The board section it is in, if any. " + STRING_ID,
            "extracted_at": "When this snapshot was taken (UTC).",
        }),
    "pin_lifetime": Relation(
        grain="one row per pin per lifetime metric", key=("pin_id", "metric"),
        about=("All-time totals of each pin as last reported (`lifetime_metrics`, not bounded by any date range); "
               "replaced by each run."),
        columns={
            "pin_id": "The pin (join `pins`). " + STRING_ID,
            "metric": "`TOTAL_COMMENTS` or `TOTAL_REACTIONS`.",
            "value": "The all-time count when extracted (a count: it already covers every day, never add days).",
            "extracted_at": "When the pipeline received it (UTC).",
        }),
    "top_pins_api": Relation(
        grain="one row per user account per ranking (`sort_by`) per place", key=("user_id", "sort_by", "rank"),
        about=("Pinterest's own ranking of each user account's top pins (`/user_account/analytics/top_pins`, at most 50 "
               "pins by impressions, saves and outbound clicks) over the 28 days ending at the last date of the run "
               "that fetched it (at most yesterday); replaced by each run that fetches it. Compare it with the stored "
               "pin data over the same window (`window_start`..`window_end`): the worked query "
               "`top_pins_api_vs_stored` does. `top_pins` ranks final days only, so its window may end earlier."),
        columns={
            "user_id": "The user account whose pins are ranked (join `user_accounts`). " + STRING_ID,
            "sort_by": "The metric the ranking sorts by: `IMPRESSION`, `SAVE` or `OUTBOUND_CLICK`.",
            "rank": "The pin's place in the API's answer (1 = most); ties are in the API's order.",
            "pin_id": "The ranked pin (join `pins`; pins of other accounts can appear). " + STRING_ID,
            "window_start": "The first UTC day of the window the API ranked over.",
            "window_end": "The last UTC day of that window.",
            **{m.lower(): f"The pin's {m.lower().replace('_', ' ')}s over the window, as the API ranked it. Count."
               for m in ("IMPRESSION", "SAVE", "PIN_CLICK", "OUTBOUND_CLICK")},
            "engagement": "The pin's engagements over the window (Pinterest's `ENGAGEMENT`). Count.",
            "data_status": "The API's `data_status` of the sort metric over the window (`READY` when every day is "
                           "final; `ESTIMATE` or `PROCESSING` while days of the window may change).",
            "is_final": "True when every metric of the row is `READY`: the numbers will not change.",
            "latest_available_date": ("The last UTC day the API's numbers include (its `date_availability`), NULL "
                                      "when it does not say."),
            "extracted_at": "When the pipeline received the ranking (UTC).",
        }),
    "ad_accounts": Relation(
        grain="one row per ad account the tokens can read", key=("ad_account_id",),
        about=f"Ad accounts, shared ones included (or those in `PINTEREST_AD_ACCOUNT_IDS`); {_SNAPSHOT}.",
        columns={
            "ad_account_id": "The ad account's id. " + STRING_ID, "name": "Its name.",
            "owner_user_id": "The Pinterest user who owns it. " + STRING_ID,
            "owner_username": "That owner's username.", "country": "Its country (ISO 3166-1 alpha-2).",
            "currency": ("Its currency (ISO 4217): all its money columns, here and in the ads tables, are in "
                         "micro-units of it."),
            "permissions": "The token's roles on it, comma-separated (e.g. `OWNER`, `ADMIN`, `ANALYST`).",
            "created_time": _CREATED_TIME, "updated_time": _UPDATED_TIME,
            "extracted_at": "When this snapshot was taken (UTC).",
        }),
    "campaigns": Relation(
        grain="one row per campaign, of every status", key=("campaign_id",),
        about=f"Campaigns of the ad accounts, archived ones included; {_SNAPSHOT}.",
        columns={
            "campaign_id": "The campaign's id. " + STRING_ID, "ad_account_id": _ACCOUNT_ID, "name": "Its name.",
            "status": ENTITY_STATUS, "summary_status": _SUMMARY_STATUS,
            "objective_type": "Its goal: `AWARENESS`, `CONSIDERATION`, `WEB_CONVERSION`, `CATALOG_SALES`, ...",
            "daily_spend_cap": "Daily spend limit in micro-units of the account's currency, NULL for none.",
            "lifetime_spend_cap": "Lifetime spend limit in micro-units of the account's currency, NULL for none.",
            "start_time": "When it starts delivering (UTC), NULL if not set.",
            "end_time": "When it stops delivering (UTC), NULL for no end.",
            "created_time": _CREATED_TIME, "updated_time": _UPDATED_TIME,
            "extracted_at": "When this snapshot was taken (UTC).",
        }),
    "ad_groups": Relation(
        grain="one row per ad group, of every status", key=("ad_group_id",),
        about=f"Ad groups of the campaigns, archived ones included; {_SNAPSHOT}.",
        columns={
            "ad_group_id": "The ad group's id. " + STRING_ID, "campaign_id": _CAMPAIGN_ID,
            "ad_account_id": _ACCOUNT_ID, "name": "Its name.", "status": ENTITY_STATUS,
            "summary_status": _SUMMARY_STATUS,
            "budget_in_micro_currency": "Its budget in micro-units of the account's currency (per `budget_type`).",
            "budget_type": "`DAILY`, `LIFETIME` or `CBO_ADGROUP` (the campaign's budget is used).",
            "bid_in_micro_currency": "Its bid in micro-units of the account's currency, NULL for automatic bidding.",
            "start_time": "When it starts delivering (UTC), NULL if not set.",
            "end_time": "When it stops delivering (UTC), NULL for no end.",
            "created_time": _CREATED_TIME, "updated_time": _UPDATED_TIME,
            "extracted_at": "When this snapshot was taken (UTC).",
        }),
    "ads": Relation(
        grain="one row per ad, of every status", key=("ad_id",),
        about=f"Ads (a promoted pin in an ad group), archived ones included; {_SNAPSHOT}.",
        columns={
            "ad_id": "The ad's id. " + STRING_ID, "ad_group_id": _AD_GROUP_ID, "campaign_id": _CAMPAIGN_ID,
            "ad_account_id": _ACCOUNT_ID, "pin_id": _PROMOTED_PIN_ID, "name": "Its name.", "status": ENTITY_STATUS,
            "summary_status": "Pinterest's summary of its state, e.g. `APPROVED`, `PAUSED`, `REJECTED`, `ARCHIVED`.",
            "review_status": "Pinterest's review of it: `PENDING`, `APPROVED` or `REJECTED`.",
            "creative_type": "Its creative type, e.g. `REGULAR`, `VIDEO`, `CAROUSEL`, `SHOPPING`.",
            "destination_url": "Where a click on it leads.", "created_time": _CREATED_TIME,
            "updated_time": _UPDATED_TIME, "extracted_at": "When this snapshot was taken (UTC).",
        }),
}

_HISTORY_COLUMNS = {
    "valid_from": "The snapshot date (the UTC date of the run that took it) this version was first seen.",
    "valid_to": ("The first snapshot date on which it was no longer this version (exclusive): the next version's "
                 "`valid_from`, or the date of the first snapshot that no longer listed the entity (deleted or no "
                 "longer listed: no version follows). NULL while current."),
    "is_current": "True for the versions of the newest snapshots: exactly the rows of the latest-state table.",
}


def _history(dimension: str) -> Relation:
    """The history table of a dimension: its columns but `extracted_at`, then the validity columns."""
    latest = RELATIONS[dimension]
    return Relation(
        grain=f"one row per version of each row of `{dimension}`", key=(*latest.key, "valid_from"),
        about=(f"Every version of `{dimension}` the lake's dated snapshots show (a slowly changing dimension, type 2): a "
               "new version whenever any column but `extracted_at` differs from the previous snapshot (counts "
               "included). The version valid on day D: `valid_from <= D AND (valid_to IS NULL OR valid_to > D)`. "
               "Snapshots are taken once per run, so a change is dated at the first run that saw it; an account whose "
               "run failed keeps its entities' versions open (its previous snapshot stands). Rebuilt by each load "
               "from the snapshots in the lake: deleting old snapshot folders deletes their versions."),
        columns={**{c: m for c, m in latest.columns.items() if c != "extracted_at"}, **_HISTORY_COLUMNS})


RELATIONS.update({history.history_table(dimension): _history(dimension) for dimension in history.TRACKED_DIMENSIONS})
RELATIONS[history.BUILT_FROM] = Relation(
    grain="one row per lake snapshot file a history table was built from", key=("dimension", "path"),
    about=("Bookkeeping for the history tables: a load rebuilds each history from the newest snapshot date whose "
           "files are unchanged. Not for analysis."),
    columns={"dimension": "The dimension (`pins`, `campaigns`, ...).", "snapshot_date": "The snapshot's date.",
             "path": "The file, relative to the lake.",
             "fingerprint": "Its recorded SHA-256, size and modification time (a change means it was rewritten)."})

# What the main metrics count; other metric columns are described from their names (see describe_metric).
METRIC_MEANINGS = {
    "IMPRESSION": "Times the pin (in `user_account_daily`: any of the account's pins) was shown.",
    "SAVE": "Saves of the pin to a board.",
    "PIN_CLICK": "Clicks on the pin (to its close-up or its content).",
    "OUTBOUND_CLICK": "Clicks to the pin's destination URL, off Pinterest.",
    "ENGAGEMENT": "Engagements: saves, pin clicks, outbound clicks and other interactions.",
    "ENGAGEMENT_RATE": "Engagements per impression: `engagement / impression`.",
    "SAVE_RATE": "Saves per impression: `save / impression`.",
    "PIN_CLICK_RATE": "Pin clicks per impression: `pin_click / impression`.",
    "OUTBOUND_CLICK_RATE": "Outbound clicks per impression: `outbound_click / impression`.",
    "TOTAL_COMMENTS": "Comments on the pin that day (all-time totals: `pin_lifetime`).",
    "TOTAL_REACTIONS": "Reactions to the pin that day (all-time totals: `pin_lifetime`).",
    "USER_FOLLOW": "Follows of the account that came from the pin.",
    "PROFILE_VISIT": "Visits to the account's profile that came from the pin.",
    "VIDEO_MRC_VIEW": "Video views by the MRC standard (at least half of the video on screen for 2 seconds).",
    "VIDEO_10S_VIEW": "Video views of 10 seconds or more.",
    "QUARTILE_95_PERCENT_VIEW": "Video views that reached 95 % of the video.",
    "VIDEO_START": "Video starts.",
    "VIDEO_V50_WATCH_TIME": ("Total play time of the video, in milliseconds (the official description calls it "
                             "\"Total play time\" without a unit; its ads reporting columns of the same measure are "
                             "`VIDEO_SUM_V50_WATCHTIME_IN_MILLISECOND` and `VIDEO_AVG_WATCHTIME_IN_MILLISECOND`, and its "
                             "example average, 2,507.75, is a pin video's play time as milliseconds, 2.5 s, not as "
                             "seconds, 42 minutes)."),
    "VIDEO_AVG_WATCH_TIME": ("Average play time per video start, in milliseconds: `video_v50_watch_time / video_start` "
                             "(so the stored rows say; not per MRC view). Over several rows: "
                             "`sum(video_v50_watch_time) / sum(video_start)`."),
    "SPEND_IN_MICRO_DOLLAR": "Amount spent.",
    "PAID_IMPRESSION": "Paid impressions of the promoted pins.",
    "TOTAL_IMPRESSION": "Paid and earned impressions (earned: later organic views of the promoted pin).",
    "CLICKTHROUGH_1": "Paid pin clicks.",
    "TOTAL_CLICKTHROUGH": "Paid and earned pin clicks.",
    "OUTBOUND_CLICK_1": "Paid outbound clicks (to the destination URL).",
    "REPIN_1": "Paid saves.",
    "TOTAL_ENGAGEMENT": "Paid and earned engagements.",
    "VIDEO_MRC_VIEWS_1": "Paid video views (MRC standard).",
    "TOTAL_VIDEO_MRC_VIEWS": "Paid and earned video views (MRC standard).",
    "TOTAL_CONVERSIONS": "Conversions of every type, attributed under the row's `attribution` settings.",
    "TOTAL_CHECKOUT": "Checkout conversions, attributed under the row's `attribution` settings.",
    "TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR": "Order value of the checkout conversions.",
    "CTR": "Click-through rate as Pinterest computes it: `clickthrough_1 / paid_impression`.",
    "CPC_IN_MICRO_DOLLAR": "Cost per paid click: `spend_in_micro_dollar / clickthrough_1`.",
    "CPM_IN_MICRO_DOLLAR": "Cost per 1,000 paid impressions: `1000 * spend_in_micro_dollar / paid_impression`.",
}

# How to add up a metric column, by the pattern of its name; the first that matches applies.
METRIC_RULES: tuple[tuple[str, str], ...] = (
    ("cost per unit (`CPC_*`, `CPM_*`, `CPV_*`, `CPCV_*`, `ECP*`, `*COST_PER*`)",
     "Cost ratio for the day in the money unit of its name: never sum or average it; recompute from sums, e.g. "
     "`sum(spend_in_micro_dollar) / sum(clickthrough_1)`."),
    ("rate (`*_RATE`, `CTR`, `*_CTR*`, `ECTR`)",
     "Ratio for the day (0 to 1; 0.0123 is 1.23 %): never sum or average it; recompute from sums of counts, e.g. "
     "`sum(save) / sum(impression)`."),
    ("return on ad spend (`*ROAS`)",
     "Ratio for the day: never sum or average it; recompute as `sum(value) / sum(spend)`."),
    ("average (`*AVG*`, `*AVERAGE*`, `*FREQUENCY`)",
     "Average for the day: never sum it; combine rows from its total and its base (`video_avg_watch_time`: "
     "`sum(video_v50_watch_time) / sum(video_start)`)."),
    ("distinct people (`*_USER`, `*UNIQUE*`)",
     "Count of distinct people for the day: not additive across days or entities (one person counts in each)."),
    ("money in micro-units (`*_IN_MICRO_DOLLAR`, `*_MICRO_DOLLAR`)",
     "Money in micro-units of the row's `currency` (divide by 1,000,000; an integer: BIGINT): sum it within one "
     "currency, never across currencies."),
    ("money (`*_IN_DOLLAR*`, `*_IN_LOCAL_CURRENCY`)",
     "Money in whole units of the row's `currency`: sum it within one currency, never across currencies."),
    ("count (everything else)", "Count for the day: sum it across days and entities."),
)


def metric_rule(metric: str) -> str:
    """Which of METRIC_RULES applies to an API metric name: cost, rate, roas, average, people, micro, money or count."""
    name = metric.upper()
    if name.startswith(("CPC_", "CPM_", "CPV_", "CPCV_", "ECP")) or "COST_PER" in name:
        return "cost"
    if name.endswith("_RATE") or name in ("CTR", "ECTR") or name.startswith("CTR_") or "_CTR" in name:
        return "rate"
    if name.endswith("ROAS"):
        return "roas"
    if "AVG" in name or "AVERAGE" in name or name.endswith("FREQUENCY"):
        return "average"
    if name.endswith("_USER") or "UNIQUE" in name:
        return "people"
    if name.endswith("MICRO_DOLLAR"):
        return "micro"
    if "_IN_DOLLAR" in name or name.endswith("_IN_LOCAL_CURRENCY"):
        return "money"
    return "count"


_SHORT_RULES = {
    "cost": "Cost ratio in the money unit of its name: never sum; recompute from sums.",
    "rate": "Ratio (0 to 1): never sum or average; recompute from sums of counts.",
    "roas": "Ratio: never sum; recompute as sum(value) / sum(spend).",
    "average": "Average: never sum; weight by its base.",
    "people": "Distinct people: not additive across days or entities.",
    "micro": "Micro-units of `currency` (/ 1,000,000); sum within one currency only.",
    "money": "Whole units of `currency`; sum within one currency only.",
    "count": "Count; sum it.",
}


def describe_metric(metric: str) -> str:
    """One line on a metric column: what it counts, then its unit and how to add it up (from its name)."""
    name = metric.upper()
    meaning = METRIC_MEANINGS.get(name) or _meaning_from_name(name)
    return f"{meaning} {_SHORT_RULES[metric_rule(name)]}"


def _meaning_from_name(name: str) -> str:
    if name.endswith("_1") or "_1_" in name:
        side = " Paid (on the promoted pin itself)."
    elif name.endswith("_2"):
        side = " Earned (later organic activity on the promoted pin)."
    elif name.startswith("TOTAL_"):
        side = " Paid and earned."
    else:
        side = ""
    return f"Pinterest's `{name}` column.{side}"


def warehouse_schema(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Every table and view of the warehouse's main schema: name -> (TABLE or VIEW, [(column, type)])."""
    kinds = dict(con.execute(
        "SELECT table_name, CASE table_type WHEN 'VIEW' THEN 'VIEW' ELSE 'TABLE' END FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_catalog = current_database() ORDER BY table_name").fetchall())
    schema: dict[str, tuple[str, list[tuple[str, str]]]] = {name: (kind, []) for name, kind in kinds.items()}
    for table, column, data_type in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_catalog = current_database() ORDER BY table_name, ordinal_position").fetchall():
        if table in schema:
            schema[table][1].append((column, data_type))
    return schema


def describe_column(relation: str, column: str) -> str:
    """The meaning of one column of one relation; empty when the dictionary does not know it."""
    entry = RELATIONS.get(relation)
    if entry is None:
        return ""
    if column in entry.columns:
        return entry.columns[column]
    # Every other column of a wide relation is a metric column, also one a load added for a metric first seen.
    if column.upper() in entry.metrics or (relation in (*FACT_TABLES, "user_account_organic_daily")
                                           and re.fullmatch(r"[a-z][a-z0-9_]*", column)):
        return describe_metric(column)
    return ""


def problems(schema: dict[str, tuple[str, list[tuple[str, str]]]]) -> list[str]:
    """What the dictionary and the warehouse disagree on: relations or columns without a description, and
    described relations or columns that the warehouse lacks."""
    found = []
    for name, (_, columns) in schema.items():
        if name not in RELATIONS:
            found.append(f"{name}: the warehouse has this table or view, the dictionary does not describe it")
            continue
        names = {column for column, _ in columns}
        found += [f"{name}.{column}: no description" for column in names if not describe_column(name, column)]
        found += [f"{name}.{column}: described, but the warehouse has no such column"
                  for column in RELATIONS[name].columns if column not in names]
    found += [f"{name}: described, but the warehouse has no such table or view" for name in RELATIONS
              if name not in schema]
    return sorted(found)


def render(con: duckdb.DuckDBPyConnection) -> str:
    """The markdown data dictionary of the warehouse `con` is connected to."""
    schema = warehouse_schema(con)
    wrong = problems(schema)
    if wrong:
        raise ValueError("the data dictionary does not match the warehouse (change pipelines/data_dictionary.py): "
                         + "; ".join(wrong))
    lines = [
        "# Data dictionary",
        "",
        "<!-- Generated from the warehouse schema and pipelines/data_dictionary.py; do not edit by hand. After a",
        f"     change, build a warehouse with the default settings (`make run`) and run `{REGENERATE}`. -->",
        "",
        "Every table and view of the DuckDB warehouse (`PINTEREST_ETL_HOME/warehouse.duckdb`, schema `main`), "
        "with the grain (what one row is), the key and the meaning and unit of every column. The Parquet lake "
        "(`PINTEREST_ETL_HOME/lake/<table>/`) holds the wide fact tables (`date=YYYY-MM-DD/` folders; without the "
        "parents' ids and currency, which the warehouse takes from the dimensions) and dated snapshots of the "
        "dimension tables. Worked queries: [queries.sql](queries.sql).",
        "",
        "## Conventions",
        "",
        "- **Dates** are UTC calendar days: Pinterest reports analytics by UTC day.",
        "- **Ids are strings** everywhere (Pinterest ids exceed 2^53): never cast them to numbers.",
        f"- **Wide tables, long views**: the wide tables ({_WIDE_TABLE_NAMES}) store the numbers, one typed column "
        "per metric; `metric_daily` and `daily_status` are views over them in long form, for analysis "
        "across entity types.",
        "- **Absent is not zero, unless the API says so**: a metric the API did not return is NULL in the wide "
        "tables and has no row in `metric_daily`, but for ads metrics the request asked for: ads answers leave zeros "
        "out (the official description says JSON reports \"will not zero-fill metrics\"), so those are stored as 0. "
        "An ads metric not requested (left out of `PINTEREST_ADS_COLUMNS`) stays NULL: unknown, not a measured zero. "
        "Ads rows normalized before this rule hold NULL for left-out zeros until `pinterest-etl run --from-raw` "
        "normalizes them again.",
        "- **Reporting views** (`campaign_performance`, `ad_group_performance`, `ad_performance`, `pin_performance`, "
        "`top_pins`): one row per entity per day with names, statuses, money in currency units and rates recomputed "
        "from the row's counts, for people who do not speak API; start there. Counts are BIGINT and read as stored: "
        "ads zeros the API left out are 0, ads metrics not requested are NULL, and organic counts are NULL only on a "
        "day still `PROCESSING` (organic answers send their zeros); every division is NULL when its denominator is 0 "
        "or NULL. Ids have the same "
        "names in every view and table: join USING all the ids two relations share, e.g. `campaign_performance JOIN "
        "campaigns USING (campaign_id, ad_account_id) JOIN ad_accounts USING (ad_account_id)`.",
        "- **`data_status` and `is_final`**: organic days are `PROCESSING` (no numbers yet), then `ESTIMATE` (may "
        "change), then `READY` (final, `is_final` true); days before the pin, the account or the metric existed "
        "(`BEFORE_...`, no numbers) are final too. Ads days have no `data_status` (NULL) and are final once "
        "the attribution window has passed and `metrics_ready_state` says the date is ready. The daily run re-pulls "
        "the days not final and replaces them.",
        "- **Money** (`*_micro_dollar`, `*_micro_currency`, spend caps) is in micro-units of the ad account's "
        "`currency` (divide by 1,000,000); nothing is converted between currencies, so group by `currency`.",
        "- **Rates, ratios and averages must not be summed or averaged across rows**: recompute them from summed "
        "counts (`sum(save) / sum(impression)`, `sum(clickthrough_1) / sum(paid_impression)`).",
        "- **Ads attribution**: ads numbers carry the attribution settings they were computed with "
        "(`attribution` in the ads tables, `split_value` in `metric_daily`); never add numbers of different "
        "settings.",
        "- **Splits**: `user_account_daily` holds the total (`split_field = 'NO_SPLIT'`) and each split's buckets "
        "side by side; filter on one `split_field` before summing.",
        "- **Content types**: `user_account_daily` holds each `content_type` side by side (`ALL` = `ORGANIC` + "
        "`PAID`); filter on one before summing (`ORGANIC` for organic reach, `ALL` for everything).",
        "- **Comments**: every table, view and column also carries its description as a DuckDB comment "
        "(`duckdb_tables().comment`, `duckdb_columns().comment`), so any client shows it.",
        "",
        "### Metric columns",
        "",
        "The wide tables have one lowercase column per API metric (`save_rate` is the API's `SAVE_RATE`), NULL when "
        "the API returned no value that day (absent is not zero; an ads metric requested and left out is 0). Its type follows from its name: counts and "
        "micro-unit money are BIGINT; rates, ratios, averages, prices and watch times are DOUBLE (each table below "
        "gives the stored type). A BIGINT column becomes DOUBLE if the API ever sends a value that is not a whole "
        "number for it (nothing is rounded), and a metric first requested later (say a column added to "
        "`PINTEREST_ADS_COLUMNS`) adds a column, NULL in the rows loaded before. `metric_daily.value` is DOUBLE for "
        "every metric. How to add one up follows from its name; the first rule that matches applies:",
        "",
        "| metric name | unit and how to aggregate |",
        "|---|---|",
        *[f"| {_cell(pattern)} | {_cell(rule)} |" for pattern, rule in METRIC_RULES],
        "",
        "Suffixes of ads columns: `_1` is paid (on the promoted pin itself), `_2` earned (later organic activity on "
        "the promoted pin), `TOTAL_` both. The ads tables have one column per configured ads column "
        "(`PINTEREST_ADS_COLUMNS`); this document lists the default ones.",
        "",
        "## Tables and views",
        "",
        "| name | kind | grain | key |",
        "|---|---|---|---|",
    ]
    ordered = [name for name in RELATIONS if name in schema]
    lines += [f"| [`{name}`](#{name}) | {schema[name][0].lower()} | {_cell(RELATIONS[name].grain)} | "
              f"{', '.join(f'`{k}`' for k in RELATIONS[name].key)} |" for name in ordered]
    for name in ordered:
        kind, columns = schema[name]
        entry = RELATIONS[name]
        lines += [
            "", f"## {name}", "",
            f"{kind.lower().capitalize()}. **Grain:** {entry.grain}. **Key:** "
            f"{', '.join(f'`{k}`' for k in entry.key)}.",
            "", entry.about, "",
            "| column | type | meaning |", "|---|---|---|",
            *[f"| `{column}` | {data_type} | {_cell(describe_column(name, column))} |" for column, data_type in columns],
        ]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
