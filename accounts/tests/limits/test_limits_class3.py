"""Class III limits (R-ACC-10 … R-ACC-14) and the dated rule sets (R-ACC-15)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.ledger.errors import InsufficientFundsError, InvalidStateError
from accounts.ledger.models import Account
from accounts.limits.models import KycTask, LimitRule
from accounts.limits.services import (
    FlowKind,
    LimitExceededError,
    TierFlowNotAllowedError,
    account_record_face_to_face,
    account_record_non_bound_inflow_consent,
    kyc_task_complete,
    kyc_tasks_mark_overdue,
    limits_remaining,
    rule_set_in_force,
)
from accounts.tasks import kyc_tasks_mark_overdue as kyc_tasks_mark_overdue_task
from accounts.tests.limits_helpers import at, counters, open_active, post, snapshot
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def person(make_party):
    return make_party("赵六")


@pytest.fixture
def class3(person):
    return open_active(person, "III")


def refused(exc_info, limit: str, remaining: str):
    assert exc_info.value.code == "limit_exceeded"
    assert exc_info.value.data == {"limit": limit, "remaining": remaining}


def balance(account) -> Decimal:
    return Account.objects.get(pk=account.pk).balance


def enable_non_bound_inflow(account, when):
    """16号 path: a verifying inflow from the bound account, then the holder's consent."""
    post(account, FlowKind.BOUND_INFLOW, "0.01", when=when)
    post(account, FlowKind.BOUND_OUTFLOW, "0.01", when=when)
    account_record_non_bound_inflow_consent(account_id=account.pk)
    return Account.objects.get(pk=account.pk)


# -- R-ACC-10 balance cap ----------------------------------------------------------------


def test_r_acc_10_class3_balance_cap_at_limit_and_one_fen_over_including_bound_and_loan(person, class3):
    day = at(2026, 12, 1)
    post(class3, FlowKind.BOUND_INFLOW, "1500.00", when=day)
    post(class3, FlowKind.LOAN_DISBURSEMENT, "500.00", when=day)  # 2,000.00: at the cap
    before = snapshot(person)
    for kind in (FlowKind.LOAN_DISBURSEMENT, FlowKind.BOUND_INFLOW, FlowKind.INTEREST):
        with pytest.raises(LimitExceededError) as exc_info:
            post(class3, kind, "0.01", when=day)
        refused(exc_info, "III_balance_moment", "0.00")
    assert snapshot(person) == before
    post(class3, FlowKind.LOAN_REPAYMENT, "300.00", when=day)
    with pytest.raises(LimitExceededError) as exc_info:
        post(class3, FlowKind.BOUND_INFLOW, "300.01", when=day)
    refused(exc_info, "III_balance_moment", "300.00")
    post(class3, FlowKind.BOUND_INFLOW, "300.00", when=day)
    assert balance(class3) == D("2000.00")


def test_r_acc_10_class3_outflow_from_above_the_cap_is_allowed(person, class3, fund):
    fund(class3, "2500.00")  # e.g. a balance from before a lower cap took effect (no guard)
    post(class3, FlowKind.BOUND_OUTFLOW, "100.00", when=at(2026, 12, 1))
    with pytest.raises(LimitExceededError):
        post(class3, FlowKind.BOUND_INFLOW, "0.01", when=at(2026, 12, 1))


# -- R-ACC-11 outflow --------------------------------------------------------------------


def test_r_acc_11_class3_outflow_daily_limit_at_limit_and_one_fen_over(person, class3):
    day = at(2026, 12, 1)
    post(class3, FlowKind.BOUND_INFLOW, "2000.00", when=day)
    post(class3, FlowKind.PAYMENT, "1200.00", when=day)
    post(class3, FlowKind.NON_BOUND_OUTFLOW, "800.00", when=day)  # 2,000.00: at the limit
    post(class3, FlowKind.BOUND_INFLOW, "2000.00", when=day)
    before = snapshot(person)
    for kind in (FlowKind.PAYMENT, FlowKind.NON_BOUND_OUTFLOW):
        with pytest.raises(LimitExceededError) as exc_info:
            post(class3, kind, "0.01", when=day)
        refused(exc_info, "III_outflow_day", "0.00")
    assert snapshot(person) == before
    post(class3, FlowKind.LOAN_REPAYMENT, "1000.00", when=day)  # loan repayment is excluded
    post(class3, FlowKind.BOUND_OUTFLOW, "1000.00", when=day)  # so is the bound account
    assert counters(person)[("III", "outflow", "day", "2026-12-01")] == D("2000.00")


