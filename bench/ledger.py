"""Ledger throughput on PostgreSQL against the raw-SQL pgbench anchor, in one run.

    make bench                      # or: .venv/bin/python bench/ledger.py

Measures transfers posted per second through ``accounts.ledger.postings.post_transfer`` with 1 and 8
worker processes (random accounts among BENCH_ACCOUNTS, and one hot account debited on every
transfer), runs the anchor of ../shared/bench-anchor/ (the same two-account transfer as plain SQL
through pgbench) in the same run, prints the ratio, and does the same through the signed API
served by the production server (gunicorn gthread, README "Deployment"; granian, gunicorn sync or uWSGI
through BENCH_API_CONFIGS). One table on stdout, the same as JSON in bench/out/ledger.json.

Settings (environment): BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/bench_ledger), BENCH_ANCHOR_DATABASE (bench_anchor),
BENCH_SECONDS (10 per cell), BENCH_ACCOUNTS (10000), BENCH_API_WORKERS (web server worker processes, 2),
BENCH_API_CLIENTS (load generator processes, 8), BENCH_BATCH (vouchers per post_transfers batch, 100),
BENCH_PROTOTYPE (1: also measure the bench-local fast path of bench/fastledger.py), BENCH_CELLS (a comma list
of random, hot, hot internal, batch, api: only those cells; default all), BENCH_API_WORKER_CLASS (gthread: gunicorn's,
as in production; or sync, granian, or uwsgi when pyuwsgi is installed) and BENCH_API_THREADS (4: Python threads a
worker), or BENCH_API_CONFIGS (granian:2x4,gthread:2x4,sync:4: one API cell each).
Both databases are dropped and recreated.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import random
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import apiload  # noqa: E402  (needs ROOT on sys.path)

ANCHOR_DIR = Path(os.environ.get("BENCH_ANCHOR_DIR") or ROOT.parent / "shared" / "bench-anchor")
OUT_DIR = ROOT / "bench" / "out"
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
GRANIAN = ROOT / ".venv" / "bin" / "granian"
UWSGI = ROOT / ".venv" / "bin" / "uwsgi"
SECRET_KEY = os.environ.get("SECRET_KEY") or "bench-only-not-secret"
CLIENT = "bench"

# Money per customer account (random case) and on the hot account: transfers move 0.01-1.00,
# so refusals are rare; they are counted and reported, never hidden.
FUND_EACH = Decimal("1000.00")
FUND_HOT = Decimal("100000000.00")
FUND_CHUNK = 1000  # accounts credited by one n-leg funding voucher


class BenchError(RuntimeError):
    """A precondition failed: printed as one clear line, no traceback."""


# -- configuration -------------------------------------------------------------------------


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise BenchError(f"{name}={value!r} is not an integer") from exc


CELLS = frozenset({"random", "hot", "hot internal", "batch", "api"})
SERVERS = ("gthread", "sync", "granian", "uwsgi")  # the web servers the API cell can run (gunicorn's two classes first)
API_TARGET = 0.3  # the signed API against pgbench random at 8 clients (issue #14)


class Config:
    def __init__(self) -> None:
        self.ledger_url = os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/bench_ledger"
        parsed = urlparse(self.ledger_url)
        if parsed.scheme not in ("postgres", "postgresql", "pgsql"):
            raise BenchError(f"BENCH_DATABASE_URL must be a postgres:// URL, not {self.ledger_url!r}")
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 5432
        self.user = unquote(parsed.username or "postgres")
        self.password = unquote(parsed.password or "")
        self.ledger_db = unquote(parsed.path.lstrip("/")) or "bench_ledger"
        self.anchor_db = os.environ.get("BENCH_ANCHOR_DATABASE") or "bench_anchor"
        for name in (self.ledger_db, self.anchor_db):
            # Both are dropped and recreated: refuse anything that is not obviously a bench database.
            if not re.fullmatch(r"bench[A-Za-z0-9_]*", name):
                raise BenchError(f"refusing to drop and recreate database {name!r}: its name must start with 'bench'")
        if self.ledger_db == self.anchor_db:
            raise BenchError("the ledger and anchor databases must differ")
        self.seconds = _env_int("BENCH_SECONDS", 10)
        self.accounts = _env_int("BENCH_ACCOUNTS", 10000)
        self.api_workers = _env_int("BENCH_API_WORKERS", 2)
        self.api_clients = _env_int("BENCH_API_CLIENTS", 8)
        self.batch = _env_int("BENCH_BATCH", 100)
        self.prototype = os.environ.get("BENCH_PROTOTYPE", "").lower() in ("1", "true", "yes", "on")
        cells = {c.strip() for c in os.environ.get("BENCH_CELLS", "").split(",") if c.strip()}
        if cells - CELLS:
            raise BenchError(f"BENCH_CELLS names unknown cells {sorted(cells - CELLS)}; known: {sorted(CELLS)}")
        self.cells = cells or set(CELLS)
        self.api_worker_class = os.environ.get("BENCH_API_WORKER_CLASS") or "gthread"
        if self.api_worker_class not in SERVERS:
            raise BenchError(f"BENCH_API_WORKER_CLASS={self.api_worker_class!r} is not one of {', '.join(SERVERS)}")
        self.api_threads = _env_int("BENCH_API_THREADS", 4)
        # Requests each load generator signs before the cell starts (then signs on the fly): 0 signs every one in
        # the timed loop, on the cores the server uses.
        self.api_presign = _env_int("BENCH_API_PRESIGN", 3000)
        if self.seconds < 1 or self.accounts < 10:
            raise BenchError("BENCH_SECONDS must be >= 1 and BENCH_ACCOUNTS >= 10")
        self.pgbench = os.environ.get("BENCH_PGBENCH") or shutil.which("pgbench") or "/usr/bin/pgbench"
        self.psql = shutil.which("psql") or "/usr/bin/psql"

    def pg_env(self) -> dict:
        env = dict(os.environ, PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user, PGCONNECT_TIMEOUT="5")
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def django_env(self) -> dict:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.ledger_url,
            SECRET_KEY=SECRET_KEY,
            DJANGO_SETTINGS_MODULE="backoffice.settings",
            DEBUG="false",
            ALLOWED_HOSTS="127.0.0.1",
            LOG_LEVEL="WARNING",
        )
        return env


# -- databases -----------------------------------------------------------------------------


def _admin_connect(cfg: Config, dbname: str = "postgres"):
    import psycopg

    try:
        return psycopg.connect(
            host=cfg.host,
            port=cfg.port,
            user=cfg.user,
            password=cfg.password or None,
            dbname=dbname,
            connect_timeout=5,
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise BenchError(f"PostgreSQL is unreachable at {cfg.host}:{cfg.port} as {cfg.user}: {first}") from exc


def recreate_database(cfg: Config, name: str) -> None:
    from psycopg import sql

    with _admin_connect(cfg) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def check_tools(cfg: Config) -> None:
    for tool in (cfg.pgbench, cfg.psql):
        if not (Path(tool).is_file() and os.access(tool, os.X_OK)):
            raise BenchError(f"{Path(tool).name} is not installed ({tool} not found); install the PostgreSQL client tools")
    for script in ("transfer_schema.sql", "transfer.sql", "transfer_hot.sql", "consistency.sql"):
        if not (ANCHOR_DIR / script).is_file():
            raise BenchError(f"the raw-SQL anchor is missing: {ANCHOR_DIR / script} (set BENCH_ANCHOR_DIR)")
    _admin_connect(cfg).close()


def _run(cmd: list, *, env: dict, timeout: float, what: str) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what} did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BenchError(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))
    return done


# -- the ledger database -------------------------------------------------------------------


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", SECRET_KEY)
    os.environ["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DEBUG"] = "false"
    import django

    django.setup()


def setup_ledger(cfg: Config) -> dict:
    """Migrate, open the accounts through accounts.services, fund them through the real ledger."""
    recreate_database(cfg, cfg.ledger_db)
    _run([str(PYTHON), "manage.py", "migrate", "--noinput"], env=cfg.django_env(), timeout=900, what="manage.py migrate")
    django_setup(cfg.ledger_url)
    from django.db import connections, transaction

    from accounts.ledger import postings as ledger
    from accounts.ledger.chart import CREDIT, DEBIT, Role
    from accounts.ledger.models import Account
    from accounts.ledger.selectors import internal_account
    from accounts.ledger.services import account_create_row
    from accounts.parties import identity
    from accounts.parties.services import party_create

    n = cfg.accounts
    with transaction.atomic():
        parties = [
            party_create(
                type="person",
                name=f"bench party {i}",
                # A valid, distinct resident ID number per party (party_create requires one).
                id_number=identity.make_id_number(born=dt.date(1960, 1, 1) + dt.timedelta(days=i), sequence=i % 1000),
            )
            for i in range(max(1, n // 100))
        ]
        accounts = []
        for i in range(n + 1):  # the last one is the hot account
            accounts.append(
                account_create_row(
                    party=parties[i % len(parties)],
                    name=f"bench {i}" if i < n else "bench hot account",
                    role=Role.LENDER,
                    tier=Account.Tier.CLASS_I,
                    kind=Account.Kind.CUSTOMER,
                    state=Account.State.ACTIVE,
                    internal=False,
                )
            )
    clearing = internal_account(Role.CLEARING)
    pool, hot = accounts[:n], accounts[n]
    for start in range(0, n, FUND_CHUNK):
        chunk = pool[start : start + FUND_CHUNK]
        legs = [ledger.Leg(clearing.pk, DEBIT, FUND_EACH * len(chunk))]
        legs += [ledger.Leg(a.pk, CREDIT, FUND_EACH) for a in chunk]
        ledger.post_transfer(client="bench-setup", idempotency_key=f"fund-{start}", kind="funding", legs=legs)
    ledger.post_transfer(
        client="bench-setup",
        idempotency_key="fund-hot",
        kind="funding",
        legs=ledger.move(from_account_id=clearing.pk, to_account_id=hot.pk, amount=FUND_HOT),
    )
    with connections["default"].cursor() as cursor:
        cursor.execute("ANALYZE")
    connections.close_all()
    return {
        "ids": [a.pk for a in pool],
        "numbers": [a.number for a in pool],
        "hot": hot.pk,
        "hot_number": hot.number,
        "clearing": clearing.pk,
    }


def ledger_check(cfg: Config) -> tuple[bool, str]:
    done = subprocess.run(
        [str(PYTHON), "manage.py", "ledger_check"],
        env=cfg.django_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [ln for ln in (done.stdout + done.stderr).strip().splitlines() if ln.strip()]
    summary = [ln for ln in lines if ln.startswith(("accounts checked", "debit balances"))]
    if done.returncode == 0:
        return True, "clean: " + "; ".join(summary + [lines[-1] if lines else ""])
    drifts = [ln for ln in lines if "drift" in ln.lower()]
    return False, f"DRIFT (exit {done.returncode}): " + "; ".join(drifts[-3:] or lines[-3:])


# -- ledger workers ------------------------------------------------------------------------


def _ledger_worker(spec: dict, index: int, barrier, results) -> None:
    """One process: post transfers for spec['seconds'] after the common start barrier."""
    try:
        django_setup(spec["database_url"])
        from django.db import connection

        from accounts.ledger import postings as ledger
        from accounts.ledger.errors import InsufficientFundsError

        post = ledger.post_transfer
        if spec.get("prototype"):
            from bench import fastledger

            post = fastledger.post_transfer
        ids, hot = spec["ids"], spec["hot"]
        if spec.get("own_share"):
            # This process is one platform: it moves money only among its own share of the accounts (a
            # custody sub-account belongs to one platform), as a platform's bulk payouts do.
            share = len(ids) // spec["processes"]
            ids = ids[index * share : (index + 1) * share]
        # "transfer" between customer accounts; the hot internal cell posts the kind its posting
        # rule allows on the internal account (spec["kind"], e.g. "funding": clearing → customer).
        kind = spec.get("kind") or "transfer"
        rng = random.Random(f"{spec['run']}-{spec['case']}-{index}")
        connection.ensure_connection()
        prefix = f"{spec['run']}-{spec['case']}-{spec['processes']}-{index}-"
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which stops the cell
        barrier.abort()
        results.put({"index": index, "fatal": f"{exc.__class__.__name__}: {exc}"})
        return
    done = refused = errors = 0
    first_error = ""
    try:
        barrier.wait(timeout=120)
    except Exception:  # noqa: BLE001 - a sibling failed: report nothing done
        results.put({"index": index, "fatal": "start barrier broken"})
        return
    start = time.monotonic()
    cpu_start = time.process_time()
    deadline = start + spec["seconds"]
    seq = 0
    batch = spec.get("batch") or 0
    while batch and time.monotonic() < deadline:
        # post_transfers: `batch` vouchers in one transaction and one commit; on PostgreSQL (no guards here)
        # one call of ledger_post_transfers(), in autocommit: one round trip a batch.
        items = []
        for _ in range(batch):
            seq += 1
            src, dst = (hot, rng.choice(ids)) if hot is not None else rng.sample(ids, 2)
            amount = Decimal(rng.randint(1, 100)).scaleb(-2)
            items.append(
                ledger.BatchItem(
                    idempotency_key=prefix + str(seq),
                    legs=ledger.move(from_account_id=src, to_account_id=dst, amount=amount),
                    memo="bench",
                )
            )
        try:
            outcomes = ledger.post_transfers(client=CLIENT, kind="transfer", items=items)
        except Exception as exc:  # noqa: BLE001 - counted and reported, the loop goes on
            errors += len(items)
            first_error = first_error or f"{exc.__class__.__name__}: {exc}"
            if errors > 1000 and done == 0:
                break
            continue
        done += sum(1 for outcome in outcomes if outcome.error is None)
        refused += sum(1 for outcome in outcomes if isinstance(outcome.error, InsufficientFundsError))
        for outcome in outcomes:
            if outcome.error is not None and not isinstance(outcome.error, InsufficientFundsError):
                errors += 1
                first_error = first_error or f"{outcome.error.__class__.__name__}: {outcome.error}"
    while not batch and time.monotonic() < deadline:
        seq += 1
        if hot is not None:
            src, dst = hot, rng.choice(ids)
        else:
            src, dst = rng.sample(ids, 2)
        amount = Decimal(rng.randint(1, 100)).scaleb(-2)
        try:
            post(
                client=CLIENT,
                idempotency_key=prefix + str(seq),
                kind=kind,
                legs=ledger.move(from_account_id=src, to_account_id=dst, amount=amount),
                memo="bench",
            )
            done += 1
        except InsufficientFundsError:
            refused += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported, the loop goes on
            errors += 1
            if not first_error:
                first_error = f"{exc.__class__.__name__}: {exc}"
            if errors > 1000 and done == 0:
                break
    elapsed = time.monotonic() - start
    cpu = time.process_time() - cpu_start
    results.put(
        {
            "index": index,
            "done": done,
            "refused": refused,
            "errors": errors,
            "first_error": first_error,
            "elapsed": elapsed,
            "cpu": cpu,
        }
    )


def run_processes(target, spec: dict, processes: int, *, settle_with: Config | None = None) -> dict:
    """Start ``processes`` spawn workers behind one barrier, collect their counts, bounded in time."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(spec, i, barrier, results), daemon=True) for i in range(processes)]
    if settle_with is not None:
        settle(settle_with)
    server_before = postgres_cpu_seconds()
    for proc in procs:
        proc.start()
    collected = []
    deadline = time.monotonic() + spec["seconds"] + 180
    while len(collected) < processes and time.monotonic() < deadline:
        try:
            collected.append(results.get(timeout=1))
        except Exception:  # noqa: BLE001 - queue.Empty: check that the workers are still alive
            if not any(p.is_alive() for p in procs) and results.empty():
                break
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
    server_after = postgres_cpu_seconds(after=True)
    fatal = [r["fatal"] for r in collected if "fatal" in r]
    if fatal or len(collected) < processes:
        raise BenchError(f"{spec['case']} with {processes} process(es) failed: {fatal[0] if fatal else 'workers died'}")
    done = sum(r["done"] for r in collected)
    other: dict = {}
    for r in collected:
        for key, count in r.get("other", {}).items():
            other[key] = other.get(key, 0) + count
    elapsed = max(r["elapsed"] for r in collected)
    errors = sum(r["errors"] for r in collected)
    handled = done + sum(r["refused"] for r in collected)
    return {
        "client_cpu_ms": round(1000 * sum(r.get("cpu", 0.0) for r in collected) / handled, 3) if handled else None,
        "server_cpu_ms": _per_transfer(server_before, server_after, handled),
        "tps": done / elapsed if elapsed else 0.0,
        "done": done,
        "refused": sum(r["refused"] for r in collected),
        "errors": errors,
        "first_error": next((r["first_error"] for r in collected if r["first_error"]), ""),
        "other": other,
        "elapsed": elapsed,
    }


