"""Reads of reconciliation: the bank's side of a platform's day (its instructions and day-end
balances, from the books), invariant I1 per platform, results, inflows and reports.

**The bank's side.** An instruction is the bank's record found by (type, ``out_request_no``) in
the platform's scope: recharges and withdrawals of its depository sub-accounts (their
``out_request_no``), its bids, loans (a disbursement is the loan's reference) and repayments. Its
*bank date* is the business day (Asia/Shanghai) the money moved: a recharge's or withdrawal's
success, a bid's placing, a loan's disbursement, a repayment. Day-end balances are each
sub-account's ``balance_after`` of its last entry before the next midnight, never the stored
balance: a day compares the same whenever it is compared.

**I1 per platform (R-WD-07), as checkable from the ledger.** The platform's pool is P = its
depository sub-accounts + its own withdrawal transit (提现在途) + its own suspense (挂账); the
special account (汇总账户) is not a posted account, so "Σ P = the special account" has two halves:

- ``actual``: Σ of the stored balances of P;
- ``expected``: the money that crossed P's boundary, from the entries of every voucher that
  touched P, measured on the legs *outside* P (debits − credits there: the clearing account for
  recharges, inflows and withdrawals paid out, fee income, the platform's own funds for service
  fees, …). Each voucher balances, so this equals the net credits on P — unless a stored balance
  of P was written around the ledger, a voucher touching P does not balance, or an entry of P was
  altered. The breakdown by counterpart role is the "against the clearing flows" part the reports
  print.

A second per-platform invariant: the platform's transit account = the amount + fee of its
transit-mode withdrawals in flight. Timing items (R-WD-07's "after timing items") concern the
platform's file, not the bank's books: they are classified by reconciliation, not here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum

from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.checks import Invariant
from accounts.ledger.models import Account, Entry
from accounts.payments.models import Channel, Recharge, Withdrawal
from backoffice.dates import business_date, start_of_day
from backoffice.money import MoneyField, sum_to_money
from custody.loans.models import Bid, Loan, Repayment
from custody.models import LendingPlatform, SubAccount
from custody.reconciliation.models import (
    CustodyReport,
    InstructionType,
    ReconciliationDay,
    ReconciliationItem,
    SuspenseAllocation,
    UnidentifiedInflow,
)

ZERO = Decimal("0.00")
SUCCEEDED, FAILED, PROCESSING, RETURNED = "succeeded", "failed", "processing", "returned"


@dataclass(frozen=True)
class BankRecord:
    type: str
    out_request_no: str
    sub_account: str
    amount: Decimal
    state: str
    date: dt.date | None  # the business day the money moved; None when it did not (yet)


def _day_range(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return start_of_day(day), start_of_day(day + dt.timedelta(days=1))


def _local(moment) -> dt.date | None:
    return business_date(moment) if moment else None


def pool_accounts(*, platform: LendingPlatform) -> QuerySet[Account]:
    """P: the platform's depository sub-accounts, its own transit and its own suspense."""
    return Account.objects.filter(owner=platform.owner).filter(
        Q(tier=Account.Tier.DEPOSITORY) | Q(kind=Account.Kind.INTERNAL, role__in=[Role.TRANSIT_WITHDRAWAL, Role.SUSPENSE])
    )


def _recharge_record(row: Recharge) -> BankRecord:
    state = {Recharge.State.SUCCEEDED: SUCCEEDED, Recharge.State.FAILED: FAILED}.get(row.state, PROCESSING)
    return BankRecord(
        InstructionType.RECHARGE,
        row.out_request_no,
        row.account.number,
        row.amount,
        state,
        _local(row.resolved_at) if state == SUCCEEDED else None,
    )


def _withdrawal_record(row: Withdrawal) -> BankRecord:
    state = {
        Withdrawal.State.SUCCEEDED: SUCCEEDED,
        Withdrawal.State.RETURNED: RETURNED,
        Withdrawal.State.FAILED: FAILED,
    }.get(row.state, PROCESSING)
    moved = state in (SUCCEEDED, RETURNED)
    return BankRecord(
        InstructionType.WITHDRAWAL,
        row.out_request_no,
        row.account.number,
        row.amount,
        state,
        _local(row.resolved_at) if moved else None,
    )


def _bid_record(row: Bid) -> BankRecord:
    return BankRecord(
        InstructionType.BID, row.out_request_no, row.lender.account.number, row.amount, SUCCEEDED, _local(row.created_at)
    )


def _loan_record(row: Loan) -> BankRecord:
    if row.disbursed_at is not None:
        return BankRecord(
            InstructionType.DISBURSEMENT,
            row.out_request_no,
            row.borrower.account.number,
            row.amount,
            SUCCEEDED,
            _local(row.disbursed_at),
        )
    state = FAILED if row.state in (Loan.State.FAILED, Loan.State.CANCELLED) else PROCESSING
    return BankRecord(InstructionType.DISBURSEMENT, row.out_request_no, row.borrower.account.number, row.amount, state, None)


