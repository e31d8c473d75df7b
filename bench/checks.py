"""``ledger_check`` and the end-of-day check on a 10,000,000-entry ledger: time and peak memory.

    make bench-checks               # or: .venv/bin/python bench/checks.py

Goal (issue #14): ``manage.py ledger_check`` and the end-of-day check (``manage.py end_of_day``,
what the beat job ``accounts.end_of_day`` runs) each under 5 minutes at 10 M entries.

Build (once; the database is kept between runs, ``BENCH_CHECKS_REBUILD=1`` builds it again):
drops and recreates BENCH_CHECKS_DATABASE_URL (default ``bench_big``; the name must start with
``bench``), migrates, opens BENCH_CHECKS_ACCOUNTS (10,000) customer accounts through the services
and funds them through the real ledger (one n-leg ``funding`` voucher per 1,000 accounts from
the clearing account), then writes BENCH_CHECKS_ENTRIES / 2 ``transfer`` vouchers between two
random distinct accounts (0.01-1.00 each, spread over BENCH_CHECKS_DAYS business days ending
yesterday) and both their legs set-based (``INSERT ... SELECT`` over ``generate_series``): every
voucher balances, every ``balance_after`` is the account's running balance (a window sum over
its entries in posting order), and the stored balances are set to what the entries sum to, so
``ledger_check`` is clean. The build ends with VACUUM ANALYZE and yesterday's end of day (a full
check that, clean, writes the checkpoint of the day before yesterday: yesterday's entries, one day
of BENCH_CHECKS_DAYS, are after it, as they would be in production).

Measured, each in its own process (``os.wait4``: wall time and the process's peak resident set
size, Django included): ``manage.py ledger_check`` (incremental from the last checkpoint when
there is one), ``manage.py ledger_check --full`` and ``manage.py end_of_day``. The PostgreSQL
server's own memory is not in the figure. One table on stdout, the same as JSON in
bench/out/checks.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PYTHON = ROOT / ".venv" / "bin" / "python"
OUT_DIR = ROOT / "bench" / "out"
SECRET_KEY = os.environ.get("SECRET_KEY") or "bench-only-not-secret"
GOAL_S = 300
FUND_EACH = Decimal("10000.00")
FUND_CHUNK = 1000


class BenchError(RuntimeError):
    """A precondition failed: printed as one clear line, no traceback."""


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise BenchError(f"{name}={value!r} is not an integer") from exc


def config() -> dict:
    url = os.environ.get("BENCH_CHECKS_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/bench_big"
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise BenchError(f"BENCH_CHECKS_DATABASE_URL must be a postgres:// URL, not {url!r}")
    name = unquote(parsed.path.lstrip("/"))
    if not re.fullmatch(r"bench[A-Za-z0-9_]*", name):
        raise BenchError(f"refusing to drop and recreate database {name!r}: its name must start with 'bench'")
    cfg = {
        "url": url,
        "name": name,
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": unquote(parsed.username or "postgres"),
        "password": unquote(parsed.password or ""),
        "entries": _env_int("BENCH_CHECKS_ENTRIES", 10_000_000),
        "accounts": _env_int("BENCH_CHECKS_ACCOUNTS", 10_000),
        "days": _env_int("BENCH_CHECKS_DAYS", 100),
        "rebuild": os.environ.get("BENCH_CHECKS_REBUILD", "") == "1",
    }
    if cfg["accounts"] < 10 or cfg["entries"] < 2 * FUND_CHUNK or cfg["days"] < 2:
        raise BenchError("BENCH_CHECKS_ACCOUNTS >= 10, BENCH_CHECKS_ENTRIES >= 2000 and BENCH_CHECKS_DAYS >= 2 please")
    return cfg


def django_env(cfg: dict) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=cfg["url"],
        SECRET_KEY=SECRET_KEY,
        DJANGO_SETTINGS_MODULE="backoffice.settings",
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        CELERY_BROKER_URL="",
    )
    return env


def django_setup(cfg: dict) -> None:
    os.environ.update(django_env(cfg))
    import django

    django.setup()


def _admin(cfg: dict, dbname: str = "postgres"):
    import psycopg

    try:
        return psycopg.connect(
            host=cfg["host"],
            port=cfg["port"],
            user=cfg["user"],
            password=cfg["password"] or None,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        raise BenchError(f"PostgreSQL is unreachable at {cfg['host']}:{cfg['port']} ({dbname}): {exc}") from exc


def built_info(cfg: dict) -> dict | None:
    """The stored build of the database, if it is there and still holds what it says."""
    path = OUT_DIR / "checks_build.json"
    if not path.is_file():
        return None
    info = json.loads(path.read_text())
    if info.get("name") != cfg["name"] or info.get("entries_requested") != cfg["entries"]:
        return None
    with _admin(cfg) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["name"]]).fetchone():
            return None
    with _admin(cfg, cfg["name"]) as conn:
        row = conn.execute("SELECT count(*) FROM accounts_transfer WHERE client = 'bench-checks'").fetchone()
    return info if row and row[0] == info["vouchers_generated"] else None


# -- the build -------------------------------------------------------------------------------------

# The generated vouchers: src and dst are account positions (0..n-1) in the temporary table acc.
TX_SQL = """
CREATE UNLOGGED TABLE bench_tx AS
SELECT i, %(base)s + i AS tid, %(start)s::timestamptz + (i - 1) * %(step)s * interval '1 microsecond' AS ts,
       1 + floor(random() * 100)::bigint AS amt, src, (src + 1 + floor(random() * (%(n)s - 1))::int) %% %(n)s AS dst
