"""Channel callbacks (``POST /api/v1/channels/{code}/callbacks/``): verified, stored once, applied once.

The adapter parses the channel's own format and verifies its signature with the channel's key.
A forged or unreadable callback is refused (401), moves nothing, and is recorded as a security
event (audit ``security.callback_rejected``) with a P1 alert. A good one is stored once per
(channel, channel transaction id, event) in the same transaction that applies it, under the
lock of its withdrawal or recharge: a duplicate (the same event again, from a retry or a
replay) is counted and answered 200 with no effect; a terminal state never regresses (a
contradiction raises a P1 alert and moves nothing); an amount that differs is not applied.

The instruction a callback is about is found by its request id's prefix (``WD…`` withdrawals,
``RC…`` recharges): each kind registers a handler for its prefix when the app is ready
(``callback_handler_register``), so this module imports none of them and merchants can add theirs.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.payments.channels import CallbackInvalidError, adapter_for
from accounts.payments.instructions import payment_alert
from accounts.payments.models import Channel, ChannelCallback, PaymentAlert
from backoffice.audit import audit_record
from backoffice.errors import DomainError, NotFoundError
from backoffice.texts import text_spec

__all__ = ["CallbackHandler", "CallbackSignatureError", "callback_handler_register", "channel_callback_receive"]


class CallbackHandler(Protocol):
    """What a kind of instruction offers callbacks (accounts.payments.instructions.Instruction does)."""

    def callback_locate(self, *, channel: Channel, request_id: str):
        """The row ``request_id`` names on ``channel``, locked, or None."""

    def callback_link(self, row) -> dict:
        """The ChannelCallback fields that point at ``row``."""

    def callback_apply(self, row, *, callback: ChannelCallback, event, now) -> str:
        """Apply the verified callback to the locked row; the ChannelCallback outcome."""


_HANDLERS: dict[str, CallbackHandler] = {}


def callback_handler_register(prefix: str, handler: CallbackHandler) -> None:
    """Route callbacks whose request id starts with ``prefix`` to ``handler`` (from an app's
    ``ready()``). Registering the same handler again is a no-op; another one for a taken prefix
    is an error."""
    existing = _HANDLERS.get(prefix)
    if existing is not None and existing is not handler:
        raise ValueError(f"callback prefix {prefix!r} is already handled by {existing!r}")
    _HANDLERS[prefix] = handler


def _handler_for(request_id: str) -> CallbackHandler | None:
    matches = [prefix for prefix in _HANDLERS if request_id.startswith(prefix)]
    return _HANDLERS[max(matches, key=len)] if matches else None


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
        message=text_spec(
            _(
                "A callback for channel {channel} from {address} failed verification ({reason}). "
                "/ 通道 {channel} 来自 {address} 的回调未通过验签（{reason}）。"
            ),
            channel=channel.code,
            address=remote_addr or _("an unknown address / 未知地址"),
            reason=reason,
        ),
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
    handler = _handler_for(event.request_id)
    row = handler.callback_locate(channel=channel, request_id=event.request_id) if handler is not None else None
    try:
        with transaction.atomic():
            callback = ChannelCallback.objects.create(
                channel=channel,
                channel_txn_id=event.channel_txn_id,
                event=event.status.value,
                request_id=event.request_id,
                amount=event.amount,
                payload=event.payload,
                **(handler.callback_link(row) if row is not None else {}),
            )
    except IntegrityError:
        callback = ChannelCallback.objects.select_for_update().get(
            channel=channel, channel_txn_id=event.channel_txn_id, event=event.status.value
        )
        callback.duplicates += 1
        callback.save(update_fields=["duplicates", "updated_at"])
        return callback, True
    if row is not None:
        outcome = handler.callback_apply(row, callback=callback, event=event, now=now)
    else:
        outcome = ChannelCallback.Outcome.UNKNOWN_REQUEST
        payment_alert(
            kind=PaymentAlert.Kind.CONTRADICTION,
            severity=PaymentAlert.Severity.P1,
            message=text_spec(
                _(
                    "Channel {channel} sent a verified callback for {reference}, which is not ours. "
                    "/ 通道 {channel} 发来已验签的回调，但 {reference} 不是本行的业务。"
                ),
                channel=channel.code,
                reference=event.request_id,
            ),
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