def test_r_acc_11_class3_outflow_yearly_limit_at_limit_and_one_fen_over(person, class3):
    for day in range(1, 26):  # 25 days × 2,000 = 50,000
        post(class3, FlowKind.BOUND_INFLOW, "2000.00", when=at(2026, 11, day))
        post(class3, FlowKind.PAYMENT, "2000.00", when=at(2026, 11, day))
    post(class3, FlowKind.BOUND_INFLOW, "2000.00", when=at(2026, 11, 26))
    before = snapshot(person)
    with pytest.raises(LimitExceededError) as exc_info:
        post(class3, FlowKind.PAYMENT, "0.01", when=at(2026, 11, 26))
    refused(exc_info, "III_outflow_year", "0.00")
    assert snapshot(person) == before
    post(class3, FlowKind.PAYMENT, "2000.00", when=at(2027, 1, 1, 0))


# -- R-ACC-12 non-bound inflow -----------------------------------------------------------


def test_r_acc_12_class3_non_bound_inflow_needs_verifying_inflow_and_consent(person, class3):
    day = at(2026, 12, 1)
    with pytest.raises(TierFlowNotAllowedError) as exc_info:
        post(class3, FlowKind.NON_BOUND_INFLOW, "10.00", when=day)
    assert exc_info.value.data["reason"] == "non_bound_inflow_not_enabled"

    account_record_non_bound_inflow_consent(account_id=class3.pk)  # consent alone is not enough
    with pytest.raises(TierFlowNotAllowedError):
        post(class3, FlowKind.NON_BOUND_INFLOW, "10.00", when=day)

    post(class3, FlowKind.BOUND_INFLOW, "100.00", when=day)  # the verifying inflow, recorded
    assert Account.objects.get(pk=class3.pk).verifying_inflow_at == day
    post(class3, FlowKind.NON_BOUND_INFLOW, "10.00", when=day)

    account_record_non_bound_inflow_consent(account_id=class3.pk, consented=False)  # consent withdrawn
    with pytest.raises(TierFlowNotAllowedError):
        post(class3, FlowKind.NON_BOUND_INFLOW, "10.00", when=day)


def test_r_acc_12_class3_verifying_inflow_without_consent_is_not_enough(class3):
    day = at(2026, 12, 1)
    post(class3, FlowKind.BOUND_INFLOW, "100.00", when=day)
    with pytest.raises(TierFlowNotAllowedError):
        post(class3, FlowKind.NON_BOUND_INFLOW, "10.00", when=day)


def test_r_acc_12_class3_face_to_face_enables_non_bound_inflow(person):
    account = open_active(person, "III")
    account_record_face_to_face(account_id=account.pk)
    post(account, FlowKind.NON_BOUND_INFLOW, "10.00", when=at(2026, 12, 1))
    post(account, FlowKind.NON_BOUND_INFLOW, "10.00", when=at(2017, 6, 1))  # 302号: face to face works


def test_r_acc_12_class3_consent_does_not_enable_non_bound_inflow_under_302(class3):
    account = enable_non_bound_inflow(class3, at(2017, 6, 1))
    with pytest.raises(TierFlowNotAllowedError):
        post(account, FlowKind.NON_BOUND_INFLOW, "10.00", when=at(2017, 6, 1))
    post(account, FlowKind.NON_BOUND_INFLOW, "10.00", when=at(2019, 6, 1))


def test_r_acc_12_class3_non_bound_inflow_daily_limit_at_limit_and_one_fen_over(person, class3):
    day = at(2026, 12, 1)
    account = enable_non_bound_inflow(class3, day)
    for amount in ("2000.00", "2000.00", "1000.00"):  # 5,000.00 in a day, drained to the bound account
        post(account, FlowKind.NON_BOUND_INFLOW, amount, when=day)
        post(account, FlowKind.BOUND_OUTFLOW, amount, when=day)
    before = snapshot(person)
    with pytest.raises(LimitExceededError) as exc_info:
        post(account, FlowKind.NON_BOUND_INFLOW, "0.01", when=day)
    refused(exc_info, "III_non_bound_inflow_day", "0.00")
    assert snapshot(person) == before
    post(account, FlowKind.BOUND_INFLOW, "2000.00", when=day)  # bound inflows are not in this bucket


