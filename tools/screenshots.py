"""`make screenshots`: a screenshot tour of the console and the portals, in Chinese and in English.

A reviewer looks at the PNGs without signing in. The script builds a throw-away SQLite database
(migrate and the three demo seeds, as `make run` does), adds a pending freeze request so that
a checker page has something to show and a Class II account of 张三 waiting for its card (the
portal's card binding form), serves the app on a free port (runserver, DEBUG as in
`make run`, ADMIN_OTP_REQUIRED=false), signs in as the demo users in Debian's Chromium and
writes ``screenshots/<lang>/<nn>-<name>.png`` plus ``screenshots/index.html``.

It exits non-zero, naming the page, when a page answers 4xx or 5xx, lands on a sign-in page or
shows Django's debug page. Usage: ``.venv/bin/python tools/screenshots.py [--out DIR] [--only NAME ...]
[--extra PATH ...] [--keep]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import html
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LANGUAGES = (("zh-hans", "zh-CN", "中文"), ("en", "en-US", "English"))
CONSOLE_VIEWPORT = {"width": 1366, "height": 900}
PORTAL_VIEWPORT = {"width": 390, "height": 844}
# The demo users of the seed commands (accounts/management/commands/seed_demo.py and the others).
CONSOLE_USER = ("supervisor", "supervisor-demo-pass-2026")
MAKER_USER = "ops"
PORTAL_USER = ("zhangsan", "portal-demo-pass-2026")
PLATFORM_USER = ("platform-demo", "platform-demo-pass-2026")
MERCHANT_USER = ("shop-owner", "shop-owner-pass-2026")
SEEDS = ("seed_demo", "seed_custody_demo", "seed_merchants_demo")
CACHE = ROOT / "var" / "screenshots-cache"


@dataclass
class Shot:
    area: str  # console, portal, platform, merchant: which signed-in browser visits it
    name: str
    title: str
    url: str
    wait_for: str | None = None  # a selector that must be visible before the picture


@dataclass
class Failure:
    lang: str
    shot: Shot
    reason: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(base: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            print(log.read_text()[-3000:], file=sys.stderr)
            sys.exit(f"screenshots: the server stopped (exit {server.returncode}); log {log}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"screenshots: the server did not answer /healthz within {timeout:.0f} s; log {log}")


def migrations_key() -> str:
    """A digest of every migration file on disk (the project's and the installed packages'): the
    migrated, empty database is cached under it, because migrating SQLite from zero is most of the
    time this script takes."""
    from django.db.migrations.loader import MigrationLoader

    digest = hashlib.sha256()
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for key in sorted(loader.disk_migrations):
        digest.update(repr(key).encode())
        digest.update(Path(sys.modules[type(loader.disk_migrations[key]).__module__].__file__).read_bytes())
    return digest.hexdigest()[:16]


def build(env: dict, log: Path, database: Path, *, fresh: bool) -> None:
    """In this process (one Django start-up instead of four): migrate the throw-away database and
    load the demo data, as `make run` does; the commands' output goes to the log.

    The migrated database before the seeds is kept in var/screenshots-cache/ (keyed on the
    migration files) and copied next time, then `migrate` runs on the copy all the same. The seeds
    always run, so the demo's dates are today's. ``--fresh`` ignores the cache."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    cached = CACHE / f"migrated-{migrations_key()}.sqlite3"
    if cached.exists() and not fresh:
        shutil.copyfile(cached, database)
    took = []
    with log.open("a") as out:
        for command, options in (("migrate", {"interactive": False}), *((seed, {}) for seed in SEEDS)):
            out.write(f"$ manage.py {command}\n")
            out.flush()
            started = time.monotonic()
            try:
                call_command(command, stdout=out, stderr=out, **options)
            except Exception:
                out.flush()
                print(log.read_text()[-3000:], file=sys.stderr)
                print(f"screenshots: `manage.py {command}` failed; log {log}", file=sys.stderr)
                raise
            took.append(f"{command} {time.monotonic() - started:.0f} s")
            if command == "migrate" and not cached.exists():
                connections.close_all()  # checkpoints the WAL into the file
                CACHE.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(database, cached.with_suffix(".tmp"))
                cached.with_suffix(".tmp").replace(cached)
                took[-1] += " (cached for next time)"
            elif command == "migrate":
                took[-1] += " (on the cached migrated database)"
    print(f"screenshots: {', '.join(took)}")


