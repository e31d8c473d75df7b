"""The month-end custody fee run (存管费) for BENCH_PLATFORMS platforms on PostgreSQL, in one run.

    make bench-fees                 # or: .venv/bin/python bench/custody_fees.py

Issue #11. Setup (timed and printed apart): drops and recreates the database, migrates, onboards
BENCH_PLATFORMS platforms through ``custody.services`` (apply, documents, submit by a maker,
approve by a checker: activation opens the own funds), gives each an approved fee schedule through
``custody.fees.services`` (maker-checker; whole-amount and marginal tiers alternating), opens
BENCH_SUBACCOUNTS depository sub-accounts each (``subaccount_open``, then the audited
``account_change_state(activate)`` in place of the client's card verification) and funds them and
the own funds through the real ledger (one ``funding`` voucher per platform from the clearing
account); then accrues the billed month's days before its last one through the beat's own
``fees_accrue_all`` (one transaction per day there, so the books look as after a month of beats).

The measured month-end run, as ``custody.fees.services.fees_daily`` does it, one transaction per
platform (or invoice):

1. accrual: ``fees_accrue_all`` for the month's last day (the beat's work on the 1st);
2. invoice issue: ``invoice_issue`` for every billed platform on the next month's first working day;
3. collection: ``invoice_collect`` for every open invoice (a few platforms hold too little own
   funds on purpose: they go into arrears, nothing moves).

Anchors, timed in the same run right after: (a) the accrual's read as one set-based SQL statement
(every platform's day-end pool from the entries: the last ``balance_after`` of each depository
account before the cut-off, summed per platform), whose sums must equal the accruals' bases; (b)
the ledger's own ``post_transfer``, one voucher per platform between two of its sub-accounts (the
money move a collection makes, without the invoice). Then ``manage.py ledger_check`` and the fee
income balance against the paid invoices.

Statements are counted with a ``connection.execute_wrapper`` (every statement through Django's
cursor, savepoints included; not BEGIN/COMMIT), exact at any count, where CaptureQueriesContext
keeps only the last 9,000.

One table on stdout, the same as JSON in bench/out/custody_fees.json (gitignored).

Settings (environment): BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_fees,
dropped and recreated: its name must start with "bench"), BENCH_PLATFORMS (1000),
BENCH_SUBACCOUNTS (3 per platform), BENCH_MONTH (YYYY-MM, the billed month; default the bank's
current month), BENCH_PREACCRUE (1; 0 leaves the month's earlier days to invoice_issue, which
accrues missing days itself: the issue figure then includes them).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT_DIR = ROOT / "bench" / "out"
SECRET_KEY = os.environ.get("SECRET_KEY") or "bench-only-not-secret"
SETUP_CLIENT = "bench-fees-setup"

# The README's worked example: [0, 10 M) 0.10 %, [10 M, 50 M) 0.08 %, >= 50 M 0.05 % a year.
BANDS = [(Decimal("0"), Decimal("0.10")), (Decimal("10000000"), Decimal("0.08")), (Decimal("50000000"), Decimal("0.05"))]
OWN_FUNDS = Decimal("1000000.00")
OWN_FUNDS_SHORT = Decimal("1.00")  # every ARREARS_EVERY-th platform: its invoice goes into arrears
ARREARS_EVERY = 50
ROLES = ("lender", "borrower", "lender", "guarantor")
PERSONS = 200  # clients reused across platforms (one sub-account per platform, party and role)


class BenchError(RuntimeError):
    """A precondition failed: printed as one clear line, no traceback."""


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise BenchError(f"{name}={value!r} is not an integer") from exc


class Config:
    def __init__(self) -> None:
        self.url = os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/bench_fees"
        parsed = urlparse(self.url)
        if parsed.scheme not in ("postgres", "postgresql", "pgsql"):
            raise BenchError(f"BENCH_DATABASE_URL must be a postgres:// URL, not {self.url!r}")
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 5432
        self.user = unquote(parsed.username or "postgres")
        self.password = unquote(parsed.password or "")
        self.database = unquote(parsed.path.lstrip("/")) or "bench_fees"
        if not re.fullmatch(r"bench[A-Za-z0-9_]*", self.database):
            raise BenchError(f"refusing to drop and recreate database {self.database!r}: its name must start with 'bench'")
        self.platforms = _env_int("BENCH_PLATFORMS", 1000)
        self.subaccounts = _env_int("BENCH_SUBACCOUNTS", 3)
        if self.platforms < 1 or not 2 <= self.subaccounts <= len(ROLES):
            raise BenchError(f"BENCH_PLATFORMS must be >= 1 and BENCH_SUBACCOUNTS between 2 and {len(ROLES)}")
        month = os.environ.get("BENCH_MONTH", "")
        if month and not re.fullmatch(r"\d{4}-\d{2}", month):
            raise BenchError(f"BENCH_MONTH={month!r} is not YYYY-MM")
        self.month = dt.date(int(month[:4]), int(month[5:]), 1) if month else None
        self.preaccrue = os.environ.get("BENCH_PREACCRUE", "1").lower() not in ("0", "false", "no", "off")

    def django_env(self) -> dict:
        env = dict(os.environ)
        env.pop("CELERY_BROKER_URL", None)  # tasks inline, as in the bench process
        env.update(
            DATABASE_URL=self.url,
            SECRET_KEY=SECRET_KEY,
            DJANGO_SETTINGS_MODULE="backoffice.settings",
            DEBUG="false",
            LOG_LEVEL="WARNING",
        )
        return env


# -- database and Django ---------------------------------------------------------------------


def recreate_database(cfg: Config) -> None:
    import psycopg
    from psycopg import sql

    try:
        conn = psycopg.connect(
            host=cfg.host,
            port=cfg.port,
            user=cfg.user,
            password=cfg.password or None,
            dbname="postgres",
            connect_timeout=5,
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise BenchError(f"PostgreSQL is unreachable at {cfg.host}:{cfg.port} as {cfg.user}: {first}") from exc
    with conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(cfg.database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg.database)))


def manage(cfg: Config, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            env=cfg.django_env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"manage.py {' '.join(args)} did not finish within {timeout:.0f} s") from exc


def django_setup(cfg: Config) -> None:
    for key, value in cfg.django_env().items():
        os.environ[key] = value
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()


class StatementCounter:
    """Counts the statements Django sends (``connection.execute_wrapper``)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def timed(fn):
    """(result, seconds, statements) of ``fn()``."""
    from django.db import connection

    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
    return result, elapsed, counter.count


