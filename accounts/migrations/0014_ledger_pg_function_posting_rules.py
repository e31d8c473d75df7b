"""The ledger's server-side posting function checks the posting rules (issue #9).

Why a new function: the posting rules (``accounts.ledger.rules``: which account roles each voucher
kind may debit and credit) must hold on the PostgreSQL path too, without a second round trip. The
function already reads each locked account's role, so it takes the rule of the voucher's kind as
two more arguments (the roles it may debit, the roles it may credit; Python stays their single
source) and refuses the first forbidden leg, in leg order, right after the voucher is inserted
(so a replay or a key conflict answers first) and before any other check or write, as the Python
path does: SQLSTATE LG004 with ``{account, role, side}`` in the DETAIL, mapped by
``accounts.ledger.postings`` to ``PostingRuleViolationError``; the refusal rolls the insert back.
Everything else is the function of 0008 unchanged.

The new signature (17 arguments) replaces the 15-argument one, which is dropped so that nothing can
post around the rules. Reversible: going back recreates 0008's function and drops this one.
"""

import importlib

from django.db import migrations

OLD = importlib.import_module("accounts.migrations.0008_ledger_pg_function")

SIGNATURE = (
    "ledger_post_transfer(text, text, text, text, bigint, text, jsonb, timestamptz, "
    "bigint[], text[], bigint[], text[], text[], text[], text, text[], text[])"
)

CREATE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION ledger_post_transfer(
    p_client text,
    p_key text,
    p_kind text,
    p_fingerprint text,
    p_amount bigint,
    p_memo text,
    p_metadata jsonb,
    p_now timestamptz,
    p_account_ids bigint[],
    p_sides text[],
    p_amounts bigint[],
    p_inflow_states text[],
    p_outflow_states text[],
    p_overdraw_roles text[],
    p_internal_kind text,
    p_debit_roles text[],
    p_credit_roles text[]
) RETURNS bigint
LANGUAGE plpgsql
AS $fn$
DECLARE
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
    -- per leg: its account's index in the a_ arrays, its entry's running balance and subject
    l_pos integer[] := array_fill(0, ARRAY[n_legs]);
    e_after bigint[] := array_fill(0::bigint, ARRAY[n_legs]);
    e_subject text[] := array_fill(''::text, ARRAY[n_legs]);
    v_missing bigint[];
    v_transfer bigint;
    v_outflow boolean;
    i integer;
    j integer;
