"""accounts.ledger.postings.holds_capture_many: many holds captured whole in ONE balanced voucher
(a loan's disbursement: the lenders' bid holds to the borrower and the platform's fee, R-DEP-05),
all or nothing, idempotent, and racing a release on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections

from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import (
    AccountNotActiveError,
    CaptureAmountError,
    IdempotencyConflictError,
    InvalidAmountError,
    InvalidStateError,
    NotFoundError,
    PostingRuleViolationError,
    SameAccountError,
)
from accounts.ledger.models import Account, Entry, Hold, Transfer
from accounts.ledger.selectors import internal_account
from accounts.tests.states_helpers import make_user, place
from conftest import needs_postgres

D = Decimal
KIND = "capture_many"  # a test-only voucher kind (root conftest.py): customer roles both sides


@pytest.fixture(autouse=True)
def _ledger_stays_clean(db):
    yield
    assert ledger_drift() == []


def amounts(account) -> tuple[Decimal, Decimal, Decimal]:
    fresh = Account.objects.get(pk=account.pk)
    return fresh.balance, fresh.frozen, fresh.available


def bid(account, amount, key):
    return ledger.hold_place(client="platform", idempotency_key=key, account_id=account.pk, amount=D(amount), reason="bid")


@pytest.fixture
def loan(make_account, make_party, fund):
    """Three lenders with 1,000.00 each, bids of 500.00, 300.00 and 200.00 (1,000.00 raised), a
    borrower and the platform's own-funds account (its service fee goes there)."""
    lenders = [fund(make_account(role=Role.LENDER), "1000.00") for _ in range(3)]
    holds = [
        bid(lender, amount, f"bid-{i}")
        for i, (lender, amount) in enumerate(zip(lenders, ["500.00", "300.00", "200.00"], strict=True))
    ]
    borrower = make_account(role=Role.BORROWER)
    platform = make_account(party=make_party(type="organisation", name="示例平台 Platform"), role=Role.PLATFORM_OWN)
    return {"lenders": lenders, "holds": holds, "borrower": borrower, "platform": platform}


def disburse(loan, *, key="disburse-L1", holds=None, credits=None, kind=KIND, memo="loan L1"):
    return ledger.holds_capture_many(
        client="platform",
        idempotency_key=key,
        hold_ids=[h.pk for h in (holds or loan["holds"])],
        credits=credits or [(loan["borrower"].pk, D("980.00")), (loan["platform"].pk, D("20.00"))],
        kind=kind,
        memo=memo,
        metadata={"loan": "L1"},
    )


def snapshot():
    return (
        list(Account.objects.order_by("pk").values_list("pk", "balance", "frozen")),
        list(Hold.objects.order_by("pk").values_list("pk", "state", "captured_amount", "end_key")),
        Transfer.objects.count(),
        Entry.objects.count(),
    )


def test_r_dep_05_capture_many_posts_one_balanced_voucher(loan):
    # when the loan is disbursed: 1,000.00 held → 980.00 to the borrower, 20.00 fee to the platform
    transfer = disburse(loan)
    # then one voucher: a debit leg per hold, the caller's credit legs, balanced to the fen
    entries = list(transfer.entries.order_by("pk").values_list("account_id", "side", "amount"))
    assert entries == [
        (loan["lenders"][0].pk, DEBIT, D("500.00")),
        (loan["lenders"][1].pk, DEBIT, D("300.00")),
        (loan["lenders"][2].pk, DEBIT, D("200.00")),
        (loan["borrower"].pk, CREDIT, D("980.00")),
        (loan["platform"].pk, CREDIT, D("20.00")),
    ]
    assert (transfer.kind, transfer.amount, transfer.memo) == (KIND, D("1000.00"), "loan L1")
    assert transfer.metadata == {"loan": "L1", "holds": [h.pk for h in loan["holds"]], "held": "1000.00"}
    assert Transfer.objects.filter(kind=KIND).count() == 1


