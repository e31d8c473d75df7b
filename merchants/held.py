"""What becomes of a held batch's unmatched items (DOMAIN.md §5.3, R-REC-02/03/04).

A batch settles its matched items and holds the rest (``SettlementBatch.State.HELD``). Each
unmatched item then gets one ``HeldItem`` (the item's own ``match`` is never edited):

- **short or timing** (R-REC-03): ``waiting``. The daily job re-examines it against the channel's
  clearing files of the next ``MERCHANTS_HELD_WAIT_FILES`` business dates (default 2: T+2), fetching
  a missing file from the channel (outside any transaction). A later file that carries its request
  id with the same amount matches it (``matched_late``, the line recorded); its net is released by
  a **follow-up settlement** of the batch: a new ``merchant_settlement`` voucher (key
  ``settlement:<batch>:held:<item>:release``): Dr merchant pending / Cr reserve (the merchant's
  rate), receivable (the bank's advance netted), available; then the available balance is paid out
  like any settlement. The batch's own figures and voucher are never edited.
  Still unmatched once all those files were seen, or a later file with another amount:
  ``suspense`` (挂账) with a P2 alert pointing at it.
- **mismatch** (the amounts differ): ``suspense`` at once.
- **suspense** (R-REC-04): 调账 under maker-checker. One operator proposes a reason code and a
  note; another approves (the maker is refused: 403 ``maker_checker_violation``) or rejects it
  (back to suspense). Approval posts new vouchers only: ``channel_confirmed`` and
  ``amount_corrected`` release the net as above; ``not_paid`` (the channel never paid: a payment
  only, with no refund) reverses the payment's voucher leg by leg through the ledger's reversal
  (Dr merchant pending, fee income / Cr clearing, marketing), so the merchant is no longer owed it
  and the bank gives its fee back. A refund item closes without money (it already left pending).

When every held item of a batch is resolved, the batch goes ``held → resolved``. A long line (the
channel's only) is never posted; an operator records what was found (``LongLineNote``).
Everything here is idempotent (state-guarded under row locks, vouchers keyed): the job may run twice.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT
from accounts.ledger.models import Account
from accounts.payments.channels import ChannelUnavailableError
from accounts.payments.instructions import payment_alert
from accounts.payments.models import PaymentAlert
from backoffice.audit import audit_record
from backoffice.dates import business_date as local_date
from backoffice.errors import FieldValidationError, InvalidStateError, MakerCheckerError, NotFoundError
from backoffice.texts import text_spec
from merchants import conf
from merchants.models import (
    ClearingFile,
    ClearingLine,
    HeldAdjustment,
    HeldItem,
    LongLineNote,
    Match,
    Payment,
    SettlementBatch,
    SettlementItem,
)

__all__ = [
    "written_off",
    "adjustment_approve",
    "adjustment_propose",
    "adjustment_reject",
    "held_items_open",
    "held_items_review",
    "held_reserve_release_due",
    "long_line_note",
]

LEDGER_CLIENT = "merchants"
FEN = Decimal("0.01")
ZERO = Decimal("0")
REFUNDED_TEXT = _("This payment has refunds: it cannot be reversed as a whole. / 该收款已有退款，不能整笔冲销。")
RELEASE_REASONS = (HeldAdjustment.Reason.CHANNEL_CONFIRMED, HeldAdjustment.Reason.AMOUNT_CORRECTED)


class NotCheckableError(InvalidStateError):
    message = _("This adjustment is not awaiting a checker. / 该调账不在待复核状态。")


class NotInSuspenseError(InvalidStateError):
    message = _("Only an item in suspense can be adjusted. / 只有挂账状态的明细可以调账。")


def _atomic():
    return transaction.atomic(durable=not transaction.get_connection().in_atomic_block)


def _audit(target, action: str, *, actor=None, **data) -> None:
    audit_record(
        actor=actor, actor_label="" if actor else "settlement", action=f"merchants.held.{action}", target=target, data=data
    )


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _locked(held_id: int) -> HeldItem:
    """The held item under its batch's row lock (always the batch first, as the settlement steps)."""
    batch_id = HeldItem.objects.filter(pk=held_id).values_list("batch_id", flat=True).first()
    if batch_id is None:
        raise NotFoundError()
    SettlementBatch.objects.select_for_update().get(pk=batch_id)
    return (
        HeldItem.objects.select_for_update(of=("self",))
        .select_related("item", "item__payment", "item__refund", "batch", "batch__merchant", "batch__channel")
        .get(pk=held_id)
    )


