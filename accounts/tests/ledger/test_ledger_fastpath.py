"""The PostgreSQL posting function (accounts/migrations/0008) against the Python path of the ledger.

``post_transfer`` without guards posts through ``ledger_post_transfer()`` on PostgreSQL; with
``settings.LEDGER_PG_FUNCTION = False`` (and always on SQLite, with guards, for holds and
reversals) it posts through the Python path. The same scenario, run once through each path on
accounts built the same way, must give the same vouchers, entries, balances and refusals (type,
code, message and data).
"""

from __future__ import annotations

import re
from decimal import Decimal
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import IdempotencyConflictError, InsufficientFundsError
from accounts.ledger.models import Account, Entry, Transfer
from accounts.ledger.selectors import internal_account
from accounts.states.services import account_change_state
from accounts.tests.states_helpers import make_user, place
from conftest import needs_postgres

D = Decimal
MISSING = 987_654_321


def _used_function(queries) -> bool:
    return any("ledger_post_transfer" in q["sql"] for q in queries)


# -- on every database -----------------------------------------------------------------------


@pytest.mark.django_db
def test_fastpath_not_used_on_sqlite_or_when_switched_off(make_account, fund, settings):
    # given
    alice, bob = fund(make_account(), "10.00"), make_account()
    settings.LEDGER_PG_FUNCTION = False
    # when
    with CaptureQueriesContext(connection) as ctx:
        ledger.post_transfer(
            client="t",
            idempotency_key="k",
            kind="test",
            legs=ledger.move(from_account_id=alice.pk, to_account_id=bob.pk, amount=1),
        )
    # then
    assert not _used_function(ctx.captured_queries)
    assert Account.objects.get(pk=bob.pk).balance == D("1.00")


# -- PostgreSQL: the function exists and matches the Python path ---------------------------------


@needs_postgres
@pytest.mark.django_db
def test_fastpath_function_exists_after_migrate():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pronargs FROM pg_proc WHERE proname = 'ledger_post_transfer'")
        rows = cursor.fetchall()
    # one function only: 0014 replaced 0008's 15 arguments with 17 (the kind's posting rule), 0015
    # with 18 (the voucher's channel, R-ACC-16)
    assert rows == [(18,)]


@needs_postgres
@pytest.mark.django_db
def test_fastpath_used_without_guards_and_not_with_guards(make_account, fund):
    # given
    alice, bob = fund(make_account(), "10.00"), make_account()
    legs = ledger.move(from_account_id=alice.pk, to_account_id=bob.pk, amount=D("1.00"))
    seen = []
    # when
    with CaptureQueriesContext(connection) as plain:
        ledger.post_transfer(client="t", idempotency_key="plain", kind="test", legs=legs)
    with CaptureQueriesContext(connection) as guarded:
        ledger.post_transfer(
            client="t",
            idempotency_key="guarded",
            kind="test",
            legs=legs,
            guards=[lambda *, accounts, legs, now: seen.append(accounts[alice.pk].balance)],
        )
    # then: the guard saw the Python path's applied, unsaved balance
    assert _used_function(plain.captured_queries) and not _used_function(guarded.captured_queries)
    assert seen == [D("8.00")]
    assert Account.objects.get(pk=bob.pk).balance == D("2.00")