# -- the anchor ----------------------------------------------------------------------------


def setup_anchor(cfg: Config) -> None:
    recreate_database(cfg, cfg.anchor_db)
    _run(
        [cfg.psql, "-q", "-X", "-v", "ON_ERROR_STOP=1", "-v", f"naccounts={cfg.accounts}", "-d", cfg.anchor_db]
        + ["-f", str(ANCHOR_DIR / "transfer_schema.sql")],
        env=cfg.pg_env(),
        timeout=300,
        what="psql transfer_schema.sql",
    )


_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)
_TPS_ANY = re.compile(r"^tps = ([0-9.]+)", re.M)
_FAILED = re.compile(r"number of failed transactions: (\d+)")
_PROCESSED = re.compile(r"number of transactions actually processed: (\d+)")


#: How long a closed connection's backend may take to exit and be reaped by the postmaster (only then is its CPU in
#: the postmaster's cutime): each reading after a cell waits this long first.
REAP_WAIT_S = 1.0


def _processes() -> dict[int, tuple[str, list[str]]] | None:
    """Every process this user may read in /proc: pid -> (command name, the stat fields after it: state is [0],
    ppid [1], utime [11], stime [12], cutime [13], cstime [14], in clock ticks). None when /proc cannot be read."""
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue  # exited meanwhile, or not ours to read
        found[int(pid)] = (stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split())
    return found


