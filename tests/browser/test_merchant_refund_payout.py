"""A refund payout (代付) in the merchant portal, in Debian's Chromium: the demo owner opens a
payment past its channel's refund window, sees "Refund by payout" instead of the refund
button, enters the payer's account and the amount, confirms with a fresh authenticator code, and
sees the payout awaiting the bank's checker on the payment and in the payouts list.
Screenshots: /tmp/shots-mercha/refund-payout-*.png."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest

from tests.browser.signin import sign_in

PASSWORD = "shop-owner-pass-2026"
SHOTS = Path("/tmp/shots-mercha")


def _code(device) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_owner_proposes_a_refund_payout_past_the_window(live_server, page, settings):
    from django.core.management import call_command
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from merchants.models import Merchant, MerchantPayout, Payment

    SHOTS.mkdir(exist_ok=True)
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_merchants_demo", stdout=StringIO())
    merchant = Merchant.objects.get()
    payment = Payment.objects.get(out_trade_no="DEMO-ORDER-3")
    Payment.objects.filter(pk=payment.pk).update(resolved_at=payment.resolved_at - dt.timedelta(days=400))
    device = TOTPDevice.objects.get(user__username="shop-owner")
    base = f"{live_server.url}/portal/merchants/{merchant.pk}"

    page.set_viewport_size({"width": 1200, "height": 900})
    sign_in(page, f"{live_server.url}/portal/merchants/login/", "shop-owner", PASSWORD, otp=_code(device), lands_on=f"{base}/")

    page.goto(f"{base}/payments/{payment.pk}/")
    assert page.locator(f"a[href$='/payments/{payment.pk}/refund/']").count() == 0  # no channel refund any more
    page.screenshot(path=str(SHOTS / "refund-payout-detail.png"), full_page=True)
    page.click("#refund-payout-link")
    page.fill("#id_payee_name", "张三")
    page.fill("#id_payee_account", "6222 0202 0011 2233 445")
    page.fill("#id_amount", "60.00")
    page.fill("#id_reason", "超期退款 refund past the window")
    page.screenshot(path=str(SHOTS / "refund-payout-form.png"), full_page=True)
    page.click("main button[type=submit]")
    assert page.locator("[data-figure=payout-amount]").inner_text() == "60.00"
    assert page.locator("[data-figure=payee-account]").inner_text() == "6222020200112233445"
    assert not MerchantPayout.objects.filter(payment=payment).exists()  # nothing before confirming
    page.screenshot(path=str(SHOTS / "refund-payout-confirm.png"), full_page=True)
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)  # the sign-in used this time step's code
    page.fill("#id_otp_token", _code(device))
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/payments/{payment.pk}/")
    payout = MerchantPayout.objects.get(payment=payment)
    assert payout.state == MerchantPayout.State.AWAITING_CHECK and str(payout.amount) == "60.00"
    assert page.locator(f"tr[data-payout='{payout.request_id}']").count() == 1
    page.screenshot(path=str(SHOTS / "refund-payout-proposed.png"), full_page=True)
    page.goto(f"{base}/payouts/")
    assert page.locator("tr[data-kind=refund]").count() == 1
    page.screenshot(path=str(SHOTS / "refund-payout-list.png"), full_page=True)
