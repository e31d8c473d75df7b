"""Held items of a held batch through the real services, ledger and channel simulator (R-REC-02/03/04):
a short item matched by the next file and paid by a follow-up settlement, a short item past T+2 in
suspense with a P2 alert, 调账 under maker-checker (release, or reversal of a payment the channel
never paid), the job run twice, long lines noted."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from accounts.ledger.models import Transfer
from accounts.ledger.selectors import trial_balance
from accounts.payments.channels import ClearingRow
from accounts.payments.models import PaymentAlert
from backoffice.dates import bank_tz
from backoffice.errors import FieldValidationError, InvalidStateError, MakerCheckerError
from merchants import held, settlement
from merchants.errors import PaymentNotRefundableError
from merchants.models import (
    ClearingLine,
    HeldAdjustment,
    HeldItem,
    LongLineNote,
    Match,
    MerchantPayout,
    SettlementBatch,
    SettlementItem,
)
from merchants.tests.conftest import balances
from merchants.tests.settlement.conftest import at

pytestmark = pytest.mark.django_db

D = Decimal
DAY = dt.timedelta(days=1)


def _today() -> dt.date:
    return dt.datetime.now(bank_tz()).date()


def _row(payment, business_date: dt.date, amount=None) -> ClearingRow:
    return ClearingRow(f"LATE-{payment.request_id}", payment.request_id, "payment", amount or payment.paid_amount, business_date)


def _ledger_check() -> None:
    call_command("ledger_check", stdout=io.StringIO())  # exits non-zero on any drift


def test_r_rec_03_a_short_item_matched_by_the_next_file_is_paid_by_a_follow_up_settlement(
    held_batch, pay_channel, django_capture_on_commit_callbacks
):
    merchant, batch, payments = held_batch(short=["20.00"])
    short = payments["short"][0]
    day = batch.business_date
    assert balances(merchant)["pending"] == D("20.00")  # held, never paid
    first_voucher = batch.transfer_id
    # The channel booked it a day late: its file of T+1 carries it.
    late = settlement.clearing_file_import(channel=pay_channel, business_date=day + DAY, rows=[_row(short, day + DAY)])
    with django_capture_on_commit_callbacks(execute=True):
        result = held.held_items_review(business_date=day + DAY, now=at(day + 2 * DAY))
    assert result == {"opened": 1, "matched_late": 1, "suspense": 0}
    item = HeldItem.objects.get()
    assert item.state == HeldItem.State.MATCHED_LATE
    assert item.matched_line == ClearingLine.objects.get(file=late, request_id=short.request_id)
    assert list(item.files_examined.all()) == [late]
    assert (item.released_amount, item.available_amount) == (D("20.00"), D("20.00"))
    # The old match rows and the batch's own figures and voucher are untouched.
    assert SettlementItem.objects.get(request_id=short.request_id).match == Match.SHORT
    batch.refresh_from_db()
    assert (batch.state, batch.transfer_id, batch.settled_amount, batch.held_amount) == (
        SettlementBatch.State.RESOLVED,
        first_voucher,
        D("10.00"),
        D("20.00"),
    )
    assert item.transfer.kind == "merchant_settlement" and item.transfer_id != first_voucher
    # Paid out like any settlement: 10.00 with the batch, 20.00 after the release.
    assert sorted(p.amount for p in MerchantPayout.objects.filter(merchant=merchant)) == [D("10.00"), D("20.00")]
    assert balances(merchant)["pending"] == D("0")
    assert trial_balance().balanced
    _ledger_check()


def test_r_rec_03_a_short_item_waits_t_plus_2_then_goes_to_suspense_with_a_p2_alert(held_batch, pay_channel):
    merchant, batch, payments = held_batch(short=["20.00"])
    short = payments["short"][0]
    day = batch.business_date
    # T+1: the channel's file (fetched from the simulator) does not carry it: still waiting.
    assert held.held_items_review(business_date=day + DAY, now=at(day + 2 * DAY))["suspense"] == 0
    item = HeldItem.objects.get()
    assert item.state == HeldItem.State.WAITING and item.files_examined.count() == 1
    assert not PaymentAlert.objects.filter(reference=short.request_id).exists()
    # T+2: still not there: suspense (挂账), a P2 alert pointing at it; nothing posted.
    vouchers = Transfer.objects.count()
    assert held.held_items_review(business_date=day + 2 * DAY, now=at(day + 3 * DAY))["suspense"] == 1
    item.refresh_from_db()
    assert item.state == HeldItem.State.SUSPENSE and item.files_examined.count() == 2
    assert "T+2" in item.suspense_reason
    alert = PaymentAlert.objects.get(reference=short.request_id)
    assert (alert.severity, alert.kind, alert.data["held_item"]) == ("P2", PaymentAlert.Kind.SUSPENSE_CREDIT, item.pk)
    assert Transfer.objects.count() == vouchers and balances(merchant)["pending"] == D("20.00")
    assert SettlementBatch.objects.get(pk=batch.pk).state == SettlementBatch.State.HELD
    # A file arriving after the wait changes nothing: suspense is resolved only by 调账.
    settlement.clearing_file_import(channel=pay_channel, business_date=day + 3 * DAY, rows=[_row(short, day + 3 * DAY)])
    held.held_items_review(business_date=day + 3 * DAY, now=at(day + 4 * DAY))
    assert HeldItem.objects.get().state == HeldItem.State.SUSPENSE


def test_r_rec_03_a_later_file_with_another_amount_puts_it_in_suspense(held_batch, pay_channel):
    merchant, batch, payments = held_batch(short=["20.00"])
    short, day = payments["short"][0], batch.business_date
    settlement.clearing_file_import(channel=pay_channel, business_date=day + DAY, rows=[_row(short, day + DAY, D("19.00"))])
    assert held.held_items_review(business_date=day + DAY, now=at(day + 2 * DAY))["suspense"] == 1
    assert "19.00" in HeldItem.objects.get().suspense_reason


def test_r_rec_02_a_mismatch_goes_to_suspense_at_once(held_batch):
    merchant, batch, payments = held_batch(short=(), mismatch=["30.00"])
    held.held_items_review(business_date=batch.business_date, now=at(batch.settle_date))
    item = HeldItem.objects.get()
    assert item.state == HeldItem.State.SUSPENSE and "29.99" in item.suspense_reason
    assert PaymentAlert.objects.filter(reference=payments["mismatch"][0].request_id, severity="P2").exists()


def _into_suspense(held_batch, **kwargs):
    merchant, batch, payments = held_batch(**kwargs)
    day = batch.business_date
    held.held_items_review(business_date=day + DAY, now=at(day + 2 * DAY))
    held.held_items_review(business_date=day + 2 * DAY, now=at(day + 3 * DAY))
    item = HeldItem.objects.get()
    assert item.state == HeldItem.State.SUSPENSE
    return merchant, batch, item


def test_r_rec_04_suspense_released_by_maker_checker_maker_refused(
    held_batch, maker, checker, django_capture_on_commit_callbacks
):
    merchant, batch, item = _into_suspense(held_batch, reserve_rate="0.05", reserve_release_days=30)
    with pytest.raises(FieldValidationError) as refused:
        held.adjustment_propose(held_id=item.pk, reason="", note="", maker=maker)
    assert set(refused.value.fields) == {"reason", "note"}
    adjustment = held.adjustment_propose(
        held_id=item.pk, reason=HeldAdjustment.Reason.CHANNEL_CONFIRMED, note="通道客服确认 ticket 123", maker=maker
    )
    assert HeldItem.objects.get(pk=item.pk).state == HeldItem.State.PROPOSED
    with pytest.raises(InvalidStateError):  # one proposal at a time
        held.adjustment_propose(held_id=item.pk, reason=HeldAdjustment.Reason.NOT_PAID, note="x", maker=checker)
    vouchers = Transfer.objects.count()
    with pytest.raises(MakerCheckerError):
        held.adjustment_approve(adjustment_id=adjustment.pk, checker=maker)
    assert Transfer.objects.count() == vouchers
    with django_capture_on_commit_callbacks(execute=True):
        held.adjustment_approve(adjustment_id=adjustment.pk, checker=checker, note="ok")
    adjustment.refresh_from_db()
    item.refresh_from_db()
    assert (adjustment.state, adjustment.checker, item.state) == (
        HeldAdjustment.State.APPROVED,
        checker,
        HeldItem.State.ADJUSTED,
    )
    # New entries only: 20.00 out of pending, 5 % to the reserve, the rest available then paid out.
    assert (item.released_amount, item.reserve_amount, item.available_amount) == (D("20.00"), D("1.00"), D("19.00"))
    assert adjustment.transfer_id == item.transfer_id and Transfer.objects.count() > vouchers
    assert balances(merchant)["pending"] == D("0")
    assert MerchantPayout.objects.filter(merchant=merchant, amount=D("19.00")).exists()
    assert SettlementBatch.objects.get(pk=batch.pk).state == SettlementBatch.State.RESOLVED
    with pytest.raises(InvalidStateError):  # decided once
        held.adjustment_approve(adjustment_id=adjustment.pk, checker=checker)
    # The release's reserve goes back after the release days, once.
    assert held.held_reserve_release_due(today=item.reserve_release_on) == 1
    assert held.held_reserve_release_due(today=item.reserve_release_on) == 0
    assert trial_balance().balanced
    _ledger_check()


def test_r_rec_04_not_paid_reverses_the_payment_voucher(held_batch, maker, checker, refund):
    merchant, batch, item = _into_suspense(held_batch)
    payment = item.item.payment
    before = balances(merchant)
    adjustment = held.adjustment_propose(
        held_id=item.pk, reason=HeldAdjustment.Reason.NOT_PAID, note="通道确认未扣款", maker=maker
    )
    held.adjustment_approve(adjustment_id=adjustment.pk, checker=checker)
    adjustment.refresh_from_db()
    reversal = adjustment.transfer
    assert reversal is not None and reversal.pk != payment.success_transfer_id
    after = balances(merchant)
    # The pending credit is reversed (the merchant is no longer owed it), clearing no longer expects it.
    assert after["pending"] == before["pending"] - D("20.00")
    assert after["clearing"] == before["clearing"] - D("20.00")
    assert Transfer.objects.get(pk=payment.success_transfer_id).entries.count() == reversal.entries.count()
    assert SettlementBatch.objects.get(pk=batch.pk).state == SettlementBatch.State.RESOLVED
    # Written off: the payment can no longer be refunded.
    with pytest.raises(PaymentNotRefundableError):
        refund(payment, "1.00")
    assert trial_balance().balanced
    _ledger_check()


def test_r_rec_04_a_rejected_adjustment_goes_back_to_suspense(held_batch, maker, checker):
    merchant, batch, item = _into_suspense(held_batch)
    adjustment = held.adjustment_propose(
        held_id=item.pk, reason=HeldAdjustment.Reason.AMOUNT_CORRECTED, note="见通道更正函", maker=maker
    )
    with pytest.raises(FieldValidationError):
        held.adjustment_reject(adjustment_id=adjustment.pk, checker=checker, note="")
    with pytest.raises(MakerCheckerError):
        held.adjustment_reject(adjustment_id=adjustment.pk, checker=maker, note="no")
    vouchers = Transfer.objects.count()
    held.adjustment_reject(adjustment_id=adjustment.pk, checker=checker, note="更正函未到")
    assert HeldAdjustment.objects.get(pk=adjustment.pk).state == HeldAdjustment.State.REJECTED
    assert HeldItem.objects.get(pk=item.pk).state == HeldItem.State.SUSPENSE
    assert Transfer.objects.count() == vouchers
    # A new proposal can follow.
    held.adjustment_propose(held_id=item.pk, reason=HeldAdjustment.Reason.CHANNEL_CONFIRMED, note="再次确认", maker=maker)
    assert HeldAdjustment.objects.filter(held=item).count() == 2


def test_r_rec_03_the_job_twice_is_once(held_batch, pay_channel, django_capture_on_commit_callbacks):
    merchant, batch, payments = held_batch(short=["20.00", "30.00"])
    late, missing = payments["short"]
    day = batch.business_date
    settlement.clearing_file_import(channel=pay_channel, business_date=day + DAY, rows=[_row(late, day + DAY)])

    def snapshot():
        return (
            list(HeldItem.objects.order_by("pk").values("pk", "state", "released_amount", "transfer_id", "matched_line_id")),
            Transfer.objects.count(),
            MerchantPayout.objects.count(),
            PaymentAlert.objects.count(),
            balances(merchant),
            SettlementBatch.objects.get(pk=batch.pk).state,
        )

    for business_date in (day + DAY, day + 2 * DAY):
        now = at(business_date + DAY)
        with django_capture_on_commit_callbacks(execute=True):
            settlement.settlement_run(business_date=business_date, now=now)
        first = snapshot()
        with django_capture_on_commit_callbacks(execute=True):
            settlement.settlement_run(business_date=business_date, now=now)
        assert snapshot() == first
    states = dict(HeldItem.objects.values_list("item__request_id", "state"))
    assert states == {late.request_id: HeldItem.State.MATCHED_LATE, missing.request_id: HeldItem.State.SUSPENSE}
    assert PaymentAlert.objects.filter(reference=missing.request_id).count() == 1
    assert balances(merchant)["pending"] == D("30.00")
    assert trial_balance().balanced


def test_a_long_line_gets_an_operator_note_once(pay_channel, maker):
    day = _today()
    file = settlement.clearing_file_import(
        channel=pay_channel, business_date=day, rows=[ClearingRow("T-L", "PY7777777777", "payment", D("5.00"), day)]
    )
    line = file.lines.get()
    assert line.match == Match.LONG
    with pytest.raises(FieldValidationError):
        held.long_line_note(line_id=line.pk, reason="nope", note="", actor=maker)
    held.long_line_note(line_id=line.pk, reason=LongLineNote.Reason.NOT_OURS, note="通道确认为他行交易", actor=maker)
    with pytest.raises(InvalidStateError):
        held.long_line_note(line_id=line.pk, reason=LongLineNote.Reason.OTHER, note="again", actor=maker)
    assert LongLineNote.objects.get().recorded_by == maker
