"""Settlement (清分 → 清算 → 结算) through the real services, ledger and channel simulator:
to the fen, idempotent when run twice or killed midway, a receivable netted by the next batch,
payouts above the real-time limit scheduled (never refused), clearing-file differences held
(R-REC-01, R-REC-02), refund payouts past the window under maker-checker."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Transfer
from accounts.ledger.selectors import internal_account, trial_balance
from accounts.payments.channels import ClearingRow
from accounts.payments.invariants import payment_invariants
from backoffice.dates import bank_tz
from merchants import payouts, settlement
from merchants.models import ClearingFile, ClearingLine, Match, MerchantPayout, Payment, SettlementBatch, SettlementItem
from merchants.tests.conftest import balances
from merchants.tests.settlement.conftest import at, channel_file, run_batch, settle_day

D = Decimal


def _today() -> dt.date:
    return dt.datetime.now(bank_tz()).date()


def _transit() -> Decimal:
    return Account.objects.get(pk=internal_account(Role.TRANSIT_WITHDRAWAL).pk).balance


def _invariants_hold() -> bool:
    """accounts' money invariants (transit account, withdrawal holds) are untouched by merchant payouts."""
    return all(invariant.holds for invariant in payment_invariants())


def test_settlement_to_the_fen_with_reserve_refund_and_payout(
    settled_merchant, pay, refund, pay_channel, django_capture_on_commit_callbacks
):
    merchant = settled_merchant(rate="0.006", reserve_rate="0.05", reserve_release_days=30)
    p1 = pay(merchant, "100.00")  # MDR 0.60 → pending 99.40
    p2 = pay(merchant, "33.33")  # MDR 0.19998 → 0.20 half-up → pending 33.13
    r1 = refund(p1, "10.00")  # MDR given back pro rata 0.06 → pending −9.94
    assert (p2.mdr_amount, r1.mdr_refunded) == (D("0.20"), D("0.06"))
    day = _today()
    clearing_before = balances(merchant)["clearing"]
    with django_capture_on_commit_callbacks(execute=True):
        result = settlement.settlement_run(business_date=day, now=at(settle_day(day, merchant)))
    assert result["settled"] == 1
    batch = SettlementBatch.objects.get(merchant=merchant)
    assert batch.state == SettlementBatch.State.SETTLED
    assert (batch.payment_count, batch.payment_amount, batch.mdr_amount) == (2, D("133.33"), D("0.80"))
    assert (batch.refund_count, batch.refund_amount) == (1, D("9.94"))
    assert batch.net_amount == D("122.59")  # 133.33 − 0.80 − 9.94
    assert batch.reserve_amount == D("6.13")  # 122.59 × 5 % = 6.1295 → half-up
    assert (batch.receivable_netted, batch.available_amount) == (D("0"), D("116.46"))
    assert set(batch.items.values_list("match", flat=True)) == {Match.MATCHED}
    after = balances(merchant)
    assert (after["pending"], after["reserve"], after["available"]) == (D("0"), D("6.13"), D("0"))
    payout = MerchantPayout.objects.get(batch=batch)
    assert payout.kind == MerchantPayout.Kind.SETTLEMENT and payout.amount == D("116.46")
    assert payout.request_id.startswith("MP") and payout.card_id == merchant.settlement_card_id
    assert payout.state == MerchantPayout.State.SUCCEEDED, payout.failure_reason
    # The payout's cash left through clearing: clearing fell by exactly what was paid out.
    assert after["clearing"] - clearing_before == -D("116.46")
    assert _transit() == D("0")
    assert trial_balance().balanced
    # The reserve is released after the release days, once.
    release_day = batch.settle_date + dt.timedelta(days=30)
    assert settlement.reserve_release_due(today=release_day - dt.timedelta(days=1)) == 0
    assert settlement.reserve_release_due(today=release_day) == 1
    assert settlement.reserve_release_due(today=release_day) == 0
    assert (balances(merchant)["reserve"], balances(merchant)["available"]) == (D("0"), D("6.13"))


