"""Helpers for the tier-limit tests: open and activate Class II/III accounts, post classified flows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import uuid4
from zoneinfo import ZoneInfo

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Entry, Transfer
from accounts.ledger.selectors import internal_account
from accounts.limits.models import KycTask, LimitCounter
from accounts.limits.services import INFLOW_KINDS, Flow, limit_guard
from accounts.parties.services import account_open
from accounts.states.services import account_change_state

SH = ZoneInfo("Asia/Shanghai")


def at(year, month, day, hour=12, minute=0, second=0) -> dt.datetime:
    """A moment on the Asia/Shanghai wall clock."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=SH)


def open_active(party, tier: str) -> Account:
    account = account_open(party=party, role=Role.PERSONAL, tier=tier)
    account_change_state(account_id=account.pk, action="activate")
    return Account.objects.get(pk=account.pk)


def post(account: Account, kind: str, amount, *, when: dt.datetime, counterparty: Account | None = None) -> Transfer:
    """Post one classified flow between the account and the clearing account (the outside world)."""
    other = counterparty or internal_account(Role.CLEARING)
    amount = Decimal(str(amount))
    if kind in INFLOW_KINDS:
        legs = ledger.move(from_account_id=other.pk, to_account_id=account.pk, amount=amount)
    else:
        legs = ledger.move(from_account_id=account.pk, to_account_id=other.pk, amount=amount)
    return ledger.post_transfer(
        client="test-limits",
        idempotency_key=str(uuid4()),
        kind="test",  # the flow's kind goes to the limit guard; the voucher is a test-only kind
        legs=legs,
        guards=[limit_guard(flows=[Flow(account.pk, kind)], at=when)],
    )


def counters(party) -> dict[tuple[str, str, str, str], Decimal]:
    return {(c.tier, c.bucket, c.period, c.period_key): c.used for c in LimitCounter.objects.filter(party=party)}


def snapshot(party) -> tuple:
    """Everything a refused posting must leave untouched."""
    balances = tuple(Account.objects.order_by("pk").values_list("pk", "balance", "frozen"))
    return (
        balances,
        counters(party),
        Transfer.objects.count(),
        Entry.objects.count(),
        KycTask.objects.count(),
    )