class _Scenario:
    """Accounts in every state the checks distinguish, and the vouchers to post on them."""

    def __init__(self, make_account, fund, maker, checker):
        self.rich = fund(make_account(), "100.00")
        self.poor = fund(make_account(), "5.00")
        self.held = fund(make_account(), "50.00")
        ledger.hold_place(client="t", idempotency_key=str(uuid4()), account_id=self.held.pk, amount="20.00", reason="bid")
        self.zero = make_account()
        self.zero2 = make_account()
        self.frozen = fund(make_account(), "10.00")
        account_change_state(account_id=self.frozen.pk, action="freeze")
        self.closed = make_account()
        account_change_state(account_id=self.closed.pk, action="close")
        self.debit_blocked = fund(make_account(), "10.00")
        place(maker, checker, self.debit_blocked, "debit_blocked")
        self.credit_blocked = fund(make_account(), "10.00")
        place(maker, checker, self.credit_blocked, "credit_blocked")
        self.suspended = fund(make_account(), "10.00")
        account_change_state(account_id=self.suspended.pk, action="suspend_non_counter")
        self.clearing = internal_account(Role.CLEARING)
        self.suspense = internal_account(Role.SUSPENSE)  # internal, may not be overdrawn
        self.own = ["rich", "poor", "held", "zero", "zero2", "frozen", "closed", "debit_blocked", "credit_blocked", "suspended"]
        self.shared = {self.clearing.pk: "clearing", self.suspense.pk: "suspense"}
        # account numbers and missing ids, as they appear in messages and data
        self.texts = {getattr(self, name).number: name for name in self.own}
        self.texts.update({str(MISSING): "missing", str(MISSING + 1): "missing2"})
        self.labels = {getattr(self, name).pk: name for name in self.own} | self.shared  # ids, in entries
        self.client = f"fastpath-{uuid4()}"  # the same keys in both scenarios, one client each

    def ops(self):
        """(name, key, legs, memo) of the vouchers, in order; keys repeat for replays."""
        r, p, h, z, z2 = self.rich.pk, self.poor.pk, self.held.pk, self.zero.pk, self.zero2.pk
        fz, cl, db, cb = self.frozen.pk, self.closed.pk, self.debit_blocked.pk, self.credit_blocked.pk
        clearing, suspense, s = self.clearing.pk, self.suspense.pk, self.suspended.pk

        def mv(a, b, amount):
            return ledger.move(from_account_id=a, to_account_id=b, amount=D(amount))

        return [
            ("pay", "k1", mv(r, z, "30.25"), "rent"),
            ("n legs", "k2", [ledger.Leg(r, DEBIT, D("10")), ledger.Leg(z, CREDIT, D("4")), ledger.Leg(p, CREDIT, D("6"))], ""),
            (
                "same account twice",
                "k3",
                [ledger.Leg(r, DEBIT, D("1")), ledger.Leg(r, DEBIT, D("2")), ledger.Leg(z, CREDIT, D("3"))],
                "",
            ),
            ("short", "k4", mv(p, z, "11.01"), ""),
            ("short with a hold", "k5", mv(h, z, "30.01"), ""),
            ("all available of a held account", "k6", mv(h, z, "30.00"), ""),
            ("short on an empty account", "k7", mv(z2, r, "0.01"), ""),
            (
                "two short: the lower id answers",
                "k8",
                [ledger.Leg(z2, DEBIT, D("5")), ledger.Leg(p, DEBIT, D("50")), ledger.Leg(r, CREDIT, D("55"))],
                "",
            ),
            ("outflow from frozen", "k9", mv(fz, r, "1.00"), ""),
            ("inflow to frozen", "k10", mv(r, fz, "1.00"), ""),
            ("inflow to closed", "k11", mv(r, cl, "1.00"), ""),
            ("state before funds", "k12", [ledger.Leg(z2, DEBIT, D("5")), ledger.Leg(cl, CREDIT, D("5"))], ""),
            ("first bad leg answers", "k13", [ledger.Leg(fz, DEBIT, D("1")), ledger.Leg(cl, CREDIT, D("1"))], ""),
            ("outflow judicially debit-blocked", "k14", mv(db, r, "1.00"), ""),
            ("inflow to a debit-blocked account", "k15", mv(r, db, "1.00"), ""),
            ("inflow judicially credit-blocked", "k16", mv(r, cb, "1.00"), ""),
            ("outflow from a credit-blocked account", "k17", mv(cb, r, "1.00"), ""),
            ("missing account", "k18", mv(r, MISSING, "1.00"), ""),
            ("missing accounts", "k19", mv(MISSING + 1, MISSING, "1.00"), ""),
            ("clearing may overdraw", "k20", mv(clearing, r, "1000000.00"), ""),
            ("suspense may not", "k21", mv(suspense, r, "1.00"), ""),
            ("outflow from non-counter-suspended, non-counter", "k23", mv(s, r, "1.00"), ""),
            ("outflow from non-counter-suspended, counter", "k24", mv(s, r, "1.00"), ""),
            ("counter outflow judicially debit-blocked", "k25", mv(db, r, "1.00"), ""),
            ("counter inflow to non-counter-suspended", "k26", mv(r, s, "2.00"), ""),
            ("conflict: other channel", "k24", mv(s, r, "1.00"), ""),
            ("replay", "k1", mv(r, z, "30.25"), "rent"),
            ("conflict: other amount", "k1", mv(r, z, "30.26"), "rent"),
            (
                "conflict: other memo",
                "k2",
                [ledger.Leg(r, DEBIT, D("10")), ledger.Leg(z, CREDIT, D("4")), ledger.Leg(p, CREDIT, D("6"))],
                "x",
            ),
            ("refused key is free again", "k4", mv(p, z, "1.00"), ""),
            ("metadata", "k22", mv(r, z, "0.01"), ""),
        ]

    #: The vouchers posted at the counter (R-ACC-16); the others are non-counter.
    COUNTER = frozenset(
        {
            "outflow from non-counter-suspended, counter",
            "counter outflow judicially debit-blocked",
            "counter inflow to non-counter-suspended",
        }
    )

    def label(self, text: str) -> str:
        return re.sub(r"\d{9,}", lambda m: f"<{self.texts[m[0]]}>" if m[0] in self.texts else m[0], text)

    def run(self):
        """Post every voucher; the outcomes with this scenario's numbers and ids replaced by names."""
        with translation.override("en"):
            return self._run()

    def _run(self):
        outcomes, first_ids = [], {}
        for name, key, legs, memo in self.ops():
            metadata = {"batch": 7, "note": "中文"} if name == "metadata" else None
            with CaptureQueriesContext(connection) as ctx:
                try:
                    transfer = ledger.post_transfer(
                        client=self.client,
                        idempotency_key=key,
                        kind="test",
                        legs=legs,
                        memo=memo,
                        metadata=metadata,
                        channel=ledger.COUNTER if name in self.COUNTER else ledger.NON_COUNTER,
                    )
                except Exception as exc:  # noqa: BLE001 - the outcome is compared
                    outcome = ("refused", type(exc).__name__, exc.code, self.label(exc.text), self._data(exc.data))
                else:
                    outcome = ("posted", *self._voucher(transfer, first_ids.get(key)))
                    first_ids.setdefault(key, transfer.pk)
            outcomes.append((name, outcome, self._balances(), _used_function(ctx.captured_queries)))
        return outcomes

    def _data(self, data):
        return {k: self.label(v) if isinstance(v, str) else v for k, v in data.items()}

    def _voucher(self, transfer, first_id):
        stored = Transfer.objects.get(pk=transfer.pk)
        for field in ("kind", "client", "idempotency_key", "fingerprint", "amount", "memo", "metadata", "channel", "created_at"):
            assert getattr(transfer, field) == getattr(stored, field), field
        assert transfer._state.adding is False and stored.reversal_of_id is None
        entries = [
            (self.labels[e.account_id], e.side, e.amount, None if e.account_id in self.shared else e.balance_after, e.subject)
            for e in Entry.objects.filter(transfer=stored).order_by("pk")
        ]
        assert all(e.created_at == stored.created_at for e in Entry.objects.filter(transfer=stored))
        return (
            "new" if first_id is None else ("replay" if transfer.pk == first_id else "BUG: a second voucher for one key"),
            stored.kind,
            stored.amount,
            stored.memo,
            stored.metadata,
            entries,
            stored.channel,
        )

    def _balances(self):
        accounts = {a.pk: a for a in Account.objects.filter(pk__in=[getattr(self, n).pk for n in self.own])}
        return {n: (accounts[getattr(self, n).pk].balance, accounts[getattr(self, n).pk].frozen) for n in self.own}


