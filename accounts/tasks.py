"""Celery tasks of the accounts app: thin wrappers that call the ledger and its selectors.

Names are explicit and stable (they are what the beat schedule and the workers agree on). Both
tasks are idempotent: a re-run finds nothing left to do, or reports the same state again.
"""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task


@shared_task(name="accounts.ledger_check")
def ledger_check() -> dict:
    """Recompute the ledger (as ``manage.py ledger_check`` does) and report every drift."""
    from accounts.selectors import ledger_report

    report = ledger_report()
    return {
        "drifts": [asdict(drift) for drift in report.drifts],
        "accounts": report.accounts_checked,
        "vouchers": report.transfers_checked,
    }


@shared_task(name="accounts.hold_expire_due")
def hold_expire_due() -> int:
    """Expire every active hold whose expiry has passed; returns how many were expired."""
    from django.utils import timezone

    from accounts import ledger
    from accounts.models import Hold

    now = timezone.now()
    due = Hold.objects.filter(state=Hold.State.ACTIVE, expires_at__lte=now).order_by("pk").values_list("pk", flat=True)
    expired = 0
    for hold_id in list(due):
        # hold_expire locks the hold and re-checks it: one released (or expired by another
        # worker) meanwhile is left alone and not counted.
        hold = ledger.hold_expire(hold_id=hold_id, now=now)
        if hold.state == Hold.State.EXPIRED and hold.ended_at == now:
            expired += 1
    return expired