def written_off(payment_id: int) -> bool:
    """A 调账 ``not_paid`` of this payment is proposed or approved: it may not be refunded."""
    return HeldAdjustment.objects.filter(
        held__item__payment_id=payment_id,
        held__item__kind=SettlementItem.Kind.PAYMENT,
        reason=HeldAdjustment.Reason.NOT_PAID,
        state__in=(HeldAdjustment.State.PROPOSED, HeldAdjustment.State.APPROVED),
    ).exists()


# -- opening and re-examining --------------------------------------------------------------------------


def held_items_open(*, now: dt.datetime | None = None) -> int:
    """A ``HeldItem`` for every unmatched item of a held batch that has none: short and timing ones
    wait for the next files, a mismatch goes to suspense at once. Idempotent."""
    now = now or timezone.now()
    wait = conf.held_wait_files()
    opened = 0
    batch_ids = (
        SettlementItem.objects.filter(batch__state=SettlementBatch.State.HELD, held__isnull=True)
        .exclude(match=Match.MATCHED)
        .values_list("batch_id", flat=True)
        .distinct()
    )
    for batch_id in sorted(set(batch_ids)):
        with _atomic():
            batch = SettlementBatch.objects.select_for_update().select_related("merchant", "channel").get(pk=batch_id)
            for item in batch.items.filter(held__isnull=True).exclude(match=Match.MATCHED).order_by("pk"):
                held = HeldItem.objects.create(item=item, batch=batch, wait_until=batch.business_date + dt.timedelta(days=wait))
                _audit(held, "open", request_id=item.request_id, match=item.match, net=_money(item.net_amount))
                if item.match == Match.MISMATCH:
                    _suspend(
                        held,
                        HeldItem.SuspenseCause.AMOUNT_DIFFERS,
                        f"amount differs: ours {_money(item.amount)}, the channel's {_money(item.channel_amount or ZERO)}",
                        now,
                    )
                opened += 1
    return opened


def _suspend(held: HeldItem, cause: str, reason: str, now: dt.datetime) -> None:
    item, batch = held.item, held.batch
    held.suspend()
    held.suspense_cause, held.suspense_reason, held.suspense_at = cause, reason[:200], now
    held.save()
    payment_alert(
        kind=PaymentAlert.Kind.SUSPENSE_CREDIT,
        severity=PaymentAlert.Severity.P2,
        channel=batch.channel,
        reference=item.request_id,
        message=text_spec(
            _(
                "{reference}: held item {held} of settlement batch {batch} (merchant {merchant}, {day}) is in suspense: "
                "{reason}. Adjust it under maker-checker. / {reference}：结算批次 {batch}（商户 {merchant}，{day}）的"
                "暂挂项 {held} 已挂账：{reason}。请经复核调账。"
            ),
            reference=item.request_id,
            held=held.pk,
            batch=batch.pk,
            merchant=batch.merchant_id,
            day=batch.business_date.isoformat(),
            reason=reason,
        ),
        held_item=held.pk,
        batch=batch.pk,
        merchant=batch.merchant_id,
        net=_money(item.net_amount),
    )
    _audit(held, "suspense", cause=cause, reason=reason[:200])


def _files_of(channel, business_date: dt.date, fetched: dict) -> list[ClearingFile]:
    """The channel's clearing files of ``business_date``, fetched from the channel (outside any
    transaction) when none was imported yet; [] when the channel cannot give it now."""
    from merchants import settlement

    key = (channel.pk, business_date)
    if key not in fetched:
        files = list(ClearingFile.objects.filter(channel=channel, business_date=business_date).order_by("pk"))
        if not files:
            try:
                files = [settlement._fetch_file(channel, business_date)]
            except ChannelUnavailableError:
                files = []
        fetched[key] = files
    return fetched[key]


