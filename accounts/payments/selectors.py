"""Reads of money in and out: filtered lists of withdrawals and recharges, newest first."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from accounts.payments.models import Recharge, Withdrawal
from backoffice import dates


def instructions_filter(
    rows: QuerySet,
    *,
    clients: list[str] | None = None,
    accounts: QuerySet | None = None,
    state: str | None = None,
    account_number: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet:
    """``rows`` (withdrawals, recharges, and later any channel instruction) of the given clients
    and accounts, in a state, created between two business dates (both inclusive), newest first."""
    if clients is not None:
        rows = rows.filter(client__in=clients)
    if accounts is not None:
        rows = rows.filter(account__in=accounts)
    if state:
        rows = rows.filter(state=state)
    if account_number:
        rows = rows.filter(account__number=account_number)
    if date_from:
        rows = rows.filter(created_at__gte=dates.start_of_day(date_from))
    if date_to:
        rows = rows.filter(created_at__lt=dates.start_of_day(date_to + dt.timedelta(days=1)))
    return rows.order_by("-created_at", "-pk")


def withdrawal_list(**filters) -> QuerySet[Withdrawal]:
    """Withdrawals, filtered as ``instructions_filter`` says."""
    return instructions_filter(Withdrawal.objects.select_related("account", "channel", "card"), **filters)


def recharge_list(**filters) -> QuerySet[Recharge]:
    """Recharges, filtered as ``instructions_filter`` says."""
    return instructions_filter(Recharge.objects.select_related("account", "channel"), **filters)
