"""Reporting views for people who do not speak API: one row per entity per day, with names, currency units and rates.

Each view is declared here once, as data (its grain, key, meaning and every column with its SQL and its meaning); the
warehouse creates them after every load (`catalog.derived_views`) and the data dictionary describes them from the same
declarations.

Where the API's omission means zero (the rule per source, from the official description):
- Ads analytics (sync `*/analytics` and async reports) answer rows whose metrics are free-form properties
  (`additionalProperties`): "Reports in JSON will not zero-fill metrics [...] Both report formats will omit rows where
  all the columns are equal to 0." A metric the request asked for and a row left out is therefore zero: normalization
  stores it as 0 (pipelines/ads/normalize.py), and the views read it as stored. A metric the request did not ask for
  (a column left out of `PINTEREST_ADS_COLUMNS`) is unknown, not zero: NULL in the tables and the views, and so is every
  rate computed from it. Rows normalized before requested metrics were filled hold NULL for left-out zeros until
  `pinterest-etl run --from-raw` normalizes them again. An entity-day without any row had nothing to report (all zero)
  and has no row in the views either.
- Organic analytics answer one row per requested day, with a `data_status`, and send their zeros (`"SAVE": 0`). A
  metric that is NULL there is unknown, not zero: the day is still `PROCESSING` (no numbers yet) or lies before the pin
  existed (`BEFORE_PIN_CREATED`, "no data, not zero"). `pin_performance` keeps PROCESSING days with NULL counts and
  leaves out the days before a pin existed.
Every division is NULL when its denominator is 0 (a CTR of a day without impressions is not 0 %, it is undefined).
"""

from __future__ import annotations

import dataclasses

from pipelines.ads.levels import LEVELS, AdsLevel, ancestors
from pipelines.sql_text import identifier

DATE = "The UTC calendar day the numbers are for (Pinterest reports by UTC day)."
STRING_ID = "A string: Pinterest ids exceed 2^53, so never cast them to numbers."
OMITTED = "0 when the API left it out of the row, NULL when it was not requested"
NEVER_SUM = "A ratio for the row: never sum or average it; recompute it from summed columns"


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of a reporting view: its name, the SQL computing it from the view's source rows, its meaning."""

    name: str
    sql: str
    meaning: str


@dataclasses.dataclass(frozen=True)
class ReportingView:
    """A reporting view: what one row is (grain), its key, what it is for (about), the relation its columns are computed
    from (`source`: a FROM clause, which may end in WHERE or QUALIFY), and its columns in order."""

    name: str
    grain: str
    key: tuple[str, ...]
    about: str
    source: str
    columns: tuple[Column, ...]

    def create_sql(self) -> str:
        """The CREATE OR REPLACE VIEW statement."""
        select = ",\n       ".join(f"{c.sql} AS {identifier(c.name)}" for c in self.columns)
        return f"CREATE OR REPLACE VIEW {identifier(self.name)} AS\nSELECT {select}\n{self.source}"


# The ads levels with a reporting view: each view reads the level's wide table, joins its dimension (alias `e`) and
# carries the ids and names of its ancestors, the ad account first.
ADS_LEVELS = tuple(level for level in LEVELS if level.view)


def one_attribution_per_account_day(fact_table: str) -> str:
    """A SELECT of the rows of an ads wide table under one attribution setting per ad account and UTC day: the newest
    extraction's (arg_max over the day's rows; the only setting unless the settings were changed and days re-pulled).
    The one home of the rule: the ads views and the report read ads rows through it."""
    return (f"SELECT * FROM {identifier(fact_table)} QUALIFY attribution = arg_max(attribution, extracted_at) "
            "OVER (PARTITION BY ad_account_id, date)")


def _metric(column: str) -> str:
    """An ads metric column as stored: 0 where the API left a requested metric out of a row, NULL where it was not
    requested (unknown)."""
    return f"f.{identifier(column)}"


def _ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator, NULL when the denominator is 0 or NULL."""
    return f"{numerator} / nullif({denominator}, 0)"


_SPEND, _IMPRESSIONS, _CLICKS = (_metric(c) for c in ("spend_in_micro_dollar", "paid_impression",
                                                                "clickthrough_1"))
_CHECKOUT_VALUE = _metric("total_checkout_value_in_micro_dollar")


def _money(micro_units: str) -> str:
    """Micro-units of the account's currency as currency units, exact to the micro-unit (DECIMAL: sums stay exact)."""
    return f"({micro_units} / 1000000)::DECIMAL(18, 6)"


