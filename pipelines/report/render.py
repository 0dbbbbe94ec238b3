"""The report page: one self-contained HTML document (inline CSS and SVG; no script, font or image to load)."""

from __future__ import annotations

import datetime as dt
from html import escape

from pipelines.planning import DateRange
from pipelines.report import svg
from pipelines.report.data import CampaignResult, Kpi, PinRank, ReportData

# The viewBox of a chart as wide as the page, so its text is drawn at about its nominal size on a laptop.
FULL_WIDTH = svg.Frame(width=1080, height=300, left=72)

PAGE_CSS = """
:root {
  color-scheme: light dark;
  --bg: #f4f5f7; --card: #ffffff; --text: #1d2129; --muted: #5f6672; --grid: #e6e8ec; --axis: #a3a9b4;
  --border: #e1e4e8; --good: #0b8a5f; --bad: #c8102e; --accent: #d6002a;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14161a; --card: #1d2026; --text: #e8eaed; --muted: #a2a8b3; --grid: #2c3038; --axis: #5c6370;
    --border: #2f333b; --good: #3fd19c; --bad: #ff6b7f; --accent: #ff5c72;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); line-height: 1.45;
       font: 15px/1.45 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 48px; }
header.top { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 16px 40px; align-items: flex-end;
             border-bottom: 1px solid var(--border); padding-bottom: 18px; margin-bottom: 22px; }
.eyebrow { margin: 0; color: var(--accent); font-weight: 700; letter-spacing: .08em; text-transform: uppercase;
           font-size: 12px; }
h1 { margin: 4px 0 2px; font-size: 30px; letter-spacing: -.01em; }
h2 { margin: 36px 0 4px; font-size: 20px; }
h3 { margin: 0 0 8px; font-size: 15px; }
.sub, .lede, .note { color: var(--muted); margin: 0; }
.lede { margin-bottom: 14px; max-width: 80ch; }
.note { font-size: 13px; margin-top: 10px; }
dl.meta { display: grid; grid-template-columns: auto 1fr; gap: 4px 14px; margin: 0; font-size: 13px; max-width: 560px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; }
.kpi { background: var(--card); border: 1px solid var(--border); border-radius: 10px; padding: 12px 14px; }
.kpi-label { display: block; color: var(--muted); font-size: 13px; }
.kpi-value { display: block; font-size: 26px; font-weight: 700; font-variant-numeric: tabular-nums; margin: 2px 0; }
.kpi-value small { font-size: 13px; font-weight: 600; color: var(--muted); }
.delta { font-size: 13px; font-weight: 600; font-variant-numeric: tabular-nums; }
.delta.good { color: var(--good); } .delta.bad { color: var(--bad); } .delta.neutral, .delta.none { color: var(--muted); }
.delta.none { font-weight: 400; }
.basis, .pending { display: block; color: var(--muted); font-size: 12px; margin-top: 2px; }
.pending { color: var(--c-not_final); }
.grid-2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 16px; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: 12px; padding: 16px 18px;
        margin-bottom: 16px; min-width: 0; }
.grid-2 { margin-bottom: 16px; }
.grid-2 .card { margin-bottom: 0; }
.empty { background: var(--card); border: 1px dashed var(--axis); border-radius: 12px; padding: 22px;
         color: var(--muted); text-align: center; }
.empty strong { display: block; color: var(--text); font-size: 16px; margin-bottom: 4px; }
table { width: 100%; border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--border); text-align: right; white-space: nowrap; }
th { color: var(--muted); font-weight: 600; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
td:first-child { white-space: normal; }
.table-wrap { overflow-x: auto; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12.5px; border-top: 1px solid var(--border); padding-top: 14px; }
@media (max-width: 560px) { .grid-2 { grid-template-columns: 1fr; } h1 { font-size: 24px; } }
"""


def render_report(data: ReportData, generated_at: dt.datetime, warehouse_path: str) -> str:
    body = "".join([_header(data, generated_at), _kpis(data), _organic_trend(data), _top_pins(data),
                    _campaigns(data), _freshness(data, generated_at), _footer(warehouse_path)])
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>Pinterest report {escape(str(data.range))}</title>\n"
            f"<style>{PAGE_CSS}{svg.CHART_CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n")


# --- formatting -------------------------------------------------------------------------------------------

def range_label(r: DateRange) -> str:
    """Oct 31 – Nov 27, 2026 (the year on both ends when they differ)."""
    start = f"{svg.day_label(r.start)}" + ("" if r.start.year == r.end.year else f", {r.start.year}")
    return f"{start} – {svg.day_label(r.end)}, {r.end.year}"


