"""The channel registry: registering and editing a channel, validated and audited."""

from __future__ import annotations

from accounts.payments.models import Channel

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
