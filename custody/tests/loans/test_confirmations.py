"""R-DEP-02, method "confirm": the platform's bid waits for the client, who confirms it on the
bank's portal with the transaction password (or declines); nothing is frozen before; a bid that
can no longer be placed ends "failed" with the refusal's code; the platform is told by webhook."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.ledger.models import Hold
from accounts.payments.authorisation import transaction_password_set
from accounts.tests.api_helpers import signed
from backoffice.models import WebhookDelivery
from backoffice.webhooks import webhook_endpoint_create
from custody.loans.models import Bid, Confirmation

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(django_user_model, lender):
    """A funded lender with a transaction password, and a portal session of theirs."""
    sub = lender("5000.00")
    transaction_password_set(party_id=sub.party_id, password="135790")
    user = django_user_model.objects.create_user(username=f"u{sub.pk}", password="x-Long-password-1")
    sub.party.portal_users.add(user)
    session = Client()
    session.force_login(user)
    sub.session = session
    return sub


def _ask(client, loan, sub, amount="1000.00", ref="C1"):
    return signed(client, "platform:P001").post(
        f"/api/v1/loans/{loan.pk}/bids/",
        {"lender": sub.account.number, "amount": amount, "out_request_no": ref, "authorization": {"method": "confirm"}},
    )


def test_r_dep_02_confirmed_on_the_banks_page_with_the_transaction_password(client, platform, holder, new_loan):
    webhook_endpoint_create(owner=platform.owner, url="https://p.example.com/h", event_types=["*"])
    loan = new_loan("3000.00")
    response = _ask(client, loan, holder)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["state"] == "pending" and body["amount"] == "1000.00"
    url = body["confirmation_url"]
    assert "/portal/custody/confirmations/" in url
    assert not Hold.objects.filter(reason="bid").exists()  # nothing frozen before the client confirms

    path = url[url.index("/portal/") :]
    page = holder.session.get(path)
    assert page.status_code == 200 and "1,000.00" in page.text
    wrong = holder.session.post(path, {"action": "confirm", "password": "000000"})
    assert wrong.status_code == 200 and not Bid.objects.exists()
    done = holder.session.post(path, {"action": "confirm", "password": "135790"})
    assert done.status_code == 302
    confirmation = Confirmation.objects.get()
    assert confirmation.state == "confirmed" and confirmation.bid.amount == Decimal("1000.00")
    assert confirmation.bid.authorisation_id is None
    assert Hold.objects.get(reason="bid").reference.endswith(f"confirmation:{confirmation.pk}")
    events = list(WebhookDelivery.objects.filter(owner=platform.owner).order_by("pk").values_list("event", flat=True))
    assert events == ["bid.placed", "confirmation.confirmed"]
    again = holder.session.post(path, {"action": "confirm", "password": "135790"})
    assert again.status_code == 200 and Bid.objects.count() == 1  # decided: shown, not placed twice


def test_confirmation_declined_expired_failed_and_only_the_holder_sees_it(
    client, holder, lender, new_loan, bid, django_user_model
):
    loan = new_loan("1000.00")
    declined = _ask(client, loan, holder, ref="C1").json()
    path = declined["confirmation_url"][declined["confirmation_url"].index("/portal/") :]
    stranger = django_user_model.objects.create_user(username="stranger", password="x-Long-password-1")
    other = Client()
    other.force_login(stranger)
    assert other.get(path).status_code == 404
    holder.session.post(path, {"action": "decline"})
    assert Confirmation.objects.get(out_request_no="C1").state == "declined"

    late = _ask(client, loan, holder, ref="C2").json()
    Confirmation.objects.filter(out_request_no="C2").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    holder.session.post(
        late["confirmation_url"][late["confirmation_url"].index("/portal/") :], {"action": "confirm", "password": "135790"}
    )
    assert Confirmation.objects.get(out_request_no="C2").state == "expired"

    pending = _ask(client, loan, holder, ref="C3").json()
    bid(loan, lender(), "1000.00")  # someone else fills the loan meanwhile
    holder.session.post(
        pending["confirmation_url"][pending["confirmation_url"].index("/portal/") :], {"action": "confirm", "password": "135790"}
    )
    failed = Confirmation.objects.get(out_request_no="C3")
    assert (failed.state, failed.outcome_code) == ("failed", "invalid_state")
    assert not Bid.objects.filter(lender=holder).exists()
    assert not Hold.objects.filter(account_id=holder.account_id, reason="bid").exists()

    duplicate = _ask(client, loan, holder, ref="C1")
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "duplicate_reference")
