"""The ledger's server-side batch posting function on PostgreSQL (issue #14): a whole batch, one round trip.

``accounts.ledger.postings.post_transfers`` calls ``ledger_post_transfers(...)`` on PostgreSQL when no
item has guards. It takes the batch as arrays (the items' keys, fingerprints, totals and memos, their
metadata as one JSON array, the legs flattened with their item's index) and posts every item exactly
as ``ledger_post_transfer`` (0008, 0014, 0015) posts one voucher, with the same rule lists passed from
Python (``Account.INFLOW_STATES``, ``Account.outflow_states(channel)``, the chart's may-overdraw
roles, the posting rule of the kind, the channel), in the same order of checks:

1. every account of the batch is locked once, at the start, in ascending id order (two batches, or a
   batch and a single posting, never deadlock);
2. per item, in order: missing accounts (LG003, before anything is written); the voucher's key
   (the ``(client, idempotency_key)`` unique constraint: a key already taken, by an earlier request,
   an earlier item of this batch or a concurrent request that committed meanwhile, answers the first
   voucher when the fingerprint is the same and is refused as a conflict, 23505, when it is not);
   the posting rule of the kind (LG004, first leg in leg order); the account states and judicial
   blocks (LG002, first leg in leg order); the funds (LG001, the first account in ascending id order
   whose available would go below zero and whose role may not overdraw). A refusal carries the same
   DETAIL data as the single function's, and the item's balances are never applied: one item's
   refusal never undoes another's, and a later item sees every earlier posted item's balances.
3. at the end, the entries of every posted item in one ``INSERT ... SELECT FROM unnest(...)`` (item
   order, leg order, each with its running ``balance_after``) and every touched account's stored
   balance in one ``UPDATE`` by primary key.

Why no ``BEGIN ... EXCEPTION`` block per item: a block is a subtransaction, and a transaction with more
than 64 subtransactions that wrote (a batch of 100) overflows PostgreSQL's per-backend subxid cache,
after which every other session's snapshot checks pg_subtrans (a known cliff). Checks run on the
locked rows held in arrays before anything is written, and the voucher is inserted with
``ON CONFLICT DO NOTHING``, so a posted item needs no subtransaction at all. A refused item still asks
the key first (a replay or conflict answers before the refusal, as on the single path); it does so
with an insert that a one-statement block always undoes, so a concurrent request's uncommitted
voucher with the same key is waited for exactly as the single path waits for it.

Returns one row of three arrays, one element per item: ``o_outcomes`` (``posted``, ``replayed`` or the
refusal's SQLSTATE), ``o_transfers`` (the voucher's id: new or, for a replay, the first one) and
``o_details`` (the refusal's data as JSON text). Reversible: going back drops the function.
"""

from django.db import migrations

SIGNATURE = (
    "ledger_post_transfers(text, text, timestamptz, text[], text[], bigint[], text[], jsonb, "
    "integer[], bigint[], text[], bigint[], text[], text[], text[], text, text[], text[], text)"
)

CREATE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION ledger_post_transfers(
    p_client text,
    p_kind text,
    p_now timestamptz,
    p_keys text[],
    p_fingerprints text[],
    p_totals bigint[],
    p_memos text[],
    p_metadata jsonb,
    p_leg_items integer[],
    p_account_ids bigint[],
    p_sides text[],
    p_amounts bigint[],
    p_inflow_states text[],
    p_outflow_states text[],
    p_overdraw_roles text[],
    p_internal_kind text,
    p_debit_roles text[],
    p_credit_roles text[],
    p_channel text,
    OUT o_outcomes text[],
    OUT o_transfers bigint[],
    OUT o_details text[]
)
LANGUAGE plpgsql
AS $fn$
DECLARE
    n_items integer := cardinality(p_keys);
    n_legs integer := cardinality(p_account_ids);
    n integer := 0;
    r record;
    -- the locked accounts, ascending id: one array per column the checks need
    a_id bigint[] := '{}';
    a_number text[] := '{}';
    a_kind text[] := '{}';
    a_role text[] := '{}';
    a_state text[] := '{}';
    a_side text[] := '{}';
    a_subject text[] := '{}';
    a_balance bigint[] := '{}';
    a_frozen bigint[] := '{}';
    a_debit_blocks integer[] := '{}';
    a_credit_blocks integer[] := '{}';
    a_touched boolean[] := '{}';
    -- per leg: its account's index in the a_ arrays (NULL: no such account), its running balance
    l_pos integer[] := array_fill(NULL::integer, ARRAY[n_legs]);
    l_after bigint[] := array_fill(0::bigint, ARRAY[n_legs]);
    -- the entries of the posted items: the voucher and the leg of each
    e_transfer bigint[] := '{}';
    e_leg integer[] := '{}';
    ne integer := 0;
    -- the item being posted: its distinct accounts (index in a_) and their running balances
    t_pos integer[];
    t_bal bigint[];
    nt integer;
    v_first integer;
    v_last integer := 0;
    v_missing bigint[];
    v_outcome text;
    v_detail text;
    v_outflow boolean;
    v_transfer bigint;
    v_previous_id bigint;
    v_previous_fingerprint text;
    v_short integer;
    item integer;
    i integer;
    j integer;
    m integer;