def prepare() -> dict:
    """In this process, against the throw-away database: a pending freeze request (made by ops,
    for the supervisor to decide), the URLs of the tour and the TOTP keys of the portal users."""
    from django.contrib.auth import get_user_model
    from django.urls import reverse
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.ledger.chart import Role
    from accounts.ledger.models import Account
    from accounts.parties.services import account_open
    from accounts.states.freezes import freeze_request_create
    from accounts.states.models import FreezeRequest
    from custody.models import LendingPlatform
    from merchants.models import Merchant, SettlementBatch

    users = get_user_model().objects
    holder = Account.objects.filter(party__name="王五 Wang Wu").order_by("pk").first()
    request = FreezeRequest.objects.filter(state=FreezeRequest.State.PENDING).order_by("pk").first()
    if request is None:
        request = freeze_request_create(
            action="place",
            requested_by=users.get(username=MAKER_USER),
            account_id=holder.pk,
            payload={
                "kind": "partial",
                "amount": "1000.00",
                "authority": "上海市浦东新区人民法院 Pudong People's Court",
                "document_number": "(2026)沪0115执1234号",
                "expires_at": (timezone.now() + dt.timedelta(days=180)).isoformat(),
            },
            reason="协助冻结通知书 / Notice of assistance in freezing",
        )
    own = Account.objects.filter(party__portal_users__username=PORTAL_USER[0]).order_by("pk").first()
    # A Class II account waiting for its card, so that the portal's card binding shows its form.
    class2 = Account.objects.filter(party=own.party, tier=Account.Tier.CLASS_II).order_by("pk").first() or account_open(
        party=own.party, role=Role.LENDER, tier=Account.Tier.CLASS_II, actor_label="screenshots"
    )
    platform = LendingPlatform.objects.order_by("pk").first()
    merchant = Merchant.objects.order_by("pk").first()
    batch = SettlementBatch.objects.filter(merchant=merchant).order_by("pk").first()

    def admin(name, *args):
        return reverse(f"admin:{name}", args=args)

    console = [
        ("dashboard", "Console home, dashboard / 控制台首页与仪表盘", admin("index")),
        ("accounts", "Accounts / 账户列表", admin("accounts_account_changelist")),
        ("account", "One account / 账户详情", admin("accounts_account_change", own.pk)),
        ("account-statement", "Account statement / 账户流水", admin("accounts_account_statement", own.pk)),
        ("parties", "Parties / 客户", admin("accounts_party_changelist")),
        ("withdrawals", "Withdrawals / 提现", admin("accounts_withdrawal_changelist")),
        ("recharges", "Recharges / 充值", admin("accounts_recharge_changelist")),
        ("freeze-requests", "Freeze requests / 冻结申请", admin("accounts_freezerequest_changelist")),
        ("freeze-checker", "Freeze request, checker page / 冻结复核", admin("accounts_freezerequest_decide", request.pk)),
        ("payment-alerts", "Payment alerts / 收付告警", admin("accounts_paymentalert_changelist")),
        ("trial-balance", "Trial balance / 试算平衡表", admin("accounts_trial_balance")),
        ("platforms", "Custody platforms / 存管平台", admin("custody_lendingplatform_changelist")),
        ("platform", "One custody platform / 存管平台详情", admin("custody_lendingplatform_change", platform.pk)),
        ("loans", "Loans / 标的", admin("custody_loan_changelist")),
        ("fee-schedules", "Fee schedules / 收费方案", admin("custody_feeschedule_changelist")),
        ("fee-invoices", "Fee invoices / 服务费账单", admin("custody_feeinvoice_changelist")),
        ("reconciliation", "Reconciliation days / 对账", admin("custody_reconciliationday_changelist")),
        ("reconciliation-alerts", "Reconciliation alerts / 对账告警", admin("custody_reconciliationalert_changelist")),
        ("merchants", "Merchants / 商户", admin("merchants_merchant_changelist")),
        ("payments", "Merchant payments / 商户收款", admin("merchants_payment_changelist")),
        ("settlement-batches", "Settlement batches / 结算批次", admin("merchants_settlementbatch_changelist")),
    ]
    shots = [Shot("console", name, title, url) for name, title, url in console]
    shots.append(Shot("console", "api-docs", "Partner API docs / 接口文档", reverse("api:docs"), ".swagger-ui .info"))
    number = own.number
    shots += [
        Shot("portal", "portal-balances", "Portal: my accounts and balances / 我的账户", reverse("portal:dashboard")),
        Shot("portal", "portal-statement", "Portal: statement / 账户明细", reverse("portal:statement", args=[number])),
        Shot("portal", "portal-withdrawals", "Portal: withdrawals / 提现记录", reverse("portal:withdrawal_list", args=[number])),
        Shot("portal", "portal-withdrawal-new", "Portal: new withdrawal / 提现", reverse("portal:withdrawal_new", args=[number])),
        Shot("portal", "portal-card-bind", "Portal: bind a card / 绑定银行卡", reverse("portal:card_bind", args=[class2.number])),
    ]
    code = platform.code
    shots += [
        Shot("platform", f"platform-{name}", title, reverse(f"custody_portal:platform:{name}", args=[code]))
        for name, title in (
            ("dashboard", "Platform portal: dashboard / 平台门户首页"),
            ("sub_accounts", "Platform portal: sub-accounts / 平台子账户"),
            ("loans", "Platform portal: loans / 平台标的"),
            ("fees", "Platform portal: fees / 平台服务费"),
            ("reconciliation", "Platform portal: reconciliation / 平台对账"),
        )
    ]
    shots += [
        Shot("merchant", f"merchant-{name}", title, reverse(f"merchants_portal:{name}", args=args))
        for name, title, args in (
            ("dashboard", "Merchant portal: dashboard / 商户门户首页", [merchant.pk]),
            ("payments", "Merchant portal: payments / 商户收款", [merchant.pk]),
            ("settlements", "Merchant portal: settlements / 商户结算", [merchant.pk]),
            ("settlement_detail", "Merchant portal: one settlement / 结算详情", [merchant.pk, batch.pk]),
            ("payouts", "Merchant portal: payouts / 商户出款", [merchant.pk]),
        )
    ]
    keys = {}
    for username in (PLATFORM_USER[0], MERCHANT_USER[0]):
        device = TOTPDevice.objects.filter(user__username=username, confirmed=True).order_by("pk").first()
        keys[username] = (device.bin_key, device.step, device.t0, device.digits)
    logins = {
        "console": reverse("admin:login"),
        "portal": reverse("portal:login"),
        "platform": reverse("custody_portal:platform:login"),
        "merchant": reverse("merchants_portal:login"),
    }
    return {"shots": shots, "keys": keys, "logins": logins}


