"""Merchant portal fixtures: merchant users with their own TOTP devices, signing in."""

from __future__ import annotations

import pytest
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from merchants.models import MerchantUser
from merchants.tests.settlement.conftest import settled_merchant  # noqa: F401
from merchants.users import merchant_user_create

PASSWORD = "merchant-test-pass-2026"


@pytest.fixture
def merchant_user():
    """``merchant_user(merchant, "viewer")``: a new merchant user of that role (password ``PASSWORD``)."""

    def make(merchant, role: str, username: str | None = None) -> MerchantUser:
        created, _uri = merchant_user_create(
            merchant=merchant, username=username or f"m{merchant.pk}-{role}", password=PASSWORD, role=role
        )
        return created

    return make


def current_code(user) -> str:
    device = TOTPDevice.objects.get(user=user)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def fresh_code(user) -> str:
    """The current code, with the device's last-used step and its failure throttle forgotten (a code
    is accepted once; after a wrong one the device waits before it checks another)."""
    TOTPDevice.objects.filter(user=user).update(last_t=-1, throttling_failure_count=0, throttling_failure_timestamp=None)
    return current_code(user)


@pytest.fixture
def signed_in(client):
    def sign_in(merchant_user: MerchantUser):
        client.force_login(merchant_user.user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=merchant_user.user).persistent_id
        session.save()
        return client

    return sign_in
