"""Beat: ``accounts.end_of_day`` at 23:59 Asia/Shanghai, the business day's end (R-WD-07):
``ledger_check`` and every registered money invariant, a P1 alert on any drift."""

from django.db import migrations

BEAT_TASK = "accounts.end_of_day"


def forwards(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _created = CrontabSchedule.objects.get_or_create(
        minute="59", hour="23", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
    )
    PeriodicTask.objects.get_or_create(
        name=BEAT_TASK, defaults={"task": BEAT_TASK, "crontab": crontab, "enabled": True, "description": __doc__}
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=BEAT_TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0012_paymentalert_ledger_drift"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
