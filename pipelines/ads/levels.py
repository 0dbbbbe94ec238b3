"""The four ads levels (ad account, campaign, ad group, ad) as one table of data: per level its API endpoints and id
names, its parent, and its warehouse objects. Extraction, normalization, dimensions, the wide tables, views, checks,
data dictionary, report and bench read it; lists of levels (parents, joins, pairs to add up) are derived from it."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class AdsLevel:
    """One ads level. Its rows' `entity_type` is `name`; an entity of it belongs to one entity of `parent` (None:
    the ad account, the root), and Pinterest never moves it to another."""

    name: str  # the rows' entity_type: "ad_group"
    word: str  # the level in a sentence: "ad group"
    parent: str | None  # the level it belongs to
    id_column: str  # its id column in the dimension and wide tables, and its children's listed items: "ad_group_id"
    list_endpoint: str  # the listing of its entities (client endpoint name): "ad_groups/list"
    analytics_endpoint: str  # its sync analytics (client endpoint name): "ad_groups/analytics"
    id_parameter: str | None  # the analytics query parameter naming a batch of its ids (None: the id is in the path)
    row_id_field: str  # the field naming the entity in analytics and async report rows: "AD_GROUP_ID"
    report_level: str  # its async report's `level` (MetricsReportingLevel): "AD_GROUP"
    fact_table: str  # its wide daily fact table: "ad_group_daily"
    dimension: str  # its dimension table (latest state of every entity): "ad_groups"
    view: str | None  # its reporting view (None: none)
    adds_up_check: str | None  # the check that its additive columns sum to its parent's (a Dagster check key)
    pin_column: str | None = None  # the promoted pin's id column its rows carry with their parents' ids (ads)


LEVELS: tuple[AdsLevel, ...] = (
    AdsLevel(name="ad_account", word="ad account", parent=None, id_column="ad_account_id",
             list_endpoint="ad_accounts/list", analytics_endpoint="ad_account/analytics", id_parameter=None,
             row_id_field="AD_ACCOUNT_ID", report_level="ADVERTISER", fact_table="ad_account_daily",
             dimension="ad_accounts", view=None, adds_up_check=None),
    AdsLevel(name="campaign", word="campaign", parent="ad_account", id_column="campaign_id",
             list_endpoint="campaigns/list", analytics_endpoint="campaigns/analytics", id_parameter="campaign_ids",
             row_id_field="CAMPAIGN_ID", report_level="CAMPAIGN", fact_table="campaign_daily", dimension="campaigns",
             view="campaign_performance", adds_up_check="campaigns_add_up_to_accounts"),
    AdsLevel(name="ad_group", word="ad group", parent="campaign", id_column="ad_group_id",
             list_endpoint="ad_groups/list", analytics_endpoint="ad_groups/analytics", id_parameter="ad_group_ids",
             row_id_field="AD_GROUP_ID", report_level="AD_GROUP", fact_table="ad_group_daily", dimension="ad_groups",
             view="ad_group_performance", adds_up_check="ad_groups_add_up_to_campaigns"),
    AdsLevel(name="ad", word="ad", parent="ad_group", id_column="ad_id",
             list_endpoint="ads/list", analytics_endpoint="ads/analytics", id_parameter="ad_ids",
             row_id_field="AD_ID", report_level="PIN_PROMOTION", fact_table="ad_daily", dimension="ads",
             view="ad_performance", adds_up_check="ads_add_up_to_ad_groups", pin_column="pin_id"),
)
BY_NAME: dict[str, AdsLevel] = {level.name: level for level in LEVELS}
BY_DIMENSION: dict[str, AdsLevel] = {level.dimension: level for level in LEVELS}
NAMES = tuple(BY_NAME)
ACCOUNT = LEVELS[0]
# The levels listed and fetched per ad account, parents before children.
UNDER_ACCOUNT = tuple(level for level in LEVELS if level.parent is not None)


def parent_of(level: AdsLevel) -> AdsLevel | None:
    return BY_NAME[level.parent] if level.parent is not None else None


def ancestors(level: AdsLevel) -> tuple[AdsLevel, ...]:
    """The levels an entity of `level` belongs to, its parent first, the ad account last."""
    parent = parent_of(level)
    return (parent, *ancestors(parent)) if parent is not None else ()


def parent_ids(level: AdsLevel) -> tuple[str, ...]:
    """The id columns of its ancestors, its parent's first: what its dimension rows carry besides its own id."""
    return tuple(ancestor.id_column for ancestor in ancestors(level))


def carried_ids(level: AdsLevel) -> tuple[str, ...]:
    """The ids its wide table's rows carry besides their own: the ancestors' (parent first), then the promoted pin."""
    return (*parent_ids(level), *((level.pin_column,) if level.pin_column else ()))
