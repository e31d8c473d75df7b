"""R-ACC-16: postings carry a counter or non-counter channel; a non-counter-suspended account
refuses non-counter debits and allows counter ones. Credits do not depend on the channel, and a
judicial freeze blocks a counter debit too.

Each posting test runs through both paths of ``post_transfer``: the Python path
(``LEDGER_PG_FUNCTION = False``) and, on PostgreSQL, the server-side function (on SQLite both
parameters take the Python path).
"""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.ledger import postings as ledger
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import AccountNotActiveError, IdempotencyConflictError
from accounts.ledger.models import Account, Hold, Transfer
from accounts.states.services import account_change_state
from accounts.tests.states_helpers import make_user, place

D = Decimal

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["python", "function"])
def path(request, settings):
    """The posting path: the Python path, or the PostgreSQL function (the Python path on SQLite)."""
    settings.LEDGER_PG_FUNCTION = request.param == "function"
    return request.param


def _expects_function(path: str) -> bool:
    return path == "function" and connection.vendor == "postgresql"


def _used_function(queries) -> bool:
    return any("ledger_post_transfer" in q["sql"] for q in queries)


@pytest.fixture
def suspended(make_account, fund):
    """A funded account in non_counter_suspended (R-ACC-16)."""
    account = fund(make_account(), "100.00")
    account_change_state(account_id=account.pk, action="suspend_non_counter", reason="no transaction in 6 months")
    account.refresh_from_db()
    assert account.state == Account.State.NON_COUNTER_SUSPENDED
    return account


def pay(src, dst, amount, *, channel=None, key=None, memo=""):
    kwargs = {} if channel is None else {"channel": channel}
    return ledger.post_transfer(
        client="t",
        idempotency_key=key or str(uuid4()),
        kind="test",
        legs=ledger.move(from_account_id=src.pk, to_account_id=dst.pk, amount=D(amount)),
        memo=memo,
        **kwargs,
    )


def balance(account) -> Decimal:
    return Account.objects.get(pk=account.pk).balance


# -- post_transfer, both paths ---------------------------------------------------------------


def test_r_acc_16_non_counter_suspended_refuses_non_counter_debit(path, suspended, make_account):
    other = make_account()
    for channel in (None, ledger.NON_COUNTER):  # the default is non-counter
        with CaptureQueriesContext(connection) as ctx, pytest.raises(AccountNotActiveError) as refused:
            pay(suspended, other, "10.00", channel=channel)
        assert refused.value.data == {"account": suspended.number, "state": "non_counter_suspended", "direction": "outflow"}
        assert _used_function(ctx.captured_queries) == _expects_function(path)
    assert balance(suspended) == D("100.00") and balance(other) == D("0.00")
    assert not Transfer.objects.filter(client="t").exists()


def test_r_acc_16_non_counter_suspended_allows_counter_debit(path, suspended, make_account):
    other = make_account()
    with CaptureQueriesContext(connection) as ctx:
        transfer = pay(suspended, other, "10.00", channel=ledger.COUNTER)
    assert _used_function(ctx.captured_queries) == _expects_function(path)
    assert (balance(suspended), balance(other)) == (D("90.00"), D("10.00"))
    assert transfer.channel == Transfer.Channel.COUNTER
    assert Transfer.objects.get(pk=transfer.pk).channel == "counter"
    assert Account.objects.get(pk=suspended.pk).state == Account.State.NON_COUNTER_SUSPENDED  # a debit restores nothing
    assert ledger_drift() == []


def test_r_acc_16_non_counter_suspended_accepts_credits_through_either_channel(path, suspended, make_account, fund):
    payer = fund(make_account(), "50.00")
    pay(payer, suspended, "1.00")
    pay(payer, suspended, "2.00", channel=ledger.COUNTER)
    assert balance(suspended) == D("103.00")
    assert list(Transfer.objects.filter(client="t").order_by("pk").values_list("channel", flat=True)) == [
        "non_counter",
        "counter",
    ]


def test_r_acc_16_judicial_freeze_blocks_a_counter_debit(path, make_account, fund):
    maker = make_user("acc16-maker", "request_judicial_freeze")
    checker = make_user("acc16-checker", "approve_judicial_freeze")
    blocked = fund(make_account(), "20.00")
    place(maker, checker, blocked, "debit_blocked")
    with pytest.raises(AccountNotActiveError) as refused:
        pay(blocked, make_account(), "1.00", channel=ledger.COUNTER)
    assert refused.value.data["state"] == "judicial_freeze"
    assert balance(blocked) == D("20.00")


@pytest.mark.parametrize("action", ["freeze", "mark_dormant", "close"])
def test_r_acc_16_counter_opens_only_non_counter_suspended(path, make_account, fund, action):
    account = fund(make_account(), "5.00") if action != "close" else make_account()
    account_change_state(account_id=account.pk, action=action, reason="test")
    with pytest.raises(AccountNotActiveError):
        pay(account, make_account(), "1.00", channel=ledger.COUNTER)