def totp_code(key) -> str:
    from django_otp.oath import totp

    bin_key, step, t0, digits = key
    return f"{totp(bin_key, step=step, t0=t0, digits=digits):0{digits}d}"


def sign_in(page, base: str, area: str, plan: dict) -> None:
    login = base + plan["logins"][area]
    page.goto(login)
    username, password = {"console": CONSOLE_USER, "portal": PORTAL_USER, "platform": PLATFORM_USER, "merchant": MERCHANT_USER}[
        area
    ]
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    if area in ("platform", "merchant"):
        page.fill("#id_otp_token", totp_code(plan["keys"][username]))
    page.click("input[type=submit], main button[type=submit]")
    page.wait_for_load_state("load")
    if page.url.split("?")[0] == login:
        sys.exit(f"screenshots: signing in to the {area} as {username} failed (still on {page.url})")


def debug_page(content: str) -> bool:
    """Django's technical 404 and 500 pages (never the branded ones)."""
    return 'id="summary"' in content and "<code>DEBUG = True</code>" in content


def visit(page, base: str, shot: Shot, path: Path, failures: list, lang: str, resources: list) -> str:
    resources.clear()
    response = page.goto(base + shot.url, wait_until="load")
    page.wait_for_load_state("networkidle")
    reason = None
    if response is None:
        reason = "no answer"
    elif response.status >= 400 or debug_page(page.content()):
        shown = "Django's debug page" if debug_page(page.content()) else "the page"
        reason = f"answered {response.status} with {shown}" if response.status >= 400 else "shows Django's debug page"
    elif "/login/" in page.url:
        reason = f"sent to the sign-in page ({page.url})"
    if reason is None and shot.wait_for:
        try:
            page.locator(shot.wait_for).first.wait_for(state="visible", timeout=15000)
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError; the message says enough
            reason = f"{shot.wait_for} did not appear"
    page.screenshot(path=str(path), full_page=True)
    if reason:
        failures.append(Failure(lang, shot, reason))
    for url, status in resources:
        print(f"  warning: {lang} {shot.name}: {url} answered {status}")
    return page.title()


