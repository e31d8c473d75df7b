"""The portal's micro-deposit back-fill (小额鉴权回填): own cards only, CSRF, wrong → attempts left,
right → card verified and account active, expired / failed / not-yet-sent states explained, bad
input a form error (never a 500, never an attempt), and the amount itself never shown."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.cards import services as cards
from accounts.cards.models import BoundCard, MicroDeposit
from accounts.ledger.models import Account
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import ABC_DEBIT, ID_LI, ID_ZHANG, card_number
from backoffice.models import AuditLog

PASSWORD = "portal-test-pass-2026"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}

# whitenoise warns when STATIC_ROOT (collectstatic output) is missing; tests never collect static files.
pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


@pytest.fixture
def portal_user(django_user_model):
    def make(party, username: str = "holder"):
        user = django_user_model.objects.create_user(username=username, password=PASSWORD)
        party.portal_users.add(user)
        return user

    return make


@pytest.fixture
def bound(open_account, bind, django_capture_on_commit_callbacks):
    """A pending Class II account with a card bound and its micro-deposit sent (eager task)."""

    def do(number: str = ABC_DEBIT, *, name: str = "张三", id_no: str = ID_ZHANG):
        account = open_account("II", name=name, id_no=id_no)
        with django_capture_on_commit_callbacks(execute=True):
            card = bind(account, number, name=name, id_no=id_no)
        return Account.objects.get(pk=account.pk), BoundCard.objects.get(pk=card.pk)

    return do


@pytest.fixture
def holder(bound, portal_user, client):
    """张三 signed in, with a card awaiting its back-fill: (account, card, deposit)."""
    account, card = bound()
    client.force_login(portal_user(account.party))
    deposit = MicroDeposit.objects.get(card=card)
    assert deposit.state == MicroDeposit.State.AWAITING_BACKFILL
    return account, card, deposit


def _url(account, card) -> str:
    return reverse("portal:card_verify", args=[account.number, card.pk])


def _wrong(amount: Decimal) -> str:
    return f"{amount + Decimal('0.01') if amount < Decimal('0.50') else amount - Decimal('0.01')}"


def _never_shows(amount: Decimal, html: str) -> None:
    """The deposited amount is not on the page (the form's own example "0.37" aside)."""
    assert f"{amount:.2f}" not in html.replace("0.37", "")


# -- the flow end to end ------------------------------------------------------------------------------


def test_backfill_wrong_then_right_verifies_the_card_and_activates_the_account(client, holder):
    account, card, deposit = holder
    assert account.state == Account.State.PENDING_VERIFICATION

    page = client.get(_url(account, card), **EN)
    assert page.status_code == 200 and page.context["stage"] == "backfill"
    html = page.content.decode()
    assert 'name="amount"' in html and "csrfmiddlewaretoken" in html
    assert "6228 **** **** 0018" in html and ABC_DEBIT not in html
    assert "3 attempts left" in html
    _never_shows(deposit.amount, html)

    wrong = client.post(_url(account, card), {"amount": _wrong(deposit.amount)}, **EN)
    assert wrong.status_code == 200
    assert wrong.context["form"].errors["amount"] == [
        "The amount does not match the verification amount. You have 2 attempts left."
    ]
    assert "You have 2 attempts left." in wrong.content.decode()
    _never_shows(deposit.amount, wrong.content.decode())
    assert MicroDeposit.objects.get(pk=deposit.pk).attempts == 1

    right = client.post(_url(account, card), {"amount": f"{deposit.amount:.2f}"}, follow=True, **EN)
    assert right.redirect_chain == [(_url(account, card), 302)]
    assert right.context["stage"] == "verified"
    html = right.content.decode()
    assert f"Your card is verified. Account {account.number} is now active." in html
    assert "Your account is active." in html
    _never_shows(deposit.amount, html)
    assert Account.objects.get(pk=account.pk).state == Account.State.ACTIVE
    assert BoundCard.objects.get(pk=card.pk).state == BoundCard.State.VERIFIED
    activation = AuditLog.objects.get(action="account.activate", target_id=str(account.pk))
    assert activation.actor.username == "holder"  # the signed-in user is the actor

    dashboard = client.get("/portal/", **EN)
    assert dashboard.context["rows"][0]["account"].state == Account.State.ACTIVE
    assert "Enter the verification amount" not in dashboard.content.decode()


def test_backfill_accepts_short_forms_of_the_amount(client, holder):
    account, card, deposit = holder
    typed = f"{deposit.amount:.2f}".lstrip("0")  # ".37"
    response = client.post(_url(account, card), {"amount": f" {typed} "}, **EN)
    assert response.status_code == 302
    assert BoundCard.objects.get(pk=card.pk).state == BoundCard.State.VERIFIED


def test_verifying_a_card_of_an_active_account_does_not_claim_an_activation(client, bound, portal_user):
    from accounts.states.services import account_change_state

    account, card = bound()
    account_change_state(account_id=account.pk, action="activate")
    client.force_login(portal_user(account.party))
    deposit = MicroDeposit.objects.get(card=card)

    response = client.post(_url(account, card), {"amount": f"{deposit.amount:.2f}"}, follow=True, **EN)

    html = response.content.decode()
    assert "Your card is verified." in html and "is now active" not in html
    assert response.context["stage"] == "verified"


def test_last_wrong_attempt_fails_the_card_and_says_what_to_do(client, holder):
    account, card, deposit = holder
    for left in (2, 1):
        response = client.post(_url(account, card), {"amount": _wrong(deposit.amount)}, **EN)
        assert f"You have {left} attempt" in response.content.decode()

    last = client.post(_url(account, card), {"amount": _wrong(deposit.amount)}, follow=True, **EN)

    assert last.context["stage"] == "failed"
    html = last.content.decode()
    assert "no attempts are left" in html
    assert "bind the card again" in html
    assert 'name="amount"' not in html
    _never_shows(deposit.amount, html)
    assert BoundCard.objects.get(pk=card.pk).state == BoundCard.State.FAILED
    assert Account.objects.get(pk=account.pk).state == Account.State.PENDING_VERIFICATION

    # Even the right amount now changes nothing, and says why.
    again = client.post(_url(account, card), {"amount": f"{deposit.amount:.2f}"}, follow=True, **EN)
    assert again.status_code == 200
    assert "This card is not waiting for a verification amount." in again.content.decode()
    assert BoundCard.objects.get(pk=card.pk).state == BoundCard.State.FAILED


def test_expired_verification_is_explained(client, holder):
    account, card, deposit = holder
    assert cards.micro_deposit_expire_due(now=deposit.expires_at) == 1

    page = client.get(_url(account, card), **EN)

    assert page.context["stage"] == "expired"
    html = page.content.decode()
    assert "The time to verify has passed" in html and "bind the card again" in html
    assert 'name="amount"' not in html
    posted = client.post(_url(account, card), {"amount": f"{deposit.amount:.2f}"}, follow=True, **EN)
    assert posted.status_code == 200 and posted.context["stage"] == "expired"
    assert Account.objects.get(pk=account.pk).state == Account.State.PENDING_VERIFICATION


def test_backfill_after_the_deadline_is_refused_as_expired(client, holder):
    account, card, deposit = holder
    MicroDeposit.objects.filter(pk=deposit.pk).update(expires_at=timezone.now())  # the window just closed

    assert client.get(_url(account, card), **EN).context["stage"] == "expired"
    posted = client.post(_url(account, card), {"amount": f"{deposit.amount:.2f}"}, follow=True, **EN)

    assert "The time to enter the verification amount has passed." in posted.content.decode()
    assert BoundCard.objects.get(pk=card.pk).state == BoundCard.State.EXPIRED
    assert Account.objects.get(pk=account.pk).state == Account.State.PENDING_VERIFICATION


@pytest.mark.parametrize(
    ("digits", "stage", "words"),
    [
        ("8082", "sending", "The verification amount is on its way"),
        ("7070", "send_failed", "could not send the verification amount"),
        ("4040", "rejected", "did not confirm the card details"),
    ],
)
def test_cards_not_awaiting_a_backfill_show_their_next_step(client, bound, portal_user, digits, stage, words):
    account, card = bound(card_number(digits=digits))
    client.force_login(portal_user(account.party))

    page = client.get(_url(account, card), **EN)

    assert page.status_code == 200 and page.context["stage"] == stage
    html = page.content.decode()
    assert words in html
    assert 'name="amount"' not in html
    dashboard = client.get("/portal/", **EN).content.decode()
    assert "Enter the verification amount" not in dashboard  # nothing to enter yet (or any more)
    assert _url(account, card) in dashboard
    assert ("See what happens next" in dashboard) == (stage != "rejected")


# -- input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the amount you received"),
        ("abc", "Enter an amount in yuan"),
        ("0.371", "at most two decimals"),
        ("0.370", "at most two decimals"),
        ("1e-1", "Enter an amount in yuan"),
        ("-0.10", "Enter an amount in yuan"),
        ("0", "must be more than 0"),
        ("0.00", "must be more than 0"),
        ("37", "at most 0.50 yuan"),
        ("1,0", "Enter an amount in yuan"),
        ("9" * 40, "Ensure this value has at most 20 characters"),
    ],
)
def test_bad_amount_is_a_form_error_and_costs_no_attempt(client, holder, typed, message):
    account, card, deposit = holder
    response = client.post(_url(account, card), {"amount": typed}, **EN)
    assert response.status_code == 200
    assert response.context["stage"] == "backfill"
    errors = response.context["form"].errors["amount"]
    assert any(message in error for error in errors), errors
    assert 'class="error"' in response.content.decode()
    assert MicroDeposit.objects.get(pk=deposit.pk).attempts == 0