def test_r_acc_12_class3_non_bound_inflow_yearly_limit_at_limit_and_one_fen_over(person, class3):
    account = enable_non_bound_inflow(class3, at(2026, 1, 1))
    for day in range(1, 21):  # 20 days × 5,000 = 100,000
        when = at(2026, 2, day)
        for amount in ("2000.00", "2000.00", "1000.00"):
            post(account, FlowKind.NON_BOUND_INFLOW, amount, when=when)
            post(account, FlowKind.BOUND_OUTFLOW, amount, when=when)
    before = snapshot(person)
    with pytest.raises(LimitExceededError) as exc_info:
        post(account, FlowKind.NON_BOUND_INFLOW, "0.01", when=at(2026, 2, 21))
    refused(exc_info, "III_non_bound_inflow_year", "0.00")
    assert snapshot(person) == before


def test_r_acc_12_consent_applies_to_class3_only(make_party):
    class2 = open_active(make_party("钱七"), "II")
    with pytest.raises(InvalidStateError):
        account_record_non_bound_inflow_consent(account_id=class2.pk)


# -- R-ACC-13 refused flows --------------------------------------------------------------


def test_r_acc_13_class3_cash_and_wealth_refused_and_no_overdraft(person, class3):
    day = at(2026, 12, 1)
    post(class3, FlowKind.BOUND_INFLOW, "500.00", when=day)
    account_record_face_to_face(account_id=class3.pk)  # face to face does not unlock cash for Class III
    before = snapshot(person)
    for kind in (FlowKind.CASH_DEPOSIT, FlowKind.CASH_WITHDRAWAL, FlowKind.WEALTH_PURCHASE):
        with pytest.raises(TierFlowNotAllowedError) as exc_info:
            post(class3, kind, "10.00", when=day)
        assert exc_info.value.data["reason"] == "not_allowed_for_class_iii"
    with pytest.raises(InsufficientFundsError):
        post(class3, FlowKind.PAYMENT, "500.01", when=day)
    assert snapshot(person) == before
    post(class3, FlowKind.PAYMENT, "500.00", when=day)
    assert balance(class3) == D("0.00")


# -- R-ACC-14 KYC task -------------------------------------------------------------------


def test_r_acc_14_class3_two_way_cumulative_opens_one_kyc_task(person):
    first, second = open_active(person, "III"), open_active(person, "III")
    # 12 days × (2,000 in + 2,000 out) alternating accounts = 48,000; then 1,999.99 in.
    for day in range(1, 13):
        account = first if day % 2 else second
        post(account, FlowKind.BOUND_INFLOW, "2000.00", when=at(2026, 11, day))
        post(account, FlowKind.BOUND_OUTFLOW, "2000.00", when=at(2026, 11, day))
    post(first, FlowKind.INTEREST, "1.00", when=at(2026, 11, 13))  # interest and fees are not two-way flows
    post(first, FlowKind.FEE, "1.00", when=at(2026, 11, 13))
    post(first, FlowKind.BOUND_INFLOW, "1999.99", when=at(2026, 11, 13))
    assert counters(person)[("III", "two_way", "total", "all")] == D("49999.99")
    assert not KycTask.objects.exists()

    post(second, FlowKind.LOAN_DISBURSEMENT, "0.01", when=at(2026, 11, 14, 23, 59, 59))  # reaches 50,000.00
    task = KycTask.objects.get()
    assert (task.party_id, task.trigger, task.state) == (person.pk, "class3_two_way", "open")
    assert task.trigger_date == dt.date(2026, 11, 14)
    assert task.due_date == dt.date(2026, 11, 21)
    assert task.cumulative == D("50000.00")
    assert not task.overdue
    assert AuditLog.objects.filter(action="kyc_task.open", target_id=str(task.pk)).exists()

    post(second, FlowKind.PAYMENT, "0.01", when=at(2026, 11, 15))
    post(first, FlowKind.BOUND_OUTFLOW, "1999.99", when=at(2026, 11, 15))
    assert KycTask.objects.count() == 1  # exactly once per trigger


