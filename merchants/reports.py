"""The merchant portal's figures: today's volume, the balances, 30 days of payments as a
server-drawn SVG (no script, no external URL, no inline style: the page's CSP holds)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from django.db.models import Count, Sum
from django.utils import timezone

from accounts.ledger.models import Account
from backoffice.dates import business_date
from merchants.models import Merchant, Payment

ZERO = Decimal("0")
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 92, 16, 16, 34


@dataclass(frozen=True)
class Day:
    day: dt.date
    count: int
    amount: Decimal


def balances(merchant: Merchant) -> dict[str, Decimal]:
    ids = {
        "pending": merchant.pending_account_id,
        "available": merchant.available_account_id,
        "reserve": merchant.reserve_account_id,
        "receivable": merchant.receivable_account_id,
    }
    rows = {a.pk: a.balance for a in Account.objects.filter(pk__in=[i for i in ids.values() if i])}
    return {name: rows.get(pk, ZERO) for name, pk in ids.items()}


def volume_history(*, merchant: Merchant, days: int = 30, today: dt.date | None = None) -> list[Day]:
    """Succeeded payments (what the payers paid) per business date, the last ``days`` days, oldest first."""
    today = today or business_date(timezone.now())
    first = today - dt.timedelta(days=days - 1)
    rows = {
        r["business_date"]: r
        for r in Payment.objects.filter(merchant=merchant, state=Payment.State.SUCCEEDED, business_date__range=(first, today))
        .values("business_date")
        .annotate(n=Count("pk"), paid=Sum("paid_amount"))
    }
    out = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        row = rows.get(day)
        out.append(Day(day, row["n"] if row else 0, _money(row["paid"]) if row else ZERO))
    return out


def _money(value) -> Decimal:
    """A ``Sum`` of a MoneyField (Decimal yuan through the field), or zero."""
    return ZERO if value is None else value


def today_volume(*, merchant: Merchant) -> Day:
    return volume_history(merchant=merchant, days=1)[0]


def _nice_top(value: Decimal) -> Decimal:
    if value <= 0:
        return Decimal("1")
    exponent = len(str(int(value))) - 1
    for step in (1, 2, 5, 10):
        top = Decimal(step) * (Decimal(10) ** exponent)
        if top >= value:
            return top
    return Decimal(10) ** (exponent + 1)


def volume_chart_svg(*, history: list[Day], title: str) -> str:
    """A bar chart of the days' volumes, self-contained SVG with presentation attributes only."""
    top = _nice_top(max((d.amount for d in history), default=ZERO))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(history), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    for fraction in (0, Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), 1):
        value = top * Decimal(fraction)
        gy = TOP + plot_h - float(value / top) * plot_h
        parts.append(f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{WIDTH - RIGHT}" y2="{gy:.1f}" stroke="#e3e8ee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" fill="#5b6b7b">{value:,.2f}</text>')
    for i, day in enumerate(history):
        h = float(day.amount / top) * plot_h
        x = LEFT + i * slot + slot * 0.15
        tip = f"{day.day:%Y-%m-%d} {day.count} / {day.amount:,.2f}"
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="#1f5f99">'
            f"<title>{escape(tip)}</title></rect>"
        )
    if history:
        for index in {0, len(history) // 2, len(history) - 1}:
            x = LEFT + index * slot + slot / 2
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="middle" fill="#5b6b7b">{history[index].day:%m-%d}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
