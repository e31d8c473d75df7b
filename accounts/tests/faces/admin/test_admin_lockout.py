"""django-axes on the console sign-in: five wrong passwords lock the username out."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.tests.admin_support import PASSWORD, device_of, make_staff, token_for

pytestmark = [
    pytest.mark.django_db,
    # whitenoise warns when STATIC_ROOT was never collected (tests run without collectstatic).
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

LOGIN = "/admin/login/?next=/admin/"


def _post(client, user, password, ip="10.0.0.1"):
    device = device_of(user)
    return client.post(
        LOGIN,
        {"username": user.username, "password": password, "otp_device": device.persistent_id, "otp_token": token_for(device)},
        REMOTE_ADDR=ip,
    )


def test_admin_lockout_after_five_failures_refuses_even_the_right_password(client):
    user = make_staff("target", "supervisor")
    assert settings.AXES_FAILURE_LIMIT == 5
    for _attempt in range(5):
        response = _post(client, user, "wrong-password-123")
        assert response.status_code in (200, 429)
    response = _post(client, user, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_admin_lockout_is_per_username(client):
    victim = make_staff("victim", "operator")
    other = make_staff("colleague", "operator")
    for _attempt in range(5):
        _post(client, victim, "wrong-password-123", ip="10.0.0.1")
    assert _post(client, victim, PASSWORD, ip="10.0.0.9").status_code == 429  # locked whatever the address
    # A colleague at another workstation still signs in. (AXES_LOCKOUT_PARAMETERS also locks the
    # failing address itself, so the colleague is not on 10.0.0.1.)
    response = _post(client, other, PASSWORD, ip="10.0.0.2")
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_failures_below_the_limit_do_not_lock(client):
    user = make_staff("careless", "auditor")
    for _attempt in range(4):
        _post(client, user, "wrong-password-123")
    assert _post(client, user, PASSWORD).status_code == 302