FROM (SELECT i, floor(random() * %(n)s)::int AS src FROM generate_series(1::bigint, %(vouchers)s) AS i) AS s
"""
TRANSFERS_SQL = """
INSERT INTO accounts_transfer (id, created_at, updated_at, kind, client, idempotency_key, fingerprint, amount, memo,
                               metadata, channel)
SELECT tid, ts, ts, 'transfer', 'bench-checks', 'bc-' || i, '', amt, 'bench', '{}'::jsonb, 'non_counter'
FROM bench_tx ORDER BY tid
"""
# Both legs of every voucher (debit src, credit dst; customer accounts are credit-normal), each
# with the account's running balance: its balance before the build plus the window sum of its
# signed amounts in voucher order. Inserted in voucher order, so entry ids follow posting time.
ENTRIES_SQL = """
INSERT INTO accounts_entry (side, amount, balance_after, subject, created_at, account_id, transfer_id)
SELECT side, amt, opening + sum(CASE WHEN side = 'D' THEN -amt ELSE amt END) OVER (PARTITION BY account_id ORDER BY tid),
       subject, ts, account_id, tid
FROM (SELECT 'D' AS side, t.amt, t.ts, t.tid, a.id AS account_id, a.subject_id AS subject, a.balance AS opening
      FROM bench_tx t JOIN bench_acc a ON a.k = t.src
      UNION ALL
      SELECT 'C', t.amt, t.ts, t.tid, a.id, a.subject_id, a.balance
      FROM bench_tx t JOIN bench_acc a ON a.k = t.dst) AS legs
ORDER BY tid, side DESC
"""
BALANCES_SQL = """
UPDATE accounts_account AS a SET balance = a.balance + d.net
FROM (SELECT account_id, sum(CASE WHEN side = 'D' THEN -amount ELSE amount END) AS net
      FROM accounts_entry WHERE transfer_id > %(base)s GROUP BY account_id) AS d
