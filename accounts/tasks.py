"""Celery tasks of the accounts app: thin, idempotent wrappers (ids in) around services."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

# -- the ledger -------------------------------------------------------------------------------


@shared_task(name="accounts.ledger_check")
def ledger_check() -> dict:
    """Recompute the ledger (as ``manage.py ledger_check`` does) and report every drift."""
    from accounts.ledger.checks import ledger_report

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

    from accounts.ledger import postings as ledger
    from accounts.ledger.models import Hold

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


# -- card binding and micro-deposit verification (accounts/cards/services.py) ---------------------------


@shared_task(name="accounts.micro_deposit_send", acks_late=True)
def micro_deposit_send(micro_deposit_id: int) -> str:
    """Send one micro-deposit (a no-op unless it is still ``init`` and its day has come)."""
    from accounts.cards import services as cards

    return cards.micro_deposit_send(micro_deposit_id=micro_deposit_id).state


@shared_task(name="accounts.micro_deposit_query", acks_late=True)
def micro_deposit_query(micro_deposit_id: int) -> str:
    """Ask the channel what became of a send whose outcome is unknown (never re-sends)."""
    from accounts.cards import services as cards

    return cards.micro_deposit_query(micro_deposit_id=micro_deposit_id).state


@shared_task(name="accounts.micro_deposit_expire", acks_late=True)
def micro_deposit_expire() -> int:
    """Beat: expire the micro-deposits past their working-day window."""
    from accounts.cards import services as cards

    return cards.micro_deposit_expire_due()


@shared_task(name="accounts.micro_deposit_sweep", acks_late=True)
def micro_deposit_sweep() -> dict:
    """Beat: send rate-limited deposits whose day has come; re-query stale unknown sends."""
    from accounts.cards import services as cards

    return cards.micro_deposit_sweep()


# -- tier limits (accounts.limits.services) -------------------------------------------------------


@shared_task(name="accounts.kyc_tasks_mark_overdue", acks_late=True)
def kyc_tasks_mark_overdue() -> int:
    """Beat (daily): flag overdue Class III KYC tasks and apply the configured action (R-ACC-14)."""
    from accounts.limits.services import kyc_tasks_mark_overdue as mark_overdue

    return mark_overdue()


# -- account states and judicial freezes (beat jobs) -------------------------------------


@shared_task(name="accounts.suspend_unused", acks_late=True)
def suspend_unused_task() -> list[int]:
    """R-ACC-16: suspend non-counter business of accounts unused since opening."""
    from accounts.states.dormancy import accounts_suspend_unused

    return accounts_suspend_unused()


@shared_task(name="accounts.apply_dormancy", acks_late=True)
def apply_dormancy_task() -> list[int]:
    """R-ACC-17: apply the active dormancy policies."""
    from accounts.states.dormancy import dormancy_apply

    return dormancy_apply()


@shared_task(name="accounts.entity_dormancy", acks_late=True)
def entity_dormancy_task() -> dict[str, list[int]]:
    """R-ACC-18: notify dormant entity accounts; deem closed those 30 days past their notice."""
    from accounts.states.dormancy import entity_dormancy_run

    return entity_dormancy_run()


@shared_task(name="accounts.release_expired_freezes", acks_late=True)
def release_expired_freezes_task() -> list[int]:
    """Expire judicial freezes past their expiry and let queued ones take effect."""
    from accounts.states.freezes import freezes_release_expired

    return freezes_release_expired()


# -- money in and out (accounts/payments/withdrawals.py, accounts/payments/recharges.py, accounts/payments.py) ------


def _unavailable():
    from accounts.payments.channels import ChannelUnavailableError

    return ChannelUnavailableError


@shared_task(name="accounts.withdrawal_submit", acks_late=True)
def withdrawal_submit(withdrawal_id: int) -> str | None:
    """Submit (or re-submit with the same request id) a withdrawal; a no-op once it has an answer."""
    from accounts.payments import withdrawals

    withdrawal = withdrawals.withdrawal_submit(withdrawal_id=withdrawal_id)
    return withdrawal.state if withdrawal else None


@shared_task(name="accounts.withdrawal_query_status", bind=True, acks_late=True, max_retries=8)
def withdrawal_query_status(self, withdrawal_id: int) -> str | None:
    """Ask the channel about an unknown withdrawal; retried with backoff while the channel errors."""
    from accounts import conf
    from accounts.payments import withdrawals

    try:
        withdrawal = withdrawals.withdrawal_query_status(withdrawal_id=withdrawal_id)
    except _unavailable() as exc:
        raise self.retry(exc=exc, countdown=conf.query_backoff(self.request.retries)) from exc
    return withdrawal.state if withdrawal else None


@shared_task(name="accounts.recharge_submit", acks_late=True)
def recharge_submit(recharge_id: int) -> str | None:
    from accounts.payments import recharges

    recharge = recharges.recharge_submit(recharge_id=recharge_id)
    return recharge.state if recharge else None


@shared_task(name="accounts.recharge_query_status", bind=True, acks_late=True, max_retries=8)
def recharge_query_status(self, recharge_id: int) -> str | None:
    from accounts import conf
    from accounts.payments import recharges

    try:
        recharge = recharges.recharge_query_status(recharge_id=recharge_id)
    except _unavailable() as exc:
        raise self.retry(exc=exc, countdown=conf.query_backoff(self.request.retries)) from exc
    return recharge.state if recharge else None


@shared_task(name="accounts.payments_sweep")
def payments_sweep() -> dict:
    """Re-drive every withdrawal and recharge in flight without recent activity; alert old ones."""
    from accounts.payments.sweep import payments_sweep as sweep

    return sweep()


@shared_task(name="accounts.end_of_day", acks_late=True)
def end_of_day() -> dict:
    """Beat (23:59 Asia/Shanghai, R-WD-07): ``ledger_check`` and every registered money invariant;
    a P1 alert on any drift."""
    from accounts.payments.end_of_day import end_of_day_run

    return end_of_day_run().as_dict()


# -- exports ----------------------------------------------------------------------------------


@shared_task(name="accounts.export_job_run", acks_late=True, time_limit=3600, soft_time_limit=3500)
def export_job_run(job_id: int) -> str:
    """Build an export job's file (``accounts.exports.services.export_job_run``); returns its state.
    Its own time limit (an hour), beyond CELERY_TASK_TIME_LIMIT: a million-row XLSX takes minutes."""
    from accounts.exports.services import export_job_run as run

    return run(job_id=job_id).state