def _utc(moment: dt.datetime | None) -> str:
    return "never" if moment is None else moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _age(moment: dt.datetime | None, now: dt.datetime) -> str:
    if moment is None:
        return ""
    hours = (now - moment).total_seconds() / 3600
    if hours < 1:
        return " (less than an hour before this report)"
    return f" ({hours:.0f} h before this report)" if hours < 48 else f" ({hours / 24:.0f} days before this report)"


def _money(value: float, currency: str) -> str:
    return f"{svg.grouped(value, 2)} {currency}"


def _empty(element_id: str, title: str, text: str) -> str:
    return f'<div class="empty" id="{element_id}"><strong>{escape(title)}</strong>{text}</div>'


def _section(element_id: str, title: str, lede: str, content: str) -> str:
    return f'<section id="{element_id}"><h2>{escape(title)}</h2><p class="lede">{lede}</p>{content}</section>'


def _card(title: str, content: str, note: str = "") -> str:
    return f'<div class="card"><h3>{escape(title)}</h3>{content}{f"<p class=note>{note}</p>" if note else ""}</div>'


# --- sections ---------------------------------------------------------------------------------------------

def _header(data: ReportData, generated_at: dt.datetime) -> str:
    accounts = {kind: " · ".join(escape(a.name) for a in data.accounts if a.kind == kind) for kind in ("Pinterest", "Ads")}
    latest = " · ".join(f"{source} {_utc(moment)}" for source, moment in data.latest_extracted_at.items() if moment)
    return (
        '<header class="top"><div><p class="eyebrow">Pinterest analytics report</p>'
        f"<h1>{escape(range_label(data.range))}</h1>"
        f'<p class="sub">{data.range.days} UTC days ({data.range}), compared with the {data.range.days} days before '
        f"({data.previous}): each day with the day {data.range.days} days earlier, on the days final in both. "
        "Numbers that may still change are shown apart, never in a change.</p></div>"
        '<dl class="meta">'
        f"<dt>Pinterest accounts</dt><dd>{accounts['Pinterest'] or 'none in this range'}</dd>"
        f"<dt>Ad accounts</dt><dd>{accounts['Ads'] or 'none in this range'}</dd>"
        f"<dt>Latest extraction</dt><dd>{escape(latest) or 'none'}</dd>"
        f"<dt>Generated</dt><dd>{escape(_utc(generated_at))}</dd></dl></header>")


def _kpis(data: ReportData) -> str:
    if not data.kpis:
        return _empty("kpis-empty", "No data in this range", "Nothing was loaded for these dates yet.")
    return f'<section class="kpis" id="kpis">{"".join(_kpi(k) for k in data.kpis)}</section>'


def _kpi(kpi: Kpi) -> str:
    """A tile: the range's total, the change over the comparable days with what it compares, and the part of the
    total not final yet."""
    value = 0.0 if kpi.value is None else kpi.value
    exact = _money(value, kpi.currency) if kpi.currency else svg.grouped(value)
    shown = svg.compact(round(value, 2)) + (f" <small>{escape(kpi.currency)}</small>" if kpi.currency else "")
    label = kpi.label + (f" ({kpi.currency})" if kpi.currency else "")
    return (f'<div class="kpi"><span class="kpi-label">{escape(label)}</span>'
            f'<span class="kpi-value" title="{escape(exact)}">{shown}</span>{_delta(kpi)}{_pending(kpi)}</div>')


def _delta(kpi: Kpi) -> str:
    """The change and, below it, the days it compares (all of the range's, or those final in both periods)."""
    change = kpi.change
    if change is None:
        return f'<span class="delta none">{escape(kpi.not_compared)}</span>'
    basis = (f"all {change.days} days final in both periods" if change.days == kpi.range_days else
             f"{change.days} of {kpi.range_days} days: those final in both periods")
    basis = f'<span class="basis">{basis}, each with the day {kpi.range_days} days before</span>'
    if change.previous == 0:
        return f'<span class="delta none">previous period: 0</span>{basis}'
    ratio = (change.current - change.previous) / change.previous
    tone = "neutral" if kpi.higher_is_better is None or abs(ratio) < 0.0005 else \
        ("good" if (ratio > 0) == kpi.higher_is_better else "bad")
    arrow = "▲" if ratio > 0 else ("▼" if ratio < 0 else "■")
    digits = 2 if kpi.currency else 0
    title = (f"these {change.days} days: {svg.grouped(change.current, digits)}; "
             f"the same days a period before: {svg.grouped(change.previous, digits)}")
    return (f'<span class="delta {tone}" title="{escape(title)}">{arrow} {abs(ratio):.1%} vs the '
            f"{kpi.range_days} days before</span>{basis}")