def held_items_review(*, business_date: dt.date | None = None, now: dt.datetime | None = None) -> dict:
    """R-REC-03 (the daily job): open the held items, then re-examine every waiting one against the
    channel's files of the business dates after its batch's, up to its wait and never beyond
    ``business_date`` (the last one whose file exists: yesterday by default). Matched: released by a
    follow-up settlement and paid out; every file seen and still unmatched: suspense. Idempotent."""
    now = now or timezone.now()
    business_date = business_date or local_date(now) - dt.timedelta(days=1)
    opened = held_items_open(now=now)
    fetched: dict = {}
    matched = suspended = 0
    released_merchants: set[int] = set()
    waiting = HeldItem.objects.filter(state=HeldItem.State.WAITING).select_related("batch", "batch__channel")
    for held in list(waiting.order_by("pk")):
        batch = held.batch
        days = []
        day = batch.business_date + dt.timedelta(days=1)
        while day <= min(held.wait_until, business_date):
            days.append(day)
            day += dt.timedelta(days=1)
        files = {day: _files_of(batch.channel, day, fetched) for day in days}
        with _atomic():
            held = _locked(held.pk)
            if held.state != HeldItem.State.WAITING:
                continue
            item = held.item
            seen = [f for day in days for f in files[day]]
            held.files_examined.add(*seen)
            line = (
                ClearingLine.objects.filter(file__in=seen, request_id=item.request_id)
                .select_related("file")
                .order_by("file__business_date", "pk")
                .first()
            )
            if line is not None and line.amount == item.amount:
                held.match_late()
                held.matched_line, held.resolved_at = line, now
                _audit(held, "matched_late", file=line.file_id, line=line.pk, business_date=line.file.business_date.isoformat())
                if _release(held, now):
                    released_merchants.add(batch.merchant_id)
                held.save()
                _batch_resolve_if_done(held.batch_id, now)
                matched += 1
            elif line is not None:
                _suspend(
                    held,
                    HeldItem.SuspenseCause.LATER_AMOUNT_DIFFERS,
                    f"the file of {line.file.business_date.isoformat()} carries it with {_money(line.amount)}, "
                    f"ours {_money(item.amount)}",
                    now,
                )
                suspended += 1
            elif held.wait_until <= business_date and all(files[day] for day in days):
                names = ", ".join(day.isoformat() for day in days)
                cause = HeldItem.SuspenseCause.NOT_IN_LATER_FILES
                _suspend(held, cause, f"not in the channel's files of {names} (T+{len(days)})", now)
                suspended += 1
    _pay_out(released_merchants, now)
    return {"opened": opened, "matched_late": matched, "suspense": suspended}


# -- money ---------------------------------------------------------------------------------------------


