"""Accrual exactly once under concurrency (PostgreSQL: SQLite ignores SELECT ... FOR UPDATE)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from conftest import needs_postgres
from custody.fees import services as fees
from custody.fees.models import FeeAccrual, FeeInvoice


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_accruing_the_same_day_make_one_row_with_one_figure(make_platform, lender, fund, approved_schedule, today):
    platform = make_platform("P001")
    fund(lender(platform).account, "25000000.00")
    approved_schedule(platform, bands=[("0", "0.05")], day_count="365")
    tomorrow = today + dt.timedelta(days=1)

    def accrue(_):
        try:
            accrual = fees.fees_accrue(platform=platform, business_date=today, as_of=tomorrow)
            return (accrual.pk, accrual.fee_exact)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = set(pool.map(accrue, range(4)))
    assert len(results) == 1  # the same row and the same figure for every worker
    assert FeeAccrual.objects.filter(platform=platform, business_date=today).count() == 1


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_collecting_one_invoice_debit_it_once(make_platform, approved_schedule, fund, today):
    from decimal import Decimal

    from accounts.ledger.models import Account, Transfer
    from custody.fees import selectors

    platform = make_platform("P001")
    approved_schedule(platform, monthly_minimum=Decimal("8000.00"))
    fund(platform.own_funds, "10000.00")
    invoice = fees.invoice_issue(
        platform=platform, month=today, as_of=selectors.next_month(today.replace(day=1)) + dt.timedelta(days=9)
    )

    def collect(_):
        try:
            return fees.invoice_collect(invoice_id=invoice.pk).state
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        states = list(pool.map(collect, range(4)))
    assert states == ["paid"] * 4
    assert Transfer.objects.filter(kind="custody_fee").count() == 1
    assert Account.objects.get(pk=platform.own_funds_id).balance == Decimal("2000.00")
    assert FeeInvoice.objects.get(pk=invoice.pk).state == "paid"
