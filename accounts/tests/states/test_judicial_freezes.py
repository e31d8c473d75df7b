"""Judicial freezes (司法冻结): every kind's effect on money, queue, expiry, renewal, deduction, maker-checker."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import uuid4

import pytest
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import AccountNotActiveError, InsufficientFundsError, InvalidStateError
from accounts.ledger.models import Account, Hold
from accounts.ledger.selectors import internal_account
from accounts.states import freezes
from accounts.states.errors import FreezeActionError, FreezePermissionError
from accounts.states.models import FreezeRequest, JudicialDeduction, JudicialFreeze, JudicialFreezeRenewal
from accounts.tests.states_helpers import act, fresh, make_user, place, place_payload, post
from backoffice.errors import FieldValidationError, MakerCheckerError
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def maker(db):
    return make_user("maker", "request_judicial_freeze")


@pytest.fixture
def checker(db):
    return make_user("checker", "approve_judicial_freeze")


@pytest.fixture
def funded(make_account, fund):
    def make(amount="1000.00"):
        return fund(make_account(), Decimal(amount))

    return make


def _withdrawal_hold(account, amount) -> Hold:
    return ledger.hold_place(
        client="test-withdrawal-holds",
        idempotency_key=str(uuid4()),
        account_id=account.pk,
        amount=Decimal(amount),
        reason="withdrawal",
    )


def _capture(hold: Hold):
    return ledger.hold_capture(
        client="test-withdrawal-holds",
        idempotency_key=str(uuid4()),
        hold_id=hold.pk,
        to_account_id=internal_account(Role.CLEARING).pk,
        kind="withdrawal",
    )


# -- partial ---------------------------------------------------------------------------------


def test_judicial_partial_freezes_the_amount_and_only_the_rest_can_leave(maker, checker, funded):
    account = funded("1000.00")
    freeze = place(maker, checker, account, "partial", "300.00")

    account = fresh(account)
    assert freeze.state == JudicialFreeze.State.ACTIVE
    assert freeze.frozen_amount == Decimal("300.00") and freeze.shortfall == 0
    assert freeze.hold.reason == Hold.Reason.JUDICIAL and freeze.hold.amount == Decimal("300.00")
    assert account.frozen == Decimal("300.00") and account.available == Decimal("700.00")
    assert account.judicial_debit_blocks == 0 and account.judicial_credit_blocks == 0
    with pytest.raises(InsufficientFundsError):
        post(account, "700.01", outflow=True)
    post(account, "700.00", outflow=True)  # the unfrozen rest may leave
    post(account, "50.00")  # inflows are accepted
    assert fresh(account).available == Decimal("50.00")
    assert ledger_drift() == []


def test_judicial_partial_freeze_short_of_money_freezes_what_is_available_and_records_the_shortfall(maker, checker, funded):
    account = funded("100.00")
    freeze = place(maker, checker, account, "partial", "300.00")

    assert freeze.frozen_amount == Decimal("100.00")
    assert freeze.shortfall == Decimal("200.00")
    assert fresh(account).available == 0
    with pytest.raises(InsufficientFundsError):
        post(account, "0.01", outflow=True)


def test_judicial_partial_freeze_on_empty_account_holds_nothing_and_records_the_whole_shortfall(maker, checker, make_account):
    account = make_account()
    freeze = place(maker, checker, account, "partial", "300.00")
    assert freeze.state == JudicialFreeze.State.ACTIVE
    assert freeze.hold is None and freeze.frozen_amount == 0 and freeze.shortfall == Decimal("300.00")


def test_judicial_partial_hold_cannot_be_released_or_captured_by_another_client(maker, checker, funded):
    account = funded("500.00")
    freeze = place(maker, checker, account, "partial", "200.00")
    with pytest.raises(InvalidStateError):
        ledger.hold_release(client="partner", idempotency_key=str(uuid4()), hold_id=freeze.hold_id)
    with pytest.raises(InvalidStateError):
        ledger.hold_capture(
            client="partner", idempotency_key=str(uuid4()), hold_id=freeze.hold_id, to_account_id=internal_account("clearing").pk
        )
    assert fresh(freeze.hold).state == Hold.State.ACTIVE
    assert fresh(account).frozen == Decimal("200.00")


def test_judicial_partial_freeze_leaves_other_holds_capturable(maker, checker, funded):
    account = funded("1000.00")
    freeze = place(maker, checker, account, "partial", "300.00")
    hold = _withdrawal_hold(account, "700.00")
    _capture(hold)
    account = fresh(account)
    assert account.balance == Decimal("300.00") and account.frozen == Decimal("300.00")
    assert fresh(freeze.hold).state == Hold.State.ACTIVE


# -- full ------------------------------------------------------------------------------------


def test_judicial_full_freezes_whole_available_and_blocks_every_outflow(maker, checker, funded):
    account = funded("1000.00")
    withdrawal = _withdrawal_hold(account, "200.00")
    funding_voucher = post(account, "10.00")
    freeze = place(maker, checker, account, "full")

    account = fresh(account)
    assert freeze.frozen_amount == Decimal("810.00")
    assert account.frozen == Decimal("1010.00") and account.available == 0
    assert account.judicial_debit_blocks == 1
    # no outflow by any path: transfer, capture of an earlier hold, new hold, reversal of an inflow
    with pytest.raises(AccountNotActiveError) as refused:
        post(account, "0.01", outflow=True)
    assert refused.value.data["state"] == "judicial_freeze"
    with pytest.raises(AccountNotActiveError):
        _capture(withdrawal)
    with pytest.raises(AccountNotActiveError):
        ledger.reverse_transfer(client="test", idempotency_key=str(uuid4()), transfer_id=funding_voucher.pk)
    ledger.hold_release(client="test-withdrawal-holds", idempotency_key=str(uuid4()), hold_id=withdrawal.pk)
    with pytest.raises(AccountNotActiveError):
        _withdrawal_hold(account, "100.00")
    with pytest.raises(AccountNotActiveError):
        post(account, "200.00", outflow=True)
    # inflows are still accepted, and stay put
    post(account, "5.00")
    with pytest.raises(AccountNotActiveError):
        post(account, "5.00", outflow=True)
    assert fresh(account).balance == Decimal("1015.00")
    assert ledger_drift() == []


def test_judicial_full_release_unfreezes_and_unblocks(maker, checker, funded):
    account = funded("1000.00")
    freeze = place(maker, checker, account, "full")
    freeze = act(maker, checker, freeze, "release")

    account = fresh(account)
    assert freeze.state == JudicialFreeze.State.RELEASED and freeze.ended_at is not None
    assert fresh(freeze.hold).state == Hold.State.RELEASED
    assert account.frozen == 0 and account.judicial_debit_blocks == 0
    post(account, "1000.00", outflow=True)
    assert ledger_drift() == []


# -- blocking only -----------------------------------------------------------------------------


def test_judicial_debit_blocked_refuses_outflow_accepts_inflow(maker, checker, funded):
    account = funded("100.00")
    earlier = _withdrawal_hold(account, "30.00")
    freeze = place(maker, checker, account, "debit_blocked")
    assert freeze.hold is None and fresh(account).frozen == Decimal("30.00")
    with pytest.raises(AccountNotActiveError):
        _capture(earlier)  # a hold placed before the block cannot be spent either
    with pytest.raises(AccountNotActiveError) as refused:
        post(account, "1.00", outflow=True)
    assert refused.value.data["direction"] == "outflow"
    post(account, "1.00")
    assert fresh(account).balance == Decimal("101.00")


def test_judicial_credit_blocked_refuses_inflow_accepts_outflow(maker, checker, funded):
    account = funded("100.00")
    place(maker, checker, account, "credit_blocked")
    assert fresh(account).judicial_credit_blocks == 1
    with pytest.raises(AccountNotActiveError) as refused:
        post(account, "1.00")
    assert refused.value.data["direction"] == "inflow"
    post(account, "40.00", outflow=True)
    hold = _withdrawal_hold(account, "10.00")
    _capture(hold)
    assert fresh(account).balance == Decimal("50.00")


def test_judicial_blocks_stack_and_lift_only_when_the_last_ends(maker, checker, funded):
    account = funded("100.00")
    first = place(maker, checker, account, "debit_blocked")
    second = place(maker, checker, account, "debit_blocked")
    assert first.state == second.state == JudicialFreeze.State.ACTIVE
    assert fresh(account).judicial_debit_blocks == 2
    act(maker, checker, first, "release")
    with pytest.raises(AccountNotActiveError):
        post(account, "1.00", outflow=True)
    act(maker, checker, second, "release")
    assert fresh(account).judicial_debit_blocks == 0
    post(account, "1.00", outflow=True)


# -- queue (轮候) -------------------------------------------------------------------------------


def test_judicial_queued_freezes_take_effect_earliest_first_when_the_earlier_ends(maker, checker, funded):
    account = funded("1000.00")
    first = place(maker, checker, account, "partial", "100.00")
    second = place(maker, checker, account, "partial", "200.00", days=30)
    third = place(maker, checker, account, "full")
    assert [first.state, second.state, third.state] == ["active", "queued", "queued"]
    assert second.hold is None and fresh(account).frozen == Decimal("100.00")
    assert fresh(account).judicial_debit_blocks == 0  # a queued full freeze blocks nothing yet

    act(maker, checker, first, "release")
    second, third = fresh(second), fresh(third)
    assert second.state == JudicialFreeze.State.ACTIVE and third.state == JudicialFreeze.State.QUEUED
    assert second.frozen_amount == Decimal("200.00") and fresh(account).frozen == Decimal("200.00")
    # the term of a queued freeze runs from when it took effect
    assert second.expires_at - second.activated_at == dt.timedelta(days=30, minutes=1)

    freezes.freezes_release_expired(now=second.expires_at)
    second, third = fresh(second), fresh(third)
    assert second.state == JudicialFreeze.State.EXPIRED
    assert third.state == JudicialFreeze.State.ACTIVE
    account = fresh(account)
    assert third.frozen_amount == Decimal("1000.00") and account.frozen == Decimal("1000.00")
    assert account.judicial_debit_blocks == 1
    assert ledger_drift() == []


def test_judicial_queued_freeze_can_be_released_before_it_takes_effect(maker, checker, funded):
    account = funded("1000.00")
    first = place(maker, checker, account, "partial", "100.00")
    second = place(maker, checker, account, "partial", "200.00")
    second = act(maker, checker, second, "release")
    assert second.state == JudicialFreeze.State.RELEASED and second.activated_at is None
    act(maker, checker, first, "release")
    assert fresh(account).frozen == 0


# -- expiry --------------------------------------------------------------------------------------


def test_judicial_freeze_expires_automatically_on_its_expiry_not_before(maker, checker, funded):
    account = funded("500.00")
    freeze = place(maker, checker, account, "full")

    assert freezes.freezes_release_expired(now=freeze.expires_at - dt.timedelta(seconds=1)) == []
    assert fresh(freeze).state == JudicialFreeze.State.ACTIVE
    assert freezes.freezes_release_expired(now=freeze.expires_at) == [freeze.pk]

    freeze, account = fresh(freeze), fresh(account)
    assert freeze.state == JudicialFreeze.State.EXPIRED
    assert fresh(freeze.hold).state == Hold.State.RELEASED
    assert account.frozen == 0 and account.judicial_debit_blocks == 0
    row = AuditLog.objects.get(action="judicial_freeze.expire", target_id=str(freeze.pk))
    assert row.actor is None and row.actor_label == "system"
    assert freezes.freezes_release_expired(now=freeze.expires_at) == []  # idempotent
    assert ledger_drift() == []


def test_judicial_release_expired_freezes_task_runs_the_service(maker, checker, funded):
    from accounts.tasks import release_expired_freezes_task

    account = funded("10.00")
    place(maker, checker, account, "partial", "5.00")
    assert release_expired_freezes_task.delay().get() == []


# -- renewal (续冻) --------------------------------------------------------------------------------


def test_judicial_renewal_before_expiry_extends_and_keeps_history(maker, checker, funded):
    account = funded("500.00")
    freeze = place(maker, checker, account, "partial", "100.00")
    original = freeze.expires_at
    new_expiry = original + dt.timedelta(days=365)

    freeze = act(maker, checker, freeze, "renew", expires_at=new_expiry.isoformat())
    assert freeze.expires_at == new_expiry and freeze.state == JudicialFreeze.State.ACTIVE
    renewal = JudicialFreezeRenewal.objects.get(freeze=freeze)
    assert renewal.previous_expires_at == original and renewal.new_expires_at == new_expiry
    audit = AuditLog.objects.get(action="judicial_freeze.renew", target_id=str(freeze.pk))
    assert audit.actor.username == "checker" and audit.data["previous_expires_at"] == original.isoformat()
    # the old expiry no longer releases it
    assert freezes.freezes_release_expired(now=original) == []
    assert fresh(freeze).state == JudicialFreeze.State.ACTIVE


def test_judicial_renewal_must_extend_and_come_before_expiry(maker, checker, funded):
    account = funded("500.00")
    freeze = place(maker, checker, account, "partial", "100.00")
    with pytest.raises(FreezeActionError):
        act(maker, checker, freeze, "renew", expires_at=freeze.expires_at.isoformat())
    # on the expiry instant it is too late (the beat may not have run yet)
    with pytest.raises(FreezeActionError):
        freezes._check_renewable(freeze, freeze.expires_at + dt.timedelta(days=1), now=freeze.expires_at)
    freezes._check_renewable(freeze, freeze.expires_at + dt.timedelta(days=1), now=freeze.expires_at - dt.timedelta(seconds=1))
    freezes.freezes_release_expired(now=freeze.expires_at)
    with pytest.raises(InvalidStateError):
        act(maker, checker, freeze, "renew", expires_at=(freeze.expires_at + dt.timedelta(days=1)).isoformat())


# -- deduction (扣划) ------------------------------------------------------------------------------


def _deduct(maker, checker, freeze, amount):
    return act(
        maker,
        checker,
        freeze,
        "deduct",
        amount=amount,
        court_account_name="北京市朝阳区人民法院",
        court_account_number="0200001234567890123",
        court_bank="中国工商银行北京朝阳支行",
    )


def test_judicial_partial_deduction_posts_to_clearing_with_court_account_and_keeps_the_rest_frozen(maker, checker, funded):
    account = funded("1000.00")
    clearing_before = internal_account(Role.CLEARING).balance
    freeze = place(maker, checker, account, "partial", "600.00")

    freeze = _deduct(maker, checker, freeze, "250.00")
    account = fresh(account)
    assert freeze.state == JudicialFreeze.State.ACTIVE
    assert freeze.frozen_amount == Decimal("350.00") and freeze.deducted_amount == Decimal("250.00")
    assert freeze.hold.state == Hold.State.ACTIVE and freeze.hold.amount == Decimal("350.00")
    assert account.balance == Decimal("750.00") and account.frozen == Decimal("350.00")
    deduction = JudicialDeduction.objects.get(freeze=freeze)
    voucher = deduction.transfer
    assert voucher.kind == "judicial_deduction" and voucher.amount == Decimal("250.00")
    assert voucher.metadata["court_account_number"] == "0200001234567890123"
    assert voucher.metadata["court_account_name"] == "北京市朝阳区人民法院"
    legs = {(e.account_id, e.side, e.amount) for e in voucher.entries.all()}
    clearing = internal_account(Role.CLEARING)
    assert legs == {(account.pk, DEBIT, Decimal("250.00")), (clearing.pk, CREDIT, Decimal("250.00"))}
    assert clearing.balance == clearing_before - Decimal("250.00")

    freeze = _deduct(maker, checker, freeze, "350.00")
    account = fresh(account)
    assert freeze.state == JudicialFreeze.State.DEDUCTED and freeze.frozen_amount == 0
    assert freeze.deducted_amount == Decimal("600.00")
    assert account.balance == Decimal("400.00") and account.frozen == 0
    assert ledger_drift() == []


def test_judicial_deduction_from_a_full_freeze_on_a_debit_blocked_account(maker, checker, funded):
    account = funded("300.00")
    freeze = place(maker, checker, account, "full")
    freeze = _deduct(maker, checker, freeze, "300.00")
    account = fresh(account)
    assert freeze.state == JudicialFreeze.State.DEDUCTED
    assert account.balance == 0 and account.frozen == 0 and account.judicial_debit_blocks == 0


def test_judicial_deduction_more_than_frozen_or_from_a_blocking_freeze_is_refused(maker, checker, funded):
    account = funded("300.00")
    partial = place(maker, checker, account, "partial", "100.00")
    with pytest.raises(FreezeActionError):
        _deduct(maker, checker, partial, "100.01")
    blocking = place(maker, checker, account, "debit_blocked")
    with pytest.raises(FreezeActionError):
        _deduct(maker, checker, blocking, "1.00")
    assert fresh(account).balance == Decimal("300.00")


def test_judicial_deduction_ending_a_freeze_lets_the_queued_one_take_effect(maker, checker, funded):
    account = funded("1000.00")
    first = place(maker, checker, account, "partial", "400.00")
    second = place(maker, checker, account, "partial", "800.00")
    _deduct(maker, checker, first, "400.00")
    second = fresh(second)
    assert second.state == JudicialFreeze.State.ACTIVE
    assert second.frozen_amount == Decimal("600.00") and second.shortfall == Decimal("200.00")
    assert ledger_drift() == []


# -- maker-checker --------------------------------------------------------------------------------


def test_judicial_maker_equal_to_checker_is_refused(maker, funded):
    account = funded("100.00")
    both = make_user("both", "request_judicial_freeze", "approve_judicial_freeze")
    request = freezes.freeze_request_create(
        action="place", requested_by=both, account_id=account.pk, payload=place_payload("full")
    )
    with pytest.raises(MakerCheckerError):
        freezes.freeze_request_approve(request_id=request.pk, approved_by=both)
    with pytest.raises(MakerCheckerError):
        freezes.freeze_request_reject(request_id=request.pk, rejected_by=both, reason="no")
    assert fresh(request).state == FreezeRequest.State.PENDING
    assert not JudicialFreeze.objects.exists() and fresh(account).frozen == 0


def test_judicial_checker_without_permission_is_refused(maker, funded):
    account = funded("100.00")
    clerk = make_user("clerk", "request_judicial_freeze")
    request = freezes.freeze_request_create(
        action="place", requested_by=maker, account_id=account.pk, payload=place_payload("full")
    )
    with pytest.raises(FreezePermissionError):
        freezes.freeze_request_approve(request_id=request.pk, approved_by=clerk)
    assert fresh(request).state == FreezeRequest.State.PENDING


def test_judicial_maker_without_permission_is_refused(checker, funded):
    account = funded("100.00")
    with pytest.raises(FreezePermissionError):
        freezes.freeze_request_create(action="place", requested_by=checker, account_id=account.pk, payload=place_payload("full"))


def test_judicial_request_and_approval_are_both_audited(maker, checker, funded):
    account = funded("100.00")
    freeze = place(maker, checker, account, "partial", "10.00")
    request = FreezeRequest.objects.get(freeze=freeze, action="place")
    assert request.state == FreezeRequest.State.APPROVED
    assert request.requested_by == maker and request.decided_by == checker and request.decided_at is not None
    created = AuditLog.objects.get(action="freeze_request.create", target_id=str(request.pk))
    approved = AuditLog.objects.get(action="freeze_request.approve", target_id=str(request.pk))
    assert created.actor == maker and created.data["payload"]["amount"] == "10.00"
    assert approved.actor == checker
    assert AuditLog.objects.filter(action="judicial_freeze.activate", target_id=str(freeze.pk), actor=checker).exists()


def test_judicial_rejected_request_executes_nothing(maker, checker, funded):
    account = funded("100.00")
    request = freezes.freeze_request_create(
        action="place", requested_by=maker, account_id=account.pk, payload=place_payload("full")
    )
    request = freezes.freeze_request_reject(request_id=request.pk, rejected_by=checker, reason="文书不全")
    assert request.state == FreezeRequest.State.REJECTED and request.reason == "文书不全"
    assert not JudicialFreeze.objects.exists() and fresh(account).judicial_debit_blocks == 0
    assert AuditLog.objects.filter(action="freeze_request.reject", actor=checker).exists()
    with pytest.raises(InvalidStateError):
        freezes.freeze_request_approve(request_id=request.pk, approved_by=checker)


def test_judicial_failed_execution_rolls_back_and_leaves_the_request_pending(maker, checker, funded):
    account = funded("300.00")
    freeze = place(maker, checker, account, "partial", "100.00")
    request = freezes.freeze_request_create(
        action="deduct",
        requested_by=maker,
        freeze_id=freeze.pk,
        payload={
            "amount": "100.00",
            "court_account_name": "某法院",
            "court_account_number": "123",
            "document_number": "扣-1",
        },
    )
    act(maker, checker, freeze, "release")  # the freeze ends before the deduction is approved
    with pytest.raises(InvalidStateError):
        freezes.freeze_request_approve(request_id=request.pk, approved_by=checker)
    assert fresh(request).state == FreezeRequest.State.PENDING
    assert not JudicialDeduction.objects.exists()


def test_judicial_place_payload_is_validated(maker, funded):
    account = funded("100.00")
    bad = place_payload("partial")  # a partial freeze without an amount
    bad["expires_at"] = (timezone.now() - dt.timedelta(days=1)).isoformat()
    with pytest.raises(FieldValidationError) as refused:
        freezes.freeze_request_create(action="place", requested_by=maker, account_id=account.pk, payload=bad)
    assert set(refused.value.fields) == {"amount", "expires_at"}
    with pytest.raises(FieldValidationError):
        freezes.freeze_request_create(
            action="place", requested_by=maker, account_id=account.pk, payload=place_payload("full", "10.00")
        )
    with pytest.raises(InvalidStateError):
        freezes.freeze_request_create(
            action="place", requested_by=maker, account_id=internal_account("clearing").pk, payload=place_payload("full")
        )


def test_judicial_same_document_cannot_be_placed_twice(maker, checker, funded):
    account = funded("100.00")
    place(maker, checker, account, "debit_blocked", document="(2026)京0105执1号")
    with pytest.raises(FieldValidationError):
        place(maker, checker, account, "debit_blocked", document="(2026)京0105执1号")


def test_judicial_pending_requests_selector_lists_oldest_first(maker, funded):
    account = funded("100.00")
    first = freezes.freeze_request_create(
        action="place", requested_by=maker, account_id=account.pk, payload=place_payload("debit_blocked")
    )
    second = freezes.freeze_request_create(
        action="place", requested_by=maker, account_id=account.pk, payload=place_payload("credit_blocked")
    )
    assert list(freezes.freeze_requests_pending()) == [first, second]
    assert Account.objects.get(pk=account.pk).judicial_debit_blocks == 0
