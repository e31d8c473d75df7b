"""accounts.ledger.postings holds: place, release, capture (full and partial) and expire, with balances after each."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import (
    AccountNotActiveError,
    CaptureAmountError,
    IdempotencyConflictError,
    InsufficientFundsError,
    InvalidAmountError,
    InvalidStateError,
    NotFoundError,
    SameAccountError,
)
from accounts.ledger.models import Account, Entry, Hold, Transfer
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


def hold(account, amount, *, key="h-1", reason="withdrawal", reference="", expires_at=None, client="tests"):
    return ledger.hold_place(
        client=client,
        idempotency_key=key,
        account_id=account.pk,
        amount=amount,
        reason=reason,
        reference=reference,
        expires_at=expires_at,
    )


def state_of(h) -> str:
    return Hold.objects.get(pk=h.pk).state


@pytest.fixture
def funded(make_account, fund):
    return fund(make_account(), "100.00")


# -- hold_place ------------------------------------------------------------------------


def test_hold_place_reduces_available_not_balance(funded):
    h = hold(funded, D("30.00"), reference="WD1")
    assert (h.state, h.amount, h.reason, h.reference) == ("active", D("30.00"), "withdrawal", "WD1")
    assert amounts(funded) == (D("100.00"), D("30.00"), D("70.00"))
    hold(funded, D("70.00"), key="h-2")
    assert amounts(funded) == (D("100.00"), D("100.00"), D("0.00"))


def test_hold_place_insufficient_available_refused(funded):
    hold(funded, D("60.00"))
    holds = Hold.objects.count()
    with pytest.raises(InsufficientFundsError) as excinfo:
        hold(funded, D("40.01"), key="h-2")
    assert excinfo.value.data == {"account": funded.number, "available": "40.00", "shortfall": "0.01"}
    assert Hold.objects.count() == holds
    assert amounts(funded) == (D("100.00"), D("60.00"), D("40.00"))


def test_hold_place_replay_returns_same_hold(funded):
    first = hold(funded, D("30.00"))
    again = hold(funded, D("30.00"))
    assert again.pk == first.pk
    assert Hold.objects.filter(account=funded).count() == 1
    assert amounts(funded) == (D("100.00"), D("30.00"), D("70.00"))


@pytest.mark.parametrize("change", [{"amount": D("31.00")}, {"reason": "bid"}, {"reference": "other"}])
def test_hold_place_same_key_different_request_conflicts(funded, change):
    hold(funded, D("30.00"))
    with pytest.raises(IdempotencyConflictError):
        hold(
            funded,
            change.get("amount", D("30.00")),
            reason=change.get("reason", "withdrawal"),
            reference=change.get("reference", ""),
        )
    assert amounts(funded) == (D("100.00"), D("30.00"), D("70.00"))


def test_hold_place_same_key_on_another_account_conflicts(funded, make_account, fund):
    other = fund(make_account(), "100.00")
    hold(funded, D("30.00"))
    with pytest.raises(IdempotencyConflictError):
        hold(other, D("30.00"))
    assert amounts(other) == (D("100.00"), D("0.00"), D("100.00"))


@pytest.mark.parametrize("action", ["freeze", "mark_dormant", "suspend_non_counter", "close"])
def test_hold_place_non_active_account_refused(make_account, fund, action):
    account = make_account() if action == "close" else fund(make_account(), "10.00")
    account_change_state(account_id=account.pk, action=action)
    with pytest.raises(AccountNotActiveError) as excinfo:
        hold(account, D("1.00"))
    assert excinfo.value.data["direction"] == "outflow"
    assert amounts(account)[1] == D("0.00")


def test_hold_place_pending_verification_refused(make_account):
    with pytest.raises(AccountNotActiveError):
        hold(make_account(tier="II"), D("1.00"))


@pytest.mark.parametrize("bad", [1.5, "0.001", 0, "-1.00"])
def test_hold_place_invalid_amount_refused(funded, bad):
    with pytest.raises(InvalidAmountError):
        hold(funded, bad)
    assert amounts(funded) == (D("100.00"), D("0.00"), D("100.00"))


def test_hold_place_unknown_reason_refused(funded):
    with pytest.raises(InvalidStateError):
        hold(funded, D("1.00"), reason="whim")
    assert amounts(funded)[1] == D("0.00")


def test_hold_place_unknown_account_not_found(db):
    with pytest.raises(NotFoundError):
        ledger.hold_place(client="tests", idempotency_key="x", account_id=10**9, amount=D("1.00"), reason="risk")


def test_hold_place_judicial_on_frozen_account_when_state_not_enforced(make_account, fund):
    account = fund(make_account(), "10.00")
    account_change_state(account_id=account.pk, action="freeze")
    h = ledger.hold_place(
        client="court", idempotency_key="j-1", account_id=account.pk, amount=D("10.00"), reason="judicial", enforce_state=False
    )
    assert h.state == "active"
    assert amounts(account) == (D("10.00"), D("10.00"), D("0.00"))


# -- hold_release ------------------------------------------------------------------------


def test_hold_release_returns_frozen_money(funded):
    h = hold(funded, D("30.00"))
    released = ledger.hold_release(client="tests", idempotency_key="r-1", hold_id=h.pk)
    assert released.state == "released" and released.ended_at is not None
    assert state_of(h) == "released"
    assert amounts(funded) == (D("100.00"), D("0.00"), D("100.00"))


def test_hold_release_twice_raises_invalid_state(funded):
    h = hold(funded, D("30.00"))
    ledger.hold_release(client="tests", idempotency_key="r-1", hold_id=h.pk)
    with pytest.raises(InvalidStateError) as excinfo:
        ledger.hold_release(client="tests", idempotency_key="r-2", hold_id=h.pk)
    assert excinfo.value.data == {"state": "released"}
    assert amounts(funded) == (D("100.00"), D("0.00"), D("100.00"))


def test_hold_release_replay_returns_the_hold(funded):
    h = hold(funded, D("30.00"))
    first = ledger.hold_release(client="tests", idempotency_key="r-1", hold_id=h.pk)
    again = ledger.hold_release(client="tests", idempotency_key="r-1", hold_id=h.pk)
    assert again.pk == first.pk == h.pk
    assert again.state == "released"
    assert amounts(funded) == (D("100.00"), D("0.00"), D("100.00"))


def test_hold_release_same_key_other_hold_conflicts(funded):
    h1, h2 = hold(funded, D("30.00")), hold(funded, D("20.00"), key="h-2")
    ledger.hold_release(client="tests", idempotency_key="r-1", hold_id=h1.pk)
    with pytest.raises(IdempotencyConflictError):
        ledger.hold_release(client="tests", idempotency_key="r-1", hold_id=h2.pk)
    assert state_of(h2) == "active"
    assert amounts(funded) == (D("100.00"), D("20.00"), D("80.00"))


def test_hold_release_unknown_hold_not_found(db):
    with pytest.raises(NotFoundError):
        ledger.hold_release(client="tests", idempotency_key="r", hold_id=10**9)


def test_hold_release_works_on_a_frozen_account(make_account, fund):
    account = fund(make_account(), "10.00")
    h = hold(account, D("4.00"))
    account_change_state(account_id=account.pk, action="freeze")
    ledger.hold_release(client="tests", idempotency_key="r", hold_id=h.pk)
    assert amounts(account) == (D("10.00"), D("0.00"), D("10.00"))


# -- hold_capture ------------------------------------------------------------------------


def test_hold_capture_full_debits_held_money(funded, make_account):
    # (to a customer account: the default kind "hold_capture" moves between customer accounts only)
    target = make_account()
    clearing_before = amounts(target)[0]
    h = hold(funded, D("30.00"))
    transfer = ledger.hold_capture(client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=target.pk)
    fresh = Hold.objects.get(pk=h.pk)
    assert (fresh.state, fresh.captured_amount, fresh.capture_transfer_id) == ("captured", D("30.00"), transfer.pk)
    assert transfer.amount == D("30.00") and transfer.kind == "hold_capture"
    assert transfer.metadata == {"hold": h.pk, "held": "30.00"}
    assert amounts(funded) == (D("70.00"), D("0.00"), D("70.00"))
    assert amounts(target)[0] == clearing_before + D("30.00")


def test_hold_capture_partial_releases_the_remainder(funded, make_account):
    merchant = make_account(role=Role.MERCHANT, tier="corporate")
    hold(funded, D("10.00"), key="other")
    h = hold(funded, D("50.00"))
    assert amounts(funded) == (D("100.00"), D("60.00"), D("40.00"))
    transfer = ledger.hold_capture(
        client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=merchant.pk, amount=D("20.00"), kind="bid"
    )
    assert transfer.amount == D("20.00") and transfer.kind == "bid"
    fresh = Hold.objects.get(pk=h.pk)
    assert (fresh.state, fresh.amount, fresh.captured_amount) == ("captured", D("50.00"), D("20.00"))
    assert amounts(funded) == (D("80.00"), D("10.00"), D("70.00"))
    assert amounts(merchant) == (D("20.00"), D("0.00"), D("20.00"))


def test_hold_capture_more_than_held_refused(funded, clearing):
    h = hold(funded, D("30.00"))
    with pytest.raises(CaptureAmountError) as excinfo:
        ledger.hold_capture(
            client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal", amount=D("30.01")
        )
    assert excinfo.value.data == {"held": "30.00"}
    assert state_of(h) == "active"
    assert amounts(funded) == (D("100.00"), D("30.00"), D("70.00"))


def test_hold_capture_zero_or_float_refused(funded, clearing):
    h = hold(funded, D("30.00"))
    for bad in (D("0"), 1.0, "0.005"):
        with pytest.raises(InvalidAmountError):
            ledger.hold_capture(
                client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal", amount=bad
            )
    assert amounts(funded) == (D("100.00"), D("30.00"), D("70.00"))


def test_hold_capture_on_released_hold_raises_invalid_state(funded, clearing):
    h = hold(funded, D("30.00"))
    ledger.hold_release(client="tests", idempotency_key="r-1", hold_id=h.pk)
    with pytest.raises(InvalidStateError) as excinfo:
        ledger.hold_capture(client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal")
    assert excinfo.value.data == {"state": "released"}
    assert amounts(funded) == (D("100.00"), D("0.00"), D("100.00"))
    assert not Transfer.objects.filter(idempotency_key="c-1").exists()


def test_hold_capture_twice_with_new_key_raises_invalid_state(funded, clearing):
    h = hold(funded, D("30.00"))
    ledger.hold_capture(client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal")
    with pytest.raises(InvalidStateError):
        ledger.hold_capture(client="tests", idempotency_key="c-2", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal")
    with pytest.raises(InvalidStateError):
        ledger.hold_release(client="tests", idempotency_key="r-1", hold_id=h.pk)
    assert amounts(funded) == (D("70.00"), D("0.00"), D("70.00"))


def test_hold_capture_replay_returns_the_same_voucher(funded, clearing):
    h = hold(funded, D("30.00"))
    first = ledger.hold_capture(
        client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal", amount="12.00"
    )
    entries = Entry.objects.count()
    again = ledger.hold_capture(
        client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal", amount="12.00"
    )
    assert again.pk == first.pk
    assert Entry.objects.count() == entries
    assert amounts(funded) == (D("88.00"), D("0.00"), D("88.00"))
    with pytest.raises(IdempotencyConflictError):
        ledger.hold_capture(
            client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal", amount="13.00"
        )


def test_hold_capture_to_own_account_refused(funded):
    h = hold(funded, D("30.00"))
    with pytest.raises(SameAccountError):
        ledger.hold_capture(client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=funded.pk)
    assert state_of(h) == "active"
    assert amounts(funded) == (D("100.00"), D("30.00"), D("70.00"))


def test_hold_capture_still_pays_after_the_account_is_frozen(funded, clearing):
    h = hold(funded, D("30.00"))
    account_change_state(account_id=funded.pk, action="freeze")
    ledger.hold_capture(client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal")
    assert amounts(funded) == (D("70.00"), D("0.00"), D("70.00"))


def test_hold_capture_refused_into_a_closed_account(funded, make_account):
    closed = make_account()
    account_change_state(account_id=closed.pk, action="close")
    h = hold(funded, D("30.00"))
    with pytest.raises(AccountNotActiveError):
        ledger.hold_capture(client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=closed.pk)
    assert state_of(h) == "active"
    assert amounts(funded) == (D("100.00"), D("30.00"), D("70.00"))


def test_hold_capture_into_an_internal_account(funded):
    # (not the transit account: ledger_check holds it equal to the withdrawals in flight)
    suspense = internal_account(Role.SUSPENSE)
    before = amounts(suspense)[0]
    h = hold(funded, D("25.00"))
    ledger.hold_capture(client="tests", idempotency_key="c-1", hold_id=h.pk, to_account_id=suspense.pk, kind="test")
    assert amounts(suspense)[0] == before + D("25.00")
    assert amounts(funded) == (D("75.00"), D("0.00"), D("75.00"))


def test_hold_capture_split_over_several_accounts_is_one_voucher(funded):
    clearing, fees = internal_account(Role.CLEARING), internal_account(Role.FEE_INCOME)
    h = hold(funded, D("31.00"))
    transfer = ledger.hold_capture(
        client="tests",
        idempotency_key="c-2",
        hold_id=h.pk,
        splits=[(clearing.pk, D("30.00")), (fees.pk, D("1.00"))],
        kind="withdrawal",
    )
    assert transfer.amount == D("31.00") and transfer.entries.count() == 3
    assert amounts(funded) == (D("69.00"), D("0.00"), D("69.00"))
    assert amounts(fees)[0] == D("1.00")
    # the same key again is the same voucher; with other splits it is a conflict
    again = ledger.hold_capture(
        client="tests",
        idempotency_key="c-2",
        hold_id=h.pk,
        splits=[(clearing.pk, D("30.00")), (fees.pk, D("1.00"))],
        kind="withdrawal",
    )
    assert again.pk == transfer.pk
    with pytest.raises(IdempotencyConflictError):
        ledger.hold_capture(client="tests", idempotency_key="c-2", hold_id=h.pk, splits=[(clearing.pk, D("31.00"))])


# -- hold_expire ------------------------------------------------------------------------


def test_hold_expire_due_hold_is_unfrozen(funded):
    now = timezone.now()
    h = hold(funded, D("30.00"), expires_at=now - dt.timedelta(seconds=1))
    expired = ledger.hold_expire(hold_id=h.pk)
    assert expired.state == "expired" and state_of(h) == "expired"
    assert amounts(funded) == (D("100.00"), D("0.00"), D("100.00"))
    # expiring again is a no-op
    assert ledger.hold_expire(hold_id=h.pk).state == "expired"
    assert amounts(funded) == (D("100.00"), D("0.00"), D("100.00"))


def test_hold_expire_not_due_is_a_no_op(funded):
    now = timezone.now()
    h = hold(funded, D("30.00"), expires_at=now + dt.timedelta(hours=1))
    assert ledger.hold_expire(hold_id=h.pk, now=now).state == "active"
    assert amounts(funded) == (D("100.00"), D("30.00"), D("70.00"))
    # ...until its time comes
    assert ledger.hold_expire(hold_id=h.pk, now=now + dt.timedelta(hours=1)).state == "expired"
    assert amounts(funded) == (D("100.00"), D("0.00"), D("100.00"))


def test_hold_expire_without_expiry_is_a_no_op(funded):
    h = hold(funded, D("30.00"))
    assert ledger.hold_expire(hold_id=h.pk).state == "active"
    assert amounts(funded) == (D("100.00"), D("30.00"), D("70.00"))


def test_hold_expire_on_released_hold_is_a_no_op(funded):
    h = hold(funded, D("30.00"), expires_at=timezone.now() - dt.timedelta(days=1))
    ledger.hold_release(client="tests", idempotency_key="r", hold_id=h.pk)
    assert ledger.hold_expire(hold_id=h.pk).state == "released"
    assert amounts(funded) == (D("100.00"), D("0.00"), D("100.00"))


def test_hold_capture_with_a_key_that_released_another_hold_conflicts(funded, clearing):
    h1, h2 = hold(funded, D("10.00")), hold(funded, D("20.00"), key="h-2")
    ledger.hold_release(client="tests", idempotency_key="end-1", hold_id=h1.pk)
    with pytest.raises(IdempotencyConflictError):
        ledger.hold_capture(client="tests", idempotency_key="end-1", hold_id=h2.pk, to_account_id=clearing.pk, kind="withdrawal")
    assert state_of(h2) == "active"
    assert amounts(funded) == (D("100.00"), D("20.00"), D("80.00"))


def test_hold_release_with_a_key_that_captured_another_hold_conflicts(funded, clearing):
    h1, h2 = hold(funded, D("10.00")), hold(funded, D("20.00"), key="h-2")
    ledger.hold_capture(client="tests", idempotency_key="end-1", hold_id=h1.pk, to_account_id=clearing.pk, kind="withdrawal")
    with pytest.raises(IdempotencyConflictError):
        ledger.hold_release(client="tests", idempotency_key="end-1", hold_id=h2.pk)
    assert amounts(funded) == (D("90.00"), D("20.00"), D("70.00"))


def test_hold_capture_with_a_key_of_a_posted_voucher_conflicts(funded, clearing):
    h = hold(funded, D("10.00"))
    ledger.post_transfer(
        client="tests",
        idempotency_key="used",
        kind="test",
        legs=ledger.move(from_account_id=funded.pk, to_account_id=clearing.pk, amount=D("1.00")),
    )
    with pytest.raises(IdempotencyConflictError):
        ledger.hold_capture(client="tests", idempotency_key="used", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal")
    assert amounts(funded) == (D("99.00"), D("10.00"), D("89.00"))
