"""Celery tasks of reconciliation: thin wrappers around ``custody.reconciliation.services``
(imported by ``CustodyConfig.ready`` so the worker knows them)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="custody.reconciliation_daily", acks_late=True)
def reconciliation_daily() -> dict:
    """The beat job (10:00 Asia/Shanghai, R-DEP-07): yesterday's day recorded for every platform,
    an alert for a missing or unreconciled one (once). Idempotent."""
    from custody.reconciliation import services

    return services.reconciliation_daily()
