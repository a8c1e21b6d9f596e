"""Inline SVG charts for the annual report, written by hand: no JavaScript, fonts, stylesheets or links.

Every function is pure: data in, one ``<svg>`` element out (a ``str``; the page inlines it). Text is
drawn in the page's own font (``font-family: inherit``), labels are escaped, and the SVG carries no
namespace URL or external reference, so a report stays one self-contained file that renders offline
and prints to PDF. Widths are in CSS pixels; the page scales each chart to its column
(``width: 100%``).

    bar_chart        horizontal bars, one or more series per row (e.g. completeness and timeliness)
    stacked_bar_chart  horizontal stacked bars with a legend (targets by status, per pillar)
    pyramid_chart    a centred pyramid (skill grades from the lowest up), or two-sided like a
                     population pyramid when a left series is given
    trend_chart      a small line over years with gaps for missing years (a sparkline with axis labels)
    interval_chart   point estimates with their confidence intervals (survey estimates)
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

FONT_SIZE = 12
GRID = "#d9dde3"
INK = "#1f2933"
MUTED = "#6b7785"


@dataclass(frozen=True)
class Series:
    """One series of a chart: a label for the legend, a colour and one value per row (None = no value)."""

    label: str
    values: Sequence[float | None]
    color: str


@dataclass(frozen=True)
class Segment:
    """One part of a stacked bar: the key its counts are stored under, a legend label and a colour."""

    key: str
    label: str
    color: str


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Approximate drawn width of ``text``: CJK characters are a full em, others about half."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else 0.56 * size for ch in text)


def fmt_number(value: float | None, decimals: int = 0) -> str:
    """``12,345`` / ``87.9``; an en dash for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{decimals}f}"


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'role="img" aria-label="{escape(title)}" font-size="{FONT_SIZE}" font-family="inherit">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    color: str = INK,
    size: float | None = None,
    weight: str | None = None,
) -> str:
    extra = (f' font-size="{size:g}"' if size else "") + (f' font-weight="{weight}"' if weight else "")
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{color}" dominant-baseline="middle"{extra}>'
        f"{escape(text)}</text>"
    )


def _rect(x: float, y: float, w: float, h: float, color: str, title: str | None = None, *, dashed: bool = False) -> str:
    style = f'fill="none" stroke="{color}" stroke-dasharray="3 2"' if dashed else f'fill="{color}"'
    inner = f"<title>{escape(title)}</title>" if title else ""
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" {style}>{inner}</rect>'


def _legend(items: Sequence[tuple[str, str]], x: float, y: float, max_width: float) -> tuple[list[str], float]:
    """Colour swatches with labels, wrapped to ``max_width``; returns the elements and the height used."""
    body: list[str] = []
    cx, cy = x, y
    for label, color in items:
        w = 16 + text_width(label) + 14
        if cx + w > x + max_width and cx > x:
            cx, cy = x, cy + 18
        body.append(_rect(cx, cy - 5, 10, 10, color))
        body.append(_text(cx + 14, cy, label))
        cx += w
    return body, cy - y + 18


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    max_value: float | None = None,
    unit: str = "",
    decimals: int = 1,
    width: float = 640,
) -> str:
    """Horizontal bars, one group per label, one bar per series; a missing value is marked 无数据."""
    values = [v for s in series for v in s.values if v is not None]
    top = max_value if max_value is not None else max(values, default=0.0) or 1.0
    label_w = min(max((text_width(lbl) for lbl in labels), default=0.0) + 10, width * 0.4)
    value_w = text_width(f"{top:,.{decimals}f}{unit}") + 8
    plot_w = max(width - label_w - value_w, 40)
    bar_h, gap = 11, 9
    group_h = bar_h * len(series) + gap
    body, legend_h = _legend([(s.label, s.color) for s in series], label_w, 10, plot_w) if len(series) > 1 else ([], 0)
    y0 = legend_h + 4
    height = y0 + group_h * len(labels) + 16
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + plot_w * tick
        body.append(f'<line x1="{x:.1f}" y1="{y0:.1f}" x2="{x:.1f}" y2="{height - 14:.1f}" stroke="{GRID}"/>')
        body.append(
            _text(x, height - 6, fmt_number(top * tick, 0 if top >= 10 else 1), anchor="middle", color=MUTED, size=10)
        )
    for row, label in enumerate(labels):
        gy = y0 + row * group_h + gap / 2
        body.append(_text(label_w - 8, gy + bar_h * len(series) / 2, label, anchor="end"))
        for k, s in enumerate(series):
            value, y = s.values[row], gy + k * bar_h
            if value is None:
                body.append(_text(label_w + 4, y + bar_h / 2, "无数据", color=MUTED, size=10))
                continue
            w = plot_w * min(max(value, 0.0) / top, 1.0)
            body.append(_rect(label_w, y + 1, w, bar_h - 2, s.color, f"{label} {s.label} {value:,.{decimals}f}{unit}"))
            body.append(_text(label_w + w + 4, y + bar_h / 2, f"{value:,.{decimals}f}{unit}", size=10))
    return _svg(width, height, title, body)