WHERE a.id = d.account_id
"""


def _step(label: str, started: float, steps: dict) -> float:
    now = time.monotonic()
    steps[label] = round(now - started, 1)
    print(f"  build: {label} {now - started:.0f} s", flush=True)
    return now


def build(cfg: dict) -> dict:
    from psycopg import sql

    began = time.monotonic()
    steps: dict = {}
    with _admin(cfg) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(cfg["name"])))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["name"])))
    done = subprocess.run(
        [str(PYTHON), "manage.py", "migrate", "--noinput"], env=django_env(cfg), cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchError("manage.py migrate failed: " + " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:]))
    t = _step("migrate", began, steps)
    django_setup(cfg)
    from django.db import connection, transaction

    from accounts.ledger import postings as ledger
    from accounts.ledger.chart import CREDIT, DEBIT, Role
    from accounts.ledger.models import Account
    from accounts.ledger.selectors import internal_account
    from accounts.ledger.services import account_create_row
    from accounts.parties import identity
    from accounts.parties.services import party_create

    n = cfg["accounts"]
    with transaction.atomic():
        parties = [
            party_create(
                type="person",
                name=f"bench checks party {i}",
                id_number=identity.make_id_number(born=dt.date(1960, 1, 1) + dt.timedelta(days=i), sequence=i % 1000),
            )
            for i in range(max(1, n // 100))
        ]
        accounts = [
            account_create_row(
                party=parties[i % len(parties)],
                name=f"bench checks {i}",
                role=Role.LENDER,
                tier=Account.Tier.CLASS_I,
                kind=Account.Kind.CUSTOMER,
                state=Account.State.ACTIVE,
                internal=False,
            )
            for i in range(n)
        ]
    clearing = internal_account(Role.CLEARING)
    for start in range(0, n, FUND_CHUNK):
        chunk = accounts[start : start + FUND_CHUNK]
        legs = [ledger.Leg(clearing.pk, DEBIT, FUND_EACH * len(chunk))]
        legs += [ledger.Leg(a.pk, CREDIT, FUND_EACH) for a in chunk]
        ledger.post_transfer(client="bench-setup", idempotency_key=f"fund-{start}", kind="funding", legs=legs)
    t = _step("accounts opened and funded through the services", t, steps)

    vouchers = cfg["entries"] // 2
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - dt.timedelta(days=cfg["days"])
    step_us = int(cfg["days"] * 86_400 * 1_000_000 // vouchers)
    with transaction.atomic(), connection.cursor() as cursor:
        # Bulk load: no per-row foreign-key triggers (every reference is valid by construction),
        # large sorts in memory.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL work_mem = '512MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SELECT coalesce(max(id), 0) FROM accounts_transfer")
        base = cursor.fetchone()[0]
        # The funding was posted now: date it before the generated history, so that posting time
        # and posting (id) order agree, as they do when the ledger posts everything.
        funded_at = first - dt.timedelta(hours=1)
        cursor.execute(
            "UPDATE accounts_entry SET created_at = %s WHERE transfer_id IN"
            " (SELECT id FROM accounts_transfer WHERE client = 'bench-setup')",
            [funded_at],
        )
        cursor.execute(
            "UPDATE accounts_transfer SET created_at = %s, updated_at = %s WHERE client = 'bench-setup'", [funded_at, funded_at]
        )
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_acc AS SELECT (row_number() OVER (ORDER BY id) - 1)::int AS k, id, subject_id,"
            " balance FROM accounts_account WHERE id = ANY(%s)",
            [[a.pk for a in accounts]],
        )
        cursor.execute("CREATE UNIQUE INDEX ON bench_acc (k)")
        cursor.execute("SELECT setseed(0.14)")
        cursor.execute(TX_SQL, {"base": base, "start": first, "step": step_us, "n": n, "vouchers": vouchers})
        t = _step(f"{vouchers:,} vouchers generated", t, steps)
        cursor.execute(TRANSFERS_SQL)
        t = _step("vouchers inserted", t, steps)
        cursor.execute(ENTRIES_SQL)
        t = _step(f"{2 * vouchers:,} entries inserted", t, steps)
        cursor.execute(BALANCES_SQL, {"base": base})
        cursor.execute("DROP TABLE bench_tx")
        cursor.execute("DROP TABLE bench_acc")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('accounts_transfer', 'id'), (SELECT max(id) FROM accounts_transfer))"
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('accounts_entry', 'id'), (SELECT max(id) FROM accounts_entry))")
        cursor.execute(
            "SELECT (SELECT count(*) FROM accounts_account WHERE kind = 'customer' AND balance < 0)"
            " + (SELECT count(*) FROM accounts_entry WHERE transfer_id > %s AND balance_after < 0)",
            [base],
        )
        negative = cursor.fetchone()[0]
        if negative:
            raise BenchError(f"{negative} customer account(s) went negative: fund them more (FUND_EACH)")
    t = _step("balances set", t, steps)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    t = _step("vacuum analyze", t, steps)
    connection.close()
    info = {
        "name": cfg["name"],
        "entries_requested": cfg["entries"],
        "vouchers_generated": vouchers,
        "accounts": n,
        "days": cfg["days"],
        "first_day": first.date().isoformat(),
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "steps_s": steps,
    }
    # The end of day of yesterday, as the beat would have run it at 23:59: it checks the ledger in
    # full (no checkpoint yet) and, clean, writes the checkpoint of the day before yesterday; so
    # yesterday's entries (one day of BENCH_CHECKS_DAYS) are after the checkpoint, as in production.
    from accounts.payments.end_of_day import end_of_day_run

    eod = end_of_day_run(now=today - dt.timedelta(minutes=1))
    _step("end of day of yesterday (a full check; writes the checkpoint of the day before)", t, steps)
    if not eod.clean:
        raise BenchError(f"the built ledger is not clean: {eod.report.drifts[:3]}")
    info["checkpoint"] = eod.checkpoint.business_date.isoformat() if eod.checkpoint else None
    info["build_s"] = round(time.monotonic() - began, 1)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "checks_build.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


# -- measurements ----------------------------------------------------------------------------------


def run_measured(cfg: dict, args: list[str]) -> dict:
    """``manage.py <args>`` in its own process: wall seconds, peak RSS, exit status, last lines."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(PYTHON), "manage.py", *args],
        env=django_env(cfg),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = proc.stdout.read() if proc.stdout else ""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    return {
        "command": "manage.py " + " ".join(args),
        "seconds": round(seconds, 1),
        "peak_mib": round(usage.ru_maxrss / 1024, 1),
        "exit": proc.returncode,
        "tail": lines[-4:],
    }


