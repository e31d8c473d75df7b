"""Celery tasks of the accounts app: thin, idempotent wrappers that call services by id."""

from __future__ import annotations

from celery import shared_task

# -- tier limits (accounts.limits) -------------------------------------------------------


@shared_task(name="accounts.kyc_tasks_mark_overdue", acks_late=True)
def kyc_tasks_mark_overdue() -> int:
    """Beat (daily): flag overdue Class III KYC tasks and apply the configured action (R-ACC-14)."""
    from accounts.limits import kyc_tasks_mark_overdue as mark_overdue

    return mark_overdue()