@needs_postgres
@pytest.mark.django_db
def test_fastpath_gives_the_python_paths_results_and_refusals(make_account, fund, settings):
    # given one scenario per path, built the same way
    maker = make_user("fastpath-maker", "request_judicial_freeze")
    checker = make_user("fastpath-checker", "approve_judicial_freeze")
    settings.LEDGER_PG_FUNCTION = False
    python = _Scenario(make_account, fund, maker, checker)
    settings.LEDGER_PG_FUNCTION = True
    function = _Scenario(make_account, fund, maker, checker)
    # when
    settings.LEDGER_PG_FUNCTION = False
    by_python = python.run()
    settings.LEDGER_PG_FUNCTION = True
    by_function = function.run()
    # then: the same outcomes, each path the one asked for
    assert [o[3] for o in by_python] == [False] * len(by_python)
    assert [o[3] for o in by_function] == [True] * len(by_function)
    assert [o[:3] for o in by_function] == [o[:3] for o in by_python]
    outcomes = {name: outcome for name, outcome, _balances, _used in by_function}
    assert outcomes["short"] == (
        "refused",
        "InsufficientFundsError",
        "insufficient_funds",
        "Account <poor> has 11.00 available, short by 0.01.",
        {"account": "<poor>", "available": "11.00", "shortfall": "0.01"},
    )
    assert outcomes["short with a hold"][4] == {"account": "<held>", "available": "30.00", "shortfall": "0.01"}
    assert outcomes["short on an empty account"][4] == {"account": "<zero2>", "available": "0.00", "shortfall": "0.01"}
    assert outcomes["two short: the lower id answers"][4]["account"] == "<poor>"  # opened before zero2
    assert outcomes["outflow from frozen"][4] == {"account": "<frozen>", "state": "frozen", "direction": "outflow"}
    assert outcomes["inflow to frozen"][0] == "posted"
    assert outcomes["inflow to closed"][4] == {"account": "<closed>", "state": "closed", "direction": "inflow"}
    assert outcomes["state before funds"][1] == "AccountNotActiveError"
    assert outcomes["first bad leg answers"][4]["account"] == "<frozen>"
    assert outcomes["outflow judicially debit-blocked"][4] == {
        "account": "<debit_blocked>",
        "state": "judicial_freeze",
        "direction": "outflow",
    }
    assert outcomes["inflow judicially credit-blocked"][4]["state"] == "judicial_freeze"
    assert outcomes["inflow to a debit-blocked account"][0] == outcomes["outflow from a credit-blocked account"][0] == "posted"
    assert outcomes["missing account"][1:4] == ("NotFoundError", "not_found", "No account with id <missing>.")
    assert outcomes["missing accounts"][3] == "No account with id <missing>, <missing2>."
    assert outcomes["suspense may not"][4]["account"] == function.suspense.number  # internal, not this scenario's
    assert outcomes["replay"][1] == "replay"
    assert outcomes["conflict: other amount"][1] == outcomes["conflict: other memo"][1] == "IdempotencyConflictError"
    assert outcomes["same account twice"][6][:2] == [
        ("rich", DEBIT, D("1.00"), D("58.75"), "201101"),
        ("rich", DEBIT, D("2.00"), D("56.75"), "201101"),
    ]
    assert outcomes["metadata"][5] == {"batch": 7, "note": "中文"}
    # R-ACC-16: the counter opens a non-counter-suspended account's outflows, not a judicial block's
    assert outcomes["outflow from non-counter-suspended, non-counter"][4] == {
        "account": "<suspended>",
        "state": "non_counter_suspended",
        "direction": "outflow",
    }
    assert outcomes["outflow from non-counter-suspended, counter"][0] == "posted"
    assert outcomes["outflow from non-counter-suspended, counter"][7] == "counter"
    assert outcomes["counter outflow judicially debit-blocked"][4]["state"] == "judicial_freeze"
    assert outcomes["counter inflow to non-counter-suspended"][7] == "counter"
    assert outcomes["conflict: other channel"][1] == "IdempotencyConflictError"
    assert outcomes["pay"][7] == "non_counter"
    assert ledger_drift() == []


