"""A platform user signs in to the platform portal with password and TOTP code and sees the
dashboard: the pool total as the ledger has it, the 30-day chart (SVG served by the project)."""

from __future__ import annotations

from io import StringIO

import pytest

from tests.browser.signin import platform_demo_sign_in

SCREENSHOT = "/tmp/pportal.png"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_platform_user_signs_in_with_totp_and_sees_the_dashboard(live_server, page, settings):
    from django.core.management import call_command

    from custody.models import LendingPlatform
    from custody.platform_users import reports

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_custody_demo", stdout=StringIO())
    platform = LendingPlatform.objects.get(code="DEMO")

    page.set_viewport_size({"width": 390, "height": 844})
    platform_demo_sign_in(page, live_server)

    total = reports.pool_now(platform=platform)["total"]
    assert page.locator("[data-testid=pool-total]").inner_text() == f"{total:,.2f}"
    chart = page.locator("figure.chart img")
    chart.wait_for()
    assert page.evaluate("document.querySelector('figure.chart img').naturalWidth") > 0  # the SVG loaded
    assert page.locator("tr[data-flow=recharges] td.num").first.inner_text() == "4"
    page.screenshot(path=SCREENSHOT, full_page=True)