def stacked_bar_chart(
    labels: Sequence[str],
    segments: Sequence[Segment],
    counts: Sequence[Mapping[str, int]],
    *,
    title: str,
    width: float = 640,
) -> str:
    """Horizontal stacked bars of counts (one bar per label), the total at the end, a legend on top."""
    label_w = min(max((text_width(lbl) for lbl in labels), default=0.0) + 10, width * 0.35)
    totals = [sum(int(c.get(s.key, 0) or 0) for s in segments) for c in counts]
    top = max(totals, default=0) or 1
    total_w = text_width(f"{top:,}") + 10
    plot_w = max(width - label_w - total_w, 40)
    body, legend_h = _legend([(s.label, s.color) for s in segments], label_w, 10, plot_w + total_w)
    bar_h, gap = 20, 10
    y0 = legend_h + 6
    for row, (label, row_counts) in enumerate(zip(labels, counts, strict=True)):
        y = y0 + row * (bar_h + gap)
        body.append(_text(label_w - 8, y + bar_h / 2, label, anchor="end"))
        x = label_w
        for s in segments:
            n = int(row_counts.get(s.key, 0) or 0)
            if n <= 0:
                continue
            w = plot_w * n / top
            body.append(_rect(x, y, w, bar_h, s.color, f"{label} {s.label} {n}"))
            if w >= text_width(str(n), 11) + 4:
                body.append(_text(x + w / 2, y + bar_h / 2, str(n), anchor="middle", color="#ffffff", size=11))
            x += w
        body.append(_text(x + 5, y + bar_h / 2, f"{totals[row]:,}", color=MUTED))
    height = y0 + len(labels) * (bar_h + gap) + 4
    return _svg(width, height, title, body)


