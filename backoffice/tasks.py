"""Tasks of the shared kernel, and how use cases enqueue tasks: by their stable name, after commit.

A service never imports its task module (that would run the dependency upward, from a domain
package to a face). It names the task instead (``"accounts.withdrawal_submit"``) and calls
``enqueue_on_commit``; the task is looked up in the Celery app's registry when the transaction
commits, so it is sent only if the row it points to exists. Task names are part of the
contract (beat schedules and queued messages hold them): never rename one.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

log = logging.getLogger(__name__)


def task_named(name: str):
    """The registered Celery task called ``name`` (KeyError if none is)."""
    from backoffice.celery_app import app

    if name not in app.tasks:
        app.loader.import_default_modules()  # autodiscovery is lazy: import every app's tasks module
    return app.tasks[name]


def tasks_run_eagerly() -> bool:
    """Do tasks run inline (no broker: the embedded mode, and the unit tests)? Asked of the Celery
    app, not the settings: the tests switch the app to eager while a broker is configured."""
    from backoffice.celery_app import app

    return bool(app.conf.task_always_eager)


def enqueue_on_commit(name: str, *args, countdown: int | None = None, robust: bool = False) -> None:
    """Send the task ``name`` with ``args`` once the current transaction commits (at once outside
    one). ``robust=True`` logs a broker error instead of raising it: use it only where the
    committed row is its own outbox and a sweeper re-drives it (STACK.md trap 10). The arguments
    are bound now, never late (CONVENTIONS.md pitfall 6)."""

    def send() -> None:
        task = task_named(name)
        if countdown is None:
            task.delay(*args)
        else:
            task.apply_async(args=args, countdown=countdown)

    transaction.on_commit(send, robust=robust)


def enqueue_now(name: str, *args, countdown: int | None = None) -> None:
    """Send the task ``name`` at once (no transaction to wait for: sweepers and retries)."""
    task = task_named(name)
    if countdown is None:
        task.delay(*args)
    else:
        task.apply_async(args=args, countdown=countdown)


@shared_task(name="backoffice.purge_nonces")
def purge_nonces() -> dict[str, int]:
    """Forget API nonces older than API_NONCE_TTL and idempotency records older than API_IDEMPOTENCY_TTL.

    Safe to run at any time and any number of times. Schedule it hourly (django-celery-beat).
    """
    from backoffice.idempotency import idempotency_records_purge
    from backoffice.signing import nonces_purge

    return {"nonces": nonces_purge(), "idempotency_records": idempotency_records_purge()}