@needs_postgres
@pytest.mark.django_db
def test_fastpath_refusal_inside_a_callers_transaction_leaves_it_usable(make_account, fund):
    # given a caller's transaction (the test's), and a refused posting inside it
    alice, bob = fund(make_account(), "1.00"), make_account()
    with pytest.raises(InsufficientFundsError):
        ledger.post_transfer(
            client="t",
            idempotency_key="x",
            kind="test",
            legs=ledger.move(from_account_id=alice.pk, to_account_id=bob.pk, amount=2),
        )
    # when the caller goes on
    ledger.post_transfer(
        client="t", idempotency_key="x", kind="test", legs=ledger.move(from_account_id=alice.pk, to_account_id=bob.pk, amount=1)
    )
    # then the refused attempt left nothing behind, not even its voucher
    assert Transfer.objects.filter(client="t", idempotency_key="x").count() == 1
    assert Account.objects.get(pk=bob.pk).balance == D("1.00")
    assert ledger_drift() == []


# -- PostgreSQL, committed: the autocommit path is one round trip ------------------------------


@pytest.fixture(scope="module")
def _start_from_an_empty_database(django_db_setup, django_db_blocker):
    """As in test_ledger_concurrency: empty the database once so that serialized_rollback reloads."""
    if connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, reset_sequences=False, verbosity=0)
    yield


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_fastpath_autocommit_posts_in_one_round_trip(_start_from_an_empty_database, make_account, fund):
    # given committed accounts and no transaction open
    alice, bob = fund(make_account(), "10.00"), make_account()
    assert not connection.in_atomic_block
    legs = ledger.move(from_account_id=alice.pk, to_account_id=bob.pk, amount=D("4.00"))
    # when: a posting, its replay, a conflict and a refusal
    with CaptureQueriesContext(connection) as posted:
        first = ledger.post_transfer(client="t", idempotency_key="once", kind="test", legs=legs)
    replayed = ledger.post_transfer(client="t", idempotency_key="once", kind="test", legs=legs)
    with pytest.raises(IdempotencyConflictError):
        ledger.post_transfer(client="t", idempotency_key="once", kind="other", legs=legs)
    with CaptureQueriesContext(connection) as refused, pytest.raises(InsufficientFundsError) as short:
        ledger.post_transfer(
            client="t",
            idempotency_key="big",
            kind="test",
            legs=ledger.move(from_account_id=alice.pk, to_account_id=bob.pk, amount=7),
        )
    # then
    assert [q["sql"].split("(")[0] for q in posted.captured_queries] == ["SELECT ledger_post_transfer"]
    assert len(refused.captured_queries) == 1
    assert replayed.pk == first.pk and Transfer.objects.filter(client="t").count() == 1
    assert short.value.data == {"account": alice.number, "available": "6.00", "shortfall": "1.00"}
    assert (Account.objects.get(pk=alice.pk).balance, Account.objects.get(pk=bob.pk).balance) == (D("6.00"), D("4.00"))
    assert ledger_drift() == []
