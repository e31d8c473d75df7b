"""The chart of accounting subjects, the bank's internal accounts, and the operator groups."""

import secrets

from django.db import migrations

SUBJECTS = [
    ("100201", "清算资金往来", "Clearing funds", "asset", "D"),
    ("201101", "个人活期存款", "Personal demand deposits", "liability", "C"),
    ("201201", "单位活期存款", "Corporate demand deposits", "liability", "C"),
    ("224104", "提现在途", "Withdrawals in transit", "liability", "C"),
    ("224199", "待处理挂账", "Suspense", "liability", "C"),
    ("602101", "手续费及佣金收入", "Fee and commission income", "income", "C"),
    ("660101", "营销费用", "Marketing expense", "expense", "D"),
]
INTERNAL = [
    ("clearing", "清算资金往来户 / Clearing account", "100201", "D"),
    ("transit_withdrawal", "提现过渡户 / Withdrawal transit account", "224104", "C"),
    ("fee_income", "手续费收入户 / Fee income account", "602101", "C"),
    ("suspense", "待处理挂账户 / Suspense account", "224199", "C"),
    ("marketing", "营销费用户 / Marketing account", "660101", "D"),
]

VIEW_ALL = [
    ("accounts", "view_account"),
    ("accounts", "view_party"),
    ("accounts", "view_transfer"),
    ("accounts", "view_entry"),
    ("accounts", "view_hold"),
    ("accounts", "view_subject"),
    ("backoffice", "view_auditlog"),
    ("backoffice", "view_apiclient"),
]
GROUPS = {
    "auditor": VIEW_ALL,
    "operator": VIEW_ALL + [("accounts", "add_party"), ("accounts", "change_party")],
    "supervisor": VIEW_ALL
    + [
        ("accounts", "add_party"),
        ("accounts", "change_party"),
        ("accounts", "change_account_state"),
        ("backoffice", "add_apiclient"),
        ("backoffice", "change_apiclient"),
    ],
}


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
    for code, zh, en, category, side in SUBJECTS:
        Subject.objects.update_or_create(
            code=code, defaults={"name_zh": zh, "name_en": en, "category": category, "normal_side": side}
        )
    for role, name, subject, side in INTERNAL:
        if Account.objects.filter(kind="internal", role=role).exists():
            continue
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
    for name, perms in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in perms:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("backoffice", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
