"""Seed the card-binding data: the BIN table fixture, the 2026 PRC holiday calendar, and the
micro-deposit beat jobs.

The 2026 calendar is approximate (from the State Council's holiday notice as remembered, not
checked against the published text): operators correct it in the console.
"""

import datetime as dt
import json
from pathlib import Path

from django.db import migrations

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "bins.json"

# (first day, last day, name) off; then the make-up working days (调休上班).
HOLIDAYS_2026 = [
    ("2026-01-01", "2026-01-03", "元旦 New Year's Day"),
    ("2026-02-15", "2026-02-23", "春节 Spring Festival"),
    ("2026-04-04", "2026-04-06", "清明节 Qingming"),
    ("2026-05-01", "2026-05-05", "劳动节 Labour Day"),
    ("2026-06-19", "2026-06-21", "端午节 Dragon Boat Festival"),
    ("2026-09-25", "2026-09-27", "中秋节 Mid-Autumn Festival"),
    ("2026-10-01", "2026-10-07", "国庆节 National Day"),
]
MAKEUP_2026 = [
    ("2026-01-04", "元旦调休 New Year make-up day"),
    ("2026-02-14", "春节调休 Spring Festival make-up day"),
    ("2026-02-28", "春节调休 Spring Festival make-up day"),
    ("2026-05-09", "劳动节调休 Labour Day make-up day"),
    ("2026-09-20", "国庆节调休 National Day make-up day"),
    ("2026-10-10", "国庆节调休 National Day make-up day"),
]

BEAT = [
    # (name, task, minutes between runs)
    ("accounts: expire micro-deposits", "accounts.micro_deposit_expire", 15),
    ("accounts: micro-deposit sweep (rate-limited sends, stale unknown sends)", "accounts.micro_deposit_sweep", 10),
]


def seed(apps, schema_editor):
    BinEntry = apps.get_model("accounts", "BinEntry")
    for row in json.loads(FIXTURE.read_text(encoding="utf-8")):
        fields = dict(row["fields"])
        prefix = fields.pop("prefix")
        BinEntry.objects.update_or_create(prefix=prefix, defaults=fields)

    Holiday = apps.get_model("accounts", "Holiday")
    for first, last, name in HOLIDAYS_2026:
        day, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
        while day <= end:
            Holiday.objects.update_or_create(date=day, defaults={"name": name, "is_working_day": False})
            day += dt.timedelta(days=1)
    for day, name in MAKEUP_2026:
        Holiday.objects.update_or_create(date=dt.date.fromisoformat(day), defaults={"name": name, "is_working_day": True})

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minutes in BEAT:
        schedule, _created = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": schedule, "enabled": True})


def unseed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=[task for _name, task, _m in BEAT]).delete()
    apps.get_model("accounts", "Holiday").objects.filter(date__year=2026).delete()
    prefixes = [row["fields"]["prefix"] for row in json.loads(FIXTURE.read_text(encoding="utf-8"))]
    apps.get_model("accounts", "BinEntry").objects.filter(prefix__in=prefixes).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_cards"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
