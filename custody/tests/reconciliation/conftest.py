"""Fixtures of the reconciliation tests: an active platform with verified sub-accounts funded
through the real ledger and bids placed through the real loan services (the loans' fixtures), and
helpers that write the platform's daily CSV and move a record to another business day."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.ledger.models import Entry
from backoffice.dates import business_date, start_of_day
from custody.reconciliation.files import HEADER
from custody.tests.loans.conftest import bid, borrower, grant, lender, new_loan, open_sub, platform  # noqa: F401  (fixtures)


@pytest.fixture
def today() -> dt.date:
    return business_date(timezone.now())


@pytest.fixture
def day(today) -> dt.date:
    """The business day reconciled: yesterday (closed)."""
    return today - dt.timedelta(days=1)


def at(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    return start_of_day(day) + dt.timedelta(hours=hour, minutes=minute)


def move_to(moment: dt.datetime, *rows) -> None:
    """Move records (and the entries of their vouchers) to ``moment``: as if they happened then."""
    for row in rows:
        type(row).objects.filter(pk=row.pk).update(created_at=moment)


def entries_to(moment: dt.datetime, *accounts) -> None:
    """Every voucher that touched these accounts (all its legs) posted at ``moment``."""
    vouchers = Entry.objects.filter(account__in=accounts).values_list("transfer_id", flat=True)
    Entry.objects.filter(transfer_id__in=list(vouchers)).update(created_at=moment)


def csv_file(day: dt.date, instructions=(), balances=()) -> bytes:
    """The platform's daily file: ``instructions`` as (type, out_request_no, sub_account, amount,
    state), ``balances`` as (sub_account, amount)."""
    lines = [",".join(HEADER)]
    for kind, reference, account, amount, state in instructions:
        lines.append(f"instruction,{day.isoformat()},{kind},{reference},{account},{amount},{state}")
    for account, amount in balances:
        lines.append(f"balance,{day.isoformat()},,,{account},{amount},")
    return ("\n".join(lines) + "\n").encode()
