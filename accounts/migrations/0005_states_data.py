"""Account states: subject 224198 and the 久悬未取专户, the freeze permissions for the operator
groups, a default dormancy policy (inactive until compliance sets it), and the beat schedules."""

import json
import secrets
from decimal import Decimal

from django.db import migrations

SUBJECT = ("224198", "久悬未取款项", "Dormant unclaimed funds", "liability", "C")
UNCLAIMED = ("dormant_unclaimed", "久悬未取专户 / Dormant unclaimed funds account", "224198", "C")
GROUP_PERMISSIONS = {
    "operator": ["request_judicial_freeze", "view_judicialfreeze", "view_freezerequest", "view_dormancynotice"],
    "supervisor": ["approve_judicial_freeze", "view_judicialfreeze", "view_freezerequest", "view_dormancynotice"],
    "auditor": ["view_judicialfreeze", "view_freezerequest", "view_dormancynotice", "view_dormancypolicy"],
}
# (task name, crontab minute, hour) in Asia/Shanghai; freeze expiry runs every 5 minutes.
BEAT = [
    ("accounts.suspend_unused", "10", "1"),
    ("accounts.apply_dormancy", "20", "1"),
    ("accounts.entity_dormancy", "30", "1"),
    ("accounts.release_expired_freezes", "*/5", "*"),
]


def _luhn(digits):
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def forwards(apps, schema_editor):
    Subject = apps.get_model("accounts", "Subject")
    Account = apps.get_model("accounts", "Account")
    code, zh, en, category, side = SUBJECT
    Subject.objects.update_or_create(
        code=code, defaults={"name_zh": zh, "name_en": en, "category": category, "normal_side": side}
    )
    role, name, subject, side = UNCLAIMED
    if not Account.objects.filter(kind="internal", role=role).exists():
        body = "99900" + f"{secrets.randbelow(10**10):010d}"
        Account.objects.create(
            number=body + _luhn(body),
            name=name,
            kind="internal",
            tier="internal",
            role=role,
            subject_id=subject,
            normal_side=side,
            state="active",
            balance=0,
            frozen=0,
        )

    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for codename in codenames:
            group.permissions.add(Permission.objects.get(content_type__app_label="accounts", codename=codename))

    DormancyPolicy = apps.get_model("accounts", "DormancyPolicy")
    DormancyPolicy.objects.get_or_create(
        name="personal-365d-10yuan",
        defaults={
            "tiers": ["I", "II", "III"],
            "inactive_days": 365,
            "max_balance": Decimal("10.00"),  # DOMAIN.md §1.6, 兴业银行 example [U]
            "excluded_kinds": ["interest", "judicial_deduction", "fee"],
            "action": "mark_dormant",
            "is_active": False,
        },
    )

    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for task, minute, hour in BEAT:
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
        )
        PeriodicTask.objects.update_or_create(
            name=task, defaults={"task": task, "crontab": schedule, "args": json.dumps([]), "enabled": True}
        )


def backwards(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[task for task, _minute, _hour in BEAT]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_states"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
