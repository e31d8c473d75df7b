"""accounts.ledger.postings.post_transfer: postings, replays, and every refusal, with balances after each."""

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
    InvalidAmountError,
    NotFoundError,
    SameAccountError,
    UnbalancedTransferError,
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
    """(balance, frozen, available) as stored in the database now."""
    fresh = Account.objects.get(pk=account.pk)
    return fresh.balance, fresh.frozen, fresh.available


def pay(src, dst, amount, *, key=None, kind="test", memo=""):
    return ledger.post_transfer(
        client="tests",
        idempotency_key=key or str(uuid4()),
        kind=kind,
        legs=ledger.move(from_account_id=src.pk, to_account_id=dst.pk, amount=amount),
        memo=memo,
    )


def test_post_transfer_two_legs_moves_money_and_writes_entries(make_account, fund):
    # given
    alice, bob = fund(make_account(), "100.00"), make_account()
    # when
    transfer = pay(alice, bob, D("30.25"), memo="rent")
    # then
    assert amounts(alice) == (D("69.75"), D("0.00"), D("69.75"))
    assert amounts(bob) == (D("30.25"), D("0.00"), D("30.25"))
    assert transfer.amount == D("30.25") and transfer.memo == "rent" and transfer.kind == "test"
    entries = list(transfer.entries.order_by("pk"))
    assert [(e.account_id, e.side, e.amount, e.balance_after) for e in entries] == [
        (alice.pk, DEBIT, D("30.25"), D("69.75")),
        (bob.pk, CREDIT, D("30.25"), D("30.25")),
    ]
    assert entries[0].subject == "201101"


def test_post_transfer_n_legs_splits_one_debit_over_several_credits(make_account, fund):
    payer, merchant = fund(make_account(), "100.00"), make_account(role=Role.MERCHANT, tier="corporate")
    fee = internal_account(Role.FEE_INCOME)
    fee_before = amounts(fee)[0]
    transfer = ledger.post_transfer(
        client="tests",
        idempotency_key="n-legs",
        kind="test",
        legs=[
            ledger.Leg(payer.pk, DEBIT, D("50.00")),
            ledger.Leg(merchant.pk, CREDIT, D("49.50")),
            ledger.Leg(fee.pk, CREDIT, D("0.50")),
        ],
    )
    assert transfer.entries.count() == 3
    assert transfer.amount == D("50.00")
    assert amounts(payer) == (D("50.00"), D("0.00"), D("50.00"))
    assert amounts(merchant) == (D("49.50"), D("0.00"), D("49.50"))
    assert amounts(fee)[0] == fee_before + D("0.50")
    assert {e.subject for e in transfer.entries.all()} == {"201101", "201201", "602101"}


def test_post_transfer_replay_returns_first_voucher_and_posts_nothing(make_account, fund):
    alice, bob = fund(make_account(), "100.00"), make_account()
    first = pay(alice, bob, D("10.00"), key="k-1")
    vouchers, entries = Transfer.objects.count(), Entry.objects.count()
    again = pay(alice, bob, D("10.00"), key="k-1")
    assert again.pk == first.pk
    assert (Transfer.objects.count(), Entry.objects.count()) == (vouchers, entries)
    assert amounts(alice) == (D("90.00"), D("0.00"), D("90.00"))
    assert amounts(bob) == (D("10.00"), D("0.00"), D("10.00"))


def test_post_transfer_replay_answers_even_when_the_request_would_now_be_refused(make_account, fund):
    alice, bob = fund(make_account(), "10.00"), make_account()
    first = pay(alice, bob, D("10.00"), key="spend-all")
    assert pay(alice, bob, D("10.00"), key="spend-all").pk == first.pk
    assert amounts(alice) == (D("0.00"), D("0.00"), D("0.00"))


@pytest.mark.parametrize(
    "change",
    [
        {"amount": D("10.01")},
        {"kind": "other"},
        {"memo": "different"},
        {"swap": True},
    ],
)
def test_post_transfer_same_key_different_request_raises_conflict(make_account, fund, change):
    alice, bob = fund(make_account(), "100.00"), fund(make_account(), "100.00")
    pay(alice, bob, D("10.00"), key="k-2", kind="test", memo="")
    src, dst = (bob, alice) if change.get("swap") else (alice, bob)
    with pytest.raises(IdempotencyConflictError) as excinfo:
        pay(src, dst, change.get("amount", D("10.00")), key="k-2", kind=change.get("kind", "test"), memo=change.get("memo", ""))
    assert excinfo.value.code == "idempotency_key_mismatch"
    assert excinfo.value.data == {"key": "k-2"}
    assert amounts(alice) == (D("90.00"), D("0.00"), D("90.00"))
    assert amounts(bob) == (D("110.00"), D("0.00"), D("110.00"))