def _ads_columns(level: AdsLevel) -> tuple[Column, ...]:
    """A level's columns: the day, the ids, names and statuses of the entity and its parents, then the numbers."""
    names = []
    for ancestor in reversed(ancestors(level)):
        names += [Column(ancestor.id_column, f"f.{ancestor.id_column}",
                         f"The {ancestor.word} it belongs to (join `{ancestor.dimension}` USING (`{ancestor.id_column}`)). "
                         f"{STRING_ID}"),
                  Column(f"{ancestor.name}_name", f"{ancestor.name}.name",
                         f"The {ancestor.word}'s name, as now (NULL if it is no longer listed).")]
    own = [Column(level.id_column, f"f.{level.id_column}", f"The {level.word}'s id. {STRING_ID}"),
           Column(f"{level.name}_name", "e.name", f"The {level.word}'s name, as now (NULL if it is no longer listed)."),
           Column(f"{level.name}_status", "e.status",
                  f"The {level.word}'s status as set by the advertiser, as now: `ACTIVE`, `PAUSED` or `ARCHIVED`.")]
    promoted_pin = ([Column(level.pin_column, f"f.{level.pin_column}",
                            f"The promoted pin (join `pin_performance` USING (`date`, `{level.pin_column}`) for its "
                            f"organic numbers, `pins` for its title). {STRING_ID}")]
                    if level.pin_column else [])
    return (
        Column("date", "f.date", DATE), *names, *own, *promoted_pin,
        Column("currency", "f.currency", "The ad account's currency (ISO 4217): `spend`, `checkout_value`, `cpc` and "
                                         "`cpm` are in it. Never add money of different currencies."),
        Column("attribution", "f.attribution",
               "The attribution settings the conversions were counted with (click, engagement and view windows, "
               "conversion report time). Where the warehouse holds several for the account and day (the settings were "
               "changed), the view shows those of the newest extraction."),
        Column("is_final", "f.is_final", "True once the day's numbers will not change any more (the attribution window "
                                         "has passed and Pinterest says the day is ready); until then conversions may "
                                         "still grow."),
        Column("spend", _money(_SPEND), "Amount spent, in units of `currency` (`spend_in_micro_dollar` / 1,000,000; "
                                        f"{OMITTED}). Sum it within one currency."),
        Column("impressions", _IMPRESSIONS, f"Paid impressions (`paid_impression`; {OMITTED}). "
                                            "Count; sum it."),
        Column("clicks", _CLICKS, f"Paid pin clicks (`clickthrough_1`; {OMITTED}). Count; sum it."),
        Column("ctr", _ratio(_CLICKS, _IMPRESSIONS),
               f"Click-through rate: `clicks / impressions` (0 to 1), NULL without impressions. {NEVER_SUM}: "
               "`sum(clicks) / sum(impressions)`."),
        Column("cpc", _ratio(f"{_SPEND} / 1e6", _CLICKS),
               f"Cost per click in units of `currency`: `spend / clicks`, NULL without clicks. {NEVER_SUM}: "
               "`sum(spend) / sum(clicks)`."),
        Column("cpm", _ratio(f"{_SPEND} / 1e3", _IMPRESSIONS),
               f"Cost per 1,000 impressions in units of `currency`: `1000 * spend / impressions`, NULL without "
               f"impressions. {NEVER_SUM}: `1000 * sum(spend) / sum(impressions)`."),
        Column("conversions", _metric("total_conversions"),
               f"Conversions of every type under `attribution` (`total_conversions`; {OMITTED}). "
               "Count; sum it."),
        Column("checkouts", _metric("total_checkout"),
               f"Checkout conversions under `attribution` (`total_checkout`; {OMITTED}). Count; sum it."),
        Column("checkout_value", _money(_CHECKOUT_VALUE),
               "Order value of the checkout conversions in units of `currency` (`total_checkout_value_in_micro_dollar` "
               f"/ 1,000,000; {OMITTED}): the conversion value the API reports (it has none for "
               "all conversion types together). Sum it within one currency."),
        Column("roas", _ratio(_CHECKOUT_VALUE, _SPEND),
               f"Return on ad spend: `checkout_value / spend`, NULL without spend. {NEVER_SUM}: "
               "`sum(checkout_value) / sum(spend)`."),
    )


