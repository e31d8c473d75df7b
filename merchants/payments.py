"""Merchant payments (收单): a payer pays a merchant's order through a channel, on the shared
channel-instruction lifecycle (``accounts.payments.instructions``; request ids ``PY…``).

On success one voucher (kind ``merchant_payment``), for an order of ``order`` with discounts:

    Dr clearing        paid + channel-funded discounts   (what the channel owes the bank)
    Dr marketing       platform coupons                  (the bank's marketing pays them)
       Cr merchant pending (待结算)   mdr_base − MDR       (owed to the merchant)
       Cr fee income                 MDR

where ``mdr_base`` = order − the merchant's own discounts (what the merchant is paid for) and
MDR = mdr_base × the merchant's rate for the method in force on the business date, half-up to the
fen. A merchant-funded discount moves no money: the merchant is simply owed less. The business
date is the channel's (its 日切, ``Channel.cutoff_time``) at the moment the order is accepted.
There is no split payment to other receivers and no settlement of other merchants' funds (二清).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.rules import register_posting_rule
from accounts.ledger.selectors import internal_account
from accounts.payments.channels import ChannelAnswer, ChannelStatus, adapter_for
from accounts.payments.instructions import (
    APPLIED,
    CONTRADICTION,
    Instruction,
    amount_parse,
    channel_for,
    instruction_alert,
    instruction_enqueue_submit,
    instruction_query_status,
    instruction_submit,
)
from accounts.payments.models import PaymentAlert
from backoffice.audit import audit_record
from backoffice.errors import FieldValidationError
from backoffice.money import to_money
from backoffice.texts import text_spec
from backoffice.webhooks import webhook_emit
from merchants.errors import DuplicateReferenceError, MerchantNotActiveError, NoFeeRateError
from merchants.models import Merchant, MerchantFeeRate, MerchantPayout, Payment, PaymentDiscount, PaymentMethod

__all__ = [
    "LEDGER_CLIENT",
    "PAYMENT_INSTRUCTION",
    "mdr_of",
    "payment_create",
    "payment_query_status",
    "payment_submit",
    "register_posting_rules",
]

LEDGER_CLIENT = "merchants"
FEN = Decimal("0.01")


def register_posting_rules() -> None:
    """The merchants' voucher kinds (from ``MerchantsConfig.ready``)."""
    register_posting_rule(
        "merchant_payment",
        debit=[Role.CLEARING, Role.MARKETING],
        credit=[Role.MERCHANT_PENDING, Role.FEE_INCOME],
        purpose="a payer's payment to a merchant: clearing (+ platform coupon) → merchant pending, MDR → fee income",
    )
    register_posting_rule(
        "merchant_refund",
        debit=[Role.MERCHANT_PENDING, Role.MERCHANT_AVAILABLE, Role.MERCHANT_RESERVE, Role.MERCHANT_RECEIVABLE, Role.FEE_INCOME],
        credit=[Role.CLEARING, Role.MARKETING],
        purpose="a refund: the merchant's funds (pending, available, reserve, else the bank's advance) and the MDR given "
        "back → clearing (cash) and marketing (platform coupons)",
    )


def mdr_of(base: Decimal, rate: Decimal) -> Decimal:
    """The MDR of ``base`` at ``rate``, half-up to the fen."""
    return (base * rate).quantize(FEN, rounding=ROUND_HALF_UP)


def _audit(payment: Payment, action: str, *, actor=None, actor_label: str = "", **data) -> None:
    audit_record(actor=actor, actor_label=actor_label, action=f"merchants.payment.{action}", target=payment, data=data)


def payment_payload(payment: Payment) -> dict:
    """The webhook payload of a payment's outcome (amounts as strings)."""
    return {
        "id": str(payment.pk),
        "merchant": str(payment.merchant_id),
        "out_trade_no": payment.out_trade_no,
        "state": payment.state,
        "order_amount": f"{payment.order_amount:.2f}",
        "paid_amount": f"{payment.paid_amount:.2f}",
        "mdr_amount": f"{payment.mdr_amount:.2f}",
        "business_date": payment.business_date.isoformat(),
    }


# -- the lifecycle ---------------------------------------------------------------------------------


