"""Refund payouts (代付) through the merchants' API: a refund past the channel's window answers 409
``refund_window_closed`` pointing at the refund payout; ``POST /api/v1/payments/{id}/refund-payouts/``
proposes one (201, ``awaiting_check``), idempotent by ``Idempotency-Key`` and by ``out_payout_no``;
merchant isolation (404); only an operator of the bank approves it (maker ≠ checker)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.tests.api_helpers import signed
from merchants import payouts
from merchants.models import MerchantPayout, Payment, Refund

pytestmark = pytest.mark.django_db

ORDER = {"out_trade_no": "ORDER-1", "method": "wechat", "order_amount": "100.00"}
PAYEE = {"payee_name": "张三", "payee_account": "6222 0202 0011 2233 445", "reason": "refund past the window"}


def _old_payment(api, merchant, capture, *, days=400) -> dict:
    """A payment succeeded ``days`` ago (past the channel's 365-day refund window)."""
    with capture(execute=True):
        created = api.post(f"/api/v1/merchants/{merchant.pk}/payments/", ORDER)
    assert created.status_code == 201, created.content
    payment = Payment.objects.get(pk=created.json()["id"])
    Payment.objects.filter(pk=payment.pk).update(resolved_at=payment.resolved_at - dt.timedelta(days=days))
    return created.json()


def test_r_ref_04_refund_past_the_window_is_409_pointing_at_the_refund_payout(
    client, make_merchant, django_capture_on_commit_callbacks
):
    merchant = make_merchant()
    api = signed(client, f"merchant:{merchant.pk}")
    payment = _old_payment(api, merchant, django_capture_on_commit_callbacks)
    refused = api.post(f"/api/v1/payments/{payment['id']}/refunds/", {"out_refund_no": "R-1", "amount": "10.00"})
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "refund_window_closed" and "refund payout" in body["message"]
    assert body["data"]["days"] == 365 and body["data"]["refundable_cash"] == "100.00"
    assert body["data"]["refund_payout"] == f"/api/v1/payments/{payment['id']}/refund-payouts/"
    assert body["data"]["window_closed_at"].endswith("+08:00")
    assert not Refund.objects.exists()


def test_r_ref_01_refund_payout_proposed_through_the_api(client, make_merchant, django_capture_on_commit_callbacks):
    merchant = make_merchant()
    api = signed(client, f"merchant:{merchant.pk}:refunds", f"merchant:{merchant.pk}:payments")
    payment = _old_payment(api, merchant, django_capture_on_commit_callbacks)
    url = f"/api/v1/payments/{payment['id']}/refund-payouts/"
    too_much = api.post(url, {"out_payout_no": "RP-0", "amount": "100.01", **PAYEE})
    assert too_much.status_code == 409 and too_much.json()["code"] == "limit_exceeded"
    assert too_much.json()["data"] == {"limit": "refundable", "remaining": "100.00"}
    bad = api.post(url, {"out_payout_no": "RP-0", "amount": "1.00", "payee_name": "", "payee_account": "12", "reason": ""})
    assert bad.status_code == 400 and {"payee_name", "reason"} <= set(bad.json()["fields"])

    created = api.post(url, {"out_payout_no": "RP-1", "amount": "60.00", **PAYEE})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["state"], body["amount"], body["out_payout_no"], body["origin"]) == ("awaiting_check", "60.00", "RP-1", "api")
    assert body["payee_account"] == "**** 3445" and "6222020200112233445" not in created.text
    payout = MerchantPayout.objects.get(pk=body["id"])
    assert payout.maker is None and payout.proposed_by_label.startswith("api:")
    assert "6222020200112233445" not in payout.payee_account_encrypted  # stored encrypted
    # Nothing moved yet; the proposal counts against what a next one may pay.
    assert Payment.objects.get(pk=payment["id"]).reserved_cash == Decimal("0")
    detail = api.get(f"/api/v1/payments/{payment['id']}/").json()
    assert detail["refundable_cash"] == "40.00" and [p["id"] for p in detail["refund_payouts"]] == [body["id"]]
    assert api.post(url, {"out_payout_no": "RP-2", "amount": "40.01", **PAYEE}).json()["code"] == "limit_exceeded"
    assert api.get(f"/api/v1/refund-payouts/{body['id']}/").json()["state"] == "awaiting_check"


