"""Reads of the ledger: accounts, statements, the trial balance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from accounts.ledger.chart import CREDIT, DEBIT
from accounts.ledger.models import Account, Entry, Subject
from backoffice.money import sum_to_money

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
    """The voucher kinds on the account's entries, distinct in the database (a million entries
    give a handful of kinds, never a million strings in memory)."""
    kinds = Entry.objects.filter(account=account).values_list("transfer__kind", flat=True).distinct().order_by()
    return sorted(kinds)


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


def trial_balance(*, as_of: dt.date | None = None) -> TrialBalance:
    """试算平衡表: per subject, the debit and credit turnover and the closing balance, from entries;
    with ``as_of``, only the entries posted up to the end of that business day (Asia/Shanghai)."""
    entries = Entry.objects.all()
    if as_of is not None:
        entries = entries.filter(created_at__lt=_day_bounds(None, as_of)[1])
    sums = {
        row["subject"]: row
        for row in entries.values("subject").annotate(
            debit=Sum("amount", filter=Q(side=DEBIT), default=0), credit=Sum("amount", filter=Q(side=CREDIT), default=0)
        )
    }
    rows = []
    for subject in Subject.objects.order_by("code"):
        row = sums.get(subject.code, {})
        rows.append(
            TrialBalanceRow(subject=subject, debit=sum_to_money(row.get("debit")), credit=sum_to_money(row.get("credit")))
        )
    return TrialBalance(
        rows=rows,
        total_debit=sum((r.debit for r in rows), ZERO),
        total_credit=sum((r.credit for r in rows), ZERO),
        total_debit_balance=sum((r.debit_balance for r in rows), ZERO),
        total_credit_balance=sum((r.credit_balance for r in rows), ZERO),
    )


def internal_account(role: str, owner: str = "") -> Account:
    """The internal account of ``role`` in ``owner``'s books ("" the bank's, "platform:<code>" a
    platform's): unique on (role, owner) by a database constraint. Raises ``Account.DoesNotExist``."""
    return Account.objects.get(kind=Account.Kind.INTERNAL, role=role, owner=owner)


def internal_account_for(role: str, *, account: Account) -> Account:
    """The internal account of ``role`` that serves a customer ``account``: its owner's own (a
    platform's suspense or withdrawal transit, so its in-flight money is attributed to it) when
    that owner has one, else the bank's."""
    if account.owner:
        own = Account.objects.filter(kind=Account.Kind.INTERNAL, role=role, owner=account.owner).first()
        if own is not None:
            return own
    return internal_account(role)
