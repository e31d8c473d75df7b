"""The sign-in steps the browser tests share: the login form's username, password and, where the
area asks for one, the authenticator code, then the submit and the page it lands on."""

from __future__ import annotations

from accounts.tests.admin_support import PASSWORD, device_of, token_for

CONSOLE_SUBMIT = "input[type=submit]"
PORTAL_SUBMIT = "main button[type=submit]"


def sign_in(page, url, username, password, *, otp=None, submit=PORTAL_SUBMIT, lands_on=None):
    """Sign in through the login form at ``url`` and return the page.

    ``otp``: the one-time code for ``#id_otp_token``, when the area asks for one.
    ``submit``: the selector of the form's button (the portals' by default).
    ``lands_on``: when given, wait for that URL (a glob string or a compiled regex, as
    ``page.wait_for_url`` takes it); otherwise the caller waits for what it needs.
    """
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    if otp is not None:
        page.fill("#id_otp_token", otp)
    page.click(submit)
    if lands_on is not None:
        page.wait_for_url(lands_on)
    return page


def console_sign_in(page, live_server, user, next_url="/admin/"):
    """Sign a staff user (made by ``make_staff``) into the console with password and the current
    code of their device, in one submit, and wait to land on ``next_url``. Returns the page."""
    return sign_in(
        page,
        f"{live_server.url}/admin/login/?next={next_url}",
        user.username,
        PASSWORD,
        otp=token_for(device_of(user)),
        submit=CONSOLE_SUBMIT,
        lands_on=f"**{next_url}",
    )


PLATFORM_DEMO_PASSWORD = "platform-demo-pass-2026"  # seed_custody_demo's platform user


def platform_demo_sign_in(page, live_server):
    """Sign the demo platform's user (``seed_custody_demo``) into the platform portal with password and the
    current code of its authenticator, and wait for the platform's dashboard. Returns the page."""
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user__username="platform-demo")
    return sign_in(
        page,
        f"{live_server.url}/portal/custody/platform/login/",
        "platform-demo",
        PLATFORM_DEMO_PASSWORD,
        otp=f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}",
        lands_on=f"{live_server.url}/portal/custody/platform/DEMO/",
    )
