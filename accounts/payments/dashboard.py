"""The figures of the console's dashboard (``{% console_dashboard %}`` on the index), read with
aggregate queries only: never a loop over accounts or vouchers.

- customer deposits (balance, frozen, number of accounts) by tier and role;
- the internal accounts by role (clearing, withdrawal transit, fee income, suspense, ...);
- money in flight: withdrawals and recharges not final, and whatever the packages above
  register in ``in_flight_sources`` (merchants' payouts), each with count, amount and oldest age;
- the money invariants (``accounts.ledger.checks.registered_invariants``) and whether the
  ledger balances (the trial balance's totals);
- 30 business days of the fund pool (customer deposits at each day's end) and of the daily
  flows through the clearing account (money in: clearing debited; money out: clearing credited).

Days are business days in Asia/Shanghai (``backoffice.dates``); amounts are exact ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.checks import registered_invariants
from accounts.ledger.models import Account, Entry
from accounts.ledger.selectors import trial_balance
from accounts.payments.models import Recharge, Withdrawal
from backoffice.dates import bank_tz, business_date
from backoffice.money import sum_to_money
from backoffice.registry import Registry

ZERO = Decimal("0.00")
CHART_DAYS = 30

#: The internal roles shown first, in this order; other internal roles follow.
INTERNAL_ROLES = (Role.CLEARING, Role.TRANSIT_WITHDRAWAL, Role.FEE_INCOME, Role.SUSPENSE)


@dataclass(frozen=True)
class InFlight:
    """Money not yet final of one kind: ``oldest`` is the creation time of the oldest one."""

    code: str
    label: object
    count: int
    amount: Decimal
    oldest: dt.datetime | None
    url_name: str = ""  # the console list, "admin:accounts_withdrawal_changelist"
    query: str = ""
    permission: str = ""  # the one the list needs: no link is shown without it


#: ``name -> function() -> InFlight``: packages above accounts (merchants' payouts) register here
#: from ``AppConfig.ready()``.
in_flight_sources = Registry("money in flight shown on the console dashboard")


@dataclass(frozen=True)
class DepositRow:
    tier: str
    role: str
    accounts: int
    balance: Decimal
    frozen: Decimal


@dataclass(frozen=True)
class InternalRow:
    role: str
    accounts: int
    balance: Decimal


@dataclass(frozen=True)
class Day:
    day: dt.date
    pool: Decimal  # customer deposits at the end of the day
    money_in: Decimal
    money_out: Decimal


@dataclass
class Dashboard:
    as_of: dt.datetime
    deposits: list[DepositRow]
    deposits_total: Decimal
    deposits_frozen: Decimal
    deposit_accounts: int
    internal: list[InternalRow]
    in_flight: list[InFlight]
    invariants: list[tuple[str, object]]  # (area, accounts.ledger.checks.Invariant)
    ledger_balanced: bool
    total_debit: Decimal
    total_credit: Decimal
    days: list[Day] = field(default_factory=list)

    @property
    def all_hold(self) -> bool:
        return self.ledger_balanced and all(invariant.holds for _area, invariant in self.invariants)


def _money(value) -> Decimal:
    return sum_to_money(value)


def deposits_by_tier_and_role() -> list[DepositRow]:
    """Customer accounts' stored balances summed per (tier, role): one grouped query."""
    rows = (
        Account.objects.filter(kind=Account.Kind.CUSTOMER)
        .values("tier", "role")
        .annotate(accounts=Count("pk"), balance=Sum("balance"), frozen=Sum("frozen"))
        .order_by("tier", "role")
    )
    tier_order = {tier: index for index, tier in enumerate(Account.Tier.values)}
    result = [
        DepositRow(row["tier"], row["role"], row["accounts"], _money(row["balance"]), _money(row["frozen"])) for row in rows
    ]
    return sorted(result, key=lambda row: (tier_order.get(row.tier, 99), row.role))


