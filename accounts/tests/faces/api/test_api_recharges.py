"""Recharges through the partner API: POST /api/v1/recharges/ and GET /api/v1/recharges/{id}/,
signed and idempotent, with the holder's authorisation (R-DEP-02)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from accounts.cards.models import SmsMessage
from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.payments.models import Recharge
from accounts.payments.simulator import Script
from accounts.states.services import account_change_state
from accounts.tests.api_helpers import signed
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH, books

pytestmark = pytest.mark.django_db
URL = "/api/v1/recharges/"
D = Decimal


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Transaction passwords are hashed like user passwords: a fast hasher keeps these tests quick."""


@pytest.fixture
def account(customer, channel):
    """张三's Class I account (empty) with a verified debit card; the simulator channel ``sim``."""
    return customer()


@pytest.fixture
def api(client, account):
    return signed(client, "recharges:write", "accounts:read", "accounts:write", f"party:{account.party_id}")


@pytest.fixture
def recharge(api, account, django_capture_on_commit_callbacks):
    """POST a recharge and run what is enqueued after commit (the collection, eager Celery)."""
    refs = iter(range(1, 1000))

    def do(amount="200.00", *, using=None, key="auto", **overrides):
        body = {
            "account": account.number,
            "amount": amount,
            "out_request_no": f"RC-REF-{next(refs)}",
            "authorization": PASSWORD_AUTH,
            **overrides,
        }
        with django_capture_on_commit_callbacks(execute=True):
            return (using or api).post(URL, {k: v for k, v in body.items() if v is not None}, idempotency_key=key)

    return do


def _otp(api, account, purpose: str = "recharge") -> dict:
    assert api.post(f"/api/v1/accounts/{account.number}/otp/", {"purpose": purpose}).status_code == 202
    sms = SmsMessage.objects.filter(account=account, purpose=f"otp:{purpose}").order_by("-pk").first()
    return {"method": "otp", "code": re.search(r"\b(\d{6})\b", sms.text).group(1)}


def _balance(account) -> Decimal:
    return Account.objects.get(pk=account.pk).balance


def test_recharge_with_a_one_time_code_credits_the_account_from_clearing(api, account, recharge, sim):
    before = books(account)
    response = recharge("200.00", authorization=_otp(api, account))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= {"id", "account", "amount", "state", "channel", "created_at", "request_id", "updated_at"}
    assert (body["account"], body["amount"], body["channel"], body["state"]) == (account.number, "200.00", "sim", "created")
    assert body["request_id"] == f"RC{int(body['id']):010d}"
    assert body["created_at"].endswith("+08:00")
    detail = api.get(f"{URL}{body['id']}/")
    assert detail.status_code == 200
    assert detail.json()["state"] == "succeeded" and detail.json()["resolved_at"]
    after = books(account)
    assert after["balance"] - before["balance"] == D("200.00")
    assert after["clearing"] - before["clearing"] == D("200.00")
    assert sim.collected() == D("200.00")
    recharge_row = Recharge.objects.get()
    assert (recharge_row.client, recharge_row.authorisation) == (f"api:{api.credentials.client_id}", "otp")


def test_recharge_with_the_transaction_password(account, recharge):
    response = recharge("10.00")
    assert response.status_code == 201, response.json()
    assert _balance(account) == D("10.00")


def test_recharge_the_channel_refuses_leaves_the_account_untouched(api, account, recharge, sim):
    sim.script_next(Script(submit="failure"))
    response = recharge("10.00")
    assert response.status_code == 201
    detail = api.get(f"{URL}{response.json()['id']}/").json()
    assert detail["state"] == "failed" and detail["failure_reason"]
    assert _balance(account) == D("0.00")


@pytest.mark.parametrize("amount", [10.5, "10.001", "0", None])
def test_recharge_amount_must_be_a_positive_string_with_two_decimals(account, recharge, amount):
    response = recharge(amount)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["amount"]
    assert not Recharge.objects.exists()


