"""The money-in-and-out invariants, reported by ``ledger_check`` and the console dashboard: the
transit account's balance equals the amount + fee of the transit-mode withdrawals in flight, and
the active withdrawal holds equal the freeze-mode ones in flight."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from accounts.ledger.chart import Role
from accounts.ledger.checks import Invariant
from accounts.ledger.models import Account, Hold
from accounts.payments.models import Channel, Recharge, Withdrawal
from backoffice.money import sum_to_money as money_sum

ZERO = Decimal("0.00")


def _fen_sum(queryset, field_name: str) -> Decimal:
    """An exact sum of a money column (integer fen), as the ledger check sums it."""
    return money_sum(queryset.aggregate(total=Sum(field_name))["total"])


def payment_invariants() -> list[Invariant]:
    in_flight = Withdrawal.objects.filter(state__in=Withdrawal.IN_FLIGHT)
    transit_rows = in_flight.filter(strategy=Channel.Strategy.TRANSIT).exclude(state=Withdrawal.State.CREATED)
    freeze_rows = in_flight.filter(strategy=Channel.Strategy.FREEZE).exclude(state=Withdrawal.State.CREATED)
    # Every transit account (the bank's and each platform's own, accounts.ledger.selectors.internal_account_for)
    # together holds the transit withdrawals in flight.
    transits = Account.objects.filter(kind=Account.Kind.INTERNAL, role=Role.TRANSIT_WITHDRAWAL)
    transit_expected = _fen_sum(transit_rows, "amount") + _fen_sum(transit_rows, "fee")
    freeze_expected = _fen_sum(freeze_rows, "amount") + _fen_sum(freeze_rows, "fee")
    # The holds the withdrawal service placed (ledger client "withdrawals"); a partner's own hold
    # with the reason "withdrawal" (POST /api/v1/holds/) is not one of them.
    holds = Hold.objects.filter(state=Hold.State.ACTIVE, reason=Hold.Reason.WITHDRAWAL, client="withdrawals")
    return [
        Invariant(
            "transit",
            "transit account = transit withdrawals in flight",
            transit_expected,
            _fen_sum(transits, "balance"),
            transit_rows.count(),
        ),
        Invariant(
            "holds",
            "withdrawal holds = freeze withdrawals in flight",
            freeze_expected,
            _fen_sum(holds, "amount"),
            freeze_rows.count(),
        ),
    ]


def payments_close_blockers(account: Account) -> list[str]:
    """Money in flight that stops the account from closing (``states.services.close_blockers``):
    a withdrawal or a recharge not yet final (a transit-mode withdrawal holds no money on it)."""
    reasons = []
    if Withdrawal.objects.filter(account_id=account.pk, state__in=Withdrawal.IN_FLIGHT).exists():
        reasons.append("withdrawals_in_flight")
    if Recharge.objects.filter(account_id=account.pk, state__in=Recharge.IN_FLIGHT).exists():
        reasons.append("recharges_in_flight")
    return reasons
