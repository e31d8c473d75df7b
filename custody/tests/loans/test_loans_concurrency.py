"""Concurrent bids on PostgreSQL row locks (R-DEP-05, R-DEP-02): a loan is never oversubscribed,
a refused bid holds nothing, a standing authorisation's cumulative maximum is never overrun."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections

from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Entry, Hold
from backoffice.errors import DomainError
from conftest import needs_postgres
from custody.loans import services as loans
from custody.loans.models import Bid, Loan

D = Decimal


def _race(count: int, attempt_one) -> list[str]:
    barrier = threading.Barrier(count)

    def attempt(index: int) -> str:
        try:
            barrier.wait(timeout=60)
            attempt_one(index)
            return "ok"
        except DomainError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))


def _bid(loan, sub, amount, reference, auth_id):
    loans.bid_place(
        loan_id=loan.pk,
        platform=loan.platform,
        lender_number=sub.account.number,
        amount=D(amount),
        out_request_no=reference,
        authorization={"method": "standing", "id": auth_id},
    )


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_r_dep_05_fifty_lenders_race_for_the_last_thousand(new_loan, lender, bid, borrower):
    loan = new_loan("10000.00", term_months=3)
    first = lender("9000.00")
    bid(loan, first, "9000.00")
    racers = [lender("500.00") for _ in range(50)]

    outcomes = _race(50, lambda i: _bid(loan, racers[i], "100.00", f"race-{i}", racers[i].auth.pk))

    assert outcomes.count("ok") == 10, outcomes
    assert set(outcomes) <= {"ok", "bid_exceeds_remaining", "invalid_state"}
    loan = Loan.objects.get(pk=loan.pk)
    assert (loan.state, loan.raised) == (Loan.State.FULL, D("10000.00"))
    held = Hold.objects.filter(reason="bid", state="active")
    assert sum(held.values_list("amount", flat=True), D("0")) == D("10000.00")
    winners = {b.lender_id for b in Bid.objects.filter(loan=loan)} - {first.pk}
    assert len(winners) == 10
    for sub in racers:
        sub.account.refresh_from_db()
        sub.auth.refresh_from_db()
        if sub.pk in winners:
            assert (sub.account.frozen, sub.auth.consumed) == (D("100.00"), D("100.00"))
        else:  # a refused bid holds nothing and consumes nothing
            assert (sub.account.frozen, sub.auth.consumed) == (D("0.00"), D("0.00"))

    # Disbursement: one voucher of 11 debits; the first repayment splits to the fen over 11 lenders.
    loans.loan_disburse(loan_id=loan.pk, authorization={"method": "standing", "id": borrower.fee_auth.pk})
    loan = Loan.objects.get(pk=loan.pk)
    assert Entry.objects.filter(transfer_id=loan.disbursement_id, side="D").count() == 11
    instalment = loan.instalments.get(number=1)
    repayment = loans.instalment_repay(
        loan_id=loan.pk,
        payer_number=borrower.account.number,
        out_request_no="R1",
        authorization={"method": "standing", "id": borrower.fee_auth.pk},
        today=instalment.due_date,
    )
    paid = Entry.objects.filter(transfer=repayment.transfer, side="C").values_list("amount", flat=True)
    assert sum(paid, D("0")) == instalment.total and len(paid) == 11
    assert ledger_drift() == []


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_r_dep_02_concurrent_bids_never_overrun_the_cumulative_maximum(new_loan, lender):
    # One lender, one authorisation (cumulative 1,000.00), 20 concurrent bids of 100.00 over 4 loans:
    # the loans' locks differ, so only the authorisation's row lock keeps the maximum.
    sub = lender("5000.00", per="100.00", cumulative="1000.00")
    targets = [new_loan("3000.00") for _ in range(4)]

    outcomes = _race(20, lambda i: _bid(targets[i % 4], sub, "100.00", f"auth-{i}", sub.auth.pk))

    assert outcomes.count("ok") == 10 and outcomes.count("authorization_limit_exceeded") == 10, outcomes
    sub.auth.refresh_from_db()
    sub.account.refresh_from_db()
    assert sub.auth.consumed == D("1000.00")
    assert sub.account.frozen == D("1000.00")
    assert Bid.objects.filter(authorisation=sub.auth).count() == 10
    assert ledger_drift() == []


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_r_dep_02_one_confirmation_confirmed_twice_at_once_repays_once(new_loan, lender, bid, borrower, django_user_model):
    from accounts.parties.services import party_kyc_approve
    from accounts.payments.authorisation import transaction_password_set
    from custody.loans import confirmations
    from custody.loans.models import Confirmation, Repayment

    loan = new_loan("1000.00")
    bid(loan, lender("1000.00"), "1000.00")
    loans.loan_disburse(loan_id=loan.pk, authorization={"method": "standing", "id": borrower.fee_auth.pk})
    party_kyc_approve(party_id=borrower.party_id)
    transaction_password_set(party_id=borrower.party_id, password="135790")
    pending = confirmations.repayment_confirmation_request(
        loan_id=loan.pk, platform=loan.platform, payer_number=borrower.account.number, out_request_no="R1"
    )

    def confirm(_index):
        item = confirmations.confirmation_confirm(confirmation_id=pending.pk, password="135790")
        if item.state != "confirmed":
            raise AssertionError(item.state)

    outcomes = _race(4, confirm)
    assert outcomes.count("ok") == 1 and outcomes.count("invalid_state") == 3, outcomes
    assert Repayment.objects.count() == 1 and Confirmation.objects.get(pk=pending.pk).repayment is not None
    assert ledger_drift() == []
