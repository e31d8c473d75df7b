"""Processes of the integration tests: a Celery worker, channel simulators, the app, each with its
log, on the PostgreSQL test database and the configured broker; and the module fixture that starts
those tests from an empty database. Used by the Celery, withdrawal and chaos integration tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from urllib.parse import quote
from uuid import uuid4

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from accounts.payments.simulator_http import SimulatorClient


@pytest.fixture(scope="module", autouse=True)
def start_from_an_empty_database(django_db_setup, django_db_blocker):
    """Empty the test database once before this module's first test.

    ``serialized_rollback`` reloads the migrated data (chart, internal accounts, groups) into an
    empty database. A transactional test elsewhere that flushed *without* it leaves behind the
    content types and permissions that post_migrate recreated, under new ids, and reloading would
    collide with them. Flushing here (without post_migrate, keeping the id sequences past the
    reloaded rows' ids) makes this module independent of what ran before it.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, inhibit_post_migrate=True, reset_sequences=False, verbosity=0)
    yield


def result_backend_url() -> str:
    """A redis:// result backend both sides can reach: CELERY_RESULT_BACKEND, else the redis broker."""
    for url in (settings.CELERY_RESULT_BACKEND, settings.CELERY_BROKER_URL):
        if url and url.startswith(("redis://", "rediss://")):
            return url
    pytest.skip("needs a redis:// result backend: set CELERY_RESULT_BACKEND=redis://...")


def database_url() -> str:
    """The URL of the database this test runs on (the test database, not the configured one)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def tail(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return "".join(handle.readlines()[-40:])


def process_env(**extra) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": result_backend_url(),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "test-only-not-secret",
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "DB_CONN_MAX_AGE": "0",
        **extra,
    }


def wait_for(path: str, pattern: str, process: subprocess.Popen, timeout: float = 30) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, encoding="utf-8", errors="replace") as handle:
            match = re.search(pattern, handle.read())
        if match:
            return match
        if process.poll() is not None:
            pytest.fail(f"{process.args[:4]} exited with {process.returncode}:\n{tail(path)}")
        time.sleep(0.05)
    pytest.fail(f"{process.args[:4]} not ready in {timeout}s:\n{tail(path)}")


class Processes:
    """The subprocesses of the run, each with its log file; all stopped at the end."""

    def __init__(self):
        self.started: list[tuple[subprocess.Popen, str]] = []

    def start(self, command: list[str], env: dict, prefix: str) -> tuple[subprocess.Popen, str]:
        log = tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log", delete=False)
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.started.append((process, log.name))
        return process, log.name

    def worker(self, name: str) -> tuple[subprocess.Popen, str]:
        command = [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--pool=threads", "--concurrency=6"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"]
        command += [f"--hostname=withdrawals-{name}-{uuid4().hex[:6]}@%h"]
        process, log = self.start(command, process_env(), f"celery-{name}-")
        wait_for(log, r"ready\.", process)
        return process, log

    def simulator(self, code: str, secret: str, callback_url: str, seed: int, *, weights: dict) -> SimulatorClient:
        command = [sys.executable, "manage.py", "run_channel_simulator", "--port", "0", "--code", code, "--secret", secret]
        command += ["--default", "random", "--seed", str(seed), "--weights", json.dumps(weights), "--max-delay", "2"]
        command += ["--latency", "0.02", "--callback-url", callback_url, "--callback-duplicates", "2"]
        process, log = self.start(command, process_env(), f"simulator-{code}-")
        url = wait_for(log, r"ready on (http://\S+)", process).group(1)
        return SimulatorClient(url)

    def stop_all(self) -> None:
        for process, _log in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _log in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def errors(self) -> list[str]:
        """Task failures in the workers' logs: an exception no retry covers is a bug."""
        lines = []
        for process, log in self.started:
            if "celery" in process.args:
                with open(log, encoding="utf-8", errors="replace") as handle:
                    lines += [line.rstrip() for line in handle if "raised unexpected" in line]
        return lines

    def remove_logs(self) -> None:
        for _process, log in self.started:
            os.unlink(log)
