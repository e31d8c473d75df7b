"""The embedded demo's in-process beat (``make run``): the due periodic tasks of django-celery-beat run
once per due time, in this process, and each run is recorded on its row; the product name."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from backoffice.scheduler import run_due

pytestmark = pytest.mark.django_db


def test_run_due_runs_a_due_task_once_and_records_it():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update(enabled=False)
    task = PeriodicTask.objects.create(name="demo beat test", task="backoffice.purge_nonces", interval=every_minute, enabled=True)
    now = timezone.now()
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=now - dt.timedelta(minutes=2))

    assert run_due(now) == ["backoffice.purge_nonces"]
    task.refresh_from_db()
    assert task.last_run_at == now and task.total_run_count == 1
    assert run_due() == []  # not due again within the minute (the schedule reads the clock)
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now() - dt.timedelta(minutes=1, seconds=1))
    assert run_due() == ["backoffice.purge_nonces"]


def test_run_due_skips_disabled_and_unknown_tasks():
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update(enabled=False)
    PeriodicTask.objects.create(name="unknown", task="nowhere.nothing", interval=every_minute, enabled=True)
    assert run_due() == []
