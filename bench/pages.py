"""Deep-page latency of the partner API's lists on PostgreSQL: the first and the last page of an account's
entries, by cursor (the default) and by number (``?page=``), in one run.

    make bench-pages                # or: .venv/bin/python bench/pages.py

One customer account gets BENCH_PAGE_ENTRIES entries (default 250,000, the statement the throughput issue
measured): one real voucher through the ledger, then copies of it made in SQL, alternating in direction so
that the account's balance and every ``balance_after`` stay true (``ledger_check`` clean). Each request is a
signed GET through the whole Django stack in this process (middleware, signature, nonce, the view), timed
BENCH_PAGE_REPEAT times (default 30); the table gives the median and the 95th percentile in milliseconds
and the ratio of each page to the first, beside the goal (the last page costs what the first does: ≤ 1.5×).

Settings (environment): BENCH_PAGES_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_pages,
dropped and recreated), BENCH_PAGE_ENTRIES, BENCH_PAGE_REPEAT, BENCH_PAGE_SIZE (50).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PYTHON = ROOT / ".venv" / "bin" / "python"
DATABASE_URL = os.environ.get("BENCH_PAGES_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/bench_pages"
ENTRIES = int(os.environ.get("BENCH_PAGE_ENTRIES") or 250_000)
REPEAT = int(os.environ.get("BENCH_PAGE_REPEAT") or 30)
PAGE_SIZE = int(os.environ.get("BENCH_PAGE_SIZE") or 50)
GOAL_RATIO = 1.5


def _env() -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=DATABASE_URL,
        SECRET_KEY=env.get("SECRET_KEY") or "bench-only-not-secret",
        DJANGO_SETTINGS_MODULE="backoffice.settings",
        DEBUG="false",
        LOG_LEVEL="WARNING",
    )
    return env


def recreate_database() -> None:
    import psycopg
    from psycopg import sql

    url = urlparse(DATABASE_URL)
    name = url.path.lstrip("/")
    with psycopg.connect(
        host=url.hostname, port=url.port or 5432, user=url.username or "postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup() -> dict:
    """Migrate; two accounts; one voucher A→B through the ledger, then ENTRIES-1 more in SQL, alternating."""
    recreate_database()
    subprocess.run([str(PYTHON), "manage.py", "migrate", "--noinput"], cwd=ROOT, env=_env(), check=True, capture_output=True)
    os.environ.update(_env())
    import django

    django.setup()
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
            type="person", name="bench pages", id_number=identity.make_id_number(born=dt.date(1970, 1, 1), sequence=7)
        )
        a, b = (
            account_create_row(
                party=party,
                name=f"bench pages {i}",
                role=Role.LENDER,
                tier=Account.Tier.CLASS_I,
                kind=Account.Kind.CUSTOMER,
                state=Account.State.ACTIVE,
                internal=False,
            )
            for i in range(2)
        )
    clearing = internal_account(Role.CLEARING)
    ledger.post_transfer(
        client="bench",
        idempotency_key="fund",
        kind="funding",
        legs=ledger.move(from_account_id=clearing.pk, to_account_id=a.pk, amount="100.00"),
    )
    first = ledger.post_transfer(
        client="bench",
        idempotency_key="t-0",
        kind="transfer",
        legs=ledger.move(from_account_id=a.pk, to_account_id=b.pk, amount="1.00"),
    )
    copies = ENTRIES - 2  # the account has its funding entry and the first transfer's
    copies -= copies % 2  # an even number of copies: both balances end where the real vouchers left them
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # g = 1..copies: odd g moves B→A (A credited), even g moves A→B; A's balance after g is 99.00 or 100.00.
        cursor.execute(
            """
            INSERT INTO accounts_transfer (created_at, updated_at, kind, client, idempotency_key, fingerprint, amount,
                                           memo, metadata, channel)
            SELECT t.created_at + g * interval '1 millisecond', t.updated_at, t.kind, t.client, 't-' || g,
                   t.fingerprint, t.amount, t.memo, t.metadata, t.channel
            FROM accounts_transfer t, generate_series(1, %s) g WHERE t.id = %s
            """,
            [copies, first.pk],
        )
        cursor.execute(
            """
            INSERT INTO accounts_entry (transfer_id, account_id, side, amount, balance_after, subject, created_at)
            SELECT t.id, e.account_id,
                   CASE WHEN mod(g, 2) = 1 THEN (CASE e.side WHEN 'D' THEN 'C' ELSE 'D' END) ELSE e.side END,
                   e.amount,
                   CASE WHEN mod(g, 2) = 1 THEN e.balance_after + (CASE WHEN e.account_id = %s THEN 1 ELSE -1 END) * e.amount
                        ELSE e.balance_after END,
                   e.subject, t.created_at
            FROM accounts_transfer t
            JOIN LATERAL (SELECT substr(t.idempotency_key, 3)::int AS g) k ON true
            JOIN accounts_entry e ON e.transfer_id = %s
            WHERE t.client = 'bench' AND t.idempotency_key LIKE 't-%%' AND t.id <> %s
            """,
            [a.pk, first.pk, first.pk],
        )
        cursor.execute("ANALYZE")
    seconds = time.perf_counter() - started
    entries = Account.objects.get(pk=a.pk).entries.count()
    return {"account": a.number, "entries": entries, "setup_seconds": seconds}


def check_books() -> str:
    done = subprocess.run(
        [str(PYTHON), "manage.py", "ledger_check"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900
    )
    return "clean" if done.returncode == 0 else f"DRIFT: {done.stdout[-300:]}{done.stderr[-300:]}"


def measure(number: str, entries: int) -> list[dict]:
    from django.test import Client

    from accounts.ledger.models import Entry
    from backoffice.services import api_client_create
    from backoffice.signing import signed_headers

    api_client, secret = api_client_create(name="bench pages", scopes=["accounts:read", f"account:{number}"])
    http = Client()

    def get(path: str) -> tuple[float, dict]:
        headers = signed_headers(api_client.client_id, secret, "GET", path, b"")
        started = time.perf_counter()
        response = http.get(path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.content[:300]!r}")
        return elapsed, response.json()

    base = f"/api/v1/accounts/{number}/entries/?page_size={PAGE_SIZE}"
    # The cursor of the last page: the key of the row just before it, as a client walking every page would hold.
    tail = entries % PAGE_SIZE or PAGE_SIZE
    before_last = Entry.objects.filter(account__number=number).order_by("-created_at", "-pk")[entries - tail - 1]
    key = [before_last.created_at.isoformat(), str(before_last.pk)]
    cursor = base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")
    last_number = (entries + PAGE_SIZE - 1) // PAGE_SIZE
    cases = [
        ("cursor, first page", base),
        ("cursor, last page", f"{base}&cursor={cursor}"),
        ("?page=, first page", f"{base}&page=1"),
        ("?page=, last page", f"{base}&page={last_number}"),
    ]
    rows = []
    for name, path in cases:
        get(path)  # warm
        times = []
        for _ in range(REPEAT):
            elapsed, body = get(path)
            times.append(elapsed)
        times.sort()
        rows.append(
            {
                "case": name,
                "rows": len(body["results"]),
                "median_ms": statistics.median(times),
                "p95_ms": times[int(0.95 * (len(times) - 1))],
            }
        )
    anchor = rows[0]["median_ms"]
    for row in rows:
        row["ratio"] = row["median_ms"] / anchor
    return rows


def main() -> int:
    setup_info = setup()
    rows = measure(setup_info["account"], setup_info["entries"])
    books = check_books()
    print(f"\nAPI list pages: one account with {setup_info['entries']:,} entries, page_size {PAGE_SIZE}, {REPEAT} requests each")
    print(f"(entries made in {setup_info['setup_seconds']:.1f} s; ledger_check {books})\n")
    print(f"| {'case':<20} | rows | median ms | p95 ms | × first page | goal |")
    print(f"| {'-' * 20} | ---: | --------: | -----: | -----------: | ---- |")
    for row in rows:
        goal = f"≤ {GOAL_RATIO}×" if row["case"] == "cursor, last page" else ""
        print(
            f"| {row['case']:<20} | {row['rows']:>4} | {row['median_ms']:>9.1f} | {row['p95_ms']:>6.1f} |"
            f" {row['ratio']:>11.2f}× | {goal} |"
        )
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "pages.json").write_text(json.dumps({"setup": setup_info, "books": books, "rows": rows}, indent=2))
    cursor_last = next(r for r in rows if r["case"] == "cursor, last page")
    return 0 if cursor_last["ratio"] <= GOAL_RATIO and books == "clean" else 1


if __name__ == "__main__":
    sys.exit(main())
