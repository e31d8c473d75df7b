"""A holder binds a card in the portal through the micro-deposit (R-VER-03 … R-VER-08, R-ACC-05):
from the dashboard's "bind a bank card", the four elements, the SMS code to the reserved mobile,
then the back-fill of the amount the bank sent; the Class II account becomes active. At 390 px."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from accounts.tests.cards_fixtures import *  # noqa: F401,F403
from accounts.tests.cards_fixtures import ABC_DEBIT, ID_ZHANG, MOBILE
from tests.browser.signin import sign_in

LOGIN_PASSWORD = "portal-browser-pass-2026"
SHOTS = Path("/tmp/shots-cards")


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_r_ver_06_portal_binds_a_card_through_micro_deposit(live_server, page, settings, open_account, django_user_model):
    from accounts.cards.models import BoundCard, MicroDeposit, SmsMessage
    from accounts.ledger.models import Account

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    SHOTS.mkdir(exist_ok=True)

    account = open_account("II")
    assert account.state == Account.State.PENDING_VERIFICATION
    user = django_user_model.objects.create_user(username="bind-holder", password=LOGIN_PASSWORD)
    account.party.portal_users.add(user)

    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, f"{live_server.url}/portal/login/", user.username, LOGIN_PASSWORD, lands_on=f"{live_server.url}/portal/")

    # The way forward from "no card": the dashboard's bind button.
    page.click(f"#bind-{account.number}")
    page.wait_for_url(re.compile(r".*/cards/bind/$"))
    page.fill("#id_holder_name", "张三")
    page.fill("#id_id_number", ID_ZHANG)
    page.fill("#id_card_number", ABC_DEBIT)
    page.fill("#id_reserved_mobile", MOBILE)
    page.check("input[name=bound_account_kind][value=class_i]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / "browser-bind-step1.png"), full_page=True)
    page.click("#card-bind-continue")

    # Step 2: the code texted to the reserved mobile (the simulator's SMS outbox).
    page.wait_for_url(re.compile(r".*/cards/bind/code/$"))
    assert page.locator("#bind-card").inner_text() == "6228 **** **** 0018"
    assert page.locator("#bind-mobile").inner_text() == "138****0000"
    sms = SmsMessage.objects.filter(purpose="otp:card_bind").latest("pk")
    page.fill("#id_code", re.search(r"\b(\d{6})\b", sms.text).group(1))
    page.screenshot(path=str(SHOTS / "browser-bind-step2.png"), full_page=True)
    page.click("#card-bind-confirm")

    # The card's bank confirmed; the micro-deposit was sent: the back-fill form.
    page.wait_for_url(re.compile(r".*/cards/\d+/verify/$"))
    assert page.locator("#verify-stage").get_attribute("data-stage") == "backfill"
    card = BoundCard.objects.get(account=account)
    deposit = MicroDeposit.objects.get(card=card)
    assert f"{deposit.amount:.2f}" not in page.content().replace("0.37", "").replace("0.50", "")
    page.fill("#id_amount", f"{deposit.amount:.2f}")
    page.click("#verify-stage button[type=submit]")

    page.wait_for_selector("#verify-stage[data-stage=verified]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / "browser-bind-verified.png"), full_page=True)
    assert BoundCard.objects.get(pk=card.pk).state == BoundCard.State.VERIFIED
    assert Account.objects.get(pk=account.pk).state == Account.State.ACTIVE
    assert page.locator("#account-state").get_attribute("class").endswith("state-active")
