"""Reads of the merchants app (the faces' queries)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from merchants.models import Merchant, MerchantPayout, Payment, PaymentDiscount, Refund, SettlementBatch, SettlementItem

__all__ = [
    "merchant_get",
    "payment_detail",
    "payment_list",
    "payout_list",
    "refund_list",
    "settlement_detail",
    "settlement_list",
]


def merchant_get(*, merchant_id) -> Merchant | None:
    return Merchant.objects.filter(pk=merchant_id).first() if str(merchant_id).isdigit() else None


def payment_detail(*, payment_id) -> Payment | None:
    """A payment with its discounts and refunds (oldest first), or None."""
    if not str(payment_id).isdigit():
        return None
    return (
        Payment.objects.select_related("merchant", "channel")
        .prefetch_related(
            Prefetch("discounts", queryset=PaymentDiscount.objects.order_by("pk")),
            Prefetch("refunds", queryset=Refund.objects.order_by("created_at", "pk")),
        )
        .filter(pk=payment_id)
        .first()
    )


def payment_list(*, merchant_id: int | None = None) -> QuerySet[Payment]:
    rows = Payment.objects.select_related("merchant", "channel")
    return rows.filter(merchant_id=merchant_id) if merchant_id is not None else rows


def refund_list(*, merchant_id: int | None = None) -> QuerySet[Refund]:
    rows = Refund.objects.select_related("merchant", "payment", "channel")
    return rows.filter(merchant_id=merchant_id) if merchant_id is not None else rows


def settlement_list(
    *, merchant_ids=None, merchant=None, state=None, channel=None, date_from=None, date_to=None
) -> QuerySet[SettlementBatch]:
    """Settlement batches, newest business date first; ``merchant_ids`` None: every merchant's."""
    rows = SettlementBatch.objects.select_related("merchant", "channel").order_by("-business_date", "-pk")
    if merchant_ids is not None:
        rows = rows.filter(merchant_id__in=merchant_ids)
    if merchant is not None:
        rows = rows.filter(merchant_id=merchant)
    if state:
        rows = rows.filter(state=state)
    if channel:
        rows = rows.filter(channel__code=channel)
    if date_from:
        rows = rows.filter(business_date__gte=date_from)
    if date_to:
        rows = rows.filter(business_date__lte=date_to)
    return rows


def settlement_detail(*, settlement_id, merchant_id: int | None = None) -> SettlementBatch | None:
    """A batch with its items and payouts, or None (another merchant's too, when ``merchant_id`` is given)."""
    if not str(settlement_id).isdigit():
        return None
    rows = SettlementBatch.objects.select_related("merchant", "channel").prefetch_related(
        Prefetch("items", queryset=SettlementItem.objects.order_by("pk")),
        Prefetch("payouts", queryset=MerchantPayout.objects.order_by("pk")),
    )
    if merchant_id is not None:
        rows = rows.filter(merchant_id=merchant_id)
    return rows.filter(pk=settlement_id).first()


def payout_list(*, merchant_id: int | None = None) -> QuerySet[MerchantPayout]:
    rows = MerchantPayout.objects.select_related("merchant", "channel", "batch")
    return rows.filter(merchant_id=merchant_id) if merchant_id is not None else rows
