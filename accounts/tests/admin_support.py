"""Helpers for the console tests: staff users in the operator groups, signed in with a verified TOTP device."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

PASSWORD = "console-test-pass-2026"


def make_staff(username: str, group: str | None = None, *, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, is_staff=True, is_superuser=superuser)
    if group:
        user.groups.add(Group.objects.get(name=group))
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def device_of(user: User) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user)


def token_for(device: TOTPDevice) -> str:
    """The device's current code, as the operator's authenticator app shows it."""
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
    return f"{code:0{device.digits}d}"


def sign_in_verified(client, user: User):
    """A session as after a full password + TOTP sign-in (the login form itself is tested apart)."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device_of(user).persistent_id
    session.save()
    return client


@pytest.fixture(name="console")
def console_fixture(db, client):
    """``console("auditor")`` returns a test client signed in as a verified staff user of that group."""

    def make(group: str | None = None, *, superuser: bool = False, username: str | None = None):
        user = make_staff(username or f"{group or 'root'}-user", group, superuser=superuser)
        return sign_in_verified(client, user)

    return make