def _ads_view(level: AdsLevel) -> ReportingView:
    joins = "".join(f"\nLEFT JOIN {ancestor.dimension} {ancestor.name} ON {ancestor.name}.{ancestor.id_column} = "
                    f"f.{ancestor.id_column}" for ancestor in reversed(ancestors(level)))
    return ReportingView(
        name=level.view,
        grain=f"one row per {level.word} per UTC day",
        key=("date", level.id_column),
        about=(f"Daily delivery, cost and conversions of each {level.word}, with names, statuses and money in currency "
               f"units: `{level.fact_table}` for people who do not speak API, its rows of one attribution setting per "
               "ad account and day (the newest extraction's; the only one unless the settings were changed), so sums of "
               f"a column equal the sums of `{level.fact_table}` over those rows. A metric the API left out of a row is "
               "0 (the ads API omits zeros); one that was not requested (left out of `PINTEREST_ADS_COLUMNS`) is NULL, "
               "and so are the rates computed from it. A day without any row for the entity had nothing to report. "
               "Join the other views and the dimensions USING all the ids they share."),
        # Chosen before the names are joined: a window over the joined rows made a 28-day query of 2.2 M ad-days 3x
        # slower.
        source=(f"FROM ({one_attribution_per_account_day(level.fact_table)}) f\n"
                f"LEFT JOIN {level.dimension} e ON e.{level.id_column} = f.{level.id_column}{joins}"),
        columns=_ads_columns(level))


_PIN_COUNTS = (("impressions", "impression", "Times the pin was shown"),
               ("saves", "save", "Saves of the pin to a board"),
               ("pin_clicks", "pin_click", "Clicks on the pin (to its close-up or its content)"),
               ("outbound_clicks", "outbound_click", "Clicks to the pin's destination URL, off Pinterest"))
# Pin analytics have no ENGAGEMENT metric (user-account analytics do): a pin's engagements are its stored interactions.
_PIN_ENGAGEMENTS = "d.save + d.pin_click + d.outbound_click"
_SINCE_THE_PIN_EXISTS = "d.data_status NOT LIKE 'BEFORE%'"  # BEFORE_PIN_CREATED and the like: no data, not zero
_ENGAGEMENTS = ("Engagements: `saves + pin_clicks + outbound_clicks` (pin analytics return no engagement count of "
                "their own; Pinterest's account-level `engagement` also counts other interactions)")
_PIN_DESCRIPTION = (
    Column("pin_id", "d.pin_id", f"The pin's id. {STRING_ID}"),
    Column("title", "p.title", "The pin's title, as now (NULL if the pin is no longer listed)."),
    Column("board_id", "p.board_id", f"The board the pin is on (join `boards` USING (`board_id`)). {STRING_ID}"),
    Column("board_name", "b.name", "The board's name, as now."),
    Column("media_type", "p.media_type", "The pin's media: `image`, `video`, `multiple_images`, ..."),
    Column("link", "p.link", "The pin's destination URL."),
    Column("created_at", "p.created_at", "When the pin was created (UTC)."),
)

PIN_PERFORMANCE = ReportingView(
    name="pin_performance",
    grain="one row per pin per UTC day since the pin was created",
    key=("date", "pin_id"),
    about=("Daily organic numbers of each pin with its title, board and link: `pin_daily` for people who do not speak "
           "API. Organic analytics send their zeros, so a count is never filled in: it is NULL only while the day is "
           "still `PROCESSING` (no numbers yet; `is_final` false). Days before the pin existed (`BEFORE_PIN_CREATED`: "
           "no data, not zero) are left out. Sums of a column equal the sums of `pin_daily` over the same days."),
    source=("FROM pin_daily d\nLEFT JOIN pins p ON p.pin_id = d.pin_id\nLEFT JOIN boards b ON b.board_id = p.board_id\n"
            f"WHERE {_SINCE_THE_PIN_EXISTS}"),
    columns=(
        Column("date", "d.date", DATE), *_PIN_DESCRIPTION,
        Column("is_final", "d.is_final", "True once Pinterest reports the day `READY`: its numbers will not change."),
        *(Column(name, f"d.{column}", f"{meaning} (`{column}`; NULL while the day is `PROCESSING`). Count; sum it.")
          for name, column, meaning in _PIN_COUNTS),
        Column("engagements", _PIN_ENGAGEMENTS, f"{_ENGAGEMENTS}. Count; sum it."),
        Column("engagement_rate", _ratio(f"({_PIN_ENGAGEMENTS})", "d.impression"),
               f"Engagements per impression: `engagements / impressions` (0 to 1), NULL without impressions. "
               f"{NEVER_SUM}: `sum(engagements) / sum(impressions)`."),
    ))