def _repayment_record(row: Repayment) -> BankRecord:
    return BankRecord(
        InstructionType.REPAYMENT,
        row.out_request_no,
        row.payer.account.number,
        row.transfer.amount,
        SUCCEEDED,
        _local(row.created_at),
    )


def _sources(platform: LendingPlatform) -> dict[str, tuple[QuerySet, callable]]:
    books = {"account__owner": platform.owner, "account__tier": Account.Tier.DEPOSITORY}
    return {
        InstructionType.RECHARGE: (Recharge.objects.filter(**books).select_related("account"), _recharge_record),
        InstructionType.WITHDRAWAL: (Withdrawal.objects.filter(**books).select_related("account"), _withdrawal_record),
        InstructionType.BID: (Bid.objects.filter(platform=platform).select_related("lender__account"), _bid_record),
        InstructionType.DISBURSEMENT: (Loan.objects.filter(platform=platform).select_related("borrower__account"), _loan_record),
        InstructionType.REPAYMENT: (
            Repayment.objects.filter(platform=platform).select_related("payer__account", "transfer"),
            _repayment_record,
        ),
    }


def bank_records_lookup(*, platform: LendingPlatform, keys: list[tuple[str, str]]) -> dict[tuple[str, str], BankRecord]:
    """The bank's records of these (type, out_request_no) keys, whatever their day."""
    found: dict[tuple[str, str], BankRecord] = {}
    wanted: dict[str, list[str]] = {}
    for kind, reference in keys:
        wanted.setdefault(kind, []).append(reference)
    for kind, (rows, build) in _sources(platform).items():
        references = wanted.get(kind)
        for start in range(0, len(references or []), 500):
            for row in rows.filter(out_request_no__in=references[start : start + 500]).order_by("pk"):
                found.setdefault((kind, row.out_request_no), build(row))
    return found


def bank_records_on(*, platform: LendingPlatform, day: dt.date) -> dict[tuple[str, str], BankRecord]:
    """The bank's records whose money moved on ``day`` (bank time), by (type, out_request_no)."""
    start, end = _day_range(day)
    sources = _sources(platform)
    moved_on = {
        InstructionType.RECHARGE: Q(state=Recharge.State.SUCCEEDED, resolved_at__gte=start, resolved_at__lt=end),
        InstructionType.WITHDRAWAL: Q(
            state__in=[Withdrawal.State.SUCCEEDED, Withdrawal.State.RETURNED], resolved_at__gte=start, resolved_at__lt=end
        ),
        InstructionType.BID: Q(created_at__gte=start, created_at__lt=end),
        InstructionType.DISBURSEMENT: Q(disbursed_at__gte=start, disbursed_at__lt=end),
        InstructionType.REPAYMENT: Q(created_at__gte=start, created_at__lt=end),
    }
    found: dict[tuple[str, str], BankRecord] = {}
    for kind, (rows, build) in sources.items():
        for row in rows.filter(moved_on[kind]).order_by("pk"):
            found.setdefault((kind, row.out_request_no), build(row))
    return found


def day_end_balances(*, accounts: QuerySet[Account], day: dt.date) -> dict[str, Decimal]:
    """Each account's balance at the end of ``day`` from its entries (0 before its first entry), by number."""
    cut_off = start_of_day(day + dt.timedelta(days=1))
    last = Entry.objects.filter(account=OuterRef("pk"), created_at__lt=cut_off).order_by("-created_at", "-pk")
    rows = accounts.annotate(day_end=Subquery(last.values("balance_after")[:1], output_field=MoneyField()))
    return {row.number: row.day_end if row.day_end is not None else ZERO for row in rows}


def subaccount_numbers(*, platform: LendingPlatform) -> QuerySet[Account]:
    return Account.objects.filter(owner=platform.owner, tier=Account.Tier.DEPOSITORY)


# -- I1 ------------------------------------------------------------------------------------------


def _touching(pool: QuerySet[Account], cut_off: dt.datetime | None = None) -> QuerySet[Entry]:
    entries = Entry.objects.filter(account__in=pool)
    if cut_off is not None:
        entries = entries.filter(created_at__lt=cut_off)
    return entries


def boundary_flows(*, platform: LendingPlatform, cut_off: dt.datetime | None = None) -> dict[str, Decimal]:
    """The net money into the pool P by counterpart role (debits − credits on the legs outside P of
    every voucher that touched P), posted before ``cut_off`` (all when None)."""
    pool = pool_accounts(platform=platform)
    vouchers = _touching(pool, cut_off).values("transfer_id")
    outside = Entry.objects.filter(transfer_id__in=vouchers).exclude(account__in=pool)
    if cut_off is not None:
        outside = outside.filter(created_at__lt=cut_off)
    rows = outside.values("account__role").annotate(
        debit=Sum("amount", filter=Q(side=DEBIT), default=0), credit=Sum("amount", filter=Q(side=CREDIT), default=0)
    )
    return {row["account__role"]: sum_to_money(row["debit"]) - sum_to_money(row["credit"]) for row in rows}


