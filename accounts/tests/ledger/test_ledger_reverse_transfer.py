"""accounts.ledger.postings.reverse_transfer: compensating vouchers, refusals, replays."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import (
    AccountNotActiveError,
    IdempotencyConflictError,
    InsufficientFundsError,
    InvalidStateError,
    NotFoundError,
)
from accounts.ledger.models import Account, Entry, Transfer
from accounts.ledger.selectors import internal_account
from accounts.states.services import account_change_state

D = Decimal


@pytest.fixture(autouse=True)
def _ledger_stays_clean(db):
    yield
    assert ledger_drift() == []


def amounts(account) -> tuple[Decimal, Decimal, Decimal]:
    fresh = Account.objects.get(pk=account.pk)
    return fresh.balance, fresh.frozen, fresh.available


def pay(src, dst, amount, *, key=None):
    return ledger.post_transfer(
        client="tests",
        idempotency_key=key or str(uuid4()),
        kind="payment",
        legs=ledger.move(from_account_id=src.pk, to_account_id=dst.pk, amount=amount),
    )


def reverse(transfer, *, key="rev-1", memo=""):
    return ledger.reverse_transfer(client="tests", idempotency_key=key, transfer_id=transfer.pk, memo=memo)


@pytest.fixture
def pair(make_account, fund):
    return fund(make_account(), "100.00"), make_account()


def test_reverse_transfer_restores_balances_with_mirror_entries(pair):
    alice, bob = pair
    original = pay(alice, bob, D("40.00"))
    reversal = reverse(original)
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))
    assert amounts(bob) == (D("0.00"), D("0.00"), D("0.00"))
    assert reversal.kind == "reversal" and reversal.reversal_of_id == original.pk and reversal.amount == D("40.00")
    assert reversal.memo == f"reversal of #{original.pk}"
    assert reversal.metadata == {"reversal_of": original.pk, "original_kind": "payment"}
    assert [(e.account_id, e.side, e.amount) for e in reversal.entries.order_by("pk")] == [
        (alice.pk, CREDIT, D("40.00")),
        (bob.pk, DEBIT, D("40.00")),
    ]
    # nothing was edited: the original voucher and its entries are untouched
    assert [(e.side, e.balance_after) for e in original.entries.order_by("pk")] == [(DEBIT, D("60.00")), (CREDIT, D("40.00"))]
    assert Transfer.objects.get(pk=original.pk).reversal.pk == reversal.pk


def test_reverse_transfer_n_leg_voucher(pair, make_account):
    alice, bob = pair
    fee = internal_account(Role.FEE_INCOME)
    fee_before = amounts(fee)[0]
    original = ledger.post_transfer(
        client="tests",
        idempotency_key="n",
        kind="test",
        legs=[
            ledger.Leg(alice.pk, DEBIT, D("10.00")),
            ledger.Leg(bob.pk, CREDIT, D("9.00")),
            ledger.Leg(fee.pk, CREDIT, D("1.00")),
        ],
    )
    reverse(original, memo="customer dispute")
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))
    assert amounts(bob)[0] == D("0.00")
    assert amounts(fee)[0] == fee_before


def test_reverse_transfer_twice_refused(pair):
    alice, bob = pair
    original = pay(alice, bob, D("40.00"))
    reverse(original)
    with pytest.raises(InvalidStateError) as excinfo:
        reverse(original, key="rev-2")
    assert excinfo.value.data == {"state": "reversed", "voucher": original.pk}
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))


def test_reverse_transfer_of_a_reversal_refused(pair):
    alice, bob = pair
    reversal = reverse(pay(alice, bob, D("40.00")))
    with pytest.raises(InvalidStateError) as excinfo:
        reverse(reversal, key="rev-2")
    assert excinfo.value.data == {"state": "reversal"}
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))
    assert amounts(bob) == (D("0.00"), D("0.00"), D("0.00"))


def test_reverse_transfer_when_money_already_spent_refused(pair, make_account):
    alice, bob = pair
    carol = make_account()
    original = pay(alice, bob, D("40.00"))
    pay(bob, carol, D("30.00"))
    entries = Entry.objects.count()
    with pytest.raises(InsufficientFundsError) as excinfo:
        reverse(original)
    assert excinfo.value.data == {"account": bob.number, "available": "10.00", "shortfall": "30.00"}
    assert Entry.objects.count() == entries
    assert not Transfer.objects.filter(reversal_of=original).exists()
    assert amounts(alice) == (D("60.00"), D("0.00"), D("60.00"))
    assert amounts(bob) == (D("10.00"), D("0.00"), D("10.00"))


def test_reverse_transfer_when_money_is_frozen_refused(pair):
    alice, bob = pair
    original = pay(alice, bob, D("40.00"))
    ledger.hold_place(client="tests", idempotency_key="h", account_id=bob.pk, amount=D("1.00"), reason="risk")
    with pytest.raises(InsufficientFundsError):
        reverse(original)
    assert amounts(bob) == (D("40.00"), D("1.00"), D("39.00"))


def test_reverse_transfer_debiting_a_frozen_account_refused(pair):
    alice, bob = pair
    original = pay(alice, bob, D("40.00"))
    account_change_state(account_id=bob.pk, action="freeze")
    with pytest.raises(AccountNotActiveError):
        reverse(original)
    assert amounts(bob) == (D("40.00"), D("0.00"), D("40.00"))


def test_reverse_transfer_replay_returns_the_same_reversal(pair):
    alice, bob = pair
    original = pay(alice, bob, D("40.00"))
    first = reverse(original)
    entries = Entry.objects.count()
    again = reverse(original)
    assert again.pk == first.pk
    assert Entry.objects.count() == entries
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))
    with pytest.raises(IdempotencyConflictError):
        reverse(original, memo="another memo")


def test_reverse_transfer_key_of_another_voucher_conflicts(pair):
    alice, bob = pair
    first, second = pay(alice, bob, D("10.00")), pay(alice, bob, D("20.00"))
    reverse(first, key="rev")
    with pytest.raises(IdempotencyConflictError):
        reverse(second, key="rev")
    assert amounts(bob) == (D("20.00"), D("0.00"), D("20.00"))


def test_reverse_transfer_unknown_voucher_not_found(db):
    with pytest.raises(NotFoundError):
        ledger.reverse_transfer(client="tests", idempotency_key="x", transfer_id=10**9)


def test_reverse_transfer_of_a_capture_returns_the_captured_money(pair, clearing):
    alice, _bob = pair
    hold = ledger.hold_place(client="tests", idempotency_key="h", account_id=alice.pk, amount=D("30.00"), reason="withdrawal")
    capture = ledger.hold_capture(
        client="tests", idempotency_key="c", hold_id=hold.pk, to_account_id=clearing.pk, kind="withdrawal"
    )
    assert amounts(alice) == (D("70.00"), D("0.00"), D("70.00"))
    reverse(capture)
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))
