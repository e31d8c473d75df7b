"""What the platform portal shows, read from the ledger: the pool (资金池, the special account 汇总账户
as an aggregate) now and at each day's end, today's flows, and the pool chart drawn as SVG.

Invariants: every figure is a sum of ledger balances or entries of the platform's own books
(``owner="platform:<code>"``), never another platform's; a day-end balance is the
``balance_after`` of the account's last entry posted before the next day's midnight in bank time
(Asia/Shanghai), zero before its first entry. Money stays ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

from django.db.models import Count, Max, Sum
from django.utils import timezone

from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Entry
from accounts.payments.models import Recharge, Withdrawal
from backoffice.dates import business_date, start_of_day
from backoffice.money import sum_to_money
from custody.models import LendingPlatform, Loan, Repayment, SubAccount

ZERO = Decimal("0.00")
IN_FLIGHT = "in_flight_withdrawals"
SUSPENSE = "suspense"
#: The pool's parts, in display order: each sub-account role, then the platform's transit and suspense.
POOL_PARTS = [*SubAccount.Role.values, IN_FLIGHT, SUSPENSE]


def _pool_accounts(platform: LendingPlatform) -> dict[int, str]:
    """The pool's accounts (id → part): the platform's sub-accounts by role, its transit and suspense."""
    parts = dict(SubAccount.objects.filter(platform=platform).values_list("account_id", "role"))
    internal = Account.objects.filter(owner=platform.owner, role__in=[Role.TRANSIT_WITHDRAWAL, Role.SUSPENSE])
    for account_id, role in internal.values_list("pk", "role"):
        parts[account_id] = IN_FLIGHT if role == Role.TRANSIT_WITHDRAWAL else SUSPENSE
    return parts


def pool_now(*, platform: LendingPlatform) -> dict[str, Decimal]:
    """The pool now, by part, with ``total``: Σ the stored balances of the pool's accounts."""
    parts = _pool_accounts(platform)
    figures = dict.fromkeys(POOL_PARTS, ZERO)
    for account_id, balance in Account.objects.filter(pk__in=parts).values_list("pk", "balance"):
        figures[parts[account_id]] += sum_to_money(balance)
    figures["total"] = sum((figures[p] for p in POOL_PARTS), ZERO)
    return figures


@dataclass(frozen=True)
class DayEnd:
    day: dt.date
    total: Decimal


def pool_history(*, platform: LendingPlatform, days: int = 30, today: dt.date | None = None) -> list[DayEnd]:
    """The pool's total at the end of each of the last ``days`` days (today's end is now), oldest
    first, from the entries' ``balance_after``."""
    today = today or business_date(timezone.now())
    first = today - dt.timedelta(days=days - 1)
    window_start = start_of_day(first)
    ids = list(_pool_accounts(platform))
    balances: dict[int, Decimal] = dict.fromkeys(ids, ZERO)
    before = Entry.objects.filter(account_id__in=ids, created_at__lt=window_start).values("account_id")
    last_ids = before.annotate(last=Max("pk")).values_list("last", flat=True)
    for account_id, balance_after in Entry.objects.filter(pk__in=list(last_ids)).values_list("account_id", "balance_after"):
        balances[account_id] = balance_after
    entries = (
        Entry.objects.filter(account_id__in=ids, created_at__gte=window_start)
        .order_by("created_at", "pk")
        .values_list("account_id", "balance_after", "created_at")
        .iterator()
    )
    history: list[DayEnd] = []
    pending = next(entries, None)
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        day_end = start_of_day(day + dt.timedelta(days=1))
        while pending is not None and pending[2] < day_end:
            balances[pending[0]] = pending[1]
            pending = next(entries, None)
        history.append(DayEnd(day=day, total=sum(balances.values(), ZERO)))
    return history


@dataclass(frozen=True)
class Flow:
    key: str
    count: int
    amount: Decimal


