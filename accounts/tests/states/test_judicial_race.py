"""On PostgreSQL, with real threads: an outflow racing a judicial freeze approval never spends frozen money."""

from __future__ import annotations

import threading
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connections

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import AccountNotActiveError, InsufficientFundsError
from accounts.ledger.models import Account, Hold
from accounts.ledger.selectors import internal_account
from accounts.parties.services import account_open, party_create, party_kyc_approve
from accounts.states import freezes
from accounts.states.models import JudicialFreeze
from accounts.tests.states_helpers import make_user, place_payload, post
from conftest import needs_postgres, random_id_number

pytestmark = [needs_postgres, pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ROUNDS = 8


def _race(*jobs):
    """Run the jobs at once from a barrier; return each one's outcome ("ok" or the error's class name)."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str | None] = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait(timeout=10)
            job()
            outcomes[index] = "ok"
        except (InsufficientFundsError, AccountNotActiveError) as exc:
            outcomes[index] = type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - reported in the assertion
            outcomes[index] = repr(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _funded(amount: str) -> Account:
    party = party_create(type="person", name="被执行人", id_number=random_id_number())
    party_kyc_approve(party_id=party.pk, actor_label="test")
    account = account_open(party=party, role=Role.LENDER, tier="I")
    post(account, amount)
    return Account.objects.get(pk=account.pk)


def _assert_frozen_money_intact(account: Account, freeze: JudicialFreeze) -> None:
    account = Account.objects.get(pk=account.pk)
    freeze = JudicialFreeze.objects.get(pk=freeze.pk)
    assert freeze.state == JudicialFreeze.State.ACTIVE
    assert account.available >= 0
    if freeze.frozen_amount:
        hold = Hold.objects.get(pk=freeze.hold_id)
        assert hold.state == Hold.State.ACTIVE and hold.amount == freeze.frozen_amount
    judicial = sum(
        (h.amount for h in Hold.objects.filter(account=account, state=Hold.State.ACTIVE, reason=Hold.Reason.JUDICIAL)),
        Decimal("0"),
    )
    assert judicial == freeze.frozen_amount
    assert account.balance >= judicial


def test_judicial_partial_freeze_approval_racing_a_transfer_out_never_spends_frozen_money():
    maker = make_user("maker", "request_judicial_freeze")
    checker = make_user("checker", "approve_judicial_freeze")
    clearing = internal_account(Role.CLEARING)
    for _round in range(ROUNDS):
        account = _funded("1000.00")
        request = freezes.freeze_request_create(
            action="place", requested_by=maker, account_id=account.pk, payload=place_payload("partial", "600.00")
        )

        def approve(request_id=request.pk):
            freezes.freeze_request_approve(request_id=request_id, approved_by=checker)

        def spend(account_id=account.pk):
            ledger.post_transfer(
                client="race",
                idempotency_key=str(uuid4()),
                kind="payment",
                legs=ledger.move(from_account_id=account_id, to_account_id=clearing.pk, amount=Decimal("700.00")),
            )

        approved, spent = _race(approve, spend)
        assert approved == "ok"
        freeze = JudicialFreeze.objects.get(account=account)
        if spent == "ok":  # the payment came first: the freeze got what was left
            assert freeze.frozen_amount == Decimal("300.00") and freeze.shortfall == Decimal("300.00")
        else:  # the freeze came first: the payment could not reach the frozen money
            assert spent == "InsufficientFundsError"
            assert freeze.frozen_amount == Decimal("600.00")
            assert Account.objects.get(pk=account.pk).balance == Decimal("1000.00")
        _assert_frozen_money_intact(account, freeze)
    assert ledger_drift() == []


def test_judicial_full_freeze_approval_racing_a_withdrawal_capture_never_spends_frozen_money():
    maker = make_user("maker", "request_judicial_freeze")
    checker = make_user("checker", "approve_judicial_freeze")
    clearing = internal_account(Role.CLEARING)
    for _round in range(ROUNDS):
        account = _funded("1000.00")
        withdrawal = ledger.hold_place(
            client="test-withdrawal-holds",
            idempotency_key=str(uuid4()),
            account_id=account.pk,
            amount=Decimal("700.00"),
            reason="withdrawal",
        )
        request = freezes.freeze_request_create(
            action="place", requested_by=maker, account_id=account.pk, payload=place_payload("full")
        )

        def approve(request_id=request.pk):
            freezes.freeze_request_approve(request_id=request_id, approved_by=checker)

        def capture(hold_id=withdrawal.pk):
            ledger.hold_capture(
                client="test-withdrawal-holds",
                idempotency_key=str(uuid4()),
                hold_id=hold_id,
                to_account_id=clearing.pk,
                kind="withdrawal",
            )

        approved, captured = _race(approve, capture)
        assert approved == "ok"
        freeze = JudicialFreeze.objects.get(account=account)
        account = Account.objects.get(pk=account.pk)
        assert freeze.frozen_amount == Decimal("300.00")  # the available part, in either order
        assert account.judicial_debit_blocks == 1
        if captured == "ok":
            assert account.balance == Decimal("300.00")
        else:  # the freeze came first: the withdrawal hold can no longer be spent
            assert captured == "AccountNotActiveError"
            assert account.balance == Decimal("1000.00")
            assert Hold.objects.get(pk=withdrawal.pk).state == Hold.State.ACTIVE
        _assert_frozen_money_intact(account, freeze)
    assert ledger_drift() == []


def test_judicial_deduction_racing_transfers_out_keeps_available_non_negative():
    maker = make_user("maker", "request_judicial_freeze")
    checker = make_user("checker", "approve_judicial_freeze")
    clearing = internal_account(Role.CLEARING)
    account = _funded("1000.00")
    place = freezes.freeze_request_create(
        action="place", requested_by=maker, account_id=account.pk, payload=place_payload("partial", "500.00")
    )
    freezes.freeze_request_approve(request_id=place.pk, approved_by=checker)
    freeze = JudicialFreeze.objects.get(account=account)
    deduct = freezes.freeze_request_create(
        action="deduct",
        requested_by=maker,
        freeze_id=freeze.pk,
        payload={"amount": "200.00", "court_account_name": "某法院", "court_account_number": "9", "document_number": "扣1"},
    )

    def approve():
        freezes.freeze_request_approve(request_id=deduct.pk, approved_by=checker)

    def spend():
        ledger.post_transfer(
            client="race",
            idempotency_key=str(uuid4()),
            kind="payment",
            legs=ledger.move(from_account_id=account.pk, to_account_id=clearing.pk, amount=Decimal("200.00")),
        )

    outcomes = _race(approve, spend, spend, spend)
    assert outcomes[0] == "ok"
    assert outcomes[1:].count("ok") == 2  # 500 unfrozen: two payments of 200 fit, the third does not
    freeze = JudicialFreeze.objects.get(pk=freeze.pk)
    assert freeze.frozen_amount == Decimal("300.00")
    account = Account.objects.get(pk=account.pk)
    assert account.balance == Decimal("400.00") and account.available == Decimal("100.00")
    _assert_frozen_money_intact(account, freeze)
    assert ledger_drift() == []