def _pending(kpi: Kpi) -> str:
    """The days of the total not final yet, and what they add to it so far (unless the whole total)."""
    if not kpi.not_final_days:
        return ""
    if kpi.not_final_days == kpi.range_days:
        return f'<span class="pending">not final yet: all {kpi.range_days} days, may still change</span>'
    so_far = f", {svg.compact(round(kpi.not_final_value, 2))} so far" if kpi.not_final_value else ""
    return (f'<span class="pending">not final yet: {kpi.not_final_days} day{"s" if kpi.not_final_days != 1 else ""}'
            f"{escape(so_far)}, may still change</span>")


_TREND_LINES = (("Saves", "save"), ("Pin clicks", "pin_click"), ("Outbound clicks", "outbound_click"))


def _organic_trend(data: ReportData) -> str:
    lede = ("Unsplit organic totals per UTC day (<code>user_account_daily</code>, <code>NO_SPLIT</code>). "
            "Hatched days are not final yet (<code>ESTIMATE</code> or <code>PROCESSING</code>): "
            "their numbers will still change; a day still processing has no numbers at all.")
    if not data.organic_days:
        return _section("organic", "Organic: daily trend", lede, _empty(
            "organic-empty", "No organic data in this range",
            "Organic analytics come from <code>pinterest-etl run</code> (or <code>--only organic</code>)."))
    domain = data.range.dates()
    not_final = {d.date for d in data.organic_days if not d.is_final}

    def series(name: str, column: str, color: str) -> svg.Series:
        return svg.Series(name, color, [svg.DayValue(
            d.date, getattr(d, column), d.is_final,
            f"{d.date}: {svg.grouped(getattr(d, column))} {name.lower()} ({d.data_status or 'no status'}; "
            f"content_type {d.content_type})")
            for d in data.organic_days])

    impressions = svg.daily_bars("chart-organic-impressions", "Daily organic impressions", domain,
                                 series("Impressions", "impression", "impression"), "impressions", not_final, FULL_WIDTH)
    engagement = svg.daily_lines("chart-organic-engagement", "Daily saves, pin clicks and outbound clicks", domain,
                                 [series(name, column, column) for name, column in _TREND_LINES], "per day", not_final, FULL_WIDTH)
    note = _content_type_note(data.organic_content_types, [d.date for d in data.organic_days if "ALL" in d.content_type])
    return _section("organic", "Organic: daily trend", lede, _card("Impressions", impressions, note)
                    + _card("Saves, pin clicks and outbound clicks", engagement, note))


def _content_type_note(content_types: tuple[str, ...], days_with_all: list[dt.date]) -> str:
    """Which content type the account numbers are of: ORGANIC (organic activity only) or, where it is not stored,
    ALL (paid activity included); when they mix, the days with ALL are named, so a step in the trend is not read
    as a change of activity."""
    if content_types == ("ORGANIC",):
        return "Account totals of <code>content_type = 'ORGANIC'</code>: organic activity only, no paid."
    if content_types == ("ALL",):
        return ("Account totals of <code>content_type = 'ALL'</code>: paid activity included (no "
                "<code>ORGANIC</code> rows are stored for this range; see <code>PINTEREST_CONTENT_TYPES</code>).")
    return ("Account totals of <code>content_type = 'ORGANIC'</code> where stored, else <code>'ALL'</code> "
            f"(paid activity included) on the days or accounts without <code>ORGANIC</code> rows: "
            f"{len(days_with_all)} day(s) with <code>'ALL'</code>, {escape(_day_spans(days_with_all))}. "
            "A step between them is the switch of content type, not a change of activity.")


def _day_spans(days: list[dt.date]) -> str:
    """Sorted days as runs of consecutive days: `2026-10-01..2026-10-20, 2026-10-25`."""
    spans: list[list[dt.date]] = []
    for day in days:
        if spans and day - spans[-1][1] == dt.timedelta(days=1):
            spans[-1][1] = day
        else:
            spans.append([day, day])
    return ", ".join(str(first) if first == last else f"{first}..{last}" for first, last in spans)


