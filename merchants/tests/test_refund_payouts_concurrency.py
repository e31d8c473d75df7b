"""Refund payouts (代付) proposed concurrently through the signed API, on PostgreSQL row locks
(skipped on SQLite). R-REF-01: 10 concurrent proposals asking for 150 % of a payment's cash never
propose more than it (proposals awaiting the checker count); the same ``out_payout_no`` sent
concurrently proposes once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from accounts.tests.api_helpers import SignedClient, make_credentials
from conftest import needs_postgres
from merchants.models import MerchantPayout, Payment
from merchants.tests.test_refunds_concurrency import _start_from_an_empty_database, run_concurrently  # noqa: F401

D = Decimal
PAYEE = {"payee_name": "张三", "payee_account": "6222020200112233445", "reason": "refund past the window"}

pytestmark = [needs_postgres, pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _old(payment) -> Payment:
    Payment.objects.filter(pk=payment.pk).update(resolved_at=payment.resolved_at - dt.timedelta(days=400))
    return Payment.objects.get(pk=payment.pk)


def test_r_ref_01_ten_concurrent_refund_payout_proposals_never_exceed_the_cash(make_merchant, pay):
    merchant = make_merchant()
    payment = _old(pay(merchant, "100.00"))
    credentials = make_credentials(f"merchant:{merchant.pk}")

    def ask(n: int):
        api = SignedClient(Client(), credentials)
        body = {"out_payout_no": f"RP-{n}", "amount": "15.00", **PAYEE}
        return api.post(f"/api/v1/payments/{payment.pk}/refund-payouts/", body)

    answers = run_concurrently(ask, list(range(10)))
    assert sorted(a.status_code for a in answers) == [201] * 6 + [409] * 4, [a.content for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"limit_exceeded"}
    proposed = MerchantPayout.objects.filter(payment=payment, state=MerchantPayout.State.AWAITING_CHECK)
    assert sum(p.amount for p in proposed) == D("90.00")


def test_the_same_refund_payout_sent_concurrently_is_proposed_once(make_merchant, pay):
    merchant = make_merchant()
    payment = _old(pay(merchant, "100.00"))
    credentials = make_credentials(f"merchant:{merchant.pk}")

    def ask(n: int):
        api = SignedClient(Client(), credentials)
        body = {"out_payout_no": "RP-SAME", "amount": "40.00", **PAYEE}
        return api.post(f"/api/v1/payments/{payment.pk}/refund-payouts/", body)

    answers = run_concurrently(ask, list(range(5)))
    assert {a.status_code for a in answers} == {201}, [a.content for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert MerchantPayout.objects.filter(payment=payment).count() == 1
