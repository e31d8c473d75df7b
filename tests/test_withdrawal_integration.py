"""200 concurrent withdrawals through the HTTP simulator channel and a real Celery worker, which
is killed (SIGKILL) in the middle of the run and replaced (issue 4, "Integration").

Processes: this test (creates the withdrawals in threads, runs the sweeper, receives the
channel's callbacks), a ``celery worker`` on the same broker and PostgreSQL test database (killed
and restarted), and two ``manage.py run_channel_simulator`` servers in random mode, one per
strategy (freeze, transit), which deliver their callbacks, duplicated, back to this test.

Afterwards: every withdrawal is terminal, its money moved exactly once, the channels' own books
agree with the bank's to the fen, fee income is the fees of the succeeded ones, no money is
lost, and ``ledger_check`` is clean. Run with a broker and PostgreSQL, e.g.::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bo_h1 CELERY_BROKER_URL=redis://127.0.0.1:6379/12 \\
    CELERY_RESULT_BACKEND=redis://127.0.0.1:6379/12 SECRET_KEY=x .venv/bin/pytest tests/test_withdrawal_integration.py -q -s

``WITHDRAWAL_IT_SEED`` changes the simulator's draws (and the amounts); the seed is printed.
"""

from __future__ import annotations

import io
import os
import random
import signal
import threading
import time
import traceback
from collections import Counter, defaultdict
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from queue import Empty, SimpleQueue
from uuid import uuid4

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Hold, Transfer
from accounts.ledger.selectors import internal_account
from accounts.payments.invariants import payment_invariants
from accounts.payments.models import Channel, PaymentAlert, Withdrawal
from accounts.payments.services import channel_register
from accounts.payments.simulator_http import SimulatorClient
from accounts.payments.sweep import payments_sweep
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH

# The module-level flush of the Celery round-trip test, and its helpers (same database, broker).
from tests.processes import Processes, process_env, start_from_an_empty_database, tail  # noqa: F401

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="needs a broker: set CELERY_BROKER_URL (e.g. redis://...)"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker must share the database: needs PostgreSQL"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SEED = int(os.environ.get("WITHDRAWAL_IT_SEED") or 20240607)
COUNT = 200
CUSTOMERS = 20
FUNDING = Decimal("6000.00")  # per customer: ten withdrawals of at most 500.00 + fee
CREATORS = 10  # threads creating withdrawals at once
DEADLINE = 120  # seconds, from the first withdrawal to every one terminal and the books settled
# Random outcomes: late ones within 2 s; "lost" ones are never found: re-submitted after the grace, they fail
# only because these channels are registered with a "not found is final after GRACE s" contract (R-WD-03).
WEIGHTS = {"success": 5, "failure": 2, "timeout": 2, "processing": 2, "not_found": 1, "lost": 1, "returned": 1, "query_error": 1}
GRACE = 12
CHANNELS = {  # code: (strategy, fee)
    "itfreeze": (Channel.Strategy.FREEZE, Decimal("1.00")),
    "ittransit": (Channel.Strategy.TRANSIT, Decimal("2.00")),
}
TERMINAL = (Withdrawal.State.SUCCEEDED, Withdrawal.State.FAILED, Withdrawal.State.RETURNED)
BAD_ALERTS = (
    PaymentAlert.Kind.CONTRADICTION,
    PaymentAlert.Kind.AMOUNT_MISMATCH,
    PaymentAlert.Kind.FORGED_CALLBACK,
    PaymentAlert.Kind.SUSPENSE_CREDIT,
    PaymentAlert.Kind.INVARIANT,
)


