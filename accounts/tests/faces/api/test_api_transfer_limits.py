"""POST /api/v1/transfers/ counts and enforces the PBOC tier limits (R-ACC-07, R-ACC-09) inside the posting."""

from __future__ import annotations

import pytest

from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account, Transfer
from accounts.limits.models import LimitCounter
from accounts.states.services import account_change_state
from accounts.tests.api_helpers import signed

pytestmark = pytest.mark.django_db
URL = "/api/v1/transfers/"


@pytest.fixture
def class2(make_party, make_account, fund):
    person = make_party("二类户 Holder")
    make_account(party=person, tier="I")  # the person's Class I, so that a Class II may be opened
    account = make_account(party=person, tier="II")
    account_change_state(account_id=account.pk, action="activate", reason="card verified")
    return fund(Account.objects.get(pk=account.pk), "20000.00")


@pytest.fixture
def payee(make_account):
    return make_account()


@pytest.fixture
def api(client, class2, payee):
    return signed(client, "transfers:write", f"party:{class2.party_id}", f"account:{payee.number}")


def test_r_acc_07_api_transfer_out_of_class2_at_the_daily_limit_and_one_fen_over(api, class2, payee):
    over = api.post(URL, {"from_account": class2.number, "to_account": payee.number, "amount": "10000.01"})
    assert over.status_code == 409, over.json()
    assert over.json()["code"] == "limit_exceeded"
    assert over.json()["data"] == {"limit": "II_outflow_day", "remaining": "10000.00"}
    assert not Transfer.objects.filter(kind="transfer").exists()
    assert not LimitCounter.objects.exists()  # refused whole: nothing counted
    at_limit = api.post(URL, {"from_account": class2.number, "to_account": payee.number, "amount": "10000.00"})
    assert at_limit.status_code == 201, at_limit.json()
    one_more = api.post(URL, {"from_account": class2.number, "to_account": payee.number, "amount": "0.01"})
    assert one_more.status_code == 409
    assert one_more.json()["data"]["remaining"] == "0.00"
    assert f"{Account.objects.get(pk=class2.pk).balance:.2f}" == "10000.00"
    assert ledger_drift() == []


def test_r_acc_09_api_transfer_into_class2_without_face_to_face_is_refused(client, class2, payee, fund):
    fund(payee, "50.00")
    api = signed(client, "transfers:write", f"party:{payee.party_id}", f"account:{class2.number}")
    response = api.post(URL, {"from_account": payee.number, "to_account": class2.number, "amount": "10.00"})
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "tier_flow_not_allowed"
    assert f"{Account.objects.get(pk=payee.pk).balance:.2f}" == "50.00"