def today_flows(*, platform: LendingPlatform, today: dt.date | None = None) -> list[Flow]:
    """Today's (bank time) money movements of the platform: succeeded recharges and withdrawals of
    its sub-accounts (by the time they were resolved), loans disbursed and instalments repaid."""
    today = today or business_date(timezone.now())
    start, end = start_of_day(today), start_of_day(today + dt.timedelta(days=1))
    accounts = SubAccount.objects.filter(platform=platform).values("account_id")

    def flow(key: str, rows, amount_field: str) -> Flow:
        totals = rows.aggregate(n=Count("pk"), total=Sum(amount_field))
        return Flow(key=key, count=totals["n"], amount=sum_to_money(totals["total"]))

    repayments = Repayment.objects.filter(platform=platform, created_at__gte=start, created_at__lt=end)
    repaid = repayments.aggregate(n=Count("pk"), p=Sum("principal"), i=Sum("interest"), o=Sum("overdue_interest"))
    return [
        flow(
            "recharges",
            Recharge.objects.filter(
                account_id__in=accounts, state=Recharge.State.SUCCEEDED, resolved_at__gte=start, resolved_at__lt=end
            ),
            "amount",
        ),
        flow(
            "withdrawals",
            Withdrawal.objects.filter(
                account_id__in=accounts, state=Withdrawal.State.SUCCEEDED, resolved_at__gte=start, resolved_at__lt=end
            ),
            "amount",
        ),
        flow("disbursements", Loan.objects.filter(platform=platform, disbursed_at__gte=start, disbursed_at__lt=end), "amount"),
        Flow(
            key="repayments",
            count=repaid["n"],
            amount=sum_to_money(repaid["p"]) + sum_to_money(repaid["i"]) + sum_to_money(repaid["o"]),
        ),
    ]


# -- the chart -------------------------------------------------------------------------------

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 92, 16, 16, 34


def _nice_top(value: Decimal) -> Decimal:
    """A round figure at or above ``value`` for the chart's top line (1, 2 or 5 × 10ⁿ)."""
    if value <= 0:
        return Decimal("1")
    exponent = len(str(int(value))) - 1
    for step in (1, 2, 5, 10):
        top = Decimal(step) * (Decimal(10) ** exponent)
        if top >= value:
            return top
    return Decimal(10) ** (exponent + 1)


def pool_chart_svg(*, history: list[DayEnd], title: str) -> str:
    """A self-contained SVG line chart of the pool's day-end totals: no script, no external URL,
    presentation attributes only (no inline style), so the page's Content-Security-Policy holds."""
    top = _nice_top(max((d.total for d in history), default=ZERO))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(history) - 1, 1)

    def y(value: Decimal) -> float:
        return TOP + plot_h - float(value / top) * plot_h

    points = [(LEFT + i * step, y(d.total)) for i, d in enumerate(history)]
    line = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    for fraction in (0, Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), 1):
        value = top * Decimal(fraction)
        gy = y(value)
        parts.append(f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{WIDTH - RIGHT}" y2="{gy:.1f}" stroke="#e3e8ee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" fill="#5b6b7b">{value:,.2f}</text>')
    if points:
        area = f"{LEFT:.1f},{TOP + plot_h:.1f} {line} {points[-1][0]:.1f},{TOP + plot_h:.1f}"
        parts.append(f'<polygon points="{area}" fill="#1f5f99" fill-opacity="0.12"/>')
        parts.append(f'<polyline points="{line}" fill="none" stroke="#1f5f99" stroke-width="2"/>')
        for (px, py), day in zip(points, history, strict=True):
            tip = f"{day.day:%Y-%m-%d} {day.total:,.2f}"
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="#1f5f99"><title>{tip}</title></circle>')
        labels = {0: history[0], len(history) // 2: history[len(history) // 2], len(history) - 1: history[-1]}
        for index, day in labels.items():
            anchor = "start" if index == 0 else "end" if index == len(history) - 1 else "middle"
            x = LEFT + index * step
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" fill="#5b6b7b">{day.day:%m-%d}</text>')
    parts.append("</svg>")
    return "".join(parts)
