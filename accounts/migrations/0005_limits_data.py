"""The PBOC tier-limit rule sets of DOMAIN.md §1.3 (302号 and 16号) and the KYC-overdue beat job."""

from django.db import migrations

# (tier, bucket, period, yuan)
CLASS2 = [
    ("II", "inflow", "day", 10_000),
    ("II", "inflow", "year", 200_000),
    ("II", "outflow", "day", 10_000),
    ("II", "outflow", "year", 200_000),
]
RULE_SETS = [
    {
        "name": "银发〔2016〕302号",
        "effective_from": "2016-12-01",
        "note": "中国人民银行关于落实个人银行账户分类管理制度的通知. In force 2016-12-01 to 2018-01-11. "
        "Class III non-bound inflows only after face-to-face confirmation.",
        "consent": False,
        "rules": CLASS2
        + [
            ("III", "balance", "moment", 1_000),
            ("III", "non_bound_inflow", "day", 5_000),
            ("III", "non_bound_inflow", "year", 100_000),
            ("III", "outflow", "day", 5_000),
            ("III", "outflow", "year", 100_000),
        ],
    },
    {
        "name": "银发〔2018〕16号",
        "effective_from": "2018-01-12",
        "note": "中国人民银行关于改进个人银行账户分类管理有关事项的通知. In force from 2018-01-12. "
        "Class III non-bound inflows after a verifying inflow from the bound account plus consent; "
        "two-way cumulative ≥ ¥50,000 requires ID registration within 7 days.",
        "consent": True,
        "rules": CLASS2
        + [
            ("III", "balance", "moment", 2_000),
            ("III", "non_bound_inflow", "day", 5_000),
            ("III", "non_bound_inflow", "year", 100_000),
            ("III", "outflow", "day", 2_000),
            ("III", "outflow", "year", 50_000),
            ("III", "two_way", "total", 50_000),
        ],
    },
]
BEAT_TASK = "accounts.kyc_tasks_mark_overdue"


def seed(apps, schema_editor):
    LimitRuleSet = apps.get_model("accounts", "LimitRuleSet")
    LimitRule = apps.get_model("accounts", "LimitRule")
    for spec in RULE_SETS:
        rule_set, _created = LimitRuleSet.objects.get_or_create(
            effective_from=spec["effective_from"],
            defaults={"name": spec["name"], "note": spec["note"], "class3_consent_enables_non_bound_inflow": spec["consent"]},
        )
        for tier, bucket, period, yuan in spec["rules"]:
            # The migration model uses the real MoneyField: yuan in, integer fen stored.
            LimitRule.objects.get_or_create(rule_set=rule_set, tier=tier, bucket=bucket, period=period, defaults={"amount": yuan})

    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _created = CrontabSchedule.objects.get_or_create(
        minute="10", hour="0", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
    )
    PeriodicTask.objects.get_or_create(name=BEAT_TASK, defaults={"task": BEAT_TASK, "crontab": crontab})


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=BEAT_TASK).delete()
    LimitRule = apps.get_model("accounts", "LimitRule")
    LimitRuleSet = apps.get_model("accounts", "LimitRuleSet")
    dates = [spec["effective_from"] for spec in RULE_SETS]
    LimitRule.objects.filter(rule_set__effective_from__in=dates).delete()
    LimitRuleSet.objects.filter(effective_from__in=dates).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_limits"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
