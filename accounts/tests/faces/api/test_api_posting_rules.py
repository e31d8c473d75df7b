"""Issue #9: a partner client never reaches the bank's internal accounts (scope ``*`` means every
customer account), and even if the access layer let one through, the ledger's posting rules refuse it."""

from __future__ import annotations

import pytest

from accounts.ledger.chart import Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account, Transfer
from accounts.ledger.selectors import internal_account
from accounts.tests.api_helpers import signed

pytestmark = pytest.mark.django_db
MILLION = "1000000.00"


@pytest.fixture
def customer(make_account, fund):
    return fund(make_account(), "100.00")


@pytest.fixture
def everything(client):
    """A partner client with scope ``*``: every customer account, and no internal one."""
    return signed(client, "*")


def _balances() -> dict[str, str]:
    return {number: f"{balance:.2f}" for number, balance in Account.objects.values_list("number", "balance")}


@pytest.mark.parametrize("role", [Role.CLEARING, Role.TRANSIT_WITHDRAWAL, Role.FEE_INCOME, Role.SUSPENSE])
def test_r_posting_rules_internal_account_is_404_on_account_detail_and_entries(everything, role):
    number = internal_account(role).number
    for path in (f"/api/v1/accounts/{number}/", f"/api/v1/accounts/{number}/entries/"):
        response = everything.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"


def test_r_posting_rules_customer_transfer_cannot_debit_clearing(everything, customer):
    # The reported attack: 1,000,000.00 from the bank's clearing account to a customer, scope *.
    before, vouchers = _balances(), Transfer.objects.count()
    clearing = internal_account(Role.CLEARING)
    response = everything.post(
        "/api/v1/transfers/", {"from_account": clearing.number, "to_account": customer.number, "amount": MILLION}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert _balances() == before and Transfer.objects.count() == vouchers
    assert ledger_drift() == []


def test_r_posting_rules_customer_transfer_cannot_credit_withdrawal_transit(everything, customer):
    before, vouchers = _balances(), Transfer.objects.count()
    transit = internal_account(Role.TRANSIT_WITHDRAWAL)
    response = everything.post(
        "/api/v1/transfers/", {"from_account": customer.number, "to_account": transit.number, "amount": "7.00"}
    )
    assert response.status_code == 404
    assert _balances() == before and Transfer.objects.count() == vouchers
    assert ledger_drift() == []  # the transit invariant still holds


def test_r_posting_rules_ledger_refuses_even_when_the_access_layer_lets_clearing_through(everything, customer, monkeypatch):
    # Defence in depth: with the visibility check switched off, the ledger's rule still refuses.
    monkeypatch.setattr("accounts.api.access.client_sees_account", lambda client, account: True)
    before, vouchers = _balances(), Transfer.objects.count()
    clearing = internal_account(Role.CLEARING)
    response = everything.post(
        "/api/v1/transfers/", {"from_account": clearing.number, "to_account": customer.number, "amount": MILLION}
    )
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "posting_rule_violation"
    assert "transfer" in body["message"] and "clearing" in body["message"] and "debit" in body["message"]
    assert _balances() == before and Transfer.objects.count() == vouchers
    assert ledger_drift() == []


def test_r_posting_rules_internal_account_is_404_as_hold_account_and_capture_target(everything, customer):
    clearing = internal_account(Role.CLEARING)
    before = _balances()
    refused = everything.post("/api/v1/holds/", {"account": clearing.number, "amount": "5.00"})
    assert refused.status_code == 404
    hold = everything.post("/api/v1/holds/", {"account": customer.number, "amount": "5.00"})
    assert hold.status_code == 201, hold.json()
    capture = everything.post(f"/api/v1/holds/{hold.json()['id']}/capture/", {"to_account": clearing.number})
    assert capture.status_code == 404
    assert _balances() == before
    assert Account.objects.get(pk=customer.pk).frozen == customer.frozen + 5


def test_r_posting_rules_scope_star_still_sees_every_customer_account(everything, customer, make_account):
    other = make_account()
    response = everything.post(
        "/api/v1/transfers/", {"from_account": customer.number, "to_account": other.number, "amount": "1.00"}
    )
    assert response.status_code == 201, response.json()
    assert everything.get(f"/api/v1/accounts/{customer.number}/").status_code == 200


def test_r_posting_rules_account_scope_naming_an_internal_account_shows_nothing(client):
    clearing = internal_account(Role.CLEARING)
    api = signed(client, "accounts:read", f"account:{clearing.number}")
    assert api.get(f"/api/v1/accounts/{clearing.number}/").status_code == 404
