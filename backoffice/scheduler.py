"""An in-process beat for the embedded demo (``make run``): the periodic tasks of django-celery-beat,
run in a thread beside the web server, so that what beat and a worker do in production (sweep
withdrawals and recharges in flight, query unknown outcomes, send and expire micro-deposits,
deliver webhooks, end of day) also happens in the demo without a broker or an operator.

Only for ``CELERY_TASK_ALWAYS_EAGER`` (no broker): the tasks run inline, in this process. With a
broker, run ``make worker`` and ``make beat`` instead. Every ``every`` seconds the thread reads
the enabled ``PeriodicTask`` rows, runs those whose schedule is due (``schedule.is_due`` with
the row's ``last_run_at``, as celery beat's own scheduler does) and records the run on the row
(``last_run_at``, ``total_run_count``) so that the console shows it. A failing task is logged and
does not stop the others or the thread.
"""

from __future__ import annotations

import json
import logging
import threading

from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

__all__ = ["DemoBeat", "run_due"]


def run_due(now=None) -> list[str]:
    """Run every enabled periodic task that is due now, once; returns their names."""
    from django_celery_beat.models import PeriodicTask

    from backoffice.celery_app import app

    now = now or timezone.now()
    ran = []
    for entry in PeriodicTask.objects.filter(enabled=True).select_related("interval", "crontab", "solar", "clocked"):
        if entry.task not in app.tasks:
            continue
        last = entry.last_run_at or entry.date_changed or now
        try:
            due, _next = entry.schedule.is_due(timezone.localtime(last, timezone.get_default_timezone()))
        except Exception:  # noqa: BLE001 - a schedule the demo cannot read is skipped, not fatal
            logger.exception("demo beat: cannot read the schedule of %s", entry.name)
            continue
        if entry.last_run_at is None and entry.interval_id is not None:
            due = True  # an interval task that never ran runs at once
        if not due:
            continue
        PeriodicTask.objects.filter(pk=entry.pk).update(last_run_at=now, total_run_count=entry.total_run_count + 1)
        try:
            app.tasks[entry.task].apply(args=json.loads(entry.args or "[]"), kwargs=json.loads(entry.kwargs or "{}"))
        except Exception:  # noqa: BLE001 - one failing task never stops the others
            logger.exception("demo beat: task %s failed", entry.task)
        ran.append(entry.task)
    return ran


class DemoBeat(threading.Thread):
    """A daemon thread calling ``run_due`` every ``every`` seconds until ``stop()``."""

    def __init__(self, every: int = 10):
        super().__init__(name="demo-beat", daemon=True)
        self.every = every
        self._stop_event = threading.Event()

    def run(self) -> None:
        from backoffice.celery_app import app

        app.loader.import_default_modules()  # register every app's tasks
        while not self._stop_event.wait(self.every):
            close_old_connections()
            try:
                ran = run_due()
            except Exception:  # noqa: BLE001 - e.g. the database is busy: try again next tick
                logger.exception("demo beat: tick failed")
                ran = []
            finally:
                close_old_connections()
            if ran:
                logger.info("demo beat ran: %s", ", ".join(ran))

    def stop(self) -> None:
        self._stop_event.set()
