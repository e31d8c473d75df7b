"""Console permissions for settlement and payouts.

- auditor: views settlement batches and items, clearing files and lines, payouts, authorisations;
- operator (the maker): as auditor, plus propose a refund payout past the window (add payout);
- supervisor (the checker): as operator, plus approve or reject it (``check_merchant_payout``);
  the service refuses the maker as checker.
"""

from django.db import migrations

VIEW = [
    "view_settlementbatch",
    "view_settlementitem",
    "view_clearingfile",
    "view_clearingline",
    "view_merchantpayout",
    "view_settlementauthorisation",
]
OPERATOR = VIEW + ["add_merchantpayout"]
GROUP_PERMISSIONS = {
    "auditor": VIEW,
    "operator": OPERATOR,
    "supervisor": OPERATOR + ["check_merchant_payout"],
}


def _permissions(apps, codenames):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return {p.codename: p for p in Permission.objects.filter(content_type__app_label="merchants", codename__in=codenames)}


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


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUP_PERMISSIONS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(*Permission.objects.filter(content_type__app_label="merchants", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0006_merchant_users"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
