"""The signed ``POST /api/v1/transfers/`` in one statement on PostgreSQL (issue #14).

``api_post_transfer()`` does, in one round trip and one transaction (one commit), what the request
did in six statements and four commits: record the nonce (only if the API client's row is still the
one the worker process cached: active, same encrypted secret, scopes and IP allow-list), look up an
earlier request with the same ``Idempotency-Key`` (a finished one with the same method, path and
body fingerprint is answered again, byte for byte, with the nonce recorded), resolve the two account
numbers with the client's visibility rules (``backoffice.signing.client_sees_account``), compute the
ledger's request fingerprint (its JSON text built in Python around the two ids), post through the
ledger's own ``ledger_post_transfer()`` (all its locks, checks and refusals), write the audit row
``transfer.create`` and store the answer (``{"id":"`` + the voucher's id + ``"`` + the rest, rendered by
Python's JSONRenderer) as a finished idempotency record.

It handles the common case only. Anything else raises and so rolls the whole statement back
(nothing written, not even the nonce), and the view then runs the general path, which answers
exactly as before: AP001 the client changed since it was cached, AP002 the key belongs to another
request or one still in flight, AP003 an account missing, invisible, or of a Class II/III tier (the
tier-limit guards run in Python), LG001-LG004 the ledger's refusals, 23505 a concurrent request
with the same key or a ledger replay, 40P01/40001 a deadlock or serialization failure.

The rule lists the ledger needs (``Account.INFLOW_STATES``, the outflow states of the channel, the
chart's may-overdraw roles, the posting rule of the kind) are passed by the caller, as
``accounts.ledger.postings`` passes them to ``ledger_post_transfer()``: Python stays their single
source. Reversible: going back drops the function.
"""

from django.db import migrations

SIGNATURE = (
    "api_post_transfer(bigint, text, jsonb, jsonb, text, text, text, text, text, text, bigint, text, timestamptz, "
    "text[], text[], text, text, text, text, text, text, jsonb, text[], text[], text[], text, text[], text[], text)"
)

CREATE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION api_post_transfer(
    p_client_pk bigint,
    p_secret_encrypted text,
    p_scopes_json jsonb,
    p_ips_json jsonb,
    p_nonce text,
    p_key text,
    p_path text,
    p_request_fingerprint text,
    p_from text,
    p_to text,
    p_amount bigint,
    p_memo text,
    p_now timestamptz,
    p_scopes text[],
    p_limited_tiers text[],
    p_ledger_client text,
    p_kind text,
    p_fp_head text,
    p_fp_amount text,
    p_fp_tail text,
    p_body_tail text,
    p_audit jsonb,
    p_inflow_states text[],
    p_outflow_states text[],
    p_overdraw_roles text[],
    p_internal_kind text,
    p_debit_roles text[],
    p_credit_roles text[],
    p_channel text,
    OUT o_status integer,
    OUT o_body text,
    OUT o_replayed boolean
)
LANGUAGE plpgsql
AS $fn$
DECLARE
    r record;
    v_from bigint;
    v_to bigint;
    v_fp text;
    v_transfer bigint;
BEGIN
    -- 1. the nonce, only if the client's row is the one the caller cached (a duplicate nonce: 23505)
    INSERT INTO backoffice_apinonce (client_id, nonce, seen_at)
    SELECT id, p_nonce, p_now
      FROM backoffice_apiclient
     WHERE id = p_client_pk AND is_active AND secret_encrypted = p_secret_encrypted
       AND scopes = p_scopes_json AND ip_allowlist = p_ips_json;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'AP001', MESSAGE = 'api: the client changed since it was cached';
    END IF;

    -- 2. an earlier request with this key: the same one, finished, is answered again; anything else is
    --    the general path's (a different request, one still in flight, a stale claim)
    SELECT state, method, path, fingerprint, response_status, response_body INTO r
      FROM backoffice_idempotencyrecord
     WHERE client_id = p_client_pk AND "key" = p_key;
    IF FOUND THEN
        IF r.state = 'done' AND r.method = 'POST' AND r.path = p_path AND r.fingerprint = p_request_fingerprint THEN
            o_status := r.response_status;
            o_body := r.response_body;
            o_replayed := true;
            RETURN;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'AP002', MESSAGE = 'api: the idempotency key belongs to another request';
    END IF;

    -- 3. the accounts, with the client's visibility (customer accounts of a party, outside any platform's books,
    --    granted by *, account:<number> or party:<id>); a Class II/III account takes the general path (tier limits)
    FOR r IN
        SELECT id, number, party_id, tier, kind, owner FROM accounts_account WHERE number IN (p_from, p_to)
    LOOP
        IF r.party_id IS NULL OR r.kind = p_internal_kind OR coalesce(r.owner, '') <> ''
           OR NOT ('*' = ANY (p_scopes) OR ('account:' || r.number) = ANY (p_scopes)
                   OR ('party:' || r.party_id) = ANY (p_scopes))
           OR r.tier = ANY (p_limited_tiers) THEN
            RAISE EXCEPTION USING ERRCODE = 'AP003', MESSAGE = 'api: an account for the general path';
        END IF;
        IF r.number = p_from THEN
            v_from := r.id;
        ELSE
            v_to := r.id;
        END IF;
    END LOOP;
    IF v_from IS NULL OR v_to IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'AP003', MESSAGE = 'api: an account for the general path';
    END IF;

    -- 4. the ledger's request fingerprint: its JSON text (legs sorted by account id) around the two ids
    IF v_from < v_to THEN
        v_fp := p_fp_head || v_from || ',"D",' || p_fp_amount || '],[' || v_to || ',"C",' || p_fp_amount || ']]' || p_fp_tail;
    ELSE
        v_fp := p_fp_head || v_to || ',"C",' || p_fp_amount || '],[' || v_from || ',"D",' || p_fp_amount || ']]' || p_fp_tail;
    END IF;
    v_fp := encode(sha256(convert_to(v_fp, 'UTF8')), 'hex');

    -- 5. the posting, through the ledger's own function (locks, checks, refusals LG001-LG004)
    v_transfer := ledger_post_transfer(
        p_ledger_client, p_key, p_kind, v_fp, p_amount, p_memo, '{}'::jsonb, p_now,
        ARRAY[v_from, v_to], ARRAY['D', 'C'], ARRAY[p_amount, p_amount],
        p_inflow_states, p_outflow_states, p_overdraw_roles, p_internal_kind, p_debit_roles, p_credit_roles, p_channel
    );

    -- 6. its audit row and the stored answer
    INSERT INTO backoffice_auditlog (created_at, actor_id, actor_label, action, target_type, target_id, data)
    VALUES (p_now, NULL, p_ledger_client, 'transfer.create', 'accounts.transfer', v_transfer::text, p_audit);
    o_status := 201;
    o_body := '{"id":"' || v_transfer || '"' || p_body_tail;
    o_replayed := false;
    INSERT INTO backoffice_idempotencyrecord
        (client_id, "key", method, path, fingerprint, state, response_status, response_body, created_at, updated_at)
    VALUES (p_client_pk, p_key, 'POST', p_path, p_request_fingerprint, 'done', o_status, o_body, p_now, p_now);
END
$fn$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_FUNCTION)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0022_ledger_checkpoint"),
        ("backoffice", "0004_webhooks"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
