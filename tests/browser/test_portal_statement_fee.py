"""On a phone (390 px), a holder withdraws and reads the statement: the withdrawal and its fee are
two lines (the fee, 手续费, on its own, as in the exports), each a card, and the page never scrolls sideways."""

from __future__ import annotations

import re

import pytest

from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD
from tests.browser.signin import sign_in

LOGIN_PASSWORD = "portal-browser-pass-2026"
SCREENSHOT = "/tmp/portal_statement_fee_390.png"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_portal_statement_shows_the_fee_as_its_own_line_at_390px(
    live_server, page, settings, customer, channel, fund, django_user_model
):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    account = fund(customer("手机用户"), "5000.00")
    user = django_user_model.objects.create_user(username="phone-holder", password=LOGIN_PASSWORD)
    account.party.portal_users.add(user)

    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, f"{live_server.url}/portal/login/", user.username, LOGIN_PASSWORD, lands_on=f"{live_server.url}/portal/")
    page.goto(f"{live_server.url}/portal/accounts/{account.number}/")
    page.click(f"#withdraw-{account.number}")
    page.fill("#id_amount", "100.00")
    page.click("#withdrawal-continue")
    page.fill("#id_password", PASSWORD)
    page.click("#withdrawal-confirm")
    page.wait_for_url(re.compile(r".*/withdrawals/\d+/$"))

    page.goto(f"{live_server.url}/portal/accounts/{account.number}/")
    rows = page.locator("#statement-rows tbody tr")
    fee = page.locator("#statement-rows tr.fee-line")
    assert fee.count() == 1
    fee_text = fee.inner_text()  # the browser asks for English: the labels follow (Chinese: 手续费 / 提现)
    assert "Fee" in fee_text and "1.00" in fee_text and "4,899.00" in fee_text
    amount = rows.nth(1).inner_text()
    assert "Withdrawal" in amount and "100.00" in amount and "4,900.00" in amount and "101.00" not in amount
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=SCREENSHOT, full_page=True)
