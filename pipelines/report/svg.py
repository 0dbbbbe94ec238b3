"""Charts as inline SVG: pure functions from data to an SVG string, every text escaped, styled by CHART_CSS.

Every data mark carries the class `mark` (and `not-final` when its numbers may still change), so a reader
of the markup, a test for one, can count what a chart shows. Colors are CSS variables (`--c-<color>`), so
one chart follows the page's light or dark theme.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from html import escape

CHART_CSS = """
:root {
  --c-impression: #d6002a; --c-save: #2563eb; --c-pin_click: #c2620a; --c-outbound_click: #0b8a5f;
  --c-final: #0f766e; --c-not_final: #c2620a; --c-neutral: #8b93a1;
  --c-series0: #7c3aed; --c-series1: #0e7490; --c-series2: #be185d; --c-series3: #4d7c0f;
}
@media (prefers-color-scheme: dark) {
  :root {
    --c-impression: #ff5c72; --c-save: #6ea8ff; --c-pin_click: #f5a54a; --c-outbound_click: #3fd19c;
    --c-final: #2dd4bf; --c-not_final: #f5a54a; --c-neutral: #8b93a1;
    --c-series0: #b794ff; --c-series1: #38c6e0; --c-series2: #f472b6; --c-series3: #a3e635;
  }
}
.chart { display: block; width: 100%; height: auto; overflow: visible; }
.chart text { fill: var(--muted, #5f6672); font-size: 11px; font-variant-numeric: tabular-nums; }
.chart .grid { stroke: var(--grid, #e4e6ea); stroke-width: 1; }
.chart .axis { stroke: var(--axis, #9aa1ad); stroke-width: 1; }
.chart .line { fill: none; stroke-width: 2.25; stroke-linejoin: round; stroke-linecap: round; }
.chart .line.dashed { stroke-dasharray: 4 4; stroke-width: 1.75; }
.chart .point { stroke: var(--card, #fff); stroke-width: 1.5; }
.chart .point.not-final { stroke-width: 2; }
.chart .mark:hover { opacity: 0.75; }
.chart .leader { stroke-width: 1; stroke-opacity: 0.6; }
.chart text.label { fill: var(--text, #1d2129); font-size: 12px; }
.chart text.value { fill: var(--text, #1d2129); font-weight: 600; }
.chart text.strong { fill: var(--text, #1d2129); font-weight: 600; font-size: 12px; }
.chart text.small { font-size: 10px; }
"""


@dataclasses.dataclass(frozen=True)
class Frame:
    """The chart's viewBox and the margins around its plot area."""

    width: int = 720
    height: int = 260
    left: int = 64
    right: int = 20
    top: int = 40
    bottom: int = 46

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    @property
    def base(self) -> float:
        return self.height - self.bottom


@dataclasses.dataclass(frozen=True)
class DayValue:
    """One day's value in a daily chart; `final` False when the value may still change."""

    date: dt.date
    value: float | None
    final: bool
    tooltip: str


@dataclasses.dataclass(frozen=True)
class Series:
    """A named series of daily values aligned with the chart's days; `color` names a `--c-<color>` variable."""

    name: str
    color: str
    values: Sequence[DayValue]
    hatched: bool = False


@dataclasses.dataclass(frozen=True)
class ScatterPoint:
    key: str
    x: float
    y: float
    label: str
    tooltip: str


@dataclasses.dataclass(frozen=True)
class RankedBar:
    key: str
    label: str
    note: str
    value: float
    tooltip: str


# --- formatting -------------------------------------------------------------------------------------------

def compact(value: float) -> str:
    """A short number for ticks and labels: 950, 12.5k, 3.4M."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def grouped(value: float | None, decimals: int = 0) -> str:
    """A full number with thousands separators, for tooltips and tables ("n/a" when absent)."""
    return "n/a" if value is None else f"{value:,.{decimals}f}"


def day_label(day: dt.date) -> str:
    return f"{day:%b} {day.day}"


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `maximum` (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if not maximum or maximum <= 0 or not math.isfinite(maximum):
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(maximum / step - 1e-9) + 1)]


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


# --- building blocks --------------------------------------------------------------------------------------

def _open(chart_id: str, kind: str, frame: Frame, label: str) -> str:
    return (f'<svg id="{escape(chart_id)}" class="chart chart-{kind}" viewBox="0 0 {frame.width} {frame.height}" '
            f'role="img" aria-label="{escape(label)}">')


def _text(x: float, y: float, text: str, css: str = "", anchor: str = "start", extra: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{cls}{extra}>{escape(text)}</text>'


def _tooltip(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _hatch(pattern_id: str, color: str, opacity: float = 1.0) -> str:
    return (f'<pattern id="{escape(pattern_id)}" patternUnits="userSpaceOnUse" width="6" height="6" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" '
            f'style="fill:var(--c-{color});fill-opacity:{0.16 * opacity:.2f}"/><line x1="1" y1="0" x2="1" y2="6" '
            f'style="stroke:var(--c-{color});stroke-width:2;stroke-opacity:{opacity:.2f}"/></pattern>')


def _legend(frame: Frame, items: Sequence[tuple[str, str, str | None]]) -> str:
    """Swatches along the top: (name, color, hatch pattern id or None)."""
    parts, x = [], float(frame.left)
    for name, color, pattern in items:
        fill = f'fill="url(#{escape(pattern)})" style="stroke:var(--c-{color})"' if pattern else \
            f'style="fill:var(--c-{color})"'
        parts.append(f'<rect x="{_n(x)}" y="12" width="12" height="12" rx="2" {fill}/>')
        parts.append(_text(x + 17, 22, name, "label"))
        x += 17 + 6.2 * len(name) + 20
    return "".join(parts)


def _y_axis(frame: Frame, ticks: list[float], label: str) -> str:
    top = ticks[-1] or 1
    parts = []
    for tick in ticks:
        y = frame.base - tick / top * frame.plot_height
        parts.append(f'<line class="grid" x1="{frame.left}" x2="{frame.width - frame.right}" y1="{_n(y)}" y2="{_n(y)}"/>')
        parts.append(_text(frame.left - 8, y + 4, compact(tick), anchor="end"))
    middle = frame.top + frame.plot_height / 2
    parts.append(_text(14, middle, label, "strong", "middle", f' transform="rotate(-90 14 {_n(middle)})"'))
    return "".join(parts)


class _DayScale:
    """Each day of the domain gets an equal band of the plot's width."""

    def __init__(self, frame: Frame, domain: Sequence[dt.date]):
        self.frame, self.domain = frame, list(domain)
        self.index = {day: i for i, day in enumerate(self.domain)}
        self.band = frame.plot_width / max(len(self.domain), 1)

    def start(self, day: dt.date) -> float:
        return self.frame.left + self.index[day] * self.band

    def center(self, day: dt.date) -> float:
        return self.start(day) + self.band / 2

    def axis(self, label: str = "UTC date") -> str:
        """Tick labels about every 70 pixels, the last day always labelled."""
        frame, n = self.frame, len(self.domain)
        step = max(1, math.ceil(n / max(frame.plot_width // 70, 1)))
        parts = [f'<line class="axis" x1="{frame.left}" x2="{frame.width - frame.right}" '
                 f'y1="{_n(frame.base)}" y2="{_n(frame.base)}"/>']
        for i in range(n - 1, -1, -step):
            x = self.center(self.domain[i])
            parts.append(f'<line class="axis" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(frame.base)}" y2="{_n(frame.base + 4)}"/>')
            parts.append(_text(x, frame.base + 17, day_label(self.domain[i]), anchor="middle"))
        parts.append(_text(frame.width - frame.right, frame.height - 6, label, "small", "end"))
        return "".join(parts)

    def not_final_bands(self, not_final: set[dt.date], pattern_id: str) -> str:
        """Hatched columns behind runs of consecutive days whose numbers may still change."""
        parts, run = [], []
        for day in [*self.domain, None]:
            if day is not None and day in not_final:
                run.append(day)
                continue
            if run:
                x, width = self.start(run[0]), self.band * len(run)
                parts.append(f'<rect class="band" x="{_n(x)}" y="{self.frame.top}" width="{_n(width)}" '
                             f'height="{_n(self.frame.plot_height)}" fill="url(#{escape(pattern_id)})">'
                             f'{_tooltip(f"{run[0]}..{run[-1]}: not final yet")}</rect>')
                if width >= 44:
                    parts.append(_text(x + width / 2, self.frame.top - 4, "not final", "small", "middle"))
                run = []
        return "".join(parts)


# --- charts -----------------------------------------------------------------------------------------------

def daily_bars(chart_id: str, label: str, domain: Sequence[dt.date], series: Series, y_label: str,
               not_final: set[dt.date] = frozenset(), frame: Frame = Frame()) -> str:
    """One bar per day with a value; bars of days that are not final are hatched, and every not-final day
    of the domain (also one without a value yet) is marked by a hatched column."""
    scale = _DayScale(frame, domain)
    bars = [p for p in series.values if p.value is not None and p.date in scale.index]
    ticks = nice_ticks(max((p.value for p in bars), default=0))
    hatch, band = f"{chart_id}-hatch", f"{chart_id}-band"
    width = max(scale.band * 0.72, 1.0)
    parts = [_open(chart_id, "bars", frame, label), "<defs>", _hatch(hatch, series.color), _hatch(band, "neutral", 0.35),
             "</defs>", _legend(frame, [(series.name, series.color, None), ("not final", series.color, hatch)]),
             _y_axis(frame, ticks, y_label), scale.not_final_bands(set(not_final), band)]
    for p in bars:
        height = p.value / ticks[-1] * frame.plot_height
        x = scale.center(p.date) - width / 2
        look = f'style="fill:var(--c-{series.color})"' if p.final else \
            f'fill="url(#{escape(hatch)})" style="stroke:var(--c-{series.color});stroke-width:1"'
        parts.append(f'<rect class="mark bar{"" if p.final else " not-final"}" data-date="{p.date}" x="{_n(x)}" '
                     f'y="{_n(frame.base - height)}" width="{_n(width)}" height="{_n(height)}" {look}>'
                     f'{_tooltip(p.tooltip)}</rect>')
    parts += [scale.axis(), "</svg>"]
    return "".join(parts)


def daily_lines(chart_id: str, label: str, domain: Sequence[dt.date], series: Sequence[Series], y_label: str,
                not_final: set[dt.date] = frozenset(), frame: Frame = Frame()) -> str:
    """One line per series with a point per day with a value; lines break over days without values, are
    dashed into and across days that are not final, whose points are hollow, over a hatched column."""
    scale = _DayScale(frame, domain)
    values = [p.value for s in series for p in s.values if p.value is not None]
    ticks = nice_ticks(max(values, default=0))
    band = f"{chart_id}-band"
    radius = _n(max(min(3.25, scale.band * 0.4), 1.25))  # points of a long range must not cover each other
    parts = [_open(chart_id, "lines", frame, label), "<defs>", _hatch(band, "neutral", 0.35), "</defs>",
             _legend(frame, [(s.name, s.color, None) for s in series]), _y_axis(frame, ticks, y_label),
             scale.not_final_bands(set(not_final), band)]

    def y(value: float) -> float:
        return frame.base - value / ticks[-1] * frame.plot_height

    for s in series:
        points = [p for p in s.values if p.value is not None and p.date in scale.index]
        for path, dashed in _line_runs(points, scale):
            d = " ".join(f"{'M' if i == 0 else 'L'}{_n(scale.center(p.date))},{_n(y(p.value))}" for i, p in enumerate(path))
            parts.append(f'<path class="line{" dashed" if dashed else ""}" d="{d}" style="stroke:var(--c-{s.color})"/>')
        for p in points:
            look = f"fill:var(--c-{s.color})" if p.final else f"fill:var(--card, #fff);stroke:var(--c-{s.color})"
            parts.append(f'<circle class="mark point{"" if p.final else " not-final"}" data-series="{escape(s.name)}" '
                         f'data-date="{p.date}" cx="{_n(scale.center(p.date))}" cy="{_n(y(p.value))}" r="{radius}" '
                         f'style="{look}">{_tooltip(p.tooltip)}</circle>')
    parts += [scale.axis(), "</svg>"]
    return "".join(parts)


def _line_runs(points: Sequence[DayValue], scale: _DayScale) -> list[tuple[list[DayValue], bool]]:
    """Consecutive-day stretches of a line, each solid (both ends final) or dashed."""
    runs: list[tuple[list[DayValue], bool]] = []
    for a, b in zip(points, points[1:]):
        if scale.index[b.date] != scale.index[a.date] + 1:
            continue
        dashed = not (a.final and b.final)
        if runs and runs[-1][1] == dashed and runs[-1][0][-1] is a:
            runs[-1][0].append(b)
        else:
            runs.append(([a, b], dashed))
    return runs


def stacked_daily_bars(chart_id: str, label: str, domain: Sequence[dt.date], stacks: Sequence[Series], y_label: str,
                       tooltips: dict[dt.date, str], frame: Frame = Frame()) -> str:
    """One column per day with values, its series stacked bottom-up in the given order (hatched series hatched)."""
    scale = _DayScale(frame, domain)
    by_day: dict[dt.date, list[tuple[Series, float]]] = {}
    for s in stacks:
        for p in s.values:
            if p.value and p.date in scale.index:
                by_day.setdefault(p.date, []).append((s, p.value))
    ticks = nice_ticks(max((sum(v for _, v in parts) for parts in by_day.values()), default=0))
    patterns = {s.name: f"{chart_id}-hatch-{i}" for i, s in enumerate(stacks) if s.hatched}
    width = max(scale.band * 0.72, 1.0)
    parts = [_open(chart_id, "stacked", frame, label), "<defs>",
             *(_hatch(patterns[s.name], s.color) for s in stacks if s.hatched), "</defs>",
             _legend(frame, [(s.name, s.color, patterns.get(s.name)) for s in stacks]), _y_axis(frame, ticks, y_label)]
    for day in sorted(by_day, key=scale.index.get):
        parts.append(f'<g class="mark day" data-date="{day}">{_tooltip(tooltips.get(day, str(day)))}')
        bottom = frame.base
        for s, value in by_day[day]:
            height = value / ticks[-1] * frame.plot_height
            look = f'fill="url(#{escape(patterns[s.name])})" style="stroke:var(--c-{s.color});stroke-width:1"' \
                if s.hatched else f'style="fill:var(--c-{s.color})"'
            parts.append(f'<rect class="segment" data-series="{escape(s.name)}" x="{_n(scale.center(day) - width / 2)}" '
                         f'y="{_n(bottom - height)}" width="{_n(width)}" height="{_n(height)}" {look}/>')
            bottom -= height
        parts.append("</g>")
    parts += [scale.axis(), "</svg>"]
    return "".join(parts)


def scatter(chart_id: str, label: str, points: Sequence[ScatterPoint], x_label: str, y_label: str, color: str,
            frame: Frame = Frame(width=540, height=320, left=64, bottom=50, top=20, right=16)) -> str:
    """One labelled point per item, both axes from zero; labels are moved apart vertically where they would
    overlap."""
    x_ticks = nice_ticks(max((p.x for p in points), default=0), 6)
    y_ticks = nice_ticks(max((p.y for p in points), default=0))
    parts = [_open(chart_id, "scatter", frame, label), _y_axis(frame, y_ticks, y_label)]

    def x(value: float) -> float:
        return frame.left + value / x_ticks[-1] * frame.plot_width

    parts.append(f'<line class="axis" x1="{frame.left}" x2="{frame.width - frame.right}" y1="{_n(frame.base)}" '
                 f'y2="{_n(frame.base)}"/>')
    for tick in x_ticks:
        parts.append(f'<line class="axis" x1="{_n(x(tick))}" x2="{_n(x(tick))}" y1="{_n(frame.base)}" '
                     f'y2="{_n(frame.base + 4)}"/>')
        parts.append(_text(x(tick), frame.base + 17, compact(tick), anchor="middle"))
    parts.append(_text(frame.left + frame.plot_width / 2, frame.height - 8, x_label, "strong", "middle"))
    centers = [(p, x(p.x), frame.base - p.y / y_ticks[-1] * frame.plot_height) for p in points]
    taken: list[Box] = [(cx - 7, cy - 7, cx + 7, cy + 7) for _, cx, cy in centers]
    for p, cx, cy in centers:
        parts.append(f'<circle class="mark point" data-key="{escape(p.key)}" cx="{_n(cx)}" cy="{_n(cy)}" r="6" '
                     f'style="fill:var(--c-{color});fill-opacity:.85">{_tooltip(p.tooltip)}</circle>')
    for p, cx, cy in sorted(centers, key=lambda c: c[2]):
        name = _truncate(p.label, 30)
        width = 6.2 * len(name)  # about the mean advance of a 12px sans-serif character
        left, baseline = _place_label(cx, cy, width, frame, taken)
        if baseline != cy + 4:  # moved away from its point: a leader line says whose label it is
            end = left if left > cx else left + width
            parts.append(f'<line class="leader" x1="{_n(cx)}" y1="{_n(cy)}" x2="{_n(end)}" y2="{_n(baseline - 4)}" '
                         f'style="stroke:var(--c-{color})"/>')
        parts.append(_text(left, baseline, name, "label"))
    parts.append("</svg>")
    return "".join(parts)


Box = tuple[float, float, float, float]  # left, top, right, bottom


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_label(cx: float, cy: float, width: float, frame: Frame, taken: list[Box]) -> tuple[float, float]:
    """The first spot for a point's label that covers no other label or point: beside the point (right, else
    left), then ever further above or below it. Returns the text's left end and baseline."""
    sides = [left for left in (cx + 10, cx - 10 - width) if frame.left <= left and left + width <= frame.width]
    for shift in (0, -14, 14, -28, 28, -42, 42):
        for left in sides or [cx + 10]:
            baseline = cy + 4 + shift
            box = (left, baseline - 11, left + width, baseline + 3)
            if not any(_overlaps(box, other) for other in taken):
                taken.append(box)
                return left, baseline
    return (sides or [cx + 10])[0], cy + 4


def ranked_bars(chart_id: str, label: str, rows: Sequence[RankedBar], color: str, value_name: str,
                width: int = 520) -> str:
    """Horizontal bars, largest first, each with its label and a note below it and its value at its end."""
    row_height, top, label_width, value_room = 34, 26, 210, 56
    frame = Frame(width=width, height=top + row_height * max(len(rows), 1) + 8, left=label_width, right=value_room,
                  top=top, bottom=8)
    largest = max((r.value for r in rows), default=0) or 1
    parts = [_open(chart_id, "ranked", frame, label), _text(width - 4, 14, value_name, "strong", "end")]
    for i, r in enumerate(rows):
        y = top + i * row_height
        length = max(r.value / largest * frame.plot_width, 1.0)
        parts.append(f'<g class="mark row" data-key="{escape(r.key)}">{_tooltip(r.tooltip)}')
        parts.append(_text(0, y + 13, f"{i + 1}. {_truncate(r.label, 30)}", "label"))
        parts.append(_text(0, y + 27, r.note, "small"))
        parts.append(f'<rect x="{label_width}" y="{y + 4}" width="{_n(length)}" height="18" rx="3" '
                     f'style="fill:var(--c-{color})"/>')
        parts.append(_text(label_width + length + 6, y + 17, compact(r.value), "value"))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
