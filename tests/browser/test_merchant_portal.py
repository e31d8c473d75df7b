"""The merchant portal in Debian's Chromium: a merchant owner signs in with password and TOTP, sees
the dashboard and its SVG chart, refunds part of a payment through the confirmation step (with a
fresh authenticator code), and downloads a settlement statement. Screenshots: /tmp/mportal-*.png."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest

from tests.browser.signin import sign_in

PASSWORD = "shop-owner-pass-2026"


def _code(device) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_merchant_signs_in_refunds_with_confirmation_and_exports_a_statement(live_server, page, settings):
    from django.core.management import call_command
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from merchants.models import Merchant, Refund, SettlementBatch

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_merchants_demo", stdout=StringIO())
    merchant = Merchant.objects.get()
    batch = SettlementBatch.objects.get()
    device = TOTPDevice.objects.get(user__username="shop-owner")
    base = f"{live_server.url}/portal/merchants/{merchant.pk}"

    # Sign-in: password and the authenticator code.
    page.set_viewport_size({"width": 1200, "height": 900})
    sign_in(page, f"{live_server.url}/portal/merchants/login/", "shop-owner", PASSWORD, otp=_code(device), lands_on=f"{base}/")
    assert page.locator("[data-figure=available]").inner_text() == "0.00"  # paid out by the settlement
    page.locator("figure.chart img").wait_for()
    assert page.evaluate("document.querySelector('figure.chart img').naturalWidth") > 0
    page.screenshot(path="/tmp/mportal-dashboard.png", full_page=True)

    # A refund with its confirmation step.
    page.click("nav.merchant-nav a[href$='/payments/']")
    page.click("text=DEMO-ORDER-3")
    assert page.locator("[data-figure=remaining]").inner_text() == "66.60"
    page.click("main a.button.primary")
    page.fill("#id_amount", "10.00")
    page.fill("#id_reason", "size exchange")
    page.click("main button[type=submit]")
    assert page.locator("[data-figure=refund-amount]").inner_text() == "10.00"
    assert not Refund.objects.filter(payment__out_trade_no="DEMO-ORDER-3").exists()  # nothing before confirming
    page.screenshot(path="/tmp/mportal-refund-confirm.png", full_page=True)
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)  # the sign-in used this time step's code
    page.fill("#id_otp_token", _code(device))
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/payments/*/")
    assert page.locator("[data-figure=remaining]").inner_text() == "56.60"
    refund = Refund.objects.get(payment__out_trade_no="DEMO-ORDER-3")
    assert refund.state == Refund.State.SUCCEEDED and str(refund.amount) == "10.00"
    page.screenshot(path="/tmp/mportal-refund-done.png", full_page=True)

    # A settlement statement, downloaded.
    page.click("nav.merchant-nav a[href$='/settlements/']")
    page.click(f"a[href='/portal/merchants/{merchant.pk}/settlements/{batch.pk}/']")
    page.screenshot(path="/tmp/mportal-settlement.png", full_page=True)
    with page.expect_download() as info:
        page.click("text=CSV")
    content = Path(info.value.path()).read_text(encoding="utf-8-sig")
    assert info.value.suggested_filename.endswith(".csv")
    assert f"{batch.available_amount:.2f}" in content and "DEMO-ORDER-1" in content
