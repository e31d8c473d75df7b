"""The holder binds a card in the portal (R-VER-03 … R-VER-08): four elements, a one-time code to
the reserved mobile, then the micro-deposit back-fill; refusals come before the code, clear and on
the form; the code works once; only the holder's own accounts; full numbers never shown back."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.cards.models import BoundCard, MicroDeposit, OneTimeCode, SmsMessage
from accounts.ledger.models import Account
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import ABC_DEBIT, ID_LI, ID_ZHANG, MOBILE, card_number

PASSWORD = "portal-test-pass-2026"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ELEMENTS = {
    "holder_name": "张三",
    "id_number": ID_ZHANG,
    "card_number": "6228 4804 0256 4890 018",
    "reserved_mobile": MOBILE,
    "bound_account_kind": "class_i",
}

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


@pytest.fixture
def holder(open_account, django_user_model, client):
    """张三 signed in, with a pending Class II account and no card."""
    account = open_account("II")
    user = django_user_model.objects.create_user(username="holder", password=PASSWORD)
    account.party.portal_users.add(user)
    client.force_login(user)
    return account


def _bind_url(account) -> str:
    return reverse("portal:card_bind", args=[account.number])


def _code_url(account) -> str:
    return reverse("portal:card_bind_code", args=[account.number])


def _texted_code() -> str:
    sms = SmsMessage.objects.filter(purpose="otp:card_bind").order_by("-pk").first()
    return re.search(r"\b(\d{6})\b", sms.text).group(1)


def test_r_ver_08_bind_with_code_then_backfill_activates_the_account(client, holder, django_capture_on_commit_callbacks):
    account = holder
    dashboard = client.get("/portal/", **EN).content.decode()
    assert _bind_url(account) in dashboard  # the way forward from "no card"

    page = client.get(_bind_url(account), **EN)
    assert page.status_code == 200 and 'name="card_number"' in page.content.decode()
    step1 = client.post(_bind_url(account), ELEMENTS, **EN)
    assert step1.status_code == 302 and step1["Location"] == _code_url(account)
    otp = OneTimeCode.objects.get(account=account, purpose="card_bind")
    assert otp.mobile_masked == "138****0000"
    assert not BoundCard.objects.exists()  # nothing is bound before the code

    step2 = client.get(_code_url(account), **EN).content.decode()
    assert "6228 **** **** 0018" in step2 and "138****0000" in step2
    assert ABC_DEBIT not in step2 and ID_ZHANG not in step2

    wrong = client.post(_code_url(account), {"code": "000000" if _texted_code() != "000000" else "111111"}, **EN)
    assert wrong.status_code == 200 and "The code is wrong." in wrong.context["form"].errors["code"][0]

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(_code_url(account), {"code": _texted_code()}, **EN)
    card = BoundCard.objects.get(account=account)
    assert done.status_code == 302 and done["Location"] == reverse("portal:card_verify", args=[account.number, card.pk])
    assert card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT and card.elements == 5
    deposit = MicroDeposit.objects.get(card=card)
    assert deposit.state == MicroDeposit.State.AWAITING_BACKFILL

    verify = client.get(done["Location"], **EN)
    assert verify.context["stage"] == "backfill"
    client.post(done["Location"], {"amount": f"{deposit.amount:.2f}"}, **EN)
    assert Account.objects.get(pk=account.pk).state == Account.State.ACTIVE
    assert BoundCard.objects.get(pk=card.pk).state == BoundCard.State.VERIFIED
    # A verified card: no more binding here.
    assert client.get(_bind_url(account), **EN).status_code == 302


def test_r_ver_05_a_card_in_another_name_is_refused_before_any_code(client, holder):
    account = holder
    response = client.post(_bind_url(account), {**ELEMENTS, "id_number": ID_LI}, **EN)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["The card must be in the account holder's own name and ID number."]
    assert not OneTimeCode.objects.exists() and not BoundCard.objects.exists()


def test_malformed_elements_are_field_errors(client, holder):
    account = holder
    response = client.post(
        _bind_url(account), {**ELEMENTS, "card_number": "12ab", "id_number": "123", "reserved_mobile": "99"}, **EN
    )
    errors = response.context["form"].errors
    assert set(errors) == {"card_number", "id_number", "reserved_mobile"}
    assert errors["card_number"] == ["A card number has 15 to 19 digits."]


def test_r_ver_04_a_credit_card_cannot_be_the_withdrawal_card(client, holder, settings):
    from accounts.cards.models import BinEntry, CardType

    BinEntry.objects.update_or_create(
        prefix="625800", defaults={"bank_name": "Test Bank", "card_type": CardType.CREDIT, "card_length": 16}
    )
    account = holder
    number = card_number("625800", length=16)
    response = client.post(_bind_url(account), {**ELEMENTS, "card_number": number}, **EN)
    assert "only a debit card (DC) can" in response.context["form"].non_field_errors()[0]
    assert not OneTimeCode.objects.exists()


def test_r_ver_08_code_burns_after_too_many_wrong_tries(client, holder):
    from accounts import conf

    account = holder
    client.post(_bind_url(account), ELEMENTS, **EN)
    right = _texted_code()
    bad = "000000" if right != "000000" else "111111"
    for _ in range(conf.otp_max_attempts()):
        last = client.post(_code_url(account), {"code": bad}, **EN)
    assert "can no longer be used" in last.context["form"].errors["code"][0]
    after = client.post(_code_url(account), {"code": right}, **EN)
    assert after.status_code == 200 and not BoundCard.objects.exists()


def test_rejected_elements_land_on_the_card_page_with_a_way_to_bind_again(client, holder, django_capture_on_commit_callbacks):
    account = holder
    client.post(_bind_url(account), {**ELEMENTS, "card_number": card_number(digits="4040")}, **EN)
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(_code_url(account), {"code": _texted_code()}, follow=True, **EN)
    assert done.context["stage"] == "rejected"
    html = done.content.decode()
    assert "did not confirm the card details" in html and 'id="bind-again"' in html


def test_step_two_without_step_one_starts_again(client, holder):
    response = client.get(_code_url(holder), **EN)
    assert response.status_code == 302 and response["Location"] == _bind_url(holder)


def test_another_holders_account_is_404(client, holder, open_account):
    other = open_account("II", name="李四", id_no=ID_LI)
    assert client.get(_bind_url(other), **EN).status_code == 404
    assert client.post(_code_url(other), {"code": "123456"}, **EN).status_code == 404


def test_withdrawal_page_links_to_binding_when_no_card(client, holder):
    html = client.get(reverse("portal:withdrawal_new", args=[holder.number]), **EN).content.decode()
    assert 'id="no-card-bind"' in html and _bind_url(holder) in html


def test_bind_pages_in_chinese(client, holder):
    html = client.get(_bind_url(holder), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "绑定银行卡" in html
