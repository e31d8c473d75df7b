"""POST /api/v1/holds/, /release/ and /capture/: freezes through the API, with balances checked."""

from __future__ import annotations

from uuid import uuid4

import pytest

from accounts.ledger import postings as ledger
from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account, Hold, Transfer
from accounts.tests.api_helpers import signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(make_account, fund):
    return fund(make_account(), "100.00")


@pytest.fixture
def merchant(make_account):
    return make_account(role="merchant", tier="corporate")


@pytest.fixture
def api(client, holder, merchant):
    return signed(client, "holds:write", f"account:{holder.number}", f"account:{merchant.number}")


def _money(account) -> tuple[str, str, str]:
    fresh = Account.objects.get(pk=account.pk)
    return f"{fresh.balance:.2f}", f"{fresh.frozen:.2f}", f"{fresh.available:.2f}"


def _place(api, account, amount="30.00", **extra):
    response = api.post("/api/v1/holds/", {"account": account.number, "amount": amount, **extra})
    assert response.status_code == 201, response.json()
    return response.json()


def test_hold_place_freezes_the_amount(api, holder):
    body = _place(api, holder, reason="bid")
    assert body["account"] == holder.number
    assert body["amount"] == "30.00"
    assert body["reason"] == "bid"
    assert body["state"] == "active"
    assert body["expires_at"] is None
    assert _money(holder) == ("100.00", "30.00", "70.00")
    assert Hold.objects.get(pk=body["id"]).client == f"api:{api.credentials.client_id}"


def test_hold_reason_defaults_to_partner(api, holder):
    assert _place(api, holder)["reason"] == "partner"


def test_hold_unknown_reason_is_a_validation_error(api, holder):
    response = api.post("/api/v1/holds/", {"account": holder.number, "amount": "1.00", "reason": "whim"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["reason"]


@pytest.mark.parametrize("amount", [30, "30.001", "-30.00", "0.00"])
def test_hold_amount_must_be_a_positive_string_with_two_decimals(api, holder, amount):
    response = api.post("/api/v1/holds/", {"account": holder.number, "amount": amount})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["amount"]
    assert not Hold.objects.exists()


def test_hold_more_than_available_is_409_insufficient_funds(api, holder):
    response = api.post("/api/v1/holds/", {"account": holder.number, "amount": "100.01"})
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_funds"
    assert response.json()["data"] == {"account": holder.number, "available": "100.00", "shortfall": "0.01"}
    assert not Hold.objects.exists()
    assert _money(holder) == ("100.00", "0.00", "100.00")


def test_hold_on_an_invisible_account_is_404(client, holder):
    api = signed(client, "holds:write", "account:6230000000000000")
    response = api.post("/api/v1/holds/", {"account": holder.number, "amount": "1.00"})
    assert response.status_code == 404
    assert not Hold.objects.exists()


def test_hold_release_unfreezes(api, holder):
    hold = _place(api, holder)
    response = api.post(f"/api/v1/holds/{hold['id']}/release/")
    assert response.status_code == 200
    assert response.json()["state"] == "released"
    assert response.json()["id"] == hold["id"]
    assert _money(holder) == ("100.00", "0.00", "100.00")


def test_hold_release_twice_is_409_invalid_state(api, holder):
    hold = _place(api, holder)
    assert api.post(f"/api/v1/holds/{hold['id']}/release/").status_code == 200
    second = api.post(f"/api/v1/holds/{hold['id']}/release/")
    assert second.status_code == 409
    assert second.json()["code"] == "invalid_state"
    assert second.json()["data"]["state"] == "released"
    assert _money(holder) == ("100.00", "0.00", "100.00")


def test_hold_capture_partial_moves_part_and_releases_the_rest(api, holder, merchant):
    hold = _place(api, holder, amount="30.00")
    response = api.post(f"/api/v1/holds/{hold['id']}/capture/", {"to_account": merchant.number, "amount": "12.50"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["hold"]["state"] == "captured"
    assert body["hold"]["captured_amount"] == "12.50"
    assert body["transfer"]["amount"] == "12.50"
    assert body["transfer"]["from_account"] == holder.number
    assert body["transfer"]["to_account"] == merchant.number
    assert body["transfer"]["kind"] == "hold_capture"
    assert _money(holder) == ("87.50", "0.00", "87.50")
    assert _money(merchant) == ("12.50", "0.00", "12.50")
    assert ledger_drift() == []


def test_hold_capture_without_amount_takes_it_all(api, holder, merchant):
    hold = _place(api, holder, amount="30.00")
    body = api.post(f"/api/v1/holds/{hold['id']}/capture/", {"to_account": merchant.number}).json()
    assert body["transfer"]["amount"] == "30.00"
    assert _money(holder) == ("70.00", "0.00", "70.00")
    assert _money(merchant) == ("30.00", "0.00", "30.00")


def test_hold_capture_more_than_held_is_refused(api, holder, merchant):
    hold = _place(api, holder, amount="30.00")
    response = api.post(f"/api/v1/holds/{hold['id']}/capture/", {"to_account": merchant.number, "amount": "30.01"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert _money(holder) == ("100.00", "30.00", "70.00")
    assert not Transfer.objects.filter(kind="hold_capture").exists()


def test_hold_capture_after_release_is_409_invalid_state(api, holder, merchant):
    hold = _place(api, holder)
    api.post(f"/api/v1/holds/{hold['id']}/release/")
    response = api.post(f"/api/v1/holds/{hold['id']}/capture/", {"to_account": merchant.number})
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


def test_hold_capture_to_an_invisible_account_is_404(api, holder, make_account):
    hold = _place(api, holder)
    stranger = make_account()
    response = api.post(f"/api/v1/holds/{hold['id']}/capture/", {"to_account": stranger.number})
    assert response.status_code == 404
    assert _money(holder) == ("100.00", "30.00", "70.00")


def test_hold_of_an_invisible_account_is_404(client, api, holder, merchant):
    hold = _place(api, holder)
    # A client of the same partner scope set, but without sight of the holder's account.
    outsider = signed(client, "holds:write", f"account:{merchant.number}")
    for path, body in (
        (f"/api/v1/holds/{hold['id']}/release/", None),
        (f"/api/v1/holds/{hold['id']}/capture/", {"to_account": merchant.number}),
    ):
        response = outsider.post(path, body)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert _money(holder) == ("100.00", "30.00", "70.00")


def test_hold_placed_by_someone_else_is_404_even_on_a_visible_account(api, holder):
    judicial = ledger.hold_place(
        client="court", idempotency_key=uuid4().hex, account_id=holder.pk, amount="5.00", reason="judicial"
    )
    assert api.post(f"/api/v1/holds/{judicial.pk}/release/").status_code == 404
    assert api.post("/api/v1/holds/999999/release/").status_code == 404
    assert _money(holder) == ("100.00", "5.00", "95.00")


def test_hold_release_needs_the_holds_scope(client, holder):
    api = signed(client, "transfers:write", f"account:{holder.number}")
    assert api.post("/api/v1/holds/1/release/").json()["code"] == "forbidden_scope"