def _snapshot(merchant):
    batches = list(
        SettlementBatch.objects.filter(merchant=merchant).values(
            "pk", "state", "net_amount", "settled_amount", "reserve_amount", "available_amount", "transfer_id"
        )
    )
    items = list(SettlementItem.objects.filter(batch__merchant=merchant).values("request_id", "net_amount", "match"))
    payouts_ = list(MerchantPayout.objects.filter(merchant=merchant).values("pk", "amount", "state"))
    return batches, items, payouts_, balances(merchant), Transfer.objects.count(), ClearingFile.objects.count()


def test_the_job_twice_makes_one_batch_and_the_same_books(settled_merchant, pay, pay_channel, django_capture_on_commit_callbacks):
    merchant = settled_merchant()
    pay(merchant, "88.88")
    day = _today()
    now = at(settle_day(day, merchant))
    with django_capture_on_commit_callbacks(execute=True):
        settlement.settlement_run(business_date=day, now=now)
    first = _snapshot(merchant)
    with django_capture_on_commit_callbacks(execute=True):
        settlement.settlement_run(business_date=day, now=now)
    assert _snapshot(merchant) == first
    assert SettlementBatch.objects.filter(merchant=merchant).count() == 1
    assert first[0][0]["available_amount"] == D("88.35")  # 88.88 − 0.53


@pytest.mark.parametrize("died_after", ["open", "clear", "reconcile"])
def test_a_job_killed_midway_goes_on_to_the_same_result(
    died_after, settled_merchant, pay, pay_channel, django_capture_on_commit_callbacks
):
    merchant = settled_merchant()
    pay(merchant, "50.00")
    day = _today()
    now = at(settle_day(day, merchant))
    batch = settlement.batch_open(merchant=merchant, channel=pay_channel, business_date=day)
    if died_after in ("clear", "reconcile"):
        settlement.batch_clear(batch_id=batch.pk, now=now)
    if died_after == "reconcile":
        settlement.batch_reconcile(batch_id=batch.pk, now=now)
    # The next run finds the batch where the dead one left it and finishes it, once.
    with django_capture_on_commit_callbacks(execute=True):
        settlement.settlement_run(business_date=day, now=now)
        settlement.settlement_run(business_date=day, now=now)
    batch = SettlementBatch.objects.get(merchant=merchant)
    assert batch.state == SettlementBatch.State.SETTLED
    assert (batch.net_amount, batch.available_amount) == (D("49.70"), D("49.70"))
    assert MerchantPayout.objects.filter(merchant=merchant).count() == 1
    assert Transfer.objects.filter(kind="merchant_settlement").count() == 1
    assert ClearingFile.objects.count() == 1
    assert trial_balance().balanced


