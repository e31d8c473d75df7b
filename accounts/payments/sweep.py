"""The sweeper (beat, every minute): re-drives every withdrawal and recharge in flight that has had
no activity for ACCOUNTS_PAYMENT_STUCK_SECONDS: funds held or submitted → submit again (same
request id: the channel answers the first submission, it never pays twice); unknown → query. One
older than ACCOUNTS_PAYMENT_ALERT_SECONDS raises a "stuck" alert. The state row is the outbox: a
lost task or a broker outage strands nothing."""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import conf
from accounts.payments.channels import ChannelUnavailableError
from accounts.payments.models import PaymentAlert, Recharge, Withdrawal
from backoffice.tasks import enqueue_now, tasks_run_eagerly

log = logging.getLogger(__name__)


def _drive(task_name: str, service, pk: int) -> None:
    """Enqueue the task ``task_name`` with a broker; eagerly, call the service and keep going if
    the channel is down."""
    if not tasks_run_eagerly():
        enqueue_now(task_name, pk)
        return
    try:
        service(pk)
    except ChannelUnavailableError as exc:
        log.info("sweep: channel unavailable for %s: %s", pk, exc)


def payments_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    from accounts.payments import recharges, withdrawals

    now = now or timezone.now()
    cutoff = now - conf.stuck_after()
    counts = {"submitted": 0, "queried": 0, "alerts": 0}
    quiet = Q(last_activity_at__lt=cutoff) | Q(last_activity_at__isnull=True)
    # (rows to re-drive, the task that does it, the service it calls, what it counts as)
    drives = (
        (
            Withdrawal.objects.filter(quiet, state__in=[Withdrawal.State.FUNDS_HELD, Withdrawal.State.SUBMITTED]),
            "accounts.withdrawal_submit",
            lambda i: withdrawals.withdrawal_submit(withdrawal_id=i),
            "submitted",
        ),
        (
            Withdrawal.objects.filter(quiet, state=Withdrawal.State.UNKNOWN),
            "accounts.withdrawal_query_status",
            lambda i: withdrawals.withdrawal_query_status(withdrawal_id=i),
            "queried",
        ),
        (
            Recharge.objects.filter(quiet, state__in=[Recharge.State.CREATED, Recharge.State.SUBMITTED]),
            "accounts.recharge_submit",
            lambda i: recharges.recharge_submit(recharge_id=i),
            "submitted",
        ),
        (
            Recharge.objects.filter(quiet, state=Recharge.State.UNKNOWN),
            "accounts.recharge_query_status",
            lambda i: recharges.recharge_query_status(recharge_id=i),
            "queried",
        ),
    )
    for rows, task_name, service, counted in drives:
        for pk in rows.values_list("pk", flat=True):
            _drive(task_name, service, pk)
            counts[counted] += 1
    old = now - conf.alert_after()
    for withdrawal in Withdrawal.objects.filter(state__in=Withdrawal.IN_FLIGHT, created_at__lt=old).select_related("channel"):
        if not PaymentAlert.objects.filter(
            kind=PaymentAlert.Kind.STUCK, withdrawal=withdrawal, acknowledged_at__isnull=True
        ).exists():
            _stuck_alert(withdrawal, now)
            counts["alerts"] += 1
    return counts


def _stuck_alert(withdrawal: Withdrawal, now: dt.datetime) -> None:
    from django.db import transaction

    from accounts.payments.instructions import payment_alert
    from backoffice.texts import text_spec

    minutes = int((now - withdrawal.created_at).total_seconds() // 60)
    with transaction.atomic(durable=True):
        payment_alert(
            kind=PaymentAlert.Kind.STUCK,
            message=text_spec(
                _("{reference} has been {state} for {minutes} minutes. / {reference} 已处于「{state}」{minutes} 分钟。"),
                reference=withdrawal.request_id,
                state=Withdrawal.State(withdrawal.state).label,
                minutes=minutes,
            ),
            withdrawal=withdrawal,
            minutes=minutes,
        )