def pyramid_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    left_values: Sequence[float | None] | None = None,
    series_labels: tuple[str, str] = ("", ""),
    colors: Sequence[str] | None = None,
    suppressed_label: str = "数据过少不公布",
    shares_of: float | None = None,
    width: float = 640,
) -> str:
    """A pyramid, ``labels`` and ``values`` from the bottom level to the top.

    One series: bars centred on the axis, so the levels stack into a pyramid. With ``left_values``:
    two-sided like a population pyramid (left series to the left of the centre line, ``values`` to
    the right; ``series_labels`` name the sides). ``None`` is a suppressed cell: a dashed outline and
    ``suppressed_label``, never a bar of zero. With ``shares_of`` (a total), labels add the share.
    """
    two_sided = left_values is not None
    all_values = [v for v in (*values, *(left_values or ())) if v is not None]
    top = max(all_values, default=0.0) or 1.0
    label_w = max((text_width(lbl) for lbl in labels), default=0.0) + 12
    value_room = text_width(f"{top:,.0f} (100.0%)") + 8
    half = max((width - label_w - 2 * value_room) / 2, 30)
    centre = label_w + value_room + half
    bar_h, gap = 20, 6
    head = 22 if two_sided and any(series_labels) else 4
    body: list[str] = []
    if head > 4:
        body.append(_text(centre - 8, 10, series_labels[0], anchor="end", color=MUTED))
        body.append(_text(centre + 8, 10, series_labels[1], color=MUTED))
    rows = len(labels)
    palette = list(colors or [])

    def describe(v: float) -> str:
        share = f" ({100 * v / shares_of:.1f}%)" if shares_of else ""
        return f"{v:,.0f}{share}"

    for i, label in enumerate(labels):
        y = head + (rows - 1 - i) * (bar_h + gap)  # the first label is the bottom level
        color = palette[i % len(palette)] if palette else "#3b6ea8"
        body.append(_text(label_w - 8, y + bar_h / 2, label, anchor="end"))
        right = values[i]
        if two_sided:
            left = left_values[i] if left_values is not None else None
            sides = ((left, -1), (right, 1))
        else:
            sides = ((right, 0),)
        for value, side in sides:
            if value is None:
                w = half * 0.12
                x = centre - w / 2 if side == 0 else (centre - w if side < 0 else centre)
                body.append(_rect(x, y + 1, w, bar_h - 2, MUTED, suppressed_label, dashed=True))
                tx = x + w + 4 if side >= 0 else x - 4
                body.append(
                    _text(
                        tx,
                        y + bar_h / 2,
                        suppressed_label,
                        anchor="start" if side >= 0 else "end",
                        color=MUTED,
                        size=10,
                    )
                )
                continue
            w = (2 * half if side == 0 else half) * max(value, 0.0) / top
            x = centre - w / 2 if side == 0 else (centre - w if side < 0 else centre)
            body.append(_rect(x, y + 1, w, bar_h - 2, color, f"{label} {describe(value)}"))
            tx = x + w + 4 if side >= 0 else x - 4
            body.append(_text(tx, y + bar_h / 2, describe(value), anchor="start" if side >= 0 else "end", size=10))
    height = head + rows * (bar_h + gap) + 2
    if two_sided:
        body.append(f'<line x1="{centre:.1f}" y1="{head:.1f}" x2="{centre:.1f}" y2="{height:.1f}" stroke="{INK}"/>')
    return _svg(width, height, title, body)