# -- setup -----------------------------------------------------------------------------------


def _persons():
    from accounts.parties import identity
    from accounts.parties.services import party_create, party_kyc_approve

    people = []
    for i in range(PERSONS):
        party = party_create(
            type="person",
            name=f"基准客户{i:03d}",
            id_number=identity.make_id_number(born=dt.date(1970, 1, 1) + dt.timedelta(days=37 * i), sequence=i % 1000),
            mobile=f"138{i:08d}",
            actor_label="bench",
        )
        people.append(party_kyc_approve(party_id=party.pk, actor_label="bench", note="bench"))
    return people


def _schedule_fields(i: int, month: dt.date) -> dict:
    from custody.fees.models import FeeSchedule

    return {
        "basis": FeeSchedule.Basis.DAILY_POOL_BALANCE,
        "mode": FeeSchedule.Mode.WHOLE_AMOUNT if i % 2 == 0 else FeeSchedule.Mode.MARGINAL,
        "rounding": FeeSchedule.Rounding.DAILY if (i // 2) % 2 == 0 else FeeSchedule.Rounding.AT_INVOICE,
        "day_count": FeeSchedule.DayCount.DAYS_365 if (i // 4) % 2 == 0 else FeeSchedule.DayCount.ACTUAL,
        "monthly_minimum": Decimal("800.00"),
        "annual_minimum": Decimal("20000.00"),
        "per_withdrawal_fee": Decimal("2.00"),
        "effective_from": month.replace(month=1, day=1),
    }


def _pool_amount(i: int, k: int) -> Decimal:
    """A sub-account's money: 0.1 M to 30 M, so the platforms' pools fall in every band."""
    return Decimal(100_000 * (1 + (i * 37 + k * 101) % 300)).quantize(Decimal("0.01"))


def onboard(i: int, *, maker, checker, persons, clearing_id: int, month: dt.date, subaccounts: int):
    """One platform through the services only: its organisation, then the rest in one transaction."""
    from django.db import transaction

    from accounts.ledger import postings as ledger
    from accounts.ledger.chart import CREDIT, DEBIT
    from accounts.parties import identity
    from accounts.parties.services import party_create, party_kyc_approve
    from accounts.states.services import account_change_state
    from custody import services
    from custody.fees import services as fees
    from custody.models import PlatformDocument

    code = f"B{i:04d}"
    org = party_create(
        type="organisation",
        name=f"基准{i:04d}网络借贷信息中介有限公司",
        credit_code=identity.make_credit_code(body=f"91110105{i:09d}"),
        legal_representative="法定代表人",
        actor_label="bench",
    )
    org = party_kyc_approve(party_id=org.pk, actor_label="bench", note="bench")  # a durable transaction of its own
    with transaction.atomic():
        platform = services.platform_apply(code=code, name=org.name, credit_code=org.credit_code, party=org, actor=maker)
        for kind in PlatformDocument.REQUIRED_KINDS:
            services.platform_document_add(platform_id=platform.pk, kind=kind, number=f"{code}-{kind}", actor=maker)
        services.platform_submit_for_review(platform_id=platform.pk, actor=maker)
        platform = services.platform_approve(platform_id=platform.pk, actor=checker, note="bench")
        schedule = fees.fee_schedule_create(platform=platform, bands=BANDS, actor=maker, **_schedule_fields(i, month))
        fees.fee_schedule_submit(schedule_id=schedule.pk, actor=maker)
        fees.fee_schedule_approve(schedule_id=schedule.pk, actor=checker, note="bench")
        legs, total = [], Decimal("0.00")
        own = OWN_FUNDS_SHORT if i % ARREARS_EVERY == ARREARS_EVERY - 1 else OWN_FUNDS
        legs.append(ledger.Leg(platform.own_funds_id, CREDIT, own))
        total += own
        accounts = []
        for k in range(subaccounts):
            sub = services.subaccount_open(
                platform=platform, role=ROLES[k], party=persons[(i * subaccounts + k) % len(persons)], actor_label="bench"
            )
            amount = _pool_amount(i, k)
            legs.append(ledger.Leg(sub.account_id, CREDIT, amount))
            total += amount
            accounts.append(sub.account_id)
    for account_id in accounts:
        # The client's own card verification (R-DEP-04) is replaced by the audited activation
        # (a durable transaction of its own).
        account_change_state(account_id=account_id, action="activate", reason="bench: opened without the card flow")
    ledger.post_transfer(
        client=SETUP_CLIENT,
        idempotency_key=f"fund:{code}",
        kind="funding",
        legs=[ledger.Leg(clearing_id, DEBIT, total), *legs],
        memo=f"bench funding {code}",
    )
    return platform.pk, accounts


def setup(cfg: Config, month: dt.date) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connections

    from accounts.ledger.chart import Role
    from accounts.ledger.selectors import internal_account

    users = get_user_model().objects
    maker = users.create_user(username="bench-fees-maker", is_staff=True)
    checker = users.create_user(username="bench-fees-checker", is_staff=True)
    persons = _persons()
    clearing = internal_account(Role.CLEARING)
    platforms = []
    step = max(1, cfg.platforms // 10)
    for i in range(cfg.platforms):
        platforms.append(
            onboard(
                i,
                maker=maker,
                checker=checker,
                persons=persons,
                clearing_id=clearing.pk,
                month=month,
                subaccounts=cfg.subaccounts,
            )
        )
        if (i + 1) % step == 0:
            print(f"  onboarded {i + 1:,} platforms", flush=True)
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"platforms": platforms}


def preaccrue(days: list[dt.date], as_of: dt.date) -> int:
    """The month's earlier days through the beat's own ``fees_accrue_all``, one transaction per day."""
    from django.db import transaction

    from custody.fees import services as fees

    done = 0
    for day in days:
        with transaction.atomic():
            done += fees.fees_accrue_all(business_date=day, as_of=as_of)
    return done


# -- the month-end run -------------------------------------------------------------------------


def run_accrual(day: dt.date, as_of: dt.date) -> int:
    from custody.fees import services as fees

    return fees.fees_accrue_all(business_date=day, as_of=as_of)


def run_issue(month: dt.date, as_of: dt.date) -> int:
    """``fees_daily``'s loop on the first working day of the next month."""
    from custody.fees import services as fees
    from custody.models import LendingPlatform

    issued = 0
    for platform in LendingPlatform.objects.filter(state__in=fees.BILLED_STATES).order_by("pk"):
        if fees.invoice_issue(platform=platform, month=month, as_of=as_of) is not None:
            issued += 1
    return issued


def run_collect(as_of: dt.date) -> dict:
    """``fees_daily``'s collection loop: every issued or arrears invoice issued by ``as_of``."""
    from custody.fees import services as fees
    from custody.fees.models import FeeInvoice

    result = {"paid": 0, "arrears": 0}
    open_states = (FeeInvoice.State.ISSUED, FeeInvoice.State.ARREARS)
    for invoice_id in FeeInvoice.objects.filter(state__in=open_states, issued_on__lte=as_of).values_list("pk", flat=True):
        invoice = fees.invoice_collect(invoice_id=invoice_id)
        result["paid" if invoice.state == FeeInvoice.State.PAID else "arrears"] += 1
    return result


# -- anchors -----------------------------------------------------------------------------------


def anchor_pool_sql(day: dt.date) -> dict:
    """Every platform's day-end pool in one statement: the accrual's read, set-based."""
    from django.db import connection

    from accounts.ledger.models import Account, Entry
    from backoffice.dates import start_of_day

    cut_off = start_of_day(day + dt.timedelta(days=1))
    statement = f"""
        SELECT a.owner, SUM(last.balance_after)
          FROM {Account._meta.db_table} a
          CROSS JOIN LATERAL (
                SELECT e.balance_after FROM {Entry._meta.db_table} e
                 WHERE e.account_id = a.id AND e.created_at < %s
                 ORDER BY e.created_at DESC, e.id DESC LIMIT 1) last
         WHERE a.tier = %s AND a.owner LIKE %s
         GROUP BY a.owner"""
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(statement, [cut_off, Account.Tier.DEPOSITORY, "platform:%"])
        rows = cursor.fetchall()
    elapsed = time.perf_counter() - start
    # balance_after is integer fen in the database (backoffice.money.MoneyField)
    return {"seconds": elapsed, "pools": {owner: Decimal(total).scaleb(-2) for owner, total in rows}}


def anchor_post_transfer(platforms: list) -> float:
    """One ledger voucher per platform, 0.01 between two of its own sub-accounts (its pool unchanged)."""
    from accounts.ledger import postings as ledger

    start = time.perf_counter()
    for platform_id, accounts in platforms:
        ledger.post_transfer(
            client="bench-fees-anchor",
            idempotency_key=f"anchor:{platform_id}",
            kind="transfer",
            legs=ledger.move(from_account_id=accounts[0], to_account_id=accounts[1], amount=Decimal("0.01")),
            memo="bench anchor",
        )
    return time.perf_counter() - start


# -- checks ------------------------------------------------------------------------------------


def check_bases(day: dt.date, pools: dict) -> str:
    """The accruals' bases of ``day`` against the anchor's set-based pools ('' when all equal)."""
    from custody.fees.models import FeeAccrual

    rows = FeeAccrual.objects.filter(business_date=day).select_related("platform")
    wrong = [a.platform.code for a in rows if pools.get(a.platform.owner, Decimal("0.00")) != a.basis_amount]
    return f"{len(wrong)} accrual bases differ from the SQL pools, e.g. {wrong[:3]}" if wrong else ""


def check_fee_income() -> tuple[bool, str]:
    """Fee income credited by this run = Σ the paid invoices (nothing else posts to it here)."""
    from django.db.models import Sum

    from accounts.ledger.chart import Role
    from accounts.ledger.selectors import internal_account
    from backoffice.money import sum_to_money
    from custody.fees.models import FeeInvoice

    income = internal_account(Role.FEE_INCOME).balance
    paid = sum_to_money(FeeInvoice.objects.filter(state=FeeInvoice.State.PAID).aggregate(t=Sum("total"))["t"])
    arrears = FeeInvoice.objects.filter(state=FeeInvoice.State.ARREARS).count()
    ok = income == paid
    return ok, f"fee income {income:,.2f} {'=' if ok else '≠'} paid invoices {paid:,.2f}; {arrears} in arrears, nothing moved"


def ledger_check(cfg: Config) -> tuple[bool, str]:
    done = manage(cfg, "ledger_check")
    lines = [ln for ln in (done.stdout + done.stderr).strip().splitlines() if ln.strip()]
    if done.returncode == 0:
        return True, "clean: " + (lines[-1] if lines else "")
    drifts = [ln for ln in lines if "drift" in ln.lower()]
    return False, f"DRIFT (exit {done.returncode}): " + "; ".join(drifts[-3:] or lines[-3:])


# -- report ------------------------------------------------------------------------------------


def print_table(header: list[str], rows: list[list[str]]) -> None:
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for n, line in enumerate(table):
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        print(" | ".join(cells).rstrip())
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    cfg = Config()
    began = time.monotonic()
    print(
        f"bench-fees: {cfg.database} on {cfg.host}:{cfg.port}, {cfg.platforms:,} platforms × {cfg.subaccounts} sub-accounts, "
        f"{os.cpu_count()} CPU(s)",
        flush=True,
    )
    t0 = time.monotonic()
    recreate_database(cfg)
    migrated = manage(cfg, "migrate", "--noinput")
    if migrated.returncode != 0:
        tail = (migrated.stderr or migrated.stdout).strip().splitlines()[-5:]
        raise BenchError(f"manage.py migrate failed (exit {migrated.returncode}): " + " | ".join(tail))
    migrate_s = time.monotonic() - t0
    django_setup(cfg)
    from django.db import connection
    from django.utils import timezone

    from accounts import workdays
    from backoffice.dates import business_date
    from custody.fees import selectors

    if connection.vendor != "postgresql":
        raise BenchError("the benchmark needs PostgreSQL")
    month = cfg.month or selectors.month_start(business_date(timezone.now()))
    days = selectors.month_days(month)
    last_day, next_first = days[-1], selectors.next_month(month)
    issue_day = workdays.next_working_day(next_first)
    print(f"migrate: {migrate_s:.0f} s; billed month {month:%Y-%m}, accrued day {last_day}, invoices on {issue_day}", flush=True)

    t0 = time.monotonic()
    fixture = setup(cfg, month)
    onboard_s = time.monotonic() - t0
    print(f"setup: {cfg.platforms:,} platforms onboarded, scheduled and funded in {onboard_s:.1f} s", flush=True)
    preaccrued, preaccrue_s = 0, 0.0
    if cfg.preaccrue:
        t0 = time.monotonic()
        preaccrued = preaccrue(days[:-1], next_first)
        preaccrue_s = time.monotonic() - t0
        print(f"setup: {preaccrued:,} accruals of {len(days) - 1} earlier days in {preaccrue_s:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()

    n = cfg.platforms
    accrued, accrual_s, accrual_q = timed(lambda: run_accrual(last_day, next_first))
    print(f"  accrual    {accrued:,} platforms in {accrual_s:.2f} s", flush=True)
    issued, issue_s, issue_q = timed(lambda: run_issue(month, issue_day))
    print(f"  issue      {issued:,} invoices in {issue_s:.2f} s", flush=True)
    collected, collect_s, collect_q = timed(lambda: run_collect(issue_day))
    print(f"  collection {collected['paid']:,} paid, {collected['arrears']:,} in arrears in {collect_s:.2f} s", flush=True)
    if accrued != n or issued != n or collected["paid"] + collected["arrears"] != n:
        raise BenchError(f"expected {n} of each: accrued {accrued}, issued {issued}, collected {collected}")

    pool = anchor_pool_sql(last_day)
    transfer_s = anchor_post_transfer(fixture["platforms"])
    bases = check_bases(last_day, pool["pools"])
    income_ok, income = check_fee_income()
    clean, verdict = ledger_check(cfg)
    rss = _peak_rss_mib()

    run_s = accrual_s + issue_s + collect_s
    cells = [
        ("accrual (1 day)", accrual_s, accrual_q, "pool SQL, 1 statement", pool["seconds"]),
        ("invoice issue", issue_s, issue_q, "", None),
        ("collection", collect_s, collect_q, "post_transfer × N", transfer_s),
        ("month-end run", run_s, accrual_q + issue_q + collect_q, "", None),
    ]
    header = ["phase", "platforms", "seconds", "platforms/s", "ms/platform", "statements/platform", "anchor", "anchor s", "ratio"]
    rows, report_rows = [], []
    for phase, seconds, statements, anchor, anchor_s in cells:
        ratio = seconds / anchor_s if anchor_s else None
        rows.append(
            [
                phase,
                f"{n:,}",
                f"{seconds:.2f}",
                f"{n / seconds:,.1f}",
                f"{1000 * seconds / n:.2f}",
                f"{statements / n:.1f}",
                anchor,
                "" if anchor_s is None else f"{anchor_s:.3f}",
                "" if ratio is None else f"{ratio:,.1f}×",
            ]
        )
        report_rows.append(
            {
                "phase": phase,
                "platforms": n,
                "seconds": round(seconds, 3),
                "platforms_per_second": round(n / seconds, 1),
                "statements_per_platform": round(statements / n, 1),
                "anchor": anchor,
                "anchor_seconds": None if anchor_s is None else round(anchor_s, 4),
                "ratio_to_anchor": None if ratio is None else round(ratio, 2),
            }
        )
    print()
    print_table(header, rows)
    print()
    print(
        f"setup (not in the run): migrate {migrate_s:.0f} s, onboarding {onboard_s:.1f} s "
        f"({n / onboard_s:,.1f} platforms/s), pre-accrual {preaccrue_s:.1f} s ({preaccrued:,} accruals)"
    )
    if n != 1000:
        print(f"extrapolated linearly to 1,000 platforms: month-end run ≈ {run_s * 1000 / n:.0f} s (measured with {n:,})")
    print(f"peak RSS of the bench process: {rss:,.0f} MiB")
    print(f"accrual bases against the SQL pools: {bases or 'all equal'}")
    print(f"collections: {income}")
    print(f"ledger_check on {cfg.database}: {verdict}")
    total = time.monotonic() - began
    print(f"total {total:.0f} s")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "platforms": n,
        "subaccounts_per_platform": cfg.subaccounts,
        "month": f"{month:%Y-%m}",
        "accrued_day": last_day.isoformat(),
        "issue_day": issue_day.isoformat(),
        "rows": report_rows,
        "paid": collected["paid"],
        "arrears": collected["arrears"],
        "setup_seconds": {"migrate": round(migrate_s, 1), "onboarding": round(onboard_s, 1), "preaccrual": round(preaccrue_s, 1)},
        "preaccrued": preaccrued,
        "peak_rss_mib": round(rss, 1),
        "checks": {
            "bases": bases or "all equal",
            "fee_income": {"ok": income_ok, "detail": income},
            "ledger_check": {"clean": clean, "detail": verdict},
        },
        "total_seconds": round(total, 1),
    }
    (OUT_DIR / "custody_fees.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {(OUT_DIR / 'custody_fees.json').relative_to(ROOT)}")
    return 0 if clean and income_ok and not bases else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench-fees: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench-fees: interrupted", file=sys.stderr)
        sys.exit(130)
