"""Platform portal fixtures: the custody demo seeded through the real commands (platform DEMO with
its clients, loans and owner ``platform-demo``), more platform users, and signing in."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from custody.models import LendingPlatform, PlatformUser
from custody.platform_users.services import platform_user_create

PASSWORD = "platform-test-pass-2026"


@pytest.fixture
def seed(django_capture_on_commit_callbacks, settings):
    """``seed()``: run seed_demo then seed_custody_demo (their after-commit tasks run), return the output."""

    def run() -> str:
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("seed_demo", stdout=StringIO())
            call_command("seed_custody_demo", stdout=out)
        return out.getvalue()

    return run


@pytest.fixture
def demo(seed) -> LendingPlatform:
    seed()
    return LendingPlatform.objects.get(code="DEMO")


@pytest.fixture
def platform_user():
    """``platform_user(platform, "viewer")``: a new platform user of that role (password ``PASSWORD``)."""

    def make(platform, role: str, username: str | None = None) -> PlatformUser:
        created, _uri = platform_user_create(
            platform=platform, username=username or f"{platform.code.lower()}-{role}", password=PASSWORD, role=role
        )
        return created

    return make


def current_code(user) -> str:
    device = TOTPDevice.objects.get(user=user)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


@pytest.fixture
def signed_in(client):
    """``signed_in(platform_user)``: the test client, signed in and past the TOTP step (as after
    a sign-in at the platform login page)."""

    def sign_in(platform_user: PlatformUser):
        client.force_login(platform_user.user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=platform_user.user).persistent_id
        session.save()
        return client

    return sign_in
