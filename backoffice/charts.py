"""Small charts drawn on the server as inline SVG: no script, no third-party library, nothing a
Content-Security-Policy of ``'self'`` would refuse (presentation attributes, no ``style``).

Values are ``Decimal``; labels are given already formatted (thousands separators, dates), so
the chart knows nothing about money or time zones. Every bar and point carries a ``<title>``
that the browser shows on hover and a screen reader reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 96, 8, 10, 24


def _scale(lo: Decimal, hi: Decimal):
    if hi == lo:
        hi, lo = hi + 1, lo - 1
    plot = HEIGHT - TOP - BOTTOM

    def y(value: Decimal) -> Decimal:
        # A pixel coordinate, kept in Decimal like the amounts it scales (no float near money).
        return (TOP + plot * (hi - value) / (hi - lo)).quantize(Decimal("0.1"))

    return y


def _frame(title: str, y_labels: Sequence[tuple[float, str]], x_labels: Sequence[tuple[float, str]], body: str, css: str):
    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/>'
        '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#555">{}</text>',
        ((LEFT, WIDTH - RIGHT, y, y, LEFT - 4, y + 4, label) for y, label in y_labels),
    )
    xs = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#555">{}</text>',
        ((x, HEIGHT - 6, label) for x, label in x_labels),
    )
    return format_html(
        '<svg class="{}" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        "<title>{}</title>{}{}{}</svg>",
        css,
        WIDTH,
        HEIGHT,
        title,
        title,
        grid,
        mark_safe(body),  # noqa: S308 - built from format_html pieces below
        xs,
    )


def _x_positions(count: int) -> list[float]:
    plot = WIDTH - LEFT - RIGHT
    step = plot / max(count, 1)
    return [round(LEFT + step * (index + 0.5), 1) for index in range(count)]


def _x_labels(xs: list[float], labels: Sequence[str]) -> list[tuple[float, str]]:
    if not xs:
        return []
    picks = sorted({0, len(xs) // 2, len(xs) - 1})
    return [(xs[index], labels[index]) for index in picks]


def line_chart(
    *, title: str, values: Sequence[Decimal], x_labels: Sequence[str], tips: Sequence[str], fmt, css: str = "chart-line"
) -> SafeString:
    """One series as a line with a dot per value; y axis from the lowest to the highest value."""
    lo, hi = (min(values), max(values)) if values else (Decimal(0), Decimal(0))
    y = _scale(lo, hi)
    xs = _x_positions(len(values))
    points = " ".join(f"{x},{y(value)}" for x, value in zip(xs, values, strict=True))
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="3" fill="#417690"><title>{}</title></circle>',
        ((x, y(value), tip) for x, value, tip in zip(xs, values, tips, strict=True)),
    )
    body = format_html('<polyline points="{}" fill="none" stroke="#417690" stroke-width="2"/>{}', points, dots)
    y_labels = [(y(hi), fmt(hi)), (y(lo), fmt(lo))] if hi != lo else [(y(hi), fmt(hi))]
    return _frame(title, y_labels, _x_labels(xs, x_labels), body, css)


def bar_chart(
    *,
    title: str,
    series: Sequence[tuple[str, str, Sequence[Decimal]]],
    x_labels: Sequence[str],
    tips: Sequence[str],
    fmt,
    css: str = "chart-bars",
) -> SafeString:
    """Grouped bars from zero: ``series`` is ``[(name, colour, values), ...]``, all of one length."""
    count = len(x_labels)
    top = max([value for _name, _colour, values in series for value in values] + [Decimal(0)])
    y = _scale(Decimal(0), top)
    xs = _x_positions(count)
    slot = (WIDTH - LEFT - RIGHT) / max(count, 1)
    width = max(slot * 0.8 / max(len(series), 1), 1)
    bars = []
    for index, (x, tip) in enumerate(zip(xs, tips, strict=True)):
        for number, (_name, colour, values) in enumerate(series):
            value = values[index]
            left = round(x - slot * 0.4 + number * width, 1)
            top_y = y(value)
            bars.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
                    left,
                    top_y,
                    round(width, 1),
                    round(y(Decimal(0)) - top_y, 1),
                    colour,
                    tip,
                )
            )
    y_labels = [(y(top), fmt(top)), (y(Decimal(0)), fmt(Decimal(0)))] if top else [(y(Decimal(0)), fmt(Decimal(0)))]
    return _frame(title, y_labels, _x_labels(xs, x_labels), "".join(bars), css)
