"""Merchant payouts on the shared channel-instruction lifecycle (request ids ``MP…``).

Two kinds, one lifecycle (``accounts.payments.instructions``):

- **Settlement payouts** (结算出款): a merchant's available balance to its own verified corporate
  settlement account (对公结算账户), authorised by the merchant's standing settlement authorisation
  (signed at onboarding: no per-payout authorisation). An amount above the channel's real-time limit
  outside the channel's window is **scheduled** into the next window (``not_before``), never
  refused; the holders' 40-a-day withdrawal count does not apply (this is no withdrawal).
- **Refund payouts** (代付): past the channel's refund window, the payer's money back to an account
  the payer supplies. A maker proposes it (within what remains refundable in cash, R-REF-01); another
  operator approves it (maker ≠ checker, 403 ``maker_checker_violation``); only then is money set
  aside and the instruction submitted. It is card-less: the payee's account is stored encrypted.

Money: the payout's amount is frozen on the merchant's available account (a hold of the ledger
client ``merchants``) until the channel answers, as a freeze-mode withdrawal does; the bank's
transit account (提现过渡户, whose balance the withdrawal invariant checks) is never used.

    refund payout, approval  merchant_payout_funding  Dr merchant pending / reserve, else the bank's
                                                      advance (receivable) / Cr merchant available (what
                                                      available itself does not hold); then the hold
    success                  merchant_payout          the hold captured: Dr merchant available / Cr clearing
    failure                  the hold released (a refund payout's funding stays in available)
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import workdays
from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.models import Account, Hold
from accounts.ledger.rules import register_posting_rule
from accounts.ledger.selectors import internal_account
from accounts.payments.channels import ChannelAnswer, ChannelStatus, adapter_for
from accounts.payments.instructions import (
    APPLIED,
    Instruction,
    amount_parse,
    channel_for,
    instruction_enqueue_submit,
    instruction_query_status,
    instruction_row_create,
    instruction_submit,
)
from backoffice import crypto
from backoffice.audit import audit_record
from backoffice.dates import bank_tz
from backoffice.errors import DomainError, FieldValidationError, InvalidStateError, MakerCheckerError, NotFoundError
from merchants.errors import DuplicateReferenceError, PaymentNotRefundableError, RefundWindowOpenError
from merchants.models import Merchant, MerchantPayout, Payment, SettlementAuthorisation
from merchants.payments import refund_window_closes_at, refund_window_passed, refundable_cash

__all__ = [
    "PAYOUT_INSTRUCTION",
    "MakerCheckerViolationError",
    "payout_query_status",
    "payout_submit",
    "payouts_release_due",
    "refund_payout_approve",
    "refund_payout_propose",
    "refund_payout_reference",
    "refund_payout_reject",
    "register_posting_rules",
    "settlement_payout_create",
]

LEDGER_CLIENT = "merchants"
ZERO = Decimal("0")


MakerCheckerViolationError = MakerCheckerError


class PayoutNotCheckableError(InvalidStateError):
    message = _("This payout is not awaiting a checker ({state}). / 该出款不在待复核状态。")


class PayoutBeyondRefundableError(DomainError):
    code, http_status = "limit_exceeded", 409
    message = _("More than remains refundable in cash. / 超过可退现金余额。")


def register_posting_rules() -> None:
    register_posting_rule(
        "merchant_payout_funding",
        debit=[Role.MERCHANT_PENDING, Role.MERCHANT_RESERVE, Role.MERCHANT_RECEIVABLE],
        credit=[Role.MERCHANT_AVAILABLE],
        purpose="a refund payout approved: the merchant's pending and reserve (else the bank's advance) → its available",
    )
    register_posting_rule(
        "merchant_payout",
        debit=[Role.MERCHANT_AVAILABLE],
        credit=[Role.CLEARING],
        purpose="a merchant payout paid by the channel: the hold on the merchant's available captured → clearing",
    )


def _audit(payout: MerchantPayout, action: str, *, actor=None, **data) -> None:
    audit_record(
        actor=actor, actor_label="" if actor else "merchants", action=f"merchants.payout.{action}", target=payout, data=data
    )


def _atomic():
    return transaction.atomic(durable=not transaction.get_connection().in_atomic_block)


# -- the channel's window ---------------------------------------------------------------------------


def _in_window(channel, now: dt.datetime) -> bool:
    local = now.astimezone(bank_tz())
    return workdays.is_working_day(local.date()) and channel.window_start <= local.time() <= channel.window_end


def _next_window(channel, now: dt.datetime) -> dt.datetime:
    local = now.astimezone(bank_tz())
    day = local.date()
    if not (workdays.is_working_day(day) and local.time() < channel.window_start):
        day = workdays.add_working_days(day, 1)
    return dt.datetime.combine(day, channel.window_start, tzinfo=bank_tz())


def _route(payout: MerchantPayout, now: dt.datetime) -> None:
    """Above the real-time limit: inside the window it goes now (settles next working day); outside,
    it is scheduled into the next window. Never refused."""
    channel = payout.channel
    if payout.amount > channel.real_time_limit:
        payout.settles = "next_working_day"
        if not _in_window(channel, now):
            payout.not_before = _next_window(channel, now)
            payout.schedule()
            return
    instruction_enqueue_submit(PAYOUT_INSTRUCTION, payout)


# -- the lifecycle ------------------------------------------------------------------------------------


class PayoutInstruction(Instruction):
    kind, prefix, model = "merchant_payout", "MP", MerchantPayout
    submit_task, query_task = "merchants.payout_submit", "merchants.payout_query_status"
    submittable = (MerchantPayout.State.CREATED, MerchantPayout.State.SUBMITTED)
    settled = {
        ChannelStatus.SUCCESS: (MerchantPayout.State.SUCCEEDED,),
        ChannelStatus.FAILURE: (MerchantPayout.State.FAILED,),
    }
    related = ("channel", "merchant", "card")

    def send(self, payout: MerchantPayout) -> ChannelAnswer:
        if payout.kind == MerchantPayout.Kind.SETTLEMENT:
            number, name = payout.card.card_number, payout.card.holder_name
        else:
            number, name = crypto.decrypt(payout.payee_account_encrypted), payout.payee_name
        return adapter_for(payout.channel).submit_payout(
            request_id=payout.request_id, amount=payout.amount, card_number=number, holder_name=name
        )

    def callback_link(self, row) -> dict:
        return {}

    def alert_link(self, row) -> dict:
        return {"reference": row.request_id or "", "channel": row.channel}

    def submitted(self, payout: MerchantPayout) -> None:
        _audit(payout, "submit", attempt=payout.submit_attempts)

    def became_unknown(self, payout: MerchantPayout, answer: ChannelAnswer) -> None:
        _audit(payout, "unknown", channel_says=answer.status.value)

    def succeed(self, payout: MerchantPayout, answer: ChannelAnswer, *, source, now, actor=None) -> str:
        ledger.hold_capture(
            client=LEDGER_CLIENT,
            idempotency_key=f"payout:{payout.pk}:succeed",
            hold_id=payout.hold_id,
            splits=[(internal_account(Role.CLEARING).pk, payout.amount)],
            kind="merchant_payout",
            memo=f"商户出款 merchant payout {payout.request_id}",
            metadata={"payout": payout.pk, "merchant": payout.merchant_id},
            paid_out=True,  # the channel paid: booking it records a fact
        )
        if payout.kind == MerchantPayout.Kind.REFUND:
            payment = Payment.objects.select_for_update().get(pk=payout.payment_id)
            payment.reserved_amount -= payout.amount
            payment.reserved_cash -= payout.amount
            payment.refunded_amount += payout.amount
            payment.refunded_cash += payout.amount
            payment.save()
        payout.mark_succeeded()
        payout.resolved_by, payout.resolved_at = source, now
        _audit(payout, "succeed", actor=actor, source=source)
        return APPLIED

    def fail(self, payout: MerchantPayout, answer: ChannelAnswer, *, source, now, actor=None) -> str:
        ledger.hold_release(client=LEDGER_CLIENT, idempotency_key=f"payout:{payout.pk}:fail", hold_id=payout.hold_id)
        if payout.kind == MerchantPayout.Kind.REFUND:
            payment = Payment.objects.select_for_update().get(pk=payout.payment_id)
            payment.reserved_amount -= payout.amount
            payment.reserved_cash -= payout.amount
            payment.save()
        payout.mark_failed()
        payout.resolved_by, payout.resolved_at = source, now
        payout.failure_reason = (answer.message or "declined")[:200]
        _audit(payout, "fail", actor=actor, source=source, reason=payout.failure_reason)
        return APPLIED


PAYOUT_INSTRUCTION = PayoutInstruction()


def payout_submit(*, payout_id: int, now: dt.datetime | None = None) -> MerchantPayout | None:
    return instruction_submit(PAYOUT_INSTRUCTION, payout_id, now=now)


def payout_query_status(*, payout_id: int, now: dt.datetime | None = None) -> MerchantPayout | None:
    return instruction_query_status(PAYOUT_INSTRUCTION, payout_id, now=now)


def payouts_release_due(*, now: dt.datetime | None = None) -> int:
    """Scheduled payouts whose window opened go to the channel (beat and sweeper)."""
    now = now or timezone.now()
    count = 0
    for pk in MerchantPayout.objects.filter(state=MerchantPayout.State.SCHEDULED, not_before__lte=now).values_list(
        "pk", flat=True
    ):
        with _atomic():
            payout = MerchantPayout.objects.select_for_update().select_related("channel").get(pk=pk)
            if payout.state != MerchantPayout.State.SCHEDULED or not _in_window(payout.channel, now):
                continue
            payout.release()
            payout.save()
            _audit(payout, "release")
            instruction_enqueue_submit(PAYOUT_INSTRUCTION, payout)
            count += 1
    return count


# -- money ---------------------------------------------------------------------------------------------


def _hold(payout: MerchantPayout, account_id: int):
    return ledger.hold_place(
        client=LEDGER_CLIENT,
        idempotency_key=f"payout:{payout.pk}:hold",
        account_id=account_id,
        amount=payout.amount,
        reason=Hold.Reason.WITHDRAWAL,
        reference=payout.request_id,
    )


def _fund(payout: MerchantPayout):
    """A refund payout's money into the merchant's available account, as a refund takes it: pending,
    then available itself, then reserve, else the bank's advance (the receivable, which the next
    settlement nets). Returns the voucher (None when available held it all)."""
    merchant = payout.merchant
    order = [merchant.pending_account_id, merchant.available_account_id, merchant.reserve_account_id]
    held = {a.pk: a.available for a in Account.objects.select_for_update().filter(pk__in=order).order_by("pk")}
    legs, left, moved = [], payout.amount, ZERO
    for pk in order:
        take = min(left, max(held.get(pk, ZERO), ZERO))
        left -= take
        if take > 0 and pk != merchant.available_account_id:
            legs.append(ledger.Leg(pk, DEBIT, take))
            moved += take
    if left > 0:
        legs.append(ledger.Leg(merchant.receivable_account_id, DEBIT, left))
        moved += left
    if moved == 0:
        return None
    legs.append(ledger.Leg(merchant.available_account_id, CREDIT, moved))
    return ledger.post_transfer(
        client=LEDGER_CLIENT,
        idempotency_key=f"payout:{payout.pk}:fund",
        kind="merchant_payout_funding",
        legs=legs,
        memo=f"退款代付资金 refund payout funding {payout.request_id}",
        metadata={"payout": payout.pk, "merchant": merchant.pk, "payment": payout.payment_id, "advanced": f"{left:.2f}"},
    )


# -- settlement payouts ---------------------------------------------------------------------------------


def settlement_payout_create(*, merchant_id: int, batch=None, now: dt.datetime | None = None) -> MerchantPayout | None:
    """Pay the merchant's whole available balance to its verified corporate settlement account
    (inside the caller's transaction; submitted after commit or scheduled into the window). None
    when nothing is available, or without a standing authorisation in force or a verified account."""
    now = now or timezone.now()
    merchant = Merchant.objects.select_related("settlement_card").get(pk=merchant_id)
    authorisation = SettlementAuthorisation.objects.filter(merchant=merchant, revoked_at__isnull=True).first()
    card = merchant.settlement_card
    if authorisation is None or card is None or card.state != card.State.VERIFIED:
        if batch is not None:
            audit_record(
                actor=None,
                actor_label="merchants",
                action="merchants.payout.not_paid",
                target=merchant,
                data={"batch": batch.pk, "authorised": authorisation is not None, "account": card.state if card else None},
            )
        return None
    available = Account.objects.select_for_update().get(pk=merchant.available_account_id)
    amount = available.available
    if amount <= 0:
        return None
    channel = channel_for(operation="withdrawal")
    reference = f"settlement-{batch.pk}" if batch is not None else f"settlement-{merchant.pk}-{now:%Y%m%d%H%M%S%f}"
    existing = MerchantPayout.objects.filter(client=LEDGER_CLIENT, out_request_no=reference).first()
    if existing is not None:
        return existing
    payout = instruction_row_create(
        PAYOUT_INSTRUCTION,
        client=LEDGER_CLIENT,
        out_request_no=reference,
        merchant=merchant,
        kind=MerchantPayout.Kind.SETTLEMENT,
        channel=channel,
        amount=amount,
        batch=batch,
        card=card,
        reason=f"authorisation {authorisation.reference}",
    )
    payout.hold = _hold(payout, merchant.available_account_id)
    _route(payout, now)
    payout.save()
    _audit(
        payout,
        "create",
        amount=f"{amount:.2f}",
        state=payout.state,
        settles=payout.settles,
        authorisation=authorisation.reference,
    )
    return payout


# -- refund payouts past the window (代付), maker-checker ------------------------------------------------


def refund_payout_propose(
    *,
    payment_id: int,
    amount,
    payee_name: str,
    payee_account: str,
    reason: str,
    maker=None,
    merchant_id: int | None = None,
    out_payout_no: str = "",
    origin: str = MerchantPayout.Origin.CONSOLE,
    proposed_by_label: str = "",
    require_window_passed: bool = False,
    now: dt.datetime | None = None,
) -> MerchantPayout:
    """Propose paying ``amount`` of a payment's cash back to an account the payer supplies: an
    operator in the console (``maker``), the merchant through the API or its portal (``origin``,
    ``proposed_by_label``; a portal user is the ``maker`` too). Nothing moves until an operator of
    the bank other than the maker approves it (``refund_payout_approve``).

    - ``merchant_id``: only that merchant's payment (another's is ``not_found``).
    - ``require_window_passed`` (API and portal): only past the channel's refund window; before it,
      409 ``refund_window_open`` (refund through the channel).
    - ``out_payout_no``: the merchant's reference, unique per merchant; the same one for the same
      payment and amount answers the first payout (a retry never proposes twice), otherwise 409
      ``duplicate_reference`` with ``data.id``.
    - R-REF-01: never more than the cash still refundable (less refunds and payouts in flight or
      awaiting the checker): 409 ``limit_exceeded``."""
    now = now or timezone.now()
    amount = amount_parse(amount)
    payee_name, payee_account = (payee_name or "").strip(), "".join((payee_account or "").split())
    out_payout_no = (out_payout_no or "").strip()
    errors = {}
    if not payee_name:
        errors["payee_name"] = [str(_("The payee's name is required."))]
    elif len(payee_name) > 200:
        errors["payee_name"] = [str(_("At most 200 characters."))]
    if not payee_account.isdigit() or not 8 <= len(payee_account) <= 32:
        errors["payee_account"] = [str(_("An account number of 8 to 32 digits."))]
    if not (reason or "").strip():
        errors["reason"] = [str(_("Say why (e.g. past the refund window)."))]
    if len(out_payout_no) > 48:
        errors["out_payout_no"] = [str(_("At most 48 characters."))]
    if errors:
        raise FieldValidationError(errors)
    with _atomic():
        payments = Payment.objects.select_for_update().select_related("channel")
        if merchant_id is not None:
            payments = payments.filter(merchant_id=merchant_id)
        payment = payments.filter(pk=payment_id).first()
        if payment is None:
            raise NotFoundError(_("No such payment."))
        reference = (
            f"m{payment.merchant_id}:{out_payout_no}" if out_payout_no else f"refund-payout-{payment.pk}-{now:%Y%m%d%H%M%S%f}"
        )
        first = MerchantPayout.objects.filter(client=LEDGER_CLIENT, out_request_no=reference).first()
        if first is not None:
            if first.payment_id == payment.pk and first.amount == amount:
                return first
            raise DuplicateReferenceError(reference=out_payout_no, id=str(first.pk))
        if payment.state != Payment.State.SUCCEEDED:
            raise PaymentNotRefundableError(state=payment.state)
        if require_window_passed and not refund_window_passed(payment, now):
            closes = refund_window_closes_at(payment).astimezone(bank_tz()).isoformat(timespec="seconds")
            raise RefundWindowOpenError(window_closes_at=closes)
        remaining = refundable_cash(payment)
        if amount > remaining:
            raise PayoutBeyondRefundableError(limit="refundable", remaining=f"{remaining:.2f}")
        payout = instruction_row_create(
            PAYOUT_INSTRUCTION,
            client=LEDGER_CLIENT,
            out_request_no=reference,
            merchant_id=payment.merchant_id,
            kind=MerchantPayout.Kind.REFUND,
            channel=channel_for(operation="withdrawal"),
            amount=amount,
            payment=payment,
            payee_name=payee_name,
            payee_account_encrypted=crypto.encrypt(payee_account),
            payee_account_last4=payee_account[-4:],
            reason=reason.strip()[:200],
            maker=maker if getattr(maker, "is_authenticated", False) else None,
            origin=origin,
            proposed_by_label=(proposed_by_label or "")[:150],
        )
        payout.propose()
        payout.save()
        _audit(
            payout,
            "propose",
            actor=maker if getattr(maker, "is_authenticated", False) else None,
            amount=f"{amount:.2f}",
            payment=payment.pk,
            origin=origin,
            proposed_by=proposed_by_label or None,
        )
        return payout


def refund_payout_reference(payout: MerchantPayout) -> str:
    """The merchant's ``out_payout_no`` of a payout proposed through the API or the portal ("" otherwise)."""
    prefix = f"m{payout.merchant_id}:"
    return payout.out_request_no[len(prefix) :] if payout.out_request_no.startswith(prefix) else ""


