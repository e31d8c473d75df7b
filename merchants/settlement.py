"""Settlement of merchants' payments: 清分 → 清算 → 结算 (DOMAIN.md §5.2, R-REC-01/02).

The glossary, used consistently: **清分** (clearing, allocation) computes inside our books what each
merchant is owed for a channel and business date, from the vouchers; **清算** (reconciliation with
the channel) imports the channel's clearing file and matches it item by item; **结算** (settlement)
moves the matched net out of pending settlement and pays the available balance out.

One ``SettlementBatch`` per merchant, channel and business date (unique). The job
(``settlement_run``, beat ``merchants.settlement`` daily) may run twice or die halfway: each step
runs under the batch's row lock in one transaction and only from the state before it, and money
moves only with an idempotency key per batch, so the next run goes on from where the last stopped
and never does a step twice. The channel is never called inside a transaction.

- 清分: the batch's items are the merchant's succeeded payments of that business date on that
  channel (+ what each credited to pending: MDR base − MDR) and its succeeded refunds not yet in a
  batch whose outcome fell on or before that business date (− what each debited from pending). A
  refund after a batch settled is in a later batch: past batches are never edited.
- 清算: the clearing file is imported once per content (R-REC-01, SHA-256); every item ends as
  exactly one of matched, short (ours only), mismatch (amounts differ), timing (the channel has it
  on another business date); lines of the file that are no payment or refund of ours are long
  (R-REC-02). A coupon-only refund moves no cash and is matched without a line.
- 结算 (on the settlement date, T+N working days after the business date): the matched net
  (never more than pending holds) in one voucher ``merchant_settlement``::

      Dr merchant pending          matched net
         Cr merchant reserve       net × reserve rate (half-up), released after the release days
         Cr merchant receivable    the bank's advance outstanding, netted (at most the rest)
         Cr merchant available     the rest

  Unmatched items are held (the batch ends ``held``), never paid, until ``merchants.held`` resolves
  them (matched by a later file within T+2, or 调账 under maker-checker) by follow-up vouchers. Then the available balance, if
  positive, is paid to the merchant's verified corporate settlement account by a settlement payout
  (``merchants.payouts``), under the merchant's standing settlement authorisation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import workdays
from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.models import Account, Entry
from accounts.ledger.rules import register_posting_rule
from accounts.payments.channels import adapter_for, assert_outside_transaction
from accounts.payments.models import Channel
from backoffice.audit import audit_record
from backoffice.dates import business_date as local_date
from backoffice.dates import business_date_with_cutoff, start_of_day
from backoffice.errors import FieldValidationError, NotFoundError
from merchants.models import (
    ClearingFile,
    ClearingLine,
    Match,
    Merchant,
    Payment,
    Refund,
    SettlementAuthorisation,
    SettlementBatch,
    SettlementItem,
)

__all__ = [
    "batch_clear",
    "batch_open",
    "batch_reconcile",
    "batch_settle",
    "clearing_file_import",
    "register_posting_rules",
    "reserve_release_due",
    "settlement_authorisation_record",
    "settlement_authorisation_revoke",
    "settlement_get",
    "settlement_run",
]

LEDGER_CLIENT = "merchants"
#: How many business dates back the job opens batches a stopped job missed.
CATCH_UP_DAYS = 7
FEN = Decimal("0.01")
ZERO = Decimal("0")


def register_posting_rules() -> None:
    """The settlement voucher kinds (from ``MerchantsConfig.ready``)."""
    register_posting_rule(
        "merchant_settlement",
        debit=[Role.MERCHANT_PENDING],
        credit=[Role.MERCHANT_RESERVE, Role.MERCHANT_RECEIVABLE, Role.MERCHANT_AVAILABLE],
        purpose="结算: a batch's matched net out of pending → the reserve, the bank's advance netted, available",
    )
    register_posting_rule(
        "merchant_reserve_release",
        debit=[Role.MERCHANT_RESERVE],
        credit=[Role.MERCHANT_AVAILABLE],
        purpose="a batch's rolling reserve released after the release days → available",
    )


def _audit(target, action: str, *, actor=None, **data) -> None:
    audit_record(
        actor=actor, actor_label="" if actor else "settlement", action=f"merchants.settlement.{action}", target=target, data=data
    )


def _atomic():
    return transaction.atomic(durable=not transaction.get_connection().in_atomic_block)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


# -- the standing settlement authorisation -----------------------------------------------------------


def settlement_authorisation_record(
    *, merchant_id: int, reference: str, signed_on: dt.date, actor=None
) -> SettlementAuthorisation:
    """Record the merchant's signed standing settlement authorisation (at onboarding). Once per merchant;
    recording it again answers the one in force."""
    reference = (reference or "").strip()
    if not reference:
        raise FieldValidationError({"reference": [str(_("The signed agreement's reference is required."))]})
    with _atomic():
        merchant = Merchant.objects.select_for_update().filter(pk=merchant_id).first()
        if merchant is None:
            raise NotFoundError()
        existing = SettlementAuthorisation.objects.filter(merchant=merchant).first()
        if existing is not None and existing.in_force:
            return existing
        if existing is not None:
            existing.delete()
        authorisation = SettlementAuthorisation.objects.create(
            merchant=merchant, reference=reference, signed_on=signed_on, recorded_by=actor if _is_user(actor) else None
        )
        _audit(merchant, "authorisation_record", actor=actor, reference=reference, signed_on=signed_on.isoformat())
        return authorisation


def settlement_authorisation_revoke(*, merchant_id: int, actor=None) -> None:
    with _atomic():
        row = SettlementAuthorisation.objects.select_for_update().filter(merchant_id=merchant_id, revoked_at__isnull=True).first()
        if row is not None:
            row.revoked_at = timezone.now()
            row.save(update_fields=["revoked_at", "updated_at"])
            _audit(row.merchant, "authorisation_revoke", actor=actor)


def _is_user(actor) -> bool:
    return bool(getattr(actor, "is_authenticated", False))


# -- the batch -------------------------------------------------------------------------------------


def batch_open(*, merchant: Merchant, channel: Channel, business_date: dt.date) -> SettlementBatch:
    """The batch of ``merchant``, ``channel`` and ``business_date``: created once (a concurrent or
    repeated open finds the same row)."""
    settle_date = workdays.add_working_days(business_date, merchant.settlement_cycle_days)
    batch = SettlementBatch.objects.filter(merchant=merchant, channel=channel, business_date=business_date).first()
    if batch is not None:
        return batch
    try:
        with transaction.atomic():
            batch = SettlementBatch.objects.create(
                merchant=merchant, channel=channel, business_date=business_date, settle_date=settle_date
            )
    except IntegrityError:
        return SettlementBatch.objects.get(merchant=merchant, channel=channel, business_date=business_date)
    _audit(batch, "open", business_date=business_date.isoformat(), settle_date=settle_date.isoformat())
    return batch


def _locked(batch_id: int) -> SettlementBatch:
    return SettlementBatch.objects.select_for_update().select_related("merchant", "channel").get(pk=batch_id)


def _pending_debits(refunds: list[Refund], pending_account_id: int) -> dict[int, Decimal]:
    """What each refund's voucher took from the merchant's pending settlement."""
    by_transfer = {r.transfer_id: r.pk for r in refunds if r.transfer_id}
    out = {r.pk: ZERO for r in refunds}
    for entry in Entry.objects.filter(transfer_id__in=by_transfer, account_id=pending_account_id, side=DEBIT):
        out[by_transfer[entry.transfer_id]] += entry.amount
    return out


def batch_clear(*, batch_id: int, now: dt.datetime | None = None) -> SettlementBatch:
    """清分: the batch's items and totals from the vouchers (once: from ``created`` only)."""
    now = now or timezone.now()
    with _atomic():
        batch = _locked(batch_id)
        if batch.state != SettlementBatch.State.CREATED:
            return batch
        merchant, channel = batch.merchant, batch.channel
        items: list[SettlementItem] = []
        for payment in Payment.objects.filter(
            merchant=merchant, channel=channel, business_date=batch.business_date, state=Payment.State.SUCCEEDED
        ).order_by("pk"):
            items.append(
                SettlementItem(
                    batch=batch,
                    kind=SettlementItem.Kind.PAYMENT,
                    payment=payment,
                    request_id=payment.request_id,
                    reference=payment.out_trade_no,
                    amount=payment.paid_amount,
                    mdr_amount=payment.mdr_amount,
                    net_amount=payment.mdr_base - payment.mdr_amount,
                )
            )
        # Refunds not yet in any batch whose outcome fell on or before the business date.
        in_batches = SettlementItem.objects.filter(refund__isnull=False, refund__merchant=merchant).values("refund_id")
        candidates = [
            refund
            for refund in Refund.objects.filter(merchant=merchant, channel=channel, state=Refund.State.SUCCEEDED)
            .exclude(pk__in=in_batches)
            .order_by("pk")
            if refund.resolved_at is not None and channel.business_date_of(refund.resolved_at) <= batch.business_date
        ]
        taken = _pending_debits(candidates, merchant.pending_account_id)
        for refund in candidates:
            items.append(
                SettlementItem(
                    batch=batch,
                    kind=SettlementItem.Kind.REFUND,
                    payment_id=refund.payment_id,
                    refund=refund,
                    request_id=refund.request_id or f"RF-BOOKS-{refund.pk}",
                    reference=refund.out_refund_no,
                    amount=refund.cash_amount,
                    mdr_amount=-refund.mdr_refunded,
                    net_amount=-taken[refund.pk],
                )
            )
        SettlementItem.objects.bulk_create(items)
        payments = [i for i in items if i.kind == SettlementItem.Kind.PAYMENT]
        refunds = [i for i in items if i.kind == SettlementItem.Kind.REFUND]
        batch.payment_count = len(payments)
        batch.payment_amount = sum((i.net_amount + i.mdr_amount for i in payments), ZERO)
        batch.mdr_amount = sum((i.mdr_amount for i in payments), ZERO)
        batch.refund_count = len(refunds)
        batch.refund_amount = -sum((i.net_amount for i in refunds), ZERO)
        batch.net_amount = sum((i.net_amount for i in items), ZERO)
        batch.clear()
        batch.cleared_at = now
        batch.save()
        _audit(
            batch,
            "clear",
            payments=batch.payment_count,
            refunds=batch.refund_count,
            net=_money(batch.net_amount),
            mdr=_money(batch.mdr_amount),
        )
        return batch