def test_recharge_missing_fields_are_listed(api):
    response = api.post(URL, {})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"account", "amount", "out_request_no", "authorization"}


def test_recharge_of_an_unknown_account_is_404(recharge):
    response = recharge(account="6230000000000000")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize("authorization", [None, ["otp"], {"method": "otp", "code": ""}])
def test_recharge_missing_or_malformed_authorisation_is_a_field_error(recharge, authorization):
    response = recharge(authorization=authorization)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["authorization"]


def test_recharge_wrong_code_or_a_withdrawal_code_is_403(api, account, recharge):
    withdrawal_code = _otp(api, account, "withdrawal")
    response = recharge(authorization=withdrawal_code)
    assert (response.status_code, response.json()["code"]) == (403, "authorization_invalid")
    response = recharge(authorization={"method": "password", "password": "000000"})
    assert (response.status_code, response.json()["code"]) == (403, "authorization_invalid")
    assert not Recharge.objects.exists()


def test_recharge_of_a_frozen_account_is_refused(account, recharge):
    account_change_state(account_id=account.pk, action="freeze", reason="court order")
    response = recharge()
    assert (response.status_code, response.json()["code"]) == (409, "account_not_active")


def test_recharge_without_a_verified_card_is_refused(client, make_party, make_account, channel):
    party = make_party()
    account = make_account(party=party, role=Role.PERSONAL, tier=Account.Tier.CLASS_I)
    api = signed(client, "recharges:write", f"party:{party.pk}")
    body = {"account": account.number, "amount": "1.00", "out_request_no": "NC-1", "authorization": PASSWORD_AUTH}
    response = api.post(URL, body)
    assert (response.status_code, response.json()["code"]) == (409, "no_withdrawal_card")


def test_recharge_needs_its_scope_and_an_idempotency_key(client, account, recharge):
    reader = signed(client, "accounts:read", f"party:{account.party_id}")
    assert recharge(using=reader).json()["code"] == "forbidden_scope"
    assert recharge(key=None).json()["code"] == "idempotency_key_required"
    assert not Recharge.objects.exists()


def test_recharge_replayed_with_the_same_key_collects_once(account, recharge, sim):
    first = recharge("30.00", key="rc-1", out_request_no="R-1")
    again = recharge("30.00", key="rc-1", out_request_no="R-1")
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert Recharge.objects.count() == 1
    assert _balance(account) == D("30.00") and sim.collected() == D("30.00")


def test_recharge_reference_reused_under_another_key_is_409_duplicate_reference(account, recharge):
    first = recharge("30.00", out_request_no="R-2")
    again = recharge("40.00", out_request_no="R-2")
    assert (again.status_code, again.json()["code"]) == (409, "duplicate_reference")
    assert again.json()["data"]["id"] == first.json()["id"]
    assert _balance(account) == D("30.00")


def test_another_clients_recharge_is_404(client, api, account, recharge):
    response = recharge("5.00")
    other = signed(client, "*")
    assert other.get(f"{URL}{response.json()['id']}/").status_code == 404
    assert api.get(f"{URL}999999/").status_code == 404


def test_recharge_list_filters_paginates_and_shows_only_this_clients_own(api, client, account, recharge, sim):
    sim.script_next(Script(submit="success"), Script(submit="failure"))
    first, second = (recharge(amount).json()["id"] for amount in ("1.00", "2.00"))
    body = api.get(URL).json()
    assert (len(body["results"]), [row["id"] for row in body["results"]]) == (2, [second, first])
    assert [row["id"] for row in api.get(f"{URL}?state=failed").json()["results"]] == [second]
    assert api.get(f"{URL}?account={account.number}&page_size=1").json()["next"]
    bad = api.get(f"{URL}?state=lost")
    assert (bad.status_code, list(bad.json()["fields"])) == (400, ["state"])
    # another client (even one that sees the account) lists none of them
    other = signed(client, "accounts:read", f"party:{account.party_id}")
    assert len(other.get(URL).json()["results"]) == 0
