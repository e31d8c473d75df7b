"""Console maker-checker in Chromium (issue 13): a freeze request and its approval on a labelled
checker page; a KYC approval refused to the party's maker. Screenshots at 1366 px, both languages,
go to /tmp/shots-checker/ (never into the repository)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
from django.utils import timezone

from accounts.parties.models import Party
from accounts.states.models import FreezeRequest, JudicialFreeze
from accounts.tests.admin_support import make_staff
from conftest import random_id_number
from tests.browser.signin import console_sign_in

SHOTS = Path("/tmp/shots-checker")
VIEWPORT = {"width": 1366, "height": 900}
RAW = ("document_number", "effective_at", "expires_at", "kind partial", "+00:00", "payload")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def sign_in(browser, live_server, user, *, locale="zh-CN"):
    context = browser.new_context(viewport=VIEWPORT, locale=locale)
    return console_sign_in(context.new_page(), live_server, user)


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def console_settings(settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ADMIN_OTP_REQUIRED = True
    return settings


def funded_account(name="冻结测试 Freeze Holder", amount="25000.00"):
    from accounts.ledger import postings as ledger
    from accounts.ledger.chart import Role
    from accounts.ledger.selectors import internal_account
    from accounts.parties.services import account_open, party_create, party_kyc_approve

    party = party_create(type="person", name=name, id_number=random_id_number())
    party_kyc_approve(party_id=party.pk, actor_label="test")
    account = account_open(party=party, role=Role.LENDER, tier="I")
    ledger.post_transfer(
        client="browser-test",
        idempotency_key=str(uuid4()),
        kind="funding",
        legs=ledger.move(from_account_id=internal_account(Role.CLEARING).pk, to_account_id=account.pk, amount=Decimal(amount)),
        memo="browser funding",
    )
    return account


@pytest.mark.parametrize("locale, lang", [("zh-CN", "zh"), ("en-US", "en")])
def test_freeze_request_and_approval_on_a_labelled_checker_page(live_server, browser, console_settings, locale, lang):
    account = funded_account()
    maker = make_staff(f"maker-{lang}", "operator")
    checker = make_staff(f"checker-{lang}", "supervisor")

    page = sign_in(browser, live_server, maker, locale=locale)
    page.goto(f"{live_server.url}/admin/accounts/judicialfreeze/request/place/?account={account.pk}")
    page.select_option("#id_kind", "partial")
    page.fill("#id_amount", "12345.60")
    page.fill("#id_authority", "上海市浦东新区人民法院 Pudong Court")
    page.fill("#id_document_number", f"(2026)沪0115执{lang}号")
    expires = (timezone.localtime() + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#id_expires_at", expires)
    page.click("input[type=submit]")
    req = FreezeRequest.objects.get(account=account)
    page.wait_for_url(f"**/admin/accounts/freezerequest/{req.pk}/change/")
    # The maker is offered no review link.
    assert page.locator(f'a[href$="/freezerequest/{req.pk}/decide/"]').count() == 0
    page.goto(f"{live_server.url}/admin/accounts/freezerequest/")
    assert page.locator(f'a[href$="/freezerequest/{req.pk}/decide/"]').count() == 0

    page = sign_in(browser, live_server, checker, locale=locale)
    page.goto(f"{live_server.url}/admin/accounts/freezerequest/")
    page.click(f'a[href$="/freezerequest/{req.pk}/decide/"]')
    page.wait_for_url(f"**/freezerequest/{req.pk}/decide/")
    text = page.locator("#content-main").inner_text()
    for raw in RAW:
        assert raw not in text, raw
    assert "12,345.60" in text and "25,000.00" in text  # amount asked, balance
    assert account.party.name in text and account.party.id_number_masked in text
    requested = timezone.localtime(req.requested_at).strftime("%Y-%m-%d %H:%M")
    assert requested in text
    if lang == "zh":
        assert "部分冻结" in text and "可用余额" in text and "文书编号" in text
    else:
        assert "Partial amount" in text and "Available" in text and "Document number" in text
    assert page.locator("#id_decision").input_value() == ""  # starts empty
    shot(page, f"freeze-checker-{lang}")

    page.click("input[type=submit]")  # no decision chosen: the required select stops the submit
    assert page.locator("#id_decision:invalid").count() == 1
    assert FreezeRequest.objects.get(pk=req.pk).state == FreezeRequest.State.PENDING
    page.select_option("#id_decision", "approve")
    page.fill("#id_reason", "document checked")
    page.click("input[type=submit]")
    page.wait_for_url(f"**/freezerequest/{req.pk}/change/")
    freeze = JudicialFreeze.objects.get(account=account)
    assert freeze.state == JudicialFreeze.State.ACTIVE and freeze.frozen_amount == Decimal("12345.60")
    shot(page, f"freeze-approved-{lang}")


@pytest.mark.parametrize("locale, lang", [("zh-CN", "zh"), ("en-US", "en")])
def test_kyc_approval_refused_to_its_maker(live_server, browser, console_settings, locale, lang):
    maker = make_staff(f"kyc-maker-{lang}", "operator")
    page = sign_in(browser, live_server, maker, locale=locale)
    page.goto(f"{live_server.url}/admin/accounts/party/add/")
    page.select_option("#id_type", "person")
    page.fill("#id_name", f"新客户 New {lang}")
    page.fill("#id_id_number", random_id_number())
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/accounts/party/")
    party = Party.objects.get(name=f"新客户 New {lang}")
    assert party.created_by == maker

    page.goto(f"{live_server.url}/admin/accounts/party/{party.pk}/change/")
    assert page.locator("#kyc-maker-note").count() == 1
    assert page.locator('a[href*="/party/kyc/approve/"]').count() == 0  # no link that leads to a refusal
    assert page.locator('a[href*="/admin/auth/user/"]').count() == 0  # operators are names, not 403 links
    shot(page, f"kyc-party-maker-{lang}")

    # The bulk action is still there for other parties: the service refuses the maker.
    page.goto(f"{live_server.url}/admin/accounts/party/kyc/approve/?ids={party.pk}")
    assert page.locator(".dossier .errornote").count() == 1
    shot(page, f"kyc-approve-confirm-maker-{lang}")
    page.click("input[type=submit]")
    page.wait_for_url(f"**/admin/accounts/party/{party.pk}/change/")
    assert page.locator(".messagelist .error").count() == 1
    assert Party.objects.get(pk=party.pk).kyc_state == Party.KycState.PENDING_REVIEW
    shot(page, f"kyc-refused-{lang}")

    other = make_staff(f"kyc-checker-{lang}", "operator")
    page = sign_in(browser, live_server, other, locale=locale)
    page.goto(f"{live_server.url}/admin/accounts/party/{party.pk}/change/")
    page.click('a[href*="/party/kyc/approve/"]')
    text = page.locator("#content-main").inner_text()
    assert party.id_number_masked in text and maker.username in text  # the documents and the maker
    shot(page, f"kyc-approve-confirm-{lang}")
    page.click("input[type=submit]")
    page.wait_for_url(f"**/admin/accounts/party/{party.pk}/change/")
    assert Party.objects.get(pk=party.pk).kyc_state == Party.KycState.APPROVED
