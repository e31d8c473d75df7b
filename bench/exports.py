"""Statement exports at scale: time and peak memory of CSV and XLSX for one account with N entries.

    make bench-exports              # or: .venv/bin/python bench/exports.py

Goal (issue #14): a 1,000,000-entry statement exports with the server's peak memory under 200 MiB
and no request over the server timeout (gunicorn's 30 s).

Setup: drops and recreates BENCH_EXPORT_DATABASE_URL (a name starting with ``bench``), migrates,
opens one customer account through the services and funds it through the real ledger, then writes
BENCH_EXPORT_ENTRIES vouchers (default 1,000,000) with both their legs (the account and the
clearing account, balances after each entry included) in a few bulk ``INSERT ... SELECT`` over
``generate_series``, and sets the two stored balances to what the entries sum to.

Each measurement runs in a fresh Python process (``--child``), so its peak resident set size
(``getrusage`` ru_maxrss) is that export's alone, Django included:

- ``request``: the portal's export view (``/portal/accounts/<n>/export/``) as a signed-in
  holder: above ACCOUNTS_EXPORT_SYNC_MAX_ROWS it answers with a redirect to the job's page;
  timed with the job's task sent to a stub (the worker's part is measured next);
- ``job csv`` / ``job xlsx``: the worker's part, ``accounts.exports.services.export_job_run``
  (what the Celery task ``accounts.export_job_run`` calls): rows read in chunks, the file written
  row by row (CSV; XLSX in openpyxl's write-only mode) and saved to MEDIA_ROOT;
- ``stream csv``: the synchronous path forced (ACCOUNTS_EXPORT_SYNC_MAX_ROWS above N): the
  ``StreamingHttpResponse`` consumed chunk by chunk, as a server would send it.

Prints one table; the same as JSON in bench/out/exports.json.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
OUT_DIR = ROOT / "bench" / "out"
SECRET_KEY = os.environ.get("SECRET_KEY") or "bench-only-not-secret"
GOAL_MIB = 200
SERVER_TIMEOUT_S = 30


class BenchError(RuntimeError):
    """A precondition failed: printed as one clear line, no traceback."""


def config() -> dict:
    url = os.environ.get("BENCH_EXPORT_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/bench_exports"
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise BenchError(f"BENCH_EXPORT_DATABASE_URL must be a postgres:// URL, not {url!r}")
    name = unquote(parsed.path.lstrip("/"))
    if not re.fullmatch(r"bench[A-Za-z0-9_]*", name):
        raise BenchError(f"refusing to drop and recreate database {name!r}: its name must start with 'bench'")
    try:
        entries = int(os.environ.get("BENCH_EXPORT_ENTRIES") or 1_000_000)
    except ValueError as exc:
        raise BenchError("BENCH_EXPORT_ENTRIES must be an integer") from exc
    return {
        "url": url,
        "name": name,
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": unquote(parsed.username or "postgres"),
        "password": unquote(parsed.password or ""),
        "entries": entries,
        "media": os.environ.get("BENCH_EXPORT_MEDIA") or tempfile.mkdtemp(prefix="bench-exports-"),
    }


def django_env(cfg: dict) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=cfg["url"],
        SECRET_KEY=SECRET_KEY,
        DJANGO_SETTINGS_MODULE="backoffice.settings",
        DEBUG="false",
        ALLOWED_HOSTS="testserver,127.0.0.1",
        LOG_LEVEL="WARNING",
        MEDIA_ROOT=cfg["media"],
        CELERY_BROKER_URL="",
    )
    return env


def django_setup(cfg: dict) -> None:
    os.environ.update(django_env(cfg))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def recreate_database(cfg: dict) -> None:
    import psycopg
    from psycopg import sql

    try:
        conn = psycopg.connect(
            host=cfg["host"], port=cfg["port"], user=cfg["user"], password=cfg["password"] or None, dbname="postgres"
        )
    except psycopg.OperationalError as exc:
        raise BenchError(f"PostgreSQL is unreachable at {cfg['host']}:{cfg['port']}: {exc}") from exc
    conn.autocommit = True
    with conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(cfg["name"])))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["name"])))


# -- setup ----------------------------------------------------------------------------------

TRANSFERS_SQL = """
INSERT INTO accounts_transfer (id, created_at, updated_at, kind, client, idempotency_key, fingerprint, amount, memo,
                               metadata, channel)
SELECT %(base)s + i, ts, ts, CASE WHEN i %% 4 = 3 THEN 'withdrawal' ELSE 'recharge' END, 'bench-exports',
       'bx-' || i, '', amt,
       CASE WHEN i %% 1000 = 0 THEN '=HYPERLINK("http://x")' ELSE 'bench entry ' || i END, '{}'::jsonb, 'non_counter'
