"""Channel callbacks (``POST /api/v1/channels/{code}/callbacks/``): verified, stored once, applied once.

The adapter parses the channel's own format and verifies its signature with the channel's key.
A forged or unreadable callback is refused (401), moves nothing, and is recorded as a security
event (audit ``security.callback_rejected``) with a P1 alert. A good one is stored once per
(channel, channel transaction id, event) in the same transaction that applies it, under the
lock of its withdrawal or recharge: a duplicate (the same event again, from a retry or a
replay) is counted and answered 200 with no effect; a terminal state never regresses (a
contradiction raises a P1 alert and moves nothing); an amount that differs is not applied.
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.payments.channels import CallbackInvalidError, adapter_for
from accounts.payments.instructions import payment_alert
from accounts.payments.models import Channel, ChannelCallback, PaymentAlert, Recharge, Withdrawal
from accounts.payments.recharges import RECHARGES
from accounts.payments.withdrawals import WITHDRAWALS
from backoffice.audit import audit_record
from backoffice.errors import DomainError, NotFoundError

__all__ = ["CallbackSignatureError", "channel_callback_receive"]


class CallbackSignatureError(DomainError):
    code, http_status = "invalid_signature", 401
    message = _("The callback's signature does not verify; it was recorded and ignored.")


@transaction.atomic(durable=True)
def _record_rejected(*, channel: Channel, body: bytes, remote_addr: str, reason: str) -> None:
    data = {
        "channel": channel.code,
        "remote_addr": remote_addr,
        "reason": reason,
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    audit_record(actor_label=f"channel:{channel.code}", action="security.callback_rejected", target=channel, data=data)
    payment_alert(
        kind=PaymentAlert.Kind.FORGED_CALLBACK,
        severity=PaymentAlert.Severity.P1,
        message=f"A callback for channel {channel.code} from {remote_addr or 'an unknown address'} "
        f"failed verification ({reason}).",
        channel=channel,
        remote_addr=remote_addr,
    )


def channel_callback_receive(
    *, channel_code: str, body: bytes, headers: dict, remote_addr: str = ""
) -> tuple[ChannelCallback, bool]:
    """Verify, store and apply one callback. Returns (callback, duplicate). Raises NotFoundError
    (no such channel), CallbackSignatureError."""
    channel = Channel.objects.filter(code=channel_code).first()
    if channel is None:
        raise NotFoundError(_("No channel {code}."), code=channel_code)
    try:
        event = adapter_for(channel).parse_callback(body=body, headers=headers)
    except CallbackInvalidError as exc:
        _record_rejected(channel=channel, body=body, remote_addr=remote_addr, reason=str(exc))
        raise CallbackSignatureError() from exc
    return _store_and_apply(channel=channel, event=event)


@transaction.atomic(durable=True)
def _store_and_apply(*, channel: Channel, event) -> tuple[ChannelCallback, bool]:
    now = timezone.now()
    withdrawal = (
        Withdrawal.objects.select_for_update(of=("self",))
        .select_related("channel")
        .filter(channel=channel, request_id=event.request_id)
        .first()
    )
    recharge = None
    if withdrawal is None:
        recharge = (
            Recharge.objects.select_for_update(of=("self",))
            .select_related("channel")
            .filter(channel=channel, request_id=event.request_id)
            .first()
        )
    try:
        with transaction.atomic():
            callback = ChannelCallback.objects.create(
                channel=channel,
                channel_txn_id=event.channel_txn_id,
                event=event.status.value,
                request_id=event.request_id,
                amount=event.amount,
                payload=event.payload,
                withdrawal=withdrawal,
                recharge=recharge,
            )
    except IntegrityError:
        callback = ChannelCallback.objects.select_for_update().get(
            channel=channel, channel_txn_id=event.channel_txn_id, event=event.status.value
        )
        callback.duplicates += 1
        callback.save(update_fields=["duplicates", "updated_at"])
        return callback, True
    if withdrawal is not None:
        outcome = WITHDRAWALS.callback_apply(withdrawal, callback=callback, event=event, now=now)
    elif recharge is not None:
        outcome = RECHARGES.callback_apply(recharge, callback=callback, event=event, now=now)
    else:
        outcome = ChannelCallback.Outcome.UNKNOWN_REQUEST
        payment_alert(
            kind=PaymentAlert.Kind.CONTRADICTION,
            severity=PaymentAlert.Severity.P1,
            message=f"Channel {channel.code} sent a verified callback for {event.request_id}, which is not ours.",
            channel=channel,
            request_id=event.request_id,
        )
    callback.outcome = outcome
    callback.save(update_fields=["outcome", "updated_at"])
    audit_record(
        actor_label=f"channel:{channel.code}",
        action="channel_callback.receive",
        target=callback,
        data={"request_id": event.request_id, "event": event.status.value, "outcome": outcome},
    )
    return callback, False