def test_r_acc_16_active_account_pays_through_either_channel(path, make_account, fund):
    active, other = fund(make_account(), "5.00"), make_account()
    pay(active, other, "1.00")
    pay(active, other, "1.00", channel=ledger.COUNTER)
    assert balance(other) == D("2.00")


def test_r_acc_16_replay_through_the_other_channel_is_a_conflict(path, make_account, fund):
    active, other = fund(make_account(), "5.00"), make_account()
    first = pay(active, other, "1.00", key="k", channel=ledger.COUNTER)
    assert pay(active, other, "1.00", key="k", channel=ledger.COUNTER).pk == first.pk
    with pytest.raises(IdempotencyConflictError):
        pay(active, other, "1.00", key="k")
    plain = pay(active, other, "1.00", key="k2")
    assert pay(active, other, "1.00", key="k2", channel=ledger.NON_COUNTER).pk == plain.pk
    with pytest.raises(IdempotencyConflictError):
        pay(active, other, "1.00", key="k2", channel=ledger.COUNTER)
    assert balance(other) == D("2.00")


def test_r_acc_16_non_counter_fingerprint_is_unchanged_by_channels(make_account, fund):
    # a voucher stored before 0015 (no channel in its fingerprint) still replays
    active, other = fund(make_account(), "5.00"), make_account()
    transfer = pay(active, other, "1.00", key="old")
    legs = ledger.move(from_account_id=active.pk, to_account_id=other.pk, amount=D("1.00"))
    before_channels = ledger._fingerprint(op="transfer", kind="test", legs=ledger._legs_fingerprint(legs), memo="")
    assert Transfer.objects.get(pk=transfer.pk).fingerprint == before_channels


def test_r_acc_16_unknown_channel_is_a_programming_error(make_account, fund):
    with pytest.raises(ValueError):
        pay(fund(make_account(), "1.00"), make_account(), "1.00", channel="atm")


# -- holds and reversals ------------------------------------------------------------------------


def test_r_acc_16_hold_place_refuses_non_counter_allows_counter(suspended):
    with pytest.raises(AccountNotActiveError):
        ledger.hold_place(client="t", idempotency_key="h1", account_id=suspended.pk, amount="5.00", reason="other")
    hold = ledger.hold_place(
        client="t", idempotency_key="h2", account_id=suspended.pk, amount="5.00", reason="other", channel=ledger.COUNTER
    )
    assert hold.state == Hold.State.ACTIVE and Account.objects.get(pk=suspended.pk).frozen == D("5.00")
    with pytest.raises(IdempotencyConflictError):
        ledger.hold_place(client="t", idempotency_key="h2", account_id=suspended.pk, amount="5.00", reason="other")


def test_r_acc_16_hold_capture_records_the_channel(suspended, make_account):
    other = make_account()
    hold = ledger.hold_place(
        client="t", idempotency_key="h", account_id=suspended.pk, amount="5.00", reason="other", channel=ledger.COUNTER
    )
    transfer = ledger.hold_capture(
        client="t", idempotency_key="c", hold_id=hold.pk, to_account_id=other.pk, kind="test", channel=ledger.COUNTER
    )
    assert Transfer.objects.get(pk=transfer.pk).channel == "counter"
    assert (balance(suspended), balance(other)) == (D("95.00"), D("5.00"))
    assert ledger_drift() == []


def test_r_acc_16_judicial_freeze_blocks_a_counter_hold(make_account, fund):
    maker = make_user("acc16-hold-maker", "request_judicial_freeze")
    checker = make_user("acc16-hold-checker", "approve_judicial_freeze")
    blocked = fund(make_account(), "20.00")
    place(maker, checker, blocked, "debit_blocked")
    with pytest.raises(AccountNotActiveError) as refused:
        ledger.hold_place(
            client="t", idempotency_key="h", account_id=blocked.pk, amount="1.00", reason="other", channel=ledger.COUNTER
        )
    assert refused.value.data["state"] == "judicial_freeze"


def test_r_acc_16_reversal_debiting_a_suspended_account_needs_the_counter(make_account, fund):
    payer = fund(make_account(), "10.00")
    payee = make_account()
    original = pay(payer, payee, "4.00")
    account_change_state(account_id=payee.pk, action="suspend_non_counter", reason="test")
    with pytest.raises(AccountNotActiveError):
        ledger.reverse_transfer(client="t", idempotency_key="r", transfer_id=original.pk)
    reversal = ledger.reverse_transfer(client="t", idempotency_key="r", transfer_id=original.pk, channel=ledger.COUNTER)
    assert reversal.channel == "counter" and (balance(payer), balance(payee)) == (D("10.00"), D("0.00"))
