"""The account page: limits used and remaining, bound cards, and the counter actions (face to face,
Class III consent, identity re-verification, counter reactivation, close) through their services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.ledger.models import Account
from accounts.states.services import account_change_state
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import ABC_DEBIT
from backoffice.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


def counter_url(account, name):
    return reverse("admin:accounts_account_counter", args=[account.pk, name])


def page_of(client, account):
    response = client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert response.status_code == 200
    return response.content.decode()


def errors_of(response):
    return [str(m) for m in response.context["messages"] if m.level_tag == "error"]


@pytest.fixture
def class2(make_account, make_party):
    def make():
        party = make_party()
        make_account(party=party, tier="I")
        return make_account(party=party, tier="II")

    return make


def test_admin_account_page_shows_limits_and_masked_bound_cards(console, open_account, bind):
    account = open_account("II")
    card = bind(account, ABC_DEBIT)
    html = page_of(console("auditor"), account)
    assert 'id="account-limits"' in html and "II_outflow_day" in html and "10000.00" in html
    assert card.card_number_masked in html and ABC_DEBIT not in html
    assert "counter-action" not in html  # auditors get no actions


def test_admin_face_to_face_recorded_through_the_service(console, class2, reload):
    account = class2()
    client = console("operator")
    assert counter_url(account, "face_to_face") in page_of(client, account)
    confirm = client.get(counter_url(account, "face_to_face"))
    assert confirm.status_code == 200 and b'name="reason"' in confirm.content
    response = client.post(counter_url(account, "face_to_face"), {"reason": "branch 7"})
    assert response.status_code == 302
    assert reload(account).face_to_face_verified
    row = AuditLog.objects.get(action="account.face_to_face_verified", target_id=str(account.pk))
    assert row.actor.username == "operator-user" and row.data == {"note": "branch 7"}


def test_admin_face_to_face_refused_for_class1_with_a_message(console, make_account):
    account = make_account(tier="I")
    client = console("operator")
    assert counter_url(account, "face_to_face") not in page_of(client, account)
    response = client.post(counter_url(account, "face_to_face"), {"reason": ""}, follow=True)
    assert response.status_code == 200 and errors_of(response)


def test_admin_class3_consent_and_withdrawal(console, make_account, make_party, reload):
    party = make_party()
    make_account(party=party, tier="I")
    account = make_account(party=party, tier="III")
    client = console("operator")
    client.post(counter_url(account, "consent"), {})
    assert reload(account).class3_non_bound_inflow_enabled
    assert counter_url(account, "withdraw_consent") in page_of(client, account)
    client.post(counter_url(account, "withdraw_consent"), {})
    assert not reload(account).class3_non_bound_inflow_enabled
    rows = AuditLog.objects.filter(action="account.non_bound_inflow_consent", target_id=str(account.pk)).order_by("pk")
    assert [r.data["consented"] for r in rows] == [True, False]


def test_admin_identity_reverification_restores_non_counter(console, make_account, reload):
    account = make_account()
    account_change_state(account_id=account.pk, action="suspend_non_counter", reason="unused")
    client = console("operator")
    response = client.post(counter_url(account, "reverify"), {"reason": ""})
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    client.post(counter_url(account, "reverify"), {"reason": "ID card checked at counter"})
    account = reload(account)
    assert account.state == Account.State.ACTIVE and account.identity_reverified_at is not None
    row = AuditLog.objects.filter(action="account.restore_non_counter", target_id=str(account.pk)).get()
    assert row.actor.username == "operator-user" and row.data["method"] == "counter"


def test_admin_counter_reactivation_of_a_dormant_account(console, make_account, reload):
    account = make_account()
    account_change_state(account_id=account.pk, action="mark_dormant", reason="policy")
    client = console("operator")
    assert counter_url(account, "counter_reactivate") in page_of(client, account)
    client.post(counter_url(account, "counter_reactivate"), {"reason": "holder at the counter"})
    assert reload(account).state == Account.State.ACTIVE
    row = AuditLog.objects.get(action="account.reactivate", target_id=str(account.pk))
    assert row.data == {"reason": "holder at the counter", "channel": "counter"}


def test_admin_reactivating_an_active_account_is_refused_with_a_message(console, make_account, reload):
    account = make_account()
    response = console("operator").post(counter_url(account, "counter_reactivate"), {"reason": "x"}, follow=True)
    assert response.status_code == 200 and errors_of(response)
    assert not AuditLog.objects.filter(action="account.reactivate").exists()


def test_admin_close_through_the_service_after_confirmation(console, make_account, reload):
    account = make_account()
    client = console("supervisor")
    assert counter_url(account, "close") in page_of(client, account)
    confirm = client.get(counter_url(account, "close"))
    assert confirm.status_code == 200 and account.number.encode() in confirm.content
    assert reload(account).state == Account.State.ACTIVE
    client.post(counter_url(account, "close"), {"reason": "customer request"})
    assert reload(account).state == Account.State.CLOSED
    assert AuditLog.objects.get(action="account.close", target_id=str(account.pk)).data["reason"] == "customer request"


def test_admin_close_with_money_is_refused_with_a_message(console, make_account, fund, reload):
    account = fund(make_account(), "1.00")
    response = console("supervisor").post(counter_url(account, "close"), {"reason": "leaving"}, follow=True)
    assert response.status_code == 200 and errors_of(response)
    assert reload(account).state == Account.State.ACTIVE and reload(account).balance == Decimal("1.00")


@pytest.mark.parametrize("group, name", [("operator", "close"), ("auditor", "face_to_face"), ("auditor", "reverify")])
def test_admin_counter_actions_refused_for_the_wrong_group(console, class2, group, name, reload):
    account = class2()
    client = console(group)
    assert client.get(counter_url(account, name)).status_code == 403
    assert client.post(counter_url(account, name), {"reason": "try"}).status_code == 403
    assert not reload(account).face_to_face_verified and reload(account).state != Account.State.CLOSED


def test_admin_unknown_counter_action_is_no_500(console, make_account):
    account = make_account()
    client = console("supervisor")
    assert client.get(counter_url(account, "explode")).status_code == 403
    assert client.get(reverse("admin:accounts_account_counter", args=[999999, "close"])).status_code == 404
