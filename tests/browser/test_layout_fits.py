"""Issue #13: the console's lists fit a 1366 px screen and the portals' tables a 390 px phone,
in both languages, without sideways scrolling (neither the page nor a table's scroll box)."""

from __future__ import annotations

from io import StringIO

import pytest

from tests.browser.signin import sign_in

CONSOLE_LISTS = (
    "accounts_account",
    "accounts_party",
    "accounts_recharge",
    "accounts_withdrawal",
    "accounts_paymentalert",
    "merchants_payment",
    "merchants_merchant",
    "merchants_settlementbatch",
    "custody_loan",
    "custody_lendingplatform",
    "custody_reconciliationday",
    "custody_feeschedule",
    "custody_feeinvoice",
)
# The widest scrolling box of the page: [scrollWidth, clientWidth, what].
WIDEST = """() => {
  const d = document.documentElement;
  let r = [d.scrollWidth, d.clientWidth, 'page'];
  for (const e of document.querySelectorAll('body *')) {
    const o = getComputedStyle(e).overflowX;
    if ((o === 'auto' || o === 'scroll') && e.scrollWidth - e.clientWidth > r[0] - r[1]) {
      r = [e.scrollWidth, e.clientWidth, e.id || e.className || e.tagName];
    }
  }
  return r;
}"""
LANGUAGES = (("zh-hans", "zh-CN"), ("en", "en-US"))


def _seed():
    from django.core.management import call_command

    for command in ("seed_demo", "seed_custody_demo", "seed_merchants_demo"):
        call_command(command, stdout=StringIO())


def _overflows(page, url):
    page.goto(url)
    if "/login/" in page.url:
        return f"{url}: sent to the sign-in page"
    scroll, client, what = page.evaluate(WIDEST)
    return None if scroll <= client else f"{url}: {what} {scroll} > {client}"


def _totp(username):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user__username=username, confirmed=True).order_by("pk").first()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_console_lists_and_portal_tables_fit_without_sideways_scroll(live_server, browser, settings):
    from django.urls import reverse

    from accounts.ledger.models import Account
    from custody.models import LendingPlatform
    from merchants.models import Merchant

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ADMIN_OTP_REQUIRED = False
    _seed()
    platform = LendingPlatform.objects.get(code="DEMO")
    merchant = Merchant.objects.order_by("pk").first()
    own = Account.objects.filter(party__portal_users__username="zhangsan").order_by("pk").first()
    base = live_server.url
    areas = (
        (
            "supervisor",
            "supervisor-demo-pass-2026",
            reverse("admin:login"),
            1366,
            False,
            [reverse(f"admin:{name}_changelist") for name in CONSOLE_LISTS],
        ),
        (
            "zhangsan",
            "portal-demo-pass-2026",
            reverse("portal:login"),
            390,
            False,
            [reverse("portal:dashboard"), reverse("portal:statement", args=[own.number])],
        ),
        (
            "platform-demo",
            "platform-demo-pass-2026",
            reverse("custody_portal:platform:login"),
            390,
            True,
            [
                reverse(f"custody_portal:platform:{name}", args=[platform.code])
                for name in ("dashboard", "sub_accounts", "fees", "loans", "reconciliation")
            ],
        ),
        (
            "shop-owner",
            "shop-owner-pass-2026",
            reverse("merchants_portal:login"),
            390,
            True,
            [reverse(f"merchants_portal:{name}", args=[merchant.pk]) for name in ("payments", "settlements", "payouts")],
        ),
    )
    problems = []
    for username, password, login, width, otp, urls in areas:
        # Sign in once per user (a one-time code is accepted once), then look in each language.
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        code = _totp(username) if otp else None
        sign_in(page, base + login, username, password, otp=code, submit="input[type=submit], main button[type=submit]")
        page.wait_for_load_state("load")
        assert "/login/" not in page.url, f"{username} could not sign in"
        state = context.storage_state()
        context.close()
        for language, locale in LANGUAGES:
            context = browser.new_context(
                viewport={"width": width, "height": 900},
                locale=locale,
                extra_http_headers={"Accept-Language": language},
                storage_state=state,
            )
            page = context.new_page()
            problems += [f"{language} {width}px {p}" for url in urls if (p := _overflows(page, base + url))]
            context.close()
    assert problems == []