def _top_pins(data: ReportData) -> str:
    lede = (f"The pins with the most saves and the most impressions over {escape(str(data.range))} "
            "(<code>pin_daily</code> summed; hover a bar for the exact numbers).")
    if not data.top_by_saves and not data.top_by_impressions:
        return _section("top-pins", "Top pins", lede, _empty("top-pins-empty", "No pin analytics in this range", ""))

    def bars(ranks: list[PinRank], metric: str, other: str) -> list[svg.RankedBar]:
        return [svg.RankedBar(
            r.pin_id, r.title or "(untitled pin)",
            f"pin {r.pin_id} · {svg.compact(getattr(r, other))} {other}",
            getattr(r, metric),
            f"{r.title or '(untitled pin)'}\npin {r.pin_id}\n{svg.grouped(r.saves)} saves, "
            f"{svg.grouped(r.impressions)} impressions" + (f"\n{r.not_final_days} day(s) not final" if r.not_final_days else ""))
            for r in ranks]

    saves = svg.ranked_bars("chart-top-pins-saves", "Top pins by saves", bars(data.top_by_saves, "saves", "impressions"),
                            "save", "saves")
    impressions = svg.ranked_bars("chart-top-pins-impressions", "Top pins by impressions",
                                  bars(data.top_by_impressions, "impressions", "saves"), "impression", "impressions")
    return _section("top-pins", "Top pins", lede, '<div class="grid-2">' + _card("By saves", saves)
                    + _card("By impressions", impressions) + "</div>")


def _campaigns(data: ReportData) -> str:
    lede = ("Spend and conversions per campaign over the range, one chart per currency (money is never converted "
            "between currencies; <code>*_micro_dollar</code> / 10<sup>6</sup>), as <code>campaign_performance</code> "
            "shows them" + (f", attribution <code>{escape(next(iter(data.attributions)))}</code>"
                            if len(data.attributions) == 1 else "") + ".")
    if not data.campaigns:
        return _section("ads", "Ads: spend vs conversions by campaign", lede, _empty(
            "ads-empty", "No ads data in this range",
            "Ads analytics come from <code>pinterest-etl run</code> (or <code>--only ads</code>)."))
    currencies = list(dict.fromkeys(c.currency for c in data.campaigns))
    charts = []
    for i, currency in enumerate(currencies):
        points = [svg.ScatterPoint(c.campaign_id, c.spend, c.conversions, c.name or c.campaign_id, _campaign_tooltip(c))
                  for c in data.campaigns if c.currency == currency and c.conversions is not None]
        if not points:  # conversions not requested (PINTEREST_ADS_COLUMNS): unknown, never drawn as 0
            charts.append(_card(f"{currency}: no conversions", _empty(
                f"conversions-unknown-{currency.lower()}", "Conversions were not requested",
                "<code>PINTEREST_ADS_COLUMNS</code> leaves <code>TOTAL_CONVERSIONS</code> out for this range.")))
            continue
        chart = svg.scatter(f"chart-spend-conversions-{currency.lower()}", f"Spend vs conversions, {currency}", points,
                            f"spend ({currency})", "conversions", f"series{i % 4}")
        charts.append(_card(f"{currency}: {len(points)} campaign{'s' if len(points) != 1 else ''}", chart))
    note = _attribution_note(data.attributions, data.other_attribution_rows)
    return _section("ads", "Ads: spend vs conversions by campaign", lede,
                    f'<div class="grid-2">{"".join(charts)}</div>' + _campaign_table(data.campaigns) + note)


def _attribution_note(attributions: dict[str, int], superseded_rows: int) -> str:
    """What the ads numbers are counted under when the settings changed: each ad account and day under its newest
    extraction's setting, as in the views; rows of replaced settings are not shown."""
    if len(attributions) < 2 and not superseded_rows:
        return ""
    text = ""
    if len(attributions) > 1:
        shares = "; ".join(f"<code>{escape(setting)}</code> on {days} account-day{'s' if days != 1 else ''}"
                           for setting, days in attributions.items())
        text = (f"The attribution settings changed inside this range: its conversions are counted under different "
                f"windows ({shares}; newest first). Each ad account and day is shown under the setting of its newest "
                "extraction, as in the reporting views; re-pull the older days to count them alike. ")
    if superseded_rows:
        text += (f"{superseded_rows} campaign-day rows of this range, loaded under a setting replaced since, are not "
                 "shown (numbers under different settings are never added).")
    return f'<p class="note" id="attribution-note">{text.strip()}</p>'


