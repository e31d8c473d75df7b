"""Held items under two workers at once, on PostgreSQL row locks (skipped on SQLite): the review
run together releases a late-matched item once (one voucher, one payout), two checkers deciding
together book one 调账."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, connections

from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Transfer
from accounts.ledger.selectors import trial_balance
from accounts.payments.channels import ClearingRow
from accounts.tests.admin_support import make_staff
from backoffice.errors import DomainError
from conftest import needs_postgres
from merchants import held, settlement
from merchants.models import HeldAdjustment, HeldItem, MerchantPayout
from merchants.tests.settlement.conftest import at

pytestmark = [needs_postgres, pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module", autouse=True)
def _start_from_an_empty_database(django_db_setup, django_db_blocker):
    if connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, reset_sequences=False, verbosity=0)
    yield


def _together(fn):
    barrier = threading.Barrier(2)

    def run(n):
        try:
            barrier.wait(timeout=10)
            return fn(n)
        except DomainError as exc:
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run, range(2)))


def test_r_rec_03_two_workers_reviewing_together_release_once(held_batch, pay_channel):
    merchant, batch, payments = held_batch(short=["20.00"])
    short, day = payments["short"][0], batch.business_date
    row = ClearingRow("LATE-1", short.request_id, "payment", short.paid_amount, day + DAY)
    settlement.clearing_file_import(channel=pay_channel, business_date=day + DAY, rows=[row])
    _together(lambda _n: held.held_items_review(business_date=day + DAY, now=at(day + 2 * DAY)))
    item = HeldItem.objects.get()
    assert item.state == HeldItem.State.MATCHED_LATE and item.released_amount == Decimal("20.00")
    assert Transfer.objects.filter(kind="merchant_settlement", idempotency_key__contains=":held:").count() == 1
    assert MerchantPayout.objects.filter(merchant=merchant, amount=Decimal("20.00")).count() == 1
    assert trial_balance().balanced and not ledger_drift()


def test_r_rec_04_two_checkers_deciding_together_book_once(held_batch, maker):
    merchant, batch, payments = held_batch(short=["20.00"])
    day = batch.business_date
    held.held_items_review(business_date=day + DAY, now=at(day + 2 * DAY))
    held.held_items_review(business_date=day + 2 * DAY, now=at(day + 3 * DAY))
    item = HeldItem.objects.get()
    adjustment = held.adjustment_propose(held_id=item.pk, reason="channel_confirmed", note="confirmed", maker=maker)
    checkers = [make_staff(f"held-checker-{n}", "supervisor") for n in range(2)]
    results = _together(lambda n: held.adjustment_approve(adjustment_id=adjustment.pk, checker=checkers[n]))
    assert sum(isinstance(r, DomainError) for r in results) == 1  # the second finds it decided
    assert HeldAdjustment.objects.get(pk=adjustment.pk).state == HeldAdjustment.State.APPROVED
    assert Transfer.objects.filter(idempotency_key__contains=":held:").count() == 1
    assert trial_balance().balanced and not ledger_drift()