# -- 清算: the channel's clearing file ------------------------------------------------------------------


def _file_hash(rows) -> str:
    canonical = [
        [row.channel_txn_id, row.request_id, row.kind, _money(row.amount), row.business_date.isoformat()]
        for row in sorted(rows, key=lambda r: (r.request_id, r.kind, r.channel_txn_id))
    ]
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()


def clearing_file_import(*, channel: Channel, business_date: dt.date, rows) -> ClearingFile:
    """Store a clearing file's lines once per content (R-REC-01): the same file again answers the
    first import. Lines no payment or refund of ours carries are long (长款, R-REC-02)."""
    digest = _file_hash(rows)
    existing = ClearingFile.objects.filter(channel=channel, business_date=business_date, sha256=digest).first()
    if existing is not None:
        return existing
    try:
        with _atomic():
            file = ClearingFile.objects.create(
                channel=channel,
                business_date=business_date,
                sha256=digest,
                line_count=len(rows),
                total_payments=sum((r.amount for r in rows if r.kind == "payment"), ZERO),
                total_refunds=sum((r.amount for r in rows if r.kind == "refund"), ZERO),
            )
            ours = set(Payment.objects.filter(request_id__in=[r.request_id for r in rows]).values_list("request_id", flat=True))
            ours |= set(Refund.objects.filter(request_id__in=[r.request_id for r in rows]).values_list("request_id", flat=True))
            ClearingLine.objects.bulk_create(
                [
                    ClearingLine(
                        file=file,
                        channel_txn_id=r.channel_txn_id,
                        request_id=r.request_id,
                        kind=r.kind,
                        amount=r.amount,
                        business_date=r.business_date,
                        match="" if r.request_id in ours else Match.LONG,
                    )
                    for r in rows
                ]
            )
            _audit(file, "file_import", channel=channel.code, business_date=business_date.isoformat(), lines=len(rows))
            return file
    except IntegrityError:
        return ClearingFile.objects.get(channel=channel, business_date=business_date, sha256=digest)


