"""Reads of custody fees: the schedule in force, a platform's fee basis from the ledger's entries,
accruals and invoices.

The pool (资金池) of a platform at the end of a business date is Σ of its depository
sub-accounts' balances **derived from entries**: each account's ``balance_after`` of its last
entry posted before the next day's midnight (Asia/Shanghai), never the current stored balance, so
a day is computed the same whenever it is computed (R-FEE-01's B).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum

from accounts.ledger.chart import CREDIT
from accounts.ledger.models import Account, Entry, Transfer
from accounts.payments.models import Withdrawal
from backoffice.dates import start_of_day
from backoffice.money import MoneyField, sum_to_money
from custody.fees.models import FeeAccrual, FeeInvoice, FeeSchedule

ZERO = Decimal("0.00")


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_days(month: dt.date) -> list[dt.date]:
    end = next_month(month)
    return [month + dt.timedelta(days=offset) for offset in range((end - month).days)]


def schedule_in_force(*, platform, day: dt.date) -> FeeSchedule | None:
    """The approved schedule with the latest ``effective_from`` on or before ``day`` (then the
    highest version): approved versions are never edited, a later one supersedes."""
    return (
        FeeSchedule.objects.filter(platform=platform, state=FeeSchedule.State.APPROVED, effective_from__lte=day)
        .order_by("-effective_from", "-version")
        .prefetch_related("bands")
        .first()
    )


def schedule_history(*, platform) -> QuerySet[FeeSchedule]:
    return FeeSchedule.objects.filter(platform=platform).select_related("created_by", "submitted_by", "reviewed_by")


def _sub_accounts(platform) -> QuerySet[Account]:
    return Account.objects.filter(owner=platform.owner, tier=Account.Tier.DEPOSITORY)


def pool_at_end_of(*, platform, day: dt.date) -> Decimal:
    """Σ the platform's sub-accounts' day-end balances on ``day``, from their entries."""
    cut_off = start_of_day(day + dt.timedelta(days=1))
    last = Entry.objects.filter(account=OuterRef("pk"), created_at__lt=cut_off).order_by("-created_at", "-pk")
    rows = _sub_accounts(platform).annotate(day_end=Subquery(last.values("balance_after")[:1], output_field=MoneyField()))
    return sum((row.day_end or ZERO for row in rows), ZERO)


def _day_entries(platform, day: dt.date) -> QuerySet[Entry]:
    return Entry.objects.filter(
        account__owner=platform.owner,
        account__tier=Account.Tier.DEPOSITORY,
        created_at__gte=start_of_day(day),
        created_at__lt=start_of_day(day + dt.timedelta(days=1)),
    )


def flow_on(*, platform, day: dt.date, basis: str) -> Decimal:
    """A flow basis for one day, from the day's entries on the platform's sub-accounts:
    recharge_amount Σ recharge credits; credited_amount Σ every credit (入账); transaction_volume
    Σ the amounts of the vouchers that touched a sub-account (each voucher once);
    transaction_count how many such vouchers."""
    entries = _day_entries(platform, day)
    if basis == FeeSchedule.Basis.RECHARGE_AMOUNT:
        return sum_to_money(entries.filter(side=CREDIT, transfer__kind="recharge").aggregate(t=Sum("amount"))["t"])
    if basis == FeeSchedule.Basis.CREDITED_AMOUNT:
        return sum_to_money(entries.filter(side=CREDIT).aggregate(t=Sum("amount"))["t"])
    vouchers = Transfer.objects.filter(pk__in=entries.values("transfer_id"))
    if basis == FeeSchedule.Basis.TRANSACTION_VOLUME:
        return sum_to_money(vouchers.aggregate(t=Sum("amount"))["t"])
    if basis == FeeSchedule.Basis.TRANSACTION_COUNT:
        return Decimal(vouchers.aggregate(n=Count("pk"))["n"]).quantize(Decimal("0.01"))
    raise ValueError(f"{basis} is not a flow basis")


def basis_on(*, platform, day: dt.date, schedule: FeeSchedule) -> Decimal:
    """The schedule's basis for ``day``: the day-end pool; the month's average day-end pool from the
    1st to ``day`` (half-up to the fen); or the day's flow."""
    if schedule.basis == FeeSchedule.Basis.DAILY_POOL_BALANCE:
        return pool_at_end_of(platform=platform, day=day)
    if schedule.basis == FeeSchedule.Basis.MONTHLY_AVERAGE:
        days = [d for d in month_days(month_start(day)) if d <= day]
        total = sum((pool_at_end_of(platform=platform, day=d) for d in days), ZERO)
        return (total / len(days)).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    return flow_on(platform=platform, day=day, basis=schedule.basis)


def succeeded_withdrawals(*, platform, month: dt.date) -> QuerySet[Withdrawal]:
    """R-FEE-04: the month's withdrawals from the platform's sub-accounts that succeeded (resolved in
    the month, bank time) and were not returned: only these bear a per-item fee. A failed one
    never does; one returned (退票) is in state ``returned`` and drops out."""
    return Withdrawal.objects.filter(
        account__owner=platform.owner,
        account__tier=Account.Tier.DEPOSITORY,
        state=Withdrawal.State.SUCCEEDED,
        resolved_at__gte=start_of_day(month),
        resolved_at__lt=start_of_day(next_month(month)),
    )


def accruals(*, platform, date_from: dt.date | None = None, date_to: dt.date | None = None) -> QuerySet[FeeAccrual]:
    rows = FeeAccrual.objects.filter(platform=platform).select_related("schedule")
    if date_from:
        rows = rows.filter(business_date__gte=date_from)
    if date_to:
        rows = rows.filter(business_date__lte=date_to)
    return rows.order_by("business_date", "pk")


def invoices(*, platform, state: str | None = None) -> QuerySet[FeeInvoice]:
    rows = FeeInvoice.objects.filter(platform=platform).prefetch_related("lines").order_by("-month")
    return rows.filter(state=state) if state else rows


def invoice_get(*, platform, number: str) -> FeeInvoice | None:
    return invoices(platform=platform).filter(number=number).first()


VAT_RATE = Decimal("0.06")


def vat_part(amount: Decimal) -> Decimal:
    """The 6 % VAT inside a VAT-inclusive amount: amount − amount / 1.06, half-up to the fen."""
    return (amount - amount / (1 + VAT_RATE)).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
