"""The unknown-outcome matrix (issue 4), for both strategies, with the simulator scripted
deterministically. After each case the customer's balance, the holds, the transit account and the
channel's own log agree to the fen (R-WD-03, R-WD-04, R-WD-05, R-FEE-04)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from accounts.ledger.models import Hold, Transfer
from accounts.payments import withdrawals
from accounts.payments.callbacks import CallbackSignatureError, channel_callback_receive
from accounts.payments.channels import ChannelAnswer, ChannelStatus, ChannelUnavailableError
from accounts.payments.models import Channel, ChannelCallback, PaymentAlert, Withdrawal
from accounts.payments.sweep import payments_sweep
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH, assert_books_agree_with_channel, books
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db

FUNDED = Decimal("1000.00")
AMOUNT = Decimal("100.00")
FEE = Decimal("1.00")


@pytest.fixture(params=[Channel.Strategy.FREEZE, Channel.Strategy.TRANSIT])
def strategy(request):
    return request.param


@pytest.fixture
def channel(make_channel, strategy):
    return make_channel(strategy=strategy, withdrawal_fee=FEE)


@pytest.fixture
def account(customer, fund):
    return fund(customer(), FUNDED)


@pytest.fixture
def withdraw(account, channel, django_capture_on_commit_callbacks):
    """Create a withdrawal and run its on-commit submission (eager), as a request would."""

    def do(amount=AMOUNT, *, submit=True, ref="r1"):
        with django_capture_on_commit_callbacks(execute=submit):
            created = withdrawals.withdrawal_create(
                client="test", out_request_no=ref, account=account, amount=amount, authorization=PASSWORD_AUTH
            )
        return Withdrawal.objects.get(pk=created.pk)

    return do


def reload(withdrawal):
    return Withdrawal.objects.get(pk=withdrawal.pk)


def post_callback(channel, payload) -> ChannelCallback:
    callback, _duplicate = channel_callback_receive(
        channel_code=channel.code, body=json.dumps(payload).encode(), headers={}, remote_addr="127.0.0.1"
    )
    return callback


def assert_held(account, strategy):
    """The amount and the fee are set aside: frozen on the account, or on the transit account."""
    b = books(account)
    if strategy == Channel.Strategy.FREEZE:
        assert (b["balance"], b["frozen"], b["transit"], b["withdrawal_holds"]) == (FUNDED, AMOUNT + FEE, 0, AMOUNT + FEE)
    else:
        assert (b["balance"], b["frozen"], b["transit"], b["withdrawal_holds"]) == (FUNDED - AMOUNT - FEE, 0, AMOUNT + FEE, 0)
    assert b["fee_income"] == 0


def assert_paid(account):
    b = books(account)
    assert (b["balance"], b["frozen"], b["transit"], b["withdrawal_holds"]) == (FUNDED - AMOUNT - FEE, 0, 0, 0)
    assert b["fee_income"] == FEE


def assert_untouched(account):
    """Failed or returned: the customer has everything back, the fee included; no fee income."""
    b = books(account)
    assert (b["balance"], b["frozen"], b["transit"], b["withdrawal_holds"], b["fee_income"]) == (FUNDED, 0, 0, 0, 0)


def test_r_wd_03_timeout_then_query_success(withdraw, sim, account, strategy):
    # given a submission that times out while the channel pays
    sim.script_next(submit="timeout", then="success")
    withdrawal = withdraw()
    # then the outcome is unknown and the money stays set aside
    assert withdrawal.state == Withdrawal.State.UNKNOWN
    assert_held(account, strategy)
    # when a status query finds it paid
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk)
    # then it succeeded, once, with the fee taken
    withdrawal = reload(withdrawal)
    assert (withdrawal.state, withdrawal.resolved_by) == (Withdrawal.State.SUCCEEDED, Withdrawal.Source.QUERY)
    assert_paid(account)
    assert_books_agree_with_channel(sim)


def test_r_wd_04_timeout_then_query_failure(withdraw, sim, account, strategy):
    sim.script_next(submit="timeout", then="failure")
    withdrawal = withdraw()
    assert withdrawal.state == Withdrawal.State.UNKNOWN
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk)
    assert reload(withdrawal).state == Withdrawal.State.FAILED
    assert_untouched(account)
    assert sim.net_paid() == 0
    assert_books_agree_with_channel(sim)


def test_r_wd_03_not_found_then_success(withdraw, sim, account, strategy):
    # given a channel that does not know the request for 30 s, then pays it
    sim.script_next(submit="not_found", delay=30, then="success")
    withdrawal = withdraw()
    # when queried within the grace period: still unknown, nothing moved
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk)
    assert reload(withdrawal).state == Withdrawal.State.UNKNOWN
    assert_held(account, strategy)
    # when the channel has found it
    sim.advance(31)
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk)
    assert reload(withdrawal).state == Withdrawal.State.SUCCEEDED
    assert_paid(account)
    assert_books_agree_with_channel(sim)


def test_r_wd_03_not_found_past_the_grace_period_is_resubmitted_not_failed(withdraw, sim, account, channel, strategy):
    # given a channel without a "not found is final" contract (the default) that never sees the order
    assert channel.not_found_final_seconds is None
    sim.script_next(submit="not_found", delay=None)
    withdrawal = withdraw()
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk)
    assert (reload(withdrawal).state, reload(withdrawal).submit_attempts) == (Withdrawal.State.UNKNOWN, 1)
    # when the channel still does not know it after its grace period
    later = withdrawal.submitted_at + dt.timedelta(seconds=channel.not_found_grace_seconds + 1)
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk, now=later)
    # then silence is no failure: it was re-submitted under the same request id and stays unknown
    again = reload(withdrawal)
    assert (again.state, again.submit_attempts, again.last_submitted_at) == (Withdrawal.State.UNKNOWN, 2, later)
    assert (again.request_id, again.failure_reason, again.resolved_by) == (withdrawal.request_id, "", "")
    assert sim._orders[withdrawal.request_id].submissions == 2
    assert AuditLog.objects.filter(action="withdrawal.submit", target_id=str(withdrawal.pk)).count() == 2
    assert_held(account, strategy)
    # and the grace runs again from that re-submission: no second one before it has passed
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk, now=later + dt.timedelta(seconds=10))
    assert reload(withdrawal).submit_attempts == 2


def test_r_wd_03_a_resubmission_the_channel_receives_is_paid_once(withdraw, sim, account, channel, strategy):
    # given a first submission that never reached the channel (it is down for this request)
    withdrawal = withdraw(submit=False)
    sim.script(withdrawal.request_id, submit="error")
    withdrawals.withdrawal_submit(withdrawal_id=withdrawal.pk)
    assert reload(withdrawal).state == Withdrawal.State.UNKNOWN
    # when, past the grace, the channel still answers "not found" and is reachable again
    sim.script(withdrawal.request_id, submit="success")
    later = reload(withdrawal).last_submitted_at + dt.timedelta(seconds=channel.not_found_grace_seconds + 1)
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk, now=later)
    # then the re-submission (same request id) is paid and booked once
    withdrawal = reload(withdrawal)
    assert (withdrawal.state, withdrawal.resolved_by, withdrawal.submit_attempts) == (
        Withdrawal.State.SUCCEEDED,
        Withdrawal.Source.RESPONSE,
        2,
    )
    assert_paid(account)
    assert_books_agree_with_channel(sim)


def test_r_wd_03_not_found_is_a_failure_only_on_a_channel_whose_contract_says_so(
    withdraw, sim, account, channel, make_channel, strategy
):
    # given a channel registered as "an order not seen 900 s after submission is never processed"
    make_channel(code=channel.code, strategy=strategy, not_found_final_seconds=900)
    sim.script_next(submit="not_found", delay=None)
    withdrawal = withdraw()
    # when it is still not found past the grace but within the 900 s: unknown, nothing re-sent
    within = withdrawal.submitted_at + dt.timedelta(seconds=channel.not_found_grace_seconds + 1)
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk, now=within)
    assert (reload(withdrawal).state, reload(withdrawal).submit_attempts) == (Withdrawal.State.UNKNOWN, 1)
    assert_held(account, strategy)
    # when it is still not found 900 s after the (latest) submission
    later = withdrawal.submitted_at + dt.timedelta(seconds=901)
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk, now=later)
    # then it failed, the record says why, and the money is back exactly once
    withdrawal = reload(withdrawal)
    assert (withdrawal.state, withdrawal.resolved_by) == (Withdrawal.State.FAILED, Withdrawal.Source.QUERY)
    assert "not found 900 s after the last submission" in withdrawal.failure_reason
    assert "final" in withdrawal.failure_reason
    assert_untouched(account)
    assert_books_agree_with_channel(sim)


def test_r_wd_03_channel_erroring_on_every_query_stays_unknown_with_an_alert(withdraw, sim, account, strategy, settings):
    # given a channel that paid but errors on every status query
    settings.ACCOUNTS_PAYMENT_QUERY_ERROR_ALERT = 3
    sim.script_next(submit="timeout", then="success", query_error=True)
    withdrawal = withdraw()
    for _attempt in range(4):
        with pytest.raises(ChannelUnavailableError):
            withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk)
    # then it stays unknown (never failed by a timeout), the money stays set aside, an alert is raised once
    withdrawal = reload(withdrawal)
    assert (withdrawal.state, withdrawal.query_errors) == (Withdrawal.State.UNKNOWN, 4)
    assert_held(account, strategy)
    assert PaymentAlert.objects.filter(kind=PaymentAlert.Kind.QUERY_ERRORS, withdrawal=withdrawal).count() == 1
    # and the sweeper does not give up or decide either
    payments_sweep(now=withdrawal.last_activity_at + dt.timedelta(hours=1))
    assert reload(withdrawal).state == Withdrawal.State.UNKNOWN
    assert_held(account, strategy)


def test_callback_before_the_submit_response(withdraw, sim, account, channel, strategy):
    # given a withdrawal being submitted: the attempt is recorded, the channel pays...
    withdrawal = withdraw(submit=False)
    withdrawals._begin_submit(withdrawal_id=withdrawal.pk, now=withdrawal.created_at)
    response = sim.submit(request_id=withdrawal.request_id, kind="payout", amount=withdrawal.amount)
    # ...and its success callback arrives before the submit response is recorded
    callback = post_callback(channel, sim.callback(withdrawal.request_id))
    assert callback.outcome == ChannelCallback.Outcome.APPLIED
    assert reload(withdrawal).resolved_by == Withdrawal.Source.CALLBACK
    # when the (late) response is recorded
    withdrawals.withdrawal_record_answer(withdrawal_id=withdrawal.pk, answer=response, source=Withdrawal.Source.RESPONSE)
    # then nothing moves twice
    assert reload(withdrawal).state == Withdrawal.State.SUCCEEDED
    assert (
        Transfer.objects.filter(client=withdrawals.LEDGER_CLIENT, idempotency_key=f"withdrawal:{withdrawal.pk}:settle").count()
        == 1
    )
    assert_paid(account)
    assert_books_agree_with_channel(sim)


def test_failure_callback_after_success_raises_an_alert_and_moves_nothing(withdraw, sim, account, channel, strategy):
    withdrawal = withdraw()
    assert withdrawal.state == Withdrawal.State.SUCCEEDED
    before = books(account)
    callback = post_callback(channel, sim.callback(withdrawal.request_id, status="failure"))
    assert callback.outcome == ChannelCallback.Outcome.CONTRADICTION
    assert reload(withdrawal).state == Withdrawal.State.SUCCEEDED
    assert books(account) == before
    alert = PaymentAlert.objects.get(kind=PaymentAlert.Kind.CONTRADICTION, withdrawal=withdrawal)
    assert alert.severity == PaymentAlert.Severity.P1
    assert_books_agree_with_channel(sim)


def test_r_wd_04_success_callback_five_times_is_applied_once(withdraw, sim, account, channel, strategy):
    sim.script_next(submit="processing", delay=60, then="success")
    withdrawal = withdraw()
    assert withdrawal.state == Withdrawal.State.UNKNOWN
    sim.advance(61)
    payload = sim.callback(withdrawal.request_id)
    outcomes = [
        channel_callback_receive(channel_code=channel.code, body=json.dumps(payload).encode(), headers={}) for _ in range(5)
    ]
    assert [duplicate for _cb, duplicate in outcomes] == [False, True, True, True, True]
    callback = ChannelCallback.objects.get()
    assert (callback.outcome, callback.duplicates) == (ChannelCallback.Outcome.APPLIED, 4)
    assert reload(withdrawal).state == Withdrawal.State.SUCCEEDED
    assert_paid(account)
    assert_books_agree_with_channel(sim)


def _assert_failure_undone_once(withdrawal, account, strategy):
    """Failed: the freeze was released, or the transit reversed, by exactly one step."""
    withdrawal = reload(withdrawal)
    assert withdrawal.state == Withdrawal.State.FAILED
    assert_untouched(account)
    if strategy == Channel.Strategy.FREEZE:
        assert Hold.objects.get(pk=withdrawal.hold_id).state == Hold.State.RELEASED
    else:
        reversals = Transfer.objects.filter(client=withdrawals.LEDGER_CLIENT, idempotency_key=f"withdrawal:{withdrawal.pk}:fail")
        assert reversals.count() == 1
        assert Transfer.objects.filter(kind="withdrawal_failed", metadata__withdrawal=withdrawal.pk).count() == 1
    assert AuditLog.objects.filter(action="withdrawal.failed", target_id=str(withdrawal.pk)).count() == 1


def test_r_wd_04_failure_callback_twice_releases_or_reverses_once(withdraw, sim, account, channel, strategy):
    # given an unknown withdrawal the channel then declines
    sim.script_next(submit="processing", delay=60, then="failure")
    withdrawal = withdraw()
    assert withdrawal.state == Withdrawal.State.UNKNOWN
    sim.advance(61)
    payload = sim.callback(withdrawal.request_id)
    assert payload["status"] == "failure"
    # when its failure callback arrives twice (the same notification re-delivered)
    first = post_callback(channel, payload)
    second = post_callback(channel, payload)
    # then it is applied once, recorded as a duplicate, and the money is given back once
    assert first.pk == second.pk and ChannelCallback.objects.get().duplicates == 1
    assert first.outcome == ChannelCallback.Outcome.APPLIED
    _assert_failure_undone_once(withdrawal, account, strategy)
    # and a second failure answer by callback (another notification of it) changes nothing
    withdrawals.withdrawal_record_answer(
        withdrawal_id=withdrawal.pk,
        answer=ChannelAnswer(ChannelStatus.FAILURE, payload["channel_txn_id"], AMOUNT, "callback"),
        source=Withdrawal.Source.CALLBACK,
    )
    _assert_failure_undone_once(withdrawal, account, strategy)
    assert not PaymentAlert.objects.filter(kind=PaymentAlert.Kind.CONTRADICTION).exists()
    assert_books_agree_with_channel(sim)


def test_r_wd_04_failure_by_query_then_by_callback_releases_or_reverses_once(withdraw, sim, account, channel, strategy):
    # given a submission that times out while the channel declines it
    sim.script_next(submit="timeout", then="failure")
    withdrawal = withdraw()
    # when a status query finds it failed, and then the failure callback arrives
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk)
    assert reload(withdrawal).resolved_by == Withdrawal.Source.QUERY
    callback = post_callback(channel, sim.callback(withdrawal.request_id))
    # then the callback is recorded as already known and nothing is given back twice
    assert callback.outcome == ChannelCallback.Outcome.NO_CHANGE
    _assert_failure_undone_once(withdrawal, account, strategy)
    assert not PaymentAlert.objects.filter(kind=PaymentAlert.Kind.CONTRADICTION).exists()
    assert_books_agree_with_channel(sim)


def test_r_wd_05_success_then_return_is_a_new_voucher(withdraw, sim, account, channel, strategy):
    # given a paid withdrawal that the payee's bank returns a minute later
    sim.script_next(submit="success", return_after=60)
    withdrawal = withdraw()
    assert withdrawal.state == Withdrawal.State.SUCCEEDED
    settle = Transfer.objects.get(pk=withdrawal.settle_transfer_id)
    sim.advance(61)
    # when the return callback arrives (twice)
    post_callback(channel, sim.callback(withdrawal.request_id))
    post_callback(channel, sim.callback(withdrawal.request_id))
    # then the money and the fee are back, by one new voucher; the original stands untouched
    withdrawal = reload(withdrawal)
    assert withdrawal.state == Withdrawal.State.RETURNED
    assert_untouched(account)
    returned = Transfer.objects.get(pk=withdrawal.return_transfer_id)
    assert returned.kind == "withdrawal_returned" and returned.amount == AMOUNT + FEE
    assert Transfer.objects.get(pk=settle.pk).amount == settle.amount
    assert sim.net_paid() == 0
    assert_books_agree_with_channel(sim)


def test_worker_killed_between_submit_and_record_is_resubmitted_once(withdraw, sim, account, strategy):
    # given a worker that sent the payout and died before recording the answer
    withdrawal = withdraw(submit=False)
    withdrawals._begin_submit(withdrawal_id=withdrawal.pk, now=withdrawal.created_at)
    sim.submit(request_id=withdrawal.request_id, kind="payout", amount=withdrawal.amount)
    assert reload(withdrawal).state == Withdrawal.State.SUBMITTED
    # when the sweeper finds it quiet and re-submits with the same request id
    counts = payments_sweep(now=withdrawal.created_at + dt.timedelta(minutes=5))
    # then the channel answers the first order: paid once, booked once
    assert counts["submitted"] == 1
    withdrawal = reload(withdrawal)
    assert (withdrawal.state, withdrawal.submit_attempts) == (Withdrawal.State.SUCCEEDED, 2)
    assert len(sim.events(withdrawal.request_id)) == 1
    assert_paid(account)
    assert_books_agree_with_channel(sim)


def test_unknown_then_late_answer_after_a_manual_failure_alerts_and_moves_nothing(
    withdraw, sim, account, strategy, django_user_model
):
    # given an unknown withdrawal resolved as failed by maker-checker
    sim.script_next(submit="timeout", then="success", query_error=True)
    withdrawal = withdraw()
    maker = django_user_model.objects.create_user("maker")
    checker = django_user_model.objects.create_user("checker")
    proposal = withdrawals.withdrawal_resolution_propose(
        withdrawal_id=withdrawal.pk, outcome="failed", evidence="channel statement of 2026-12-01 has no such line", maker=maker
    )
    with pytest.raises(withdrawals.MakerCheckerError):
        withdrawals.withdrawal_resolution_approve(resolution_id=proposal.pk, checker=maker)
    withdrawals.withdrawal_resolution_approve(resolution_id=proposal.pk, checker=checker)
    assert reload(withdrawal).state == Withdrawal.State.FAILED
    assert_untouched(account)
    # when the channel later says it paid
    withdrawals.withdrawal_record_answer(
        withdrawal_id=withdrawal.pk,
        answer=ChannelAnswer(ChannelStatus.SUCCESS, "SIMX", AMOUNT),
        source=Withdrawal.Source.CALLBACK,
    )
    # then a P1 alert, and nothing moves automatically
    assert reload(withdrawal).state == Withdrawal.State.FAILED
    assert_untouched(account)
    assert PaymentAlert.objects.filter(kind=PaymentAlert.Kind.CONTRADICTION, severity="P1", withdrawal=withdrawal).exists()


def test_forged_callback_is_refused_recorded_and_moves_nothing(withdraw, sim, account, channel, strategy):
    sim.script_next(submit="timeout", then="success")
    withdrawal = withdraw()
    before = books(account)
    with pytest.raises(CallbackSignatureError):
        post_callback(channel, sim.callback(withdrawal.request_id, forge=True))
    assert reload(withdrawal).state == Withdrawal.State.UNKNOWN
    assert books(account) == before
    assert ChannelCallback.objects.count() == 0
    event = AuditLog.objects.get(action="security.callback_rejected")
    assert event.data["remote_addr"] == "127.0.0.1"
    assert PaymentAlert.objects.filter(kind=PaymentAlert.Kind.FORGED_CALLBACK, severity="P1").exists()


def test_callback_with_another_amount_is_not_applied(withdraw, sim, account, channel, strategy):
    sim.script_next(submit="timeout", then="success")
    withdrawal = withdraw()
    callback = post_callback(channel, sim.callback(withdrawal.request_id, amount="99.99"))
    assert callback.outcome == ChannelCallback.Outcome.AMOUNT_MISMATCH
    assert reload(withdrawal).state == Withdrawal.State.UNKNOWN
    assert_held(account, strategy)


def test_judicial_freeze_after_submission_does_not_stop_booking_a_payment_the_channel_made(withdraw, sim, account, strategy):
    from accounts.tests.states_helpers import make_user, place

    # given an unknown withdrawal, then a full judicial freeze of the account
    sim.script_next(submit="timeout", then="success")
    withdrawal = withdraw()
    freeze = place(
        make_user("jmaker", "request_judicial_freeze"), make_user("jchecker", "approve_judicial_freeze"), account, "full"
    )
    assert freeze.frozen_amount == FUNDED - AMOUNT - FEE
    # when the channel confirms it paid
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk)
    # then the payment is booked (it left before the freeze), the frozen rest stays frozen
    assert reload(withdrawal).state == Withdrawal.State.SUCCEEDED
    b = books(account)
    assert (b["balance"], b["frozen"], b["transit"], b["fee_income"]) == (FUNDED - AMOUNT - FEE, FUNDED - AMOUNT - FEE, 0, FEE)
    assert_books_agree_with_channel(sim)


def test_not_found_grace_runs_from_the_latest_submission(withdraw, sim, account, strategy):
    from django.utils import timezone

    # given a submission marked two hours ago whose worker died before calling the channel
    withdrawal = withdraw(submit=False)
    withdrawals._begin_submit(withdrawal_id=withdrawal.pk, now=timezone.now() - dt.timedelta(hours=2))
    # when the sweeper re-submits and the channel does not know the request for a while yet
    sim.script_next(submit="not_found", delay=30, then="success")
    withdrawals.withdrawal_submit(withdrawal_id=withdrawal.pk)
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk, now=timezone.now() + dt.timedelta(seconds=10))
    # then it is not failed (the channel may still pay it): still unknown, money set aside
    assert reload(withdrawal).state == Withdrawal.State.UNKNOWN
    assert_held(account, strategy)
    sim.advance(31)
    withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk)
    assert reload(withdrawal).state == Withdrawal.State.SUCCEEDED
    assert_books_agree_with_channel(sim)


def test_a_callback_amount_sent_as_a_json_number_is_read_exactly(withdraw, sim, account, channel, strategy):
    # given a channel that sends the amount as a JSON number, not a string
    sim.script_next(submit="timeout", then="success")
    withdrawal = withdraw()
    payload = sim.callback(withdrawal.request_id)
    body = json.dumps(payload).replace(f'"amount": "{payload["amount"]}"', f'"amount": {payload["amount"]}').encode()
    assert b'"amount": 100.00' in body
    # then it is read as its exact decimal text (the signature covers "100.00"), never through a float
    callback, _duplicate = channel_callback_receive(channel_code=channel.code, body=body, headers={})
    assert callback.outcome == ChannelCallback.Outcome.APPLIED and callback.amount == AMOUNT
    assert_paid(account)
