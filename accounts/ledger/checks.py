"""The ledger check: every stored balance and frozen amount re-derived from entries and holds,
every voucher balanced, the whole ledger netting to zero; plus the money invariants that higher
packages register (``register_invariants``), reported beside it by ``manage.py ledger_check``."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Q, Sum

from accounts.ledger.chart import CREDIT, DEBIT
from accounts.ledger.models import Account, Entry, Hold, Transfer
from accounts.ledger.rules import POSTING_RULES, REVERSAL_KIND, rule_breaks
from accounts.ledger.selectors import ZERO, TrialBalance, trial_balance
from backoffice.money import sum_to_money
from backoffice.registry import Registry


@dataclass(frozen=True)
class Invariant:
    """A money invariant of a higher package: ``expected`` must equal ``actual`` (exact money)."""

    code: str  # stable: "transit", "holds"
    name: str
    expected: Decimal
    actual: Decimal
    in_flight: int

    @property
    def holds(self) -> bool:
        return self.expected == self.actual


#: Money invariants that packages above the ledger register (``AppConfig.ready()``): the name is
#: the area reported with a broken one ("withdrawals"), the function returns ``list[Invariant]``.
invariant_sources = Registry("money invariants checked beside the ledger")


def registered_invariants() -> list[tuple[str, Invariant]]:
    """Every registered invariant, as (area, invariant), in registration order."""
    return [(area, invariant) for area, source in invariant_sources for invariant in source()]


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


def _allowed_roles(kind: str, side: str) -> str:
    """The roles a voucher of ``kind`` may put ``side`` on, as text."""
    rule = POSTING_RULES.get(kind)
    roles = () if rule is None else sorted(rule.debit if side == DEBIT else rule.credit)
    return ", ".join(roles) or "no role (no rule for this kind)"


def _side_name(side: str) -> str:
    return "debit" if side == DEBIT else "credit"


def posting_rule_drifts() -> list[Drift]:
    """Every voucher with a leg its kind's posting rule forbids (``accounts.ledger.rules``), e.g. a
    customer ``transfer`` that debited the clearing account, written before the rule existed or
    around the ledger: one drift of kind ``posting rule`` per voucher, role and side. The distinct
    (kind, role, side) combinations in use are read first, then only the vouchers of the forbidden
    ones. A reversal has no rule: each of its legs must mirror a leg of the voucher it reverses,
    and a voucher that has been reversed (e.g. a pre-rule one, corrected) is not reported."""
    reversals = Q(transfer__kind=REVERSAL_KIND, transfer__reversal_of__isnull=False)
    # A voucher already reversed is undone: its reversal mirrors it (checked below).
    entries = Entry.objects.exclude(reversals).filter(transfer__reversal__isnull=True)
    combos = entries.values_list("transfer__kind", "account__role", "side").order_by().distinct()
    bad = [(kind, role, side) for kind, role, side in combos if rule_breaks(kind, [(None, role, side)])]
    drifts: list[Drift] = []
    if bad:
        match = Q()
        for kind, role, side in bad:
            match |= Q(transfer__kind=kind, account__role=role, side=side)
        rows = (
            entries.filter(match)
            .values_list("transfer_id", "transfer__kind", "account__role", "side", "account__number")
            .order_by("transfer_id", "pk")
        )
        seen = set()
        for transfer_id, kind, role, side, number in rows:
            if (transfer_id, role, side) not in seen:
                seen.add((transfer_id, role, side))
                drifts.append(
                    Drift(
                        "posting rule",
                        f"#{transfer_id} {kind}",
                        f"{_side_name(side)} only {_allowed_roles(kind, side)}",
                        f"{_side_name(side)}s {role} account {number}",
                    )
                )
    originals = set(
        Entry.objects.filter(
            transfer_id__in=Transfer.objects.filter(kind=REVERSAL_KIND, reversal_of__isnull=False).values("reversal_of_id")
        ).values_list("transfer_id", "account_id", "side", "amount")
    )
    mirrored = Entry.objects.filter(reversals).values_list(
        "transfer_id", "transfer__reversal_of_id", "account_id", "side", "amount", "account__role", "account__number"
    )
    for transfer_id, original_id, account_id, side, amount, role, number in mirrored.order_by("transfer_id", "pk"):
        if (original_id, account_id, CREDIT if side == DEBIT else DEBIT, amount) not in originals:
            drifts.append(
                Drift(
                    "posting rule",
                    f"#{transfer_id} reversal of #{original_id}",
                    f"the mirror of #{original_id}'s legs",
                    f"{_side_name(side)}s {role} account {number} {amount:.2f}",
                )
            )
    return drifts


def ledger_report() -> LedgerReport:
    """Recompute every stored balance and frozen amount, check every voucher balances, keeps its
    kind's posting rule, and the whole ledger nets to zero. Exact: all sums are integer fen."""
    drifts: list[Drift] = []
    sums = {
        row["account_id"]: row
        for row in Entry.objects.values("account_id").annotate(
            debit=Sum("amount", filter=Q(side=DEBIT), default=0), credit=Sum("amount", filter=Q(side=CREDIT), default=0)
        )
    }
    held = {
        row["account_id"]: sum_to_money(row["total"])
        for row in Hold.objects.filter(state=Hold.State.ACTIVE).values("account_id").annotate(total=Sum("amount"))
    }
    accounts = 0
    for account in Account.objects.only("pk", "number", "normal_side", "balance", "frozen", "kind", "role").iterator(
        chunk_size=2000
    ):
        accounts += 1
        row = sums.get(account.pk, {})
        debit, credit = sum_to_money(row.get("debit")), sum_to_money(row.get("credit"))
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
                f"{sum_to_money(row['debit']):.2f} / {sum_to_money(row['credit']):.2f} / {row['legs']} legs",
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
        drifts.append(Drift("voucher amount", f"#{transfer.pk}", f"{sum_to_money(transfer.debit):.2f}", f"{transfer.amount:.2f}"))
    drifts.extend(posting_rule_drifts())
    for area, invariant in registered_invariants():
        if not invariant.holds:
            drifts.append(Drift(area, invariant.name, f"{invariant.expected:.2f}", f"{invariant.actual:.2f}"))
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