def _fetch_file(channel: Channel, business_date: dt.date) -> ClearingFile:
    assert_outside_transaction()
    rows = adapter_for(channel).clearing_file(business_date=business_date)
    return clearing_file_import(channel=channel, business_date=business_date, rows=rows)


def batch_reconcile(*, batch_id: int, file: ClearingFile | None = None, now: dt.datetime | None = None) -> SettlementBatch:
    """清算: fetch (outside any transaction) and import the channel's clearing file, then classify
    every item (once: from ``cleared`` only)."""
    now = now or timezone.now()
    batch = SettlementBatch.objects.select_related("channel").get(pk=batch_id)
    if batch.state != SettlementBatch.State.CLEARED:
        return batch
    if file is None:
        file = _fetch_file(batch.channel, batch.business_date)
    with _atomic():
        batch = _locked(batch_id)
        if batch.state != SettlementBatch.State.CLEARED:
            return batch
        lines = {line.request_id: line for line in file.lines.all()}
        held = ZERO
        for item in batch.items.all():
            line = lines.get(item.request_id)
            if line is None and item.amount == 0:
                item.match = Match.MATCHED  # coupons only: no cash, no line
            elif line is None:
                other = (
                    ClearingLine.objects.filter(file__channel=batch.channel, request_id=item.request_id)
                    .exclude(file__business_date=batch.business_date)
                    .order_by("-pk")
                    .first()
                )
                line = other
                item.match = Match.TIMING if other is not None else Match.SHORT
            elif line.amount != item.amount:
                item.match = Match.MISMATCH
            elif line.business_date != batch.business_date:
                item.match = Match.TIMING
            else:
                item.match = Match.MATCHED
            if line is not None:
                item.channel_amount, item.channel_txn_id = line.amount, line.channel_txn_id
            if item.match != Match.MATCHED:
                held += item.net_amount
            item.save(update_fields=["match", "channel_amount", "channel_txn_id"])
        batch.clearing_file = file
        batch.held_amount = held
        batch.reconcile()
        batch.reconciled_at = now
        batch.save()
        counts = {m: batch.items.filter(match=m).count() for m in Match.values}
        _audit(batch, "reconcile", file=file.pk, sha256=file.sha256, held=_money(held), **counts)
        return batch


