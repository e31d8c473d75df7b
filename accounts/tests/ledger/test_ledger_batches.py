"""post_transfers: many vouchers in one transaction, a savepoint each (throughput issue)."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections

from accounts.ledger import postings as ledger
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import InsufficientFundsError
from accounts.ledger.models import Account, Transfer
from conftest import needs_postgres

D = Decimal


def _item(key, source, target, amount):
    return ledger.BatchItem(
        idempotency_key=key, legs=ledger.move(from_account_id=source.pk, to_account_id=target.pk, amount=D(amount))
    )


def test_each_item_is_posted_or_refused_alone(make_account, fund):
    a, b = make_account(), make_account()
    fund(a, "5.00")
    results = ledger.post_transfers(
        client="t",
        kind="transfer",
        items=[_item("1", a, b, "3.00"), _item("2", a, b, "3.00"), _item("3", a, b, "2.00")],
    )
    assert [r.error.__class__ if r.error else None for r in results] == [None, InsufficientFundsError, None]
    assert Account.objects.get(pk=a.pk).balance == D("0.00") and Account.objects.get(pk=b.pk).balance == D("5.00")
    assert Transfer.objects.filter(client="t").count() == 2
    assert ledger_drift() == []


def test_a_batch_larger_than_the_maximum_is_a_programming_error(make_account, settings):
    a, b = make_account(), make_account()
    settings.LEDGER_BATCH_MAX = 2
    with pytest.raises(ValueError):
        ledger.post_transfers(client="t", kind="transfer", items=[_item(str(i), a, b, "0.01") for i in range(3)])


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_eight_concurrent_batches_over_the_same_accounts_never_deadlock_or_lose_a_fen(make_account, fund):
    accounts = [make_account() for _ in range(6)]
    for account in accounts:
        fund(account, "100.00")
    threads = 8
    barrier = threading.Barrier(threads)

    def batch(index: int) -> int:
        rng = random.Random(index)
        items = []
        for n in range(50):  # random pairs in random directions: without the up-front lock these would deadlock
            source, target = rng.sample(accounts, 2)
            items.append(_item(f"b{index}-{n}", source, target, f"{rng.randint(1, 300) / 100:.2f}"))
        try:
            barrier.wait(timeout=30)
            results = ledger.post_transfers(client="race", kind="transfer", items=items)
            return sum(1 for r in results if r.error is None)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        posted = sum(pool.map(batch, range(threads)))

    assert posted == Transfer.objects.filter(client="race").count() > 0
    total = sum(Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("balance", flat=True), D("0"))
    assert total == D("600.00")  # money moved between them, never created or lost
    assert ledger_drift() == []
