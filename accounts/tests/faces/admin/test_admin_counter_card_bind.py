"""Counter card binding in the console (柜面绑卡): the four elements checked at once, a one-time code
to the reserved mobile that the customer reads out, then the binding, with the operator as actor;
the new Class II account's page offers it; the card's page follows it; refusals are messages."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.cards.models import BoundCard, MicroDeposit, OneTimeCode, SmsMessage
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import ABC_DEBIT, ID_LI, ID_ZHANG, MOBILE
from backoffice.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]

ELEMENTS = {
    "step": "elements",
    "holder_name": "张三",
    "id_number": ID_ZHANG,
    "card_number": ABC_DEBIT,
    "reserved_mobile": MOBILE,
    "bound_account_kind": "class_i",
}


def _url(account) -> str:
    return reverse("admin:accounts_boundcard_bind", args=[account.pk])


def _code() -> str:
    return re.search(r"\b(\d{6})\b", SmsMessage.objects.filter(purpose="otp:card_bind").latest("pk").text).group(1)


def test_r_acc_05_counter_binds_a_card_for_a_new_class_ii_account(console, open_account, django_capture_on_commit_callbacks):
    client = console("operator")
    account = open_account("II")
    page = client.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    assert _url(account) in page  # the new account's page offers the action

    step1 = client.post(_url(account), ELEMENTS)
    assert step1.status_code == 200 and step1.context["step"] == 2
    html = step1.content.decode()
    assert "6228 **** **** 0018" in html and "138****0000" in html and ABC_DEBIT not in html
    assert OneTimeCode.objects.filter(account=account, purpose="card_bind").count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(_url(account), {"step": "code", "code": _code()})
    card = BoundCard.objects.get(account=account)
    assert done.status_code == 302 and done["Location"] == reverse("admin:accounts_boundcard_change", args=[card.pk])
    assert card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT
    assert MicroDeposit.objects.get(card=card).state == MicroDeposit.State.AWAITING_BACKFILL
    bind_audit = AuditLog.objects.get(action="card.bind", target_id=str(card.pk))
    assert bind_audit.actor.username == "operator-user"

    follow = client.get(done["Location"]).content.decode()
    assert "6228 **** **** 0018" in follow
    # A card is live: the account page no longer offers a second binding.
    assert _url(account) not in client.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()


def test_r_ver_05_counter_refuses_another_persons_card_before_any_code(console, open_account):
    client = console("operator")
    account = open_account("II")
    response = client.post(_url(account), {**ELEMENTS, "id_number": ID_LI})
    assert response.status_code == 200 and response.context["step"] == 1
    assert response.context["form"].non_field_errors()
    assert not OneTimeCode.objects.exists()


def test_counter_wrong_code_is_a_field_error(console, open_account):
    client = console("operator")
    account = open_account("II")
    client.post(_url(account), ELEMENTS)
    wrong = "000000" if _code() != "000000" else "111111"
    response = client.post(_url(account), {"step": "code", "code": wrong})
    assert response.status_code == 200 and response.context["form"].errors["code"]
    assert not BoundCard.objects.exists()


def test_auditor_may_not_bind_and_sees_no_link(console, open_account):
    client = console("auditor")
    account = open_account("II")
    assert client.get(_url(account)).status_code == 403
    page = client.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    assert _url(account) not in page
