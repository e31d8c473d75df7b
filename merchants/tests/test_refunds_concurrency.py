"""Refunds under real concurrency, through the signed API: threads on PostgreSQL row locks (skipped
on SQLite). R-REF-01: 10 concurrent partial refunds asking for 150 % of a payment never refund more
than it; R-REF-02: the same full refund sent concurrently has one effect. Balances asserted."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client

from accounts.ledger.checks import ledger_drift
from accounts.ledger.selectors import trial_balance
from accounts.tests.api_helpers import SignedClient, make_credentials
from conftest import needs_postgres
from merchants.models import Payment, Refund
from merchants.tests.conftest import balances

D = Decimal

pytestmark = [needs_postgres, pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(scope="module", autouse=True)
def _start_from_an_empty_database(django_db_setup, django_db_blocker):
    """As in accounts' concurrency tests: a clean database before this module's first test."""
    if connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, reset_sequences=False, verbosity=0)
    yield


def run_concurrently(func, arguments) -> list:
    barrier = threading.Barrier(len(arguments))

    def call(argument):
        try:
            barrier.wait(timeout=10)
            return func(argument)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(arguments)) as pool:
        return list(pool.map(call, arguments))


def test_r_ref_01_ten_concurrent_partial_refunds_of_150_percent_never_exceed_the_payment(make_merchant, pay):
    merchant = make_merchant(rate="0.006")
    before = balances(merchant)
    payment = pay(merchant, "100.00")  # MDR 0.60, pending 99.40
    credentials = make_credentials(f"merchant:{merchant.pk}")

    def ask(n: int):
        api = SignedClient(Client(), credentials)
        return api.post(f"/api/v1/payments/{payment.pk}/refunds/", {"out_refund_no": f"R-{n}", "amount": "15.00"})

    answers = run_concurrently(ask, list(range(10)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 6 + [409] * 4, [a.content for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"limit_exceeded"}
    payment = Payment.objects.get(pk=payment.pk)
    assert (payment.refunded_amount, payment.reserved_amount, payment.refunded_mdr) == (D("90.00"), D("0"), D("0.54"))
    assert Refund.objects.filter(payment=payment, state="succeeded").count() == 6
    after = balances(merchant)
    assert after["pending"] - before["pending"] == D("9.94")  # 99.40 − (90.00 − 0.54)
    assert after["clearing"] - before["clearing"] == D("10.00")  # 100.00 in, 90.00 out
    assert after["fee_income"] - before["fee_income"] == D("0.06")  # 0.60 charged, 0.54 given back
    assert trial_balance().balanced
    assert ledger_drift() == []


def test_r_ref_02_a_repeated_full_refund_sent_concurrently_has_one_effect(make_merchant, pay):
    merchant = make_merchant(rate="0.006")
    before = balances(merchant)
    payment = pay(merchant, "100.00")
    credentials = make_credentials(f"merchant:{merchant.pk}")

    def ask(n: int):
        api = SignedClient(Client(), credentials)
        return api.post(f"/api/v1/payments/{payment.pk}/refunds/", {"out_refund_no": "FULL", "amount": "100.00"})

    answers = run_concurrently(ask, list(range(5)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert Refund.objects.filter(payment=payment).count() == 1
    assert balances(merchant) == before  # paid and refunded in full: every balance back
    assert ledger_drift() == []


def test_payments_and_refunds_of_one_merchant_run_together_without_deadlock(make_merchant, pay):
    merchant = make_merchant(rate="0.006")
    before = balances(merchant)
    paid = [pay(merchant, "10.00", out_trade_no=f"OLD-{n}") for n in range(4)]
    credentials = make_credentials(f"merchant:{merchant.pk}")

    def work(n: int):
        api = SignedClient(Client(), credentials)
        if n < 4:
            return api.post(f"/api/v1/payments/{paid[n].pk}/refunds/", {"out_refund_no": f"R-{n}", "amount": "10.00"})
        return api.post(
            f"/api/v1/merchants/{merchant.pk}/payments/",
            {"out_trade_no": f"NEW-{n}", "method": "alipay", "order_amount": "10.00"},
        )

    answers = run_concurrently(work, list(range(8)))
    assert [a.status_code for a in answers] == [201] * 8, [a.content for a in answers]
    assert Refund.objects.filter(state="succeeded").count() == 4
    assert Payment.objects.filter(out_trade_no__startswith="NEW-", state="succeeded").count() == 4
    after = balances(merchant)
    assert after["pending"] - before["pending"] == D("39.76")  # 4 new payments of 10.00 less 0.06 MDR each
    assert trial_balance().balanced
    assert ledger_drift() == []
