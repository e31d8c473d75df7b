"""Beat: custody's sweeps (custody.tasks).

- ``custody.loans_fail_expired`` every 5 minutes: loans still open after their fundraising deadline fail (流标).
- ``custody.confirmations_expire`` every minute: pending confirmations past their 15 minutes expire.
- ``custody.instalments_mark_overdue`` at 00:05 Asia/Shanghai: instalments past their due date are overdue.
"""

from django.db import migrations

INTERVALS = {"custody.loans_fail_expired": 5, "custody.confirmations_expire": 1}
DAILY = "custody.instalments_mark_overdue"


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for task, minutes in INTERVALS.items():
        interval, _created = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.get_or_create(
            name=task, defaults={"task": task, "interval": interval, "enabled": True, "description": __doc__}
        )
    crontab, _created = CrontabSchedule.objects.get_or_create(
        minute="5", hour="0", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
    )
    PeriodicTask.objects.get_or_create(
        name=DAILY, defaults={"task": DAILY, "crontab": crontab, "enabled": True, "description": __doc__}
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[*INTERVALS, DAILY]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0008_confirmation_kinds"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