class PaymentInstruction(Instruction):
    kind, prefix, model = "payment", "PY", Payment
    submit_task, query_task = "merchants.payment_submit", "merchants.payment_query_status"
    submittable = (Payment.State.CREATED, Payment.State.SUBMITTED)
    settled = {ChannelStatus.SUCCESS: (Payment.State.SUCCEEDED,), ChannelStatus.FAILURE: (Payment.State.FAILED,)}
    related = ("channel", "merchant")

    def send(self, payment: Payment) -> ChannelAnswer:
        return adapter_for(payment.channel).create_payment(
            request_id=payment.request_id, amount=payment.paid_amount, method=payment.method
        )

    def callback_link(self, row) -> dict:
        return {}

    def alert_link(self, row) -> dict:
        return {"reference": row.request_id or "", "channel": row.channel}

    def submitted(self, payment: Payment) -> None:
        _audit(payment, "submit", attempt=payment.submit_attempts)

    def became_unknown(self, payment: Payment, answer: ChannelAnswer) -> None:
        _audit(payment, "unknown", channel_says=answer.status.value, message=answer.message[:200])

    def succeed(self, payment: Payment, answer: ChannelAnswer, *, source, now, actor=None) -> str:
        if answer.amount is not None and answer.amount != payment.paid_amount:
            instruction_alert(
                self,
                payment,
                kind=PaymentAlert.Kind.AMOUNT_MISMATCH,
                severity=PaymentAlert.Severity.P1,
                message=text_spec(
                    _(
                        "{reference}: the channel reports {reported} collected, the payer was to pay {amount}. Nothing "
                        "was booked. / {reference}：通道报告已收 {reported}，付款人应付 {amount}。未入账。"
                    ),
                    reference=payment.request_id,
                    reported=answer.amount,
                    amount=payment.paid_amount,
                ),
            )
            return CONTRADICTION
        payment.success_transfer = _book_payment(payment)
        payment.mark_succeeded()
        payment.resolved_by, payment.resolved_at = source, now
        _audit(payment, "succeed", actor=actor, source=source, transfer=payment.success_transfer.pk)
        webhook_emit(owner=payment.merchant.owner, event="payment.succeeded", payload=payment_payload(payment))
        return APPLIED

    def fail(self, payment: Payment, answer: ChannelAnswer, *, source, now, actor=None) -> str:
        payment.mark_failed()
        payment.resolved_by, payment.resolved_at = source, now
        payment.failure_reason = (answer.message or "declined")[:200]
        _audit(payment, "fail", actor=actor, source=source, reason=payment.failure_reason)
        webhook_emit(owner=payment.merchant.owner, event="payment.failed", payload=payment_payload(payment))
        return APPLIED


PAYMENT_INSTRUCTION = PaymentInstruction()


def _book_payment(payment: Payment):
    """The success voucher (module docstring)."""
    merchant = payment.merchant
    discounts = list(payment.discounts.all())
    channel_funded = sum((d.amount for d in discounts if d.funder == PaymentDiscount.Funder.CHANNEL), Decimal("0"))
    coupons = sum((d.amount for d in discounts if d.funder == PaymentDiscount.Funder.PLATFORM_COUPON), Decimal("0"))
    legs = [
        ledger.Leg(internal_account(Role.CLEARING).pk, DEBIT, payment.paid_amount + channel_funded),
        ledger.Leg(internal_account(Role.MARKETING).pk, DEBIT, coupons),
        ledger.Leg(merchant.pending_account_id, CREDIT, payment.mdr_base - payment.mdr_amount),
        ledger.Leg(internal_account(Role.FEE_INCOME).pk, CREDIT, payment.mdr_amount),
    ]
    return ledger.post_transfer(
        client=LEDGER_CLIENT,
        idempotency_key=f"payment:{payment.pk}:succeed",
        kind="merchant_payment",
        legs=[leg for leg in legs if leg.amount > 0],
        memo=f"商户收款 merchant payment {payment.request_id} ({payment.out_trade_no})",
        metadata={"payment": payment.pk, "merchant": merchant.pk, "request_id": payment.request_id},
    )


# -- acceptance ------------------------------------------------------------------------------------


def _discounts_parse(discounts) -> list[dict]:
    rows, errors = [], []
    for item in discounts or []:
        try:
            funder = item["funder"]
            if funder not in PaymentDiscount.Funder.values:
                raise ValueError
            rows.append(
                {"amount": amount_parse(item["amount"]), "funder": funder, "refundable": bool(item.get("refundable", False))}
            )
        except (KeyError, TypeError, ValueError, FieldValidationError):
            errors.append(str(_("Each discount has a positive amount and a funder: merchant, platform_coupon or channel.")))
    if errors:
        raise FieldValidationError({"discounts": errors[:1]})
    return rows


def _rate_in_force(merchant: Merchant, method: str, day: dt.date) -> Decimal:
    row = (
        MerchantFeeRate.objects.filter(merchant=merchant, method=method, effective_from__lte=day)
        .order_by("-effective_from")
        .first()
    )
    if row is None:
        raise NoFeeRateError(merchant=merchant.pk, method=method)
    return row.rate


