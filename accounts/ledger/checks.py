"""The ledger check: every stored balance and frozen amount re-derived from entries and holds,
every voucher balanced, the whole ledger netting to zero; plus the money invariants that higher
packages register (``register_invariants``), reported beside it by ``manage.py ledger_check``."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, Sum

from accounts.ledger.chart import CREDIT, DEBIT
from accounts.ledger.models import Account, CheckpointBalance, Entry, Hold, LedgerCheckpoint, Subject, Transfer
from accounts.ledger.rules import POSTING_RULES, REVERSAL_KIND, rule_breaks
from accounts.ledger.selectors import ZERO, TrialBalance, TrialBalanceRow, trial_balance
from backoffice import dates
from backoffice.money import from_fen, sum_to_money
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
    #: The checkpoint the check started from (incremental), None for a full check.
    checkpoint: LedgerCheckpoint | None = None


def _allowed_roles(kind: str, side: str) -> str:
    """The roles a voucher of ``kind`` may put ``side`` on, as text."""
    rule = POSTING_RULES.get(kind)
    roles = () if rule is None else sorted(rule.debit if side == DEBIT else rule.credit)
    return ", ".join(roles) or "no role (no rule for this kind)"


def _side_name(side: str) -> str:
    return "debit" if side == DEBIT else "credit"


def posting_rule_drifts(scope: Q | None = None) -> list[Drift]:
    """Every voucher with a leg its kind's posting rule forbids (``accounts.ledger.rules``), e.g. a
    customer ``transfer`` that debited the clearing account, written before the rule existed or
    around the ledger: one drift of kind ``posting rule`` per voucher, role and side. The distinct
    (kind, role, side) combinations in use are read first, then only the vouchers of the forbidden
    ones. A reversal has no rule: each of its legs must mirror a leg of the voucher it reverses,
    and a voucher that has been reversed (e.g. a pre-rule one, corrected) is not reported."""
    reversals = Q(transfer__kind=REVERSAL_KIND, transfer__reversal_of__isnull=False)
    # ``scope``: only the entries it matches (the incremental check: the vouchers after the checkpoint).
    scoped = Entry.objects.filter(scope) if scope is not None else Entry.objects.all()
    # A voucher already reversed is undone: its reversal mirrors it (checked below).
    entries = scoped.exclude(reversals).filter(transfer__reversal__isnull=True)
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
    reversal_vouchers = Transfer.objects.filter(kind=REVERSAL_KIND, reversal_of__isnull=False)
    if scope is not None:
        reversal_vouchers = reversal_vouchers.filter(pk__in=scoped.values("transfer_id"))
    originals = set(
        Entry.objects.filter(transfer_id__in=reversal_vouchers.values("reversal_of_id")).values_list(
            "transfer_id", "account_id", "side", "amount"
        )
    )
    mirrored = scoped.filter(reversals).values_list(
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


def _account_drifts(sums: dict[int, tuple[int, int]]) -> tuple[list[Drift], int]:
    """Every account's stored balance against ``sums`` (its debit and credit turnover in fen),
    its frozen amount against its active holds, and its available money."""
    drifts: list[Drift] = []
    held = {
        row["account_id"]: sum_to_money(row["total"])
        for row in Hold.objects.filter(state=Hold.State.ACTIVE).values("account_id").annotate(total=Sum("amount"))
    }
    accounts = 0
    for account in Account.objects.only("pk", "number", "normal_side", "balance", "frozen", "kind", "role").iterator(
        chunk_size=2000
    ):
        accounts += 1
        debit_fen, credit_fen = sums.get(account.pk, (0, 0))
        debit, credit = sum_to_money(debit_fen), sum_to_money(credit_fen)
        expected = debit - credit if account.normal_side == DEBIT else credit - debit
        if expected != account.balance:
            drifts.append(Drift("balance", account.number, f"{expected:.2f}", f"{account.balance:.2f}"))
        expected_frozen = held.get(account.pk, ZERO)
        if expected_frozen != account.frozen:
            drifts.append(Drift("frozen", account.number, f"{expected_frozen:.2f}", f"{account.frozen:.2f}"))
        if not account.may_overdraw and account.balance - account.frozen < 0:
            drifts.append(Drift("available", account.number, ">= 0.00", f"{account.balance - account.frozen:.2f}"))
    return drifts, accounts


def _fen(value) -> int:
    """A ``Sum`` over a money column as integer fen (None is zero)."""
    return int(sum_to_money(value) * 100)


def _turnover(entries) -> dict[int, tuple[int, int]]:
    """Debit and credit turnover in fen per account of ``entries``."""
    rows = entries.values("account_id").annotate(
        debit=Sum("amount", filter=Q(side=DEBIT), default=0), credit=Sum("amount", filter=Q(side=CREDIT), default=0)
    )
    return {row["account_id"]: (_fen(row["debit"]), _fen(row["credit"])) for row in rows}


def _voucher_drifts(entries, transfers) -> list[Drift]:
    """Every voucher of ``entries`` balanced with >= 2 legs and its amount = its debits; every
    voucher of ``transfers`` has entries."""
    drifts: list[Drift] = []
    unbalanced = (
        entries.values("transfer_id")
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
    for transfer_id in transfers.filter(entries__isnull=True).values_list("pk", flat=True):
        drifts.append(Drift("voucher", f"#{transfer_id}", "entries", "none"))
    amounts = (
        transfers.annotate(debit=Sum("entries__amount", filter=Q(entries__side=DEBIT), default=0))
        .exclude(debit=F("amount"))
        .exclude(entries__isnull=True)
    )
    for transfer in amounts.only("pk", "amount"):
        drifts.append(Drift("voucher amount", f"#{transfer.pk}", f"{sum_to_money(transfer.debit):.2f}", f"{transfer.amount:.2f}"))
    return drifts


def _totals_drifts(tb: TrialBalance) -> list[Drift]:
    drifts = []
    if tb.total_debit != tb.total_credit:
        drifts.append(Drift("ledger", "total turnover", f"{tb.total_debit:.2f}", f"{tb.total_credit:.2f}"))
    if tb.total_debit_balance != tb.total_credit_balance:
        drifts.append(
            Drift("ledger", "debit vs credit balances", f"{tb.total_debit_balance:.2f}", f"{tb.total_credit_balance:.2f}")
        )
    return drifts


#: PostgreSQL ``work_mem`` of the check's transaction: its group-bys over every entry sort and hash
#: in memory instead of spilling to disk (the server default is 4 MB).
CHECK_WORK_MEM = "256MB"


@contextmanager
def _one_snapshot():
    """On PostgreSQL, outside a caller's transaction: every query of the check reads one snapshot
    (REPEATABLE READ), so postings committed while it runs never show as drift between the sums of
    entries and the stored balances read a moment later; and a larger ``work_mem``."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(f"SET LOCAL work_mem = '{CHECK_WORK_MEM}'")
        yield


