"""A round trip through a real Celery worker process: broker → worker → the same PostgreSQL test
database → result backend → this process.

Run with a broker and PostgreSQL, e.g.::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bo_ledger CELERY_BROKER_URL=redis://127.0.0.1:6379/5 \\
    CELERY_RESULT_BACKEND=redis://127.0.0.1:6379/5 SECRET_KEY=x .venv/bin/pytest tests/test_celery_integration.py -q

The data is committed (``transaction=True``) so that the worker, on its own connection, sees it.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from uuid import uuid4

import pytest
from celery.result import allow_join_result
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.checks import ledger_report
from accounts.ledger.models import Account, Hold
from tests.processes import database_url, result_backend_url, start_from_an_empty_database, tail  # noqa: F401

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not settings.CELERY_BROKER_URL, reason="needs a broker: set CELERY_BROKER_URL (e.g. redis://...)"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker must share the database: needs PostgreSQL"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


RESULT_TIMEOUT = 60


@pytest.fixture
def worker(django_db_setup):
    """A real ``celery -A backoffice worker`` on the same broker, result backend and test database."""
    backend_url = result_backend_url()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": backend_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "test-only-not-secret",
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "DB_CONN_MAX_AGE": "0",
    }
    log = tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "backoffice",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname=ledger-test-{uuid4().hex[:8]}@%h",
        "--loglevel=INFO",
    ]
    process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process, backend_url, log.name
    finally:
        # Warm shutdown: the worker finishes its task, closes its connections and exits.
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log.close()
        os.unlink(log.name)


def _call(task, worker, *args):
    """Send ``task`` through the broker (``.delay()``) and wait for the worker's answer."""
    from celery.app.backends import by_url
    from celery.result import AsyncResult

    from backoffice.celery_app import app

    process, backend_url, log_name = worker
    backend_cls, url = by_url(backend_url, app.loader)
    backend = backend_cls(app=app, url=url)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        sent = task.delay(*args)
    finally:
        app.conf.task_always_eager = eager
    result = AsyncResult(sent.id, backend=backend, app=app)
    deadline = time.monotonic() + RESULT_TIMEOUT
    while not result.ready():
        if process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode}:\n{tail(log_name)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no result within {RESULT_TIMEOUT}s:\n{tail(log_name)}")
        time.sleep(0.1)
    # Celery's "never call get() inside a task" guard is one process-wide flag that eager tasks
    # set and restore; eager tasks run from several threads (the concurrency tests) can leave it
    # set. This process is the test, not a worker: waiting for the worker's answer is intended.
    with allow_join_result():
        return result.get(timeout=5)


def test_celery_worker_runs_ledger_check_against_the_same_database(worker, make_account, fund, clearing):
    from accounts.tasks import ledger_check

    # given committed ledger data: funding, a transfer, a hold, a capture
    alice, bob = fund(make_account(), "100.00"), fund(make_account(), "20.00")
    ledger.post_transfer(
        client="it",
        idempotency_key="m",
        kind="transfer",  # kinds the application knows: the worker is not under pytest's test-only kinds
        legs=ledger.move(from_account_id=alice.pk, to_account_id=bob.pk, amount="30.00"),
    )
    hold = ledger.hold_place(client="it", idempotency_key="h", account_id=bob.pk, amount="10.00", reason="withdrawal")
    ledger.hold_capture(client="it", idempotency_key="c", hold_id=hold.pk, to_account_id=clearing.pk, kind="withdrawal")
    report = ledger_report()
    assert report.transfers_checked == 4

    # when the worker checks the ledger, then it sees exactly our data, clean
    result = _call(ledger_check, worker)
    assert result == {"drifts": [], "accounts": report.accounts_checked, "vouchers": 4}

    # and when a balance is corrupted behind the ledger's back, the worker reports it
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account SET balance = balance + 7 WHERE id = %s", [alice.pk])
    result = _call(ledger_check, worker)
    assert result["drifts"] == [{"kind": "balance", "target": alice.number, "expected": "70.00", "actual": "70.07"}]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account SET balance = balance - 7 WHERE id = %s", [alice.pk])


def test_celery_worker_expires_due_holds(worker, make_account, fund):
    from accounts.tasks import hold_expire_due

    account = fund(make_account(), "50.00")
    past, future = timezone.now() - dt.timedelta(minutes=1), timezone.now() + dt.timedelta(hours=1)
    due = ledger.hold_place(
        client="it", idempotency_key="due", account_id=account.pk, amount="5.00", reason="bid", expires_at=past
    )
    later = ledger.hold_place(
        client="it", idempotency_key="later", account_id=account.pk, amount="6.00", reason="bid", expires_at=future
    )

    assert _call(hold_expire_due, worker) == 1

    assert Hold.objects.get(pk=due.pk).state == Hold.State.EXPIRED
    assert Hold.objects.get(pk=later.pk).state == Hold.State.ACTIVE
    fresh = Account.objects.get(pk=account.pk)
    assert (fresh.balance, fresh.frozen) == (Decimal("50.00"), Decimal("6.00"))
    assert ledger_report().drifts == []
