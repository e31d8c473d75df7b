"""Read-only queries for views, the API, the console and ``ledger_check``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from accounts.chart import CREDIT, DEBIT
from accounts.models import Account, Entry, Hold, Party, Subject, Transfer, id_number_hash

ZERO = Decimal("0.00")


def account_get(*, number: str) -> Account | None:
    return Account.objects.select_related("party").filter(number=number).first()


def accounts_for_party(*, party_ids) -> QuerySet[Account]:
    return Account.objects.filter(party_id__in=party_ids).order_by("number")


def _day_bounds(date_from: dt.date | None, date_to: dt.date | None):
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz) if date_from else None
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz) if date_to else None
    return start, end


def account_statement(
    *, account: Account, date_from: dt.date | None = None, date_to: dt.date | None = None, kind: str | None = None
) -> QuerySet[Entry]:
    """An account's entries, newest first, filtered by business date (Asia/Shanghai) and voucher kind."""
    entries = Entry.objects.filter(account=account).select_related("transfer")
    start, end = _day_bounds(date_from, date_to)
    if start:
        entries = entries.filter(created_at__gte=start)
    if end:
        entries = entries.filter(created_at__lt=end)
    if kind:
        entries = entries.filter(transfer__kind=kind)
    return entries.order_by("-created_at", "-pk")


def statement_kinds(*, account: Account) -> list[str]:
    return sorted(set(Transfer.objects.filter(entries__account=account).values_list("kind", flat=True)))


@dataclass
class TrialBalanceRow:
    subject: Subject
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        """Closing balance on the subject's normal side."""
        return self.debit - self.credit if self.subject.normal_side == DEBIT else self.credit - self.debit

    @property
    def debit_balance(self) -> Decimal:
        return max(self.debit - self.credit, ZERO)

    @property
    def credit_balance(self) -> Decimal:
        return max(self.credit - self.debit, ZERO)


@dataclass
class TrialBalance:
    rows: list[TrialBalanceRow]
    total_debit: Decimal
    total_credit: Decimal
    total_debit_balance: Decimal
    total_credit_balance: Decimal

    @property
    def balanced(self) -> bool:
        return self.total_debit == self.total_credit and self.total_debit_balance == self.total_credit_balance


def trial_balance() -> TrialBalance:
    """试算平衡表: per subject, the debit and credit turnover and the closing balance, from entries."""
    sums = {
        row["subject"]: row
        for row in Entry.objects.values("subject").annotate(
            debit=Sum("amount", filter=Q(side=DEBIT), default=0), credit=Sum("amount", filter=Q(side=CREDIT), default=0)
        )
    }
    rows = []
    for subject in Subject.objects.order_by("code"):
        row = sums.get(subject.code, {})
        rows.append(TrialBalanceRow(subject=subject, debit=_dec(row.get("debit")), credit=_dec(row.get("credit"))))
    return TrialBalance(
        rows=rows,
        total_debit=sum((r.debit for r in rows), ZERO),
        total_credit=sum((r.credit for r in rows), ZERO),
        total_debit_balance=sum((r.debit_balance for r in rows), ZERO),
        total_credit_balance=sum((r.credit_balance for r in rows), ZERO),
    )


def _dec(value) -> Decimal:
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    # Sum over an integer-fen column may come back as a raw int on some backends.
    return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))


@dataclass
class Drift:
    kind: str
    target: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.target}: expected {self.expected}, stored {self.actual}"


@dataclass
class LedgerReport:
    trial_balance: TrialBalance
    drifts: list[Drift] = field(default_factory=list)
    accounts_checked: int = 0
    transfers_checked: int = 0