def internal_accounts() -> list[InternalRow]:
    rows = (
        Account.objects.filter(kind=Account.Kind.INTERNAL)
        .values("role")
        .annotate(accounts=Count("pk"), balance=Sum("balance"))
        .order_by("role")
    )
    order = {role: index for index, role in enumerate(INTERNAL_ROLES)}
    result = [InternalRow(row["role"], row["accounts"], _money(row["balance"])) for row in rows]
    present = {row.role for row in result}
    result += [InternalRow(role, 0, ZERO) for role in INTERNAL_ROLES if role not in present]
    return sorted(result, key=lambda row: (order.get(row.role, 99), row.role))


def in_flight_of(model, code, label, amount_fields, url_name) -> InFlight:
    """One kind of money in flight: rows of ``model`` in ``model.IN_FLIGHT`` states, their count,
    the sum of ``amount_fields`` and the oldest creation time, in one aggregate query."""
    totals = {f"s_{name}": Sum(name) for name in amount_fields}
    row = model.objects.filter(state__in=model.IN_FLIGHT).aggregate(count=Count("pk"), oldest=Min("created_at"), **totals)
    amount = sum((_money(row[f"s_{name}"]) for name in amount_fields), ZERO)
    permission = f"{model._meta.app_label}.view_{model._meta.model_name}"
    return InFlight(code, label, row["count"], amount, row["oldest"], url_name, "?in_flight=yes", permission)


def money_in_flight() -> list[InFlight]:
    """Withdrawals (amount and fee) and recharges not final, then the registered sources."""
    items = [
        in_flight_of(
            Withdrawal,
            "withdrawals",
            Withdrawal._meta.verbose_name_plural,
            ("amount", "fee"),
            "admin:accounts_withdrawal_changelist",
        ),
        in_flight_of(
            Recharge, "recharges", Recharge._meta.verbose_name_plural, ("amount",), "admin:accounts_recharge_changelist"
        ),
    ]
    items += [source() for _name, source in in_flight_sources]
    return items


def daily_figures(days: int = CHART_DAYS, *, today: dt.date | None = None) -> list[Day]:
    """The fund pool at each of the last ``days`` business days' end, and the day's flows through
    the clearing account. Two grouped queries over the window's entries; the pool is the stored
    total of customer balances less the net change after each day."""
    today = today or business_date(timezone.now())
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time.min, tzinfo=bank_tz())
    tz = bank_tz()
    pool_now = _money(Account.objects.filter(kind=Account.Kind.CUSTOMER).aggregate(total=Sum("balance"))["total"])
    customer_net = {
        row["day"]: _money(row["up"]) - _money(row["down"])
        for row in Entry.objects.filter(account__kind=Account.Kind.CUSTOMER, created_at__gte=start)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(
            up=Sum("amount", filter=Q(side=F("account__normal_side")), default=0),
            down=Sum("amount", filter=~Q(side=F("account__normal_side")), default=0),
        )
        .order_by()
    }
    clearing = {
        row["day"]: (_money(row["debit"]), _money(row["credit"]))
        for row in Entry.objects.filter(account__kind=Account.Kind.INTERNAL, account__role=Role.CLEARING, created_at__gte=start)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(debit=Sum("amount", filter=Q(side=DEBIT), default=0), credit=Sum("amount", filter=Q(side=CREDIT), default=0))
        .order_by()
    }
    result = []
    pool = pool_now
    # walk back from today: the pool at the end of day d is the pool now less the net change after d
    for offset in range(days):
        day = today - dt.timedelta(days=offset)
        money_in, money_out = clearing.get(day, (ZERO, ZERO))
        result.append(Day(day, pool, money_in, money_out))
        pool -= customer_net.get(day, ZERO)
    result.reverse()
    return result


def dashboard(*, days: int = CHART_DAYS) -> Dashboard:
    deposits = deposits_by_tier_and_role()
    tb = trial_balance()
    return Dashboard(
        as_of=timezone.now(),
        deposits=deposits,
        deposits_total=sum((row.balance for row in deposits), ZERO),
        deposits_frozen=sum((row.frozen for row in deposits), ZERO),
        deposit_accounts=sum(row.accounts for row in deposits),
        internal=internal_accounts(),
        in_flight=money_in_flight(),
        invariants=registered_invariants(),
        ledger_balanced=tb.balanced,
        total_debit=tb.total_debit,
        total_credit=tb.total_credit,
        days=daily_figures(days),
    )