def test_refund_payout_is_not_for_a_payment_inside_the_window(client, make_merchant, django_capture_on_commit_callbacks):
    merchant = make_merchant()
    api = signed(client, f"merchant:{merchant.pk}")
    payment = _old_payment(api, merchant, django_capture_on_commit_callbacks, days=1)
    refused = api.post(f"/api/v1/payments/{payment['id']}/refund-payouts/", {"out_payout_no": "RP-1", "amount": "1.00", **PAYEE})
    assert refused.status_code == 409 and refused.json()["code"] == "refund_window_open"
    assert "window_closes_at" in refused.json()["data"]
    assert not MerchantPayout.objects.exists()


def test_refund_payout_idempotent_retry(client, make_merchant, django_capture_on_commit_callbacks):
    merchant = make_merchant()
    api = signed(client, f"merchant:{merchant.pk}")
    payment = _old_payment(api, merchant, django_capture_on_commit_callbacks)
    url = f"/api/v1/payments/{payment['id']}/refund-payouts/"
    body = {"out_payout_no": "RP-1", "amount": "30.00", **PAYEE}
    first = api.post(url, body, idempotency_key="k-1")
    again = api.post(url, body, idempotency_key="k-1")  # the same key: the first answer replayed
    retry = api.post(url, body, idempotency_key="k-2")  # a new key, the same reference: the first payout
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert retry.json()["id"] == first.json()["id"]
    other = api.post(url, {**body, "amount": "31.00"}, idempotency_key="k-3")
    assert other.status_code == 409 and other.json()["code"] == "duplicate_reference"
    assert other.json()["data"]["id"] == first.json()["id"]
    mismatch = api.post(url, {**body, "amount": "31.00"}, idempotency_key="k-1")
    assert mismatch.status_code == 422 and mismatch.json()["code"] == "idempotency_key_mismatch"
    assert api.post(url, body, idempotency_key=None).json()["code"] == "idempotency_key_required"
    assert MerchantPayout.objects.count() == 1


def test_refund_payout_isolation_404(client, make_merchant, django_capture_on_commit_callbacks):
    a, b = make_merchant("甲商户有限公司"), make_merchant("乙商户有限公司")
    api_a, api_b = signed(client, f"merchant:{a.pk}"), signed(client, f"merchant:{b.pk}")
    payment_b = _old_payment(api_b, b, django_capture_on_commit_callbacks)
    body = {"out_payout_no": "RP-1", "amount": "1.00", **PAYEE}
    assert api_a.post(f"/api/v1/payments/{payment_b['id']}/refund-payouts/", body).status_code == 404
    assert api_a.post("/api/v1/payments/999999/refund-payouts/", body).status_code == 404
    payout_b = api_b.post(f"/api/v1/payments/{payment_b['id']}/refund-payouts/", body).json()
    assert api_a.get(f"/api/v1/refund-payouts/{payout_b['id']}/").status_code == 404
    assert api_a.get("/api/v1/refund-payouts/999999/").status_code == 404
    payments_only = signed(client, f"merchant:{b.pk}:payments")  # the scope is refunds
    assert payments_only.post(f"/api/v1/payments/{payment_b['id']}/refund-payouts/", body).status_code == 404
    assert MerchantPayout.objects.count() == 1


def test_refund_payout_from_the_api_is_approved_only_by_a_bank_operator(
    client, make_merchant, maker, checker, django_capture_on_commit_callbacks
):
    merchant = make_merchant()
    api = signed(client, f"merchant:{merchant.pk}")
    payment = _old_payment(api, merchant, django_capture_on_commit_callbacks)
    payout_id = api.post(
        f"/api/v1/payments/{payment['id']}/refund-payouts/", {"out_payout_no": "RP-1", "amount": "60.00", **PAYEE}
    ).json()["id"]
    # No API route approves it: the caller cannot.
    assert api.post(f"/api/v1/refund-payouts/{payout_id}/approve/", {}).status_code == 404
    with pytest.raises(payouts.MakerCheckerViolationError):
        payouts.refund_payout_approve(payout_id=int(payout_id), checker=None)
    with django_capture_on_commit_callbacks(execute=True):
        payouts.refund_payout_approve(payout_id=int(payout_id), checker=checker)
    detail = api.get(f"/api/v1/refund-payouts/{payout_id}/").json()
    assert detail["state"] == "succeeded" and detail["checked_at"]
    assert api.get(f"/api/v1/payments/{payment['id']}/").json()["refunded_cash"] == "60.00"
