"""Platform users: create one with their TOTP second factor, and enrol a new device (a lost phone).

The provisioning URI (``otpauth://…``) holds the TOTP key: it is returned once, to be shown once;
the bank keeps only the device. Both use cases are audited.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.audit import audit_record
from backoffice.errors import FieldValidationError
from custody.models import LendingPlatform
from custody.platform_users.models import PlatformUser


def platform_user_create(
    *, platform: LendingPlatform, username: str, password: str, role: str, actor=None, actor_label: str = ""
) -> tuple[PlatformUser, str]:
    """Create the Django user ``username`` (not staff) as ``role`` of ``platform`` with a confirmed
    TOTP device; returns the platform user and the device's provisioning URI. Raises
    FieldValidationError (``username`` taken, unknown ``role``, password too short)."""
    username = (username or "").strip()
    errors: dict[str, list[str]] = {}
    if not username or get_user_model().objects.filter(username=username).exists():
        errors["username"] = [_("Choose a username that is not taken.")]
    if role not in PlatformUser.Role.values:
        errors["role"] = [_("One of: owner, finance, viewer.")]
    if len(password or "") < 12:
        errors["password"] = [_("At least 12 characters.")]
    if errors:
        raise FieldValidationError(errors)
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=username, password=password)
        platform_user = PlatformUser.objects.create(user=user, platform=platform, role=role)
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="platform_user.create",
            target=platform_user,
            data={"platform": platform.code, "username": username, "role": role},
        )
        uri = _enrol(platform_user, actor=actor, actor_label=actor_label)
    return platform_user, uri


def platform_user_enrol_totp(*, platform_user_id: int, actor=None, actor_label: str = "") -> str:
    """Replace the platform user's TOTP devices by a new confirmed one; returns its provisioning URI."""
    with transaction.atomic():
        platform_user = PlatformUser.objects.select_for_update().select_related("user").get(pk=platform_user_id)
        TOTPDevice.objects.filter(user=platform_user.user).delete()
        return _enrol(platform_user, actor=actor, actor_label=actor_label)


def _enrol(platform_user: PlatformUser, *, actor, actor_label: str) -> str:
    device = TOTPDevice.objects.create(user=platform_user.user, name="authenticator", confirmed=True)
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="otp.device_create",
        target=platform_user,
        data={"device": device.persistent_id},
    )
    return device.config_url
