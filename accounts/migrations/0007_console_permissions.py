"""Console permissions for the tiered-accounts screens: KYC, cards, limits, freezes, dormancy.

- auditor: views every new record (bound cards, micro-deposits, one-time codes, the SMS outbox,
  the BIN table, the holiday calendar, limit rule sets and rules, KYC tasks, dormancy policies,
  judicial freezes and their requests, account-opening overrides);
- operator: as auditor, plus edit the holiday calendar, import BIN rows (add + change BIN entry),
  complete KYC tasks, retry micro-deposits (add micro-deposit) and the counter actions on an
  account (change account: face-to-face, consent, identity re-verification, counter
  reactivation); freeze requests were granted by 0005_states_data;
- supervisor: as operator, plus edit limit rule sets, limit rules and dormancy policies, and see
  unmasked personal data (audited); approving freezes was granted by 0005_states_data.
"""

from django.db import migrations

VIEW_NEW = [
    "view_binentry",
    "view_boundcard",
    "view_microdeposit",
    "view_onetimecode",
    "view_smsmessage",
    "view_holiday",
    "view_limitruleset",
    "view_limitrule",
    "view_kyctask",
    "view_dormancypolicy",
    "view_judicialfreeze",
    "view_freezerequest",
    "view_accountopeningoverride",
]
OPERATOR = VIEW_NEW + [
    "add_holiday",
    "change_holiday",
    "add_binentry",
    "change_binentry",
    "change_kyctask",
    "add_microdeposit",
    "change_account",
]
GROUP_PERMISSIONS = {
    "auditor": VIEW_NEW,
    "operator": OPERATOR,
    "supervisor": OPERATOR
    + [
        "add_limitruleset",
        "change_limitruleset",
        "add_limitrule",
        "change_limitrule",
        "add_dormancypolicy",
        "change_dormancypolicy",
        "view_personal_data",
    ],
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


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    previously = {"view_judicialfreeze", "view_freezerequest", "view_dormancypolicy"}  # from 0005_states_data
    for name, codenames in GROUP_PERMISSIONS.items():
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        remove = [c for c in codenames if c not in previously]
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="accounts", codename__in=remove))


class Migration(migrations.Migration):
    # 0008_ledger_pg_function (written in parallel) also follows 0006: depending on it as well keeps
    # one leaf in the graph, with no merge migration. If 0008 is renamed, rename it here too.
    dependencies = [
        ("accounts", "0006_merge_tiered_accounts"),
        ("accounts", "0008_ledger_pg_function"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