def trend_chart(
    points: Sequence[tuple[int, float | None]],
    *,
    title: str,
    highlight: int | None = None,
    unit: str = "",
    color: str = "#3b6ea8",
    width: float = 260,
    height: float = 90,
) -> str:
    """A small line over years: dots for values, gaps for missing years, first and last year on the axis."""
    body: list[str] = []
    known = [(year, v) for year, v in points if v is not None]
    pad_l, pad_r, pad_t, pad_b = 46, 56, 12, 18
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    years = [year for year, _ in points]
    if not years:
        return _svg(width, height, title, [_text(width / 2, height / 2, "无数据", anchor="middle", color=MUTED)])
    y_min = min((v for _, v in known), default=0.0)
    y_max = max((v for _, v in known), default=1.0)
    if y_max == y_min:
        y_min, y_max = y_min - (abs(y_min) * 0.1 or 1), y_max + (abs(y_max) * 0.1 or 1)
    span = (years[-1] - years[0]) or 1

    def xy(year: int, value: float) -> tuple[float, float]:
        return (pad_l + plot_w * (year - years[0]) / span, pad_t + plot_h * (1 - (value - y_min) / (y_max - y_min)))

    body.append(
        f'<line x1="{pad_l}" y1="{pad_t + plot_h:.1f}" x2="{pad_l + plot_w:.1f}" y2="{pad_t + plot_h:.1f}" '
        f'stroke="{GRID}"/>'
    )
    run: list[str] = []
    for year, value in [*points, (None, None)]:
        if value is None or year is None:
            if len(run) > 1:
                body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="2"/>')
            run = []
            continue
        x, y = xy(year, value)
        run.append(f"{x:.1f},{y:.1f}")
    for year, value in known:
        x, y = xy(year, value)
        r = 4 if year == highlight else 2.5
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}"><title>{year}年 '
            f"{escape(fmt_number(value, 2 if abs(value) < 100 else 0))}{escape(unit)}</title></circle>"
        )
    if known:
        last_year, last = known[-1]
        x, y = xy(last_year, last)
        body.append(
            _text(x + 6, y, fmt_number(last, 0 if last == int(last) or abs(last) >= 100 else 1), size=11, weight="bold")
        )
    if known:  # the value axis: its lowest and highest value, so a small change does not look dramatic
        for value in (y_min, y_max):
            body.append(
                _text(
                    pad_l - 6,
                    xy(years[0], value)[1],
                    fmt_number(value, 0 if abs(value) >= 100 else 1),
                    anchor="end",
                    color=MUTED,
                    size=10,
                )
            )
    body.append(_text(pad_l, height - 6, str(years[0]), color=MUTED, size=10))
    body.append(_text(pad_l + plot_w, height - 6, str(years[-1]), anchor="end", color=MUTED, size=10))
    return _svg(width, height, title, body)


def interval_chart(
    labels: Sequence[str],
    estimates: Sequence[float | None],
    margins: Sequence[float | None],
    *,
    title: str,
    max_value: float = 100.0,
    unit: str = "%",
    color: str = "#3b6ea8",
    width: float = 640,
) -> str:
    """Point estimates with their 95 % intervals (estimate ± margin, clipped to the scale) as whiskers."""
    label_w = min(max((text_width(lbl) for lbl in labels), default=0.0) + 10, width * 0.4)
    value_w = text_width(f"{max_value:.1f}{unit} (±{max_value:.1f})") + 10
    plot_w = max(width - label_w - value_w, 40)
    row_h = 22
    body: list[str] = []
    height = len(labels) * row_h + 22
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + plot_w * tick
        body.append(f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{height - 16:.1f}" stroke="{GRID}"/>')
        body.append(_text(x, height - 7, f"{max_value * tick:g}{unit}", anchor="middle", color=MUTED, size=10))

    def px(v: float) -> float:
        return label_w + plot_w * min(max(v / max_value, 0.0), 1.0)

    for i, label in enumerate(labels):
        y = 4 + i * row_h + row_h / 2
        body.append(_text(label_w - 8, y, label, anchor="end"))
        est, margin = estimates[i], margins[i]
        if est is None:
            body.append(_text(label_w + 4, y, "样本不足，不公布", color=MUTED, size=10))
            continue
        if margin is not None:
            lo, hi = max(est - margin, 0.0), min(est + margin, max_value)
            body.append(
                f'<line x1="{px(lo):.1f}" y1="{y:.1f}" x2="{px(hi):.1f}" y2="{y:.1f}" stroke="{color}" '
                f'stroke-width="2"/>'
            )
            for end in (lo, hi):
                body.append(
                    f'<line x1="{px(end):.1f}" y1="{y - 5:.1f}" x2="{px(end):.1f}" y2="{y + 5:.1f}" '
                    f'stroke="{color}" stroke-width="2"/>'
                )
        body.append(
            f'<circle cx="{px(est):.1f}" cy="{y:.1f}" r="4.5" fill="{color}"><title>{escape(label)} '
            f"{est:.1f}{escape(unit)}</title></circle>"
        )
        moe = f" (±{margin:.1f})" if margin is not None else ""
        body.append(_text(label_w + plot_w + 8, y, f"{est:.1f}{unit}{moe}", size=11))
    return _svg(width, height, title, body)