def platform_i1(*, platform: LendingPlatform) -> Invariant:
    """I1 for one platform: Σ stored balances of P (sub-accounts + transit + suspense) = the net
    flows across P's boundary from the entries (module docstring)."""
    pool = pool_accounts(platform=platform)
    actual = sum_to_money(pool.aggregate(total=Sum("balance"))["total"])
    expected = sum(boundary_flows(platform=platform).values(), ZERO)
    return Invariant(
        f"i1:{platform.code}",
        f"I1 {platform.code}: sub-accounts + transit + suspense = flows across the pool",
        expected,
        actual,
        pool.count(),
    )


def platform_transit_invariant(*, platform: LendingPlatform) -> Invariant:
    in_flight = Withdrawal.objects.filter(
        account__owner=platform.owner, strategy=Channel.Strategy.TRANSIT, state__in=Withdrawal.IN_FLIGHT
    ).exclude(state=Withdrawal.State.CREATED)
    expected = sum_to_money(in_flight.aggregate(t=Sum("amount"))["t"]) + sum_to_money(in_flight.aggregate(t=Sum("fee"))["t"])
    transit = Account.objects.filter(owner=platform.owner, kind=Account.Kind.INTERNAL, role=Role.TRANSIT_WITHDRAWAL)
    actual = sum_to_money(transit.aggregate(t=Sum("balance"))["t"])
    return Invariant(
        f"transit:{platform.code}",
        f"{platform.code} transit account = its transit withdrawals in flight",
        expected,
        actual,
        in_flight.count(),
    )


def custody_invariants() -> list[Invariant]:
    """Registered in ``accounts.ledger.checks.invariant_sources`` (area ``custody``): I1 and the
    transit invariant of every platform that has books (joins ``ledger_check`` and end of day)."""
    found: list[Invariant] = []
    for platform in LendingPlatform.objects.exclude(own_funds__isnull=True).order_by("pk"):
        found.append(platform_i1(platform=platform))
        found.append(platform_transit_invariant(platform=platform))
    return found


# -- results, inflows, reports --------------------------------------------------------------------


def reconciliation_days(*, platform: LendingPlatform, date_from=None, date_to=None, state: str | None = None):
    rows = ReconciliationDay.objects.filter(platform=platform)
    if date_from:
        rows = rows.filter(business_date__gte=date_from)
    if date_to:
        rows = rows.filter(business_date__lte=date_to)
    if state:
        rows = rows.filter(state=state)
    return rows.order_by("-business_date")


def reconciliation_day_get(*, platform: LendingPlatform, day: dt.date) -> ReconciliationDay | None:
    return ReconciliationDay.objects.filter(platform=platform, business_date=day).select_related("file").first()


def day_items(*, day: ReconciliationDay) -> QuerySet[ReconciliationItem]:
    if day.file_id is None:
        return ReconciliationItem.objects.none()
    return ReconciliationItem.objects.filter(file_id=day.file_id).order_by("kind", "line", "pk")


def open_differences(*, platform: LendingPlatform, up_to: dt.date) -> QuerySet[ReconciliationItem]:
    """The differences (long, short, mismatch) of the current files of the platform's days up to
    ``up_to`` that are still unreconciled (R-DEP-09's "unresolved reconciliation items")."""
    files = ReconciliationDay.objects.filter(
        platform=platform, business_date__lte=up_to, state=ReconciliationDay.State.UNRECONCILED
    ).values("file_id")
    return ReconciliationItem.objects.filter(file_id__in=files, result__in=ReconciliationItem.DIFFERENCES).order_by(
        "business_date", "pk"
    )


def inflows(*, platform: LendingPlatform | None = None, state: str | None = None) -> QuerySet[UnidentifiedInflow]:
    rows = UnidentifiedInflow.objects.select_related("platform")
    if platform is not None:
        rows = rows.filter(platform=platform)
    return rows.filter(state=state) if state else rows


def pending_allocations() -> QuerySet[SuspenseAllocation]:
    return SuspenseAllocation.objects.filter(state=SuspenseAllocation.State.PROPOSED).select_related(
        "inflow__platform", "sub_account__party", "sub_account__account", "proposed_by"
    )


def platform_subaccount_by_number(*, platform: LendingPlatform, number: str) -> SubAccount | None:
    return SubAccount.objects.filter(platform=platform, account__number=number).select_related("account", "party").first()


def reports(*, platform: LendingPlatform, kind: str | None = None) -> QuerySet[CustodyReport]:
    rows = CustodyReport.objects.filter(platform=platform)
    return rows.filter(kind=kind) if kind else rows
