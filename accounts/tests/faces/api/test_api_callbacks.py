"""POST /api/v1/channels/{code}/callbacks/: the channel's own signed notification (not an API
client's): applied once, duplicates without effect, forged ones refused and recorded, amount
mismatches and contradictions alerted, nothing moved by them."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from accounts.payments.models import Channel, ChannelCallback, PaymentAlert, Recharge, Withdrawal
from accounts.payments.simulator import Script, simulator
from accounts.tests.api_helpers import signed
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH, assert_books_agree_with_channel, books
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def account(customer, fund):
    return fund(customer(), "1000.00")


@pytest.fixture
def api(client, account):
    return signed(client, "withdrawals:write", "recharges:write", "accounts:read", f"party:{account.party_id}")


@pytest.fixture
def channel_http():
    """A plain HTTP client that enforces CSRF, as a channel's server is (no cookie, no token)."""
    return Client(enforce_csrf_checks=True)


def _post_callback(http, code: str, payload) -> object:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return http.post(f"/api/v1/channels/{code}/callbacks/", data=body, content_type="application/json", REMOTE_ADDR="10.1.2.3")


@pytest.fixture
def pending(api, account, make_channel, django_capture_on_commit_callbacks):
    """A withdrawal of 100.00 (fee 1.00) whose submission got no answer: unknown, funds held.
    The channel pays it an hour later (its simulator clock is advanced), then calls back."""

    def make(strategy=Channel.Strategy.FREEZE):
        channel = make_channel("cb", strategy=strategy, priority=1)
        sim = simulator(channel.code, secret=channel.callback_secret)
        sim.script_next(Script(submit="timeout", then="success", delay=3600))
        body = {"account": account.number, "amount": "100.00", "out_request_no": "CB-1", "authorization": PASSWORD_AUTH}
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/v1/withdrawals/", body)
        assert response.status_code == 201, response.json()
        withdrawal = Withdrawal.objects.get(pk=response.json()["id"])
        assert withdrawal.state == Withdrawal.State.UNKNOWN
        sim.advance(3600)
        return withdrawal, sim

    return make


@pytest.mark.parametrize("strategy", [Channel.Strategy.FREEZE, Channel.Strategy.TRANSIT])
def test_a_success_callback_is_applied_once_and_five_duplicates_change_nothing(channel_http, account, pending, strategy):
    withdrawal, sim = pending(strategy)
    before = books(account)
    payload = sim.callback(withdrawal.request_id)
    response = _post_callback(channel_http, "cb", payload)
    assert response.status_code == 200, response.json()
    assert response.json() == {"code": "ok", "duplicate": False, "outcome": "applied"}
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.SUCCEEDED
    paid = books(account)
    delta = {name: paid[name] - before[name] for name in before}
    assert delta["fee_income"] == D("1.00")
    if strategy == Channel.Strategy.FREEZE:
        assert (delta["balance"], delta["frozen"], delta["withdrawal_holds"]) == (D("-101.00"), D("-101.00"), D("-101.00"))
    else:
        assert (delta["balance"], delta["transit"]) == (0, D("-101.00"))
    for _ in range(5):
        again = _post_callback(channel_http, "cb", payload)
        assert again.status_code == 200
        assert again.json() == {"code": "ok", "duplicate": True, "outcome": "applied"}
    assert books(account) == paid
    assert ChannelCallback.objects.get().duplicates == 5
    assert_books_agree_with_channel(sim)


def test_a_forged_callback_is_401_recorded_and_moves_nothing(channel_http, account, pending):
    withdrawal, sim = pending()
    before = books(account)
    response = _post_callback(channel_http, "cb", sim.callback(withdrawal.request_id, forge=True))
    assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.UNKNOWN
    assert books(account) == before
    assert not ChannelCallback.objects.exists()
    event = AuditLog.objects.get(action="security.callback_rejected")
    assert (event.data["channel"], event.data["remote_addr"]) == ("cb", "10.1.2.3")
    assert PaymentAlert.objects.get(kind=PaymentAlert.Kind.FORGED_CALLBACK).severity == PaymentAlert.Severity.P1


def test_an_unreadable_callback_is_401_too(channel_http, pending):
    pending()
    response = _post_callback(channel_http, "cb", b"not json at all")
    assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
    assert AuditLog.objects.filter(action="security.callback_rejected").count() == 1


def test_a_callback_with_another_amount_is_422_and_moves_nothing(channel_http, account, pending):
    withdrawal, sim = pending()
    before = books(account)
    response = _post_callback(channel_http, "cb", sim.callback(withdrawal.request_id, amount="99.00"))
    assert (response.status_code, response.json()["code"]) == (422, "amount_mismatch")
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.UNKNOWN
    assert books(account) == before
    assert PaymentAlert.objects.filter(kind=PaymentAlert.Kind.AMOUNT_MISMATCH, withdrawal=withdrawal).exists()
    assert ChannelCallback.objects.get().outcome == ChannelCallback.Outcome.AMOUNT_MISMATCH


def test_a_failure_callback_after_success_is_a_contradiction_with_a_p1_alert(channel_http, account, pending):
    withdrawal, sim = pending()
    assert _post_callback(channel_http, "cb", sim.callback(withdrawal.request_id)).status_code == 200
    paid = books(account)
    response = _post_callback(channel_http, "cb", sim.callback(withdrawal.request_id, status="failure"))
    assert response.status_code == 200
    assert response.json() == {"code": "ok", "duplicate": False, "outcome": "contradiction"}
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.SUCCEEDED
    assert books(account) == paid
    alert = PaymentAlert.objects.get(kind=PaymentAlert.Kind.CONTRADICTION, withdrawal=withdrawal)
    assert alert.severity == PaymentAlert.Severity.P1
    assert_books_agree_with_channel(sim)


def test_a_callback_for_an_unknown_channel_is_404(channel_http, pending):
    withdrawal, sim = pending()
    response = _post_callback(channel_http, "nosuch", sim.callback(withdrawal.request_id))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.UNKNOWN


def test_a_callback_is_not_checked_as_an_api_client_request(channel_http, pending):
    """No API-client authentication or scope applies: bogus signing headers change nothing; the
    channel's own signature decides."""
    withdrawal, sim = pending()
    bogus = {"X-Client-Id": "nobody", "X-Timestamp": "1", "X-Nonce": "n" * 16, "X-Signature": "0" * 64}
    body = json.dumps(sim.callback(withdrawal.request_id)).encode()
    response = channel_http.post("/api/v1/channels/cb/callbacks/", data=body, content_type="application/json", headers=bogus)
    assert response.status_code == 200, response.json()
    assert response.json()["outcome"] == "applied"


def test_a_recharge_success_callback_credits_the_account(
    api, account, make_channel, channel_http, django_capture_on_commit_callbacks
):
    channel = make_channel("cb", priority=1)
    sim = simulator(channel.code, secret=channel.callback_secret)
    sim.script_next(Script(submit="processing", then="success", delay=600))
    body = {"account": account.number, "amount": "50.00", "out_request_no": "RC-CB-1", "authorization": PASSWORD_AUTH}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/recharges/", body)
    recharge = Recharge.objects.get(pk=response.json()["id"])
    assert recharge.state == Recharge.State.UNKNOWN
    sim.advance(600)
    callback = _post_callback(channel_http, "cb", sim.callback(recharge.request_id))
    assert callback.json() == {"code": "ok", "duplicate": False, "outcome": "applied"}
    assert api.get(f"/api/v1/recharges/{recharge.pk}/").json()["state"] == "succeeded"
    assert books(account)["balance"] == D("1050.00")
