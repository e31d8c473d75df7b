"""Refund payouts (代付) in the merchant portal: past the channel's refund window owner and finance
see "Refund by payout" instead of the refund button, propose one in two steps (payee and
amount, then a confirmation with their own authenticator code); the payment and the payouts list
show its state; a viewer sees no link (403); merchant B's users never reach A's payment (404); the
bank's checker approves it (maker ≠ checker)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from merchants import payouts
from merchants.models import MerchantPayout, Payment
from merchants.tests.portal.conftest import current_code, fresh_code

pytestmark = pytest.mark.django_db
D = Decimal
PAYEE = {"payee_name": "张三", "payee_account": "6222 0202 0011 2233 445", "reason": "超期退款"}


def old(payment, days: int = 400) -> Payment:
    """The payment as if it had succeeded ``days`` ago (the channel's window is 365 days)."""
    Payment.objects.filter(pk=payment.pk).update(resolved_at=payment.resolved_at - dt.timedelta(days=days))
    return Payment.objects.get(pk=payment.pk)


def test_refund_payout_in_two_steps_with_a_fresh_code(
    settled_merchant, merchant_user, signed_in, pay, checker, django_capture_on_commit_callbacks
):
    merchant = settled_merchant()
    payment = old(pay(merchant, "1280.00"))
    finance = merchant_user(merchant, "finance")
    client = signed_in(finance)
    base = f"/portal/merchants/{merchant.pk}/payments/{payment.pk}"
    detail = client.get(f"{base}/").content.decode()
    assert f"{base}/refund-payout/" in detail and f"{base}/refund/" not in detail  # the payout replaces the refund
    assert 'data-figure="window"' in detail and "1,280.00" in detail  # thousands separators
    too_much = client.post(f"{base}/refund-payout/", {**PAYEE, "amount": "1280.01"})
    assert too_much.status_code == 200 and "1,280.00" in too_much.content.decode()
    bad = client.post(f"{base}/refund-payout/", {**PAYEE, "payee_account": "12ab", "amount": "10.00"})
    assert bad.status_code == 200 and "8至32位" in bad.content.decode()
    review = client.post(f"{base}/refund-payout/", {**PAYEE, "amount": "1000.00"})
    assert review.status_code == 200 and b'data-figure="payout-amount">1,000.00' in review.content
    number = review.context["form"].initial["out_payout_no"]
    assert not MerchantPayout.objects.exists()  # nothing before the confirmation
    data = {**PAYEE, "payee_account": "6222020200112233445", "amount": "1000.00", "out_payout_no": number}
    wrong = client.post(f"{base}/refund-payout/confirm/", {**data, "otp_token": "000000"})
    assert wrong.status_code == 200 and "动态验证码错误" in wrong.content.decode() and not MerchantPayout.objects.exists()
    done = client.post(f"{base}/refund-payout/confirm/", {**data, "otp_token": fresh_code(finance.user)})
    assert done.status_code == 302
    payout = MerchantPayout.objects.get()
    assert (payout.kind, payout.state, payout.amount) == (
        MerchantPayout.Kind.REFUND,
        MerchantPayout.State.AWAITING_CHECK,
        D("1000.00"),
    )
    assert (payout.origin, payout.maker, payout.payee_account_last4) == ("portal", finance.user, "3445")
    # A double submit of the confirmation never proposes twice.
    client.post(f"{base}/refund-payout/confirm/", {**data, "otp_token": fresh_code(finance.user)})
    assert MerchantPayout.objects.count() == 1
    page = client.get(f"{base}/").content.decode()
    assert f'data-payout="{payout.request_id}"' in page and "待复核" in page and "****3445" in page
    assert 'data-figure="remaining">280.00' in page  # past the window: the cash a payout may still pay
    listing = client.get(f"/portal/merchants/{merchant.pk}/payouts/").content.decode()
    assert payout.request_id in listing and 'data-kind="refund"' in listing

    # Maker ≠ checker: the proposer cannot approve it; the bank's checker does.
    with pytest.raises(payouts.MakerCheckerViolationError):
        payouts.refund_payout_approve(payout_id=payout.pk, checker=finance.user)
    with django_capture_on_commit_callbacks(execute=True):
        payouts.refund_payout_approve(payout_id=payout.pk, checker=checker)
    assert MerchantPayout.objects.get(pk=payout.pk).state == MerchantPayout.State.SUCCEEDED
    assert "出款成功" in client.get(f"{base}/").content.decode()
    assert Payment.objects.get(pk=payment.pk).refunded_cash == D("1000.00")


def test_inside_the_window_the_refund_stays_and_no_payout_is_offered(settled_merchant, merchant_user, signed_in, pay):
    merchant = settled_merchant()
    payment = pay(merchant, "50.00")
    client = signed_in(merchant_user(merchant, "owner"))
    base = f"/portal/merchants/{merchant.pk}/payments/{payment.pk}"
    detail = client.get(f"{base}/").content.decode()
    assert f"{base}/refund/" in detail and "refund-payout" not in detail
    assert client.get(f"{base}/refund-payout/").status_code == 302  # back to the payment, with a message
    assert not MerchantPayout.objects.exists()


def test_a_viewer_sees_no_refund_payout_link(settled_merchant, merchant_user, signed_in, pay):
    merchant = settled_merchant()
    payment = old(pay(merchant, "50.00"))
    viewer = merchant_user(merchant, "viewer")
    client = signed_in(viewer)
    base = f"/portal/merchants/{merchant.pk}/payments/{payment.pk}"
    detail = client.get(f"{base}/").content.decode()
    assert f"{base}/refund-payout/" not in detail  # no link
    assert client.get(f"{base}/refund-payout/").status_code == 403
    refused = client.post(
        f"{base}/refund-payout/confirm/",
        {**PAYEE, "amount": "10.00", "out_payout_no": "W1", "otp_token": current_code(viewer.user)},
    )
    assert refused.status_code == 403 and not MerchantPayout.objects.exists()


def test_merchant_b_never_reaches_a_refund_payout_of_a(settled_merchant, merchant_user, signed_in, pay):
    a, b = settled_merchant("甲结算商户有限公司"), settled_merchant("乙结算商户有限公司")
    payment = old(pay(a, "50.00"))
    owner_b = merchant_user(b, "owner")
    client = signed_in(owner_b)
    assert client.get(f"/portal/merchants/{a.pk}/payments/{payment.pk}/refund-payout/").status_code == 404
    assert client.get(f"/portal/merchants/{b.pk}/payments/{payment.pk}/refund-payout/").status_code == 404
    refused = client.post(
        f"/portal/merchants/{b.pk}/payments/{payment.pk}/refund-payout/confirm/",
        {**PAYEE, "amount": "10.00", "out_payout_no": "W1", "otp_token": fresh_code(owner_b.user)},
    )
    assert refused.status_code == 404 and not MerchantPayout.objects.exists()
