"""An operator signs into the console with password and TOTP code and reads an account's statement."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from accounts.ledger.selectors import internal_account
from accounts.parties.services import account_open, party_create, party_kyc_approve
from accounts.tests.admin_support import PASSWORD, device_of, make_staff, token_for
from conftest import random_id_number

SCREENSHOT = "/tmp/console_statement.png"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_console_sign_in_with_totp_then_statement_shows_entries(live_server, page, settings):
    from accounts.ledger import postings as ledger
    from accounts.ledger.chart import Role

    # DATABASE_URL set means "production" cookie flags; the live server speaks plain HTTP.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ADMIN_OTP_REQUIRED = True

    party = party_create(type="person", name="浏览器测试 Browser Test", id_number=random_id_number())
    party_kyc_approve(party_id=party.pk, actor_label="test")
    account = account_open(party=party, role=Role.LENDER, tier="I")
    clearing = internal_account(Role.CLEARING)
    for amount in ("123.45", "6.55"):
        ledger.post_transfer(
            client="browser-test",
            idempotency_key=str(uuid4()),
            kind="funding",
            legs=ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=Decimal(amount)),
            memo="浏览器测试入账 browser funding",
        )
    user = make_staff("browser-auditor", "auditor")
    device = device_of(user)

    statement = f"/admin/accounts/account/{account.pk}/statement/"
    page.goto(f"{live_server.url}/admin/login/?next={statement}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", token_for(device))
    page.click("input[type=submit]")  # one device: password and code in one submit

    page.wait_for_url(f"**{statement}")
    rows = page.locator("#statement-entries tr.entry-row")
    assert rows.count() == 2
    assert "123.45" in rows.nth(1).inner_text()
    assert "6.55" in rows.nth(0).inner_text()
    assert page.locator("#summary-balance").inner_text() == "130.00"
    page.screenshot(path=SCREENSHOT, full_page=True)