def test_r_acc_14_refused_posting_opens_no_kyc_task(person, class3):
    for day in range(1, 13):  # 48,000 two-way
        post(class3, FlowKind.BOUND_INFLOW, "2000.00", when=at(2026, 11, day))
        post(class3, FlowKind.BOUND_OUTFLOW, "2000.00", when=at(2026, 11, day))
    with pytest.raises(LimitExceededError):  # would reach 50,000.01 but passes the balance cap
        post(class3, FlowKind.BOUND_INFLOW, "2000.01", when=at(2026, 11, 13))
    assert not KycTask.objects.exists()
    assert counters(person)[("III", "two_way", "total", "all")] == D("48000.00")
    post(class3, FlowKind.BOUND_INFLOW, "2000.00", when=at(2026, 11, 13))
    assert KycTask.objects.get().trigger_date == dt.date(2026, 11, 13)


def _open_kyc_task(person):
    account = open_active(person, "III")
    for day in range(1, 14):
        post(account, FlowKind.BOUND_INFLOW, "2000.00", when=at(2026, 11, day))
        post(account, FlowKind.BOUND_OUTFLOW, "2000.00", when=at(2026, 11, day))
    return account, KycTask.objects.get(party=person)


def test_r_acc_14_overdue_kyc_task_is_flagged_once_and_done_closes_it(person, settings):
    settings.ACCOUNTS_KYC_OVERDUE_ACTION = "flag"
    account, task = _open_kyc_task(person)
    assert task.due_date == dt.date(2026, 11, 20)
    assert kyc_tasks_mark_overdue(today=dt.date(2026, 11, 20)) == 0  # due today: not overdue yet
    assert kyc_tasks_mark_overdue(today=dt.date(2026, 11, 21)) == 1
    assert kyc_tasks_mark_overdue(today=dt.date(2026, 11, 22)) == 0  # idempotent
    task = KycTask.objects.get(pk=task.pk)
    assert task.overdue and task.state == "open"
    assert Account.objects.get(pk=account.pk).state == "active"  # the "flag" action: flag only

    task = kyc_task_complete(task_id=task.pk, note="ID checked at the counter")
    assert task.state == "done" and task.done_at is not None
    with pytest.raises(InvalidStateError):
        kyc_task_complete(task_id=task.pk)


def test_r_acc_14_default_overdue_action_suspends_non_counter_until_done(person):
    # given no ACCOUNTS_KYC_OVERDUE_ACTION configured: the rule's restriction is the default
    from accounts import conf

    assert conf.kyc_overdue_action() == "suspend_non_counter"
    account, task = _open_kyc_task(person)
    assert kyc_tasks_mark_overdue(today=task.due_date) == 0  # due today: not overdue, not restricted
    assert Account.objects.get(pk=account.pk).state == "active"
    assert kyc_tasks_mark_overdue(today=task.due_date + dt.timedelta(days=1)) == 1
    assert Account.objects.get(pk=account.pk).state == "non_counter_suspended"
    assert AuditLog.objects.filter(action="account.suspend_non_counter", target_id=str(account.pk)).count() == 1
    assert kyc_tasks_mark_overdue(today=task.due_date + dt.timedelta(days=2)) == 0  # once
    kyc_task_complete(task_id=task.pk)
    assert Account.objects.get(pk=account.pk).state == "active"


def test_r_acc_14_flag_action_stays_available_from_the_environment(person, monkeypatch):
    from accounts import conf

    monkeypatch.setenv("ACCOUNTS_KYC_OVERDUE_ACTION", "flag")
    assert conf.kyc_overdue_action() == "flag"
    account, task = _open_kyc_task(person)
    assert kyc_tasks_mark_overdue(today=task.due_date + dt.timedelta(days=1)) == 1
    assert KycTask.objects.get(pk=task.pk).overdue
    assert Account.objects.get(pk=account.pk).state == "active"


def test_r_acc_14_kyc_due_days_is_configuration(person, settings):
    settings.ACCOUNTS_KYC_TASK_DUE_DAYS = 3
    _account, task = _open_kyc_task(person)
    assert task.due_date == task.trigger_date + dt.timedelta(days=3)


def test_r_acc_14_beat_task_marks_overdue(person):
    _account, task = _open_kyc_task(person)
    assert kyc_tasks_mark_overdue_task.name == "accounts.kyc_tasks_mark_overdue"
    kyc_tasks_mark_overdue_task.delay()  # eager in tests; today (2026 or later) is past the due date
    assert KycTask.objects.get(pk=task.pk).overdue


