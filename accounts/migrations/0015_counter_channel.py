"""R-ACC-16: a voucher records its channel (counter / non-counter), and the posting function takes it.

``Transfer.channel``: ``non_counter`` for every existing row and by database default (rows inserted
by raw SQL stay non-counter), ``counter`` for a debit the holder made at the bank's counter.

The server-side posting function (0014) gets one more argument, ``p_channel``, which it stores on
the voucher it inserts. The outflow states it checks were already passed from Python
(``p_outflow_states``); ``accounts.ledger.postings`` now passes ``Account.outflow_states(channel)``
(``active``, plus ``non_counter_suspended`` at the counter), so Python stays the single source of
the state lists and the function's checks are otherwise 0014's, unchanged. The 17-argument function
is dropped so that nothing posts without a channel. Reversible: going back recreates 0014's function
and drops this one, then the column.
"""

import importlib

from django.db import migrations, models

OLD = importlib.import_module("accounts.migrations.0014_ledger_pg_function_posting_rules")

SIGNATURE = (
    "ledger_post_transfer(text, text, text, text, bigint, text, jsonb, timestamptz, "
    "bigint[], text[], bigint[], text[], text[], text[], text, text[], text[], text)"
)


def _derive(sql: str) -> str:
    """0014's function with the channel: one more argument, one more column in the voucher's insert."""
    replacements = [
        ("    p_credit_roles text[]\n) RETURNS bigint", "    p_credit_roles text[],\n    p_channel text\n) RETURNS bigint"),
        (
            "(created_at, updated_at, kind, client, idempotency_key, fingerprint, amount, memo, metadata, reversal_of_id)",
            "(created_at, updated_at, kind, client, idempotency_key, fingerprint, amount, memo, metadata, reversal_of_id, channel)",
        ),
        (
            "VALUES (p_now, p_now, p_kind, p_client, p_key, p_fingerprint, p_amount, p_memo, p_metadata, NULL)",
            "VALUES (p_now, p_now, p_kind, p_client, p_key, p_fingerprint, p_amount, p_memo, p_metadata, NULL, p_channel)",
        ),
        (
            "    -- 3a. the legs in order: the first one the account's state or a judicial freeze forbids\n",
            "    -- 3a. the legs in order: the first one the account's state (for an outflow: the states of the\n"
            "    --     voucher's channel, passed from Python, R-ACC-16) or a judicial freeze forbids\n",
        ),
    ]
    for old, new in replacements:
        assert sql.count(old) == 1, old
        sql = sql.replace(old, new)
    return sql


CREATE_FUNCTION = _derive(OLD.CREATE_FUNCTION)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_FUNCTION)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {OLD.SIGNATURE}")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD.CREATE_FUNCTION)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0014_ledger_pg_function_posting_rules")]

    operations = [
        migrations.AddField(
            model_name="transfer",
            name="channel",
            field=models.CharField(
                choices=[("counter", "Counter / 柜面"), ("non_counter", "Non-counter / 非柜面")],
                db_default="non_counter",
                default="non_counter",
                max_length=16,
                verbose_name="channel / 渠道",
            ),
        ),
        migrations.RunPython(forward, backward, elidable=False),
    ]
