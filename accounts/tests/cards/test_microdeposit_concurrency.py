"""PostgreSQL row locks: racing sends keep one micro-deposit per account per day; racing
back-fills never grant more attempts than allowed."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from accounts.cards import services as cards
from accounts.cards.models import BoundCard, MicroDeposit
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import card_number
from conftest import needs_postgres

pytestmark = [needs_postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _race(n: int, func) -> list:
    return _race_each([func] * n)


def test_r_ver_06_racing_sends_of_one_account_submit_only_one(open_account, bind, sim):
    assert connection.vendor == "postgresql"
    account = open_account("II")
    first = bind(account, card_number(digits="7070"))  # sent today (refused by the channel)
    second = bind(account, card_number(digits="7071"))  # rate-limited: waits for tomorrow
    cards.micro_deposit_retry(card_id=first.pk)  # rate-limited too
    waiting = list(MicroDeposit.objects.filter(account=account, state=MicroDeposit.State.INIT).values_list("pk", flat=True))
    assert len(waiting) == 2 and MicroDeposit.objects.get(card=second).state == MicroDeposit.State.INIT
    sim.calls.clear()
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)

    def send(pk):
        return lambda: cards.micro_deposit_send(micro_deposit_id=pk, now=tomorrow)

    outcomes = _race_each([send(pk) for pk in waiting])
    assert not [o for o in outcomes if isinstance(o, Exception)]
    submitted = MicroDeposit.objects.filter(pk__in=waiting).exclude(state=MicroDeposit.State.INIT)
    assert submitted.count() == 1 and len(sim.calls_of("send_micro_deposit")) == 1


def _race_each(funcs) -> list:
    barrier = threading.Barrier(len(funcs))
    results: list = [None] * len(funcs)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = funcs[index]()
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(funcs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_r_ver_06_racing_wrong_back_fills_use_exactly_the_allowed_attempts(open_account, bind):
    card = bind(open_account("II"))  # the on-commit send runs for real here
    deposit = MicroDeposit.objects.get(card=card)
    assert deposit.state == MicroDeposit.State.AWAITING_BACKFILL
    wrong = str(deposit.amount + Decimal("0.01") if deposit.amount < Decimal("0.50") else deposit.amount - Decimal("0.01"))
    outcomes = _race(8, lambda: cards.micro_deposit_confirm(card_id=card.pk, amount=wrong))
    mismatches = sorted(o.data["attempts_left"] for o in outcomes if isinstance(o, cards.MicroDepositMismatchError))
    assert mismatches == [0, 1, 2]
    assert sum(1 for o in outcomes if getattr(o, "code", "") == "invalid_state") == 5
    assert MicroDeposit.objects.get(pk=deposit.pk).attempts == 3
    assert BoundCard.objects.get(pk=card.pk).state == BoundCard.State.FAILED
