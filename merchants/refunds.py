"""Refunds of merchant payments (R-REF-01 … R-REF-04), on the shared channel-instruction lifecycle
(request ids ``RF…``; callbacks reach them through the handler registry by that prefix).

Rules:
- R-REF-01: under the payment's row lock, cumulative refunds (succeeded + in flight) never exceed
  the order amount, and the cash given back never exceeds what the payer paid (实付). A refund
  reserves its amounts on the payment when it is accepted; a failure releases them, a success
  turns them into refunded totals. Cash first, then refundable discounts (as coupons, never as
  cash), in the order they were given. Asking for more than is refundable answers 409
  ``limit_exceeded`` with ``data.limit = "refundable"`` and ``data.remaining``.
- R-REF-02: ``out_refund_no`` is unique per merchant. The same number again for the same payment
  and amount answers the first refund (a retry never refunds twice, whatever its state); with
  another payment or amount it is 409 ``duplicate_reference``.
- R-REF-03: the channel's answer to the refund request only means "accepted": the refund becomes
  ``unknown`` and succeeds or fails only from a status query (asked once right after the
  submission, then by the sweeper / with backoff) or a callback. ``unknown`` never ends by a clock.
- R-REF-04: per channel, at most ``refund_count_limit`` refunds per payment (failed ones do not
  count; 409 ``refund_count_exceeded``) and none after ``refund_window_days`` (409
  ``refund_window_closed``, whose ``data`` points at the refund payout). Past the window the money
  goes back by a refund payout (代付, ``merchants.payouts``) to an account the payer supplies, under
  maker-checker.

The MDR given back (policy ``MERCHANTS_MDR_REFUND``): ``pro_rata`` (default) gives back the share of
the MDR that the refunded part of the MDR base bears, computed cumulatively: after each refund the
MDR given back in total is MDR × (base refunded so far ÷ base), half-up to the fen, and each refund
gives back the difference, so the parts add up exactly to the MDR charged when everything is
refunded (what a largest-remainder split of the whole would give) and never exceed it; ``none``
keeps the whole MDR (the merchant bears it).

Who bears the refund: the merchant. On success one voucher (kind ``merchant_refund``):

    Dr merchant pending → available → reserve   the merchant's share (cash + platform coupons +
                                                 channel discounts given back − MDR given back),
                                                 in that order, as far as each holds
    Dr merchant receivable                       any remainder: the bank's advance (an asset), with an alert
    Dr fee income                                MDR given back
       Cr clearing                               cash + channel discounts given back
       Cr marketing                              platform coupons given back

A merchant-funded discount given back moves no money (the merchant never received it).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.models import Account
from accounts.ledger.selectors import internal_account
from accounts.payments.channels import ChannelAnswer, ChannelStatus, ChannelUnavailableError, adapter_for
from accounts.payments.instructions import (
    APPLIED,
    CALLBACK_OUTCOME,
    CONTRADICTION,
    Instruction,
    amount_parse,
    instruction_alert,
    instruction_apply_answer,
    instruction_enqueue_submit,
    instruction_query_status,
    instruction_submit,
)
from accounts.payments.models import ChannelCallback, PaymentAlert
from backoffice.audit import audit_record
from backoffice.dates import bank_tz
from backoffice.errors import FieldValidationError, NotFoundError
from backoffice.texts import text_spec
from backoffice.webhooks import webhook_emit
from merchants import conf
from merchants.errors import (
    DuplicateReferenceError,
    PaymentNotRefundableError,
    RefundCountExceededError,
    RefundLimitExceededError,
    RefundWindowClosedError,
)
from merchants.held import written_off
from merchants.models import Payment, PaymentDiscount, Refund, Source
from merchants.payments import LEDGER_CLIENT, refundable_cash, refundable_remaining

__all__ = [
    "REFUND_INSTRUCTION",
    "refund_create",
    "refund_query_status",
    "refund_submit",
]

FEN = Decimal("0.01")
#: A refund whose cash the channel (or a callback) reports otherwise: nothing moves, a P1 alert.
REFUND_MISMATCH = _(
    "{reference}: {source} reports {reported} refunded, the refund's cash is {amount}. Nothing was moved. "
    "/ {reference}：{source}报告退款 {reported}，该退款的现金部分为 {amount}。未做任何账务处理。"
)


def _audit(refund: Refund, action: str, *, actor=None, actor_label: str = "", **data) -> None:
    audit_record(actor=actor, actor_label=actor_label, action=f"merchants.refund.{action}", target=refund, data=data)


def refund_payload(refund: Refund) -> dict:
    return {
        "id": str(refund.pk),
        "payment": str(refund.payment_id),
        "merchant": str(refund.merchant_id),
        "out_refund_no": refund.out_refund_no,
        "state": refund.state,
        "amount": f"{refund.amount:.2f}",
        "cash_amount": f"{refund.cash_amount:.2f}",
        "coupon_amount": f"{refund.coupon_amount:.2f}",
    }


# -- the lifecycle ---------------------------------------------------------------------------------


class RefundInstruction(Instruction):
    kind, prefix, model = "refund", "RF", Refund
    submit_task, query_task = "merchants.refund_submit", "merchants.refund_query_status"
    submittable = (Refund.State.CREATED, Refund.State.SUBMITTED)
    settled = {ChannelStatus.SUCCESS: (Refund.State.SUCCEEDED,), ChannelStatus.FAILURE: (Refund.State.FAILED,)}
    related = ("channel", "merchant", "payment")

    def send(self, refund: Refund) -> ChannelAnswer:
        answer = adapter_for(refund.channel).refund(
            request_id=refund.request_id, payment_request_id=refund.payment.request_id, amount=refund.cash_amount
        )
        if answer.status == ChannelStatus.SUCCESS:
            # R-REF-03: the apply response means "accepted", never "refunded".
            return ChannelAnswer(ChannelStatus.PROCESSING, answer.channel_txn_id, answer.amount, "accepted", answer.raw)
        return answer

    def callback_link(self, row) -> dict:
        return {}

    def alert_link(self, row) -> dict:
        return {"reference": row.request_id or "", "channel": row.channel}

    def callback_apply(self, row, *, callback: ChannelCallback, event, now) -> str:
        if event.amount != row.cash_amount:
            instruction_alert(
                self,
                row,
                kind=PaymentAlert.Kind.AMOUNT_MISMATCH,
                severity=PaymentAlert.Severity.P1,
                message=text_spec(
                    REFUND_MISMATCH,
                    reference=row.request_id,
                    source=_("a callback / 回调"),
                    reported=event.amount,
                    amount=row.cash_amount,
                ),
                callback=callback.pk,
            )
            return ChannelCallback.Outcome.AMOUNT_MISMATCH
        answer = ChannelAnswer(event.status, event.channel_txn_id, event.amount, "callback")
        return CALLBACK_OUTCOME[instruction_apply_answer(self, row, answer, source=Source.CALLBACK, now=now)]

    def submitted(self, refund: Refund) -> None:
        _audit(refund, "submit", attempt=refund.submit_attempts)

    def became_unknown(self, refund: Refund, answer: ChannelAnswer) -> None:
        _audit(refund, "unknown", channel_says=answer.status.value, message=answer.message[:200])

    def succeed(self, refund: Refund, answer: ChannelAnswer, *, source, now, actor=None) -> str:
        if answer.amount is not None and answer.amount != refund.cash_amount:
            instruction_alert(
                self,
                refund,
                kind=PaymentAlert.Kind.AMOUNT_MISMATCH,
                severity=PaymentAlert.Severity.P1,
                message=text_spec(
                    REFUND_MISMATCH,
                    reference=refund.request_id,
                    source=_("the channel / 通道"),
                    reported=answer.amount,
                    amount=refund.cash_amount,
                ),
            )
            return CONTRADICTION
        _book_refund(refund)
        refund.mark_succeeded()
        refund.resolved_by, refund.resolved_at = source, now
        _audit(refund, "succeed", actor=actor, source=source, transfer=refund.transfer_id)
        webhook_emit(owner=refund.merchant.owner, event="refund.succeeded", payload=refund_payload(refund))
        return APPLIED

    def fail(self, refund: Refund, answer: ChannelAnswer, *, source, now, actor=None) -> str:
        _release(refund)
        refund.mark_failed()
        refund.resolved_by, refund.resolved_at = source, now
        refund.failure_reason = (answer.message or "declined")[:200]
        _audit(refund, "fail", actor=actor, source=source, reason=refund.failure_reason)
        webhook_emit(owner=refund.merchant.owner, event="refund.failed", payload=refund_payload(refund))
        return APPLIED


REFUND_INSTRUCTION = RefundInstruction()


def _locked_payment(payment_id: int) -> tuple[Payment, list[PaymentDiscount]]:
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    discounts = list(PaymentDiscount.objects.select_for_update().filter(payment=payment).order_by("pk"))
    return payment, discounts


def _move_totals(refund: Refund, *, succeeded: bool) -> None:
    """End a refund's reservation on its payment (locked here): into the refunded totals on success,
    released on failure."""
    payment, discounts = _locked_payment(refund.payment_id)
    payment.reserved_amount -= refund.amount
    payment.reserved_cash -= refund.cash_amount
    payment.reserved_mdr -= refund.mdr_refunded
    if succeeded:
        payment.refunded_amount += refund.amount
        payment.refunded_cash += refund.cash_amount
        payment.refunded_mdr += refund.mdr_refunded
    else:
        payment.refund_count -= 1
    payment.save()
    for discount in discounts:
        part = Decimal(refund.coupon_breakdown.get(str(discount.pk), "0"))
        if part:
            discount.reserved -= part
            if succeeded:
                discount.refunded += part
            discount.save(update_fields=["reserved", "refunded", "updated_at"])
    refund.payment = payment


def _release(refund: Refund) -> None:
    _move_totals(refund, succeeded=False)


def _book_refund(refund: Refund) -> None:
    """The refund voucher (module docstring), funded pending → available → reserve → receivable."""
    merchant = refund.merchant
    share = refund.cash_amount + refund.platform_coupon_amount + refund.channel_coupon_amount - refund.mdr_refunded
    funding = [merchant.pending_account_id, merchant.available_account_id, merchant.reserve_account_id]
    bank = [internal_account(role).pk for role in (Role.FEE_INCOME, Role.CLEARING, Role.MARKETING)]
    # Lock order: the refund (by the caller), its payment, then every account the voucher may touch
    # in ascending ids as the ledger does (so a payment's voucher posted meanwhile cannot deadlock
    # with this one); what each merchant account holds stays true until the posting.
    _locked_payment(refund.payment_id)
    touched = [*funding, merchant.receivable_account_id, *bank]
    held = {a.pk: a.available for a in Account.objects.select_for_update().filter(pk__in=touched).order_by("pk")}
    legs, left = [], share
    for pk in funding:
        take = min(left, max(held.get(pk, Decimal("0")), Decimal("0")))
        if take > 0:
            legs.append(ledger.Leg(pk, DEBIT, take))
            left -= take
    refund.receivable_amount = left
    if left > 0:
        legs.append(ledger.Leg(merchant.receivable_account_id, DEBIT, left))
    legs += [
        ledger.Leg(internal_account(Role.FEE_INCOME).pk, DEBIT, refund.mdr_refunded),
        ledger.Leg(internal_account(Role.CLEARING).pk, CREDIT, refund.cash_amount + refund.channel_coupon_amount),
        ledger.Leg(internal_account(Role.MARKETING).pk, CREDIT, refund.platform_coupon_amount),
    ]
    legs = [leg for leg in legs if leg.amount > 0]
    if legs:
        refund.transfer = ledger.post_transfer(
            client=LEDGER_CLIENT,
            idempotency_key=f"refund:{refund.pk}:succeed",
            kind="merchant_refund",
            legs=legs,
            memo=f"商户退款 merchant refund {refund.request_id} ({refund.out_refund_no})",
            metadata={"refund": refund.pk, "payment": refund.payment_id, "merchant": merchant.pk, "receivable": f"{left:.2f}"},
        )
    if left > 0:
        instruction_alert(
            REFUND_INSTRUCTION,
            refund,
            kind=PaymentAlert.Kind.RECEIVABLE,
            severity=PaymentAlert.Severity.P2,
            message=text_spec(
                _(
                    "{reference}: merchant {merchant} held less than its refund share {share}; the bank advanced {left} "
                    "(merchant receivable), to be netted in the next settlement. / {reference}：商户 {merchant} 余额不足"
                    "其退款分摊 {share}；银行垫付 {left}（商户应收款），将在下次结算中轧差。"
                ),
                reference=refund.request_id,
                merchant=merchant.pk,
                share=share,
                left=left,
            ),
            merchant=merchant.pk,
            advanced=f"{left:.2f}",
        )
    _move_totals(refund, succeeded=True)


# -- acceptance ------------------------------------------------------------------------------------


def _mdr_part(payment: Payment, base_part: Decimal) -> Decimal:
    """The MDR this refund gives back (module docstring), from the payment's locked totals."""
    if conf.mdr_refund_policy() == "none" or payment.mdr_amount == 0 or payment.mdr_base == 0:
        return Decimal("0")
    prior = (
        Refund.objects.filter(payment=payment)
        .exclude(state=Refund.State.FAILED)
        .aggregate(cash=Sum("cash_amount"), coupons=Sum("platform_coupon_amount"), channel=Sum("channel_coupon_amount"))
    )
    prior_base = sum((Decimal(v or 0) for v in prior.values()), Decimal("0"))
    target = (payment.mdr_amount * (prior_base + base_part) / payment.mdr_base).quantize(FEN, rounding=ROUND_HALF_UP)
    given = payment.refunded_mdr + payment.reserved_mdr
    return max(Decimal("0"), min(target - given, payment.mdr_amount - given))


