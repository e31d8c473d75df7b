"""The settlement job run by two workers at once, on PostgreSQL row locks (skipped on SQLite): one
batch, one clearing file, one settlement voucher, one payout, the books balanced."""

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
from backoffice.dates import bank_tz
from conftest import needs_postgres
from merchants import settlement
from merchants.models import ClearingFile, MerchantPayout, SettlementBatch
from merchants.tests.settlement.conftest import at, settle_day

pytestmark = [needs_postgres, pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(scope="module", autouse=True)
def _start_from_an_empty_database(django_db_setup, django_db_blocker):
    if connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, reset_sequences=False, verbosity=0)
    yield


def test_two_workers_running_the_job_together_settle_once(settled_merchant, pay):
    merchant = settled_merchant()
    for amount in ("10.00", "20.00", "30.00"):
        pay(merchant, amount)
    day = dt.datetime.now(bank_tz()).date()
    now = at(settle_day(day, merchant))
    barrier = threading.Barrier(2)

    def run(_n):
        try:
            barrier.wait(timeout=10)
            return settlement.settlement_run(business_date=day, now=now)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run, range(2)))
    batch = SettlementBatch.objects.get(merchant=merchant)
    assert batch.state == SettlementBatch.State.SETTLED and batch.available_amount == Decimal("59.64")  # 60.00 − 0.36
    assert ClearingFile.objects.count() == 1
    assert Transfer.objects.filter(kind="merchant_settlement").count() == 1
    assert MerchantPayout.objects.filter(merchant=merchant).count() == 1
    assert trial_balance().balanced and not ledger_drift()
