"""Celery tasks of custody fees: thin wrappers around ``custody.fees.services`` (imported by
``CustodyConfig.ready`` so the worker knows them)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="custody.fees_daily", acks_late=True)
def fees_daily() -> dict:
    """The beat job (01:30 Asia/Shanghai): accrue yesterday, issue invoices, collect due ones.
    Idempotent: a rerun finds the accruals and invoices it made and the paid invoices paid."""
    from custody.fees import services

    return services.fees_daily()


@shared_task(name="custody.fees_accrue", acks_late=True)
def fees_accrue(platform_id: int, business_date: str):
    """Accrue one platform's closed day (ISO date); a no-op when it is accrued already."""
    import datetime as dt

    from custody.fees import services
    from custody.models import LendingPlatform

    accrual = services.fees_accrue(
        platform=LendingPlatform.objects.get(pk=platform_id), business_date=dt.date.fromisoformat(business_date)
    )
    return None if accrual is None else str(accrual.fee_exact)