TOP_PINS_DAYS = 28
TOP_PINS = ReportingView(
    name="top_pins",
    grain=f"one row per pin with numbers in the {TOP_PINS_DAYS} days ending on the newest final day",
    key=("pin_id",),
    about=(f"The pins ranked by their organic numbers over the {TOP_PINS_DAYS} calendar days ending on the newest day "
           "whose numbers are final for every pin, counting final days only, from the stored pin data "
           f"(`pin_performance`). Equal totals share a rank: `WHERE saves_rank <= 10` may give more than 10 pins."),
    # From pin_daily itself, with pin_performance's rows (the days since each pin exists) and engagement: joining the
    # names to the 28 days' totals, not to every pin-day, took top_pins on 8.9 M pin-days from 2.4-3.1 s to 1.3-1.5 s.
    source=(
        "FROM (\n"
        f"    WITH final_day AS (SELECT date FROM pin_daily d WHERE {_SINCE_THE_PIN_EXISTS} GROUP BY date "
        "HAVING bool_and(is_final)),\n"
        "    last AS (SELECT max(date) AS day FROM final_day)\n"
        "    SELECT d.pin_id, last.day AS window_last_day, count(*) AS final_days, "
        + ", ".join(f"sum(d.{column})::BIGINT AS {name}" for name, column, _ in _PIN_COUNTS)
        + f", sum({_PIN_ENGAGEMENTS})::BIGINT AS engagements\n"
        "    FROM pin_daily d JOIN final_day USING (date), last\n"
        f"    WHERE d.date > last.day - {TOP_PINS_DAYS} AND {_SINCE_THE_PIN_EXISTS}\n"
        "    GROUP BY d.pin_id, last.day\n"
        ") t\nLEFT JOIN pins p ON p.pin_id = t.pin_id\nLEFT JOIN boards b ON b.board_id = p.board_id"),
    columns=(
        Column("window_first_day", f"t.window_last_day - {TOP_PINS_DAYS - 1}",
               f"The first day of the {TOP_PINS_DAYS}-day window (the same in every row)."),
        Column("window_last_day", "t.window_last_day",
               "The newest day whose numbers are final for every pin: the window's last day (the same in every row)."),
        Column("final_days", "t.final_days",
               f"Final days of the window the pin has numbers for ({TOP_PINS_DAYS} unless it was created inside the "
               "window, or a day of the window is not final for every pin)."),
        Column("pin_id", "t.pin_id", f"The pin's id. {STRING_ID}"), *_PIN_DESCRIPTION[1:],
        *(Column(name, f"t.{name}", f"{meaning}, over the window's final days. Count.")
          for name, _, meaning in (*_PIN_COUNTS, ("engagements", "", _ENGAGEMENTS))),
        Column("engagement_rate", _ratio("t.engagements", "t.impressions"),
               "Engagements per impression over the window (0 to 1), NULL without impressions."),
        *(Column(f"{name}_rank", f"rank() OVER (ORDER BY t.{name} DESC NULLS LAST)",
                 f"The pin's rank by {name.replace('_', ' ')} (1 = most).")
          for name in ("impressions", "saves", "outbound_clicks")),
    ))

REPORTING_VIEWS: dict[str, ReportingView] = {view.name: view for view in (
    *(_ads_view(level) for level in ADS_LEVELS), PIN_PERFORMANCE, TOP_PINS)}


def create_statements() -> dict[str, str]:
    """CREATE OR REPLACE VIEW statements of the reporting views, by name, in an order that creates a view after the
    views it reads (top_pins reads pin_performance)."""
    return {name: view.create_sql() for name, view in REPORTING_VIEWS.items()}