def test_post_transfer_same_key_from_another_client_is_a_new_voucher(make_account, fund):
    alice, bob = fund(make_account(), "100.00"), make_account()
    first = pay(alice, bob, D("10.00"), key="shared")
    other = ledger.post_transfer(
        client="other-client",
        idempotency_key="shared",
        kind="test",
        legs=ledger.move(from_account_id=alice.pk, to_account_id=bob.pk, amount=D("10.00")),
    )
    assert other.pk != first.pk
    assert amounts(alice)[0] == D("80.00")


def test_post_transfer_unbalanced_raises_and_writes_nothing(make_account, fund):
    alice, bob = fund(make_account(), "100.00"), make_account()
    vouchers = Transfer.objects.count()
    with pytest.raises(UnbalancedTransferError):
        ledger.post_transfer(
            client="tests",
            idempotency_key="unbalanced",
            kind="test",
            legs=[ledger.Leg(alice.pk, DEBIT, D("10.00")), ledger.Leg(bob.pk, CREDIT, D("9.99"))],
        )
    with pytest.raises(UnbalancedTransferError):
        ledger.post_transfer(client="tests", idempotency_key="one-leg", kind="test", legs=[ledger.Leg(alice.pk, DEBIT, D("1"))])
    with pytest.raises(UnbalancedTransferError):
        ledger.post_transfer(
            client="tests",
            idempotency_key="bad-side",
            kind="test",
            legs=[ledger.Leg(alice.pk, "X", D("1.00")), ledger.Leg(bob.pk, CREDIT, D("1.00"))],
        )
    assert Transfer.objects.count() == vouchers
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))
    assert amounts(bob) == (D("0.00"), D("0.00"), D("0.00"))


@pytest.mark.parametrize("bad", [10.0, 0.1, D("1.005"), "1.001", 0, D("0.00"), "-5.00", D("-0.01"), "abc", None, True])
def test_post_transfer_invalid_amount_raises_invalid_amount(make_account, fund, bad):
    alice, bob = fund(make_account(), "100.00"), make_account()
    with pytest.raises(InvalidAmountError) as excinfo:
        pay(alice, bob, bad)
    assert excinfo.value.code == "validation_error"
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))
    assert amounts(bob) == (D("0.00"), D("0.00"), D("0.00"))


def test_post_transfer_accepts_integer_and_string_amounts(make_account, fund):
    alice, bob = fund(make_account(), "100.00"), make_account()
    pay(alice, bob, 5)
    pay(alice, bob, "2.50")
    assert amounts(bob) == (D("7.50"), D("0.00"), D("7.50"))


def test_post_transfer_same_account_both_sides_raises_same_account(make_account, fund):
    alice = fund(make_account(), "100.00")
    with pytest.raises(SameAccountError):
        pay(alice, alice, D("1.00"))
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))


def test_post_transfer_unknown_account_raises_not_found(make_account, fund):
    alice = fund(make_account(), "100.00")
    with pytest.raises(NotFoundError):
        ledger.post_transfer(
            client="tests",
            idempotency_key="ghost",
            kind="test",
            legs=ledger.move(from_account_id=alice.pk, to_account_id=10**9, amount=D("1.00")),
        )
    assert amounts(alice)[0] == D("100.00")


def test_post_transfer_insufficient_funds_refused_with_data_and_nothing_written(make_account, fund):
    alice, bob = fund(make_account(), "100.00"), make_account()
    vouchers, entries = Transfer.objects.count(), Entry.objects.count()
    with pytest.raises(InsufficientFundsError) as excinfo:
        pay(alice, bob, D("100.01"), key="too-much")
    error = excinfo.value
    assert error.code == "insufficient_funds" and error.http_status == 409
    assert error.data == {"account": alice.number, "available": "100.00", "shortfall": "0.01"}
    assert (Transfer.objects.count(), Entry.objects.count()) == (vouchers, entries)
    assert not Transfer.objects.filter(idempotency_key="too-much").exists()
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))
    assert amounts(bob) == (D("0.00"), D("0.00"), D("0.00"))
    # the refused key is not burnt: the same key succeeds once the money is there
    fund(alice, "0.01")
    assert pay(alice, bob, D("100.01"), key="too-much").amount == D("100.01")


def test_post_transfer_insufficient_counts_frozen_money(make_account, fund):
    alice, bob = fund(make_account(), "100.00"), make_account()
    ledger.hold_place(client="tests", idempotency_key="h", account_id=alice.pk, amount=D("60.00"), reason="risk")
    with pytest.raises(InsufficientFundsError) as excinfo:
        pay(alice, bob, D("40.01"))
    assert excinfo.value.data["available"] == "40.00"
    assert excinfo.value.data["shortfall"] == "0.01"
    assert amounts(alice) == (D("100.00"), D("60.00"), D("40.00"))
    pay(alice, bob, D("40.00"))
    assert amounts(alice) == (D("60.00"), D("60.00"), D("0.00"))


def _set_state(account, *actions):
    for action in actions:
        account_change_state(account_id=account.pk, action=action)
    return Account.objects.get(pk=account.pk)


