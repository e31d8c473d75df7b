"""Four indexes fewer to write on every signed money-moving request (issue #14), none that a query uses.

- ``backoffice_apinonce.client_id`` and ``backoffice_idempotencyrecord.client_id``: the unique constraints
  (client, nonce) and (client, key) lead with the client and serve every lookup by client.
- ``backoffice_auditlog.action`` and ``.target_id``'s ``varchar_pattern_ops`` twins (``..._like``, created by
  PostgreSQL's schema editor for an indexed CharField): they only serve ``LIKE 'prefix%'``; the console and the
  services look audit records up by equal action and target. The plain indexes stay.
"""

import django.db.models.deletion
from django.db import migrations, models

LIKE_INDEXES = {
    "backoffice_auditlog_action_b6d0321f_like": "action",
    "backoffice_auditlog_target_id_b66e5865_like": "target_id",
}


def drop_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in LIKE_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def create_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, column in LIKE_INDEXES.items():
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON backoffice_auditlog ({column} varchar_pattern_ops)")


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0004_webhooks")]

    operations = [
        migrations.AlterField(
            model_name="apinonce",
            name="client",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="backoffice.apiclient"
            ),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="client",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="backoffice.apiclient"
            ),
        ),
        migrations.RunPython(drop_like_indexes, create_like_indexes, elidable=False),
    ]
