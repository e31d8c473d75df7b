"""Money in and out: the beat sweeper and the console permissions.

- beat: ``accounts.payments_sweep`` every 60 s (re-drives withdrawals and recharges in flight);
- auditor: views channels, withdrawals, recharges, callbacks, alerts and manual resolutions;
- operator: as auditor, plus acknowledge alerts and propose a manual resolution (maker);
- supervisor: as operator, plus edit the channel registry and approve or reject a manual
  resolution (checker; never their own proposal).
"""

from django.db import migrations

BEAT_TASK = "accounts.payments_sweep"
VIEW = [
    "view_channel",
    "view_withdrawal",
    "view_recharge",
    "view_channelcallback",
    "view_paymentalert",
    "view_withdrawalresolution",
]
OPERATOR = VIEW + ["change_paymentalert", "resolve_withdrawal", "add_withdrawalresolution"]
GROUP_PERMISSIONS = {
    "auditor": VIEW,
    "operator": OPERATOR,
    "supervisor": OPERATOR + ["add_channel", "change_channel", "approve_withdrawal_resolution", "change_withdrawalresolution"],
}


def _permissions(apps, codenames):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return {p.codename: p for p in Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames)}


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    wanted = {codename for codenames in GROUP_PERMISSIONS.values() for codename in codenames}
    found = _permissions(apps, wanted)
    missing = wanted - set(found)
    if missing:
        raise RuntimeError(f"permissions not found: {sorted(missing)}")
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*[found[c] for c in codenames])
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _created = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(name=BEAT_TASK, defaults={"task": BEAT_TASK, "interval": interval})


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=BEAT_TASK).delete()
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUP_PERMISSIONS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(*Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_payments"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
