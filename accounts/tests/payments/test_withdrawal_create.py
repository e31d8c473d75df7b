"""Accepting a withdrawal (R-WD-01, R-WD-02, R-WD-06, R-FEE-04, R-DEP-02) and what it does to
the books in each strategy; refusals leave nothing behind."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from accounts.cards import services as cards
from accounts.ledger.errors import AccountNotActiveError, InsufficientFundsError
from accounts.ledger.models import Account, Hold
from accounts.payments import withdrawals
from accounts.payments.authorisation import AuthorisationInvalidError, TransactionPasswordLockedError
from accounts.payments.invariants import payment_invariants
from accounts.payments.models import Channel, Withdrawal
from accounts.payments.simulator import Script
from accounts.payments.sweep import payments_sweep
from accounts.states.errors import AccountNotClosableError
from accounts.states.services import account_change_state, account_close, account_close_blockers
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH, at, books
from backoffice.errors import FieldValidationError
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db

WEDNESDAY_10 = at("2026-12-02 10:00")
WEDNESDAY_17 = at("2026-12-02 17:00")
SATURDAY_10 = at("2026-12-05 10:00")


@pytest.fixture
def account(customer, fund):
    return fund(customer(), "1000.00")


def create(account, amount="100.00", *, ref="r1", authorization=PASSWORD_AUTH, **kwargs):
    return withdrawals.withdrawal_create(
        client="test", out_request_no=ref, account=account, amount=amount, authorization=authorization, **kwargs
    )


def nothing_written(account):
    assert Withdrawal.objects.count() == 0
    assert Hold.objects.filter(reason=Hold.Reason.WITHDRAWAL).count() == 0
    b = books(account)
    assert (b["balance"], b["frozen"], b["transit"]) == (Decimal("1000.00"), 0, 0)


@pytest.mark.parametrize("strategy", [Channel.Strategy.FREEZE, Channel.Strategy.TRANSIT])
def test_r_wd_02_acceptance_holds_amount_and_fee_in_the_same_transaction(make_channel, account, strategy):
    make_channel(strategy=strategy, withdrawal_fee=Decimal("2.00"))
    # when accepted (the submission is enqueued after commit; here it does not run)
    withdrawal = create(account, "300.00")
    # then the row exists in funds_held with the amount and the fee set aside
    withdrawal = Withdrawal.objects.get(pk=withdrawal.pk)
    assert (withdrawal.state, withdrawal.strategy, withdrawal.fee) == ("funds_held", strategy, Decimal("2.00"))
    assert withdrawal.request_id == f"WD{withdrawal.pk:010d}"
    b = books(account)
    if strategy == Channel.Strategy.FREEZE:
        assert (b["balance"], b["frozen"], b["transit"]) == (Decimal("1000.00"), Decimal("302.00"), 0)
        assert withdrawal.hold.amount == Decimal("302.00") and withdrawal.hold.reason == Hold.Reason.WITHDRAWAL
    else:
        assert (b["balance"], b["frozen"], b["transit"]) == (Decimal("698.00"), 0, Decimal("302.00"))
        assert withdrawal.hold_transfer.amount == Decimal("302.00")
    assert all(inv.holds for inv in payment_invariants())
    assert AuditLog.objects.filter(action="withdrawal.create", target_id=str(withdrawal.pk)).exists()


def test_r_fee_04_fee_taken_only_on_success(make_channel, account, fund, sim, django_capture_on_commit_callbacks):
    make_channel(withdrawal_fee=Decimal("1.00"))
    sim.script_next(Script(submit="failure"), Script(submit="success"))
    with django_capture_on_commit_callbacks(execute=True):
        failed = create(account, "100.00", ref="a")
    with django_capture_on_commit_callbacks(execute=True):
        paid = create(account, "100.00", ref="b")
    assert Withdrawal.objects.get(pk=failed.pk).state == "failed"
    assert Withdrawal.objects.get(pk=paid.pk).state == "succeeded"
    b = books(account)
    assert (b["balance"], b["frozen"], b["fee_income"]) == (Decimal("899.00"), 0, Decimal("1.00"))


def test_r_wd_01_amount_plus_fee_must_be_available(channel, account):
    with pytest.raises(InsufficientFundsError) as refused:
        create(account, "999.50")
    assert refused.value.data["shortfall"] == "0.50"
    nothing_written(account)


def test_r_wd_01_frozen_account_is_refused(channel, account):
    account_change_state(account_id=account.pk, action="freeze", reason="test")
    with pytest.raises(AccountNotActiveError):
        create(Account.objects.get(pk=account.pk))
    nothing_written(account)


def test_r_wd_01_dormant_account_is_refused(channel, account):
    account_change_state(account_id=account.pk, action="mark_dormant", reason="test")
    with pytest.raises(AccountNotActiveError) as refused:
        create(Account.objects.get(pk=account.pk))
    assert refused.value.data["state"] == "dormant"


def test_r_wd_01_no_verified_card_is_refused(channel, make_party, make_account, fund):
    account = fund(make_account(party=make_party()), "100.00")
    with pytest.raises(withdrawals.NoWithdrawalCardError):
        create(account, "10.00")


def test_r_wd_01_daily_count(channel, account, settings):
    settings.ACCOUNTS_WITHDRAWAL_DAILY_COUNT = 2
    create(account, "10.00", ref="1")
    create(account, "10.00", ref="2")
    with pytest.raises(withdrawals.DailyCountExceededError) as refused:
        create(account, "10.00", ref="3")
    assert refused.value.data == {"count": 2, "limit": 2}


def test_r_wd_06_large_amount_inside_the_window_is_t_plus_1(channel, customer, fund):
    account = fund(customer(), "120000.00")
    withdrawal = create(account, "60000.00", now=WEDNESDAY_10)
    assert withdrawal.settles == Withdrawal.Settles.NEXT_WORKING_DAY
    assert create(account, "50000.00", ref="r2", now=WEDNESDAY_17).settles == Withdrawal.Settles.REAL_TIME


@pytest.mark.parametrize("moment", [WEDNESDAY_17, SATURDAY_10])
def test_r_wd_06_large_amount_outside_the_window_is_refused(channel, customer, fund, moment):
    account = fund(customer(), "80000.00")
    with pytest.raises(withdrawals.OutsideWindowError) as refused:
        create(account, "50000.01", now=moment)
    assert refused.value.data["next_window"].endswith("09:00")
    assert Withdrawal.objects.count() == 0


def test_window_and_limit_are_the_channels(make_channel, account):
    make_channel(real_time_limit=Decimal("100.00"), window_start=dt.time(8, 0), window_end=dt.time(18, 0))
    assert create(account, "100.01", now=WEDNESDAY_17).settles == Withdrawal.Settles.NEXT_WORKING_DAY


def test_duplicate_reference_is_refused(channel, account):
    create(account, "10.00", ref="same")
    with pytest.raises(withdrawals.DuplicateReferenceError):
        create(account, "20.00", ref="same")
    assert Withdrawal.objects.count() == 1


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.001", 1.5, "abc"])
def test_bad_amount_is_a_field_error(channel, account, amount):
    with pytest.raises(FieldValidationError) as refused:
        create(account, amount)
    assert "amount" in refused.value.fields


def test_no_enabled_channel(make_channel, account):
    make_channel(enabled=False)
    with pytest.raises(withdrawals.NoChannelError):
        create(account)


def test_r_dep_02_wrong_password_is_refused_counted_and_locks(channel, account, settings):
    settings.ACCOUNTS_TRANSACTION_PASSWORD_MAX_ATTEMPTS = 3
    for _attempt in range(3):
        with pytest.raises(AuthorisationInvalidError):
            create(account, authorization={"method": "password", "password": "000000"})
    with pytest.raises(TransactionPasswordLockedError):
        create(account)
    nothing_written(account)


@pytest.mark.parametrize("authorization", [None, {}, {"method": "sms"}, {"method": "standing", "id": 1}, {"method": "otp"}])
def test_r_dep_02_missing_or_malformed_authorisation_is_a_field_error(channel, account, authorization):
    with pytest.raises(FieldValidationError) as refused:
        create(account, authorization=authorization)
    assert "authorization" in refused.value.fields
    nothing_written(account)


def test_r_dep_02_one_time_code_for_withdrawals_works_once(channel, account):
    cards.otp_send(account=account, purpose="withdrawal")
    code = re.search(r"\b(\d{6})\b", cards.sms_outbox(account=account).first().text).group(1)
    create(account, "10.00", ref="1", authorization={"method": "otp", "code": code})
    with pytest.raises(AuthorisationInvalidError):
        create(account, "10.00", ref="2", authorization={"method": "otp", "code": code})
    assert Withdrawal.objects.count() == 1


def test_account_with_a_withdrawal_in_flight_cannot_close(channel, account):
    withdrawal = create(account, "10.00")
    assert "withdrawals_in_flight" in account_close_blockers(account=Account.objects.get(pk=account.pk))
    assert withdrawal.in_flight
    with pytest.raises(AccountNotClosableError):
        account_close(account_id=account.pk, reason="test")


def test_no_channel_call_inside_a_database_transaction(channel, account, sim):
    from django.db import transaction

    from accounts.payments.channels import ChannelCallInTransactionError

    withdrawal = create(account, "10.00")
    with pytest.raises(ChannelCallInTransactionError), transaction.atomic():
        withdrawals.withdrawal_submit(withdrawal_id=withdrawal.pk)
    assert sim.orders() == []
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.FUNDS_HELD


def test_payments_sweep_command_reports_what_it_did(channel, account, sim):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("payments_sweep", stdout=out)
    assert out.getvalue().startswith("re-submitted 0, queried 0")


def test_ledger_check_shows_the_withdrawal_invariants_and_fails_when_one_breaks(make_channel, account, clearing):
    from io import StringIO

    from django.core.management import call_command

    from accounts.ledger import postings as ledger
    from accounts.tests.payments_fixtures import internal

    make_channel(strategy=Channel.Strategy.TRANSIT)
    create(account, "100.00")
    out = StringIO()
    call_command("ledger_check", stdout=out)
    assert "transit account = transit withdrawals in flight: expected 101.00, actual 101.00 (1 in flight) OK" in out.getvalue()
    # money put on the transit account behind the withdrawal service's back
    ledger.post_transfer(
        client="test",
        idempotency_key="stray",
        kind="test",
        legs=ledger.move(from_account_id=clearing.pk, to_account_id=internal("transit_withdrawal").pk, amount="5.00"),
    )
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("ledger_check", stdout=out, stderr=err)
    assert exited.value.code == 1
    assert "expected 101.00, actual 106.00 (1 in flight) BROKEN" in out.getvalue()
    assert "DRIFT withdrawals: transit account = transit withdrawals in flight" in err.getvalue()


def test_a_broker_outage_after_commit_loses_nothing(channel, account, sim, monkeypatch, django_capture_on_commit_callbacks):
    from kombu.exceptions import OperationalError

    from accounts import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("broker unreachable")

    # given a broker that refuses the submission task after the withdrawal committed
    monkeypatch.setattr(tasks.withdrawal_submit, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        withdrawal = create(account, "10.00")
    # then the caller still gets the accepted withdrawal, its funds held...
    withdrawal = Withdrawal.objects.get(pk=withdrawal.pk)
    assert withdrawal.state == Withdrawal.State.FUNDS_HELD
    monkeypatch.undo()
    # ...and the sweeper submits it once it is quiet
    payments_sweep(now=withdrawal.created_at + dt.timedelta(minutes=5))
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.SUCCEEDED
    assert sim.net_paid() == Decimal("10.00")