def ledger_report(*, full: bool = False) -> LedgerReport:
    """Recompute every stored balance and frozen amount, check every voucher balances, keeps its
    kind's posting rule, and the whole ledger nets to zero. Exact: all sums are integer fen.

    With a checkpoint (``LedgerCheckpoint``, written by a clean end-of-day run) and not ``full``:
    incremental, the checkpoint's balances plus the entries posted after its cut, only the
    vouchers after it, and the checkpoint's own consistency (``checkpoint_drifts``). ``full``
    re-derives everything from every entry, whatever the checkpoints say."""
    with _one_snapshot():
        return _ledger_report(full=full)


def _ledger_report(*, full: bool) -> LedgerReport:
    checkpoint = None if full else latest_checkpoint()
    if checkpoint is None:
        drifts, accounts = _account_drifts(_turnover(Entry.objects.all()))
        drifts += _voucher_drifts(Entry.objects.all(), Transfer.objects.all())
        drifts += posting_rule_drifts()
        tb = trial_balance()
    else:
        after = Entry.objects.filter(created_at__gte=checkpoint.cut_at)
        sums = checkpoint_turnover(checkpoint)
        for account_id, (debit, credit) in _turnover(after).items():
            base_debit, base_credit = sums.get(account_id, (0, 0))
            sums[account_id] = (base_debit + debit, base_credit + credit)
        drifts, accounts = _account_drifts(sums)
        drifts += checkpoint_drifts(checkpoint)
        new_vouchers = Q(transfer_id__in=after.values("transfer_id"))
        drifts += _voucher_drifts(
            Entry.objects.filter(new_vouchers),
            Transfer.objects.filter(pk__in=after.values("transfer_id")),
        )
        # A voucher written after the checkpoint with no entry at all (never by the ledger).
        for transfer_id in Transfer.objects.filter(pk__gt=checkpoint.last_transfer_id, entries__isnull=True).values_list(
            "pk", flat=True
        ):
            drifts.append(Drift("voucher", f"#{transfer_id}", "entries", "none"))
        drifts += posting_rule_drifts(new_vouchers)
        drifts += balance_after_drifts(checkpoint)
        tb = trial_balance_since(checkpoint)
    for area, invariant in registered_invariants():
        if not invariant.holds:
            drifts.append(Drift(area, invariant.name, f"{invariant.expected:.2f}", f"{invariant.actual:.2f}"))
    drifts += _totals_drifts(tb)
    return LedgerReport(
        trial_balance=tb,
        drifts=drifts,
        accounts_checked=accounts,
        transfers_checked=Transfer.objects.count(),
        checkpoint=checkpoint,
    )


