"""A holder signs into the portal, withdraws to the bound card through the confirmation step with
the transaction password, and sees the withdrawal succeeded and the balance down."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD
from tests.browser.signin import sign_in

LOGIN_PASSWORD = "portal-browser-pass-2026"
SCREENSHOT = "/tmp/portal_withdrawal.png"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_portal_withdrawal_with_confirmation_shows_succeeded(
    live_server, page, settings, customer, channel, fund, django_user_model
):
    from accounts.ledger.models import Account
    from accounts.payments.models import Withdrawal

    # DATABASE_URL set means "production" cookie flags; the live server speaks plain HTTP.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False

    account = fund(customer("浏览器测试"), "500.00")
    user = django_user_model.objects.create_user(username="browser-holder", password=LOGIN_PASSWORD)
    account.party.portal_users.add(user)

    sign_in(page, f"{live_server.url}/portal/login/", user.username, LOGIN_PASSWORD, lands_on=f"{live_server.url}/portal/")

    page.goto(f"{live_server.url}/portal/accounts/{account.number}/")
    page.click(f"#withdraw-{account.number}")
    assert page.locator("#withdrawal-available").inner_text() == "500.00"
    assert page.locator("#withdrawal-fee").inner_text() == "1.00"
    page.fill("#id_amount", "100.00")
    page.click("#withdrawal-continue")

    # Step 2: the summary, then the transaction password.
    assert page.locator("#confirm-total").inner_text() == "101.00"
    assert page.locator("#confirm-settles").get_attribute("data-settles") == "real_time"
    page.fill("#id_password", PASSWORD)
    page.click("#withdrawal-confirm")

    page.wait_for_url(re.compile(r".*/withdrawals/\d+/$"))
    detail = page.locator("#withdrawal-detail")
    assert detail.get_attribute("data-state") == "succeeded"
    assert page.locator("#withdrawal-amount").inner_text() == "100.00"
    assert page.locator("#summary-balance").inner_text() == "399.00"
    page.screenshot(path=SCREENSHOT, full_page=True)

    withdrawal = Withdrawal.objects.get()
    assert withdrawal.state == Withdrawal.State.SUCCEEDED and withdrawal.client == "portal"
    assert Account.objects.get(pk=account.pk).balance == Decimal("399.00")