BEGIN
    o_outcomes := array_fill(NULL::text, ARRAY[n_items]);
    o_transfers := array_fill(NULL::bigint, ARRAY[n_items]);
    o_details := array_fill(NULL::text, ARRAY[n_items]);

    -- 1. lock every account of the batch once, ascending id order, reading what the checks need
    FOR r IN
        SELECT id, number, kind, role, state, normal_side, subject_id, balance, frozen,
               judicial_debit_blocks, judicial_credit_blocks
          FROM accounts_account
         WHERE id = ANY (p_account_ids)
         ORDER BY id
           FOR UPDATE
    LOOP
        n := n + 1;
        a_id[n] := r.id;
        a_number[n] := r.number;
        a_kind[n] := r.kind;
        a_role[n] := r.role;
        a_state[n] := r.state;
        a_side[n] := r.normal_side;
        a_subject[n] := r.subject_id;
        a_balance[n] := r.balance;
        a_frozen[n] := r.frozen;
        a_debit_blocks[n] := r.judicial_debit_blocks;
        a_credit_blocks[n] := r.judicial_credit_blocks;
        a_touched[n] := false;
    END LOOP;
    FOR i IN 1 .. n_legs LOOP
        l_pos[i] := array_position(a_id, p_account_ids[i]);
    END LOOP;

    FOR item IN 1 .. n_items LOOP
        -- the item's legs: p_leg_items lists them contiguously, in item order
        v_first := v_last + 1;
        v_last := v_first - 1;
        WHILE v_last < n_legs AND p_leg_items[v_last + 1] = item LOOP
            v_last := v_last + 1;
        END LOOP;
        v_outcome := NULL;
        v_detail := NULL;

        -- 2a. missing accounts: refused before anything is written (LG003)
        v_missing := NULL;
        FOR i IN v_first .. v_last LOOP
            IF l_pos[i] IS NULL AND NOT (p_account_ids[i] = ANY (coalesce(v_missing, '{}'))) THEN
                v_missing := array_append(v_missing, p_account_ids[i]);
            END IF;
        END LOOP;
        IF v_missing IS NOT NULL THEN
            o_outcomes[item] := 'LG003';
            o_details[item] := json_build_object('missing', ARRAY(SELECT x FROM unnest(v_missing) AS x ORDER BY x))::text;
            CONTINUE;
        END IF;

        -- 2b. the posting rule of the kind: the first leg, in leg order, it forbids (LG004)
        FOR i IN v_first .. v_last LOOP
            j := l_pos[i];
            IF (p_sides[i] = 'D' AND a_role[j] <> ALL (p_debit_roles))
               OR (p_sides[i] = 'C' AND a_role[j] <> ALL (p_credit_roles)) THEN
                v_outcome := 'LG004';
                v_detail := json_build_object(
                    'account', a_number[j], 'role', a_role[j],
                    'side', CASE WHEN p_sides[i] = 'D' THEN 'debit' ELSE 'credit' END
                )::text;
                EXIT;
            END IF;
        END LOOP;

        -- 2c. the legs in order: the first one the account's state (for an outflow: the states of the
        --     voucher's channel) or a judicial freeze forbids (LG002); each moves its account's
        --     running balance, on a copy: the item's balances are applied only if it is posted
        t_pos := '{}';
        t_bal := '{}';
        nt := 0;
        IF v_outcome IS NULL THEN
            FOR i IN v_first .. v_last LOOP
                j := l_pos[i];
                v_outflow := p_sides[i] <> a_side[j];
                IF a_kind[j] <> p_internal_kind THEN
                    IF v_outflow AND (a_state[j] <> ALL (p_outflow_states) OR a_debit_blocks[j] > 0) THEN
                        v_outcome := 'LG002';
                        v_detail := json_build_object(
                            'account', a_number[j], 'direction', 'outflow',
                            'state', CASE WHEN a_debit_blocks[j] > 0 THEN 'judicial_freeze' ELSE a_state[j] END
                        )::text;
                        EXIT;
                    ELSIF NOT v_outflow AND (a_state[j] <> ALL (p_inflow_states) OR a_credit_blocks[j] > 0) THEN
                        v_outcome := 'LG002';
                        v_detail := json_build_object(
                            'account', a_number[j], 'direction', 'inflow',
                            'state', CASE WHEN a_credit_blocks[j] > 0 THEN 'judicial_freeze' ELSE a_state[j] END
                        )::text;
                        EXIT;
                    END IF;
                END IF;
                m := array_position(t_pos, j);
                IF m IS NULL THEN
                    nt := nt + 1;
                    t_pos[nt] := j;
                    t_bal[nt] := a_balance[j];
                    m := nt;
                END IF;
                IF v_outflow THEN
                    t_bal[m] := t_bal[m] - p_amounts[i];
                ELSE
                    t_bal[m] := t_bal[m] + p_amounts[i];
                END IF;
                l_after[i] := t_bal[m];
            END LOOP;
        END IF;

        -- 2d. the first of the item's accounts, ascending id (= ascending index in a_), whose
        --     available went below zero, unless its role may overdraw (LG001)
        IF v_outcome IS NULL THEN
            v_short := NULL;
            FOR m IN 1 .. nt LOOP
                j := t_pos[m];
                IF t_bal[m] - a_frozen[j] < 0 AND a_role[j] <> ALL (p_overdraw_roles)
                   AND (v_short IS NULL OR j < t_pos[v_short]) THEN
                    v_short := m;
                END IF;
            END LOOP;
            IF v_short IS NOT NULL THEN
                j := t_pos[v_short];
                v_outcome := 'LG001';
                v_detail := json_build_object(
                    'account', a_number[j],
                    'available_before', a_balance[j] - a_frozen[j],
                    'available_after', t_bal[v_short] - a_frozen[j]
                )::text;
            END IF;
        END IF;

        -- 2e. the voucher, unless its key is taken (then: a replay or a conflict, checked below)
        v_transfer := NULL;
        IF v_outcome IS NULL THEN
            INSERT INTO accounts_transfer
                (created_at, updated_at, kind, client, idempotency_key, fingerprint, amount, memo, metadata,
                 reversal_of_id, channel)
            VALUES (p_now, p_now, p_kind, p_client, p_keys[item], p_fingerprints[item], p_totals[item],
                    p_memos[item], p_metadata -> (item - 1), NULL, p_channel)
            ON CONFLICT (client, idempotency_key) DO NOTHING
            RETURNING id INTO v_transfer;
            IF v_transfer IS NOT NULL THEN
                FOR m IN 1 .. nt LOOP
                    a_balance[t_pos[m]] := t_bal[m];
                    a_touched[t_pos[m]] := true;
                END LOOP;
                FOR i IN v_first .. v_last LOOP
                    ne := ne + 1;
                    e_transfer[ne] := v_transfer;
                    e_leg[ne] := i;
                END LOOP;
                o_outcomes[item] := 'posted';
                o_transfers[item] := v_transfer;
                CONTINUE;
            END IF;
        ELSE
            -- A refused item: a replay or a key conflict answers first, as on the single path. The
            -- insert waits for a concurrent voucher with this key as the single path's does; if the
            -- key is free the block undoes the insert and the refusal stands.
            BEGIN
                INSERT INTO accounts_transfer
                    (created_at, updated_at, kind, client, idempotency_key, fingerprint, amount, memo, metadata,
                     reversal_of_id, channel)
                VALUES (p_now, p_now, p_kind, p_client, p_keys[item], p_fingerprints[item], p_totals[item],
                        p_memos[item], p_metadata -> (item - 1), NULL, p_channel)
                ON CONFLICT (client, idempotency_key) DO NOTHING
                RETURNING id INTO v_transfer;
                IF v_transfer IS NOT NULL THEN
                    RAISE EXCEPTION USING ERRCODE = 'LG000', MESSAGE = 'ledger: refused item, key free';
                END IF;
            EXCEPTION WHEN SQLSTATE 'LG000' THEN
                o_outcomes[item] := v_outcome;
                o_details[item] := v_detail;
                CONTINUE;
            END;
        END IF;

        -- 2f. the key is taken: the same request answers the first voucher, another is a conflict
        SELECT id, fingerprint INTO v_previous_id, v_previous_fingerprint
          FROM accounts_transfer
         WHERE client = p_client AND idempotency_key = p_keys[item];
        IF v_previous_fingerprint = p_fingerprints[item] THEN
            o_outcomes[item] := 'replayed';
            o_transfers[item] := v_previous_id;
        ELSE
            o_outcomes[item] := '23505';
            o_details[item] := json_build_object('key', p_keys[item])::text;
        END IF;
    END LOOP;

    -- 3. the entries of the posted items in item and leg order, then the stored balances
    IF ne > 0 THEN
        INSERT INTO accounts_entry (transfer_id, account_id, side, amount, balance_after, subject, created_at)
        SELECT e.transfer_id, p_account_ids[e.leg], p_sides[e.leg], p_amounts[e.leg], l_after[e.leg],
               a_subject[l_pos[e.leg]], p_now
          FROM unnest(e_transfer, e_leg) AS e(transfer_id, leg);
        FOR j IN 1 .. n LOOP
            IF a_touched[j] THEN
                UPDATE accounts_account SET balance = a_balance[j], updated_at = p_now WHERE id = a_id[j];
            END IF;
        END LOOP;
    END IF;
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
    dependencies = [("accounts", "0020_export_job")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