BEGIN
    -- 1. lock, ascending id order (two postings never deadlock), reading what the checks need
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
    END LOOP;
    FOR i IN 1 .. n_legs LOOP
        l_pos[i] := array_position(a_id, p_account_ids[i]);
        IF l_pos[i] IS NULL AND NOT (p_account_ids[i] = ANY (coalesce(v_missing, '{}'))) THEN
            v_missing := array_append(v_missing, p_account_ids[i]);
        END IF;
    END LOOP;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'LG003', MESSAGE = 'ledger: no such account',
            DETAIL = json_build_object('missing', ARRAY(SELECT x FROM unnest(v_missing) AS x ORDER BY x))::text;
    END IF;

    -- 2. the voucher: a replayed key fails here on the (client, idempotency_key) unique constraint
    INSERT INTO accounts_transfer
        (created_at, updated_at, kind, client, idempotency_key, fingerprint, amount, memo, metadata, reversal_of_id)
    VALUES (p_now, p_now, p_kind, p_client, p_key, p_fingerprint, p_amount, p_memo, p_metadata, NULL)
    RETURNING id INTO v_transfer;

    -- 2b. the posting rule of the voucher's kind (accounts.ledger.rules): the first leg, in leg
    --     order, whose side the kind may not put on an account of that role refuses the voucher
    --     (after the insert: a replay or a key conflict answers first, as on the Python path)
    FOR i IN 1 .. n_legs LOOP
        j := l_pos[i];
        IF (p_sides[i] = 'D' AND a_role[j] <> ALL (p_debit_roles))
           OR (p_sides[i] = 'C' AND a_role[j] <> ALL (p_credit_roles)) THEN
            RAISE EXCEPTION USING ERRCODE = 'LG004', MESSAGE = 'ledger: posting rule violation',
                DETAIL = json_build_object(
                    'account', a_number[j], 'role', a_role[j],
                    'side', CASE WHEN p_sides[i] = 'D' THEN 'debit' ELSE 'credit' END
                )::text;
        END IF;
    END LOOP;

    -- 3a. the legs in order: the first one the account's state or a judicial freeze forbids
    --     refuses the voucher; each moves its account's balance (an outflow lowers it)
    FOR i IN 1 .. n_legs LOOP
        j := l_pos[i];
        v_outflow := p_sides[i] <> a_side[j];
        IF a_kind[j] <> p_internal_kind THEN
            IF v_outflow AND (a_state[j] <> ALL (p_outflow_states) OR a_debit_blocks[j] > 0) THEN
                RAISE EXCEPTION USING ERRCODE = 'LG002', MESSAGE = 'ledger: account not active',
                    DETAIL = json_build_object(
                        'account', a_number[j], 'direction', 'outflow',
                        'state', CASE WHEN a_debit_blocks[j] > 0 THEN 'judicial_freeze' ELSE a_state[j] END
                    )::text;
            ELSIF NOT v_outflow AND (a_state[j] <> ALL (p_inflow_states) OR a_credit_blocks[j] > 0) THEN
                RAISE EXCEPTION USING ERRCODE = 'LG002', MESSAGE = 'ledger: account not active',
                    DETAIL = json_build_object(
                        'account', a_number[j], 'direction', 'inflow',
                        'state', CASE WHEN a_credit_blocks[j] > 0 THEN 'judicial_freeze' ELSE a_state[j] END
                    )::text;
            END IF;
        END IF;
        IF v_outflow THEN
            a_balance[j] := a_balance[j] - p_amounts[i];
        ELSE
            a_balance[j] := a_balance[j] + p_amounts[i];
        END IF;
        e_after[i] := a_balance[j];
        e_subject[i] := a_subject[j];
    END LOOP;

    -- 3b. the first account (ascending id) whose available went below zero, unless it may overdraw
    FOR j IN 1 .. n LOOP
        IF a_balance[j] - a_frozen[j] < 0 AND a_role[j] <> ALL (p_overdraw_roles) THEN
            RAISE EXCEPTION USING ERRCODE = 'LG001', MESSAGE = 'ledger: insufficient funds',
                DETAIL = json_build_object(
                    'account', a_number[j],
                    'available_before', a_balance[j] - a_frozen[j] + (
                        SELECT coalesce(sum(CASE WHEN p_sides[k] <> a_side[j] THEN p_amounts[k] ELSE -p_amounts[k] END), 0)
                          FROM generate_subscripts(p_account_ids, 1) AS k
                         WHERE p_account_ids[k] = a_id[j]
                    ),
                    'available_after', a_balance[j] - a_frozen[j]
                )::text;
        END IF;
    END LOOP;

    -- 4. the entries in leg order (unnest yields the legs in order), then the stored balances
    INSERT INTO accounts_entry (transfer_id, account_id, side, amount, balance_after, subject, created_at)
    SELECT v_transfer, l.account_id, l.side, l.amount, l.balance_after, l.subject, p_now
      FROM unnest(p_account_ids, p_sides, p_amounts, e_after, e_subject)
           AS l(account_id, side, amount, balance_after, subject);
    FOR j IN 1 .. n LOOP
        UPDATE accounts_account SET balance = a_balance[j], updated_at = p_now WHERE id = a_id[j];
    END LOOP;

    RETURN v_transfer;
END
$fn$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_FUNCTION)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {OLD.SIGNATURE}")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD.CREATE_FUNCTION)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0013_end_of_day_beat")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