# -- checkpoints: the daily trial balance the end-of-day run writes -----------------------------------


def latest_checkpoint() -> LedgerCheckpoint | None:
    return LedgerCheckpoint.objects.order_by("-business_date").first()


def checkpoint_turnover(checkpoint: LedgerCheckpoint) -> dict[int, tuple[int, int]]:
    """Debit and credit turnover in fen per account at the checkpoint (all its subjects)."""
    rows = checkpoint.balances.values("account_id").annotate(debit=Sum("debit"), credit=Sum("credit"))
    return {row["account_id"]: (_fen(row["debit"]), _fen(row["credit"])) for row in rows}


def checkpoint_drifts(checkpoint: LedgerCheckpoint) -> list[Drift]:
    """The checkpoint's own consistency: its rows add up to its totals and its debits equal its
    credits. Its rows against the entries: every account's closing balance in it is where the
    ``balance_after`` chain of the account's first entry after the cut starts
    (``balance_after_drifts``), and, plus the entries after it, the stored balance (``ledger_report``)."""
    drifts: list[Drift] = []
    name = f"checkpoint {checkpoint.business_date.isoformat()}"
    totals = checkpoint.balances.aggregate(debit=Sum("debit"), credit=Sum("credit"), entries=Sum("entries"))
    debit, credit = sum_to_money(totals["debit"]), sum_to_money(totals["credit"])
    if debit != checkpoint.total_debit or credit != checkpoint.total_credit or (totals["entries"] or 0) != checkpoint.entries:
        drifts.append(
            Drift(
                "checkpoint",
                name,
                f"{checkpoint.total_debit:.2f} / {checkpoint.total_credit:.2f} / {checkpoint.entries} entries",
                f"{debit:.2f} / {credit:.2f} / {totals['entries'] or 0} entries in its rows",
            )
        )
    if debit != credit:
        drifts.append(Drift("checkpoint", f"{name} turnover", f"{debit:.2f}", f"{credit:.2f}"))
    return drifts


def balance_after_drifts(checkpoint: LedgerCheckpoint) -> list[Drift]:
    """Every entry after the checkpoint carries its account's running balance: the checkpoint's
    closing balance plus the account's entries after the cut, in posting (id) order."""
    drifts: list[Drift] = []
    base = checkpoint_turnover(checkpoint)
    sides = dict(Account.objects.values_list("pk", "normal_side"))
    running: dict[int, int] = {}
    entries = (
        Entry.objects.filter(created_at__gte=checkpoint.cut_at)
        .order_by("account_id", "pk")
        .values_list("pk", "account_id", "side", "amount", "balance_after")
    )
    for pk, account_id, side, amount, balance_after in entries.iterator(chunk_size=5000):
        normal = sides.get(account_id, CREDIT)
        if account_id not in running:
            debit, credit = base.get(account_id, (0, 0))
            running[account_id] = debit - credit if normal == DEBIT else credit - debit
        fen = int(amount * 100)
        running[account_id] += fen if side == normal else -fen
        if int(balance_after * 100) != running[account_id]:
            drifts.append(Drift("balance after", f"entry #{pk}", f"{from_fen(running[account_id]):.2f}", f"{balance_after:.2f}"))
            running[account_id] = int(balance_after * 100)  # report each break once, not every entry after it
    return drifts


