"""A platform user signs in to the platform portal with password and TOTP code and sees the
dashboard: the pool total as the ledger has it, the 30-day chart (SVG served by the project)."""

from __future__ import annotations

from io import StringIO

import pytest

from tests.browser.signin import sign_in

SCREENSHOT = "/tmp/pportal.png"
PASSWORD = "platform-demo-pass-2026"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_platform_user_signs_in_with_totp_and_sees_the_dashboard(live_server, page, settings):
    from django.core.management import call_command
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from custody.models import LendingPlatform
    from custody.platform_users import reports

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_custody_demo", stdout=StringIO())
    platform = LendingPlatform.objects.get(code="DEMO")
    device = TOTPDevice.objects.get(user__username="platform-demo")

    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(
        page,
        f"{live_server.url}/portal/custody/platform/login/",
        "platform-demo",
        PASSWORD,
        otp=f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}",
        lands_on=f"{live_server.url}/portal/custody/platform/DEMO/",
    )

    total = reports.pool_now(platform=platform)["total"]
    assert page.locator("[data-testid=pool-total]").inner_text() == f"{total:,.2f}"
    chart = page.locator("figure.chart img")
    chart.wait_for()
    assert page.evaluate("document.querySelector('figure.chart img').naturalWidth") > 0  # the SVG loaded
    assert page.locator("tr[data-flow=recharges] td.num").first.inner_text() == "4"
    page.screenshot(path=SCREENSHOT, full_page=True)