class _CallbackReceiver(ThreadingHTTPServer):
    """The bank's callback endpoint for the simulators: ``POST /<channel code>`` → the service
    ``channel_callback_receive``, on its own connection per request (closed after)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _CallbackHandler)
        self.received: Counter = Counter()
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def url(self, code: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{code}"


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackReceiver

    def do_POST(self):  # noqa: N802 - the stdlib's name
        from accounts.payments.callbacks import channel_callback_receive

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 200
        try:
            _callback, duplicate = channel_callback_receive(
                channel_code=self.path.strip("/"), body=body, headers=dict(self.headers), remote_addr=self.client_address[0]
            )
            with self.server._lock:
                self.server.received["duplicate" if duplicate else "stored"] += 1
        except Exception:  # noqa: BLE001 - any exception here is a bug the test reports
            status = 500
            with self.server._lock:
                self.server.errors.append(traceback.format_exc())
        finally:
            connection.close()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class _Creators:
    """Create the withdrawals from CREATORS threads at once, as concurrent requests would; each
    thread closes its connection. ``stop()`` lets them finish the one in hand and return."""

    def __init__(self, specs: list[dict]):
        self.todo: SimpleQueue = SimpleQueue()
        for spec in specs:
            self.todo.put(spec)
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._work, name=f"creator-{n}") for n in range(CREATORS)]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        from accounts.payments.withdrawals import withdrawal_create

        try:
            while True:
                try:
                    spec = self.todo.get_nowait()
                except Empty:
                    return
                try:
                    withdrawal_create(
                        client="it-withdrawals",
                        out_request_no=spec["ref"],
                        account=Account.objects.select_related("party").get(pk=spec["account_id"]),
                        amount=spec["amount"],
                        authorization=PASSWORD_AUTH,
                        channel_code=spec["channel"],
                    )
                except Exception:  # noqa: BLE001 - every refusal or crash is reported by the test
                    self.errors.append(f"{spec['ref']}: {traceback.format_exc()}")
        finally:
            connection.close()

    def join(self, timeout: float = 60) -> None:
        for thread in self.threads:
            thread.join(timeout=timeout)

    def stop(self) -> None:
        while True:
            try:
                self.todo.get_nowait()
            except Empty:
                break
        self.join()


def _summary(rows) -> str:
    return ", ".join(f"{state}: {n}" for state, n in sorted(Counter(w.state for w in rows).items()))


def test_200_concurrent_withdrawals_through_the_http_channel_survive_a_killed_worker(settings, customer, fund):
    from backoffice.celery_app import app

    settings.ACCOUNTS_PAYMENT_STUCK_SECONDS = 2  # the sweeper re-drives anything quiet for 2 s
    rng = random.Random(SEED)
    print(f"\nseed {SEED}")
    app.control.purge()  # messages a previous run left behind
    processes, receiver, creators = Processes(), _CallbackReceiver(), None
    threading.Thread(target=receiver.serve_forever, name="callbacks", daemon=True).start()
    try:
        # given two HTTP simulator channels in random mode, one per strategy, and a worker
        remotes = {}
        for n, (code, (strategy, fee)) in enumerate(CHANNELS.items()):
            secret = f"secret-{code}-{uuid4().hex[:8]}"
            remotes[code] = processes.simulator(code, secret, receiver.url(code), SEED + n, weights=WEIGHTS)
            channel_register(
                code=code,
                name=f"HTTP simulator {code}",
                adapter=Channel.Adapter.HTTP_SIMULATOR,
                base_url=remotes[code].base_url,
                callback_secret=secret,
                withdrawal_strategy=strategy,
                withdrawal_fee=fee,
                timeout_seconds=2,
                not_found_grace_seconds=GRACE,
                not_found_final_seconds=GRACE,
            )
        first_worker, _first_log = processes.worker("first")

        # and twenty funded customers (their cards verified inline: eager tasks for the set-up only)
        eager = app.conf.task_always_eager
        app.conf.task_always_eager = True
        try:
            accounts = [fund(customer(name=f"客户{n:02d}"), FUNDING) for n in range(CUSTOMERS)]
        finally:
            app.conf.task_always_eager = eager
        assert not app.conf.task_always_eager and not settings.CELERY_TASK_ALWAYS_EAGER
        customer_ids = [a.pk for a in accounts]
        transit, fee_income = (internal_account(r) for r in (Role.TRANSIT_WITHDRAWAL, Role.FEE_INCOME))
        fee_income_before = fee_income.balance
        codes = list(CHANNELS)
        specs = [
            {
                "ref": f"IT-{n:04d}",
                "account_id": customer_ids[n % CUSTOMERS],
                "amount": Decimal(rng.randint(100, 50000)) / 100,
                "channel": codes[n % 2],
            }
            for n in range(COUNT)
        ]

        # when 200 withdrawals are created at once, and the worker is killed in the middle
        started = time.monotonic()
        creators = _Creators(specs)
        create_errors = creators.errors
        while Withdrawal.objects.exclude(state__in=[Withdrawal.State.CREATED, Withdrawal.State.FUNDS_HELD]).count() < COUNT // 3:
            assert not create_errors, f"a withdrawal could not be created: {create_errors[0]}"
            assert time.monotonic() - started < 30, (
                f"the first worker processed too little: {_summary(Withdrawal.objects.all())}\n{tail(_first_log)}"
            )
            time.sleep(0.05)
        first_worker.send_signal(signal.SIGKILL)
        first_worker.wait(timeout=10)
        killed_at = _summary(Withdrawal.objects.all())
        second_worker, _second_log = processes.worker("second")
        creators.join()
        assert not create_errors, f"a withdrawal could not be created: {create_errors[0]}"
        assert Withdrawal.objects.count() == COUNT

        # and the sweeper drives whatever the dead worker stranded, until every one is terminal and
        # the channels' returns (callbacks) have arrived
        sweeps = 0
        while True:
            rows = list(Withdrawal.objects.all())
            returned = {rid for r in remotes.values() for rid in _returned_request_ids(r)}
            bank_returned = {w.request_id for w in rows if w.state == Withdrawal.State.RETURNED}
            if all(w.state in TERMINAL for w in rows) and returned == bank_returned:
                break
            assert time.monotonic() - started < DEADLINE, f"not settled in {DEADLINE}s: {_summary(rows)}"
            payments_sweep()
            sweeps += 1
            time.sleep(1)
        elapsed = time.monotonic() - started
        assert second_worker.poll() is None, tail(_second_log)
        logs = {code: remote.log() for code, remote in remotes.items()}
    finally:
        if creators is not None:
            creators.stop()
        processes.stop_all()
        receiver.shutdown()
        receiver.server_close()
    errors = processes.errors()
    processes.remove_logs()

    # then: the run
    rows = list(Withdrawal.objects.select_related("hold", "channel").order_by("pk"))
    print(
        f"settled in {elapsed:.1f}s, {sweeps} sweeps; at the kill: {killed_at}; at the end: {_summary(rows)}; "
        f"resubmitted: {sum(w.submit_attempts > 1 for w in rows)}; resolved by: {dict(Counter(w.resolved_by for w in rows))}; "
        f"callbacks: {dict(receiver.received)}"
    )
    # each way an outcome arrives was used: the submit response, a status query ("lost" ones
    # fail only by a query past the grace) and a callback (queries of "query_error" ones fail)
    assert {w.resolved_by for w in rows} >= {Withdrawal.Source.RESPONSE, Withdrawal.Source.QUERY, Withdrawal.Source.CALLBACK}
    assert errors == [], "\n".join(errors[:5])
    assert receiver.errors == [], receiver.errors[0]
    assert all(w.state in TERMINAL for w in rows)

    # every withdrawal moved its money exactly once: one hold (freeze) or one transit voucher,
    # then one settlement, or one release / one credit back, and a return only after a settlement
    keys = defaultdict(Counter)
    for key in Transfer.objects.filter(client="withdrawals").values_list("idempotency_key", flat=True):
        _prefix, pk, step = key.split(":")
        keys[int(pk)][step] += 1
    holds = Counter(Hold.objects.filter(client="withdrawals").values_list("reference", flat=True))
    for w in rows:
        expected = {
            Withdrawal.State.SUCCEEDED: {"settle": 1},
            Withdrawal.State.FAILED: {},
            Withdrawal.State.RETURNED: {"settle": 1, "return": 1},
        }[w.state]
        if w.strategy == Channel.Strategy.TRANSIT:
            expected = {"hold": 1, **expected, **({"fail": 1} if w.state == Withdrawal.State.FAILED else {})}
            assert w.hold_id is None and holds[w.request_id] == 0
        else:
            captured = w.state != Withdrawal.State.FAILED
            assert holds[w.request_id] == 1
            assert w.hold.state == (Hold.State.CAPTURED if captured else Hold.State.RELEASED), w
        assert dict(keys[w.pk]) == expected, (w, dict(keys[w.pk]))

    # the channels' own books agree with the bank's, to the fen, order by order
    for code, log in logs.items():
        paid = Counter(e["request_id"] for e in log["entries"] if e["event"] == "paid")
        assert max(paid.values(), default=1) == 1, "a channel paid one request twice"
        mine = [w for w in rows if w.channel.code == code]
        assert set(paid) == {w.request_id for w in mine if w.state != Withdrawal.State.FAILED}
        succeeded = [w for w in mine if w.state == Withdrawal.State.SUCCEEDED]
        assert log["net_paid"] == sum((w.amount for w in succeeded), Decimal("0")), code
    succeeded = [w for w in rows if w.state == Withdrawal.State.SUCCEEDED]
    assert len(succeeded) > 0 and any(w.state == Withdrawal.State.FAILED for w in rows)

    # fee income is the fee of each succeeded withdrawal; no money is lost
    fee_income = Account.objects.get(pk=fee_income.pk)
    assert fee_income.balance - fee_income_before == sum((CHANNELS[w.channel.code][1] for w in succeeded), Decimal("0"))
    customers = list(Account.objects.filter(pk__in=customer_ids))
    assert all(a.frozen == 0 for a in customers)
    out = sum((a.balance for a in customers), Decimal("0")) + Account.objects.get(pk=transit.pk).balance
    assert out == FUNDING * CUSTOMERS - sum((w.amount + w.fee for w in succeeded), Decimal("0"))

    # and the ledger and the payment invariants check clean; nothing contradicted anything
    assert all(inv.holds and inv.in_flight == 0 for inv in payment_invariants()), payment_invariants()
    report = io.StringIO()
    call_command("ledger_check", stdout=report, stderr=report)
    assert "no drift" in report.getvalue(), report.getvalue()
    alerts = list(PaymentAlert.objects.filter(kind__in=BAD_ALERTS))
    assert alerts == [], [a.message for a in alerts[:5]]


def _returned_request_ids(remote: SimulatorClient) -> set[str]:
    return {e["request_id"] for e in remote.log()["entries"] if e["event"] == "returned"}