def _campaign_tooltip(c: CampaignResult) -> str:
    per_conversion = _money(c.spend / c.conversions, c.currency) if c.conversions else "n/a"
    return (f"{c.name or c.campaign_id} (campaign {c.campaign_id})\nspend {_money(c.spend, c.currency)}, "
            f"{svg.grouped(c.conversions)} conversions, {per_conversion} per conversion")


def _campaign_table(campaigns: list[CampaignResult]) -> str:
    head = ("<tr><th>Campaign</th><th>Ad account</th><th>Spend</th><th>Conversions</th><th>Cost / conversion</th>"
            "<th>Checkout value</th><th>ROAS</th><th>Days (not final)</th></tr>")
    rows = []
    for c in campaigns:
        per_conversion = _money(c.spend / c.conversions, c.currency) if c.conversions else "–"
        value = "–" if c.checkout_value is None else _money(c.checkout_value, c.currency)
        roas = f"{c.checkout_value / c.spend:.2f}" if c.spend and c.checkout_value is not None else "–"
        rows.append(f"<tr><td>{escape(c.name or '(unnamed)')}<br><small class=sub>{escape(c.campaign_id)}</small></td>"
                    f"<td>{escape(c.ad_account_id)}</td><td>{escape(_money(c.spend, c.currency))}</td>"
                    f"<td>{'–' if c.conversions is None else svg.grouped(c.conversions)}</td><td>{escape(per_conversion)}</td>"
                    f"<td>{escape(value)}</td><td>{roas}</td>"
                    f"<td>{c.days} ({c.not_final_days})</td></tr>")
    return (f'<div class="card"><h3>Every campaign with delivery</h3><div class="table-wrap">'
            f'<table id="campaigns-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div></div>')


def _freshness(data: ReportData, generated_at: dt.datetime) -> str:
    lede = ("Entities per UTC day (<code>daily_status</code>, organic and ads), each counted once whatever its split "
            "buckets, content types or attribution settings: final when all its rows of the day are final, which will "
            "not change; the others are re-pulled by the daily run until they are final.")
    latest = "".join(f"<dt>Latest {escape(source)} extraction</dt><dd>{escape(_utc(moment) + _age(moment, generated_at))}</dd>"
                     for source, moment in data.latest_extracted_at.items())
    facts = f'<dl class="meta">{latest}</dl>'
    if not data.freshness:
        return _section("freshness", "Data freshness", lede, _empty("freshness-empty", "No rows in this range", facts))
    stacks = [svg.Series(f"{source} {state}", color, [svg.DayValue(d.date, getattr(d, column), state == "final", "")
                                                      for d in data.freshness], hatched=state != "final")
              for source, color in (("organic", "final"), ("ads", "series0"))
              for state, column in (("final", f"{source}_final"), ("not final", f"{source}_not_final"))]
    tooltips = {d.date: f"{d.date}: {d.final:,} final, {d.not_final:,} not final entities\norganic {d.organic_final:,} final, "
                        f"{d.organic_not_final:,} not final\nads {d.ads_final:,} final, {d.ads_not_final:,} not final"
                for d in data.freshness}
    chart = svg.stacked_daily_bars("chart-freshness", "Final and not-final entities per day", data.range.dates(),
                                   stacks, "entities", tooltips, FULL_WIDTH)
    return _section("freshness", "Data freshness", lede, _card(
        "Final vs not final entities", chart + facts, _days_that_may_change(data)))


def _days_that_may_change(data: ReportData) -> str:
    """How many days of each source still have numbers that may change: organic days still PROCESSING or ESTIMATE,
    ads days inside the conversion attribution window (they are not final for a month by design)."""
    days = len(data.freshness)
    organic = sum(1 for d in data.freshness if d.organic_not_final)
    ads = sum(1 for d in data.freshness if d.ads_not_final)
    parts = ([f"organic numbers on {organic} of {days} days"] if organic else []) + \
        ([f"ads numbers on {ads} of {days} days, as conversions still arrive inside the attribution window"]
         if ads else [])
    return f"May still change: {'; '.join(parts)}." if parts else "Every number of these days is final."


def _footer(warehouse_path: str) -> str:
    return (f"<footer>Written by <code>pinterest-etl report</code> from <code>{escape(warehouse_path)}</code>. "
            "Organic numbers are summed over the Pinterest accounts; rates are never summed. "
            "Hover a bar or point for its exact value.</footer>")
