"""A bench-local prototype of ``accounts.ledger.postings.post_transfer`` with less Python per transfer.

NOT used by the application. Kept as the "before" reference: it measured what fewer round trips
and less ORM Python would buy, which led to the server-side function that accounts.ledger.postings now uses
on PostgreSQL (accounts/migrations/0008_ledger_pg_function.py; bench/README.md, "Profile").
Same tables, same checks as it was written (it predates the judicial blocks: do not use it on
real data), same idempotency, same lock order, same entries and stored balances
(``manage.py ledger_check`` stays clean after it runs), but:

- the accounts are locked with one raw ``SELECT ... FOR UPDATE`` of the nine columns the checks
  need, instead of instantiating full ``Account`` models;
- the voucher, its entries and the new balances are written by ONE statement (data-modifying CTEs:
  INSERT transfer RETURNING id, INSERT entries, UPDATE accounts FROM VALUES) instead of
  ``Transfer.objects.create`` + ``Entry.objects.bulk_create`` + ``Account.objects.bulk_update``
  (whose CASE WHEN expressions are the most expensive Python of the ORM path).

Round trips per transfer: BEGIN, SELECT ... FOR UPDATE, the CTE, COMMIT (4 instead of 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.chart import ROLE_CHART
from accounts.ledger.errors import AccountNotActiveError, InsufficientFundsError, NotFoundError, SameAccountError
from accounts.ledger.models import Account, Transfer

_LOCK_SQL = (
    "SELECT id, number, kind, role, state, normal_side, subject_id, balance, frozen "
    "FROM accounts_account WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
)

_OUTFLOW = frozenset(str(s) for s in Account.OUTFLOW_STATES)
_INFLOW = frozenset(str(s) for s in Account.INFLOW_STATES)


def _fen(amount: Decimal) -> int:
    return int(amount.scaleb(2))


def _money(fen: int) -> str:
    return f"{Decimal(fen).scaleb(-2):.2f}"


def _write_sql(n_entries: int, n_accounts: int) -> str:
    entry_rows = ", ".join(["(%s::bigint, %s::varchar, %s::bigint, %s::bigint, %s::varchar)"] * n_entries)
    account_rows = ", ".join(["(%s::bigint, %s::bigint)"] * n_accounts)
    return (
        "WITH t AS (INSERT INTO accounts_transfer (created_at, updated_at, kind, client, idempotency_key, "
        "fingerprint, amount, memo, metadata, reversal_of_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, NULL) RETURNING id), "
        "e AS (INSERT INTO accounts_entry (transfer_id, account_id, side, amount, balance_after, subject, created_at) "
        f"SELECT t.id, v.account_id, v.side, v.amount, v.balance_after, v.subject, %s FROM t, (VALUES {entry_rows}) "
        "AS v(account_id, side, amount, balance_after, subject)), "
        "u AS (UPDATE accounts_account AS a SET balance = v.balance, updated_at = %s "
        f"FROM (VALUES {account_rows}) AS v(id, balance) WHERE a.id = v.id) "
        "SELECT id FROM t"
    )


@ledger._retrying
def post_transfer(
    *,
    client: str,
    idempotency_key: str,
    kind: str,
    legs: Sequence[ledger.Leg],
    memo: str = "",
    metadata: dict | None = None,
) -> Transfer:
    """Same contract as accounts.ledger.postings.post_transfer."""
    legs = [ledger.Leg(leg.account_id, leg.side, ledger._amount(leg.amount)) for leg in legs]
    total = ledger._check_balanced(legs)
    if len({leg.account_id for leg in legs}) < 2:
        raise SameAccountError()
    fingerprint = ledger._fingerprint(op="transfer", kind=kind, legs=ledger._legs_fingerprint(legs), memo=memo)
    metadata = metadata or {}
    try:
        with transaction.atomic():
            return _post(client, idempotency_key, kind, legs, total, memo, metadata, fingerprint)
    except IntegrityError:
        previous = ledger._previous_transfer(client, idempotency_key)
        if previous is None:
            raise
        return ledger._replay(previous, fingerprint, idempotency_key)


def _post(client, idempotency_key, kind, legs, total, memo, metadata, fingerprint) -> Transfer:
    import json

    now = timezone.now()
    wanted = sorted({leg.account_id for leg in legs})
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [wanted])
        rows = {row[0]: list(row) for row in cursor.fetchall()}
        missing = [pk for pk in wanted if pk not in rows]
        if missing:
            raise NotFoundError(ledger._message_for_missing(missing))
        before = {pk: row[7] - row[8] for pk, row in rows.items()}
        entry_params = []
        for leg in legs:
            row = rows[leg.account_id]
            _, number, acct_kind, _role, state, normal_side, subject, balance, _frozen = row
            outflow = leg.side != normal_side
            if acct_kind != "internal":
                if outflow and state not in _OUTFLOW:
                    raise AccountNotActiveError(account=number, state=state, direction="outflow")
                if not outflow and state not in _INFLOW:
                    raise AccountNotActiveError(account=number, state=state, direction="inflow")
            fen = _fen(leg.amount)
            row[7] = balance = balance - fen if outflow else balance + fen
            entry_params += [leg.account_id, leg.side, fen, balance, subject]
        for pk, row in rows.items():
            available = row[7] - row[8]
            if available < 0 and not ROLE_CHART[row[3]].may_overdraw:
                raise InsufficientFundsError(account=row[1], available=_money(max(before[pk], 0)), shortfall=_money(-available))
        account_params = []
        for pk in wanted:
            account_params += [pk, rows[pk][7]]
        params = [now, now, kind, client, idempotency_key, fingerprint, _fen(total), memo, json.dumps(metadata)]
        params += [now, *entry_params, now, *account_params]
        cursor.execute(_write_sql(len(legs), len(wanted)), params)
        transfer_id = cursor.fetchone()[0]
    return Transfer(
        id=transfer_id,
        kind=kind,
        client=client,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        amount=total,
        memo=memo,
        metadata=metadata,
        created_at=now,
        updated_at=now,
    )


def save_accounts_values(accounts, now, fields=("balance",)) -> None:
    """Drop-in for accounts.ledger.postings._save_accounts: one UPDATE ... FROM (VALUES ...) with the
    locked rows' new stored amounts, instead of bulk_update's CASE WHEN per field."""
    changed = list(accounts)
    if not changed:
        return
    rows = ", ".join(["(%s::bigint, %s::bigint, %s::bigint)"] * len(changed))
    params = [now]
    for account in changed:
        account.updated_at = now
        params += [account.pk, _fen(account.balance), _fen(account.frozen)]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_account AS a SET balance = v.balance, frozen = v.frozen, updated_at = %s "
            f"FROM (VALUES {rows}) AS v(id, balance, frozen) WHERE a.id = v.id",
            params,
        )
