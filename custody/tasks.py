"""Celery tasks of the custody app: thin, idempotent wrappers around services (beat schedules in
migration ``custody/0007_custody_beat``). Each service re-checks every row under its lock, so a task
that runs twice, or late, changes nothing twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="custody.loans_fail_expired")
def loans_fail_expired() -> list[int]:
    """流标: fail every loan still open after its fundraising deadline; every bid hold released."""
    from custody.loans.services import loans_fail_expired as service

    return service()


@shared_task(name="custody.instalments_mark_overdue")
def instalments_mark_overdue() -> int:
    """Mark the instalments of disbursed loans past their due date ``overdue`` (daily)."""
    from custody.loans.services import instalments_mark_overdue as service

    return service()


@shared_task(name="custody.confirmations_expire")
def confirmations_expire() -> list[int]:
    """End every pending confirmation past its expiry (``confirmation.expired`` to the platform)."""
    from custody.loans.confirmations import confirmations_expire as service

    return service()
