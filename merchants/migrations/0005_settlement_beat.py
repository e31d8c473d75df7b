"""Beat: ``merchants.settlement`` daily at 02:00 Asia/Shanghai (清分 → 清算 → 结算 of the business date
just ended, the batches due today, reserves due, scheduled payouts whose window opened), and again
at 09:05 (just after the channels' windows open) for the payouts scheduled into them."""

from django.db import migrations

BEAT_TASK = "merchants.settlement"
WINDOW_TASK = "merchants.settlement (window)"


def forwards(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, hour, minute in ((BEAT_TASK, "2", "0"), (WINDOW_TASK, "9", "5")):
        crontab, _created = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
        )
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": BEAT_TASK, "crontab": crontab, "enabled": True, "description": __doc__}
        )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[BEAT_TASK, WINDOW_TASK]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0004_settlement"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
