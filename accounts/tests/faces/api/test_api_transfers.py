"""POST /api/v1/transfers/: happy path, amount validation, domain refusals, visibility."""

from __future__ import annotations

import pytest

from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account, Transfer
from accounts.tests.api_helpers import signed
from backoffice.models import IdempotencyRecord

pytestmark = pytest.mark.django_db
URL = "/api/v1/transfers/"


@pytest.fixture
def payer(make_account, fund):
    return fund(make_account(), "100.00")


@pytest.fixture
def payee(make_account):
    return make_account()


@pytest.fixture
def api(client, payer, payee):
    return signed(client, "accounts:read", "transfers:write", f"party:{payer.party_id}", f"account:{payee.number}")


def _balances(*accounts) -> list[str]:
    return [f"{Account.objects.get(pk=a.pk).balance:.2f}" for a in accounts]


def test_transfer_moves_money_and_answers_201(api, payer, payee):
    response = api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "40.50", "memo": "rent"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "transfer"
    assert body["amount"] == "40.50"
    assert body["from_account"] == payer.number
    assert body["to_account"] == payee.number
    assert body["memo"] == "rent"
    assert body["created_at"].endswith("+08:00")
    assert _balances(payer, payee) == ["59.50", "40.50"]
    transfer = Transfer.objects.get(pk=body["id"])
    assert transfer.client == f"api:{api.credentials.client_id}"
    assert transfer.idempotency_key == IdempotencyRecord.objects.get().key
    assert ledger_drift() == []


def test_transfer_memo_is_optional(api, payer, payee):
    response = api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "1.00"})
    assert response.status_code == 201
    assert response.json()["memo"] == ""


@pytest.mark.parametrize(
    "amount",
    [40, 40.5, "40.505", "-1.00", "0", "0.00", "abc", "1e2", "", None, "NaN", "99999999999999999.00"],
)
def test_transfer_amount_must_be_a_positive_string_with_two_decimals(api, payer, payee, amount):
    response = api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": amount})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["fields"]) == ["amount"]
    assert _balances(payer, payee) == ["100.00", "0.00"]
    assert Transfer.objects.filter(kind="transfer").count() == 0


def test_transfer_json_number_gets_its_own_message(api, payer, payee):
    response = api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": 1})
    assert "string" in response.json()["fields"]["amount"][0]


def test_transfer_short_of_funds_is_409_with_available_and_shortfall(api, payer, payee):
    response = api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "100.01"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_funds"
    assert body["data"]["available"] == "100.00"
    assert body["data"]["shortfall"] == "0.01"
    assert _balances(payer, payee) == ["100.00", "0.00"]
    assert Transfer.objects.filter(kind="transfer").count() == 0


def test_transfer_from_a_frozen_account_is_409_account_not_active(api, payer, payee):
    from accounts.states.services import account_change_state

    account_change_state(account_id=payer.pk, action="freeze", reason="court order")
    response = api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "1.00"})
    assert response.status_code == 409
    assert response.json()["code"] == "account_not_active"
    assert _balances(payer, payee) == ["100.00", "0.00"]


def test_transfer_to_the_same_account_is_refused(api, payer):
    response = api.post(URL, {"from_account": payer.number, "to_account": payer.number, "amount": "1.00"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("which", ["from_account", "to_account"])
def test_transfer_with_an_invisible_account_is_404(client, payer, payee, make_account, fund, which):
    stranger = fund(make_account(), "10.00")
    api = signed(client, "transfers:write", f"account:{payer.number}", f"account:{payee.number}")
    body = {"from_account": payer.number, "to_account": payee.number, "amount": "1.00", which: stranger.number}
    response = api.post(URL, body)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert _balances(payer, payee, stranger) == ["100.00", "0.00", "10.00"]


def test_transfer_missing_fields_are_listed(api):
    response = api.post(URL, {})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"from_account", "to_account", "amount"}


def test_transfer_malformed_json_is_400(api):
    response = api.post(URL, b"{not json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


def test_transfer_resolves_both_accounts_in_one_query_and_rereads_no_entries(api, payer, payee):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "1.00"})
    assert response.status_code == 201
    sql = [q["sql"] for q in queries.captured_queries]
    by_number = [s for s in sql if s.startswith("SELECT") and '"accounts_account"."number" IN' in s]
    assert len(by_number) == 1
    assert not [s for s in sql if s.startswith("SELECT") and 'FROM "accounts_entry"' in s]
