"""Class II limits (R-ACC-06 … R-ACC-09), calendar periods in Asia/Shanghai, shared per person."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import uuid4

import pytest
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Hold
from accounts.ledger.selectors import internal_account
from accounts.limits.services import (
    Flow,
    FlowDeclarationError,
    FlowKind,
    LimitExceededError,
    TierFlowNotAllowedError,
    account_record_face_to_face,
    limit_guard,
    limits_remaining,
    local_date,
)
from accounts.tests.limits_helpers import at, counters, open_active, post, snapshot

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def person(make_party):
    return make_party("李四")


@pytest.fixture
def class2(person):
    return open_active(person, "II")


@pytest.fixture
def class2_f2f(class2):
    """A Class II account whose holder was confirmed face to face (cash, non-bound inflows allowed)."""
    account_record_face_to_face(account_id=class2.pk)
    return Account.objects.get(pk=class2.pk)


def refused(exc_info, limit: str, remaining: str):
    assert exc_info.value.code == "limit_exceeded"
    assert exc_info.value.http_status == 409
    assert exc_info.value.data == {"limit": limit, "remaining": remaining}
    assert limit in str(exc_info.value) and remaining in str(exc_info.value)


def test_r_acc_06_class2_inflow_daily_limit_at_limit_and_one_fen_over(person, class2_f2f):
    day = at(2026, 12, 1, 10)
    post(class2_f2f, FlowKind.NON_BOUND_INFLOW, "6000.00", when=day)
    post(class2_f2f, FlowKind.CASH_DEPOSIT, "4000.00", when=day)  # at the limit: accepted
    before = snapshot(person)

    with pytest.raises(LimitExceededError) as exc_info:
        post(class2_f2f, FlowKind.NON_BOUND_INFLOW, "0.01", when=day)

    refused(exc_info, "II_inflow_day", "0.00")
    assert snapshot(person) == before  # refused whole: balances, counters, vouchers unchanged
    assert counters(person)[("II", "inflow", "day", "2026-12-01")] == D("10000.00")
    post(class2_f2f, FlowKind.CASH_DEPOSIT, "0.01", when=at(2026, 12, 2, 0))  # the next calendar day is fresh


def test_r_acc_06_class2_inflow_refused_names_what_remains(class2_f2f):
    day = at(2026, 12, 1)
    post(class2_f2f, FlowKind.NON_BOUND_INFLOW, "8765.55", when=day)
    with pytest.raises(LimitExceededError) as exc_info:
        post(class2_f2f, FlowKind.CASH_DEPOSIT, "1234.46", when=day)
    refused(exc_info, "II_inflow_day", "1234.45")
    post(class2_f2f, FlowKind.CASH_DEPOSIT, "1234.45", when=day)


def test_r_acc_06_class2_inflow_yearly_limit_at_limit_and_one_fen_over(person, class2_f2f):
    for day in range(1, 21):  # 20 days × 10,000 = 200,000
        post(class2_f2f, FlowKind.NON_BOUND_INFLOW, "10000.00", when=at(2026, 11, day))
    before = snapshot(person)
    with pytest.raises(LimitExceededError) as exc_info:
        post(class2_f2f, FlowKind.NON_BOUND_INFLOW, "0.01", when=at(2026, 11, 21))
    refused(exc_info, "II_inflow_year", "0.00")
    assert snapshot(person) == before
    post(class2_f2f, FlowKind.NON_BOUND_INFLOW, "10000.00", when=at(2027, 1, 1, 0))  # a new calendar year


def test_r_acc_07_class2_outflow_daily_limit_at_limit_and_one_fen_over(person, class2_f2f):
    day = at(2026, 12, 1)
    post(class2_f2f, FlowKind.BOUND_INFLOW, "50000.00", when=day)
    post(class2_f2f, FlowKind.PAYMENT, "5000.00", when=day)
    post(class2_f2f, FlowKind.NON_BOUND_OUTFLOW, "3000.00", when=day)
    post(class2_f2f, FlowKind.CASH_WITHDRAWAL, "2000.00", when=day)  # 10,000: at the limit
    before = snapshot(person)

    for kind in (FlowKind.PAYMENT, FlowKind.NON_BOUND_OUTFLOW, FlowKind.CASH_WITHDRAWAL):
        with pytest.raises(LimitExceededError) as exc_info:
            post(class2_f2f, kind, "0.01", when=day)
        refused(exc_info, "II_outflow_day", "0.00")

    assert snapshot(person) == before
    assert Account.objects.get(pk=class2_f2f.pk).balance == D("40000.00")


def test_r_acc_07_class2_outflow_yearly_limit_is_a_calendar_year(person, class2):
    post(class2, FlowKind.BOUND_INFLOW, "250000.00", when=at(2026, 12, 1))
    for day in range(12, 32):  # 20 December days × 10,000 = 200,000
        post(class2, FlowKind.PAYMENT, "10000.00", when=at(2026, 12, day, 9))
    with pytest.raises(LimitExceededError) as exc_info:
        post(class2, FlowKind.PAYMENT, "0.01", when=at(2026, 12, 31, 23, 59, 59))
    refused(exc_info, "II_outflow_day", "0.00")  # the day is full too; the day check is named first
    with pytest.raises(LimitExceededError) as exc_info:
        post(class2, FlowKind.PAYMENT, "0.01", when=at(2026, 12, 11))
    refused(exc_info, "II_outflow_year", "0.00")
    post(class2, FlowKind.PAYMENT, "10000.00", when=at(2027, 1, 1, 0, 0, 0))  # calendar, not rolling
    assert counters(person)[("II", "outflow", "year", "2026")] == D("200000.00")
    assert counters(person)[("II", "outflow", "year", "2027")] == D("10000.00")


def test_r_acc_07_days_are_asia_shanghai_calendar_days(person, class2):
    post(class2, FlowKind.BOUND_INFLOW, "30000.00", when=at(2026, 12, 1))
    utc = dt.UTC
    last_second = dt.datetime(2026, 12, 1, 15, 59, 59, tzinfo=utc)  # 23:59:59 in Shanghai
    first_second = dt.datetime(2026, 12, 1, 16, 0, 0, tzinfo=utc)  # 00:00:00 the next Shanghai day
    post(class2, FlowKind.PAYMENT, "10000.00", when=last_second)
    with pytest.raises(LimitExceededError):
        post(class2, FlowKind.PAYMENT, "0.01", when=last_second)
    post(class2, FlowKind.PAYMENT, "10000.00", when=first_second)
    assert counters(person)[("II", "outflow", "day", "2026-12-01")] == D("10000.00")
    assert counters(person)[("II", "outflow", "day", "2026-12-02")] == D("10000.00")


def test_r_acc_07_the_ledger_time_is_used_without_an_override(person, class2):
    post(class2, FlowKind.BOUND_INFLOW, "100.00", when=at(2026, 12, 1))
    account = Account.objects.get(pk=class2.pk)
    clearing = internal_account(Role.CLEARING)
    ledger.post_transfer(
        client="t",
        idempotency_key=str(uuid4()),
        kind="payment",
        legs=ledger.move(from_account_id=account.pk, to_account_id=clearing.pk, amount=D("10.00")),
        guards=[limit_guard(flows=[Flow(account.pk, FlowKind.PAYMENT)])],
    )
    today = local_date(timezone.now()).isoformat()
    assert counters(person)[("II", "outflow", "day", today)] == D("10.00")


def test_r_acc_08_bound_transfers_and_wealth_purchases_do_not_count(person, class2):
    day = at(2026, 12, 1)
    post(class2, FlowKind.BOUND_INFLOW, "60000.00", when=day)
    post(class2, FlowKind.BOUND_OUTFLOW, "20000.00", when=day)
    post(class2, FlowKind.WEALTH_PURCHASE, "20000.00", when=day)
    post(class2, FlowKind.WEALTH_REDEMPTION, "5000.00", when=day)
    for kind in (FlowKind.LOAN_DISBURSEMENT, FlowKind.INTEREST):
        post(class2, kind, "100.00", when=day)
    for kind in (FlowKind.LOAN_REPAYMENT, FlowKind.FEE, FlowKind.JUDICIAL):
        post(class2, kind, "100.00", when=day)
    assert counters(person) == {}  # no limit bucket was touched

    post(class2, FlowKind.PAYMENT, "10000.00", when=day)  # the whole daily outflow is still there
    assert counters(person)[("II", "outflow", "day", "2026-12-01")] == D("10000.00")


def test_r_acc_09_class2_cash_and_non_bound_inflow_need_face_to_face(person, class2):
    day = at(2026, 12, 1)
    post(class2, FlowKind.BOUND_INFLOW, "1000.00", when=day)
    before = snapshot(person)
    for kind in (FlowKind.CASH_DEPOSIT, FlowKind.CASH_WITHDRAWAL, FlowKind.NON_BOUND_INFLOW):
        with pytest.raises(TierFlowNotAllowedError) as exc_info:
            post(class2, kind, "10.00", when=day)
        assert exc_info.value.code == "tier_flow_not_allowed"
        assert exc_info.value.data["reason"] == "face_to_face_required"
    assert snapshot(person) == before
    post(class2, FlowKind.PAYMENT, "10.00", when=day)  # payments need no face-to-face confirmation

    account_record_face_to_face(account_id=class2.pk)
    for kind in (FlowKind.CASH_DEPOSIT, FlowKind.CASH_WITHDRAWAL, FlowKind.NON_BOUND_INFLOW):
        post(class2, kind, "10.00", when=day)
    assert counters(person)[("II", "inflow", "day", "2026-12-01")] == D("20.00")
    assert counters(person)[("II", "outflow", "day", "2026-12-01")] == D("20.00")


def test_class2_limits_are_shared_across_the_persons_class2_accounts(person, make_party):
    first, second = open_active(person, "II"), open_active(person, "II")
    stranger = open_active(make_party("王五"), "II")
    day = at(2026, 12, 1)
    for account in (first, second, stranger):
        post(account, FlowKind.BOUND_INFLOW, "10000.00", when=day)
    post(first, FlowKind.PAYMENT, "6000.00", when=day)
    post(second, FlowKind.NON_BOUND_OUTFLOW, "4000.00", when=day)
    with pytest.raises(LimitExceededError) as exc_info:
        post(second, FlowKind.PAYMENT, "0.01", when=day)
    refused(exc_info, "II_outflow_day", "0.00")
    with pytest.raises(LimitExceededError):
        post(first, FlowKind.PAYMENT, "0.01", when=day)
    post(stranger, FlowKind.PAYMENT, "10000.00", when=day)  # another person has their own limits
    assert counters(person) == {
        ("II", "outflow", "day", "2026-12-01"): D("10000.00"),
        ("II", "outflow", "year", "2026"): D("10000.00"),
    }


def test_class2_hold_capture_counts_and_is_refused_whole(person, class2, clearing):
    day = at(2026, 12, 1)
    post(class2, FlowKind.BOUND_INFLOW, "20000.00", when=day)
    post(class2, FlowKind.PAYMENT, "9000.00", when=day)
    hold = ledger.hold_place(client="t", idempotency_key="h1", account_id=class2.pk, amount=D("1000.01"), reason="withdrawal")
    before = snapshot(person)
    with pytest.raises(LimitExceededError) as exc_info:
        ledger.hold_capture(
            client="t",
            idempotency_key="c1",
            hold_id=hold.pk,
            to_account_id=clearing.pk,
            kind="withdrawal",
            guards=[limit_guard(flows=[Flow(class2.pk, FlowKind.NON_BOUND_OUTFLOW)], at=day)],
        )
    refused(exc_info, "II_outflow_day", "1000.00")
    assert snapshot(person) == before
    assert Hold.objects.get(pk=hold.pk).state == Hold.State.ACTIVE

    ledger.hold_capture(
        client="t",
        idempotency_key="c2",
        hold_id=hold.pk,
        to_account_id=clearing.pk,
        kind="withdrawal",
        amount=D("1000.00"),
        guards=[limit_guard(flows=[Flow(class2.pk, FlowKind.NON_BOUND_OUTFLOW)], at=day)],
    )
    assert counters(person)[("II", "outflow", "day", "2026-12-01")] == D("10000.00")


def test_class2_movement_without_a_declared_flow_is_a_programming_error(class2, clearing):
    with pytest.raises(FlowDeclarationError):
        ledger.post_transfer(
            client="t",
            idempotency_key="x",
            kind="funding",
            legs=ledger.move(from_account_id=clearing.pk, to_account_id=class2.pk, amount=D("1.00")),
            guards=[limit_guard(flows=[])],
        )
    with pytest.raises(FlowDeclarationError):  # declared outflow, but the legs credit the account
        ledger.post_transfer(
            client="t",
            idempotency_key="y",
            kind="funding",
            legs=ledger.move(from_account_id=clearing.pk, to_account_id=class2.pk, amount=D("1.00")),
            guards=[limit_guard(flows=[Flow(class2.pk, FlowKind.PAYMENT)])],
        )


def test_class2_replayed_posting_counts_once(person, class2, clearing):
    day = at(2026, 12, 1)
    post(class2, FlowKind.BOUND_INFLOW, "100.00", when=day)
    kwargs = {
        "client": "t",
        "idempotency_key": "pay-1",
        "kind": "payment",
        "legs": ledger.move(from_account_id=class2.pk, to_account_id=clearing.pk, amount=D("10.00")),
        "guards": [limit_guard(flows=[Flow(class2.pk, FlowKind.PAYMENT)], at=day)],
    }
    first = ledger.post_transfer(**kwargs)
    assert ledger.post_transfer(**kwargs).pk == first.pk
    assert counters(person)[("II", "outflow", "day", "2026-12-01")] == D("10.00")


def test_class2_limits_remaining(person, class2_f2f):
    day = at(2026, 12, 1)
    post(class2_f2f, FlowKind.NON_BOUND_INFLOW, "2500.00", when=day)
    post(class2_f2f, FlowKind.PAYMENT, "100.50", when=day)
    rows = {row["limit"]: row for row in limits_remaining(account=class2_f2f, on=dt.date(2026, 12, 1))}
    assert rows["II_inflow_day"] == {
        "limit": "II_inflow_day",
        "period": "day",
        "amount": D("10000.00"),
        "used": D("2500.00"),
        "remaining": D("7500.00"),
    }
    assert rows["II_inflow_year"]["remaining"] == D("197500.00")
    assert rows["II_outflow_day"]["remaining"] == D("9899.50")
    assert rows["II_outflow_year"]["used"] == D("100.50")
    next_day = {row["limit"]: row for row in limits_remaining(account=class2_f2f, on=dt.date(2026, 12, 2))}
    assert next_day["II_outflow_day"]["used"] == D("0.00")
    assert next_day["II_outflow_year"]["used"] == D("100.50")


def test_class1_accounts_have_no_tier_limits(make_account):
    account = make_account(tier="I")
    assert limits_remaining(account=account, on=dt.date(2026, 12, 1)) == []
    post(account, FlowKind.CASH_DEPOSIT, "50000.00", when=at(2026, 12, 1))
    post(account, FlowKind.PAYMENT, "20000.00", when=at(2026, 12, 1))
    post(account, FlowKind.CASH_WITHDRAWAL, "20000.00", when=at(2026, 12, 1))
    assert Account.objects.get(pk=account.pk).balance == D("10000.00")


def test_r_acc_07_class2_withdrawal_counted_on_acceptance_and_given_back_on_failure(person, class2, clearing):
    from django.db import transaction

    from accounts.limits.services import limits_consume, limits_release

    day = at(2026, 12, 1)
    post(class2, FlowKind.BOUND_INFLOW, "20000.00", when=day)
    post(class2, FlowKind.PAYMENT, "9000.00", when=day)

    def accept(key: str, amount: str):
        with transaction.atomic():
            account = Account.objects.select_for_update().get(pk=class2.pk)
            hold = ledger.hold_place(
                client="t", idempotency_key=key, account_id=account.pk, amount=D(amount), reason="withdrawal"
            )
            limits_consume(account=account, kind=FlowKind.NON_BOUND_OUTFLOW, amount=amount, at=day)
            return hold

    hold = accept("w1", "1000.00")  # at the limit
    with pytest.raises(LimitExceededError) as exc_info:
        accept("w2", "0.01")
    refused(exc_info, "II_outflow_day", "0.00")
    assert Hold.objects.filter(account=class2).count() == 1  # the refused acceptance froze nothing

    with transaction.atomic():  # the channel said failure: unfreeze and give the limit back
        account = Account.objects.select_for_update().get(pk=class2.pk)
        ledger.hold_release(client="t", idempotency_key="w1-release", hold_id=hold.pk)
        limits_release(account=account, kind=FlowKind.NON_BOUND_OUTFLOW, amount="1000.00", at=day)
    assert counters(person)[("II", "outflow", "day", "2026-12-01")] == D("9000.00")
    with pytest.raises(FlowDeclarationError):
        limits_consume(account=class2, kind=FlowKind.BOUND_INFLOW, amount="1.00", at=day)