def trial_balance_since(checkpoint: LedgerCheckpoint) -> TrialBalance:
    """The trial balance from the checkpoint's rows plus the entries after its cut."""
    sums: dict[str, list[int]] = {}
    for row in checkpoint.balances.values("subject").annotate(debit=Sum("debit"), credit=Sum("credit")):
        sums[row["subject"]] = [_fen(row["debit"]), _fen(row["credit"])]
    after = (
        Entry.objects.filter(created_at__gte=checkpoint.cut_at)
        .values("subject")
        .annotate(debit=Sum("amount", filter=Q(side=DEBIT), default=0), credit=Sum("amount", filter=Q(side=CREDIT), default=0))
    )
    for row in after:
        pair = sums.setdefault(row["subject"], [0, 0])
        pair[0] += _fen(row["debit"])
        pair[1] += _fen(row["credit"])
    rows = []
    for subject in Subject.objects.order_by("code"):
        debit, credit = sums.get(subject.code, (0, 0))
        rows.append(TrialBalanceRow(subject=subject, debit=from_fen(debit), credit=from_fen(credit)))
    return TrialBalance(
        rows=rows,
        total_debit=sum((r.debit for r in rows), ZERO),
        total_credit=sum((r.credit for r in rows), ZERO),
        total_debit_balance=sum((r.debit_balance for r in rows), ZERO),
        total_credit_balance=sum((r.credit_balance for r in rows), ZERO),
    )


def checkpoint_write(*, business_date: dt.date) -> LedgerCheckpoint | None:
    """The checkpoint of ``business_date``: every account's turnover over the entries posted before
    the start of the next business day, from the previous checkpoint plus the entries between the
    two cuts (or every entry, the first time). None when one exists for that date or a later one
    (a checkpoint never goes back). Call it only after a clean check: it trusts the entries."""
    if LedgerCheckpoint.objects.filter(business_date__gte=business_date).exists():
        return None
    cut = dates.start_of_day(business_date + dt.timedelta(days=1))
    previous = LedgerCheckpoint.objects.filter(business_date__lt=business_date).order_by("-business_date").first()
    rows: dict[tuple[int, str], list[int]] = {}
    entries = Entry.objects.filter(created_at__lt=cut)
    if previous is not None:
        for b in previous.balances.values_list("account_id", "subject", "debit", "credit", "entries"):
            rows[(b[0], b[1])] = [int(b[2] * 100), int(b[3] * 100), b[4]]
        entries = entries.filter(created_at__gte=previous.cut_at)
    new = entries.values("account_id", "subject").annotate(
        debit=Sum("amount", filter=Q(side=DEBIT), default=0),
        credit=Sum("amount", filter=Q(side=CREDIT), default=0),
        legs=Count("pk"),
        last_transfer=Max("transfer_id"),
    )
    last_transfer = previous.last_transfer_id if previous else 0
    for row in new:
        acc = rows.setdefault((row["account_id"], row["subject"]), [0, 0, 0])
        acc[0] += _fen(row["debit"])
        acc[1] += _fen(row["credit"])
        acc[2] += row["legs"]
        last_transfer = max(last_transfer, row["last_transfer"] or 0)
    with transaction.atomic():
        checkpoint = LedgerCheckpoint.objects.create(
            business_date=business_date,
            cut_at=cut,
            entries=sum(r[2] for r in rows.values()),
            last_transfer_id=last_transfer,
            total_debit=from_fen(sum(r[0] for r in rows.values())),
            total_credit=from_fen(sum(r[1] for r in rows.values())),
        )
        CheckpointBalance.objects.bulk_create(
            (
                CheckpointBalance(
                    checkpoint=checkpoint,
                    account_id=account_id,
                    subject=subject,
                    debit=from_fen(debit),
                    credit=from_fen(credit),
                    entries=legs,
                )
                for (account_id, subject), (debit, credit, legs) in sorted(rows.items())
            ),
            batch_size=5000,
        )
    return checkpoint


def ledger_drift() -> list[Drift]:
    return ledger_report().drifts
