"""Concurrent postings against one person's daily limit, on PostgreSQL row locks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections

from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account
from accounts.limits.models import LimitCounter
from accounts.limits.services import FlowKind, LimitExceededError
from accounts.tests.limits_helpers import at, open_active, post
from conftest import needs_postgres

D = Decimal
THREADS = 16


def _race(accounts, kind, amount, when) -> list[str]:
    barrier = threading.Barrier(THREADS)

    def attempt(index: int) -> str:
        try:
            barrier.wait(timeout=30)
            post(accounts[index % len(accounts)], kind, amount, when=when)
            return "ok"
        except LimitExceededError:
            return "limit"
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(attempt, range(THREADS)))


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_r_acc_07_sixteen_concurrent_class2_outflows_never_pass_the_daily_limit(make_party):
    person = make_party("孙八")
    first, second = open_active(person, "II"), open_active(person, "II")  # two accounts share the counters
    day = at(2026, 12, 1, 10)
    for account in (first, second):
        post(account, FlowKind.BOUND_INFLOW, "20000.00", when=day)

    outcomes = _race([first, second], FlowKind.PAYMENT, "1000.00", day)  # 16 × 1,000 against 10,000 a day

    accepted = D("1000.00") * outcomes.count("ok")
    assert outcomes.count("ok") == 10 and outcomes.count("limit") == 6
    used = {(c.period, c.period_key): c.used for c in LimitCounter.objects.filter(party=person, bucket="outflow")}
    assert used == {("day", "2026-12-01"): accepted, ("year", "2026"): accepted}
    balances = sum(Account.objects.filter(pk__in=[first.pk, second.pk]).values_list("balance", flat=True), D("0"))
    assert balances == D("40000.00") - accepted
    assert ledger_drift() == []


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_r_acc_12_sixteen_concurrent_class3_non_bound_inflows_create_counters_race_safely(make_party):
    from accounts.limits.services import account_record_face_to_face

    person = make_party("周九")
    accounts = [open_active(person, "III") for _ in range(4)]
    for account in accounts:
        account_record_face_to_face(account_id=account.pk)
    # No counter row exists yet: the 16 postings race to create the same rows.
    outcomes = _race(accounts, FlowKind.NON_BOUND_INFLOW, "400.00", at(2026, 12, 1, 10))

    assert outcomes.count("ok") == 12 and outcomes.count("limit") == 4  # 12 × 400 = 4,800 ≤ 5,000
    day = LimitCounter.objects.get(party=person, bucket="non_bound_inflow", period="day")
    assert day.used == D("4800.00")
    assert LimitCounter.objects.get(party=person, bucket="two_way").used == D("4800.00")
    assert ledger_drift() == []
