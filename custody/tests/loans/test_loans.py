"""Loans: R-DEP-02 (authorisation), R-DEP-05 (bids freeze, one-voucher disbursement, release on
failure), R-DEP-06 (borrowing caps at creation and at disbursement), repayments split to the fen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import InsufficientFundsError
from accounts.ledger.models import Entry, Hold, Transfer
from accounts.states.dormancy import outstanding_debt
from accounts.tests.states_helpers import make_user, place
from backoffice.errors import FieldValidationError, InvalidStateError
from backoffice.models import AuditLog, WebhookDelivery
from backoffice.webhooks import webhook_endpoint_create
from conftest import random_credit_code
from custody import services
from custody.errors import PlatformNotActiveError
from custody.loans import services as loans
from custody.loans.authorisations import standing_authorisation_revoke
from custody.loans.errors import (
    AuthorisationLimitError,
    AuthorisationMethodRefusedError,
    AuthorisationNotInForceError,
    AuthorisationOutOfScopeError,
    BidExceedsRemainingError,
    BorrowingCapExceededError,
    ConfirmationUnavailableError,
    DuplicateReferenceError,
    LenderAccountFrozenError,
    PayerNotAllowedError,
    RepaymentRefusedError,
)
from custody.loans.models import Bid, BorrowingCap, Loan, LoanInstalment, RepaymentDebt, StandingAuthorisation

pytestmark = pytest.mark.django_db


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def _raise(loan, lenders_and_amounts, bid):
    return [bid(loan, sub, amount) for sub, amount in lenders_and_amounts]


# -- the seeded caps and the schedule ------------------------------------------------------------


def test_r_dep_06_caps_are_seeded_data():
    caps = {cap.party_kind: cap.amount for cap in BorrowingCap.objects.all()}
    assert caps == {"person": Decimal("200000.00"), "organisation": Decimal("1000000.00")}


def test_loan_create_stores_the_schedule(new_loan):
    loan = new_loan("10000.00", annual_rate=Decimal("0.12"), term_months=3, method="equal_instalment")
    rows = list(loan.instalments.order_by("number"))
    assert [(r.principal, r.interest) for r in rows] == [
        (Decimal("3300.22"), Decimal("100.00")),
        (Decimal("3333.22"), Decimal("67.00")),
        (Decimal("3366.56"), Decimal("33.67")),
    ]
    assert sum(r.principal for r in rows) == loan.amount
    assert loan.service_fee == Decimal("200.00") and loan.state == Loan.State.OPEN
    assert loan.overdue_rate == Decimal("0.180000")


def test_loan_create_refuses_a_winding_down_platform(platform, new_loan, checker):
    services.platform_wind_down(platform_id=platform.pk, actor=checker, reason="清退")
    with pytest.raises(PlatformNotActiveError):
        new_loan("1000.00")


def test_loan_out_request_no_is_unique_per_platform(new_loan):
    first = new_loan("1000.00", out_request_no="X1")
    with pytest.raises(DuplicateReferenceError) as refused:
        new_loan("1000.00", out_request_no="X1")
    assert refused.value.data["id"] == str(first.pk)


# -- R-DEP-06 -------------------------------------------------------------------------------------


def test_r_dep_06_person_cap_at_creation(new_loan):
    new_loan("150000.00")
    with pytest.raises(BorrowingCapExceededError) as refused:
        new_loan("50000.01")
    assert refused.value.code == "limit_exceeded"
    assert refused.value.data == {"limit": "200000.00", "remaining": "50000.00"}
    new_loan("50000.00")  # exactly the cap


def test_r_dep_06_organisation_cap_at_creation(platform, new_loan):
    org = services.subaccount_open(
        platform=platform,
        role="borrower",
        identity_data={
            "type": "organisation",
            "name": "借款企业有限公司",
            "credit_code": random_credit_code(),
            "legal_representative": "法人",
        },
    )
    new_loan("999999.99", borrower_sub=org)
    with pytest.raises(BorrowingCapExceededError) as refused:
        new_loan("0.02", borrower_sub=org)
    assert refused.value.data == {"limit": "1000000.00", "remaining": "0.01"}


def test_r_dep_06_cap_checked_again_at_disbursement(new_loan, lender, bid, borrower):
    loan = new_loan("150000.00")
    _raise(loan, [(lender("200000.00"), "150000.00")], bid)
    # The cap is data with history: a lower cap in force from today applies at disbursement.
    BorrowingCap.objects.create(party_kind="person", amount=Decimal("100000.00"), effective_from=timezone.localdate())
    with pytest.raises(BorrowingCapExceededError) as refused:
        loans.loan_disburse(loan_id=loan.pk, authorization={"method": "standing", "id": borrower.fee_auth.pk})
    assert refused.value.data == {"limit": "100000.00", "remaining": "100000.00"}
    assert fresh(loan).state == Loan.State.FULL
    assert not Transfer.objects.filter(kind=loans.KIND_DISBURSEMENT).exists()
    assert Hold.objects.filter(reason="bid", state="active").count() == 1
    assert fresh(borrower.fee_auth).consumed == 0


# -- R-DEP-05 -------------------------------------------------------------------------------------


def test_r_dep_05_a_bid_freezes_and_the_last_bid_fills_the_loan(new_loan, lender, bid):
    a, b = lender("5000.00"), lender("5000.00")
    loan = new_loan("3000.00")
    first = bid(loan, a, "1000.00")
    account = fresh(a.account)
    assert (account.balance, account.frozen, account.available) == (Decimal("5000.00"), Decimal("1000.00"), Decimal("4000.00"))
    assert first.hold.reason == "bid" and first.authorisation_id == a.auth.pk
    assert fresh(loan).state == Loan.State.OPEN
    bid(loan, b, "2000.00")
    loan = fresh(loan)
    assert (loan.state, loan.raised) == (Loan.State.FULL, Decimal("3000.00"))
    with pytest.raises(InvalidStateError):
        bid(loan, a, "0.01")


def test_r_dep_05_refused_bids_hold_nothing_and_consume_nothing(new_loan, lender, bid):
    poor, rich = lender("100.00"), lender("5000.00")
    loan = new_loan("1000.00")
    with pytest.raises(InsufficientFundsError):
        bid(loan, poor, "500.00")
    with pytest.raises(BidExceedsRemainingError) as refused:
        bid(loan, rich, "1000.01")
    assert refused.value.data["remaining"] == "1000.00"
    assert not Hold.objects.filter(reason="bid").exists()
    assert not Bid.objects.exists()
    assert fresh(poor.auth).consumed == 0 and fresh(rich.auth).consumed == 0
    assert fresh(loan).raised == 0


def test_r_dep_05_disbursement_is_one_voucher(platform, new_loan, lender, bid, borrower):
    a, b, c = lender(), lender(), lender()
    loan = new_loan("10000.00")
    bids = _raise(loan, [(a, "2500.00"), (b, "3333.33"), (c, "4166.67")], bid)
    loan = loans.loan_disburse(loan_id=loan.pk, authorization={"method": "standing", "id": borrower.fee_auth.pk})
    assert loan.state == Loan.State.DISBURSED
    vouchers = Transfer.objects.filter(kind=loans.KIND_DISBURSEMENT)
    assert vouchers.count() == 1
    voucher = vouchers.get()
    assert loan.disbursement_id == voucher.pk
    legs = {(e.account_id, e.side, e.amount) for e in Entry.objects.filter(transfer=voucher)}
    assert legs == {
        (a.account_id, "D", Decimal("2500.00")),
        (b.account_id, "D", Decimal("3333.33")),
        (c.account_id, "D", Decimal("4166.67")),
        (borrower.account_id, "C", Decimal("9800.00")),
        (platform.own_funds_id, "C", Decimal("200.00")),
    }
    assert voucher.metadata["bids"] == [{"bid": x.pk, "authorisation": x.authorisation_id, "confirmation": None} for x in bids]
    assert voucher.metadata["fee_authorisation"] == borrower.fee_auth.pk
    assert all(fresh(x).state == Bid.State.CAPTURED for x in bids)
    assert not Hold.objects.filter(reason="bid", state="active").exists()
    assert fresh(a.account).frozen == 0 and fresh(a.account).balance == Decimal("7500.00")
    assert fresh(borrower.account).balance == Decimal("9800.00")
    assert fresh(borrower.fee_auth).consumed == Decimal("200.00")
    assert ledger_drift() == []
    first_due = loan.instalments.get(number=1).due_date
    assert first_due > timezone.localdate()


@pytest.mark.parametrize("close", ["loan_cancel", "loan_fail"])
def test_r_dep_05_failed_or_cancelled_loan_releases_every_hold(close, new_loan, lender, bid):
    a, b = lender("5000.00"), lender("5000.00")
    loan = new_loan("3000.00")
    _raise(loan, [(a, "1000.00"), (b, "2000.00")], bid)
    loan = getattr(loans, close)(loan_id=loan.pk, reason="test")
    assert loan.state == (Loan.State.CANCELLED if close == "loan_cancel" else Loan.State.FAILED)
    assert not Hold.objects.filter(reason="bid", state="active").exists()
    assert set(Bid.objects.values_list("state", flat=True)) == {"released"}
    for sub in (a, b):
        account = fresh(sub.account)
        assert (account.frozen, account.available) == (0, Decimal("5000.00"))
        assert fresh(sub.auth).consumed == 0  # nothing moved: the authorisation is given back
    with pytest.raises(InvalidStateError):
        loans.loan_disburse(loan_id=loan.pk)


def test_r_dep_05_expired_fundraising_fails_the_loan(new_loan, lender, bid):
    loan = new_loan("3000.00")
    bid(loan, lender(), "1000.00")
    failed = loans.loans_fail_expired(now=timezone.now() + dt.timedelta(days=8))
    assert failed == [loan.pk]
    assert fresh(loan).state == Loan.State.FAILED
    assert not Hold.objects.filter(reason="bid", state="active").exists()


def test_r_dep_05_judicial_freeze_after_bidding_refuses_the_whole_disbursement(new_loan, lender, bid, borrower):
    a, b, c = lender("5000.00"), lender("5000.00"), lender("5000.00")
    loan = new_loan("3000.00")
    bid_a, bid_b = _raise(loan, [(a, "1000.00"), (b, "2000.00")], bid)
    place(make_user("jmaker", "request_judicial_freeze"), make_user("jchecker", "approve_judicial_freeze"), b.account, "full")
    fee = {"method": "standing", "id": borrower.fee_auth.pk}
    with pytest.raises(LenderAccountFrozenError) as refused:
        loans.loan_disburse(loan_id=loan.pk, authorization=fee)
    assert refused.value.data == {"account": b.account.number, "bid": str(bid_b.pk)}
    assert fresh(loan).state == Loan.State.FULL
    assert not Transfer.objects.filter(kind=loans.KIND_DISBURSEMENT).exists()
    assert fresh(borrower.account).balance == 0
    # Only the frozen lender's bid may be withdrawn; the loan reopens and raises the rest.
    with pytest.raises(InvalidStateError):
        loans.bid_withdraw(loan_id=loan.pk, bid_id=bid_a.pk)
    loans.bid_withdraw(loan_id=loan.pk, bid_id=bid_b.pk, reason="司法冻结")
    loan = fresh(loan)
    assert (loan.state, loan.raised) == (Loan.State.OPEN, Decimal("1000.00"))
    assert fresh(b.account).judicial_debit_blocks == 1  # the court's freeze stays
    bid(loan, c, "2000.00")
    loan = loans.loan_disburse(loan_id=loan.pk, authorization=fee)
    assert loan.state == Loan.State.DISBURSED
    assert fresh(borrower.account).balance == Decimal("2940.00")


# -- R-DEP-02 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization,error",
    [
        ({"method": "password", "password": "135790"}, AuthorisationMethodRefusedError),
        ({"method": "otp", "code": "123456"}, AuthorisationMethodRefusedError),
        ({"method": "confirm"}, ConfirmationUnavailableError),
        (None, FieldValidationError),
        ({"method": "standing", "id": "x"}, FieldValidationError),
        ({"method": "standing", "id": 999999}, AuthorisationNotInForceError),
    ],
)
def test_r_dep_02_a_bid_without_a_standing_authorisation_is_refused(authorization, error, new_loan, lender, bid):
    a = lender()
    loan = new_loan("3000.00")
    with pytest.raises(error):
        loans.bid_place(
            loan_id=loan.pk,
            platform=loan.platform,
            lender_number=a.account.number,
            amount=Decimal("100.00"),
            out_request_no="B-auth",
            authorization=authorization,
        )
    assert not Hold.objects.filter(reason="bid").exists()


def test_r_dep_02_standing_authorisation_scope_expiry_revocation_and_maxima(new_loan, lender, bid, grant, borrower):
    a, b = lender(per="500.00", cumulative="800.00"), lender()
    loan = new_loan("5000.00")
    with pytest.raises(AuthorisationOutOfScopeError):  # another lender's authorisation
        bid(loan, b, "100.00", authorization={"method": "standing", "id": a.auth.pk})
    with pytest.raises(AuthorisationOutOfScopeError):  # the borrower's fee authorisation is not a bid's
        bid(loan, b, "100.00", authorization={"method": "standing", "id": borrower.fee_auth.pk})
    with pytest.raises(AuthorisationLimitError) as refused:
        bid(loan, a, "500.01")
    assert refused.value.data["limit"] == "per_instruction"
    bid(loan, a, "500.00")
    with pytest.raises(AuthorisationLimitError) as refused:
        bid(loan, a, "300.01")
    assert refused.value.data == {"id": str(a.auth.pk), "limit": "cumulative", "remaining": "300.00"}
    first = bid(loan, a, "300.00")
    assert first.authorisation_id == a.auth.pk and fresh(a.auth).consumed == Decimal("800.00")
    standing_authorisation_revoke(authorisation_id=b.auth.pk, actor_label="client")
    with pytest.raises(AuthorisationNotInForceError) as refused:
        bid(loan, b, "1.00")
    assert "revoked" in str(refused.value)
    expired = grant(b, "bid")
    StandingAuthorisation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(AuthorisationNotInForceError):
        bid(loan, b, "1.00", authorization={"method": "standing", "id": expired.pk})


def test_r_dep_02_disbursement_fee_needs_the_borrowers_fee_authorisation(new_loan, lender, bid):
    loan = new_loan("1000.00")
    bid(loan, lender(), "1000.00")
    with pytest.raises(FieldValidationError):
        loans.loan_disburse(loan_id=loan.pk)
    with pytest.raises(AuthorisationMethodRefusedError):
        loans.loan_disburse(loan_id=loan.pk, authorization={"method": "password", "password": "135790"})
    assert fresh(loan).state == Loan.State.FULL


# -- repayment ------------------------------------------------------------------------------------


@pytest.fixture
def disbursed(new_loan, lender, bid, borrower, fund):
    """A 10,000.00 loan over 3 months at 12 % raised by three lenders (1/3 each, odd fen)."""

    def make(**kwargs):
        lenders = [lender(), lender(), lender()]
        loan = new_loan("10000.00", **kwargs)
        _raise(loan, [(lenders[0], "3333.33"), (lenders[1], "3333.33"), (lenders[2], "3333.34")], bid)
        loan = loans.loan_disburse(loan_id=loan.pk, authorization={"method": "standing", "id": borrower.fee_auth.pk})
        fund(borrower.account, Decimal("1000.00"))  # the borrower's own money for the interest
        return loan, lenders

    return make


def _repay(loan, payer, auth, *, today=None, **kwargs):
    return loans.instalment_repay(
        loan_id=loan.pk,
        payer_number=payer.account.number,
        out_request_no=kwargs.pop(
            "out_request_no", f"R{loan.pk}-{LoanInstalment.objects.filter(loan=loan, state='paid').count() + 1}"
        ),
        authorization={"method": "standing", "id": auth.pk},
        today=today,
        **kwargs,
    )


def test_repayment_is_one_voucher_split_to_the_fen_and_settles_the_loan(disbursed, borrower):
    loan, lenders = disbursed()
    credited = Decimal("0.00")
    for number in (1, 2, 3):
        instalment = loan.instalments.get(number=number)
        repayment = _repay(loan, borrower, borrower.fee_auth, today=instalment.due_date)
        voucher = repayment.transfer
        assert voucher.kind == loans.KIND_REPAYMENT and voucher.metadata["authorisation"] == borrower.fee_auth.pk
        entries = list(Entry.objects.filter(transfer=voucher))
        debit = [e for e in entries if e.side == "D"]
        credit = [e for e in entries if e.side == "C"]
        assert [(e.account_id, e.amount) for e in debit] == [(borrower.account_id, instalment.total)]
        assert sum(e.amount for e in credit) == instalment.total
        shares = voucher.metadata["shares"]
        assert sum(Decimal(s["principal"]) for s in shares) == instalment.principal
        assert sum(Decimal(s["interest"]) for s in shares) == instalment.interest
        credited += instalment.total
    loan = fresh(loan)
    assert loan.state == Loan.State.REPAID and loan.principal_repaid == Decimal("10000.00")
    assert sum(fresh(sub.account).balance for sub in lenders) == 3 * Decimal("10000.00") - Decimal("10000.00") + credited


def test_repayment_refuses_early_out_of_order_and_partial(disbursed, borrower):
    loan, _lenders = disbursed()
    first = loan.instalments.get(number=1)
    with pytest.raises(RepaymentRefusedError):
        _repay(loan, borrower, borrower.fee_auth, number=2)
    with pytest.raises(RepaymentRefusedError):
        _repay(loan, borrower, borrower.fee_auth, amount="100.00")
    _repay(loan, borrower, borrower.fee_auth, amount=str(first.total))
    with pytest.raises(RepaymentRefusedError) as refused:  # instalment 2's month has not begun
        _repay(loan, borrower, borrower.fee_auth)
    assert "early" in str(refused.value)


def test_overdue_instalment_paid_by_compensation_carries_overdue_interest_and_records_the_debt(
    disbursed, borrower, platform, open_sub, grant, fund
):
    loan, lenders = disbursed()
    payer = open_sub(platform, "compensation")
    fund_auth = grant(payer, "compensation")
    instalment = loan.instalments.get(number=1)
    with pytest.raises(PayerNotAllowedError):  # not overdue yet
        _repay(loan, payer, fund_auth, today=instalment.due_date)
    late = instalment.due_date + dt.timedelta(days=10)
    fund(payer.account, Decimal("5000.00"))
    repayment = _repay(loan, payer, fund_auth, today=late)
    # (3300.22 + 100.00) × 0.18 × 10 / 360 = 17.0011 → 17.00
    assert repayment.overdue_days == 10 and repayment.overdue_interest == Decimal("17.00")
    assert repayment.transfer.metadata["payer_role"] == "compensation"
    debt = RepaymentDebt.objects.get(repayment=repayment)
    assert (debt.borrower_id, debt.creditor_id, debt.amount) == (borrower.pk, payer.pk, Decimal("3417.22"))
    assert outstanding_debt.get("custody.loans")(borrower.account) is True


def test_outstanding_loans_count_as_debt_for_r_acc_18(disbursed, borrower, new_loan):
    assert outstanding_debt.get("custody.loans")(borrower.account) is False
    loan, _lenders = disbursed()
    assert outstanding_debt.get("custody.loans")(borrower.account) is True


def test_webhooks_and_audit_for_a_loans_life(platform, new_loan, lender, bid, borrower, django_capture_on_commit_callbacks):
    webhook_endpoint_create(
        owner=platform.owner,
        url="https://platform.example.com/hooks",
        event_types=["bid.placed", "loan.full", "loan.disbursed", "instalment.repaid"],
    )
    loan = new_loan("1000.00")
    bid(loan, lender(), "1000.00")
    loans.loan_disburse(loan_id=loan.pk, authorization={"method": "standing", "id": borrower.fee_auth.pk})
    events = list(WebhookDelivery.objects.filter(owner=platform.owner).order_by("pk").values_list("event", flat=True))
    assert events == ["bid.placed", "loan.full", "loan.disbursed"]
    actions = set(AuditLog.objects.filter(action__startswith="custody.loan.").values_list("action", flat=True))
    assert {"custody.loan.create", "custody.loan.bid", "custody.loan.disburse"} <= actions
