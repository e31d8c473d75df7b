"""Console permissions for held items (R-REC-03/04).

- auditor: views held items, their adjustments (调账) and long-item notes;
- operator (the maker): as auditor, plus propose an adjustment and note a long item;
- supervisor (the checker): as operator, plus approve or reject an adjustment (``check_helditem``);
  the service refuses the maker as checker.
"""

from django.db import migrations

VIEW = ["view_helditem", "view_heldadjustment", "view_longlinenote"]
OPERATOR = VIEW + ["add_heldadjustment", "add_longlinenote"]
GROUP_PERMISSIONS = {
    "auditor": VIEW,
    "operator": OPERATOR,
    "supervisor": OPERATOR + ["check_helditem"],
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
        ("merchants", "0008_held_items"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
