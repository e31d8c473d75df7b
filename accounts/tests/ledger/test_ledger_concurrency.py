"""The ledger under real concurrency: threads on PostgreSQL row locks (skipped on SQLite).

Each thread opens its own connection and closes it when done; the data is committed
(``transaction=True``), and ``serialized_rollback`` gives the next test back the chart and the
internal accounts that the data migration created.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, connections

from accounts.ledger import postings as ledger
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import InsufficientFundsError, InvalidStateError
from accounts.ledger.models import Account, Hold, Transfer
from conftest import needs_postgres

D = Decimal

pytestmark = [needs_postgres, pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(scope="module", autouse=True)
def _start_from_an_empty_database(django_db_setup, django_db_blocker):
    """Empty the test database once before this module's first test.

    ``serialized_rollback`` reloads the migrated data (chart, internal accounts, groups) into an
    empty database. A transactional test elsewhere that flushed *without* it leaves behind the
    content types and permissions that post_migrate recreated, under new ids, and reloading would
    collide with them. Flushing here (without post_migrate, keeping the id sequences past the
    reloaded rows' ids) makes this module independent of what ran before it.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, reset_sequences=False, verbosity=0)
    yield


@pytest.fixture(autouse=True)
def _ledger_stays_clean():
    yield
    assert ledger_drift() == []


@pytest.fixture
def no_retries(settings):
    """A deadlock must surface, not be hidden by the ledger's bounded retry."""
    settings.LEDGER_MAX_RETRIES = 1


def run_concurrently(func, arguments, *, workers: int | None = None) -> list:
    """Call ``func(arg)`` for each argument in its own thread, all released together.

    Returns each call's result or the exception it raised; every thread closes its connection.
    """
    barrier = threading.Barrier(len(arguments))

    def call(argument):
        try:
            barrier.wait(timeout=10)
            return func(argument)
        except Exception as exc:  # noqa: BLE001 - the caller inspects every outcome
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers or len(arguments)) as pool:
        return list(pool.map(call, arguments))


def outcome(result) -> str:
    return result.__class__.__name__ if isinstance(result, Exception) else "ok"


def amounts(account) -> tuple[Decimal, Decimal, Decimal]:
    fresh = Account.objects.get(pk=account.pk)
    return fresh.balance, fresh.frozen, fresh.available


def move(src, dst, amount, key=None):
    return ledger.post_transfer(
        client="concurrency",
        idempotency_key=key or str(uuid4()),
        kind="test",
        legs=ledger.move(from_account_id=src.pk, to_account_id=dst.pk, amount=amount),
    )


def test_post_transfer_parallel_debits_never_overdraw(make_account, fund, clearing, no_retries):
    # given 100.00 and ten debits of 30.00 at once
    account = fund(make_account(), "100.00")
    # when
    results = run_concurrently(lambda _: move(account, clearing, D("30.00")), range(10))
    # then exactly three fit
    counts = Counter(outcome(r) for r in results)
    assert counts == {"ok": 3, "InsufficientFundsError": 7}, results
    assert amounts(account) == (D("10.00"), D("0.00"), D("10.00"))


def test_post_transfer_opposite_directions_never_deadlock(make_account, fund, no_retries):
    # given two accounts, and threads moving money both ways between them at once
    alice, bob = fund(make_account(), "500.00"), fund(make_account(), "500.00")

    def shuttle(index):
        for step in range(10):
            src, dst = (alice, bob) if (index + step) % 2 else (bob, alice)
            move(src, dst, D("1.00") + D(index) / 100)
        return "done"

    # when
    results = run_concurrently(shuttle, range(12))
    # then every transfer went through: no deadlock, no OperationalError
    assert not [r for r in results if isinstance(r, OperationalError)], results
    assert results == ["done"] * 12, results
    assert Transfer.objects.filter(client="concurrency").count() == 120
    assert amounts(alice)[0] + amounts(bob)[0] == D("1000.00")
    # each thread sent as much one way as the other, so both end where they started
    assert amounts(alice) == (D("500.00"), D("0.00"), D("500.00"))
    assert amounts(bob) == (D("500.00"), D("0.00"), D("500.00"))


def test_post_transfer_three_way_cycle_never_deadlocks(make_account, fund, no_retries):
    a, b, c = (fund(make_account(), "100.00") for _ in range(3))
    ring = [(a, b), (b, c), (c, a)]

    def rotate(index):
        for step in range(8):
            src, dst = ring[(index + step) % 3]
            move(src, dst, D("2.00"))
        return "done"

    results = run_concurrently(rotate, range(9))
    assert results == ["done"] * 9, results
    assert sum(amounts(x)[0] for x in (a, b, c)) == D("300.00")


def test_post_transfer_same_key_from_many_threads_has_one_effect(make_account, fund):
    alice, bob = fund(make_account(), "100.00"), make_account()
    results = run_concurrently(lambda _: move(alice, bob, D("25.00"), key="once"), range(10))
    assert all(isinstance(r, Transfer) for r in results), results
    assert {r.pk for r in results} == {Transfer.objects.get(client="concurrency", idempotency_key="once").pk}
    assert amounts(alice) == (D("75.00"), D("0.00"), D("75.00"))
    assert amounts(bob) == (D("25.00"), D("0.00"), D("25.00"))