def test_r_dep_05_capture_many_ends_every_hold_and_moves_the_frozen_money(loan):
    disburse(loan)
    for hold in Hold.objects.filter(pk__in=[h.pk for h in loan["holds"]]):
        assert (hold.state, hold.captured_amount) == ("captured", hold.amount)
        assert hold.ended_at is not None and hold.end_client == "platform" and hold.end_key
    assert amounts(loan["lenders"][0]) == (D("500.00"), D("0.00"), D("500.00"))
    assert amounts(loan["lenders"][1]) == (D("700.00"), D("0.00"), D("700.00"))
    assert amounts(loan["lenders"][2]) == (D("800.00"), D("0.00"), D("800.00"))
    assert amounts(loan["borrower"]) == (D("980.00"), D("0.00"), D("980.00"))
    assert amounts(loan["platform"]) == (D("20.00"), D("0.00"), D("20.00"))


def test_capture_many_two_holds_on_one_account_and_other_holds_untouched(loan):
    lender = loan["lenders"][0]
    second = bid(lender, "100.00", "bid-again")
    unrelated = bid(lender, "50.00", "bid-other-loan")
    transfer = disburse(loan, holds=[loan["holds"][0], second], credits=[(loan["borrower"].pk, D("600.00"))], key="two-on-one")
    assert transfer.amount == D("600.00")
    assert amounts(lender) == (D("400.00"), D("50.00"), D("350.00"))  # only the unrelated hold is left
    assert Hold.objects.get(pk=unrelated.pk).state == "active"
    assert Hold.objects.get(pk=loan["holds"][1].pk).state == "active"


def test_capture_many_replay_returns_the_first_voucher(loan):
    first = disburse(loan)
    before = snapshot()
    again = disburse(loan)
    assert again.pk == first.pk
    assert snapshot() == before  # moved once
    with pytest.raises(IdempotencyConflictError):
        disburse(loan, credits=[(loan["borrower"].pk, D("1000.00"))])  # same key, another request
    with pytest.raises(IdempotencyConflictError):
        disburse(loan, memo="another memo")
    assert snapshot() == before


@pytest.mark.parametrize(
    "problem",
    [
        "credits_short",
        "credits_over",
        "hold_released",
        "hold_missing",
        "judicial_hold",
        "credit_to_a_lender",
        "rule_breaks",
        "zero_credit",
    ],
)
def test_capture_many_refusal_leaves_everything_unchanged(loan, problem, make_account, fund):
    holds = list(loan["holds"])
    pay = [(loan["borrower"].pk, D("980.00")), (loan["platform"].pk, D("20.00"))]
    expected = CaptureAmountError
    if problem == "credits_short":
        pay = [(loan["borrower"].pk, D("999.99"))]
    elif problem == "credits_over":
        pay = [(loan["borrower"].pk, D("980.00")), (loan["platform"].pk, D("20.01"))]
    elif problem == "hold_released":
        ledger.hold_release(client="platform", idempotency_key="withdrawn-bid", hold_id=holds[1].pk)
        expected = InvalidStateError
    elif problem == "hold_missing":
        holds.append(Hold(pk=10**9))
        expected = NotFoundError
    elif problem == "judicial_hold":
        court = fund(make_account(role=Role.LENDER), "100.00")
        holds.append(
            ledger.hold_place(
                client="court",
                idempotency_key="j",
                account_id=court.pk,
                amount=D("10.00"),
                reason="judicial",
                enforce_state=False,
            )
        )
        pay = [(loan["borrower"].pk, D("990.00")), (loan["platform"].pk, D("20.00"))]
        expected = InvalidStateError
    elif problem == "credit_to_a_lender":
        pay = [(loan["borrower"].pk, D("980.00")), (loan["lenders"][0].pk, D("20.00"))]
        expected = SameAccountError
    elif problem == "rule_breaks":
        pay = [(loan["borrower"].pk, D("980.00")), (internal_account(Role.FEE_INCOME).pk, D("20.00"))]
        expected = PostingRuleViolationError
    elif problem == "zero_credit":
        pay = [(loan["borrower"].pk, D("1000.00")), (loan["platform"].pk, D("0.00"))]
        expected = InvalidAmountError
    before = snapshot()
    with pytest.raises(expected) as refused:
        disburse(loan, holds=holds, credits=pay)
    assert snapshot() == before
    if problem == "hold_released":
        assert refused.value.data == {"state": "released", "hold": str(holds[1].pk)}