def _release(held: HeldItem, now: dt.datetime) -> bool:
    """The follow-up settlement of a held item's net (module docstring); inside the caller's
    transaction, under the batch's lock. A refund item (its net already left pending) moves nothing."""
    batch, item = held.batch, held.item
    merchant = batch.merchant
    ids = [
        merchant.pending_account_id,
        merchant.available_account_id,
        merchant.reserve_account_id,
        merchant.receivable_account_id,
    ]
    accounts = {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    movable = max(min(item.net_amount, accounts[merchant.pending_account_id].available), ZERO)
    reserve = (movable * merchant.reserve_rate).quantize(FEN, rounding=ROUND_HALF_UP)
    netted = max(min(accounts[merchant.receivable_account_id].balance, movable - reserve), ZERO)
    available = movable - reserve - netted
    if movable <= 0:
        return False
    legs = [
        ledger.Leg(merchant.pending_account_id, DEBIT, movable),
        ledger.Leg(merchant.reserve_account_id, CREDIT, reserve),
        ledger.Leg(merchant.receivable_account_id, CREDIT, netted),
        ledger.Leg(merchant.available_account_id, CREDIT, available),
    ]
    held.transfer = ledger.post_transfer(
        client=LEDGER_CLIENT,
        idempotency_key=f"settlement:{batch.pk}:held:{item.pk}:release",
        kind="merchant_settlement",
        legs=[leg for leg in legs if leg.amount > 0],
        memo=f"差错放行结算 held item released {item.request_id}, batch {batch.pk}",
        metadata={"batch": batch.pk, "merchant": merchant.pk, "item": item.pk, "held_item": held.pk},
    )
    held.released_amount, held.reserve_amount = movable, reserve
    held.receivable_netted, held.available_amount = netted, available
    if reserve > 0 and merchant.reserve_release_days:
        held.reserve_release_on = local_date(now) + dt.timedelta(days=merchant.reserve_release_days)
    _audit(
        held,
        "release",
        released=_money(movable),
        reserve=_money(reserve),
        receivable_netted=_money(netted),
        available=_money(available),
    )
    return True


def _pay_out(merchant_ids, now: dt.datetime) -> None:
    """The merchants' available balances paid out after a release (as after a settlement)."""
    from merchants import payouts

    for merchant_id in sorted(merchant_ids):
        with _atomic():
            payouts.settlement_payout_create(merchant_id=merchant_id, now=now)


def _batch_resolve_if_done(batch_id: int, now: dt.datetime) -> None:
    batch = SettlementBatch.objects.select_for_update().get(pk=batch_id)
    if batch.state != SettlementBatch.State.HELD:
        return
    unmatched = batch.items.exclude(match=Match.MATCHED)
    if unmatched.filter(held__isnull=True).exists():
        return
    if any(h.open for h in HeldItem.objects.filter(batch=batch)):
        return
    batch.resolve()
    batch.save()
    _audit(batch, "batch_resolved")


def held_reserve_release_due(*, today: dt.date | None = None, now: dt.datetime | None = None) -> int:
    """The reserve of each release whose release date has come goes back to available, once each;
    never more than the reserve still holds."""
    now = now or timezone.now()
    today = today or local_date(now)
    released = 0
    due = HeldItem.objects.filter(reserve_release_on__lte=today, reserve_released_at__isnull=True).values_list("pk", flat=True)
    for held_id in list(due):
        with _atomic():
            held = _locked(held_id)
            if held.reserve_released_at is not None:
                continue
            merchant = held.batch.merchant
            reserve = Account.objects.select_for_update().get(pk=merchant.reserve_account_id)
            amount = max(min(held.reserve_amount, reserve.available), ZERO)
            if amount > 0:
                ledger.post_transfer(
                    client=LEDGER_CLIENT,
                    idempotency_key=f"settlement:{held.batch_id}:held:{held.item_id}:reserve_release",
                    kind="merchant_reserve_release",
                    legs=ledger.move(
                        from_account_id=merchant.reserve_account_id, to_account_id=merchant.available_account_id, amount=amount
                    ),
                    memo=f"保证金释放 reserve released, held item {held.pk}",
                    metadata={"batch": held.batch_id, "merchant": merchant.pk, "held_item": held.pk},
                )
            held.reserve_released_at = now
            held.save(update_fields=["reserve_released_at", "updated_at"])
            _audit(held, "reserve_release", amount=_money(amount))
            released += 1
    return released


# -- 调账 under maker-checker (R-REC-04) -------------------------------------------------------------------


def _is_user(actor) -> bool:
    return bool(getattr(actor, "is_authenticated", False))


def adjustment_propose(*, held_id: int, reason: str, note: str, maker) -> HeldAdjustment:
    """The maker proposes a 调账 of an item in suspense; nothing moves until another operator approves."""
    reason, note = (reason or "").strip(), (note or "").strip()
    errors = {}
    if reason not in HeldAdjustment.Reason.values:
        errors["reason"] = [str(_("Choose a reason code from the list. / 请从列表中选择调账原因。"))]
    if not note:
        errors["note"] = [str(_("Say what was found (the channel's answer, a reference). / 请说明核实情况。"))]
    elif len(note) > 500:
        errors["note"] = [str(_("At most 500 characters. / 最多500个字符。"))]
    if errors:
        raise FieldValidationError(errors)
    with _atomic():
        held = _locked(held_id)
        if held.state != HeldItem.State.SUSPENSE:
            raise NotInSuspenseError()
        item = held.item
        if reason == HeldAdjustment.Reason.NOT_PAID:
            if item.kind != SettlementItem.Kind.PAYMENT:
                raise FieldValidationError(
                    {"reason": [str(_("Only a payment can be written off as not paid. / 只有收款可以按未付款冲销。"))]}
                )
            payment = item.payment
            if payment.refunded_amount or payment.reserved_amount or not payment.success_transfer_id:
                raise FieldValidationError(
                    {
                        "reason": [
                            str(_("This payment has refunds: it cannot be reversed as a whole. / 该收款已有退款，不能整笔冲销。"))
                        ]
                    }
                )
        held.propose()
        held.save()
        adjustment = HeldAdjustment.objects.create(held=held, reason=reason, note=note, maker=maker if _is_user(maker) else None)
        _audit(adjustment, "propose", actor=maker, held_item=held.pk, reason=reason, note=note[:200])
        return adjustment


def _locked_for_check(adjustment_id: int, checker) -> tuple[HeldAdjustment, HeldItem]:
    held_id = HeldAdjustment.objects.filter(pk=adjustment_id).values_list("held_id", flat=True).first()
    if held_id is None:
        raise NotFoundError()
    held = _locked(held_id)
    adjustment = HeldAdjustment.objects.select_for_update().get(pk=adjustment_id)
    if adjustment.state != HeldAdjustment.State.PROPOSED:
        raise NotCheckableError()
    if not _is_user(checker) or adjustment.maker_id == checker.pk:
        raise MakerCheckerError()
    return adjustment, held


def adjustment_approve(*, adjustment_id: int, checker, note: str = "", now: dt.datetime | None = None) -> HeldAdjustment:
    """Another operator approves the 调账: new vouchers only (module docstring), then the item is
    resolved and, once all are, its batch."""
    now = now or timezone.now()
    released = False
    with _atomic():
        adjustment, held = _locked_for_check(adjustment_id, checker)
        item, batch = held.item, held.batch
        if adjustment.reason in RELEASE_REASONS:
            released = _release(held, now)
            adjustment.transfer = held.transfer
        elif item.kind == SettlementItem.Kind.PAYMENT:
            payment = Payment.objects.select_for_update().get(pk=item.payment_id)
            if payment.refunded_amount or payment.reserved_amount:
                raise FieldValidationError({"reason": [str(REFUNDED_TEXT)]})
            adjustment.transfer = ledger.reverse_transfer(
                client=LEDGER_CLIENT,
                idempotency_key=f"settlement:{batch.pk}:held:{item.pk}:reverse",
                transfer_id=item.payment.success_transfer_id,
                memo=f"调账冲销 not paid by the channel {item.request_id}, held item {held.pk}",
            )
            held.transfer = adjustment.transfer
        held.adjust()
        held.resolved_at = now
        held.save()
        adjustment.approve()
        adjustment.checker, adjustment.checked_at, adjustment.check_note = checker, now, (note or "")[:200]
        adjustment.save()
        _audit(
            adjustment,
            "approve",
            actor=checker,
            held_item=held.pk,
            reason=adjustment.reason,
            transfer=adjustment.transfer_id,
            batch=batch.pk,
        )
        _batch_resolve_if_done(batch.pk, now)
        if released:
            _pay_out({batch.merchant_id}, now)
        return adjustment


def adjustment_reject(*, adjustment_id: int, checker, note: str, now: dt.datetime | None = None) -> HeldAdjustment:
    """The checker rejects: nothing moved, the item is back in suspense."""
    now = now or timezone.now()
    note = (note or "").strip()
    if not note:
        raise FieldValidationError({"note": [str(_("Rejecting needs a reason. / 拒绝必须填写原因。"))]})
    with _atomic():
        adjustment, held = _locked_for_check(adjustment_id, checker)
        held.reject()
        held.save()
        adjustment.reject()
        adjustment.checker, adjustment.checked_at, adjustment.check_note = checker, now, note[:200]
        adjustment.save()
        _audit(adjustment, "reject", actor=checker, held_item=held.pk, note=note[:200])
        return adjustment


# -- long items ------------------------------------------------------------------------------------------


def long_line_note(*, line_id: int, reason: str, note: str, actor) -> LongLineNote:
    """Record what was found about a long line (长款); once per line. Moves no money."""
    reason, note = (reason or "").strip(), (note or "").strip()
    errors = {}
    if reason not in LongLineNote.Reason.values:
        errors["reason"] = [str(_("Choose a reason code from the list. / 请从列表中选择处理原因。"))]
    if not note:
        errors["note"] = [str(_("Say what was found (the channel's answer, a reference). / 请说明核实情况。"))]
    elif len(note) > 500:
        errors["note"] = [str(_("At most 500 characters. / 最多500个字符。"))]
    if errors:
        raise FieldValidationError(errors)
    with _atomic():
        line = ClearingLine.objects.select_for_update().filter(pk=line_id).first()
        if line is None:
            raise NotFoundError()
        if line.match != Match.LONG:
            raise InvalidStateError(_("Only a long line gets a note here. / 只有长款明细可在此登记处理。"))
        if LongLineNote.objects.filter(line=line).exists():
            raise InvalidStateError(_("This long line already has its note. / 该长款已登记处理。"))
        row = LongLineNote.objects.create(line=line, reason=reason, note=note, recorded_by=actor if _is_user(actor) else None)
        _audit(row, "long_note", actor=actor, line=line.pk, request_id=line.request_id, reason=reason, note=note[:200])
        return row