def _locked_for_check(payout_id: int, checker) -> MerchantPayout:
    payout = MerchantPayout.objects.select_for_update().select_related("merchant", "channel").filter(pk=payout_id).first()
    if payout is None:
        raise NotFoundError()
    if payout.state != MerchantPayout.State.AWAITING_CHECK:
        raise PayoutNotCheckableError(state=payout.state)
    if checker is None or payout.maker_id == getattr(checker, "pk", None):
        raise MakerCheckerViolationError()
    return payout


def refund_payout_approve(*, payout_id: int, checker, now: dt.datetime | None = None) -> MerchantPayout:
    """Another operator approves: the payment's cash is reserved (R-REF-01), the merchant's funds
    (pending → available → reserve, else the bank's advance) are frozen on its available account,
    and it is submitted."""
    now = now or timezone.now()
    with _atomic():
        payout = _locked_for_check(payout_id, checker)
        payment = Payment.objects.select_for_update().get(pk=payout.payment_id)
        remaining = payment.paid_amount - payment.refunded_cash - payment.reserved_cash
        if payout.amount > remaining:
            raise PayoutBeyondRefundableError(limit="refundable", remaining=f"{remaining:.2f}")
        payment.reserved_amount += payout.amount
        payment.reserved_cash += payout.amount
        payment.save()
        payout.transfer = _fund(payout)
        payout.hold = _hold(payout, payout.merchant.available_account_id)
        payout.approve()
        payout.checker, payout.checked_at = checker, now
        _route(payout, now)
        payout.save()
        _audit(payout, "approve", actor=checker, state=payout.state)
        return payout


def refund_payout_reject(*, payout_id: int, checker, note: str = "") -> MerchantPayout:
    with _atomic():
        payout = _locked_for_check(payout_id, checker)
        payout.reject()
        payout.checker, payout.checked_at = checker, timezone.now()
        payout.failure_reason = (note or "rejected")[:200]
        payout.save()
        _audit(payout, "reject", actor=checker, note=note[:200])
        return payout
