"""Two indexes fewer to write on every posting (issue #14), none that a query uses.

- ``accounts_entry.account_id``: the composite ``entry_account_time`` (account, created_at) leads with the account and
  serves every lookup by account (statements, the PROTECT check on delete).
- ``accounts_transfer.kind``'s ``varchar_pattern_ops`` twin (``..._like``, created by PostgreSQL's schema editor for
  an indexed CharField): it only serves ``LIKE 'prefix%'``, and nothing filters vouchers by a prefix of their kind.
  The plain index on ``kind`` stays. ``DROP INDEX IF EXISTS`` is what Django's own schema editor uses, so a later
  change of the field finds nothing missing.
"""

import django.db.models.deletion
from django.db import migrations, models

LIKE_INDEX = "accounts_transfer_kind_9409e717_like"


def drop_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {LIKE_INDEX}")


def create_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {LIKE_INDEX} ON accounts_transfer (kind varchar_pattern_ops)")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0023_api_post_transfer")]

    operations = [
        migrations.AlterField(
            model_name="entry",
            name="account",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="accounts.account",
                verbose_name="account / 账户",
            ),
        ),
        migrations.RunPython(drop_like_index, create_like_index, elidable=False),
    ]
