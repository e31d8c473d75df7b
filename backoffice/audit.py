"""The audit trail: one append-only row per state change or sensitive view."""

from __future__ import annotations

from backoffice.models import AuditLog


def audit_record(*, actor=None, actor_label: str = "", action: str, target=None, data: dict | None = None) -> AuditLog:
    """Write an audit row inside the caller's transaction, so it commits or rolls back with the change."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    label = actor_label or (actor.get_username() if actor is not None else "system")
    return AuditLog.objects.create(
        actor=actor,
        actor_label=label[:100],
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
    )