def write_index(out: Path, shots: list[tuple[int, Shot]], titles: dict, started: float) -> None:
    (out / "index.css").write_text(
        "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}"
        "h2{margin-top:2rem;border-bottom:1px solid #ccc}"
        "table{border-collapse:collapse}"
        "td,th{padding:.3rem .8rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}"
        "img{width:240px;height:170px;border:1px solid #ccc;object-fit:cover;object-position:top left}"
        ".page-title{color:#666;font-size:.85rem}\n"
    )
    rows = []
    for index, shot in shots:
        cells = []
        for lang, _locale, _label in LANGUAGES:
            png = f"{lang}/{index:02d}-{shot.name}.png"
            page_title = html.escape(titles.get((lang, shot.name), ""))
            cells.append(
                f'<td><a href="{png}"><img src="{png}" alt="{html.escape(shot.title)} ({lang})" loading="lazy"></a>'
                f'<div class="page-title">{page_title}</div></td>'
            )
        rows.append(
            f"<tr><td>{index:02d}</td><td>{html.escape(shot.title)}<br><code>{html.escape(shot.url)}</code></td>{''.join(cells)}</tr>"
        )
    heads = "".join(f"<th>{label} ({lang})</th>" for lang, _locale, label in LANGUAGES)
    stamp = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    (out / "index.html").write_text(
        '<!doctype html>\n<html lang="zh-Hans"><head><meta charset="utf-8">'
        '<title>截图巡览 Screenshot tour</title><link rel="stylesheet" href="index.css"></head><body>\n'
        f"<h1>截图巡览 Screenshot tour</h1><p>{len(shots)} pages × {len(LANGUAGES)} languages, "
        f"console at {CONSOLE_VIEWPORT['width']}×{CONSOLE_VIEWPORT['height']}, portals at "
        f"{PORTAL_VIEWPORT['width']}×{PORTAL_VIEWPORT['height']}; demo data; taken {stamp} (Asia/Shanghai) "
        f"in {time.monotonic() - started:.0f} s by <code>make screenshots</code>.</p>\n"
        f"<table><thead><tr><th>#</th><th>page</th>{heads}</tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table>\n</body></html>\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"), help="output folder (default: screenshots/)")
    parser.add_argument("--only", nargs="*", default=None, help="only the pages with these names")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away database and server log")
    parser.add_argument("--fresh", action="store_true", help="migrate from zero, ignoring var/screenshots-cache/")
    parser.add_argument(
        "--extra",
        nargs="*",
        default=[],
        metavar="PATH",
        help="also these console paths (e.g. /admin/auth/group/), as the supervisor",
    )
    args = parser.parse_args()
    started = time.monotonic()
    out = Path(args.out).resolve()
    work = Path(tempfile.mkdtemp(prefix="screenshots-"))
    log = work / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "SECRET_KEY")
    }
    env.update(
        DATABASE_URL=f"sqlite:///{work / 'screenshots.sqlite3'}",
        EMBEDDED="true",
        DEBUG="true",
        ADMIN_OTP_REQUIRED="false",
        PORT=str(port),
        CUSTODY_DOCUMENTS_ROOT=str(work / "custody-documents"),
        PYTHONUNBUFFERED="1",
    )
    python = sys.executable
    print(f"screenshots: building a throw-away database in {work} (migrate, {', '.join(SEEDS)})")
    build(env, log, work / "screenshots.sqlite3", fresh=args.fresh)
    plan = prepare()
    plan["shots"] += [Shot("console", f"extra-{n}", f"Extra: {path}", path) for n, path in enumerate(args.extra, start=1)]
    from django.db import connections

    connections.close_all()
    shots = [s for s in plan["shots"] if args.only is None or s.name in args.only or s.name.startswith("extra-")]
    print(f"screenshots: serving on {base} ({time.monotonic() - started:.0f} s)")
    server = subprocess.Popen(
        [python, "manage.py", "runserver_demo", f"127.0.0.1:{port}", "--noreload", "--no-beat", "--skip-checks"],
        cwd=ROOT,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    failures: list[Failure] = []
    titles: dict = {}
    try:
        wait_until_up(base, server, log)
        if out.exists():
            shutil.rmtree(out)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            for area in ("console", "portal", "platform", "merchant"):
                todo = [(index, s) for index, s in enumerate(plan["shots"], start=1) if s.area == area and s in shots]
                if not todo:
                    continue
                viewport = CONSOLE_VIEWPORT if area == "console" else PORTAL_VIEWPORT
                context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
                page = context.new_page()
                resources: list = []
                page.on(
                    "response",
                    lambda r, resources=resources: (
                        resources.append((r.url, r.status)) if r.status >= 400 and r.request.resource_type != "document" else None
                    ),
                )
                sign_in(page, base, area, plan)
                for lang, locale, _label in LANGUAGES:
                    context.add_cookies([{"name": "django_language", "value": lang, "url": base}])
                    context.set_extra_http_headers({"Accept-Language": locale})
                    (out / lang).mkdir(parents=True, exist_ok=True)
                    for index, shot in todo:
                        path = out / lang / f"{index:02d}-{shot.name}.png"
                        titles[(lang, shot.name)] = visit(page, base, shot, path, failures, lang, resources)
                        print(f"  {lang:<7} {path.relative_to(out)}")
                context.close()
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    write_index(out, [(i, s) for i, s in enumerate(plan["shots"], start=1) if s in shots], titles, started)
    elapsed = time.monotonic() - started
    if failures:
        for failure in failures:
            print(f"screenshots: FAILED {failure.lang} {failure.shot.name} {failure.shot.url}: {failure.reason}", file=sys.stderr)
        print(f"screenshots: {len(failures)} page(s) failed; pictures in {out}", file=sys.stderr)
        return 1
    print(f"screenshots: {len(shots) * len(LANGUAGES)} pictures in {elapsed:.0f} s: {out}/index.html")
    print(f"screenshots: output folder {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