def test_r_dep_05_capture_many_a_judicially_frozen_lender_refuses_the_whole_disbursement(loan):
    # given a court blocks debits on the second lender after the bids were placed
    maker, checker = make_user("maker", "request_judicial_freeze"), make_user("checker", "approve_judicial_freeze")
    frozen_lender = loan["lenders"][1]
    place(maker, checker, frozen_lender, "debit_blocked")
    before = snapshot()
    # when the loan is disbursed
    with pytest.raises(AccountNotActiveError) as refused:
        disburse(loan)
    # then nothing moves, and the refusal names the frozen lender's account
    assert refused.value.data == {"account": frozen_lender.number, "state": "judicial_freeze", "direction": "outflow"}
    assert snapshot() == before
    assert all(Hold.objects.get(pk=h.pk).state == "active" for h in loan["holds"])


def test_capture_many_refuses_duplicate_or_no_holds(loan):
    with pytest.raises(TypeError):
        disburse(loan, holds=[loan["holds"][0], loan["holds"][0]])
    with pytest.raises(TypeError):
        ledger.holds_capture_many(client="platform", idempotency_key="k", hold_ids=[], credits=[(1, D("1.00"))], kind=KIND)


# -- PostgreSQL: a release racing the capture ------------------------------------------------


@needs_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("round_", range(3))
def test_capture_many_races_a_release_exactly_one_outcome(round_, make_account, make_party, fund, settings):
    settings.LEDGER_MAX_RETRIES = 1  # a deadlock must surface, not be retried away
    lenders = [fund(make_account(role=Role.LENDER), "100.00") for _ in range(4)]
    holds = [bid(lender, "25.00", f"race-{round_}-{i}") for i, lender in enumerate(lenders)]
    borrower = make_account(role=Role.BORROWER)
    barrier = threading.Barrier(2)

    def capture():
        try:
            barrier.wait(timeout=10)
            return ledger.holds_capture_many(
                client="platform",
                idempotency_key=f"race-{round_}",
                hold_ids=[h.pk for h in holds],
                credits=[(borrower.pk, D("100.00"))],
                kind=KIND,
            )
        except Exception as exc:  # noqa: BLE001 - the test inspects the outcome
            return exc
        finally:
            connections.close_all()

    def release():
        try:
            barrier.wait(timeout=10)
            return ledger.hold_release(client="platform", idempotency_key=f"withdraw-{round_}", hold_id=holds[2].pk)
        except Exception as exc:  # noqa: BLE001
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        captured, released = pool.submit(capture), pool.submit(release)
        captured, released = captured.result(), released.result()

    if isinstance(captured, Transfer):
        # the capture won: the release found the hold captured
        assert isinstance(released, InvalidStateError), released
        assert set(Hold.objects.filter(pk__in=[h.pk for h in holds]).values_list("state", flat=True)) == {"captured"}
        assert amounts(borrower) == (D("100.00"), D("0.00"), D("100.00"))
        assert all(amounts(lender) == (D("75.00"), D("0.00"), D("75.00")) for lender in lenders)
    else:
        # the release won: the whole capture was refused, nothing moved, the other holds stay active
        assert isinstance(captured, InvalidStateError), captured
        assert isinstance(released, Hold) and released.state == "released"
        states = dict(Hold.objects.filter(pk__in=[h.pk for h in holds]).values_list("pk", "state"))
        assert states == {h.pk: ("released" if h.pk == holds[2].pk else "active") for h in holds}
        assert amounts(borrower) == (D("0.00"), D("0.00"), D("0.00"))
        assert not Transfer.objects.filter(kind=KIND).exists()
    assert connection.vendor == "postgresql"