def test_r_acc_14_beat_job_is_scheduled():
    from django_celery_beat.models import PeriodicTask

    job = PeriodicTask.objects.get(name="accounts.kyc_tasks_mark_overdue")
    assert job.task == "accounts.kyc_tasks_mark_overdue" and job.crontab.timezone.key == "Asia/Shanghai"


# -- R-ACC-15 dated rule sets ------------------------------------------------------------


def test_r_acc_15_rule_set_in_force_by_date():
    assert rule_set_in_force(dt.date(2016, 11, 30)) is None
    assert rule_set_in_force(dt.date(2016, 12, 1)).name == "银发〔2016〕302号"
    assert rule_set_in_force(dt.date(2018, 1, 11)).name == "银发〔2016〕302号"
    assert rule_set_in_force(dt.date(2018, 1, 12)).name == "银发〔2018〕16号"


def test_r_acc_15_2016_set_applies_to_a_2017_date_and_2018_set_to_a_2019_date(person, class3):
    with pytest.raises(LimitExceededError) as exc_info:  # 302号: Class III balance ≤ 1,000
        post(class3, FlowKind.BOUND_INFLOW, "1000.01", when=at(2017, 6, 1))
    refused(exc_info, "III_balance_moment", "1000.00")
    for _ in range(5):  # 302号: Class III outflow 5,000 a day
        post(class3, FlowKind.BOUND_INFLOW, "1000.00", when=at(2017, 6, 1))
        post(class3, FlowKind.PAYMENT, "1000.00", when=at(2017, 6, 1))
    post(class3, FlowKind.BOUND_INFLOW, "1000.00", when=at(2017, 6, 1))
    with pytest.raises(LimitExceededError) as exc_info:
        post(class3, FlowKind.PAYMENT, "0.01", when=at(2017, 6, 1))
    refused(exc_info, "III_outflow_day", "0.00")

    post(class3, FlowKind.BOUND_INFLOW, "1000.00", when=at(2019, 6, 1))  # 16号: balance ≤ 2,000
    post(class3, FlowKind.PAYMENT, "2000.00", when=at(2019, 6, 1))  # 16号: outflow 2,000 a day
    post(class3, FlowKind.BOUND_INFLOW, "1.00", when=at(2019, 6, 1))
    with pytest.raises(LimitExceededError) as exc_info:
        post(class3, FlowKind.PAYMENT, "0.01", when=at(2019, 6, 1))
    refused(exc_info, "III_outflow_day", "0.00")
    assert not KycTask.objects.exists()  # 302号-era flows count, but 12,002 is below the threshold


def test_r_acc_15_edited_rule_applies_and_keeps_history(class3):
    rule = LimitRule.objects.get(rule_set__name="银发〔2018〕16号", tier="III", bucket="outflow", period="day")
    rule.amount = D("1500.00")
    rule.save()
    assert rule.history.count() >= 1
    post(class3, FlowKind.BOUND_INFLOW, "2000.00", when=at(2026, 12, 1))
    with pytest.raises(LimitExceededError) as exc_info:
        post(class3, FlowKind.PAYMENT, "1500.01", when=at(2026, 12, 1))
    refused(exc_info, "III_outflow_day", "1500.00")


def test_class3_limits_remaining_includes_the_balance_cap(class3):
    post(class3, FlowKind.BOUND_INFLOW, "1500.00", when=at(2026, 12, 1))
    post(class3, FlowKind.PAYMENT, "250.00", when=at(2026, 12, 1))
    rows = {row["limit"]: row for row in limits_remaining(account=Account.objects.get(pk=class3.pk), on=dt.date(2026, 12, 1))}
    assert set(rows) == {
        "III_balance_moment",
        "III_non_bound_inflow_day",
        "III_non_bound_inflow_year",
        "III_outflow_day",
        "III_outflow_year",
    }
    assert rows["III_balance_moment"]["used"] == D("1250.00")
    assert rows["III_balance_moment"]["remaining"] == D("750.00")
    assert rows["III_outflow_day"]["remaining"] == D("1750.00")
    assert rows["III_outflow_year"]["remaining"] == D("49750.00")
    old = {row["limit"]: row for row in limits_remaining(account=class3, on=dt.date(2017, 6, 1))}
    assert old["III_outflow_day"]["amount"] == D("5000.00")
