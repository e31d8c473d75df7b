"""Reads of the merchants app (the faces' queries)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from merchants.models import Merchant, Payment, PaymentDiscount, Refund

__all__ = ["merchant_get", "payment_detail", "payment_list", "refund_list"]


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
