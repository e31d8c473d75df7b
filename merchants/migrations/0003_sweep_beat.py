"""Beat: ``merchants.sweep`` every 60 s (re-drives payments and refunds in flight)."""

from django.db import migrations

BEAT_TASK = "merchants.sweep"


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _created = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(name=BEAT_TASK, defaults={"task": BEAT_TASK, "interval": interval})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=BEAT_TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0002_console_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
