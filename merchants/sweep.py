"""The merchants' sweeper (beat ``merchants.sweep``, every minute): re-drives every payment and
refund (and payout) in flight with no activity for ACCOUNTS_PAYMENT_STUCK_SECONDS: created or submitted →
submit again (same request id: the channel answers the first submission, never collects or
refunds twice); unknown → query (R-REF-03: a refund ends only by a query, a callback or
reconciliation). The state row is the outbox: a lost task or a broker outage strands nothing."""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Q
from django.utils import timezone

from accounts import conf
from accounts.payments.channels import ChannelUnavailableError
from backoffice.tasks import enqueue_now, tasks_run_eagerly
from merchants import payments, payouts, refunds
from merchants.models import MerchantPayout, Payment, Refund

__all__ = ["merchants_sweep"]

log = logging.getLogger(__name__)


def _drive(task_name: str, service, pk: int) -> None:
    if not tasks_run_eagerly():
        enqueue_now(task_name, pk)
        return
    try:
        service(pk)
    except ChannelUnavailableError as exc:
        log.info("merchants sweep: channel unavailable for %s: %s", pk, exc)


def merchants_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    quiet = Q(last_activity_at__lt=now - conf.stuck_after()) | Q(last_activity_at__isnull=True)
    counts = {"submitted": 0, "queried": 0}
    drives = (
        (
            Payment.objects.filter(quiet, state__in=[Payment.State.CREATED, Payment.State.SUBMITTED]),
            "merchants.payment_submit",
            lambda i: payments.payment_submit(payment_id=i),
            "submitted",
        ),
        (
            Payment.objects.filter(quiet, state=Payment.State.UNKNOWN),
            "merchants.payment_query_status",
            lambda i: payments.payment_query_status(payment_id=i),
            "queried",
        ),
        (
            Refund.objects.filter(quiet, state__in=[Refund.State.CREATED, Refund.State.SUBMITTED]),
            "merchants.refund_submit",
            lambda i: refunds.refund_submit(refund_id=i),
            "submitted",
        ),
        (
            Refund.objects.filter(quiet, state=Refund.State.UNKNOWN),
            "merchants.refund_query_status",
            lambda i: refunds.refund_query_status(refund_id=i),
            "queried",
        ),
        (
            MerchantPayout.objects.filter(quiet, state__in=[MerchantPayout.State.CREATED, MerchantPayout.State.SUBMITTED]),
            "merchants.payout_submit",
            lambda i: payouts.payout_submit(payout_id=i),
            "submitted",
        ),
        (
            MerchantPayout.objects.filter(quiet, state=MerchantPayout.State.UNKNOWN),
            "merchants.payout_query_status",
            lambda i: payouts.payout_query_status(payout_id=i),
            "queried",
        ),
    )
    payouts.payouts_release_due(now=now)
    for rows, task_name, service, counted in drives:
        for pk in rows.values_list("pk", flat=True):
            _drive(task_name, service, pk)
            counts[counted] += 1
    return counts
