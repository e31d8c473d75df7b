"""R-ACC-16 (unused after opening), R-ACC-17 (dormancy policy), R-ACC-18 (entity accounts, 久悬未取专户)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django_celery_beat.models import PeriodicTask

from accounts.ledger.chart import CREDIT, DEBIT, ROLE_CHART, Role, normal_side_of
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import AccountNotActiveError, InvalidStateError
from accounts.ledger.models import Account, Subject, Transfer
from accounts.ledger.selectors import internal_account
from accounts.states import dormancy
from accounts.states.errors import CounterActorRequiredError
from accounts.states.models import DormancyNotice, DormancyPolicy
from accounts.states.services import account_change_state, account_close
from accounts.tests.states_helpers import fresh, make_user, place, post
from backoffice.dates import add_months
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


@pytest.fixture
def operator(db):
    return make_user("counter-operator")


def _opened(account) -> dt.datetime:
    return fresh(account).created_at


# -- R-ACC-16 -----------------------------------------------------------------------------------


def test_r_acc_16_no_transaction_within_6_months_suspends_non_counter_on_the_anniversary_not_the_day_before(make_account):
    account = make_account()
    deadline = add_months(_opened(account), 6)

    assert dormancy.accounts_suspend_unused(now=deadline - DAY) == []
    assert fresh(account).state == Account.State.ACTIVE
    assert dormancy.accounts_suspend_unused(now=deadline) == [account.pk]
    assert fresh(account).state == Account.State.NON_COUNTER_SUSPENDED
    assert AuditLog.objects.filter(action="account.suspend_non_counter", target_id=str(account.pk)).exists()
    assert dormancy.accounts_suspend_unused(now=deadline) == []  # idempotent


def test_r_acc_16_interest_fee_and_judicial_postings_are_not_transactions(make_account):
    account = make_account()
    post(account, "1.00", kind="interest")
    post(account, "0.50", kind="fee", outflow=True)
    post(account, "0.10", kind="judicial_deduction", outflow=True)
    assert dormancy.accounts_suspend_unused(now=add_months(_opened(account), 6)) == [account.pk]


def test_r_acc_16_a_customer_transaction_keeps_the_account_active(make_account):
    account = make_account()
    post(account, "1.00")
    assert dormancy.accounts_suspend_unused(now=add_months(_opened(account), 6)) == []
    assert fresh(account).state == Account.State.ACTIVE


def test_r_acc_16_excluded_kinds_are_configurable(make_account, settings):
    settings.ACCOUNTS_NON_ACTIVITY_VOUCHER_KINDS = ["interest", "fee", "judicial_deduction", "funding"]
    account = make_account()
    post(account, "1.00")  # "funding" is now not a transaction
    assert dormancy.accounts_suspend_unused(now=add_months(_opened(account), 6)) == [account.pk]


def test_r_acc_16_months_are_configurable(make_account, settings):
    settings.ACCOUNTS_NON_COUNTER_SUSPEND_MONTHS = 3
    account = make_account()
    assert dormancy.accounts_suspend_unused(now=add_months(_opened(account), 3)) == [account.pk]


def test_r_acc_16_suspended_account_refuses_non_counter_outflow_accepts_inflow(make_account, fund):
    account = fund(make_account(), Decimal("10.00"))
    settings_months = add_months(_opened(account), 6)
    dormancy.account_suspend_unused(account_id=account.pk, now=settings_months)  # funding counts: no-op
    assert fresh(account).state == Account.State.ACTIVE
    quiet = make_account()
    dormancy.account_suspend_unused(account_id=quiet.pk, now=add_months(_opened(quiet), 6))
    with pytest.raises(AccountNotActiveError):
        post(quiet, "0.01", outflow=True)
    post(quiet, "5.00")
    assert fresh(quiet).balance == Decimal("5.00")


def test_r_acc_16_reverification_restores_and_is_not_suspended_again(make_account, operator):
    account = make_account()
    deadline = add_months(_opened(account), 6)
    dormancy.accounts_suspend_unused(now=deadline)
    with pytest.raises(CounterActorRequiredError):
        dormancy.account_reverify_identity(account_id=account.pk, actor=None)

    account = dormancy.account_reverify_identity(account_id=account.pk, actor=operator, method="counter_id_check")
    assert account.state == Account.State.ACTIVE and account.identity_reverified_at is not None
    assert AuditLog.objects.filter(action="account.restore_non_counter", actor=operator).exists()
    assert dormancy.accounts_suspend_unused(now=deadline + 30 * DAY) == []
    with pytest.raises(InvalidStateError):
        dormancy.account_reverify_identity(account_id=account.pk, actor=operator)


def test_r_acc_16_pending_verification_and_internal_accounts_are_not_touched(make_account):
    pending = make_account(tier="II")
    far = add_months(_opened(pending), 12)
    assert pending.pk not in dormancy.accounts_suspend_unused(now=far)
    assert internal_account(Role.CLEARING).state == Account.State.ACTIVE


def test_r_acc_16_month_end_anniversary_is_clipped():
    aug31 = dt.datetime(2026, 8, 31, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert add_months(aug31, 6).date() == dt.date(2027, 2, 28)
    assert add_months(aug31, -6).date() == dt.date(2026, 2, 28)


# -- R-ACC-17 -----------------------------------------------------------------------------------


@pytest.fixture
def policy(db):
    return DormancyPolicy.objects.create(
        name="test-365d",
        tiers=["I"],
        inactive_days=365,
        max_balance=Decimal("10.00"),
        excluded_kinds=["interest", "judicial_deduction", "fee"],
        is_active=True,
    )


def test_r_acc_17_dormant_on_the_inactive_days_threshold_not_the_day_before(make_account, policy):
    account = make_account()
    post(account, "5.00")
    started = dormancy.account_last_activity_at(account=fresh(account), excluded_kinds=policy.excluded_kinds)

    assert dormancy.dormancy_apply(now=started + 364 * DAY) == []
    assert dormancy.dormancy_apply(now=started + 365 * DAY) == [account.pk]
    account = fresh(account)
    assert account.state == Account.State.DORMANT
    row = AuditLog.objects.get(action="account.mark_dormant", target_id=str(account.pk))
    assert row.data["policy"] == policy.pk


def test_r_acc_17_interest_fee_and_judicial_postings_are_not_activity(make_account, policy):
    account = make_account()
    post(account, "5.00")
    started = dormancy.account_last_activity_at(account=fresh(account), excluded_kinds=policy.excluded_kinds)
    post(account, "0.01", kind="interest")
    post(account, "0.01", kind="fee", outflow=True)
    post(account, "0.01", kind="judicial_deduction", outflow=True)
    assert dormancy.account_last_activity_at(account=fresh(account), excluded_kinds=policy.excluded_kinds) == started
    assert dormancy.dormancy_apply(now=started + 365 * DAY) == [account.pk]


def test_r_acc_17_balance_threshold_at_limit_and_one_fen_over(make_account, policy):
    at_limit = make_account()
    post(at_limit, "10.00")
    over = make_account()
    post(over, "10.01")
    far = dormancy.account_last_activity_at(account=fresh(over), excluded_kinds=[]) + 365 * DAY
    assert dormancy.dormancy_apply(now=far) == [at_limit.pk]
    assert fresh(over).state == Account.State.ACTIVE


def test_r_acc_17_policy_is_data_inactive_policies_and_other_tiers_do_nothing(make_account, policy):
    class2 = make_account(tier="II")
    account_change_state(account_id=class2.pk, action="activate")  # as if its card were verified
    class1 = make_account()
    far = _opened(class1) + 400 * DAY
    policy.is_active = False
    policy.save()
    assert dormancy.dormancy_apply(now=far) == []
    policy.is_active = True
    policy.save()
    assert dormancy.dormancy_apply(now=far) == [class1.pk]
    assert fresh(class2).state == Account.State.ACTIVE
    assert policy.history.count() == 3  # created, deactivated, reactivated (simple-history)


def test_r_acc_17_reactivation_at_the_counter_needs_the_operator_and_restarts_the_clock(make_account, policy, operator):
    account = make_account()
    dormancy.dormancy_apply(now=_opened(account) + 365 * DAY)
    assert fresh(account).state == Account.State.DORMANT
    with pytest.raises(AccountNotActiveError):
        post(account, "0.01", outflow=True)
    with pytest.raises(CounterActorRequiredError):
        dormancy.account_reactivate(account_id=account.pk, actor=None)

    account = dormancy.account_reactivate(account_id=account.pk, actor=operator, reason="持身份证临柜")
    assert account.state == Account.State.ACTIVE
    assert AuditLog.objects.get(action="account.reactivate", target_id=str(account.pk)).actor == operator
    assert dormancy.dormancy_apply(now=account.identity_reverified_at + 364 * DAY) == []
    assert dormancy.dormancy_apply(now=account.identity_reverified_at + 365 * DAY) == [account.pk]


def test_r_acc_17_default_policy_is_seeded_inactive():
    seeded = DormancyPolicy.objects.get(name="personal-365d-10yuan")
    assert not seeded.is_active and seeded.inactive_days == 365 and seeded.max_balance == Decimal("10.00")
    assert set(seeded.excluded_kinds) == {"interest", "judicial_deduction", "fee"}


# -- R-ACC-18 -----------------------------------------------------------------------------------


@pytest.fixture
def entity_account(make_party, fund):
    def make(amount="500.00"):
        party = make_party(name="某某科技有限公司", type="organisation")
        from accounts.parties.services import account_open

        account = account_open(party=party, role=Role.CORPORATE, tier=Account.Tier.CORPORATE)
        return fund(account, Decimal(amount)) if amount else account

    return make


def _entity_started(account) -> dt.datetime:
    return dormancy.account_last_activity_at(account=fresh(account), excluded_kinds=["interest", "fee", "judicial_deduction"])


def test_r_acc_18_notice_after_one_year_without_receipts_or_payments_not_the_day_before(entity_account):
    account = entity_account()
    anniversary = add_months(_entity_started(account), 12)

    assert dormancy.entity_dormancy_run(now=anniversary - DAY)["notified"] == []
    assert dormancy.entity_dormancy_run(now=anniversary)["notified"] == [account.pk]
    notice = DormancyNotice.objects.get(account=account)
    assert notice.state == DormancyNotice.State.PENDING
    assert notice.notified_at == anniversary and notice.due_at == anniversary + 30 * DAY
    assert dormancy.entity_dormancy_run(now=anniversary)["notified"] == []  # one pending notice at a time


def test_r_acc_18_deemed_closed_30_days_after_notice_with_balance_swept_to_dormant_unclaimed(entity_account):
    account = entity_account("500.00")
    unclaimed = internal_account(Role.DORMANT_UNCLAIMED)
    anniversary = add_months(_entity_started(account), 12)
    dormancy.entity_dormancy_run(now=anniversary)
    notice = DormancyNotice.objects.get(account=account)

    assert dormancy.entity_dormancy_run(now=notice.due_at - DAY)["deemed_closed"] == []
    assert fresh(account).state == Account.State.ACTIVE
    assert dormancy.entity_dormancy_run(now=notice.due_at)["deemed_closed"] == [account.pk]

    account, notice = fresh(account), fresh(notice)
    assert account.state == Account.State.DEEMED_CLOSED
    assert account.balance == 0 and account.frozen == 0
    assert notice.state == DormancyNotice.State.DEEMED_CLOSED
    voucher = notice.sweep_transfer
    assert voucher.kind == "dormant_unclaimed" and voucher.amount == Decimal("500.00")
    assert voucher.metadata["notice"] == notice.pk and voucher.metadata["account"] == account.number
    legs = {(e.account_id, e.side, e.amount, e.subject) for e in voucher.entries.all()}
    assert legs == {
        (account.pk, DEBIT, Decimal("500.00"), "201201"),
        (unclaimed.pk, CREDIT, Decimal("500.00"), "224198"),
    }
    assert fresh(unclaimed).balance == Decimal("500.00")
    with pytest.raises(AccountNotActiveError):
        post(account, "1.00")  # a deemed-closed account receives nothing
    assert AuditLog.objects.filter(action="account.deem_closed", target_id=str(account.pk)).exists()
    assert ledger_drift() == []


def test_r_acc_18_interest_and_fees_are_not_receipts_or_payments(entity_account):
    account = entity_account()
    started = _entity_started(account)
    post(account, "1.00", kind="interest")
    post(account, "1.00", kind="fee", outflow=True)
    assert dormancy.entity_dormancy_run(now=add_months(started, 12))["notified"] == [account.pk]


def test_r_acc_18_activity_after_the_notice_withdraws_it(entity_account):
    account = entity_account()
    dormancy.entity_dormancy_run(now=add_months(_entity_started(account), 12))
    notice = DormancyNotice.objects.get(account=account)
    # the notice is dated in the future of this test's clock: back-date it to now
    DormancyNotice.objects.filter(pk=notice.pk).update(notified_at=notice.created_at)
    post(account, "1.00")
    dormancy.entity_dormancy_run(now=notice.due_at)
    assert fresh(notice).state == DormancyNotice.State.WITHDRAWN
    assert fresh(account).state == Account.State.ACTIVE


def test_r_acc_18_holder_closing_within_the_notice_period(entity_account):
    account = entity_account()
    dormancy.entity_dormancy_run(now=add_months(_entity_started(account), 12))
    post(account, "500.00", outflow=True)
    account_close(account_id=account.pk)
    assert DormancyNotice.objects.get(account=account).state == DormancyNotice.State.CLOSED_BY_HOLDER
    assert fresh(account).state == Account.State.CLOSED


def test_r_acc_18_accounts_with_frozen_money_are_not_notified_nor_swept(entity_account, fund):
    held = entity_account()
    from uuid import uuid4

    from accounts.ledger import postings as ledger

    ledger.hold_place(client="t", idempotency_key=str(uuid4()), account_id=held.pk, amount=Decimal("1.00"), reason="risk")
    maker = make_user("maker", "request_judicial_freeze")
    checker = make_user("checker", "approve_judicial_freeze")
    frozen = entity_account()
    anniversary = add_months(_entity_started(frozen), 12)
    # notified first, then a court freezes it: the sweep waits
    assert dormancy.entity_dormancy_run(now=anniversary)["notified"] == [frozen.pk]
    place(maker, checker, frozen, "full")
    notice = DormancyNotice.objects.get(account=frozen)
    assert dormancy.entity_dormancy_run(now=notice.due_at)["deemed_closed"] == []
    assert fresh(notice).state == DormancyNotice.State.PENDING
    assert fresh(frozen).balance == Decimal("500.00")
    assert not DormancyNotice.objects.filter(account=held).exists()


def test_r_acc_18_personal_accounts_are_not_concerned(make_account):
    account = make_account()
    post(account, "5.00")
    assert dormancy.entity_dormancy_run(now=_opened(account) + 800 * DAY)["notified"] == []


def test_r_acc_18_dormant_unclaimed_subject_and_internal_account_exist():
    subject = Subject.objects.get(code="224198")
    assert subject.name_zh == "久悬未取款项" and subject.category == "liability" and subject.normal_side == CREDIT
    account = internal_account(Role.DORMANT_UNCLAIMED)
    assert account.subject_id == "224198" and account.normal_side == CREDIT == normal_side_of(Role.DORMANT_UNCLAIMED)
    assert ROLE_CHART[Role.DORMANT_UNCLAIMED].internal and not ROLE_CHART[Role.DORMANT_UNCLAIMED].may_overdraw


def test_r_acc_18_empty_account_is_deemed_closed_without_a_voucher(entity_account):
    account = entity_account(amount=None)
    dormancy.entity_dormancy_run(now=add_months(_opened(account), 12))
    notice = DormancyNotice.objects.get(account=account)
    dormancy.entity_dormancy_run(now=notice.due_at)
    assert fresh(account).state == Account.State.DEEMED_CLOSED
    assert fresh(notice).sweep_transfer is None
    assert not Transfer.objects.filter(kind="dormant_unclaimed").exists()


# -- beat schedules -----------------------------------------------------------------------------


def test_states_beat_schedules_exist_for_every_task():
    from backoffice.celery_app import app

    names = {"accounts.suspend_unused", "accounts.apply_dormancy", "accounts.entity_dormancy", "accounts.release_expired_freezes"}
    rows = {task.task: task for task in PeriodicTask.objects.filter(task__in=names)}
    assert set(rows) == names
    assert all(row.enabled and row.crontab.timezone.key == "Asia/Shanghai" for row in rows.values())
    import accounts.tasks  # noqa: F401

    assert names <= set(app.tasks)


def test_states_beat_tasks_run_their_services(make_account):
    from accounts.tasks import apply_dormancy_task, entity_dormancy_task, suspend_unused_task

    make_account()
    assert suspend_unused_task.delay().get() == []
    assert apply_dormancy_task.delay().get() == []
    assert entity_dormancy_task.delay().get() == {"deemed_closed": [], "notified": []}


def test_r_acc_18_an_account_with_debt_registered_by_a_higher_package_is_not_notified(entity_account):
    # "No debt": a package above states (custody's loans) answers through the registry.
    indebted, free = entity_account(), entity_account()
    dormancy.outstanding_debt.register("test_loans", lambda account: account.pk == indebted.pk)
    try:
        notified = dormancy.entity_dormancy_run(now=add_months(_entity_started(indebted), 12) + DAY)["notified"]
    finally:
        dormancy.outstanding_debt.unregister("test_loans")
    assert indebted.pk not in notified
    assert free.pk in notified