@pytest.mark.parametrize("tier", ["II", "III"])
def test_post_transfer_pending_verification_refuses_inflow_and_outflow(make_account, fund, clearing, tier):
    pending, other = make_account(tier=tier), fund(make_account(), "50.00")
    assert pending.state == Account.State.PENDING_VERIFICATION
    with pytest.raises(AccountNotActiveError) as excinfo:
        pay(other, pending, D("1.00"))
    assert excinfo.value.data == {"account": pending.number, "state": "pending_verification", "direction": "inflow"}
    with pytest.raises(AccountNotActiveError) as excinfo:
        pay(pending, other, D("1.00"))
    assert excinfo.value.data["direction"] == "outflow"
    assert amounts(pending) == (D("0.00"), D("0.00"), D("0.00"))
    assert amounts(other) == (D("50.00"), D("0.00"), D("50.00"))


def test_post_transfer_closed_account_refuses_inflow_and_outflow(make_account, fund):
    closed, other = _set_state(make_account(), "close"), fund(make_account(), "50.00")
    assert closed.state == Account.State.CLOSED
    with pytest.raises(AccountNotActiveError) as excinfo:
        pay(other, closed, D("1.00"))
    assert excinfo.value.data["direction"] == "inflow"
    with pytest.raises(AccountNotActiveError):
        pay(closed, other, D("1.00"))
    assert amounts(closed) == (D("0.00"), D("0.00"), D("0.00"))
    assert amounts(other) == (D("50.00"), D("0.00"), D("50.00"))


def test_post_transfer_frozen_account_accepts_inflow_refuses_outflow(make_account, fund):
    frozen, other = _set_state(fund(make_account(), "20.00"), "freeze"), fund(make_account(), "50.00")
    pay(other, frozen, D("5.00"))
    assert amounts(frozen) == (D("25.00"), D("0.00"), D("25.00"))
    with pytest.raises(AccountNotActiveError) as excinfo:
        pay(frozen, other, D("1.00"))
    assert excinfo.value.data == {"account": frozen.number, "state": "frozen", "direction": "outflow"}
    assert amounts(frozen) == (D("25.00"), D("0.00"), D("25.00"))
    assert amounts(other) == (D("45.00"), D("0.00"), D("45.00"))


@pytest.mark.parametrize("actions", [("mark_dormant",), ("suspend_non_counter",)])
def test_post_transfer_dormant_and_suspended_accept_inflow_refuse_outflow(make_account, fund, actions):
    account, other = _set_state(fund(make_account(), "20.00"), *actions), fund(make_account(), "50.00")
    pay(other, account, D("5.00"))
    with pytest.raises(AccountNotActiveError):
        pay(account, other, D("1.00"))
    assert amounts(account) == (D("25.00"), D("0.00"), D("25.00"))


def test_post_transfer_clearing_may_go_negative(clearing):
    marketing = internal_account(Role.MARKETING)
    clearing_before, marketing_before = amounts(clearing)[0], amounts(marketing)[0]
    # The bank pays a marketing expense out of its clearing funds: clearing (an asset) drops below zero.
    ledger.post_transfer(
        client="tests",
        idempotency_key="marketing",
        kind="micro_deposit",  # the voucher kind that pays a marketing expense through clearing
        legs=[ledger.Leg(marketing.pk, DEBIT, D("500.00")), ledger.Leg(clearing.pk, CREDIT, D("500.00"))],
    )
    assert amounts(clearing)[0] == clearing_before - D("500.00")
    assert amounts(clearing)[0] < 0
    assert amounts(marketing)[0] == marketing_before + D("500.00")


def test_post_transfer_customer_may_not_go_negative(make_account, clearing):
    customer = make_account()
    with pytest.raises(InsufficientFundsError) as excinfo:
        pay(customer, clearing, D("0.01"))
    assert excinfo.value.data == {"account": customer.number, "available": "0.00", "shortfall": "0.01"}
    assert amounts(customer) == (D("0.00"), D("0.00"), D("0.00"))


def test_post_transfer_internal_non_clearing_account_may_not_go_negative(make_account, fund):
    transit = internal_account(Role.TRANSIT_WITHDRAWAL)
    customer = make_account()
    before = amounts(transit)
    with pytest.raises(InsufficientFundsError):
        pay(transit, customer, before[0] + D("0.01"), kind="withdrawal_failed")
    assert amounts(transit) == before


def test_post_transfer_entries_are_append_only_with_running_balance(make_account, fund):
    alice, bob = fund(make_account(), "100.00"), make_account()
    for amount in ("10.00", "0.01", "33.33", "6.66"):
        pay(alice, bob, D(amount))
    pay(bob, alice, D("20.00"))
    for account in (alice, bob):
        running = D("0.00")
        fresh = Account.objects.get(pk=account.pk)
        for entry in Entry.objects.filter(account=account).order_by("pk"):
            running += entry.amount if entry.side == fresh.normal_side else -entry.amount
            assert entry.balance_after == running
        assert running == fresh.balance
    assert amounts(alice) == (D("70.00"), D("0.00"), D("70.00"))
    assert amounts(bob) == (D("30.00"), D("0.00"), D("30.00"))
