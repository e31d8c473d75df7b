"""Operators and supervisors open accounts in the console (the service checks the rules)."""

from django.db import migrations


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    add_account = Permission.objects.get(content_type__app_label="accounts", codename="add_account")
    for name in ("operator", "supervisor"):
        Group.objects.get(name=name).permissions.add(add_account)


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    add_account = Permission.objects.get(content_type__app_label="accounts", codename="add_account")
    for name in ("operator", "supervisor"):
        Group.objects.get(name=name).permissions.remove(add_account)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_party_personal_data")]

    operations = [migrations.RunPython(forwards, backwards)]
