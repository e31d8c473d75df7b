"""R-DEP-06 borrowing caps as data (a natural person ≤ 200,000.00, an organisation ≤ 1,000,000.00 of
outstanding principal on one platform; 暂行办法 Art. 17, in force 2016-08-24), and the console's view
permissions on loans: auditors, operators and supervisors read loans, bids, schedules, repayments,
standing authorisations and caps (the console is read-only for them)."""

import datetime as dt
from decimal import Decimal

from django.db import migrations

CAPS = [
    ("person", Decimal("200000.00"), "暂行办法 (银监会令2016年第1号) 第十七条: 自然人在同一平台借款余额上限 20 万元"),
    (
        "organisation",
        Decimal("1000000.00"),
        "暂行办法 (银监会令2016年第1号) 第十七条: 法人或其他组织在同一平台借款余额上限 100 万元",
    ),
]
EFFECTIVE_FROM = dt.date(2016, 8, 24)
VIEW = [
    "view_loan",
    "view_loaninstalment",
    "view_bid",
    "view_repayment",
    "view_repaymentdebt",
    "view_standingauthorisation",
    "view_borrowingcap",
]
GROUPS = ("auditor", "operator", "supervisor")


def forwards(apps, schema_editor):
    BorrowingCap = apps.get_model("custody", "BorrowingCap")
    for kind, amount, source in CAPS:
        BorrowingCap.objects.get_or_create(
            party_kind=kind, effective_from=EFFECTIVE_FROM, defaults={"amount": amount, "source": source}
        )
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(Permission.objects.filter(content_type__app_label="custody", codename__in=VIEW))
    if len(permissions) != len(VIEW):
        raise RuntimeError("loan view permissions not found")
    for name in GROUPS:
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


def backwards(apps, schema_editor):
    apps.get_model("custody", "BorrowingCap").objects.filter(effective_from=EFFECTIVE_FROM).delete()


class Migration(migrations.Migration):
    dependencies = [("custody", "0003_loans")]

    operations = [migrations.RunPython(forwards, backwards)]