def refund_create(
    *,
    payment_id: int,
    client: str,
    out_refund_no: str,
    amount,
    reason: str = "",
    merchant_id: int | None = None,
    now: dt.datetime | None = None,
    actor_label: str = "",
) -> Refund:
    """Accept a refund of a succeeded payment (R-REF-01 … 04, module docstring) and submit it after
    commit. ``merchant_id``, when given, must be the payment's merchant (else not found)."""
    now = now or timezone.now()
    fields: dict[str, list] = {}
    out_refund_no = str(out_refund_no or "").strip()
    if not out_refund_no or len(out_refund_no) > 64:
        fields["out_refund_no"] = [str(_("A refund number of 1 to 64 characters is required."))]
    try:
        amount = amount_parse(amount)
    except FieldValidationError as exc:
        fields.update(exc.fields)
    if fields:
        raise FieldValidationError(fields)
    with transaction.atomic(durable=True):
        payment, discounts = _locked_payment_or_404(payment_id, merchant_id)
        first = Refund.objects.filter(merchant_id=payment.merchant_id, out_refund_no=out_refund_no).first()
        if first is not None:
            if first.payment_id == payment.pk and first.amount == amount:
                return first  # R-REF-02: the same refund, asked again
            raise DuplicateReferenceError(reference=out_refund_no, id=str(first.pk))
        if payment.state != Payment.State.SUCCEEDED:
            raise PaymentNotRefundableError(state=payment.state)
        if written_off(payment.pk):
            raise PaymentNotRefundableError(state="written off: not paid by the channel / 通道未付款已冲销")
        channel = payment.channel
        paid_at = payment.resolved_at or payment.created_at
        if now - paid_at > dt.timedelta(days=channel.refund_window_days):
            closed_at = paid_at + dt.timedelta(days=channel.refund_window_days)
            raise RefundWindowClosedError(
                days=channel.refund_window_days,
                window_closed_at=closed_at.astimezone(bank_tz()).isoformat(timespec="seconds"),
                refundable_cash=f"{refundable_cash(payment):.2f}",
                refund_payout=f"/api/v1/payments/{payment.pk}/refund-payouts/",
            )
        if payment.refund_count >= channel.refund_count_limit:
            raise RefundCountExceededError(limit="refund_count", count=payment.refund_count, maximum=channel.refund_count_limit)
        # R-REF-01: cash first, then refundable discounts in order; never beyond the order amount.
        remaining = refundable_remaining(payment)
        if amount > remaining:
            raise RefundLimitExceededError(limit="refundable", remaining=f"{remaining:.2f}")
        cash = min(amount, payment.paid_amount - payment.refunded_cash - payment.reserved_cash)
        left, breakdown = amount - cash, {}
        platform = channel_part = Decimal("0")
        for discount in discounts:
            if left <= 0:
                break
            if not discount.refundable:
                continue
            part = min(left, discount.amount - discount.refunded - discount.reserved)
            if part <= 0:
                continue
            breakdown[str(discount.pk)] = f"{part:.2f}"
            discount.reserved += part
            discount.save(update_fields=["reserved", "updated_at"])
            left -= part
            if discount.funder == PaymentDiscount.Funder.PLATFORM_COUPON:
                platform += part
            elif discount.funder == PaymentDiscount.Funder.CHANNEL:
                channel_part += part
        mdr = _mdr_part(payment, cash + platform + channel_part)
        payment.reserved_amount += amount
        payment.reserved_cash += cash
        payment.reserved_mdr += mdr
        payment.refund_count += 1
        payment.save()
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    merchant_id=payment.merchant_id,
                    payment=payment,
                    channel=channel,
                    client=client,
                    out_refund_no=out_refund_no,
                    reason=(reason or "")[:200],
                    amount=amount,
                    cash_amount=cash,
                    coupon_amount=amount - cash,
                    platform_coupon_amount=platform,
                    channel_coupon_amount=channel_part,
                    coupon_breakdown=breakdown,
                    mdr_refunded=mdr,
                    created_at=now,
                )
        except IntegrityError as exc:
            raise DuplicateReferenceError(reference=out_refund_no) from exc
        refund.request_id = REFUND_INSTRUCTION.request_id_for(refund.pk)
        refund.save(update_fields=["request_id", "updated_at"])
        _audit(
            refund,
            "create",
            actor_label=actor_label or client,
            amount=str(amount),
            cash=str(cash),
            coupons=str(amount - cash),
            mdr=str(mdr),
        )
        if cash == 0:
            # Only coupons go back: nothing passes through the channel, the books settle it now.
            refund = Refund.objects.select_related("merchant", "payment", "channel").get(pk=refund.pk)
            _book_refund(refund)
            refund.settle_in_books()
            refund.resolved_by, refund.resolved_at = Source.BOOKS, now
            refund.save()
            _audit(refund, "succeed", source=Source.BOOKS, transfer=refund.transfer_id)
            webhook_emit(owner=refund.merchant.owner, event="refund.succeeded", payload=refund_payload(refund))
        else:
            instruction_enqueue_submit(REFUND_INSTRUCTION, refund)
    return refund


def _locked_payment_or_404(payment_id: int, merchant_id: int | None):
    if not Payment.objects.filter(pk=payment_id, **({"merchant_id": merchant_id} if merchant_id is not None else {})).exists():
        raise NotFoundError(_("No such payment."))
    return _locked_payment(payment_id)


def refund_submit(*, refund_id: int, now: dt.datetime | None = None) -> Refund | None:
    """Submit (or re-submit with the same request id) a refund, then ask once for its outcome
    (R-REF-03: the outcome comes from the query, not from the submission's answer)."""
    refund = instruction_submit(REFUND_INSTRUCTION, refund_id, now=now)
    if refund is not None and refund.state == Refund.State.UNKNOWN:
        try:
            refund = instruction_query_status(REFUND_INSTRUCTION, refund_id, now=now)
        except ChannelUnavailableError:
            pass  # stays unknown: the sweeper or a scheduled query asks again
    return refund


def refund_query_status(*, refund_id: int, now: dt.datetime | None = None) -> Refund | None:
    """Ask the channel about an unknown refund. Raises ChannelUnavailableError."""
    return instruction_query_status(REFUND_INSTRUCTION, refund_id, now=now)
