"""Console sign-in: password plus a TOTP code (django-otp), the enrolment command, the demo waiver."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.tests.admin_support import PASSWORD, device_of, make_staff, token_for

pytestmark = [
    pytest.mark.django_db,
    # whitenoise warns when STATIC_ROOT was never collected (tests run without collectstatic).
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

LOGIN = "/admin/login/?next=/admin/"


def _wrong(token: str) -> str:
    return f"{(int(token) + 1) % 10**6:06d}"


def test_admin_login_page_asks_for_the_one_time_code(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert b'name="otp_token"' in response.content


def test_admin_login_with_password_and_totp_token_opens_the_console(client):
    user = make_staff("ops1", "operator")
    device = device_of(user)
    response = client.post(
        LOGIN,
        {"username": "ops1", "password": PASSWORD, "otp_device": device.persistent_id, "otp_token": token_for(device)},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    index = client.get("/admin/")
    assert index.status_code == 200
    assert index.wsgi_request.user.is_verified()


def test_admin_login_with_one_device_takes_password_and_code_in_one_submit(client):
    user = make_staff("ops2", "operator")
    device = device_of(user)
    response = client.post(LOGIN, {"username": "ops2", "password": PASSWORD, "otp_token": token_for(device)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_login_with_a_wrong_token_is_refused(client):
    user = make_staff("ops3", "operator")
    device = device_of(user)
    response = client.post(
        LOGIN,
        {"username": "ops3", "password": PASSWORD, "otp_device": device.persistent_id, "otp_token": _wrong(token_for(device))},
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert client.get("/admin/").status_code == 302  # back to the login page


def test_admin_login_with_password_only_is_refused_when_otp_required(client):
    make_staff("ops4", "operator")
    response = client.post(LOGIN, {"username": "ops4", "password": PASSWORD})
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_admin_session_without_a_verified_device_is_not_let_in(client):
    user = make_staff("ops5", "operator")
    client.force_login(user)  # password-level session, no OTP verification
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_login_with_password_alone_works_when_otp_waived(client, settings):
    settings.ADMIN_OTP_REQUIRED = False
    make_staff("demo-ops", "operator")
    page = client.get(LOGIN)
    assert b'name="otp_token"' not in page.content
    response = client.post(LOGIN, {"username": "demo-ops", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_add_totp_device_creates_a_confirmed_device_and_prints_the_otpauth_url(capsys):
    user = make_staff("newop", "operator")
    TOTPDevice.objects.filter(user=user).delete()
    call_command("add_totp_device", "--username", "newop")
    out = capsys.readouterr().out
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed
    assert device.config_url in out
    assert "otpauth://totp/" in out and "secret=" in out


def test_add_totp_device_enrolled_code_signs_in(client, capsys):
    make_staff("enrol", "auditor")
    call_command("add_totp_device", "--username", "enrol", "--replace", "--name", "work phone")
    device = TOTPDevice.objects.get(user__username="enrol")
    assert device.name == "work phone"
    response = client.post(
        LOGIN,
        {"username": "enrol", "password": PASSWORD, "otp_device": device.persistent_id, "otp_token": token_for(device)},
    )
    assert response.status_code == 302


def test_add_totp_device_refuses_an_unknown_user():
    with pytest.raises(CommandError):
        call_command("add_totp_device", "--username", "nobody")