FROM (SELECT i, %(start)s::timestamptz + i * interval '30 seconds' AS ts, 100 + (i * 37) %% 9900 AS amt
      FROM generate_series(1, %(n)s) AS i) AS s
"""
# One leg on the account (credit for a recharge, debit for a withdrawal), its mirror on clearing;
# each leg's balance after is the opening balance plus the running sum of the signed amounts.
ENTRIES_SQL = """
INSERT INTO accounts_entry (side, amount, balance_after, subject, created_at, account_id, transfer_id)
SELECT CASE WHEN (i %% 4 = 3) = %(debit_on_withdrawal)s THEN 'D' ELSE 'C' END, amt,
       %(opening)s + sum(CASE WHEN i %% 4 = 3 THEN -amt ELSE amt END) OVER (ORDER BY i) * %(sign)s,
       %(subject)s, ts, %(account)s, %(base)s + i
FROM (SELECT i, %(start)s::timestamptz + i * interval '30 seconds' AS ts, 100 + (i * 37) %% 9900 AS amt
      FROM generate_series(1, %(n)s) AS i) AS s
"""


def setup(cfg: dict) -> dict:
    recreate_database(cfg)
    started = time.monotonic()
    done = subprocess.run(
        [str(PYTHON), "manage.py", "migrate", "--noinput"], env=django_env(cfg), cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchError("manage.py migrate failed: " + " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:]))
    django_setup(cfg)
    import datetime as dt
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from accounts.ledger import postings as ledger
    from accounts.ledger.chart import Role
    from accounts.ledger.models import Account
    from accounts.ledger.selectors import internal_account
    from accounts.ledger.services import account_create_row
    from accounts.parties import identity
    from accounts.parties.services import party_create

    with transaction.atomic():
        party = party_create(
            type="person", name="对账单 bench", id_number=identity.make_id_number(born=dt.date(1980, 1, 1), sequence=1)
        )
        account = account_create_row(
            party=party,
            name="bench statement",
            role=Role.LENDER,
            tier=Account.Tier.CLASS_I,
            kind=Account.Kind.CUSTOMER,
            state=Account.State.ACTIVE,
            internal=False,
        )
        user = get_user_model().objects.create_user(username="bench-holder", password="bench-only-password-2026")
        party.portal_users.add(user)
    clearing = internal_account(Role.CLEARING)
    ledger.post_transfer(
        client="bench-setup",
        idempotency_key="opening",
        kind="funding",
        legs=ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=Decimal("1000000.00")),
    )
    account.refresh_from_db()
    clearing.refresh_from_db()
    n = cfg["entries"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM accounts_transfer")
        base = cursor.fetchone()[0]
        start = "2025-12-01 00:00:00+08"
        cursor.execute(TRANSFERS_SQL, {"base": base, "start": start, "n": n})
        # The account (normal side credit): a recharge credits it, a withdrawal debits it.
        cursor.execute(
            ENTRIES_SQL,
            {
                "debit_on_withdrawal": True,
                "opening": int(account.balance * 100),
                "sign": 1,
                "subject": account.subject_id,
                "account": account.pk,
                "base": base,
                "start": start,
                "n": n,
            },
        )
        # Clearing (normal side debit): the mirror legs; its balance moves with the account's.
        cursor.execute(
            ENTRIES_SQL,
            {
                "debit_on_withdrawal": False,
                "opening": int(clearing.balance * 100),
                "sign": 1,
                "subject": clearing.subject_id,
                "account": clearing.pk,
                "base": base,
                "start": start,
                "n": n,
            },
        )
        for target in (account, clearing):
            cursor.execute(
                "UPDATE accounts_account SET balance = (SELECT balance_after FROM accounts_entry WHERE account_id = %s"
                " ORDER BY created_at DESC, id DESC LIMIT 1) WHERE id = %s",
                [target.pk, target.pk],
            )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('accounts_transfer', 'id'), (SELECT max(id) FROM accounts_transfer))"
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('accounts_entry', 'id'), (SELECT max(id) FROM accounts_entry))")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"account": account.pk, "number": account.number, "user": user.pk, "setup_s": time.monotonic() - started}


# -- measurements (each in its own process) --------------------------------------------------------


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(cfg: dict, what: str, account_id: int, user_id: int) -> dict:
    django_setup(cfg)
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import Client, override_settings
    from django.urls import reverse

    from accounts.exports.models import ExportJob
    from accounts.exports.services import export_job_run
    from accounts.exports.statements import PORTAL, StatementQuery
    from accounts.ledger.models import Account

    account = Account.objects.get(pk=account_id)
    user = get_user_model().objects.get(pk=user_id)
    baseline = peak_mib()
    result: dict = {"case": what, "baseline_mib": baseline}
    started = time.monotonic()
    if what == "request":
        client = Client()
        client.force_login(user)
        # The worker's part is measured on its own: here the task is only "sent" (a stub).
        from backoffice import tasks

        sent = []
        tasks.enqueue_on_commit = lambda name, *args, **kwargs: sent.append((name, args))  # type: ignore[assignment]
        from accounts.exports import services

        services.enqueue_on_commit = tasks.enqueue_on_commit
        started = time.monotonic()
        response = client.get(reverse("portal:statement_export", args=[account.number]) + "?format=xlsx")
        result.update(status=response.status_code, location=response.get("Location", ""), sent=len(sent))
    elif what.startswith("job"):
        fmt = what.split()[1]
        with transaction.atomic():
            job = ExportJob.objects.create(
                owner=user,
                audience=PORTAL,
                account=account,
                fmt=fmt,
                params=StatementQuery(account_id=account.pk, audience=PORTAL).to_params(),
                language="zh-hans",
                rows_total=0,
            )
        started = time.monotonic()
        job = export_job_run(job_id=job.pk)
        result.update(state=job.state, rows=job.rows_done, bytes=job.file.size if job.file else 0, error=job.error)
    elif what == "stream csv":
        client = Client()
        client.force_login(user)
        with override_settings(ACCOUNTS_EXPORT_SYNC_MAX_ROWS=10**12):
            started = time.monotonic()
            response = client.get(reverse("portal:statement_export", args=[account.number]) + "?format=csv")
            first_byte = None
            size = 0
            for chunk in response.streaming_content:
                if first_byte is None:
                    first_byte = time.monotonic() - started
                size += len(chunk)
        result.update(status=response.status_code, bytes=size, first_byte_s=first_byte)
    else:
        raise BenchError(f"unknown case {what!r}")
    result["seconds"] = time.monotonic() - started
    result["peak_mib"] = peak_mib()
    return result


def run_child(cfg: dict, what: str, ids: dict) -> dict:
    done = subprocess.run(
        [str(PYTHON), __file__, "--child", what, str(ids["account"]), str(ids["user"])],
        env=dict(os.environ, BENCH_EXPORT_MEDIA=cfg["media"]),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BenchError(f"{what} failed: " + " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:]))
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(cfg: dict, setup_info: dict, results: list[dict]) -> None:
    print(
        f"\nStatement export of {cfg['entries']:,} entries (account {setup_info['number']}); setup {setup_info['setup_s']:.0f} s"
    )
    print(f"{'case':<12} {'time s':>9} {'peak MiB':>9} {'goal':>12} {'size MiB':>9}  note")
    for r in results:
        goal = f"< {GOAL_MIB} MiB"
        if r["case"] == "request":
            goal = f"< {SERVER_TIMEOUT_S} s"
            note = f"HTTP {r['status']} -> {r['location']} (job queued: {r['sent']})"
            ok = r["seconds"] < SERVER_TIMEOUT_S and r["peak_mib"] < GOAL_MIB
        elif r["case"] == "stream csv":
            note = f"HTTP {r['status']}, first byte after {r['first_byte_s']:.2f} s"
            ok = r["peak_mib"] < GOAL_MIB
        else:
            note = f"{r['state']}, {r['rows']:,} rows {r.get('error') or ''}".strip()
            ok = r["peak_mib"] < GOAL_MIB and r["state"] == "done"
        size = r.get("bytes", 0) / 2**20
        print(
            f"{r['case']:<12} {r['seconds']:>9.1f} {r['peak_mib']:>9.0f} {goal:>12} {size:>9.1f}  "
            f"{'OK' if ok else 'MISSED'}; {note}; baseline {r['baseline_mib']:.0f} MiB"
        )


def main() -> int:
    cfg = config()
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        result = child(cfg, sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps(result, default=str))
        return 0
    cases = [c.strip() for c in (os.environ.get("BENCH_EXPORT_CASES") or "request,job csv,job xlsx,stream csv").split(",")]
    if os.environ.get("BENCH_EXPORT_REUSE") == "1":  # measure again on the database of the last run
        info = json.loads((OUT_DIR / "exports.json").read_text())["setup"]
        django_setup(cfg)
    else:
        info = setup(cfg)
    results = [run_child(cfg, case, info) for case in cases]
    print_table(cfg, info, results)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "exports.json").write_text(json.dumps({"entries": cfg["entries"], "setup": info, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench/exports.py: {exc}", file=sys.stderr)
        sys.exit(2)
