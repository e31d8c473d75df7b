"""Celery tasks of the merchants app: thin, idempotent wrappers that call the services. Task names
are part of the contract (queued messages hold them): never rename one."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="merchants.payment_submit", acks_late=True)
def payment_submit(payment_id: int) -> str | None:
    from merchants import payments

    payment = payments.payment_submit(payment_id=payment_id)
    return payment.state if payment else None


@shared_task(name="merchants.payment_query_status", acks_late=True)
def payment_query_status(payment_id: int) -> str | None:
    from accounts.payments.channels import ChannelUnavailableError
    from merchants import payments

    try:
        payment = payments.payment_query_status(payment_id=payment_id)
    except ChannelUnavailableError:
        return None
    return payment.state if payment else None


@shared_task(name="merchants.refund_submit", acks_late=True)
def refund_submit(refund_id: int) -> str | None:
    from merchants import refunds

    refund = refunds.refund_submit(refund_id=refund_id)
    return refund.state if refund else None


@shared_task(name="merchants.refund_query_status", acks_late=True)
def refund_query_status(refund_id: int) -> str | None:
    from accounts.payments.channels import ChannelUnavailableError
    from merchants import refunds

    try:
        refund = refunds.refund_query_status(refund_id=refund_id)
    except ChannelUnavailableError:
        return None
    return refund.state if refund else None


@shared_task(name="merchants.sweep")
def merchants_sweep() -> dict:
    """Re-drive payments and refunds in flight (beat, every minute)."""
    from merchants.sweep import merchants_sweep as sweep

    return sweep()


@shared_task(name="merchants.payout_submit", acks_late=True)
def payout_submit(payout_id: int) -> str | None:
    from merchants import payouts

    payout = payouts.payout_submit(payout_id=payout_id)
    return payout.state if payout else None


@shared_task(name="merchants.payout_query_status", acks_late=True)
def payout_query_status(payout_id: int) -> str | None:
    from accounts.payments.channels import ChannelUnavailableError
    from merchants import payouts

    try:
        payout = payouts.payout_query_status(payout_id=payout_id)
    except ChannelUnavailableError:
        return None
    return payout.state if payout else None


@shared_task(name="merchants.settlement")
def merchants_settlement() -> dict:
    """清分 → 清算 → 结算 of yesterday's business date, settlements due, reserves and scheduled payouts (beat, daily)."""
    from merchants.settlement import settlement_run

    return settlement_run()
