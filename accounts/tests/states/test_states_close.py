"""Closing an account: zero balance, no active hold, nothing in flight; the existing transitions still work."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from django_fsm import TransitionNotAllowed

from accounts.ledger import postings as ledger
from accounts.ledger.errors import InvalidStateError
from accounts.ledger.models import Account
from accounts.states import freezes
from accounts.states.errors import AccountNotClosableError
from accounts.states.services import account_change_state, account_close, account_close_blockers
from accounts.tests.states_helpers import act, fresh, make_user, place, place_payload, post
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def maker(db):
    return make_user("maker", "request_judicial_freeze")


@pytest.fixture
def checker(db):
    return make_user("checker", "approve_judicial_freeze")


def test_close_refused_with_a_balance(make_account, fund):
    account = fund(make_account(), Decimal("0.01"))
    with pytest.raises(AccountNotClosableError) as refused:
        account_close(account_id=account.pk)
    assert refused.value.code == "account_not_closable" and refused.value.data["reasons"] == ["balance"]
    assert fresh(account).state == Account.State.ACTIVE


def test_close_refused_with_an_active_hold(make_account, fund):
    account = fund(make_account(), Decimal("10.00"))
    ledger.hold_place(
        client="t", idempotency_key=str(uuid4()), account_id=account.pk, amount=Decimal("10.00"), reason="withdrawal"
    )
    with pytest.raises(AccountNotClosableError) as refused:
        account_close(account_id=account.pk)
    assert refused.value.data["reasons"] == ["balance", "active_holds"]


def test_close_refused_with_an_open_judicial_freeze_even_at_zero_balance(make_account, maker, checker):
    account = make_account()
    freeze = place(maker, checker, account, "debit_blocked")
    with pytest.raises(AccountNotClosableError) as refused:
        account_close(account_id=account.pk)
    assert refused.value.data["reasons"] == ["judicial_freezes"]
    act(maker, checker, freeze, "release")
    assert account_close(account_id=account.pk).state == Account.State.CLOSED


def test_close_refused_with_a_pending_freeze_request(make_account, maker):
    account = make_account()
    freezes.freeze_request_create(action="place", requested_by=maker, account_id=account.pk, payload=place_payload("full"))
    assert account_close_blockers(account=fresh(account)) == ["pending_freeze_requests"]
    with pytest.raises(AccountNotClosableError):
        account_change_state(account_id=account.pk, action="close")


def test_close_allowed_at_zero_balance_with_nothing_in_flight_and_audited(make_account, fund, django_user_model):
    operator = make_user("operator")
    account = fund(make_account(), Decimal("20.00"))
    post(account, "20.00", outflow=True)
    account = account_close(account_id=account.pk, actor=operator, reason="客户申请")
    assert account.state == Account.State.CLOSED
    row = AuditLog.objects.get(action="account.close", target_id=str(account.pk))
    assert row.actor == operator and row.data["reason"] == "客户申请"
    with pytest.raises(InvalidStateError):
        account_close(account_id=account.pk)


def test_close_allowed_from_non_counter_suspended_and_dormant(make_account):
    suspended = account_change_state(account_id=make_account().pk, action="suspend_non_counter")
    assert account_close(account_id=suspended.pk).state == Account.State.CLOSED
    dormant = account_change_state(account_id=make_account().pk, action="mark_dormant")
    assert account_close(account_id=dormant.pk).state == Account.State.CLOSED


def test_states_existing_transitions_still_work(make_account):
    account = make_account(tier="II")
    assert account.state == Account.State.PENDING_VERIFICATION
    account = account_change_state(account_id=account.pk, action="activate")
    account = account_change_state(account_id=account.pk, action="freeze")
    assert account.state == Account.State.FROZEN
    with pytest.raises(InvalidStateError):
        account_change_state(account_id=account.pk, action="close")
    account = account_change_state(account_id=account.pk, action="unfreeze")
    account = account_change_state(account_id=account.pk, action="mark_dormant")
    account = account_change_state(account_id=account.pk, action="reactivate")
    assert account.state == Account.State.ACTIVE and account.identity_reverified_at is not None


def test_states_deem_closed_transition_needs_an_empty_account(make_account, fund):
    account = fund(make_account(), Decimal("1.00"))
    with pytest.raises(TransitionNotAllowed):
        account.deem_closed()
    assert "deem_closed" not in {t.name for t in account.get_available_state_transitions()}