def ledger_report() -> LedgerReport:
    """Recompute every stored balance and frozen amount, check every voucher balances and the
    whole ledger nets to zero. Exact: all sums are integer fen."""
    drifts: list[Drift] = []
    sums = {
        row["account_id"]: row
        for row in Entry.objects.values("account_id").annotate(
            debit=Sum("amount", filter=Q(side=DEBIT), default=0), credit=Sum("amount", filter=Q(side=CREDIT), default=0)
        )
    }
    held = {
        row["account_id"]: _dec(row["total"])
        for row in Hold.objects.filter(state=Hold.State.ACTIVE).values("account_id").annotate(total=Sum("amount"))
    }
    accounts = 0
    for account in Account.objects.only("pk", "number", "normal_side", "balance", "frozen", "kind", "role").iterator(
        chunk_size=2000
    ):
        accounts += 1
        row = sums.get(account.pk, {})
        debit, credit = _dec(row.get("debit")), _dec(row.get("credit"))
        expected = debit - credit if account.normal_side == DEBIT else credit - debit
        if expected != account.balance:
            drifts.append(Drift("balance", account.number, f"{expected:.2f}", f"{account.balance:.2f}"))
        expected_frozen = held.get(account.pk, ZERO)
        if expected_frozen != account.frozen:
            drifts.append(Drift("frozen", account.number, f"{expected_frozen:.2f}", f"{account.frozen:.2f}"))
        if not account.may_overdraw and account.balance - account.frozen < 0:
            drifts.append(Drift("available", account.number, ">= 0.00", f"{account.balance - account.frozen:.2f}"))
    unbalanced = (
        Entry.objects.values("transfer_id")
        .annotate(
            debit=Sum("amount", filter=Q(side=DEBIT), default=0),
            credit=Sum("amount", filter=Q(side=CREDIT), default=0),
            legs=Count("pk"),
        )
        .filter(~Q(debit=F("credit")) | Q(legs__lt=2))
    )
    for row in unbalanced:
        drifts.append(
            Drift(
                "voucher",
                f"#{row['transfer_id']}",
                "debit = credit, >= 2 legs",
                f"{_dec(row['debit']):.2f} / {_dec(row['credit']):.2f} / {row['legs']} legs",
            )
        )
    for transfer_id in Transfer.objects.filter(entries__isnull=True).values_list("pk", flat=True):
        drifts.append(Drift("voucher", f"#{transfer_id}", "entries", "none"))
    amounts = (
        Transfer.objects.annotate(debit=Sum("entries__amount", filter=Q(entries__side=DEBIT), default=0))
        .exclude(debit=F("amount"))
        .exclude(entries__isnull=True)
    )
    for transfer in amounts.only("pk", "amount"):
        drifts.append(Drift("voucher amount", f"#{transfer.pk}", f"{_dec(transfer.debit):.2f}", f"{transfer.amount:.2f}"))
    from accounts.payments import payment_invariants

    for invariant in payment_invariants():
        if not invariant.holds:
            drifts.append(Drift("withdrawals", invariant.name, f"{invariant.expected:.2f}", f"{invariant.actual:.2f}"))
    tb = trial_balance()
    if tb.total_debit != tb.total_credit:
        drifts.append(Drift("ledger", "total turnover", f"{tb.total_debit:.2f}", f"{tb.total_credit:.2f}"))
    if tb.total_debit_balance != tb.total_credit_balance:
        drifts.append(
            Drift("ledger", "debit vs credit balances", f"{tb.total_debit_balance:.2f}", f"{tb.total_credit_balance:.2f}")
        )
    return LedgerReport(trial_balance=tb, drifts=drifts, accounts_checked=accounts, transfers_checked=Transfer.objects.count())


def ledger_drift() -> list[Drift]:
    return ledger_report().drifts


# -- parties (KYC) ----------------------------------------------------------------------------


def parties_awaiting_kyc() -> QuerySet[Party]:
    """The KYC review queue: parties in pending_review, oldest first (the console's queue)."""
    return Party.objects.filter(kyc_state=Party.KycState.PENDING_REVIEW).order_by("created_at", "pk")


def party_find_by_id_number(id_number: str) -> Party | None:
    """The party with this resident ID number, found by its keyed hash (nothing is decrypted).

    The input is normalised first (a 15-digit number, a lowercase x); an invalid number finds nothing.
    """
    from accounts import kyc

    try:
        normalised = kyc.normalise_id_number(id_number)
    except kyc.IdentityError:
        return None
    return Party.objects.filter(id_number_hash=id_number_hash(normalised)).first()


def party_find_by_credit_code(credit_code: str) -> Party | None:
    """The organisation with this unified social credit code (normalised first), or None."""
    from accounts import kyc

    try:
        normalised = kyc.normalise_credit_code(credit_code)
    except kyc.IdentityError:
        return None
    return Party.objects.filter(credit_code=normalised).first()