def test_hold_place_same_key_from_many_threads_has_one_effect(make_account, fund):
    # 80.00 of 100.00: a second placement would not fit, so a replay must not be judged as one
    account = fund(make_account(), "100.00")
    results = run_concurrently(
        lambda _: ledger.hold_place(client="c", idempotency_key="h", account_id=account.pk, amount=D("80.00"), reason="bid"),
        range(10),
    )
    assert all(isinstance(r, Hold) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Hold.objects.filter(account=account).count() == 1
    assert amounts(account) == (D("100.00"), D("80.00"), D("20.00"))


def test_hold_place_and_transfers_never_drive_available_below_zero(make_account, fund, clearing, no_retries):
    account = fund(make_account(), "100.00")

    def spend(index):
        if index % 2:
            return ledger.hold_place(
                client="c", idempotency_key=f"h-{index}", account_id=account.pk, amount=D("30.00"), reason="withdrawal"
            )
        return move(account, clearing, D("30.00"))

    results = run_concurrently(spend, range(10))
    counts = Counter(outcome(r) for r in results)
    assert counts["ok"] == 3 and counts["InsufficientFundsError"] == 7, results
    balance, frozen, available = amounts(account)
    assert available == D("10.00")
    held = sum(1 for r in results if isinstance(r, Hold))
    assert frozen == D("30.00") * held
    assert balance == D("100.00") - D("30.00") * (3 - held)


def test_hold_capture_and_release_race_exactly_one_wins(make_account, fund, clearing, no_retries):
    account = fund(make_account(), "100.00")
    hold = ledger.hold_place(client="c", idempotency_key="h", account_id=account.pk, amount=D("40.00"), reason="withdrawal")

    def end(index):
        if index % 2:
            return ledger.hold_release(client="c", idempotency_key=f"r-{index}", hold_id=hold.pk)
        return ledger.hold_capture(
            client="c", idempotency_key=f"c-{index}", hold_id=hold.pk, to_account_id=clearing.pk, kind="withdrawal"
        )

    results = run_concurrently(end, range(8))
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1, results
    assert all(isinstance(r, InvalidStateError) for r in results if isinstance(r, Exception)), results
    state = Hold.objects.get(pk=hold.pk).state
    if state == Hold.State.CAPTURED:
        assert amounts(account) == (D("60.00"), D("0.00"), D("60.00"))
    else:
        assert state == Hold.State.RELEASED
        assert amounts(account) == (D("100.00"), D("0.00"), D("100.00"))


def test_reverse_transfer_concurrently_reverses_once(make_account, fund, no_retries):
    alice, bob = fund(make_account(), "100.00"), make_account()
    original = move(alice, bob, D("40.00"))
    results = run_concurrently(
        lambda i: ledger.reverse_transfer(client="c", idempotency_key=f"rev-{i}", transfer_id=original.pk), range(6)
    )
    assert Counter(outcome(r) for r in results) == {"ok": 1, "InvalidStateError": 5}, results
    assert Transfer.objects.filter(reversal_of=original).count() == 1
    assert amounts(alice) == (D("100.00"), D("0.00"), D("100.00"))


def test_reverse_transfer_races_with_spending_the_money(make_account, fund, clearing, no_retries):
    alice, bob = fund(make_account(), "100.00"), make_account()
    original = move(alice, bob, D("40.00"))

    def act(index):
        if index == 0:
            return ledger.reverse_transfer(client="c", idempotency_key="rev", transfer_id=original.pk)
        return move(bob, clearing, D("15.00"))

    results = run_concurrently(act, range(4))
    balance, frozen, available = amounts(bob)
    assert available >= 0
    assert all(isinstance(r, Transfer | InsufficientFundsError) for r in results), results
    reversed_ok = isinstance(results[0], Transfer)
    spent = sum(1 for r in results[1:] if isinstance(r, Transfer))
    assert balance == D("40.00") - D("15.00") * spent - (D("40.00") if reversed_ok else 0)


def test_reverse_transfer_same_key_for_two_vouchers_at_once_conflicts(make_account, fund, no_retries):
    alice, bob = fund(make_account(), "100.00"), make_account()
    vouchers = [move(alice, bob, D("10.00")), move(alice, bob, D("20.00"))]
    results = run_concurrently(
        lambda v: ledger.reverse_transfer(client="c", idempotency_key="one-key", transfer_id=v.pk), vouchers
    )
    assert sorted(outcome(r) for r in results) == ["IdempotencyConflictError", "ok"], results
    assert Transfer.objects.filter(client="c", idempotency_key="one-key").count() == 1


def test_hold_capture_same_key_for_two_holds_at_once_conflicts(make_account, fund, clearing, no_retries):
    account = fund(make_account(), "100.00")
    holds = [
        ledger.hold_place(client="c", idempotency_key=f"h-{i}", account_id=account.pk, amount=D("10.00"), reason="bid")
        for i in range(2)
    ]
    results = run_concurrently(
        lambda h: ledger.hold_capture(
            client="c", idempotency_key="one-key", hold_id=h.pk, to_account_id=clearing.pk, kind="withdrawal"
        ),
        holds,
    )
    assert sorted(outcome(r) for r in results) == ["IdempotencyConflictError", "ok"], results
    states = sorted(Hold.objects.get(pk=h.pk).state for h in holds)
    assert states == ["active", "captured"]
    assert amounts(account) == (D("90.00"), D("10.00"), D("80.00"))