# -- 结算 ------------------------------------------------------------------------------------------------


def _balances(merchant: Merchant) -> dict[int, Account]:
    ids = [
        merchant.pending_account_id,
        merchant.available_account_id,
        merchant.reserve_account_id,
        merchant.receivable_account_id,
    ]
    return {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def batch_settle(*, batch_id: int, now: dt.datetime | None = None) -> SettlementBatch:
    """结算 of a reconciled batch (module docstring), then the settlement payout of the available
    balance. Once: from ``reconciled`` only."""
    from merchants import payouts

    now = now or timezone.now()
    with _atomic():
        batch = _locked(batch_id)
        if batch.state != SettlementBatch.State.RECONCILED:
            return batch
        merchant = batch.merchant
        matched = sum((i.net_amount for i in batch.items.filter(match=Match.MATCHED)), ZERO)
        accounts = _balances(merchant)
        pending = accounts[merchant.pending_account_id].available
        receivable = accounts[merchant.receivable_account_id].balance
        movable = max(min(matched, pending), ZERO)
        reserve = (movable * merchant.reserve_rate).quantize(FEN, rounding=ROUND_HALF_UP)
        netted = max(min(receivable, movable - reserve), ZERO)
        available = movable - reserve - netted
        if movable > 0:
            legs = [
                ledger.Leg(merchant.pending_account_id, DEBIT, movable),
                ledger.Leg(merchant.reserve_account_id, CREDIT, reserve),
                ledger.Leg(merchant.receivable_account_id, CREDIT, netted),
                ledger.Leg(merchant.available_account_id, CREDIT, available),
            ]
            batch.transfer = ledger.post_transfer(
                client=LEDGER_CLIENT,
                idempotency_key=f"settlement:{batch.pk}:settle",
                kind="merchant_settlement",
                legs=[leg for leg in legs if leg.amount > 0],
                memo=f"商户结算 merchant settlement {merchant.pk} {batch.channel.code} {batch.business_date.isoformat()}",
                metadata={"batch": batch.pk, "merchant": merchant.pk, "business_date": batch.business_date.isoformat()},
            )
        batch.settled_amount, batch.reserve_amount = movable, reserve
        batch.receivable_netted, batch.available_amount = netted, available
        if reserve > 0 and merchant.reserve_release_days:
            batch.reserve_release_on = batch.settle_date + dt.timedelta(days=merchant.reserve_release_days)
        if batch.items.exclude(match=Match.MATCHED).exists():
            batch.hold()
        else:
            batch.settle()
        batch.settled_at = now
        batch.save()
        _audit(
            batch,
            "settle",
            state=batch.state,
            matched=_money(matched),
            settled=_money(movable),
            reserve=_money(reserve),
            receivable_netted=_money(netted),
            available=_money(available),
            held=_money(batch.held_amount),
        )
        payouts.settlement_payout_create(merchant_id=merchant.pk, batch=batch, now=now)
        return batch


def reserve_release_due(*, today: dt.date | None = None, now: dt.datetime | None = None) -> int:
    """Release every batch's reserve whose release date has come (reserve → available), once each;
    never more than the reserve still holds (a refund may have drawn on it)."""
    now = now or timezone.now()
    today = today or local_date(now)
    released = 0
    due = SettlementBatch.objects.filter(reserve_release_on__lte=today, reserve_released_at__isnull=True).values_list(
        "pk", flat=True
    )
    for batch_id in list(due):
        with _atomic():
            batch = _locked(batch_id)
            if batch.reserve_released_at is not None:
                continue
            merchant = batch.merchant
            held = _balances(merchant)[merchant.reserve_account_id].available
            amount = max(min(batch.reserve_amount, held), ZERO)
            if amount > 0:
                ledger.post_transfer(
                    client=LEDGER_CLIENT,
                    idempotency_key=f"settlement:{batch.pk}:reserve_release",
                    kind="merchant_reserve_release",
                    legs=ledger.move(
                        from_account_id=merchant.reserve_account_id, to_account_id=merchant.available_account_id, amount=amount
                    ),
                    memo=f"保证金释放 reserve released, batch {batch.pk}",
                    metadata={"batch": batch.pk, "merchant": merchant.pk},
                )
            batch.reserve_released_at = now
            batch.save(update_fields=["reserve_released_at", "updated_at"])
            _audit(batch, "reserve_release", amount=_money(amount))
            released += 1
    return released


# -- the job ---------------------------------------------------------------------------------------------


def _pairs_of_day(business_date: dt.date) -> set[tuple[int, int]]:
    """(merchant, channel) with a succeeded payment on the business date, or a refund that ended then."""
    pairs = set(
        Payment.objects.filter(business_date=business_date, state=Payment.State.SUCCEEDED)
        .values_list("merchant_id", "channel_id")
        .distinct()
    )
    window = (start_of_day(business_date - dt.timedelta(days=2)), start_of_day(business_date + dt.timedelta(days=2)))
    for merchant_id, channel_id, resolved_at, cutoff in Refund.objects.filter(
        state=Refund.State.SUCCEEDED, resolved_at__range=window
    ).values_list("merchant_id", "channel_id", "resolved_at", "channel__cutoff_time"):
        if business_date_with_cutoff(resolved_at, cutoff) == business_date:
            pairs.add((merchant_id, channel_id))
    return pairs


def settlement_run(*, business_date: dt.date | None = None, now: dt.datetime | None = None) -> dict:
    """The daily job (beat ``merchants.settlement``): open, clear and reconcile the batches of the
    business date (yesterday by default; and of the ``CATCH_UP_DAYS`` before it that have none),
    settle every reconciled batch whose settlement date has come, release the reserves due, and
    re-examine the held items (``merchants.held``: matched by a later file and released, or past T+2
    into suspense), and release the scheduled payouts whose window opened.
    Idempotent: running it again (or after a crash) goes on from each batch's state."""
    from merchants import held, payouts

    now = now or timezone.now()
    today = local_date(now)
    business_date = business_date or today - dt.timedelta(days=1)
    opened = 0
    # The days a stopped job missed are caught up (a batch is opened once whatever the day).
    for back in range(CATCH_UP_DAYS - 1, -1, -1):
        day = business_date - dt.timedelta(days=back)
        for merchant_id, channel_id in sorted(_pairs_of_day(day)):
            if not SettlementBatch.objects.filter(merchant_id=merchant_id, channel_id=channel_id, business_date=day).exists():
                merchant = Merchant.objects.get(pk=merchant_id)
                batch_open(merchant=merchant, channel=Channel.objects.get(pk=channel_id), business_date=day)
                opened += 1
    for batch_id in SettlementBatch.objects.filter(state=SettlementBatch.State.CREATED).values_list("pk", flat=True):
        batch_clear(batch_id=batch_id, now=now)
    for batch_id in SettlementBatch.objects.filter(state=SettlementBatch.State.CLEARED).values_list("pk", flat=True):
        batch_reconcile(batch_id=batch_id, now=now)
    settled = 0
    for batch_id in SettlementBatch.objects.filter(state=SettlementBatch.State.RECONCILED, settle_date__lte=today).values_list(
        "pk", flat=True
    ):
        batch_settle(batch_id=batch_id, now=now)
        settled += 1
    # R-REC-03/04: the held items of held batches, re-examined against the channel's later files.
    review = held.held_items_review(business_date=business_date, now=now)
    released = reserve_release_due(today=today, now=now) + held.held_reserve_release_due(today=today, now=now)
    scheduled = payouts.payouts_release_due(now=now)
    return {
        "opened": opened,
        "settled": settled,
        "held_opened": review["opened"],
        "held_matched_late": review["matched_late"],
        "held_suspense": review["suspense"],
        "reserves_released": released,
        "payouts_released": scheduled,
    }


def settlement_get(*, pk: int, merchant_id: int | None = None) -> SettlementBatch:
    """One batch; another merchant's answers NotFound exactly like a missing one."""
    batches = SettlementBatch.objects.select_related("merchant", "channel")
    if merchant_id is not None:
        batches = batches.filter(merchant_id=merchant_id)
    batch = batches.filter(pk=pk).first()
    if batch is None:
        raise NotFoundError()
    return batch
