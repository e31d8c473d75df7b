"""Where does post_transfer spend its time? Round trips and Python time, one process.

    .venv/bin/python bench/ledger_profile.py          # after `make bench` (uses bench_ledger)

Prints the SQL statements of one post_transfer (CaptureQueriesContext) and the wall time per
transfer of: accounts.ledger.postings.post_transfer as configured (on PostgreSQL: the server-side function
ledger_post_transfer(), one round trip), the ledger's Python path (settings.LEDGER_PG_FUNCTION =
False, as with guards and on SQLite: six statements), and the bench-local raw-SQL prototype
bench/fastledger.post_transfer (the "before" reference that led to the function); then a
cProfile summary of the default path (stdlib; no py-spy). BENCH_PROFILE_N=<transfers> (500).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import random
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> int:
    url = os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/bench_ledger"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.ledger import postings as ledger
    from accounts.ledger.models import Account
    from bench import fastledger

    n = int(os.environ.get("BENCH_PROFILE_N") or 500)
    ids = list(Account.objects.filter(kind="customer", balance__gte=Decimal("100")).values_list("pk", flat=True)[:10000])
    if len(ids) < 2:
        print("bench_ledger has no funded accounts: run `make bench` first", file=sys.stderr)
        return 2
    rng = random.Random(1)
    run = uuid.uuid4().hex[:8]

    def transfer(post, i, tag):
        src, dst = rng.sample(ids, 2)
        return post(
            client="bench-profile",
            idempotency_key=f"{run}-{tag}-{i}",
            kind="bench",
            legs=ledger.move(from_account_id=src, to_account_id=dst, amount=Decimal("0.01")),
            memo="bench",
        )

    variants = (
        ("accounts.ledger.postings.post_transfer (PostgreSQL function)", True, ledger.post_transfer),
        ("accounts.ledger.postings Python path (LEDGER_PG_FUNCTION=False)", False, ledger.post_transfer),
        ("bench.fastledger (raw-SQL prototype)", True, fastledger.post_transfer),
    )
    for label, use_function, post in variants:
        settings.LEDGER_PG_FUNCTION = use_function  # in this process only
        transfer(post, -1, label)  # warm caches
        with CaptureQueriesContext(connection) as ctx:
            transfer(post, 0, label)
        print(f"== {label}: {len(ctx.captured_queries)} SQL statements per transfer")
        for q in ctx.captured_queries:
            print(f"   {q['time']}s  {q['sql'][:160]}")
        t0 = time.perf_counter()
        for i in range(1, n + 1):
            transfer(post, i, label)
        wall = (time.perf_counter() - t0) / n
        print(f"   {wall * 1000:.2f} ms per transfer, {1 / wall:,.0f} tps in one process\n")
    settings.LEDGER_PG_FUNCTION = True

    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(n):
        transfer(ledger.post_transfer, i, "cprofile")
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(25)
    print("== cProfile of accounts.ledger.postings.post_transfer, by own time")
    print("\n".join(out.getvalue().splitlines()[:60]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
