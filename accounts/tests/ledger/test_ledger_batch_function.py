"""The PostgreSQL batch function (accounts/migrations/0021) against the Python path of ``post_transfers``.

``post_transfers`` posts a batch without guards through ONE call of ``ledger_post_transfers()`` on
PostgreSQL; with ``settings.LEDGER_PG_FUNCTION = False`` (and always on SQLite, or when an item has
guards) it posts each item through ``post_transfer`` under its own savepoint. The same batches, run once
through each path on accounts built the same way (``_Scenario`` of test_ledger_fastpath: every state
the checks distinguish), must give the same vouchers, entries, balances and refusals (type, code,
message and data), item by item.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from accounts.ledger import postings as ledger
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import InsufficientFundsError
from accounts.ledger.models import Account, Transfer
from accounts.tests.ledger.test_ledger_fastpath import MISSING, _Scenario
from accounts.tests.states_helpers import make_user

D = Decimal

only_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="ledger_post_transfers() is a PostgreSQL function: SQLite always takes the Python path (compared on PostgreSQL)",
)


def _used_batch_function(queries) -> bool:
    return any("ledger_post_transfers" in q["sql"] for q in queries)


def _mv(a, b, amount):
    return ledger.move(from_account_id=a, to_account_id=b, amount=D(amount))


def _batches(s: _Scenario):
    """(kind, channel, [(name, key, legs, memo)]) of the batches, in order."""
    ops = s.ops()
    r, p, z, clearing = s.rich.pk, s.poor.pk, s.zero.pk, s.clearing.pk
    transfer_batch = [
        ("rule: a transfer may not debit clearing", "t0", _mv(clearing, r, "1.00"), ""),
        ("posted", "t1", _mv(r, z, "1.00"), ""),
        ("replay inside the batch", "t1", _mv(r, z, "1.00"), ""),
        ("conflict inside the batch: other legs", "t1", _mv(r, p, "1.00"), ""),
        ("key of an earlier batch, other kind", "k1", _mv(r, z, "30.25"), "rent"),
        ("refused, key free", "t2", _mv(p, z, "1000.00"), ""),
        ("the refused key posted", "t2", _mv(p, z, "1.00"), ""),
        ("refused again on its replay's funds? no: a replay", "t2", _mv(p, z, "1.00"), ""),
        ("missing, key taken: missing answers", "t1", _mv(r, MISSING, "1.00"), ""),
        ("invalid amount", "t3", _mv(r, z, "0.001"), ""),
        ("same account", "t4", _mv(r, r, "1.00"), ""),
        ("short, key taken: the replay answers", "t1", _mv(r, z, "1.00"), ""),
        ("short, key taken by another request: conflict", "t1", _mv(z, r, "100000.00"), ""),
    ]
    return [
        ("test", ledger.NON_COUNTER, [op for op in ops if op[0] not in s.COUNTER]),
        ("test", ledger.COUNTER, [op for op in ops if op[0] in s.COUNTER]),
        ("transfer", ledger.NON_COUNTER, transfer_batch),
        ("test", ledger.NON_COUNTER, [op for op in ops if op[0] not in s.COUNTER]),  # again: replays
    ]


def _run(s: _Scenario):
    """Post every batch; per batch, the outcomes (names for this scenario's numbers and ids), the
    balances after it and whether the batch function was called."""
    with translation.override("en"):
        first_ids, runs = {}, []
        for kind, channel, ops in _batches(s):
            items = [
                ledger.BatchItem(
                    idempotency_key=key,
                    legs=legs,
                    memo=memo,
                    metadata={"batch": 7, "note": "中文"} if name == "metadata" else None,
                )
                for name, key, legs, memo in ops
            ]
            with CaptureQueriesContext(connection) as ctx:
                results = ledger.post_transfers(client=s.client, kind=kind, items=items, channel=channel)
            outcomes = []
            for (name, key, _legs, _memo), result in zip(ops, results, strict=True):
                assert result.item is items[len(outcomes)]
                if result.error is not None:
                    exc = result.error
                    outcomes.append((name, ("refused", type(exc).__name__, exc.code, s.label(exc.text), s._data(exc.data))))
                else:
                    outcomes.append((name, ("posted", *s._voucher(result.transfer, first_ids.get(key)))))
                    first_ids.setdefault(key, result.transfer.pk)
            runs.append((outcomes, s._balances(), _used_batch_function(ctx.captured_queries)))
        return runs


@only_postgres
@pytest.mark.django_db
def test_batch_function_gives_the_python_paths_results_and_refusals(make_account, fund, settings):
    # given one scenario per path, built the same way
    maker = make_user("batch-maker", "request_judicial_freeze")
    checker = make_user("batch-checker", "approve_judicial_freeze")
    settings.LEDGER_PG_FUNCTION = False
    python = _Scenario(make_account, fund, maker, checker)
    settings.LEDGER_PG_FUNCTION = True
    function = _Scenario(make_account, fund, maker, checker)
    # when
    settings.LEDGER_PG_FUNCTION = False
    by_python = _run(python)
    settings.LEDGER_PG_FUNCTION = True
    by_function = _run(function)
    # then: the same outcomes and balances after every batch, each path the one asked for
    assert [used for _o, _b, used in by_python] == [False] * 4
    assert [used for _o, _b, used in by_function] == [True] * 4
    for (python_outcomes, python_balances, _), (function_outcomes, function_balances, _) in zip(
        by_python, by_function, strict=True
    ):
        assert function_outcomes == python_outcomes
        assert function_balances == python_balances
    first = dict(by_function[0][0])
    assert first["pay"][:2] == ("posted", "new") and first["replay"][:2] == ("posted", "replay")
    assert first["conflict: other amount"][1] == "IdempotencyConflictError"
    assert first["short"][1] == "InsufficientFundsError" and first["refused key is free again"][0] == "posted"
    assert first["outflow from frozen"][1] == "AccountNotActiveError"
    assert first["missing accounts"][3] == "No account with id <missing>, <missing2>."
    assert first["suspense may not"][1] == "PostingRuleViolationError"  # "test" may only credit suspense
    assert first["metadata"][5] == {"batch": 7, "note": "中文"}
    assert dict(by_function[1][0])["outflow from non-counter-suspended, counter"][7] == "counter"
    third = dict(by_function[2][0])
    assert third["rule: a transfer may not debit clearing"][1] == "PostingRuleViolationError"
    assert third["posted"][:2] == ("posted", "new")
    assert third["replay inside the batch"][:2] == ("posted", "replay")
    assert third["conflict inside the batch: other legs"][1] == "IdempotencyConflictError"
    assert third["key of an earlier batch, other kind"][1] == "IdempotencyConflictError"
    assert third["refused, key free"][1] == "InsufficientFundsError"
    assert third["the refused key posted"][:2] == ("posted", "new")
    assert third["refused again on its replay's funds? no: a replay"][:2] == ("posted", "replay")
    assert third["missing, key taken: missing answers"][1] == "NotFoundError"
    assert third["invalid amount"][1] == "InvalidAmountError" and third["same account"][1] == "SameAccountError"
    assert third["short, key taken: the replay answers"][:2] == ("posted", "replay")
    assert third["short, key taken by another request: conflict"][1] == "IdempotencyConflictError"
    again = by_function[3][0]
    assert all(outcome[0] == "refused" or outcome[1] == "replay" for _name, outcome in again)
    assert by_function[3][1] == by_function[2][1]  # a replayed batch moves no money
    assert ledger_drift() == []


@only_postgres
@pytest.mark.django_db
def test_batch_function_runs_after_and_after_all_in_the_batch_transaction(make_account, fund):
    # given
    alice, bob = fund(make_account(), "5.00"), make_account()
    seen, every = [], []
    items = [
        ledger.BatchItem(idempotency_key=key, legs=_mv(alice.pk, bob.pk, amount), after=lambda t: seen.append(t.pk))
        for key, amount in (("a", "3.00"), ("b", "3.00"), ("a", "3.00"))
    ]
    # when
    with CaptureQueriesContext(connection) as ctx:
        results = ledger.post_transfers(client="t", kind="test", items=items, after_all=every.append)
    # then: after for the posted and the replayed item, after_all once with every result
    assert _used_batch_function(ctx.captured_queries)
    assert isinstance(results[1].error, InsufficientFundsError)
    assert results[2].transfer.pk == results[0].transfer.pk
    assert seen == [results[0].transfer.pk, results[0].transfer.pk]
    assert every == [results]
    assert Account.objects.get(pk=bob.pk).balance == D("3.00")
    assert ledger_drift() == []


@only_postgres
@pytest.mark.django_db
def test_batch_with_a_guarded_item_takes_the_python_path(make_account, fund):
    alice, bob = fund(make_account(), "5.00"), make_account()
    guarded = []
    items = [
        ledger.BatchItem(idempotency_key="plain", legs=_mv(alice.pk, bob.pk, "1.00")),
        ledger.BatchItem(
            idempotency_key="guarded",
            legs=_mv(alice.pk, bob.pk, "1.00"),
            guards=[lambda *, accounts, legs, now: guarded.append(accounts[alice.pk].balance)],
        ),
    ]
    with CaptureQueriesContext(connection) as ctx:
        results = ledger.post_transfers(client="t", kind="test", items=items)
    assert not _used_batch_function(ctx.captured_queries)
    assert all(result.error is None for result in results) and guarded == [D("3.00")]


@only_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_batch_function_posts_a_batch_in_one_round_trip(make_account, fund):
    # given committed accounts, no transaction open, no callback
    accounts = [fund(make_account(), "10.00") for _ in range(4)]
    assert not connection.in_atomic_block
    items = [
        ledger.BatchItem(idempotency_key=f"one-{n}", legs=_mv(accounts[n % 4].pk, accounts[(n + 1) % 4].pk, "0.01"))
        for n in range(100)
    ]
    # when
    with CaptureQueriesContext(connection) as ctx:
        results = ledger.post_transfers(client="rt", kind="test", items=items)
    # then: one statement, the whole batch committed
    assert len(ctx.captured_queries) == 1 and _used_batch_function(ctx.captured_queries)
    assert all(result.error is None for result in results)
    assert Transfer.objects.filter(client="rt").count() == 100
    assert sum(Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("balance", flat=True), D("0")) == D("40.00")
    assert ledger_drift() == []
