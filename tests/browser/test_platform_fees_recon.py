"""A platform's owner signs in and sees the Fees page (accruals, schedule in force, invoices) and the
Reconciliation page (days and their differences) at 1366 px, and the 390 px phone width without a
page-wide horizontal scroll. Screenshots: /tmp/c11-fees.png, /tmp/c11-reconciliation.png."""

from __future__ import annotations

from io import StringIO

import pytest

from tests.browser.signin import platform_demo_sign_in


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_platform_owner_sees_fees_and_reconciliation_pages(live_server, page, settings):
    from django.core.management import call_command

    from custody.fees.models import FeeInvoice

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_custody_demo", stdout=StringIO())
    invoice = FeeInvoice.objects.get(platform__code="DEMO")
    errors = []  # CSP refusals and failed requests (the favicon aside: the project serves none)
    page.on("console", lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)

    page.set_viewport_size({"width": 1366, "height": 900})
    platform_demo_sign_in(page, live_server)

    page.click("nav.platform-nav a[href$='/fees/']")
    page.wait_for_url(f"{live_server.url}/portal/custody/platform/DEMO/fees/")
    assert page.locator("[data-testid=accrued-total]").inner_text() == "0.00"  # the pool was empty before the seed
    assert invoice.number in page.locator("#invoices").inner_text()
    assert "1,000,000.00" in page.locator("table.bands").first.inner_text()
    page.screenshot(path="/tmp/c11-fees.png", full_page=True)

    page.click("nav.platform-nav a[href$='/reconciliation/']")
    page.wait_for_url(f"{live_server.url}/portal/custody/platform/DEMO/reconciliation/")
    assert "DEMO-RC-UNKNOWN" in page.locator("table.differences").inner_text()
    page.screenshot(path="/tmp/c11-reconciliation.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    for address in ("fees/", "reconciliation/"):
        page.goto(f"{live_server.url}/portal/custody/platform/DEMO/{address}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, address
    page.screenshot(path="/tmp/c11-reconciliation-390.png", full_page=True)
    page.goto(f"{live_server.url}/portal/custody/platform/DEMO/fees/")
    page.screenshot(path="/tmp/c11-fees-390.png", full_page=True)
    assert errors == []  # no CSP violation, no failed resource
