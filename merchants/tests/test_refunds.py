"""Payments and refunds through the real lifecycle, channel simulator and ledger: the worked
100 / 5 / 95 case for both funders, R-REF-01 … R-REF-04, cash first, the bank's advance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import uuid4

import pytest

from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.selectors import internal_account, trial_balance
from accounts.payments.callbacks import channel_callback_receive
from accounts.payments.models import PaymentAlert
from accounts.payments.services import channel_register
from accounts.payments.simulator import Script
from backoffice.errors import FieldValidationError, NotFoundError
from merchants import refunds as refund_services
from merchants.errors import (
    DuplicateReferenceError,
    RefundCountExceededError,
    RefundLimitExceededError,
    RefundWindowClosedError,
)
from merchants.models import Payment, Refund
from merchants.tests.conftest import balances

D = Decimal
MERCHANT_DISCOUNT = [{"amount": "5.00", "funder": "merchant", "refundable": False}]
PLATFORM_COUPON = [{"amount": "5.00", "funder": "platform_coupon", "refundable": True}]


def _delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in before}


def test_payment_100_with_a_merchant_discount_books_95_and_the_mdr(make_merchant, pay):
    merchant = make_merchant(rate="0.006")
    before = balances(merchant)
    payment = pay(merchant, "100.00", discounts=MERCHANT_DISCOUNT)
    assert payment.state == Payment.State.SUCCEEDED
    assert (payment.paid_amount, payment.mdr_base, payment.mdr_amount) == (D("95.00"), D("95.00"), D("0.57"))
    assert _delta(before, balances(merchant)) == {
        "clearing": D("95.00"),  # Dr clearing: what the payer paid
        "marketing": D("0"),
        "pending": D("94.43"),  # Cr merchant pending: 95.00 − 0.57
        "fee_income": D("0.57"),  # Cr fee income: 0.6 % of 95.00, half-up
        "available": D("0"),
        "reserve": D("0"),
        "receivable": D("0"),
    }
    assert trial_balance().balanced


def test_payment_100_with_a_platform_coupon_books_the_marketing_cost(make_merchant, pay):
    merchant = make_merchant(rate="0.006")
    before = balances(merchant)
    payment = pay(merchant, "100.00", discounts=PLATFORM_COUPON)
    assert (payment.paid_amount, payment.mdr_base, payment.mdr_amount) == (D("95.00"), D("100.00"), D("0.60"))
    assert _delta(before, balances(merchant)) == {
        "clearing": D("95.00"),  # Dr clearing 95.00
        "marketing": D("5.00"),  # Dr marketing 5.00 (the platform's coupon)
        "pending": D("99.40"),  # Cr merchant pending 100.00 − 0.60
        "fee_income": D("0.60"),  # Cr fee income 0.60
        "available": D("0"),
        "reserve": D("0"),
        "receivable": D("0"),
    }
    assert trial_balance().balanced


def test_r_ref_01_full_refund_of_100_5_95_returns_95_cash_never_100_merchant_discount(make_merchant, pay, refund):
    merchant = make_merchant(rate="0.006")
    before = balances(merchant)
    payment = pay(merchant, "100.00", discounts=MERCHANT_DISCOUNT)
    with pytest.raises(RefundLimitExceededError) as refused:
        refund(payment, "100.00")
    assert refused.value.data == {"limit": "refundable", "remaining": "95.00"}
    row = refund(payment, "95.00")
    assert row.state == Refund.State.SUCCEEDED
    assert (row.cash_amount, row.coupon_amount, row.mdr_refunded) == (D("95.00"), D("0"), D("0.57"))
    # Every balance is back where it was: 95.00 left clearing, the MDR was given back.
    assert _delta(before, balances(merchant)) == dict.fromkeys(before, D("0"))
    payment = Payment.objects.get(pk=payment.pk)
    assert (payment.refunded_amount, payment.refunded_cash, payment.reserved_amount) == (D("95.00"), D("95.00"), D("0"))
    assert trial_balance().balanced


def test_r_ref_01_full_refund_of_100_5_95_with_a_platform_coupon_gives_95_cash_and_the_coupon_back(make_merchant, pay, refund):
    merchant = make_merchant(rate="0.006")
    before = balances(merchant)
    payment = pay(merchant, "100.00", discounts=PLATFORM_COUPON)
    row = refund(payment, "100.00")
    assert row.state == Refund.State.SUCCEEDED
    assert (row.cash_amount, row.coupon_amount, row.platform_coupon_amount, row.mdr_refunded) == (
        D("95.00"),
        D("5.00"),
        D("5.00"),
        D("0.60"),
    )
    assert _delta(before, balances(merchant)) == dict.fromkeys(before, D("0"))
    with pytest.raises(RefundLimitExceededError) as refused:
        refund(payment, "0.01")
    assert refused.value.data["remaining"] == "0.00"
    assert trial_balance().balanced


def test_r_ref_01_cash_first_then_the_refundable_coupon(make_merchant, pay, refund):
    """Order 100 = 80 paid + 20 refundable platform coupon: refund 60 → 60 cash; refund 40 → 20 cash + 20 coupon."""
    merchant = make_merchant(rate="0.006")
    before = balances(merchant)
    payment = pay(merchant, "100.00", discounts=[{"amount": "20.00", "funder": "platform_coupon", "refundable": True}])
    first = refund(payment, "60.00")
    assert (first.cash_amount, first.coupon_amount, first.mdr_refunded) == (D("60.00"), D("0"), D("0.36"))
    second = refund(payment, "40.00")
    assert (second.cash_amount, second.coupon_amount, second.platform_coupon_amount) == (D("20.00"), D("20.00"), D("20.00"))
    assert first.mdr_refunded + second.mdr_refunded == D("0.60")  # never more than was charged
    assert _delta(before, balances(merchant)) == dict.fromkeys(before, D("0"))
    payment = Payment.objects.get(pk=payment.pk)
    assert (payment.refunded_amount, payment.refunded_cash) == (D("100.00"), D("80.00"))


def test_r_ref_01_partial_refunds_mdr_pro_rata_never_more_than_charged(make_merchant, pay, refund):
    merchant = make_merchant(rate="0.006")
    payment = pay(merchant, "33.33")  # MDR 0.20 (0.19998 half-up)
    assert payment.mdr_amount == D("0.20")
    parts = [refund(payment, amount).mdr_refunded for amount in ("11.11", "11.11", "11.11")]
    assert sum(parts) == D("0.20")
    assert all(p >= 0 for p in parts)


def test_r_ref_01_mdr_kept_when_the_policy_says_none(make_merchant, pay, refund, settings):
    settings.MERCHANTS_MDR_REFUND = "none"
    merchant = make_merchant(rate="0.006")
    payment = pay(merchant, "100.00")
    row = refund(payment, "100.00")
    assert row.mdr_refunded == D("0")
    assert balances(merchant)["fee_income"] >= D("0.60")


def test_r_ref_02_the_same_refund_number_refunds_once(make_merchant, pay, refund):
    merchant = make_merchant()
    payment = pay(merchant, "100.00")
    first = refund(payment, "100.00", out_refund_no="R-1")
    again = refund(payment, "100.00", out_refund_no="R-1")
    assert again.pk == first.pk
    assert Refund.objects.filter(payment=payment).count() == 1
    assert Payment.objects.get(pk=payment.pk).refunded_amount == D("100.00")
    with pytest.raises(DuplicateReferenceError) as duplicate:
        refund(payment, "1.00", out_refund_no="R-1")
    assert duplicate.value.data["id"] == str(first.pk)


def test_r_ref_03_success_comes_from_the_query_not_the_apply_response(make_merchant, pay, refund, paysim):
    merchant = make_merchant()
    payment = pay(merchant, "100.00")
    paysim.script_next(Script(submit="processing", then="success", delay=60))
    row = refund(payment, "30.00")
    assert row.state == Refund.State.UNKNOWN  # accepted, not refunded
    assert Payment.objects.get(pk=payment.pk).reserved_amount == D("30.00")  # in flight: reserved
    paysim.advance(61)
    row = refund_services.refund_query_status(refund_id=row.pk)
    assert (row.state, row.resolved_by) == (Refund.State.SUCCEEDED, "query")
    payment = Payment.objects.get(pk=payment.pk)
    assert (payment.reserved_amount, payment.refunded_amount) == (D("0"), D("30.00"))


def test_r_ref_03_a_callback_ends_an_unknown_refund_once(make_merchant, pay, refund, paysim, pay_channel):
    merchant = make_merchant()
    payment = pay(merchant, "100.00")
    paysim.script_next(Script(submit="processing", then="success", delay=60))
    row = refund(payment, "30.00")
    paysim.advance(61)
    body = __import__("json").dumps(paysim.callback(row.request_id)).encode()
    channel_callback_receive(channel_code=pay_channel.code, body=body, headers={})
    _callback, duplicate = channel_callback_receive(channel_code=pay_channel.code, body=body, headers={})
    assert duplicate
    row = Refund.objects.get(pk=row.pk)
    assert (row.state, row.resolved_by) == (Refund.State.SUCCEEDED, "callback")
    assert Payment.objects.get(pk=payment.pk).refunded_amount == D("30.00")
    assert trial_balance().balanced


def test_r_ref_03_a_failed_refund_releases_its_reservation(make_merchant, pay, refund, paysim):
    merchant = make_merchant()
    payment = pay(merchant, "100.00")
    before = balances(merchant)
    paysim.script_next(Script(submit="failure"))
    row = refund(payment, "40.00")
    assert row.state == Refund.State.FAILED
    payment = Payment.objects.get(pk=payment.pk)
    assert (payment.reserved_amount, payment.refunded_amount, payment.refund_count) == (D("0"), D("0"), 0)
    assert balances(merchant) == before
    assert refund(payment, "100.00").state == Refund.State.SUCCEEDED


def test_r_ref_04_refund_count_limit_per_channel(make_merchant, pay, refund, pay_channel):
    channel_register(code=pay_channel.code, refund_count_limit=2)
    merchant = make_merchant()
    payment = pay(merchant, "100.00")
    refund(payment, "1.00")
    refund(payment, "1.00")
    with pytest.raises(RefundCountExceededError) as refused:
        refund(payment, "1.00")
    assert refused.value.data["limit"] == "refund_count"


def test_r_ref_04_refund_window_per_channel(make_merchant, pay, refund, pay_channel):
    channel_register(code=pay_channel.code, refund_window_days=365)
    merchant = make_merchant()
    payment = pay(merchant, "100.00")
    paid_at = Payment.objects.get(pk=payment.pk).resolved_at
    assert refund(payment, "1.00", now=paid_at + dt.timedelta(days=364)).state == Refund.State.SUCCEEDED
    with pytest.raises(RefundWindowClosedError):
        refund(payment, "1.00", now=paid_at + dt.timedelta(days=366))


def test_refund_beyond_what_the_merchant_holds_becomes_a_receivable_with_an_alert(make_merchant, pay, refund, clearing):
    merchant = make_merchant(rate="0.006")
    payment = pay(merchant, "100.00")  # pending 99.40
    # The pending money went on: 90.00 paid out, 9.40 made available (as a settlement would).
    ledger.post_transfer(
        client="test",
        idempotency_key=str(uuid4()),
        kind="test",
        legs=[
            ledger.Leg(merchant.pending_account_id, DEBIT, D("99.40")),
            ledger.Leg(clearing.pk, CREDIT, D("90.00")),
            ledger.Leg(merchant.available_account_id, CREDIT, D("9.40")),
        ],
    )
    before = balances(merchant)
    row = refund(payment, "50.00")  # the merchant's share: 50.00 − 0.30 MDR = 49.70
    assert row.state == Refund.State.SUCCEEDED
    assert row.receivable_amount == D("40.30")
    assert _delta(before, balances(merchant)) == {
        "pending": D("0"),
        "available": D("-9.40"),
        "reserve": D("0"),
        "receivable": D("40.30"),  # the bank's advance (an asset)
        "fee_income": D("-0.30"),
        "clearing": D("-50.00"),
        "marketing": D("0"),
    }
    alert = PaymentAlert.objects.get(kind=PaymentAlert.Kind.RECEIVABLE)
    assert alert.reference == row.request_id
    assert trial_balance().balanced


def test_refund_of_another_merchants_payment_is_not_found(make_merchant, pay):
    a, b = make_merchant("商户甲有限公司"), make_merchant("商户乙有限公司")
    payment = pay(b, "10.00")
    with pytest.raises(NotFoundError):
        refund_services.refund_create(payment_id=payment.pk, merchant_id=a.pk, client="a", out_refund_no="X", amount="1.00")


def test_refund_amount_is_validated(make_merchant, pay, refund):
    payment = pay(make_merchant(), "10.00")
    for bad in ("0", "-1", "1.001", "abc"):
        with pytest.raises(FieldValidationError):
            refund(payment, bad)


def test_receivable_role_is_an_internal_asset_in_the_merchants_books(make_merchant):
    merchant = make_merchant()
    receivable = merchant.receivable_account
    assert (receivable.kind, receivable.normal_side, receivable.subject_id) == ("internal", "D", "122101")
    assert receivable.owner == f"merchant:{merchant.pk}"
    assert receivable == internal_account(Role.MERCHANT_RECEIVABLE, owner=merchant.owner)


def test_r_ref_03_the_sweeper_queries_an_unknown_refund_until_the_channel_answers(make_merchant, pay, refund, paysim):
    from django.utils import timezone

    from merchants.sweep import merchants_sweep

    merchant = make_merchant()
    payment = pay(merchant, "100.00")
    paysim.script_next(Script(submit="processing", then="success", delay=600))
    row = refund(payment, "30.00")
    later = timezone.now() + dt.timedelta(minutes=5)
    assert merchants_sweep(now=later)["queried"] == 1
    assert Refund.objects.get(pk=row.pk).state == Refund.State.UNKNOWN  # still processing: no clock ends it
    paysim.advance(601)
    merchants_sweep(now=later)
    assert Refund.objects.get(pk=row.pk).state == Refund.State.SUCCEEDED


def test_payment_failure_books_nothing_and_tells_the_merchant(make_merchant, pay, paysim):
    from backoffice.models import WebhookDelivery
    from backoffice.webhooks import webhook_endpoint_create

    merchant = make_merchant()
    webhook_endpoint_create(owner=merchant.owner, url="https://merchant.example/hooks", event_types=["payment.failed"])
    before = balances(merchant)
    paysim.script_next(Script(submit="failure"))
    payment = pay(merchant, "10.00")
    assert (payment.state, payment.success_transfer_id) == (Payment.State.FAILED, None)
    assert balances(merchant) == before
    assert list(WebhookDelivery.objects.values_list("event", flat=True)) == ["payment.failed"]


def test_an_unknown_payment_succeeds_by_its_callback_once(make_merchant, pay, paysim, pay_channel):
    import json

    merchant = make_merchant(rate="0.006")
    before = balances(merchant)
    paysim.script_next(Script(submit="timeout", then="success", delay=0))
    payment = pay(merchant, "10.00")
    assert payment.state == Payment.State.UNKNOWN
    body = json.dumps(paysim.callback(payment.request_id)).encode()
    channel_callback_receive(channel_code=pay_channel.code, body=body, headers={})
    channel_callback_receive(channel_code=pay_channel.code, body=body, headers={})
    payment = Payment.objects.get(pk=payment.pk)
    assert (payment.state, payment.resolved_by) == (Payment.State.SUCCEEDED, "callback")
    assert balances(merchant)["pending"] - before["pending"] == D("9.94")


def test_a_channel_funded_discount_is_collected_from_the_channel_and_given_back_to_it(make_merchant, pay, refund):
    merchant = make_merchant(rate="0.006")
    before = balances(merchant)
    payment = pay(merchant, "100.00", discounts=[{"amount": "10.00", "funder": "channel", "refundable": True}])
    assert (payment.paid_amount, payment.mdr_base, payment.mdr_amount) == (D("90.00"), D("100.00"), D("0.60"))
    assert _delta(before, balances(merchant))["clearing"] == D("100.00")  # 90.00 paid + 10.00 the channel funds
    row = refund(payment, "100.00")
    assert (row.cash_amount, row.channel_coupon_amount) == (D("90.00"), D("10.00"))
    assert _delta(before, balances(merchant)) == dict.fromkeys(before, D("0"))
