"""Merchant users: create one with their own TOTP second factor, and enrol a new device (a lost
phone). The provisioning URI (``otpauth://…``) holds the TOTP key: it is returned once, to be shown
once; the bank keeps only the device. Audited. (The same pattern as custody's platform users,
written here: merchants never imports custody.)

``merchant_user_verify_totp`` checks a fresh code for a money-moving step (a refund's
confirmation, a payout): the session's sign-in factor alone is not enough there."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.audit import audit_record
from backoffice.errors import FieldValidationError
from merchants.models import Merchant, MerchantUser

__all__ = ["merchant_user_create", "merchant_user_enrol_totp", "merchant_user_verify_totp"]


def merchant_user_create(
    *, merchant: Merchant, username: str, password: str, role: str, actor=None, actor_label: str = ""
) -> tuple[MerchantUser, str]:
    """Create the Django user ``username`` (not staff) as ``role`` of ``merchant`` with a confirmed
    TOTP device; returns the merchant user and the device's provisioning URI. Raises
    FieldValidationError (``username`` taken, unknown ``role``, password too short)."""
    username = (username or "").strip()
    errors: dict[str, list[str]] = {}
    if not username or get_user_model().objects.filter(username=username).exists():
        errors["username"] = [_("Choose a username that is not taken.")]
    if role not in MerchantUser.Role.values:
        errors["role"] = [_("One of: owner, finance, viewer.")]
    if len(password or "") < 12:
        errors["password"] = [_("At least 12 characters.")]
    if errors:
        raise FieldValidationError(errors)
    with transaction.atomic():
        user = get_user_model().objects.create_user(username=username, password=password)
        merchant_user = MerchantUser.objects.create(user=user, merchant=merchant, role=role)
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="merchant_user.create",
            target=merchant_user,
            data={"merchant": merchant.pk, "username": username, "role": role},
        )
        uri = _enrol(merchant_user, actor=actor, actor_label=actor_label)
    return merchant_user, uri


def merchant_user_enrol_totp(*, merchant_user_id: int, actor=None, actor_label: str = "") -> str:
    """Replace the merchant user's TOTP devices by a new confirmed one; returns its provisioning URI."""
    with transaction.atomic():
        merchant_user = MerchantUser.objects.select_for_update().select_related("user").get(pk=merchant_user_id)
        TOTPDevice.objects.filter(user=merchant_user.user).delete()
        return _enrol(merchant_user, actor=actor, actor_label=actor_label)


def _enrol(merchant_user: MerchantUser, *, actor, actor_label: str) -> str:
    device = TOTPDevice.objects.create(user=merchant_user.user, name="authenticator", confirmed=True)
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="otp.device_create",
        target=merchant_user,
        data={"device": device.persistent_id},
    )
    return device.config_url


def merchant_user_verify_totp(*, user, token: str) -> bool:
    """A fresh code of one of the user's confirmed devices (each code once: django-otp's TOTP keeps
    the last time step used, and its throttle applies)."""
    token = (token or "").strip()
    if not token:
        return False
    for device in devices_for_user(user, confirmed=True):
        allowed, _details = device.verify_is_allowed()
        if allowed and device.verify_token(token):
            return True
    return False
