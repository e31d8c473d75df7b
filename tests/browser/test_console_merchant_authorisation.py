"""The checker's page of a merchant application, in Debian's Chromium: it shows the standing
settlement authorisation the application carries (reference, signed date, signatory, scope), and
approving it records the authorisation with the merchant's activation.
Screenshots: /tmp/shots-mercha/console-merchant-*.png."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from accounts.tests.admin_support import make_staff
from tests.browser.signin import console_sign_in

SHOTS = Path("/tmp/shots-mercha")


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_checker_sees_and_approves_the_settlement_authorisation(live_server, page, settings, make_party):
    from merchants import onboarding
    from merchants.models import Merchant, SettlementAuthorisation

    SHOTS.mkdir(exist_ok=True)
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    maker, checker = make_staff("browser-maker", "operator"), make_staff("browser-checker", "supervisor")
    org = make_party(type="organisation", name="浏览器商户有限公司")
    merchant = onboarding.merchant_apply(
        name=org.name,
        credit_code=org.credit_code,
        authorisation_reference="SA-BROWSER-1",
        authorisation_signed_on=dt.date(2026, 1, 5),
        authorisation_signatory="王五 Wang Wu",
        actor=maker,
    )
    onboarding.merchant_submit_for_review(merchant_id=merchant.pk, actor=maker)

    review = f"/admin/merchants/merchant/{merchant.pk}/review/"
    page.set_viewport_size({"width": 1200, "height": 900})
    console_sign_in(page, live_server, checker, review)
    row = page.locator("#merchant-authorisation").inner_text()
    assert "SA-BROWSER-1" in row and "王五 Wang Wu" in row and "2026" in row
    assert not page.locator("input[name=decision]:checked").count()  # the decision starts empty
    page.screenshot(path=str(SHOTS / "console-merchant-review.png"), full_page=True)
    page.check("input[name=decision][value=approve]")
    page.click("input[type=submit].default")
    page.wait_for_url(f"**/admin/merchants/merchant/{merchant.pk}/change/")
    assert Merchant.objects.get(pk=merchant.pk).state == Merchant.State.ACTIVE
    authorisation = SettlementAuthorisation.objects.get(merchant=merchant)
    assert authorisation.reference == "SA-BROWSER-1" and authorisation.approved_by == checker
    assert "SA-BROWSER-1" in page.locator("#merchant-authorisation").inner_text()
    page.screenshot(path=str(SHOTS / "console-merchant-active.png"), full_page=True)
