"""The chaos bank (issue 9, part 6): the whole product under load while its processes are killed.

Processes: the app under gunicorn as production runs it (gthread, two workers of four threads), a Celery
worker and Celery beat on the broker,
two ``run_channel_simulator`` servers in random mode (one per withdrawal strategy) that deliver
their callbacks, duplicated, to the app's own callback endpoint, and this test: 16 signed API
clients doing a fixed number of operations (transfers between customers, holds and captures,
withdrawals in both strategies, recharges), each with an idempotency key and retries, while a
gunicorn worker and the Celery worker are killed (SIGKILL) every few seconds and replaced.

During the run, every snapshot shows the money conserved to the fen (the ledger's debit-normal
balances equal its credit-normal ones, in one statement) and no customer's available balance
below zero. Afterwards: every acknowledged operation is present exactly once, every withdrawal
and recharge is terminal exactly once, the channels' own logs equal the bank's books, and
``ledger_check`` is clean. It prints one line of figures.

``make chaos`` runs a long one (CHAOS_OPERATIONS, default 2000); ``make test`` on PostgreSQL with
a broker (CI) runs a short one. Needs PostgreSQL and a redis:// broker; skips otherwise.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from decimal import Decimal
from uuid import uuid4

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import F, Q, Sum

from accounts.ledger.chart import CREDIT, DEBIT
from accounts.ledger.models import Account, Transfer
from accounts.payments.models import Channel, PaymentAlert, Recharge, Withdrawal
from accounts.payments.services import channel_register
from accounts.payments.simulator_http import SimulatorClient
from accounts.payments.sweep import payments_sweep
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH
from backoffice.idempotency import HEADER_IDEMPOTENCY_KEY
from backoffice.money import sum_to_money
from backoffice.services import api_client_create
from backoffice.signing import signed_headers
from tests.processes import Processes, process_env, start_from_an_empty_database, wait_for  # noqa: F401

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="needs a broker: set CELERY_BROKER_URL (e.g. redis://...)"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the processes must share the database: needs PostgreSQL"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SEED = int(os.environ.get("CHAOS_SEED") or 20261207)
OPERATIONS = int(os.environ.get("CHAOS_OPERATIONS") or 160)
CLIENTS = 16
CUSTOMERS = 16
FUNDING = Decimal("3000.00")
KILL_EVERY = float(os.environ.get("CHAOS_KILL_EVERY") or 3)
DRAIN_DEADLINE = 120  # seconds after the last operation for every instruction to be terminal
RETRIES = 12  # attempts of one request (same key, same body) before the client gives up on it
WEIGHTS = {"success": 6, "failure": 2, "timeout": 1, "processing": 2, "not_found": 1, "query_error": 1}
CHANNELS = {"chaosfreeze": Channel.Strategy.FREEZE, "chaostransit": Channel.Strategy.TRANSIT}
TERMINAL_WITHDRAWAL = (Withdrawal.State.SUCCEEDED, Withdrawal.State.FAILED, Withdrawal.State.RETURNED)
TERMINAL_RECHARGE = (Recharge.State.SUCCEEDED, Recharge.State.FAILED)
BAD_ALERTS = (PaymentAlert.Kind.CONTRADICTION, PaymentAlert.Kind.AMOUNT_MISMATCH, PaymentAlert.Kind.FORGED_CALLBACK)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc: no dependency)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry))
    return children


class _Api:
    """A signed partner client over HTTP, retrying a request (same key, same body) on a dropped
    connection or a 5xx, as a partner bank's engineer would."""

    def __init__(self, base: str, client_id: str, secret: str):
        self.base, self.client_id, self.secret = base, client_id, secret
        self.retries = 0

    def post(self, path: str, payload: dict, key: str) -> tuple[int, dict]:
        body = json.dumps(payload).encode()
        for attempt in range(RETRIES):
            headers = signed_headers(self.client_id, self.secret, "POST", path, body)
            headers.update({"Content-Type": "application/json", HEADER_IDEMPOTENCY_KEY: key, "Accept-Language": "en"})
            request = urllib.request.Request(self.base + path, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - our own server
                    return response.status, json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                answer = error.read()
                if error.code < 500:
                    return error.code, json.loads(answer or b"{}")
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            self.retries += 1
            time.sleep(min(0.1 * 2**attempt, 2))
        return 0, {}


class _Run:
    """What the clients did: acknowledged operations by kind, refusals by code, give-ups."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked: dict[str, list[dict]] = {"transfer": [], "hold": [], "capture": [], "withdrawal": [], "recharge": []}
        self.refused: Counter = Counter()
        self.gave_up = 0
        self.errors: list[str] = []

    def record(self, kind: str, status: int, answer: dict, **what) -> bool:
        with self.lock:
            if 200 <= status < 300:
                self.acked[kind].append({**what, "answer": answer})
                return True
            if status == 0:
                self.gave_up += 1
            elif status in (400, 401, 403, 404, 422):  # a malformed, unsigned or mismatched request: a bug
                self.errors.append(f"{kind} {status} {answer}")
            else:  # 409: insufficient funds, a key still in flight after a kill, ...
                self.refused[answer.get("code", status)] += 1
            return False


def _client(api: _Api, run: _Run, numbers: list[str], operations: int, seed: int, stop: threading.Event) -> None:
    rng = random.Random(seed)
    for n in range(operations):
        if stop.is_set():
            return
        key = f"chaos-{seed}-{n}-{uuid4().hex[:6]}"
        source, target = rng.sample(numbers, 2)
        amount = f"{Decimal(rng.randint(1, 5000)) / 100:.2f}"
        draw = rng.random()
        try:
            if draw < 0.4:
                status, answer = api.post(
                    "/api/v1/transfers/", {"from_account": source, "to_account": target, "amount": amount}, key
                )
                run.record("transfer", status, answer, key=key)
            elif draw < 0.6:
                status, answer = api.post("/api/v1/holds/", {"account": source, "amount": amount}, key)
                if run.record("hold", status, answer, key=key):
                    path = f"/api/v1/holds/{answer['id']}/capture/"
                    status, answer = api.post(path, {"to_account": target}, key + "-capture")
                    run.record("capture", status, answer, key=key + "-capture")
            elif draw < 0.85:
                code = rng.choice(list(CHANNELS))
                payload = {
                    "account": source,
                    "amount": amount,
                    "out_request_no": key,
                    "authorization": PASSWORD_AUTH,
                    "channel": code,
                }
                status, answer = api.post("/api/v1/withdrawals/", payload, key)
                run.record("withdrawal", status, answer, key=key, channel=code)
            else:
                code = rng.choice(list(CHANNELS))
                payload = {
                    "account": source,
                    "amount": amount,
                    "out_request_no": key,
                    "authorization": PASSWORD_AUTH,
                    "channel": code,
                }
                status, answer = api.post("/api/v1/recharges/", payload, key)
                run.record("recharge", status, answer, key=key, channel=code)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            with run.lock:
                run.errors.append(f"client {seed}: {exc!r}")


def _snapshot() -> tuple[int, int]:
    """(debit-normal minus credit-normal balances, customers below zero available), each read in
    one statement, so it is a consistent snapshot of the books."""
    totals = Account.objects.aggregate(
        debit=Sum("balance", filter=Q(normal_side=DEBIT)), credit=Sum("balance", filter=Q(normal_side=CREDIT))
    )
    below = Account.objects.filter(kind=Account.Kind.CUSTOMER).filter(Q(balance__lt=F("frozen")) | Q(frozen__lt=0)).count()
    return sum_to_money(totals["debit"]) - sum_to_money(totals["credit"]), below


def test_chaos_bank_conserves_money_while_its_processes_are_killed(settings, customer, fund):
    from backoffice.celery_app import app

    settings.ACCOUNTS_PAYMENT_STUCK_SECONDS = 2
    # The transaction passwords are checked by the app's processes, which know Django's default
    # hashers only: a fast one of those (the fixtures' MD5 is not among them).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.ScryptPasswordHasher"]
    rng = random.Random(SEED)
    app.control.purge()
    processes = Processes()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    kills = Counter()
    snapshots: list[tuple[int, int]] = []
    try:
        # given two HTTP simulator channels in random mode calling back the app's own endpoint
        remotes = {}
        for n, (code, strategy) in enumerate(CHANNELS.items()):
            secret = f"secret-{code}-{uuid4().hex[:8]}"
            command = [sys.executable, "manage.py", "run_channel_simulator", "--port", "0", "--code", code, "--secret", secret]
            command += ["--default", "random", "--seed", str(SEED + n), "--weights", json.dumps(WEIGHTS), "--max-delay", "2"]
            command += ["--callback-url", f"{base}/api/v1/channels/{code}/callbacks/", "--callback-duplicates", "2"]
            process, log = processes.start(command, process_env(), f"chaos-sim-{code}-")
            remotes[code] = SimulatorClient(wait_for(log, r"ready on (http://\S+)", process).group(1))
            channel_register(
                code=code,
                name=f"Chaos simulator {code}",
                adapter=Channel.Adapter.HTTP_SIMULATOR,
                base_url=remotes[code].base_url,
                callback_secret=secret,
                withdrawal_strategy=strategy,
                withdrawal_fee=Decimal("1.00"),
                timeout_seconds=2,
            )
        # and funded customers, an API client that sees them, the app, a worker and beat
        eager = app.conf.task_always_eager
        app.conf.task_always_eager = True
        try:
            accounts = [fund(customer(name=f"混沌{n:02d}"), FUNDING) for n in range(CUSTOMERS)]
        finally:
            app.conf.task_always_eager = eager
        numbers = [a.number for a in accounts]
        client, secret = api_client_create(name=f"chaos-{uuid4().hex[:6]}", scopes=["*"])
        # the app's processes re-drive quiet instructions soon, and count no withdrawals per day
        env = process_env(ACCOUNTS_PAYMENT_STUCK_SECONDS="2", ACCOUNTS_WITHDRAWAL_DAILY_COUNT="1000000")
        gunicorn, gunicorn_log = processes.start(
            [sys.executable, "-m", "gunicorn", "backoffice.wsgi", "-b", f"127.0.0.1:{port}"]
            + "-k gthread -w 2 --threads 4 --timeout 60 --keep-alive 30".split(),  # README "Deployment",
            env,
            "chaos-gunicorn-",
        )
        wait_for(gunicorn_log, r"Booting worker", gunicorn)
        workers = [processes.worker("chaos-0")[0]]
        beat_command = [sys.executable, "-m", "celery", "-A", "backoffice", "beat", "--loglevel=INFO"]
        beat_command += ["--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"]
        processes.start(beat_command, env, "chaos-beat-")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310 - our own server
                    break
            except OSError:
                time.sleep(0.2)
        before, below = _snapshot()
        assert (before, below) == (0, 0)

        # when 16 clients work while processes are killed every few seconds
        run = _Run()
        apis = [_Api(base, client.client_id, secret) for _ in range(CLIENTS)]
        per_client = max(1, OPERATIONS // CLIENTS)
        threads = [
            threading.Thread(target=_client, args=(apis[n], run, numbers, per_client, SEED * 100 + n, stop), daemon=True)
            for n in range(CLIENTS)
        ]

        def chaos() -> None:
            while not stop.wait(KILL_EVERY):
                victims = _children(gunicorn.pid)
                if victims:
                    os.kill(rng.choice(victims), signal.SIGKILL)
                    kills["gunicorn"] += 1
                if rng.random() < 0.5 and workers[-1].poll() is None:
                    workers[-1].send_signal(signal.SIGKILL)
                    workers[-1].wait(timeout=10)
                    kills["celery"] += 1
                    workers.append(processes.worker(f"chaos-{len(workers)}")[0])

        def watch() -> None:
            while not stop.wait(0.5):
                snapshots.append(_snapshot())
            connection.close()

        started = time.monotonic()
        helpers = [threading.Thread(target=chaos, daemon=True), threading.Thread(target=watch, daemon=True)]
        for thread in threads + helpers:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        stop.set()
        for thread in helpers:
            thread.join(timeout=30)
        worked = time.monotonic() - started
        if workers[-1].poll() is not None:
            workers.append(processes.worker("chaos-last")[0])

        # then every instruction ends, once, and the books agree with the channels
        drain_until = time.monotonic() + DRAIN_DEADLINE
        while time.monotonic() < drain_until:
            open_withdrawals = Withdrawal.objects.exclude(state__in=TERMINAL_WITHDRAWAL).count()
            open_recharges = Recharge.objects.exclude(state__in=TERMINAL_RECHARGE).count()
            if not open_withdrawals and not open_recharges:
                break
            payments_sweep()
            time.sleep(1)
        duration = time.monotonic() - started

        assert not run.errors, run.errors[:5]
        assert [s for s in snapshots if s != (0, 0)] == [], "money not conserved or an available balance below zero"
        assert _snapshot() == (0, 0)
        assert Withdrawal.objects.exclude(state__in=TERMINAL_WITHDRAWAL).count() == 0, Counter(
            Withdrawal.objects.values_list("state", flat=True)
        )
        assert Recharge.objects.exclude(state__in=TERMINAL_RECHARGE).count() == 0, Counter(
            Recharge.objects.values_list("state", flat=True)
        )
        for kind in ("transfer", "capture"):
            ids = [a["answer"]["transfer"]["id"] if kind == "capture" else a["answer"]["id"] for a in run.acked[kind]]
            assert len(set(ids)) == len(ids), f"two acknowledged {kind}s share a voucher"
            assert Transfer.objects.filter(pk__in=ids).count() == len(ids), f"an acknowledged {kind} is missing"
        for kind, model in (("withdrawal", Withdrawal), ("recharge", Recharge)):
            refs = [a["key"] for a in run.acked[kind]]
            found = Counter(model.objects.filter(out_request_no__in=refs).values_list("out_request_no", flat=True))
            assert sorted(found) == sorted(refs) and set(found.values()) <= {1}, f"an acknowledged {kind} is missing or twice"
        for code, remote in remotes.items():
            log = remote.log()
            paid = sum_to_money(
                Withdrawal.objects.filter(channel__code=code, state=Withdrawal.State.SUCCEEDED).aggregate(total=Sum("amount"))[
                    "total"
                ]
            )
            collected = sum_to_money(
                Recharge.objects.filter(channel__code=code, state=Recharge.State.SUCCEEDED).aggregate(total=Sum("amount"))[
                    "total"
                ]
            )
            assert Decimal(log["net_paid"]) == Decimal(paid), f"{code}: the channel paid {log['net_paid']}, the books {paid}"
            assert Decimal(log["collected"]) == Decimal(collected), f"{code}: collected {log['collected']} vs {collected}"
        assert not PaymentAlert.objects.filter(kind__in=BAD_ALERTS).exists()
        call_command("ledger_check", stdout=io.StringIO(), stderr=io.StringIO())  # raises SystemExit(1) on any drift
        assert processes.errors() == []

        acked = sum(len(rows) for rows in run.acked.values())
        retries = sum(api.retries for api in apis)
        print(
            f"\nchaos: operations {per_client * CLIENTS} acknowledged {acked} refused {sum(run.refused.values())} "
            f"gave-up {run.gave_up} retries {retries} kills gunicorn {kills['gunicorn']} celery {kills['celery']} "
            f"snapshots {len(snapshots)} duration {duration:.1f}s (load {worked:.1f}s) drift 0 seed {SEED}"
        )
    finally:
        stop.set()
        processes.stop_all()
        processes.remove_logs()