def test_post_without_any_field_is_a_form_error(client, holder):
    account, card, deposit = holder
    response = client.post(_url(account, card), {}, **EN)
    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == ["Enter the amount you received, for example 0.37."]
    assert MicroDeposit.objects.get(pk=deposit.pk).attempts == 0


def test_post_without_csrf_token_is_refused(holder):
    account, card, deposit = holder
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(account.party.portal_users.get())
    response = csrf_client.post(_url(account, card), {"amount": f"{deposit.amount:.2f}"})
    assert response.status_code == 403
    assert MicroDeposit.objects.get(pk=deposit.pk).attempts == 0
    assert BoundCard.objects.get(pk=card.pk).state == BoundCard.State.AWAITING_MICRO_DEPOSIT


# -- only one's own cards ------------------------------------------------------------------------------


def test_another_partys_card_and_account_answer_404(client, holder, bound, portal_user):
    account, card, deposit = holder
    other_account, other_card = bound(name="李四", id_no=ID_LI)
    other_deposit = MicroDeposit.objects.get(card=other_card)

    # Someone else's account, with its own card.
    assert client.get(_url(other_account, other_card)).status_code == 404
    response = client.post(_url(other_account, other_card), {"amount": f"{other_deposit.amount:.2f}"})
    assert response.status_code == 404
    # Someone else's card under one's own account number.
    assert client.get(_url(account, other_card)).status_code == 404
    assert client.post(_url(account, other_card), {"amount": f"{other_deposit.amount:.2f}"}).status_code == 404
    # An unknown card.
    assert client.get(reverse("portal:card_verify", args=[account.number, 999999])).status_code == 404

    assert MicroDeposit.objects.get(pk=other_deposit.pk).attempts == 0
    assert BoundCard.objects.get(pk=other_card.pk).state == BoundCard.State.AWAITING_MICRO_DEPOSIT
    assert Account.objects.get(pk=other_account.pk).state == Account.State.PENDING_VERIFICATION


def test_anonymous_user_is_sent_to_sign_in(holder):
    account, card, deposit = holder
    response = Client().get(_url(account, card))
    assert response.status_code == 302 and response["Location"].startswith("/portal/login/?next=")
    assert Client().post(_url(account, card), {"amount": "0.10"}).status_code == 302
    assert MicroDeposit.objects.get(pk=deposit.pk).attempts == 0


def test_dashboard_links_the_card_awaiting_its_backfill(client, holder):
    account, card, deposit = holder
    response = client.get("/portal/", **EN)
    html = response.content.decode()
    assert _url(account, card) in html
    assert "once your bank card is verified" in html
    _never_shows(deposit.amount, html)
