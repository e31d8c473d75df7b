"""Money in and out, read side and upkeep: the sweeper, the invariants, and list selectors.

``payments_sweep`` (beat, every minute) re-drives every withdrawal and recharge in flight that
has had no activity for ACCOUNTS_PAYMENT_STUCK_SECONDS: funds held or submitted → submit again
(same request id: the channel answers the first submission, it never pays twice); unknown →
query. One older than ACCOUNTS_PAYMENT_ALERT_SECONDS raises a "stuck" alert. The state row is
the outbox: a lost task or a broker outage strands nothing.

``payment_invariants`` (ledger_check, the console dashboard): the transit account's balance
equals the amount + fee of the transit-mode withdrawals in flight, and the active holds the
withdrawal service placed equal those of the freeze-mode withdrawals in flight.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from accounts import payments_conf
from accounts.channels import ChannelUnavailableError
from accounts.chart import Role
from accounts.models import Account, Channel, Hold, PaymentAlert, Recharge, Withdrawal
from accounts.selectors import _dec as money_sum

__all__ = ["Invariant", "channel_register", "payment_invariants", "payments_sweep", "recharge_list", "withdrawal_list"]

log = logging.getLogger(__name__)
ZERO = Decimal("0.00")


def _fen_sum(queryset, field_name: str) -> Decimal:
    """An exact sum of a money column (integer fen), as the ledger check sums it."""
    return money_sum(queryset.aggregate(total=Sum(field_name))["total"])


@dataclass(frozen=True)
class Invariant:
    code: str  # stable: "transit", "holds"
    name: str
    expected: Decimal
    actual: Decimal
    in_flight: int

    @property
    def holds(self) -> bool:
        return self.expected == self.actual


def payment_invariants() -> list[Invariant]:
    in_flight = Withdrawal.objects.filter(state__in=Withdrawal.IN_FLIGHT)
    transit_rows = in_flight.filter(strategy=Channel.Strategy.TRANSIT).exclude(state=Withdrawal.State.CREATED)
    freeze_rows = in_flight.filter(strategy=Channel.Strategy.FREEZE).exclude(state=Withdrawal.State.CREATED)
    transit = Account.objects.filter(kind=Account.Kind.INTERNAL, role=Role.TRANSIT_WITHDRAWAL).first()
    transit_expected = _fen_sum(transit_rows, "amount") + _fen_sum(transit_rows, "fee")
    freeze_expected = _fen_sum(freeze_rows, "amount") + _fen_sum(freeze_rows, "fee")
    # The holds the withdrawal service placed (ledger client "withdrawals"); a partner's own hold
    # with the reason "withdrawal" (POST /api/v1/holds/) is not one of them.
    holds = Hold.objects.filter(state=Hold.State.ACTIVE, reason=Hold.Reason.WITHDRAWAL, client="withdrawals")
    return [
        Invariant(
            "transit",
            "transit account = transit withdrawals in flight",
            transit_expected,
            transit.balance if transit else ZERO,
            transit_rows.count(),
        ),
        Invariant(
            "holds",
            "withdrawal holds = freeze withdrawals in flight",
            freeze_expected,
            _fen_sum(holds, "amount"),
            freeze_rows.count(),
        ),
    ]


def _eager() -> bool:
    """Do tasks run inline (no broker: the embedded mode, and the unit tests)? Asked of the Celery
    app, not the settings: the tests switch the app to eager while a broker is configured."""
    from backoffice.celery_app import app

    return bool(app.conf.task_always_eager)


def _drive(task, service, pk: int) -> None:
    """Enqueue with a broker; eagerly, call the service and keep going if the channel is down."""
    if not _eager():
        task.delay(pk)
        return
    try:
        service(pk)
    except ChannelUnavailableError as exc:
        log.info("sweep: channel unavailable for %s: %s", pk, exc)


def payments_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    from accounts import recharges, tasks, withdrawals

    now = now or timezone.now()
    cutoff = now - payments_conf.stuck_after()
    counts = {"submitted": 0, "queried": 0, "alerts": 0}
    quiet = Q(last_activity_at__lt=cutoff) | Q(last_activity_at__isnull=True)
    for pk in Withdrawal.objects.filter(quiet, state__in=[Withdrawal.State.FUNDS_HELD, Withdrawal.State.SUBMITTED]).values_list(
        "pk", flat=True
    ):
        _drive(tasks.withdrawal_submit, lambda i: withdrawals.withdrawal_submit(withdrawal_id=i), pk)
        counts["submitted"] += 1
    for pk in Withdrawal.objects.filter(quiet, state=Withdrawal.State.UNKNOWN).values_list("pk", flat=True):
        _drive(tasks.withdrawal_query_status, lambda i: withdrawals.withdrawal_query_status(withdrawal_id=i), pk)
        counts["queried"] += 1
    for pk in Recharge.objects.filter(quiet, state__in=[Recharge.State.CREATED, Recharge.State.SUBMITTED]).values_list(
        "pk", flat=True
    ):
        _drive(tasks.recharge_submit, lambda i: recharges.recharge_submit(recharge_id=i), pk)
        counts["submitted"] += 1
    for pk in Recharge.objects.filter(quiet, state=Recharge.State.UNKNOWN).values_list("pk", flat=True):
        _drive(tasks.recharge_query_status, lambda i: recharges.recharge_query_status(recharge_id=i), pk)
        counts["queried"] += 1
    old = now - payments_conf.alert_after()
    for withdrawal in Withdrawal.objects.filter(state__in=Withdrawal.IN_FLIGHT, created_at__lt=old).select_related("channel"):
        if not PaymentAlert.objects.filter(
            kind=PaymentAlert.Kind.STUCK, withdrawal=withdrawal, acknowledged_at__isnull=True
        ).exists():
            _stuck_alert(withdrawal, now)
            counts["alerts"] += 1
    return counts


def _stuck_alert(withdrawal: Withdrawal, now: dt.datetime) -> None:
    from django.db import transaction

    from accounts.withdrawals import payment_alert

    minutes = int((now - withdrawal.created_at).total_seconds() // 60)
    with transaction.atomic(durable=True):
        payment_alert(
            kind=PaymentAlert.Kind.STUCK,
            message=f"{withdrawal.request_id} has been {withdrawal.state} for {minutes} minutes.",
            withdrawal=withdrawal,
            minutes=minutes,
        )


def withdrawal_list(
    *,
    clients: list[str] | None = None,
    accounts: QuerySet | None = None,
    state: str | None = None,
    account_number: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[Withdrawal]:
    from accounts import cards_conf

    rows = Withdrawal.objects.select_related("account", "channel", "card")
    if clients is not None:
        rows = rows.filter(client__in=clients)
    if accounts is not None:
        rows = rows.filter(account__in=accounts)
    if state:
        rows = rows.filter(state=state)
    if account_number:
        rows = rows.filter(account__number=account_number)
    if date_from:
        rows = rows.filter(created_at__gte=cards_conf.start_of_day(date_from))
    if date_to:
        rows = rows.filter(created_at__lt=cards_conf.start_of_day(date_to + dt.timedelta(days=1)))
    return rows.order_by("-created_at", "-pk")


def recharge_list(
    *,
    accounts: QuerySet | None = None,
    clients: list[str] | None = None,
    state: str | None = None,
    account_number: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[Recharge]:
    from accounts import cards_conf

    rows = Recharge.objects.select_related("account", "channel")
    if clients is not None:
        rows = rows.filter(client__in=clients)
    if accounts is not None:
        rows = rows.filter(account__in=accounts)
    if state:
        rows = rows.filter(state=state)
    if account_number:
        rows = rows.filter(account__number=account_number)
    if date_from:
        rows = rows.filter(created_at__gte=cards_conf.start_of_day(date_from))
    if date_to:
        rows = rows.filter(created_at__lt=cards_conf.start_of_day(date_to + dt.timedelta(days=1)))
    return rows.order_by("-created_at", "-pk")


_CHANNEL_FIELDS = {f.name for f in Channel._meta.get_fields() if getattr(f, "concrete", False)} - {
    "id",
    "created_at",
    "updated_at",
}


def channel_register(*, code: str, actor=None, callback_secret: str = "", **fields) -> Channel:
    """Register (or update) a channel in the registry, audited. Raises FieldValidationError."""
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from backoffice.audit import audit_record
    from backoffice.errors import FieldValidationError

    unknown = set(fields) - _CHANNEL_FIELDS
    if unknown:
        raise TypeError(f"unknown channel fields {sorted(unknown)}")
    # Durable when called on its own; composable inside the console's form-save transaction.
    with transaction.atomic(durable=not transaction.get_connection().in_atomic_block):
        channel = Channel.objects.select_for_update().filter(code=code).first() or Channel(code=code)
        for name, value in fields.items():
            setattr(channel, name, value)
        if callback_secret:
            channel.callback_secret = callback_secret
        try:
            channel.full_clean()
        except ValidationError as exc:
            raise FieldValidationError(exc.message_dict) from exc
        created = channel.pk is None
        channel.save()
        audit_record(
            actor=actor,
            action="channel.register" if created else "channel.update",
            target=channel,
            data={"fields": sorted(fields)},
        )
    return channel