def payment_create(
    *,
    merchant_id: int,
    client: str,
    out_trade_no: str,
    method: str,
    order_amount,
    discounts=(),
    channel_code: str | None = None,
    description: str = "",
    now: dt.datetime | None = None,
    actor_label: str = "",
) -> Payment:
    """Accept a payment order of an active merchant and submit it to the channel after commit.

    ``out_trade_no`` is unique per merchant (409 ``duplicate_reference`` with ``data.id``, the first
    payment). ``discounts`` are ``{"amount", "funder", "refundable"}``; what the payer pays is the
    order less all of them and must be positive. Raises FieldValidationError, MerchantNotActiveError,
    NoFeeRateError, DuplicateReferenceError, NoChannelError."""
    now = now or timezone.now()
    fields: dict[str, list] = {}
    out_trade_no = str(out_trade_no or "").strip()
    if not out_trade_no or len(out_trade_no) > 64:
        fields["out_trade_no"] = [str(_("A merchant order number of 1 to 64 characters is required."))]
    if method not in PaymentMethod.values:
        fields["method"] = [str(_("Unknown payment method."))]
    try:
        order_amount = amount_parse(order_amount)
    except FieldValidationError:
        fields["order_amount"] = [str(_("A positive amount with at most two decimals."))]
    try:
        rows = _discounts_parse(discounts)
    except FieldValidationError as exc:
        fields.update(exc.fields)
        rows = []
    if not fields:
        paid = order_amount - sum((r["amount"] for r in rows), Decimal("0"))
        if paid <= 0:
            fields["discounts"] = [str(_("The discounts must leave the payer something to pay."))]
    if fields:
        raise FieldValidationError(fields)
    merchant_funded = sum((r["amount"] for r in rows if r["funder"] == PaymentDiscount.Funder.MERCHANT), Decimal("0"))
    with transaction.atomic(durable=True):
        merchant = Merchant.objects.select_for_update().filter(pk=merchant_id).first()
        if merchant is None or merchant.state != Merchant.State.ACTIVE:
            raise MerchantNotActiveError(merchant=merchant_id, state=merchant.state if merchant else "unknown")
        first = Payment.objects.filter(merchant=merchant, out_trade_no=out_trade_no).first()
        if first is not None:
            raise DuplicateReferenceError(reference=out_trade_no, id=str(first.pk))
        channel = channel_for(operation="payment", code=channel_code)
        business_date = channel.business_date_of(now)
        rate = _rate_in_force(merchant, method, business_date)
        base = order_amount - merchant_funded
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    merchant=merchant,
                    client=client,
                    out_trade_no=out_trade_no,
                    method=method,
                    channel=channel,
                    description=(description or "")[:200],
                    order_amount=order_amount,
                    paid_amount=paid,
                    mdr_base=base,
                    mdr_rate=rate,
                    mdr_amount=mdr_of(base, rate),
                    business_date=business_date,
                    created_at=now,
                )
        except IntegrityError as exc:
            first = Payment.objects.filter(merchant=merchant, out_trade_no=out_trade_no).first()
            raise DuplicateReferenceError(reference=out_trade_no, id=str(first.pk) if first else None) from exc
        PaymentDiscount.objects.bulk_create([PaymentDiscount(payment=payment, **row) for row in rows])
        payment.request_id = PAYMENT_INSTRUCTION.request_id_for(payment.pk)
        payment.save(update_fields=["request_id", "updated_at"])
        _audit(
            payment,
            "create",
            actor_label=actor_label or client,
            order_amount=str(order_amount),
            paid=str(paid),
            mdr=str(payment.mdr_amount),
            business_date=str(business_date),
        )
        instruction_enqueue_submit(PAYMENT_INSTRUCTION, payment)
    return payment


def payment_submit(*, payment_id: int, now: dt.datetime | None = None) -> Payment | None:
    """Submit (or re-submit with the same request id) a payment; a no-op once it has an answer."""
    return instruction_submit(PAYMENT_INSTRUCTION, payment_id, now=now)


def payment_query_status(*, payment_id: int, now: dt.datetime | None = None) -> Payment | None:
    """Ask the channel about an unknown payment. Raises ChannelUnavailableError."""
    return instruction_query_status(PAYMENT_INSTRUCTION, payment_id, now=now)


def refundable_remaining(payment: Payment) -> Decimal:
    """What can still be refunded (R-REF-01): cash not yet refunded or in flight, plus refundable
    discounts not yet given back or in flight."""
    cash = payment.paid_amount - payment.refunded_cash - payment.reserved_cash
    coupons = sum(
        (d.amount - d.refunded - d.reserved for d in payment.discounts.all() if d.refundable),
        Decimal("0"),
    )
    return to_money(min(cash + coupons, payment.order_amount - payment.refunded_amount - payment.reserved_amount))


def refund_window_closes_at(payment: Payment) -> dt.datetime:
    """R-REF-04: when the payment's channel stops refunding it (its payment time + the window)."""
    return (payment.resolved_at or payment.created_at) + dt.timedelta(days=payment.channel.refund_window_days)


def refund_window_passed(payment: Payment, now: dt.datetime | None = None) -> bool:
    return (now or timezone.now()) > refund_window_closes_at(payment)


def refundable_cash(payment: Payment) -> Decimal:
    """What a refund payout (代付) may still pay the payer (R-REF-01): the cash paid, less what was
    refunded or paid out, in flight, or proposed and awaiting the bank's checker."""
    proposed = sum(
        MerchantPayout.objects.filter(
            payment=payment, kind=MerchantPayout.Kind.REFUND, state=MerchantPayout.State.AWAITING_CHECK
        ).values_list("amount", flat=True),
        Decimal("0"),
    )
    return to_money(max(payment.paid_amount - payment.refunded_cash - payment.reserved_cash - proposed, Decimal("0")))