def postgres_cpu_seconds(*, after: bool = False) -> float | None:
    """CPU seconds (user + system) the local PostgreSQL server has used so far: every process named postgres,
    plus what its postmaster's exited children (the backends of closed connections) used. None when the server
    is not on this machine or /proc cannot be read. A difference of two readings is the server's CPU between."""
    if after:
        time.sleep(REAP_WAIT_S)
    processes = _processes()
    if processes is None:
        return None
    total, found = 0, False
    for comm, fields in processes.values():
        if comm != "postgres":
            continue
        found = True
        total += int(fields[11]) + int(fields[12])  # utime, stime
        parent = processes.get(int(fields[1]))
        if parent is None or parent[0] != "postgres":  # the postmaster: add its exited children
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / os.sysconf("SC_CLK_TCK") if found else None


def process_tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` and its live children (the web server's workers) have used so far."""
    processes = _processes()
    if processes is None:
        return None
    total = sum(
        int(fields[11]) + int(fields[12])
        for candidate, (_comm, fields) in processes.items()
        if pid in (candidate, int(fields[1]))
    )
    return total / os.sysconf("SC_CLK_TCK")


def _per_transfer(before: float | None, after: float | None, count: int) -> float | None:
    """Milliseconds of server CPU per transfer between two ``postgres_cpu_seconds`` readings."""
    if before is None or after is None or not count:
        return None
    return round(1000 * (after - before) / count, 3)


def settle(cfg: Config) -> None:
    """Before each anchor and its cell: VACUUM (ANALYZE) both databases, wait (up to 60 s) until no autovacuum worker
    runs, then a CHECKPOINT, so that neither the anchor nor the cell pays for the writes of the cells before it (a
    checkpoint, or an autovacuum of the ledger's grown tables or of the accounts the setup funded, landing in one
    cell and not the other: its CPU would count as the cell's). Both then start from vacuumed tables and a fresh
    checkpoint: each page's first change after it writes a full page image, alike for both."""
    for name in (cfg.ledger_db, cfg.anchor_db):
        try:
            with _admin_connect(cfg, name) as conn:
                conn.execute("VACUUM (ANALYZE)")
        except BenchError:  # not created yet: nothing to vacuum (an unreachable server fails the CHECKPOINT below)
            continue
    with _admin_connect(cfg) as conn:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'").fetchone()
            if not busy[0]:
                break
            time.sleep(0.5)
        conn.execute("CHECKPOINT")
    # The backends of these connections (the VACUUMs' CPU) are reaped by the postmaster after they close: wait, so
    # that their CPU is in the reading before the cell, not in the cell's.
    time.sleep(REAP_WAIT_S)


def run_pgbench(cfg: Config, script: str, clients: int) -> dict:
    settle(cfg)
    threads = min(clients, 2)
    cmd = [cfg.pgbench, "-n", "-f", str(ANCHOR_DIR / script), "-D", f"naccounts={cfg.accounts}"]
    cmd += ["-c", str(clients), "-j", str(threads), "-T", str(cfg.seconds), cfg.anchor_db]
    server_before = postgres_cpu_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = _run(cmd, env=cfg.pg_env(), timeout=cfg.seconds + 120, what=f"pgbench {script} -c {clients}").stdout
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_after = postgres_cpu_seconds(after=True)
    match = _TPS.search(out) or _TPS_ANY.search(out)
    if not match:
        raise BenchError(f"could not read 'tps = ...' from pgbench output: {out.strip()[-300:]}")
    failed = _FAILED.search(out)
    processed = _PROCESSED.search(out)
    count = int(processed.group(1)) if processed else 0
    client = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    return {
        "tps": float(match.group(1)),
        "failed": int(failed.group(1)) if failed else 0,
        "client_cpu_ms": round(1000 * client / count, 3) if count else None,
        "server_cpu_ms": _per_transfer(server_before, server_after, count),
    }


def anchor_consistency(cfg: Config) -> tuple[bool, str]:
    out = _run(
        [cfg.psql, "-X", "-At", "-F", " ", "-d", cfg.anchor_db, "-f", str(ANCHOR_DIR / "consistency.sql")],
        env=cfg.pg_env(),
        timeout=300,
        what="psql consistency.sql",
    ).stdout.split()
    ok = len(out) == 5 and out[:3] == ["0", "0", "0"] and out[4] == "t"
    return ok, ("consistent: " if ok else "INCONSISTENT: ") + " ".join(out)


# -- the API cell --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_endpoint_missing() -> str:
    """Why the API cell cannot run yet ('' when POST /api/v1/transfers/ is routed)."""
    try:
        from django.urls import Resolver404, resolve
    except Exception as exc:  # noqa: BLE001
        return f"n/a ({exc.__class__.__name__})"
    try:
        resolve("/api/v1/transfers/")
    except Resolver404:
        return "n/a (endpoint missing)"
    except Exception as exc:  # noqa: BLE001 - a half-written API module must not crash the bench
        return f"n/a (API does not import: {exc.__class__.__name__})"
    return ""


def server_command(worker_class: str, workers: int, threads: int, port: int) -> list[str]:
    """The WSGI server's command line: gunicorn (sync or gthread), granian (Rust HTTP, ``--blocking-threads``
    Python threads a worker) or uWSGI (C HTTP parser, ``--threads`` a process), keep-alive on each."""
    if worker_class == "granian":
        return [
            str(GRANIAN), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--blocking-threads", str(threads),
            "--respawn-failed-workers", "--workers-kill-timeout", "30",
            "--log-level", "warning", "--no-access-log", "backoffice.wsgi:application",
        ]  # fmt: skip
    if worker_class == "uwsgi":
        return [
            str(UWSGI), "--http11-socket", f"127.0.0.1:{port}", "--module", "backoffice.wsgi:application",
            "--master", "--processes", str(workers), "--threads", str(threads), "--disable-logging",
            "--die-on-term", "--harakiri", "60", "--lazy-apps", "--need-app",
        ]  # fmt: skip
    cmd = [str(GUNICORN), "backoffice.wsgi", "-w", str(workers), "-k", worker_class]
    if worker_class == "gthread":
        cmd += ["--threads", str(threads)]
    return cmd + ["-b", f"127.0.0.1:{port}", "--keep-alive", "30", "--log-level", "warning", "--timeout", "60"]


def run_api(cfg: Config, fixture: dict, run_id: str, server_config: tuple[str, int, int, bool]) -> dict:
    worker_class, workers, threads, general = server_config
    missing = api_endpoint_missing()
    if missing:
        return {"status": missing}
    binary = {"granian": GRANIAN, "uwsgi": UWSGI}.get(worker_class, GUNICORN)
    if not binary.is_file():
        return {"status": f"n/a ({binary.name} not installed)"}
    done = _run(
        [str(PYTHON), "manage.py", "create_api_client", "--name", f"bench-{run_id}", "--scopes", "*"],
        env=cfg.django_env(),
        timeout=120,
        what="manage.py create_api_client",
    )
    creds = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    if "client_id" not in creds or "secret" not in creds:
        return {"status": "n/a (create_api_client printed no credentials)"}
    port = _free_port()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    log_path = OUT_DIR / f"{binary.name}.log"
    cmd = server_command(worker_class, workers, threads, port)
    with open(log_path, "w") as log:
        env = cfg.django_env()
        if general:  # the general path only: no one-statement transfer, no client cache (the "before")
            env.update(API_TRANSFER_ONE_STATEMENT="false", API_CLIENT_CACHE="false")
        server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not apiload.wait_ready(port, timeout=60, server=server):
            return {"status": f"n/a ({binary.name} did not start, see {log_path.relative_to(ROOT)})"}
        spec = {
            "port": port,
            "client_id": creds["client_id"],
            "secret": creds["secret"],
            "numbers": fixture["numbers"],
            "seconds": cfg.seconds,
            "run": run_id,
            "case": "api",
            "processes": cfg.api_clients,
            "root": str(ROOT),
            "database_url": cfg.ledger_url,
            "presign": cfg.api_presign,
        }
        probe = apiload.probe(spec)
        if probe["status"] != 201:
            reason = "endpoint missing" if probe["status"] == 404 else f"probe answered {probe['status']} {probe['body'][:120]}"
            return {"status": f"n/a ({reason})"}
        app_before = process_tree_cpu_seconds(server.pid)
        result = run_processes(apiload.worker, spec, cfg.api_clients, settle_with=cfg)
        app_after = process_tree_cpu_seconds(server.pid)
        handled = result["done"] + result["refused"]
        result["app_cpu_ms"] = _per_transfer(app_before, app_after, handled)
        result["status"] = "ok"
        result["signing"] = probe["signing"]
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


# -- report --------------------------------------------------------------------------------


def _fmt(value, spec="{:,.0f}") -> str:
    return spec.format(value) if isinstance(value, (int, float)) else str(value)


def cpu_text(row: dict) -> str:
    """``ledger 0.38+0.75, pgbench 0.04+0.95``: client + server CPU milliseconds per transfer, where measured."""

    def pair(cpu) -> str:
        if not cpu or cpu.get("client") is None or cpu.get("server") is None:
            return "?"
        app = f"+app {cpu['app']:.2f}" if cpu.get("app") is not None else ""
        return f"{cpu['client']:.2f}+{cpu['server']:.2f}{app}"

    if not row.get("ledger_cpu_ms"):
        return ""
    return f"ledger {pair(row['ledger_cpu_ms'])}, pgbench {pair(row.get('pgbench_cpu_ms'))}"


def print_table(rows: list[dict]) -> None:
    header = [
        "case",
        "processes",
        "ledger tps",
        "pgbench tps",
        "ratio",
        "target",
        "verdict",
        "refused",
        "errors",
        "CPU ms/transfer",
    ]
    table = [header]
    for row in rows:
        table.append(
            [
                row["case"],
                str(row["processes"]),
                _fmt(row["ledger_tps"]),
                _fmt(row["pgbench_tps"]),
                _fmt(row["ratio"], "{:.2f}×"),
                f"≥{row['target']:.1f}×" if row.get("target") else "",
                row.get("verdict", ""),
                _fmt(row.get("refused", "")),
                _fmt(row.get("errors", "")),
                cpu_text(row),
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for n, line in enumerate(table):
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        print(" | ".join(cells).rstrip())
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def _row(case: str, processes: int, ledger: dict, anchor: dict, target: float | None) -> dict:
    ratio = ledger["tps"] / anchor["tps"] if anchor["tps"] else 0.0
    row = {
        "case": case,
        "processes": processes,
        "ledger_tps": round(ledger["tps"], 1),
        "pgbench_tps": round(anchor["tps"], 1),
        "ratio": round(ratio, 3),
        "target": target,
        "verdict": ("PASS" if ratio >= target else "MISS") if target else "",
        "transfers": ledger["done"],
        "refused": ledger["refused"],
        "errors": ledger["errors"],
        "first_error": ledger["first_error"],
        "pgbench_failed": anchor.get("failed", 0),
        # CPU per transfer on this machine (client: the posting processes' own time; server: PostgreSQL's)
        "ledger_cpu_ms": {
            "client": ledger.get("client_cpu_ms"),
            "server": ledger.get("server_cpu_ms"),
            **({"app": ledger["app_cpu_ms"]} if ledger.get("app_cpu_ms") is not None else {}),
        },
        "pgbench_cpu_ms": {"client": anchor.get("client_cpu_ms"), "server": anchor.get("server_cpu_ms")},
    }
    if ledger.get("other"):
        row["other_statuses"] = ledger["other"]
    return row


def api_server_configs(cfg: Config) -> list[tuple[str, int, int, bool]]:
    """The web server set-ups to measure: BENCH_API_CONFIGS (``granian:2x4,gthread:2x4,sync:4:general``: server or
    gunicorn worker class, workers, ×threads, ``:general`` for the general path only, without the one-statement
    transfer and the client cache), else the one of BENCH_API_WORKER_CLASS, BENCH_API_WORKERS and
    BENCH_API_THREADS."""
    spec = os.environ.get("BENCH_API_CONFIGS", "").strip()
    if not spec:
        return [(cfg.api_worker_class, cfg.api_workers, cfg.api_threads, False)]
    configs = []
    for item in spec.split(","):
        match = re.fullmatch(r"(sync|gthread|granian|uwsgi):([0-9]+)(?:x([0-9]+))?(:general)?", item.strip())
        if not match:
            raise BenchError(f"BENCH_API_CONFIGS item {item!r} is not server:workers[xthreads] (granian:2x4, sync:4)")
        configs.append((match[1], int(match[2]), int(match[3] or 1), bool(match[4])))
    return configs


def api_rows(cfg: Config, fixture: dict, run_id: str, anchors: dict) -> list[dict]:
    """The API cell: signed POST /transfers/ through the web server, beside pgbench random at 8 clients run right
    before it (both see the same machine load), once per server set-up. Target 0.3× (issue #14)."""
    rows = []
    for n, server_config in enumerate(api_server_configs(cfg)):
        worker_class, workers, threads, general = server_config
        anchor8 = anchors.get(("random", 8)) if n == 0 else None
        if anchor8 is None or not api_endpoint_missing():
            anchor8 = run_pgbench(cfg, "transfer.sql", 8)
        api = run_api(cfg, fixture, f"{run_id}{n}", server_config)
        label = f"api random ({workers} {worker_class}" + (f"×{threads}" if worker_class != "sync" else "")
        label += ", general path)" if general else ")"
        if api["status"] == "ok":
            tps = f"{api['tps']:,.0f} tps, pgbench {anchor8['tps']:,.0f} tps"
            print(f"  api     {cfg.api_clients} clients, {workers} {worker_class}×{threads}: {tps}", flush=True)
            row = _row(label, cfg.api_clients, api, anchor8, API_TARGET)
            row.update(server_workers=workers, server=worker_class, server_threads=threads)
            row["general_path_only"] = general
            row["signing"] = api.get("signing", "")
            rows.append(row)
            continue
        rows.append(
            {
                "case": label,
                "processes": cfg.api_clients,
                "ledger_tps": api["status"],
                "pgbench_tps": round(anchor8["tps"], 1),
                "ratio": "",
                "target": API_TARGET,
                "verdict": "",
            }
        )
    return rows


def main() -> int:
    cfg = Config()
    check_tools(cfg)
    run_id = uuid.uuid4().hex[:8]
    began = time.monotonic()
    print(
        f"bench: ledger={cfg.ledger_db} anchor={cfg.anchor_db} on {cfg.host}:{cfg.port}, "
        f"{cfg.accounts:,} accounts, {cfg.seconds} s per cell, {os.cpu_count()} CPU(s)",
        flush=True,
    )
    t0 = time.monotonic()
    fixture = setup_ledger(cfg)
    setup_anchor(cfg)
    print(f"setup: migrated, {cfg.accounts:,} accounts opened and funded in {time.monotonic() - t0:.0f} s", flush=True)

    base = {"database_url": cfg.ledger_url, "ids": fixture["ids"], "seconds": cfg.seconds, "run": run_id}
    # (case, anchor script, hot account, target at 8 processes, voucher kind). "hot internal": every
    # transfer debits the bank's clearing account (an internal account: it may overdraw, so no
    # overdraft guard applies to it; the credited customer's state and judicial blocks are still
    # checked) and credits a random customer, as a "funding" voucher (clearing → customer, the
    # kind whose posting rule allows it); anchor: pgbench's hot script, in the same run.
    cases = [
        ("random", "transfer.sql", None, 0.5, "transfer"),
        ("hot", "transfer_hot.sql", fixture["hot"], 0.8, "transfer"),
        ("hot internal", "transfer_hot.sql", fixture["clearing"], 1.0, "funding"),
    ]
    rows, anchors = [], {}
    for case, script, hot, target8, kind in cases:
        if case not in cfg.cells and not (case == "random" and "batch" in cfg.cells):
            continue
        for processes in (1, 8):
            if case not in cfg.cells and processes == 1:
                continue
            anchor = run_pgbench(cfg, script, processes)
            anchors[(case, processes)] = anchor
            target = target8 if processes == 8 else None
            if case in cfg.cells:
                spec = dict(base, case=case.replace(" ", "-"), hot=hot, processes=processes, kind=kind)
                result = run_processes(_ledger_worker, spec, processes, settle_with=cfg)
                rows.append(_row(case, processes, result, anchor, target))
                tps = f"ledger {result['tps']:,.0f} tps, pgbench {anchor['tps']:,.0f} tps"
                print(f"  {case:<7} {processes} proc: {tps}", flush=True)
            if processes == 8 and case == "random" and "batch" in cfg.cells:
                # The same transfers in batches of BENCH_BATCH (100) through post_transfers, against the same anchor.
                spec = dict(base, case="batch", hot=None, processes=8, batch=cfg.batch)
                result = run_processes(_ledger_worker, spec, 8, settle_with=cfg)
                rows.append(_row(f"random, batches of {cfg.batch}", 8, result, anchor, None))
                print(f"  batch   8 proc: ledger {result['tps']:,.0f} tps in batches of {cfg.batch}", flush=True)
                # A platform's bulk payouts: each process one platform, moving money among its own share of the
                # accounts (1/8 each), batches of BENCH_BATCH; the goal of issue #14 (3x) is read on this cell.
                spec = dict(base, case="batch-platform", hot=None, processes=8, batch=cfg.batch, own_share=True)
                result = run_processes(_ledger_worker, spec, 8, settle_with=cfg)
                rows.append(_row(f"per platform, batches of {cfg.batch}", 8, result, anchor, 3.0))
                print(f"  batch   8 proc: ledger {result['tps']:,.0f} tps in batches of {cfg.batch}, per platform", flush=True)
            if cfg.prototype and processes == 8:
                # Right after its anchor, so both see the same machine load.
                spec = dict(base, case=f"proto-{case.replace(' ', '-')}", hot=hot, processes=8, prototype=True, kind=kind)
                result = run_processes(_ledger_worker, spec, 8, settle_with=cfg)
                rows.append(_row(f"{case} (prototype)", 8, result, anchor, target))
                print(f"  {case:<7} 8 proc: prototype {result['tps']:,.0f} tps", flush=True)

    if "api" in cfg.cells:
        rows += api_rows(cfg, fixture, run_id, anchors)
    consistent, consistency = anchor_consistency(cfg)
    clean, verdict = ledger_check(cfg)

    print()
    print_table(rows)
    print()
    refused = sum(r.get("refused", 0) for r in rows)
    errors = sum(r.get("errors", 0) for r in rows)
    print(f"refusals (insufficient funds): {refused}; errors: {errors}")
    for row in rows:
        if row.get("first_error"):
            print(f"  first error in {row['case']} ×{row['processes']}: {row['first_error']}")
        if row.get("other_statuses"):
            print(f"  API non-201 answers in {row['case']}: {row['other_statuses']}")
    print(f"anchor consistency.sql: {consistency}")
    print(f"ledger_check on {cfg.ledger_db}: {verdict}")
    total = time.monotonic() - began
    print(f"total {total:.0f} s")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    report = {
        "run": run_id,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "accounts": cfg.accounts,
        "seconds_per_cell": cfg.seconds,
        "rows": rows,
        "refusals": refused,
        "errors": errors,
        "anchor_consistency": {"ok": consistent, "detail": consistency},
        "ledger_check": {"clean": clean, "detail": verdict},
        "total_seconds": round(total, 1),
    }
    (OUT_DIR / "ledger.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {(OUT_DIR / 'ledger.json').relative_to(ROOT)}")
    return 0 if consistent and clean else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