def measure(cfg: dict, info: dict) -> list[dict]:
    if info.get("checkpoint"):
        # Every run starts from the build's checkpoint: the measured end of day writes the next one.
        with _admin(cfg, cfg["name"]) as conn:
            conn.execute(
                "DELETE FROM accounts_checkpointbalance WHERE checkpoint_id IN"
                " (SELECT id FROM accounts_ledgercheckpoint WHERE business_date > %s)",
                [info["checkpoint"]],
            )
            conn.execute("DELETE FROM accounts_ledgercheckpoint WHERE business_date > %s", [info["checkpoint"]])
    return [
        run_measured(cfg, ["ledger_check"]),
        run_measured(cfg, ["ledger_check", "--full"]),
        run_measured(cfg, ["end_of_day"]),
    ]


def print_table(info: dict, results: list[dict]) -> None:
    print(
        f"\nledger checks on {info['vouchers_generated'] * 2:,} generated entries, {info['accounts']:,} accounts, "
        f"{info['days']} days (built {info['built']} in {info['build_s']:.0f} s)"
    )
    print(f"{'command':<32} {'seconds':>9} {'peak MiB':>9} {'goal':>9}  verdict")
    for r in results:
        ok = r["seconds"] < GOAL_S and r["exit"] == 0
        print(
            f"{r['command']:<32} {r['seconds']:>9.1f} {r['peak_mib']:>9.0f} {'< 300 s':>9}  "
            f"{'PASS' if ok else 'MISS'} (exit {r['exit']}: {r['tail'][-1] if r['tail'] else ''})"
        )


def main() -> int:
    cfg = config()
    info = None if cfg["rebuild"] else built_info(cfg)
    if info is None:
        print(f"bench/checks.py: building {cfg['entries']:,} entries in {cfg['name']} (once; kept for later runs)", flush=True)
        info = build(cfg)
    else:
        print(f"bench/checks.py: reusing {cfg['name']} built {info['built']} ({info['build_s']:.0f} s)", flush=True)
    results = measure(cfg, info)
    print_table(info, results)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    report = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "build": info, "results": results, "goal_s": GOAL_S}
    (OUT_DIR / "checks.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["exit"] == 0 for r in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench/checks.py: {exc}", file=sys.stderr)
        sys.exit(2)
