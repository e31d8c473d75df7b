"""Recharges (充值) from the bound card through a channel (R-DEP-02, tier limits)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from accounts.ledger.errors import AccountNotActiveError
from accounts.ledger.models import Account, Transfer
from accounts.limits.services import LimitExceededError
from accounts.payments import recharges
from accounts.payments.authorisation import AuthorisationInvalidError
from accounts.payments.callbacks import channel_callback_receive
from accounts.payments.models import PaymentAlert, Recharge
from accounts.payments.sweep import payments_sweep
from accounts.states.services import account_change_state
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH, books, internal

pytestmark = pytest.mark.django_db


@pytest.fixture
def recharge(channel, django_capture_on_commit_callbacks):
    def do(account, amount="200.00", *, ref="c1", authorization=PASSWORD_AUTH, submit=True):
        with django_capture_on_commit_callbacks(execute=submit):
            created = recharges.recharge_create(
                client="test", out_request_no=ref, account=account, amount=amount, authorization=authorization
            )
        return Recharge.objects.get(pk=created.pk)

    return do


def test_recharge_credits_the_account_from_clearing(customer, recharge, sim):
    account = customer()
    clearing_before = internal("clearing").balance
    done = recharge(account, "200.00")
    assert (done.state, done.resolved_by) == (Recharge.State.SUCCEEDED, "response")
    assert done.request_id == f"RC{done.pk:010d}"
    assert books(account)["balance"] == Decimal("200.00")
    assert internal("clearing").balance == clearing_before + Decimal("200.00")
    assert Transfer.objects.get(pk=done.credit_transfer_id).kind == "recharge"
    assert sim.collected() == Decimal("200.00")


def test_r_dep_02_recharge_needs_the_holders_authorisation(customer, recharge):
    account = customer()
    with pytest.raises(AuthorisationInvalidError):
        recharge(account, authorization={"method": "password", "password": "000000"})
    assert Recharge.objects.count() == 0


def test_recharge_declined_by_the_channel_credits_nothing(customer, recharge, sim):
    sim.script_next(submit="failure")
    done = recharge(customer())
    assert done.state == Recharge.State.FAILED
    assert books(done.account)["balance"] == 0


def test_recharge_unknown_then_query(customer, recharge, sim):
    sim.script_next(submit="timeout", then="success")
    done = recharge(customer())
    assert done.state == Recharge.State.UNKNOWN
    assert books(done.account)["balance"] == 0
    recharges.recharge_query_status(recharge_id=done.pk)
    assert Recharge.objects.get(pk=done.pk).state == Recharge.State.SUCCEEDED
    assert books(done.account)["balance"] == Decimal("200.00")


def test_recharge_callback_is_applied_once(customer, recharge, sim, channel):
    sim.script_next(submit="processing", delay=10, then="success")
    done = recharge(customer())
    sim.advance(11)
    payload = json.dumps(sim.callback(done.request_id)).encode()
    for _ in range(3):
        channel_callback_receive(channel_code=channel.code, body=payload, headers={})
    assert Recharge.objects.get(pk=done.pk).state == Recharge.State.SUCCEEDED
    assert books(done.account)["balance"] == Decimal("200.00")


def test_frozen_account_cannot_be_recharged(customer, recharge):
    account = customer()
    account_change_state(account_id=account.pk, action="freeze", reason="test")
    with pytest.raises(AccountNotActiveError):
        recharge(Account.objects.get(pk=account.pk))
    assert Recharge.objects.count() == 0


def test_tier_limits_apply_to_a_recharge_before_money_is_pulled(customer, make_party, recharge, sim):
    # given a Class III account (balance cap ¥2,000)
    party = make_party()
    customer(party=party)  # Class I first
    account = customer(party=party, tier=Account.Tier.CLASS_III)
    recharge(account, "1500.00", ref="a")
    # when a recharge would take it above the cap: refused, nothing collected
    with pytest.raises(LimitExceededError):
        recharge(account, "600.00", ref="b")
    assert Recharge.objects.count() == 1
    assert sim.collected() == Decimal("1500.00")


def test_collected_money_the_limits_refuse_by_then_goes_to_suspense(customer, make_party, recharge, sim):
    # given a Class III account (cap ¥2,000) with a recharge of 1,500 whose outcome is unknown...
    party = make_party()
    customer(party=party)
    account = customer(party=party, tier=Account.Tier.CLASS_III)
    sim.script_next(submit="timeout", then="success")
    pending = recharge(account, "1500.00", ref="a")
    # ...and another of 1,500 that succeeded meanwhile
    recharge(account, "1500.00", ref="b")
    suspense_before = internal("suspense").balance
    # when the first turns out collected, the cap refuses it on the account
    recharges.recharge_query_status(recharge_id=pending.pk)
    pending = Recharge.objects.get(pk=pending.pk)
    # then it is on the suspense account, with a P1 alert, never forced onto the account
    assert pending.state == Recharge.State.SUCCEEDED and pending.credited_to_suspense
    assert internal("suspense").balance == suspense_before + Decimal("1500.00")
    assert books(account)["balance"] == Decimal("1500.00")
    assert PaymentAlert.objects.filter(kind=PaymentAlert.Kind.SUSPENSE_CREDIT, recharge=pending, severity="P1").exists()


def test_sweeper_resends_a_recharge_stuck_in_created(customer, recharge, sim):
    done = recharge(customer(), submit=False)
    assert done.state == Recharge.State.CREATED
    payments_sweep(now=done.created_at + dt.timedelta(minutes=5))
    assert Recharge.objects.get(pk=done.pk).state == Recharge.State.SUCCEEDED


def test_r_wd_03_recharge_not_found_past_the_grace_is_resubmitted_not_failed(customer, recharge, sim, channel):
    # given a collection that never reached the channel (down for this request), then found by nobody
    sim.script_next(submit="error")
    done = recharge(customer())
    assert done.state == Recharge.State.UNKNOWN
    later = done.last_submitted_at + dt.timedelta(seconds=channel.not_found_grace_seconds + 1)
    # when the channel is reachable again and still does not know it past the grace
    sim.script(done.request_id, submit="success")
    recharges.recharge_query_status(recharge_id=done.pk, now=later)
    # then it was re-sent with the same request id (not failed), and the channel's answer credits it once
    done = Recharge.objects.get(pk=done.pk)
    assert (done.state, done.resolved_by, done.submit_attempts) == (Recharge.State.SUCCEEDED, "response", 2)
    assert books(done.account)["balance"] == Decimal("200.00")
    assert sim.collected() == Decimal("200.00")


def test_r_wd_03_recharge_not_found_stays_unknown_without_a_final_contract(customer, recharge, sim, channel):
    sim.script_next(submit="not_found", delay=None)
    done = recharge(customer())
    later = done.submitted_at + dt.timedelta(days=1)
    recharges.recharge_query_status(recharge_id=done.pk, now=later)
    done = Recharge.objects.get(pk=done.pk)
    assert (done.state, done.submit_attempts, done.failure_reason) == (Recharge.State.UNKNOWN, 2, "")


def test_r_wd_03_recharge_not_found_fails_on_a_channel_whose_contract_says_so(customer, recharge, sim, channel, make_channel):
    make_channel(code=channel.code, not_found_final_seconds=120)
    sim.script_next(submit="not_found", delay=None)
    done = recharge(customer())
    recharges.recharge_query_status(recharge_id=done.pk, now=done.submitted_at + dt.timedelta(seconds=60))
    assert Recharge.objects.get(pk=done.pk).state == Recharge.State.UNKNOWN
    recharges.recharge_query_status(recharge_id=done.pk, now=done.submitted_at + dt.timedelta(seconds=121))
    done = Recharge.objects.get(pk=done.pk)
    assert (done.state, done.resolved_by, done.submit_attempts) == (Recharge.State.FAILED, "query", 1)
    assert "not found 120 s after the last submission" in done.failure_reason
    assert books(done.account)["balance"] == 0