def test_a_refund_after_settlement_makes_a_receivable_the_next_batch_nets(
    settled_merchant, pay, refund, pay_channel, django_capture_on_commit_callbacks
):
    merchant = settled_merchant()
    today = _today()
    day1 = today - dt.timedelta(days=7)
    p1 = pay(merchant, "100.00", now=at(day1))
    assert p1.business_date == day1
    b1 = run_batch(
        merchant, pay_channel, day1, rows=channel_file(pay_channel, day1, request_ids={p1.request_id}),
        now=at(settle_day(day1, merchant)), capture=django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert b1.state == SettlementBatch.State.SETTLED and b1.available_amount == D("99.40")
    assert balances(merchant)["pending"] == balances(merchant)["available"] == D("0")  # paid out
    # After settlement: a refund of 50.00 finds nothing in the merchant's books: the bank advances it.
    r = refund(p1, "50.00")
    assert r.receivable_amount == D("49.70")  # 50.00 − MDR given back 0.30
    assert balances(merchant)["receivable"] == D("49.70")
    b1.refresh_from_db()
    assert b1.available_amount == D("99.40") and b1.items.count() == 1  # the past batch is never edited
    p2 = pay(merchant, "200.00")
    b2 = run_batch(
        merchant, pay_channel, today, rows=channel_file(pay_channel, today, request_ids={p2.request_id, r.request_id}),
        now=at(settle_day(today, merchant)), capture=django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert b2.state == SettlementBatch.State.SETTLED
    assert set(b2.items.values_list("kind", "match")) == {("payment", Match.MATCHED), ("refund", Match.MATCHED)}
    assert b2.net_amount == D("198.80")  # the refund took nothing from pending
    assert (b2.receivable_netted, b2.available_amount) == (D("49.70"), D("149.10"))
    assert balances(merchant)["receivable"] == D("0")
    assert MerchantPayout.objects.get(batch=b2).amount == D("149.10")
    assert trial_balance().balanced


def test_a_settlement_above_the_real_time_limit_is_scheduled_into_the_window_not_refused(
    settled_merchant, pay, pay_channel, django_capture_on_commit_callbacks
):
    pay_channel.real_time_limit = D("50.00")
    pay_channel.save(update_fields=["real_time_limit"])
    merchant = settled_merchant()
    pay(merchant, "1000.00")
    day = _today()
    evening = at(settle_day(day, merchant), 20, 0)  # after the window closed
    with django_capture_on_commit_callbacks(execute=True):
        settlement.settlement_run(business_date=day, now=evening)
    payout = MerchantPayout.objects.get(merchant=merchant)
    assert payout.state == MerchantPayout.State.SCHEDULED and payout.amount == D("994.00")
    assert payout.settles == "next_working_day"
    opens = payout.not_before.astimezone(bank_tz())
    assert opens.time() == pay_channel.window_start and opens.date() > evening.date()
    available = Account.objects.get(pk=merchant.available_account_id)
    assert (available.balance, available.frozen) == (D("994.00"), D("994.00"))  # set aside (a hold), not refused
    assert _transit() == D("0") and _invariants_hold()
    with django_capture_on_commit_callbacks(execute=True):
        assert payouts.payouts_release_due(now=opens - dt.timedelta(minutes=1)) == 0
        assert payouts.payouts_release_due(now=opens + dt.timedelta(minutes=5)) == 1
    payout.refresh_from_db()
    assert payout.state == MerchantPayout.State.SUCCEEDED
    available = Account.objects.get(pk=merchant.available_account_id)
    assert (available.balance, available.frozen) == (D("0"), D("0"))
    assert _transit() == D("0") and _invariants_hold() and trial_balance().balanced


def test_r_rec_01_a_clearing_file_is_imported_once_by_its_hash(pay_channel):
    day = _today()
    rows = [ClearingRow("T1", "PY9999999999", "payment", D("1.00"), day)]
    first = settlement.clearing_file_import(channel=pay_channel, business_date=day, rows=rows)
    again = settlement.clearing_file_import(channel=pay_channel, business_date=day, rows=list(reversed(rows)))
    assert first.pk == again.pk and ClearingFile.objects.count() == 1 and ClearingLine.objects.count() == 1
    assert first.lines.get().match == Match.LONG  # no payment of ours: 长款


def test_r_rec_02_unmatched_items_are_held_not_paid(settled_merchant, pay, pay_channel, django_capture_on_commit_callbacks):
    merchant = settled_merchant(rate="0")
    ok, short, mismatch, timing = (pay(merchant, amount) for amount in ("10.00", "20.00", "30.00", "40.00"))
    day = _today()
    rows = channel_file(
        pay_channel, day, request_ids={ok.request_id, mismatch.request_id, timing.request_id},
        changes={mismatch.request_id: D("29.99")},
    )  # fmt: skip
    rows = [
        r
        if r.request_id != timing.request_id
        else ClearingRow(r.channel_txn_id, r.request_id, r.kind, r.amount, day + dt.timedelta(days=1))
        for r in rows
    ]
    rows.append(ClearingRow("LONG-1", "PY8888888888", "payment", D("5.00"), day))
    batch = run_batch(
        merchant, pay_channel, day, rows=rows, now=at(settle_day(day, merchant)), capture=django_capture_on_commit_callbacks
    )
    matches = dict(batch.items.values_list("request_id", "match"))
    assert matches == {
        ok.request_id: Match.MATCHED,
        short.request_id: Match.SHORT,
        mismatch.request_id: Match.MISMATCH,
        timing.request_id: Match.TIMING,
    }
    assert ClearingLine.objects.get(request_id="PY8888888888").match == Match.LONG
    assert batch.state == SettlementBatch.State.HELD
    assert (batch.net_amount, batch.held_amount, batch.settled_amount) == (D("100.00"), D("90.00"), D("10.00"))
    assert balances(merchant)["pending"] == D("90.00")  # held, never paid
    assert MerchantPayout.objects.get(batch=batch).amount == D("10.00")
    assert trial_balance().balanced


def test_no_payout_without_a_standing_settlement_authorisation(
    make_merchant, pay, pay_channel, django_capture_on_commit_callbacks
):
    merchant = make_merchant()  # approved with its authorisation, which is revoked
    settlement.settlement_authorisation_revoke(merchant_id=merchant.pk)
    pay(merchant, "10.00")
    day = _today()
    with django_capture_on_commit_callbacks(execute=True):
        settlement.settlement_run(business_date=day, now=at(settle_day(day, merchant)))
    assert SettlementBatch.objects.get(merchant=merchant).state == SettlementBatch.State.SETTLED
    assert not MerchantPayout.objects.filter(merchant=merchant).exists()
    assert balances(merchant)["available"] == D("9.94")  # settled into available, kept there


def test_maker_is_not_checker_on_a_refund_payout_past_the_window(
    settled_merchant, pay, maker, checker, pay_channel, django_capture_on_commit_callbacks
):
    merchant = settled_merchant()
    payment = pay(merchant, "100.00")
    payout = payouts.refund_payout_propose(
        payment_id=payment.pk, amount="60.00", payee_name="张三", payee_account="6222020200112233445",
        reason="past the refund window", maker=maker,
    )  # fmt: skip
    assert payout.state == MerchantPayout.State.AWAITING_CHECK and payout.payee_account_last4 == "3445"
    assert "6222020200112233445" not in payout.payee_account_encrypted
    with pytest.raises(payouts.MakerCheckerViolationError):
        payouts.refund_payout_approve(payout_id=payout.pk, checker=maker)
    with pytest.raises(payouts.PayoutBeyondRefundableError):
        payouts.refund_payout_propose(
            payment_id=payment.pk, amount="100.01", payee_name="张三", payee_account="6222020200112233445",
            reason="past the window", maker=maker,
        )  # fmt: skip
    before = balances(merchant)
    with django_capture_on_commit_callbacks(execute=True):
        payouts.refund_payout_approve(payout_id=payout.pk, checker=checker)
    payout.refresh_from_db()
    assert payout.state == MerchantPayout.State.SUCCEEDED and payout.checker_id == checker.pk
    payment = Payment.objects.get(pk=payment.pk)
    assert (payment.refunded_cash, payment.reserved_cash) == (D("60.00"), D("0"))
    after = balances(merchant)
    assert after["pending"] - before["pending"] == -D("60.00")
    assert after["clearing"] - before["clearing"] == -D("60.00")
    assert _invariants_hold() and trial_balance().balanced


def test_a_failed_settlement_payout_releases_its_hold(settled_merchant, pay, paysim, django_capture_on_commit_callbacks):
    from accounts.payments.simulator import Script

    merchant = settled_merchant()
    pay(merchant, "20.00")
    day = _today()
    paysim.script_next(Script(submit="failure"))
    with django_capture_on_commit_callbacks(execute=True):
        settlement.settlement_run(business_date=day, now=at(settle_day(day, merchant)))
    payout = MerchantPayout.objects.get(merchant=merchant)
    assert payout.state == MerchantPayout.State.FAILED
    available = Account.objects.get(pk=merchant.available_account_id)
    assert (available.balance, available.frozen) == (D("19.88"), D("0"))  # back to the merchant, free again
    assert _invariants_hold() and trial_balance().balanced
