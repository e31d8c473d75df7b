"""The ledger. Nothing else writes balances, frozen amounts, vouchers, entries or holds.

Invariants
- Every voucher (``Transfer``) has at least two entries and its debits equal its credits.
- Entries and vouchers are append-only; a mistake is corrected by a compensating voucher
  (``reverse_transfer``), never by an edit.
- ``Account.balance`` equals the sum of its entries on its normal side, and ``Account.frozen``
  the sum of its active holds (``manage.py ledger_check`` recomputes both).
- A customer account's ``available = balance - frozen`` never goes below zero; only roles the
  chart allows (the clearing account) may be overdrawn. The database checks it too.
- Every operation is idempotent on ``(client, idempotency_key)``: the same request returns the
  first result, a different request with the same key raises ``IdempotencyConflictError``.

Locks: the business row first (a hold, the voucher being reversed), then the accounts, all in one
``SELECT ... FOR UPDATE`` in ascending id order, so two postings never deadlock. Deadlock and
serialization failures are retried a bounded number of times when the ledger owns the
transaction; inside a caller's transaction the caller owns the retry.

Every function here is a building block: plain ``atomic()``, composable inside a caller's
durable service transaction.

Two paths, one set of rules. On PostgreSQL, ``post_transfer`` without guards posts through the
server-side function ``ledger_post_transfer()`` (accounts/migrations/0008_ledger_pg_function.py,
with the posting rules since 0014_ledger_pg_function_posting_rules.py):
one round trip in autocommit when the ledger owns the transaction, under a savepoint inside a
caller's. It locks, inserts the voucher, checks and writes exactly as ``_post`` does, in the same
order; the rules it applies (``Account.INFLOW_STATES`` / ``OUTFLOW_STATES``, the chart's
may-overdraw roles, the posting rule of the voucher's kind from ``accounts.ledger.rules``) are
passed from here, and its refusals come back as SQLSTATEs LG001-LG004
that ``_refusal_from`` turns into the same DomainErrors with the same data. Guards, holds,
reversals and SQLite use the Python path (``_post``); ``settings.LEDGER_PG_FUNCTION = False``
forces it everywhere. accounts/tests/test_ledger_fastpath.py holds the two paths to the same results.

Channels (R-ACC-16). Every operation that may debit a customer account takes ``channel``:
``COUNTER`` (the holder present at the bank's counter, identified by an operator) or
``NON_COUNTER`` (the default: every API, portal and automatic caller). An outflow is allowed in
``Account.outflow_states(channel)``: ``OUTFLOW_STATES``, plus ``non_counter_suspended`` at the
counter. Credits and judicial freezes do not depend on the channel (a judicial debit block stops a
counter debit too). The channel is stored on the voucher and, when it is the counter, is part of the
request fingerprint: replaying a key through the other channel is a conflict, while every
non-counter fingerprint stays what it was before channels existed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from accounts.ledger.chart import CREDIT, DEBIT, ROLE_CHART
from accounts.ledger.errors import (
    AccountNotActiveError,
    CaptureAmountError,
    IdempotencyConflictError,
    InsufficientFundsError,
    InvalidAmountError,
    InvalidStateError,
    NotFoundError,
    PostingRuleViolationError,
    SameAccountError,
    UnbalancedTransferError,
)
from accounts.ledger.models import Account, Entry, Hold, Transfer
from accounts.ledger.rules import POSTING_RULES, RuleBreak, rule_breaks
from backoffice.errors import DomainError
from backoffice.money import MoneyError, from_fen, to_money

__all__ = [
    "CHANNELS",
    "COUNTER",
    "NON_COUNTER",
    "BatchItem",
    "BatchResult",
    "Leg",
    "hold_capture",
    "hold_expire",
    "hold_place",
    "hold_release",
    "holds_capture_many",
    "move",
    "post_transfer",
    "post_transfers",
    "reverse_transfer",
    "SignedTransfer",
    "SignedTransferDeclinedError",
    "post_transfer_signed",
]

_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure

#: The channels of R-ACC-16 (``Transfer.Channel``): a debit at the counter, or anywhere else.
COUNTER: str = Transfer.Channel.COUNTER.value
NON_COUNTER: str = Transfer.Channel.NON_COUNTER.value
CHANNELS: tuple[str, ...] = (COUNTER, NON_COUNTER)


@dataclass(frozen=True)
class Leg:
    """One side of a voucher: ``amount`` debited or credited to an account."""

    account_id: int
    side: str
    amount: Decimal


def move(*, from_account_id: int, to_account_id: int, amount) -> list[Leg]:
    """The two legs of moving ``amount`` from one account to another (debit from, credit to)."""
    return [Leg(from_account_id, DEBIT, amount), Leg(to_account_id, CREDIT, amount)]


# -- helpers ---------------------------------------------------------------------------


def _retryable(exc: BaseException) -> bool:
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    return connection.vendor == "sqlite" and "database is locked" in str(exc)


def _retrying(func):
    """Retry deadlock and serialization failures when this call owns the transaction."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if connection.in_atomic_block:
            return func(*args, **kwargs)
        attempts = max(1, settings.LEDGER_MAX_RETRIES)
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == attempts or not _retryable(exc):
                    raise
                time.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    return wrapper


def atomic_retrying(func):
    """Run ``func()`` in a transaction of its own, retried on a deadlock or serialization failure
    like a posting that owns its transaction: for a caller that writes its own rows (an audit
    row) in the posting's transaction. Returns what ``func`` returns."""

    @_retrying
    def run():
        with transaction.atomic():
            return func()

    return run()


def _amount(value) -> Decimal:
    try:
        amount = to_money(value)
    except MoneyError as exc:
        raise InvalidAmountError() from exc
    if amount <= 0:
        raise InvalidAmountError()
    return amount


def _channel(value) -> str:
    """The channel as stored; anything but the two channels is a programming error."""
    if value not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}, not {value!r}")
    return str(value)


def _channel_part(channel: str) -> dict:
    """The fingerprint's channel part: none for a non-counter request (so every fingerprint from
    before channels existed still matches its replay), the channel for a counter one."""
    return {} if channel == NON_COUNTER else {"channel": channel}


def _fingerprint(**parts) -> str:
    payload = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _legs_fingerprint(legs: Iterable[Leg]) -> list:
    return sorted([leg.account_id, leg.side, str(leg.amount)] for leg in legs)


def _transfer_fingerprint(kind: str, legs: Sequence[Leg], memo: str, channel: str) -> str:
    """The request fingerprint of a ``post_transfer`` (and of a batch item: the same request)."""
    return _fingerprint(op="transfer", kind=kind, legs=_legs_fingerprint(legs), memo=memo, **_channel_part(channel))


def _lock_accounts(ids: Iterable[int]) -> dict[int, Account]:
    wanted = sorted(set(ids))
    accounts = {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=wanted).order_by("pk")}
    missing = [pk for pk in wanted if pk not in accounts]
    if missing:
        raise NotFoundError(_message_for_missing(missing))
    return accounts


def _message_for_missing(ids: list[int]) -> str:
    return f"No account with id {', '.join(str(i) for i in ids)}."


def _check_balanced(legs: Sequence[Leg]) -> Decimal:
    if len(legs) < 2:
        raise UnbalancedTransferError("a voucher needs at least two legs")
    debit_total = sum((leg.amount for leg in legs if leg.side == DEBIT), Decimal("0"))
    credit_total = sum((leg.amount for leg in legs if leg.side == CREDIT), Decimal("0"))
    if any(leg.side not in (DEBIT, CREDIT) for leg in legs):
        raise UnbalancedTransferError("a leg's side must be D or C")
    if debit_total != credit_total:
        raise UnbalancedTransferError(f"debits {debit_total} != credits {credit_total}")
    return debit_total


def _refuse_rule_breaks(breaks: list[RuleBreak], numbers: dict[int, str]) -> None:
    """Raise PostingRuleViolationError for the first leg the posting rules forbid (accounts.ledger.rules)."""
    if breaks:
        first = breaks[0]
        raise PostingRuleViolationError(
            kind=first.kind, role=first.role, side=first.side_name, account=numbers.get(first.account_id, "")
        )


def _check_rules(kind: str, legs: Sequence[Leg], accounts: dict[int, Account]) -> None:
    """Refuse a voucher whose legs the rule of its kind forbids. ``accounts`` are the locked accounts of the legs."""
    breaks = rule_breaks(kind, [(leg.account_id, accounts[leg.account_id].role, leg.side) for leg in legs])
    _refuse_rule_breaks(breaks, {pk: account.number for pk, account in accounts.items()})


def _outflow(account: Account, side: str) -> bool:
    """Does this leg take money out of the customer's hands (lower a credit-normal balance)?"""
    return side != account.normal_side


def _check_state(account: Account, side: str, channel: str = NON_COUNTER) -> None:
    """Refuse a leg the account's state (for an outflow: through ``channel``, R-ACC-16), or a
    judicial freeze in force (accounts.states.freezes), forbids."""
    if account.is_internal:
        return
    if _outflow(account, side):
        if account.state not in Account.outflow_states(channel) or account.judicial_debit_blocks:
            raise AccountNotActiveError(account=account.number, state=_shown_state(account, "debit"), direction="outflow")
    elif account.state not in Account.INFLOW_STATES or account.judicial_credit_blocks:
        raise AccountNotActiveError(account=account.number, state=_shown_state(account, "credit"), direction="inflow")


def _shown_state(account: Account, direction: str) -> str:
    blocks = account.judicial_debit_blocks if direction == "debit" else account.judicial_credit_blocks
    return "judicial_freeze" if blocks else account.state


def _apply_legs(
    accounts: dict[int, Account],
    legs: Sequence[Leg],
    transfer: Transfer,
    *,
    now,
    skip_state_check: frozenset[int] = frozenset(),
    channel: str = NON_COUNTER,
) -> list[Entry]:
    """Apply legs to locked accounts in memory and build their entries (not yet saved)."""
    available_before = {pk: account.available for pk, account in accounts.items()}
    entries = []
    for leg in legs:
        account = accounts[leg.account_id]
        if leg.account_id not in skip_state_check:
            _check_state(account, leg.side, channel)
        account.apply(leg.side, leg.amount)
        entries.append(
            Entry(
                transfer=transfer,
                account=account,
                side=leg.side,
                amount=leg.amount,
                balance_after=account.balance,
                subject=account.subject_id,
                created_at=now,
            )
        )
    for pk, account in accounts.items():
        if account.available < 0 and not account.may_overdraw:
            raise InsufficientFundsError(
                account=account.number,
                available=f"{max(available_before[pk], Decimal('0')):.2f}",
                shortfall=f"{-account.available:.2f}",
            )
    return entries


def _save_accounts(accounts: Iterable[Account], now, fields=("balance",)) -> None:
    changed = list(accounts)
    for account in changed:
        account.updated_at = now
    Account.objects.bulk_update(changed, [*fields, "updated_at"])


def _previous_transfer(client: str, key: str) -> Transfer | None:
    return Transfer.objects.filter(client=client, idempotency_key=key).first()


def _replay(previous, fingerprint: str, key: str):
    if previous.fingerprint != fingerprint:
        raise IdempotencyConflictError(key=key)
    return previous


# -- operations ------------------------------------------------------------------------


@_retrying
def post_transfer(
    *,
    client: str,
    idempotency_key: str,
    kind: str,
    legs: Sequence[Leg],
    memo: str = "",
    metadata: dict | None = None,
    guards: Sequence[Callable] = (),
    channel: str = NON_COUNTER,
) -> Transfer:
    """Post one balanced voucher of n legs. Raises InsufficientFundsError, AccountNotActiveError,
    InvalidAmountError, SameAccountError, IdempotencyConflictError; an unbalanced voucher raises
    UnbalancedTransferError (a bug, not a refusal).

    ``guards`` are called as ``guard(accounts=, legs=, now=)`` after the legs are applied in memory
    and before anything else is written, inside this transaction and under its account locks; a
    guard may raise a DomainError (the whole voucher is refused) and may write its own rows.

    ``channel``: ``NON_COUNTER`` (default) or ``COUNTER`` (R-ACC-16: a counter debit may leave a
    non_counter_suspended account); stored on the voucher."""
    channel = _channel(channel)
    legs = [Leg(leg.account_id, leg.side, _amount(leg.amount)) for leg in legs]
    total = _check_balanced(legs)
    if len({leg.account_id for leg in legs}) < 2:
        raise SameAccountError()
    fingerprint = _transfer_fingerprint(kind, legs, memo, channel)
    try:
        if not guards and _function_path():
            return _post_function(
                client=client,
                idempotency_key=idempotency_key,
                kind=kind,
                legs=legs,
                total=total,
                memo=memo,
                metadata=metadata or {},
                fingerprint=fingerprint,
                channel=channel,
            )
        with transaction.atomic():
            return _post(
                client=client,
                idempotency_key=idempotency_key,
                kind=kind,
                legs=legs,
                total=total,
                memo=memo,
                metadata=metadata or {},
                fingerprint=fingerprint,
                guards=guards,
                channel=channel,
            )
    except IntegrityError:
        # The same key committed by a concurrent request: the unique constraint decided.
        previous = _previous_transfer(client, idempotency_key)
        if previous is None:
            raise
        return _replay(previous, fingerprint, idempotency_key)


@dataclass(frozen=True)
class BatchItem:
    """One voucher of a batch: its own idempotency key, legs and memo; ``guards`` as for ``post_transfer``;
    ``after(transfer)`` writes the caller's own rows (an audit row) for a posted or replayed item, in the
    batch's transaction (on the Python path in the item's savepoint; on the PostgreSQL batch function's path
    after the function, so an exception it raises undoes the whole batch: it records, it never refuses).
    For many items, ``post_transfers(after_all=...)`` writes them in one go."""

    idempotency_key: str
    legs: Sequence[Leg]
    memo: str = ""
    metadata: dict | None = None
    guards: Sequence[Callable] = ()
    after: Callable[[Transfer], None] | None = None


@dataclass(frozen=True)
class BatchResult:
    """What became of one item: its ``transfer`` (posted now or, for a key already used with the same
    request, the first one), or the ``error`` (a DomainError) that refused it."""

    item: BatchItem
    transfer: Transfer | None = None
    error: DomainError | None = None


def post_transfers(
    *,
    client: str,
    kind: str,
    items: Sequence[BatchItem],
    channel: str = NON_COUNTER,
    after_all: Callable[[list[BatchResult]], None] | None = None,
) -> list[BatchResult]:
    """Post many vouchers in one transaction and one commit, each exactly as ``post_transfer`` would (same
    rules, guards, idempotency on ``(client, item key)``, same refusals): an item's refusal never undoes
    another's. Returns one result per item, in order. ``after_all(results)``, if given, runs once in the same
    transaction after every item (its rows commit or roll back with the batch): e.g. one bulk insert of the
    audit rows of the posted items.

    Every account the batch names is locked first, in one ``SELECT ... FOR UPDATE`` in ascending id order,
    so two batches (or a batch and a single posting) never deadlock. A deadlock or serialization failure
    retries the whole batch when the ledger owns the transaction (nothing of it was committed); inside a
    caller's transaction the caller owns the retry. The size is bounded by ``settings.LEDGER_BATCH_MAX``.

    Two paths, one set of rules. On PostgreSQL, when no item has guards, the whole batch is ONE call of
    ``ledger_post_transfers()`` (accounts/migrations/0021_ledger_pg_batch_function.py): one round trip, in
    autocommit when the ledger owns the transaction and there is no callback. Otherwise (guards, SQLite,
    ``settings.LEDGER_PG_FUNCTION = False``) each item runs through ``post_transfer`` under its own savepoint.
    accounts/tests/ledger/test_ledger_batch_function.py holds the two paths to the same results."""
    if len(items) > settings.LEDGER_BATCH_MAX:
        raise ValueError(f"a batch holds at most {settings.LEDGER_BATCH_MAX} items, not {len(items)}")
    if _function_path() and not any(item.guards for item in items):
        return _post_transfers_function(client=client, kind=kind, items=items, channel=_channel(channel), after_all=after_all)
    return _post_transfers_python(client=client, kind=kind, items=items, channel=channel, after_all=after_all)


def _post_transfers_python(*, client: str, kind: str, items: Sequence[BatchItem], channel: str, after_all) -> list[BatchResult]:
    """The Python path of ``post_transfers``: each item through ``post_transfer`` under its own savepoint."""

    @_retrying
    def run() -> list[BatchResult]:
        with transaction.atomic():
            wanted = sorted({leg.account_id for item in items for leg in item.legs})
            list(Account.objects.select_for_update().filter(pk__in=wanted).order_by("pk").values_list("pk"))
            results = []
            for item in items:
                try:
                    with transaction.atomic():
                        transfer = post_transfer(
                            client=client,
                            idempotency_key=item.idempotency_key,
                            kind=kind,
                            legs=item.legs,
                            memo=item.memo,
                            metadata=item.metadata,
                            guards=item.guards,
                            channel=channel,
                        )
                        if item.after is not None:
                            item.after(transfer)
                except DomainError as exc:
                    results.append(BatchResult(item, error=exc))
                else:
                    results.append(BatchResult(item, transfer=transfer))
            if after_all is not None:
                after_all(results)
            return results

    return run()


def _post(
    *,
    client,
    idempotency_key,
    kind,
    legs,
    total,
    memo,
    metadata,
    fingerprint,
    reversal_of=None,
    skip_state_check=frozenset(),
    accounts=None,
    guards: Sequence[Callable] = (),
    channel: str = NON_COUNTER,
) -> Transfer:
    now = timezone.now()
    if accounts is None:
        accounts = _lock_accounts(leg.account_id for leg in legs)
    # Optimistic insert: the (client, key) unique constraint is the replay check; a replay fails
    # here, rolls back, and is answered with the first voucher by the caller.
    transfer = Transfer.objects.create(
        client=client,
        idempotency_key=idempotency_key,
        kind=kind,
        fingerprint=fingerprint,
        amount=total,
        memo=memo,
        metadata=metadata,
        channel=channel,
        reversal_of=reversal_of,
        created_at=now,
        updated_at=now,
    )
    if reversal_of is None:
        # The posting rule of the kind, after the insert so that a replay or a key conflict answers
        # first (the refusal rolls the voucher back). A reversal (reverse_transfer) posts the exact
        # mirror of a stored voucher's entries: it restores the state before it and needs no rule of
        # its own (ledger_check verifies the mirror).
        _check_rules(kind, legs, accounts)
    entries = _apply_legs(accounts, legs, transfer, now=now, skip_state_check=skip_state_check, channel=channel)
    for guard in guards:
        guard(accounts=accounts, legs=legs, now=now)
    Entry.objects.bulk_create(entries)
    touched = {leg.account_id for leg in legs}
    _save_accounts((accounts[pk] for pk in sorted(touched)), now, fields=("balance", "frozen"))
    return transfer


# -- the PostgreSQL fast path: the same posting as _post, in one server-side function ------------
#
# accounts/migrations/0008_ledger_pg_function.py defines ledger_post_transfer() (0014 adds the
# posting rule of the voucher's kind: the roles it may debit and credit, LG004; 0015 the channel,
# R-ACC-16). It locks, inserts the voucher (the unique constraint is the replay check), checks and
# writes exactly as _post and _apply_legs do, in the same order, with the rules passed from here
# (Account.INFLOW_STATES / Account.outflow_states(channel), the chart's may-overdraw roles) so that
# Python stays their single source. Used
# for post_transfer without guards (guards need the applied accounts in memory before the write:
# they keep the Python path, as do holds, reversals and SQLite). In autocommit it is ONE round
# trip; inside a caller's transaction it runs under a savepoint.

SQLSTATE_INSUFFICIENT_FUNDS = "LG001"
SQLSTATE_ACCOUNT_NOT_ACTIVE = "LG002"
SQLSTATE_ACCOUNT_MISSING = "LG003"
SQLSTATE_POSTING_RULE = "LG004"
_WORD = re.compile(r"[a-z0-9_]+")
_FUNCTION_SQL: dict[tuple[str, str], str] = {}
_BATCH_FUNCTION_SQL: dict[tuple[str, str], str] = {}


def _rule_arguments(kind: str, channel: str) -> str:
    """The rule lists from their Python source (Account.INFLOW_STATES, the outflow states of
    ``channel`` (Account.outflow_states, R-ACC-16), the chart's may-overdraw roles, the internal kind,
    the posting rule of ``kind``: the roles it may debit and credit, and the channel the voucher
    records), as the SQL of the last seven arguments of both ledger functions. A kind with no rule
    gets empty role lists: the function refuses its first leg, as the Python path does."""
    rule = POSTING_RULES.get(kind)

    def array(words) -> str:
        words = [str(word) for word in words]
        assert all(_WORD.fullmatch(word) for word in words), words  # identifiers: nothing to escape
        return "ARRAY[" + ", ".join(f"'{word}'" for word in words) + "]::text[]"

    overdraw = sorted(role for role, rule in ROLE_CHART.items() if rule.may_overdraw)
    internal = str(Account.Kind.INTERNAL)
    assert _WORD.fullmatch(internal) and _WORD.fullmatch(channel)
    debit, credit = (sorted(rule.debit), sorted(rule.credit)) if rule is not None else ([], [])
    return (
        f"{array(Account.INFLOW_STATES)}, {array(Account.outflow_states(channel))}, {array(overdraw)}, '{internal}', "
        f"{array(debit)}, {array(credit)}, '{channel}'"
    )


def _function_sql(kind: str, channel: str = NON_COUNTER) -> str:
    """The call, with the rule lists (``_rule_arguments``) written in once per process, kind and
    channel: they are constants, and sending them as parameters on every call costs Python."""
    cache_key = (kind if kind in POSTING_RULES else "", channel)
    sql = _FUNCTION_SQL.get(cache_key)
    if sql is None:
        sql = _FUNCTION_SQL[cache_key] = (
            "SELECT ledger_post_transfer(%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s::bigint[], %s::text[], %s::bigint[], "
            f"{_rule_arguments(kind, channel)})"
        )
    return sql


def _batch_function_sql(kind: str, channel: str) -> str:
    """The call of ledger_post_transfers() (0021), rule lists written in as for ``_function_sql``."""
    cache_key = (kind if kind in POSTING_RULES else "", channel)
    sql = _BATCH_FUNCTION_SQL.get(cache_key)
    if sql is None:
        # the rule arguments are asserted identifiers (_rule_arguments): nothing to escape
        sql = _BATCH_FUNCTION_SQL[cache_key] = (
            "SELECT o_outcomes, o_transfers, o_details FROM ledger_post_transfers(%s, %s, %s, %s::text[], %s::text[], "  # noqa: S608
            "%s::bigint[], %s::text[], %s::jsonb, %s::integer[], %s::bigint[], %s::text[], %s::bigint[], "
            f"{_rule_arguments(kind, channel)})"
        )
    return sql


def _function_path() -> bool:
    """Post through ledger_post_transfer()? On PostgreSQL unless settings.LEDGER_PG_FUNCTION is False."""
    return connection.vendor == "postgresql" and getattr(settings, "LEDGER_PG_FUNCTION", True)


def _post_function(*, client, idempotency_key, kind, legs, total, memo, metadata, fingerprint, channel) -> Transfer:
    now = timezone.now()
    # The legs as array literals of integers and D/C (cheaper to send than lists to adapt).
    params = [
        client,
        idempotency_key,
        kind,
        fingerprint,
        int(total.scaleb(2)),
        memo,
        json.dumps(metadata),
        now,
        "{" + ",".join([str(int(leg.account_id)) for leg in legs]) + "}",
        "{" + ",".join([leg.side for leg in legs]) + "}",
        "{" + ",".join([str(int(leg.amount.scaleb(2))) for leg in legs]) + "}",
    ]
    sql = _function_sql(kind, channel)
    try:
        if connection.in_atomic_block:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                transfer_id = cursor.fetchone()[0]
        else:
            with connection.cursor() as cursor:  # autocommit: the statement is the transaction
                cursor.execute(sql, params)
                transfer_id = cursor.fetchone()[0]
    except IntegrityError:
        raise  # the replay path of post_transfer
    except DatabaseError as exc:
        refusal = _refusal_from(exc, kind)
        if refusal is None:
            raise
        raise refusal from None
    return _posted_transfer(transfer_id, client, idempotency_key, kind, fingerprint, total, memo, metadata, channel, now)


def _posted_transfer(transfer_id, client, idempotency_key, kind, fingerprint, total, memo, metadata, channel, now) -> Transfer:
    """The voucher a ledger function just inserted, built in memory as it was written (no read back)."""
    transfer = Transfer(
        id=transfer_id,
        client=client,
        idempotency_key=idempotency_key,
        kind=kind,
        fingerprint=fingerprint,
        amount=total,
        memo=memo,
        metadata=metadata,
        channel=channel,
        reversal_of=None,
        created_at=now,
        updated_at=now,
    )
    transfer._state.adding = False
    transfer._state.db = connection.alias
    return transfer


_REFUSALS = (SQLSTATE_INSUFFICIENT_FUNDS, SQLSTATE_ACCOUNT_NOT_ACTIVE, SQLSTATE_ACCOUNT_MISSING, SQLSTATE_POSTING_RULE)


def _refusal_from(exc: DatabaseError, kind: str):
    """The DomainError the function's refusal stands for (the same as _post's), or None."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate not in _REFUSALS:
        return None
    return _refusal(sqlstate, cause.diag.message_detail, kind)


def _refusal(sqlstate: str, detail: str, kind: str) -> DomainError:
    """The DomainError of a ledger function's refusal: its SQLSTATE and its data (JSON text)."""
    data = json.loads(detail)
    if sqlstate == SQLSTATE_POSTING_RULE:
        return PostingRuleViolationError(kind=kind, role=data["role"], side=data["side"], account=data["account"])
    if sqlstate == SQLSTATE_INSUFFICIENT_FUNDS:
        return InsufficientFundsError(
            account=data["account"],
            available=f"{max(from_fen(data['available_before']), Decimal('0')):.2f}",
            shortfall=f"{-from_fen(data['available_after']):.2f}",
        )
    if sqlstate == SQLSTATE_ACCOUNT_NOT_ACTIVE:
        return AccountNotActiveError(account=data["account"], state=data["state"], direction=data["direction"])
    return NotFoundError(_message_for_missing(data["missing"]))


# -- the PostgreSQL batch path: post_transfers in one server-side call -----------------------------
#
# accounts/migrations/0021_ledger_pg_batch_function.py defines ledger_post_transfers(): the batch as
# arrays, every item posted as ledger_post_transfer() posts one voucher (same checks, same order, same
# refusal data), the accounts locked once at the start. Python keeps what it does for post_transfer
# before the call (the amounts, the balance of the legs, the distinct accounts, the fingerprint) and
# maps each item's outcome to the same result: the voucher (posted, or the first one for a replay) or
# the same DomainError.

_OUTCOME_POSTED = "posted"
_OUTCOME_REPLAYED = "replayed"
_OUTCOME_KEY_CONFLICT = "23505"  # unique_violation: the key is taken by another request


def _post_transfers_function(*, client: str, kind: str, items: Sequence[BatchItem], channel: str, after_all) -> list[BatchResult]:
    checked: list[BatchResult | None] = [None] * len(items)
    posting = []  # (index, legs, total, fingerprint, metadata) of the items the function posts
    for index, item in enumerate(items):
        try:
            legs = [Leg(leg.account_id, leg.side, _amount(leg.amount)) for leg in item.legs]
            total = _check_balanced(legs)
            if len({leg.account_id for leg in legs}) < 2:
                raise SameAccountError()
        except DomainError as exc:
            checked[index] = BatchResult(item, error=exc)
            continue
        posting.append((index, legs, total, _transfer_fingerprint(kind, legs, item.memo, channel), item.metadata or {}))
    callbacks = after_all is not None or any(item.after is not None for item in items)

    def call(now) -> tuple[list, list, list]:
        if not posting:
            return [], [], []
        leg_items, account_ids, sides, amounts = [], [], [], []
        for number, (_index, legs, _total, _fingerprint, _metadata) in enumerate(posting, 1):
            for leg in legs:
                leg_items.append(str(number))
                account_ids.append(str(int(leg.account_id)))
                sides.append(leg.side)
                amounts.append(str(int(leg.amount.scaleb(2))))
        params = [
            client,
            kind,
            now,
            [items[index].idempotency_key for index, *_rest in posting],
            [fingerprint for _index, _legs, _total, fingerprint, _metadata in posting],
            "{" + ",".join([str(int(total.scaleb(2))) for _index, _legs, total, _fingerprint, _metadata in posting]) + "}",
            [items[index].memo for index, *_rest in posting],
            json.dumps([metadata for *_rest, metadata in posting]),
            "{" + ",".join(leg_items) + "}",
            "{" + ",".join(account_ids) + "}",
            "{" + ",".join(sides) + "}",
            "{" + ",".join(amounts) + "}",
        ]
        with connection.cursor() as cursor:
            cursor.execute(_batch_function_sql(kind, channel), params)
            return cursor.fetchone()

    def outcomes(now, row) -> list[BatchResult]:
        results = list(checked)
        codes, transfer_ids, details = row
        replayed = [transfer_ids[n] for n, code in enumerate(codes) if code == _OUTCOME_REPLAYED]
        previous = Transfer.objects.in_bulk(replayed) if replayed else {}
        for n, (index, _legs, total, fingerprint, metadata) in enumerate(posting):
            item, code = items[index], codes[n]
            if code == _OUTCOME_POSTED:
                transfer = _posted_transfer(
                    transfer_ids[n], client, item.idempotency_key, kind, fingerprint, total, item.memo, metadata, channel, now
                )
                results[index] = BatchResult(item, transfer=transfer)
            elif code == _OUTCOME_REPLAYED:
                results[index] = BatchResult(item, transfer=previous[transfer_ids[n]])
            elif code == _OUTCOME_KEY_CONFLICT:
                results[index] = BatchResult(item, error=IdempotencyConflictError(key=item.idempotency_key))
            elif code in _REFUSALS:
                results[index] = BatchResult(item, error=_refusal(code, details[n], kind))
            else:
                raise RuntimeError(f"ledger_post_transfers: unknown outcome {code!r} for item {index}")
        return results

    @_retrying
    def run() -> list[BatchResult]:
        now = timezone.now()
        if not callbacks and not connection.in_atomic_block:
            return outcomes(now, call(now))  # autocommit: the statement is the transaction
        with transaction.atomic():
            results = outcomes(now, call(now))
            for result in results:
                if result.transfer is not None and result.item.after is not None:
                    result.item.after(result.transfer)
            if after_all is not None:
                after_all(results)
            return results

    return run()


@_retrying
def hold_place(
    *,
    client: str,
    idempotency_key: str,
    account_id: int,
    amount,
    reason: str,
    reference: str = "",
    expires_at=None,
    enforce_state: bool = True,
    channel: str = NON_COUNTER,
) -> Hold:
    """Freeze ``amount`` of an account's available money. Raises InsufficientFundsError,
    AccountNotActiveError, InvalidAmountError, IdempotencyConflictError. A hold sets money aside
    for an outflow: the account's state must allow an outflow through ``channel`` (R-ACC-16)."""
    channel = _channel(channel)
    amount = _amount(amount)
    if reason not in Hold.Reason.values:
        raise InvalidStateError(f"Unknown hold reason {reason!r}.", state=reason)
    fingerprint = _fingerprint(
        op="hold_place", account=account_id, amount=str(amount), reason=reason, reference=reference, **_channel_part(channel)
    )
    previous = Hold.objects.filter(client=client, idempotency_key=idempotency_key).first()
    if previous is not None:
        return _replay(previous, fingerprint, idempotency_key)
    try:
        with transaction.atomic():
            now = timezone.now()
            account = _lock_accounts([account_id])[account_id]
            # Asked again under the lock: a concurrent request with this key may have committed
            # while we waited, and its hold (not a second one) is the answer.
            previous = Hold.objects.filter(client=client, idempotency_key=idempotency_key).first()
            if previous is not None:
                return _replay(previous, fingerprint, idempotency_key)
            if (
                enforce_state
                and not account.is_internal
                and (account.state not in Account.outflow_states(channel) or account.judicial_debit_blocks)
            ):
                raise AccountNotActiveError(account=account.number, state=_shown_state(account, "debit"), direction="outflow")
            if account.available < amount and not account.may_overdraw:
                raise InsufficientFundsError(
                    account=account.number, available=f"{account.available:.2f}", shortfall=f"{amount - account.available:.2f}"
                )
            hold = Hold.objects.create(
                account=account,
                amount=amount,
                reason=reason,
                reference=reference,
                client=client,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                expires_at=expires_at,
                created_at=now,
            )
            account.frozen = account.frozen + amount
            _save_accounts([account], now, fields=("frozen",))
            return hold
    except IntegrityError:
        previous = Hold.objects.filter(client=client, idempotency_key=idempotency_key).first()
        if previous is None:
            raise
        return _replay(previous, fingerprint, idempotency_key)


def _lock_hold(hold_id: int) -> Hold:
    hold = Hold.objects.select_for_update().filter(pk=hold_id).first()
    if hold is None:
        raise NotFoundError(f"No hold with id {hold_id}.")
    return hold


def _previous_end(client: str, key: str, fingerprint: str) -> Hold | None:
    previous = Hold.objects.filter(end_client=client, end_key=key).first()
    if previous is None:
        return None
    if previous.end_fingerprint != fingerprint:
        raise IdempotencyConflictError(key=key)
    return previous


def _check_judicial_owner(hold: Hold, client: str) -> None:
    """A judicial hold is released or captured only by the client that placed it (accounts.states.freezes)."""
    if hold.reason == Hold.Reason.JUDICIAL and client != hold.client:
        raise InvalidStateError(
            "Hold {hold} is a judicial freeze: only its freeze service ends it.", state="judicial", hold=hold.pk
        )


def _end_hold(hold: Hold, account: Account, now) -> None:
    account.frozen = account.frozen - hold.amount
    hold.ended_at = now


@_retrying
def hold_release(*, client: str, idempotency_key: str, hold_id: int) -> Hold:
    """Unfreeze a hold's whole amount. Raises InvalidStateError if it is no longer active."""
    fingerprint = _fingerprint(op="hold_release", hold=hold_id)
    with transaction.atomic():
        hold = _lock_hold(hold_id)
        previous = _previous_end(client, idempotency_key, fingerprint)
        if previous is not None:
            return previous
        if hold.state != Hold.State.ACTIVE:
            raise InvalidStateError(state=hold.state)
        _check_judicial_owner(hold, client)
        now = timezone.now()
        account = _lock_accounts([hold.account_id])[hold.account_id]
        hold.release()
        _end_hold(hold, account, now)
        hold.end_client, hold.end_key, hold.end_fingerprint = client, idempotency_key, fingerprint
        hold.save(update_fields=["state", "ended_at", "end_client", "end_key", "end_fingerprint", "updated_at"])
        _save_accounts([account], now, fields=("frozen",))
        return hold


@_retrying
def hold_capture(
    *,
    client: str,
    idempotency_key: str,
    hold_id: int,
    to_account_id: int | None = None,
    amount=None,
    kind: str = "hold_capture",
    memo: str = "",
    guards: Sequence[Callable] = (),
    metadata: dict | None = None,
    splits: Sequence[tuple[int, Decimal]] = (),
    paid_out: bool = False,
    channel: str = NON_COUNTER,
) -> Transfer:
    """Debit all or part of a hold's money to ``to_account_id`` and end the hold, in one transaction.

    ``splits`` instead splits the captured money over several accounts (``(account_id, amount)``
    pairs, e.g. a withdrawal's amount to clearing and its fee to fee income): the capture is their
    sum and ``to_account_id``/``amount`` are not given.
    The remainder of a partial capture is released. ``guards`` as in ``post_transfer``;
    ``metadata`` is added to the voucher's. Raises CaptureAmountError, InvalidStateError,
    AccountNotActiveError (a non-judicial hold on an account a judicial freeze debit-blocks:
    frozen money is never spent) — unless ``paid_out``: the held money has already left the bank
    (a withdrawal the channel confirmed paid), and booking it is recording a fact, not spending.
    ``channel`` (R-ACC-16) is recorded on the voucher; the held account's state was checked when
    the hold was placed, the credited accounts' states are checked as for any credit.
    """
    channel = _channel(channel)
    splits = [(int(account_id), _amount(value)) for account_id, value in splits]
    if splits:
        if to_account_id is not None or amount is not None:
            raise TypeError("give either splits or to_account_id/amount")
        requested = sum((value for _pk, value in splits), Decimal("0"))
    else:
        if to_account_id is None:
            raise TypeError("to_account_id is required without splits")
        requested = None if amount is None else _amount(amount)
        splits = []
    fingerprint = _fingerprint(
        op="hold_capture",
        hold=hold_id,
        to=to_account_id,
        amount=str(requested),
        kind=kind,
        memo=memo,
        **({"splits": sorted([pk, str(value)] for pk, value in splits)} if splits else {}),
        **_channel_part(channel),
    )
    try:
        return _capture(
            client=client,
            idempotency_key=idempotency_key,
            hold_id=hold_id,
            to_account_id=to_account_id,
            requested=requested,
            kind=kind,
            memo=memo,
            fingerprint=fingerprint,
            guards=guards,
            metadata=metadata,
            splits=splits,
            paid_out=paid_out,
            channel=channel,
        )
    except IntegrityError:
        # The key was taken concurrently, by a voucher or by the end of another hold.
        previous = _previous_transfer(client, idempotency_key)
        if previous is not None:
            return _replay(previous, fingerprint, idempotency_key)
        _previous_end(client, idempotency_key, fingerprint)  # another hold's end: a conflict
        raise


def _capture(
    *,
    client,
    idempotency_key,
    hold_id,
    to_account_id,
    requested,
    kind,
    memo,
    fingerprint,
    guards,
    metadata,
    splits=(),
    paid_out=False,
    channel=NON_COUNTER,
) -> Transfer:
    with transaction.atomic():
        hold = _lock_hold(hold_id)
        previous = _previous_transfer(client, idempotency_key)
        if previous is not None:
            return _replay(previous, fingerprint, idempotency_key)
        # The key also ends the hold: a key that already ended another hold is a conflict.
        _previous_end(client, idempotency_key, fingerprint)
        if hold.state != Hold.State.ACTIVE:
            raise InvalidStateError(state=hold.state)
        captured = hold.amount if requested is None else requested
        if captured > hold.amount:
            raise CaptureAmountError(held=f"{hold.amount:.2f}")
        targets = [pk for pk, _value in splits] or [to_account_id]
        if hold.account_id in targets:
            raise SameAccountError()
        _check_judicial_owner(hold, client)
        now = timezone.now()
        accounts = _lock_accounts([hold.account_id, *targets])
        source = accounts[hold.account_id]
        if hold.reason != Hold.Reason.JUDICIAL and source.judicial_debit_blocks and not paid_out:
            raise AccountNotActiveError(account=source.number, state="judicial_freeze", direction="outflow")
        _end_hold(hold, source, now)
        if splits:
            legs = [Leg(hold.account_id, DEBIT, captured), *(Leg(pk, CREDIT, value) for pk, value in splits)]
        else:
            legs = move(from_account_id=hold.account_id, to_account_id=to_account_id, amount=captured)
        transfer = _post(
            client=client,
            idempotency_key=idempotency_key,
            kind=kind,
            legs=legs,
            total=captured,
            memo=memo,
            metadata={**(metadata or {}), "hold": hold.pk, "held": f"{hold.amount:.2f}"},
            fingerprint=fingerprint,
            # The money was set aside while the account could pay; a later account freeze does
            # not stop a hold that is already committed (e.g. a withdrawal already paid out).
            skip_state_check=frozenset({hold.account_id}),
            accounts=accounts,
            guards=guards,
            channel=channel,
        )
        hold.capture()
        hold.captured_amount = captured
        hold.capture_transfer = transfer
        hold.end_client, hold.end_key, hold.end_fingerprint = client, idempotency_key, fingerprint
        hold.save(
            update_fields=[
                "state",
                "captured_amount",
                "capture_transfer",
                "ended_at",
                "end_client",
                "end_key",
                "end_fingerprint",
                "updated_at",
            ]
        )
        return transfer


@_retrying
def holds_capture_many(
    *,
    client: str,
    idempotency_key: str,
    hold_ids: Sequence[int],
    credits: Sequence[tuple[int, Decimal]],
    kind: str,
    memo: str = "",
    metadata: dict | None = None,
    guards: Sequence[Callable] = (),
) -> Transfer:
    """Capture many holds whole, in ONE balanced voucher (a loan's disbursement: every lender's bid
    hold to the borrower and the platform's fee), and end every hold, in one transaction.

    The voucher's debit legs are the holds' amounts, one leg per hold on its account; its credit
    legs are ``credits`` (``(account_id, amount)`` pairs), which must add up to the holds' total to
    the fen. All or nothing: any problem refuses the whole capture and writes nothing. Refusals:
    NotFoundError (a hold), InvalidStateError (a hold no longer active, ``data.hold`` names it; a
    judicial hold, which only its freeze service ends), AccountNotActiveError (a hold's account a
    judicial freeze debit-blocks: frozen money is never spent; ``data.account`` names it),
    CaptureAmountError (the credits do not add up to the held total), SameAccountError (a credit to
    a held account), PostingRuleViolationError (the rule of ``kind``). Idempotent on
    ``(client, idempotency_key)`` like ``hold_capture``: the same request returns the first
    voucher, a different one with the same key raises IdempotencyConflictError.

    Locks: the holds in ascending id order, then every account of the voucher in one ascending
    ``SELECT ... FOR UPDATE``, as ``hold_capture`` does. Each hold ends ``captured`` with its whole
    amount; ``Hold.capture_transfer`` links one hold to one voucher, so here the voucher lists its
    holds instead (``metadata["holds"]``) and each hold's end key is derived from the voucher's.
    """
    ids = [int(pk) for pk in hold_ids]
    if not ids or len(set(ids)) != len(ids):
        raise TypeError("hold_ids must name at least one hold, each once")
    credit_pairs = [(int(account_id), _amount(value)) for account_id, value in credits]
    if not credit_pairs:
        raise TypeError("credits must name at least one account")
    fingerprint = _fingerprint(
        op="holds_capture_many",
        holds=sorted(ids),
        credits=sorted([pk, str(value)] for pk, value in credit_pairs),
        kind=kind,
        memo=memo,
    )
    try:
        return _capture_many(
            client=client,
            idempotency_key=idempotency_key,
            hold_ids=sorted(ids),
            credit_pairs=credit_pairs,
            kind=kind,
            memo=memo,
            metadata=metadata,
            fingerprint=fingerprint,
            guards=guards,
        )
    except IntegrityError:
        # The key was taken concurrently by a voucher: the unique constraint decided.
        previous = _previous_transfer(client, idempotency_key)
        if previous is None:
            raise
        return _replay(previous, fingerprint, idempotency_key)


def _many_end_key(idempotency_key: str, hold_id: int) -> str:
    """A hold's end key in a capture of many: unique per hold (``Hold.end_key`` is unique per
    client), derived from the voucher's key, and within the column's 255 characters."""
    return f"many:{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}:{hold_id}"


def _capture_many(*, client, idempotency_key, hold_ids, credit_pairs, kind, memo, metadata, fingerprint, guards) -> Transfer:
    with transaction.atomic():
        holds = list(Hold.objects.select_for_update().filter(pk__in=hold_ids).order_by("pk"))
        missing = sorted(set(hold_ids) - {hold.pk for hold in holds})
        if missing:
            raise NotFoundError(f"No hold with id {', '.join(str(pk) for pk in missing)}.")
        previous = _previous_transfer(client, idempotency_key)
        if previous is not None:
            return _replay(previous, fingerprint, idempotency_key)
        # The key names this capture: a key that already ended a hold elsewhere is a conflict.
        _previous_end(client, idempotency_key, fingerprint)
        for hold in holds:
            if hold.state != Hold.State.ACTIVE:
                raise InvalidStateError("Hold {hold} is {state}.", state=hold.state, hold=str(hold.pk))
            if hold.reason == Hold.Reason.JUDICIAL:
                raise InvalidStateError(
                    "Hold {hold} is a judicial freeze: only its freeze service ends it.", state="judicial", hold=hold.pk
                )
        held = sum((hold.amount for hold in holds), Decimal("0"))
        if sum((value for _pk, value in credit_pairs), Decimal("0")) != held:
            raise CaptureAmountError(held=f"{held:.2f}")
        sources = {hold.account_id for hold in holds}
        if sources & {pk for pk, _value in credit_pairs}:
            raise SameAccountError()
        now = timezone.now()
        accounts = _lock_accounts([*sources, *(pk for pk, _value in credit_pairs)])
        for pk in sorted(sources):
            if accounts[pk].judicial_debit_blocks:
                raise AccountNotActiveError(account=accounts[pk].number, state="judicial_freeze", direction="outflow")
        for hold in holds:
            _end_hold(hold, accounts[hold.account_id], now)
        legs = [Leg(hold.account_id, DEBIT, hold.amount) for hold in holds]
        legs += [Leg(pk, CREDIT, value) for pk, value in credit_pairs]
        transfer = _post(
            client=client,
            idempotency_key=idempotency_key,
            kind=kind,
            legs=legs,
            total=held,
            memo=memo,
            metadata={**(metadata or {}), "holds": [hold.pk for hold in holds], "held": f"{held:.2f}"},
            fingerprint=fingerprint,
            # As in _capture: the money was set aside while each account could pay.
            skip_state_check=frozenset(sources),
            accounts=accounts,
            guards=guards,
        )
        for hold in holds:
            hold.capture()
            hold.captured_amount = hold.amount
            hold.end_client, hold.end_key, hold.end_fingerprint = client, _many_end_key(idempotency_key, hold.pk), fingerprint
            hold.updated_at = now
        Hold.objects.bulk_update(
            holds, ["state", "captured_amount", "ended_at", "end_client", "end_key", "end_fingerprint", "updated_at"]
        )
        return transfer


@_retrying
def hold_expire(*, hold_id: int, now=None) -> Hold:
    """Unfreeze a hold whose expiry has passed. A no-op on a hold that is not active or not due."""
    with transaction.atomic():
        hold = _lock_hold(hold_id)
        now = now or timezone.now()
        if hold.state != Hold.State.ACTIVE or hold.expires_at is None or hold.expires_at > now:
            return hold
        account = _lock_accounts([hold.account_id])[hold.account_id]
        hold.expire()
        _end_hold(hold, account, now)
        hold.save(update_fields=["state", "ended_at", "updated_at"])
        _save_accounts([account], now, fields=("frozen",))
        return hold


@_retrying
def reverse_transfer(
    *, client: str, idempotency_key: str, transfer_id: int, memo: str = "", channel: str = NON_COUNTER
) -> Transfer:
    """Post a compensating voucher that undoes ``transfer_id`` leg by leg. Nothing is edited.

    A voucher is reversed at most once, and a reversal is not reversed again (post a new voucher).
    Raises InvalidStateError, InsufficientFundsError (the money was spent), AccountNotActiveError.
    ``channel`` as in ``post_transfer`` (R-ACC-16), for the legs that debit a customer account.
    """
    channel = _channel(channel)
    fingerprint = _fingerprint(op="reverse", transfer=transfer_id, memo=memo, **_channel_part(channel))
    try:
        return _reverse(
            client=client,
            idempotency_key=idempotency_key,
            transfer_id=transfer_id,
            memo=memo,
            fingerprint=fingerprint,
            channel=channel,
        )
    except IntegrityError:
        # The same key committed concurrently for another voucher: the unique constraint decided.
        previous = _previous_transfer(client, idempotency_key)
        if previous is None:
            raise
        return _replay(previous, fingerprint, idempotency_key)


def _reverse(*, client, idempotency_key, transfer_id, memo, fingerprint, channel=NON_COUNTER) -> Transfer:
    with transaction.atomic():
        original = Transfer.objects.select_for_update().filter(pk=transfer_id).first()
        if original is None:
            raise NotFoundError(f"No voucher with id {transfer_id}.")
        previous = _previous_transfer(client, idempotency_key)
        if previous is not None:
            return _replay(previous, fingerprint, idempotency_key)
        if original.reversal_of_id is not None:
            raise InvalidStateError("A reversal cannot itself be reversed.", state="reversal")
        if Transfer.objects.filter(reversal_of=original).exists():
            raise InvalidStateError("Voucher {voucher} is already reversed.", state="reversed", voucher=original.pk)
        legs = [
            Leg(entry.account_id, CREDIT if entry.side == DEBIT else DEBIT, entry.amount)
            for entry in original.entries.order_by("pk")
        ]
        return _post(
            client=client,
            idempotency_key=idempotency_key,
            kind="reversal",
            legs=legs,
            total=original.amount,
            memo=memo or f"reversal of #{original.pk}",
            metadata={"reversal_of": original.pk, "original_kind": original.kind},
            fingerprint=fingerprint,
            reversal_of=original,
            channel=channel,
        )


# -- the signed API's transfer in one statement: api_post_transfer() -------------------------------
#
# accounts/migrations/0023_api_post_transfer.py defines api_post_transfer(): the nonce, the replay of a
# finished request, the accounts resolved with the API client's visibility, the posting through
# ledger_post_transfer() (so through the same checks as every voucher above), the audit row and the
# stored answer, in one statement and one commit. The face (accounts/api/transfer_fast.py) keeps what
# is HTTP (the signature, the JSON, the answer's text) and calls it here, so that this balance write
# too starts in the ledger package.

#: What api_post_transfer() may answer with instead of a voucher (the statement then rolled back whole,
#: the nonce included): its own AP001 (the client changed since it was cached), AP002 (the key belongs
#: to another request or is in flight), AP003 (an account missing, invisible or tier-limited); the
#: ledger's refusals; a unique violation (a duplicate nonce, a concurrent request with the same key);
#: a deadlock or serialization failure. The caller answers each by its general path.
SIGNED_DECLINE_SQLSTATES = frozenset({"AP001", "AP002", "AP003", *_REFUSALS, _OUTCOME_KEY_CONFLICT, *_RETRYABLE_SQLSTATES})
SQLSTATE_CLIENT_CHANGED = "AP001"
_SIGNED_SQL: dict[tuple[str, ...], str] = {}
_TIER_WORD = re.compile(r"[A-Za-z0-9_]+")


class SignedTransferDeclinedError(Exception):
    """api_post_transfer() did not post (``sqlstate`` says why); nothing was written."""

    def __init__(self, sqlstate: str):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@dataclass(frozen=True)
class SignedTransfer:
    """One signed ``POST /transfers/`` as api_post_transfer() takes it (its parameters, in its order)."""

    client_pk: int
    secret_encrypted: str
    scopes_json: str
    ips_json: str
    nonce: str
    idempotency_key: str
    path: str
    request_fingerprint: str
    from_account: str
    to_account: str
    amount: Decimal
    memo: str
    now: object
    scopes: list[str]
    ledger_client: str
    fingerprint_head: str
    fingerprint_amount: str
    fingerprint_tail: str
    body_tail: str
    audit_json: str


def _signed_sql(limited_tiers: tuple[str, ...]) -> str:
    sql = _SIGNED_SQL.get(limited_tiers)
    if sql is None:
        assert all(_TIER_WORD.fullmatch(tier) for tier in limited_tiers), limited_tiers  # identifiers: nothing to escape
        tiers = "ARRAY[" + ", ".join(f"'{tier}'" for tier in limited_tiers) + "]::text[]"
        # Only constants are written in (asserted identifiers); every value of the request is a parameter.
        sql = _SIGNED_SQL[limited_tiers] = (
            "SELECT o_status, o_body, o_replayed FROM api_post_transfer("  # noqa: S608
            "%s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, %s, %s::bigint, %s, %s, %s::text[], "
            f"{tiers}, %s, 'transfer', %s, %s, %s, %s, %s::jsonb, {_rule_arguments('transfer', NON_COUNTER)})"
        )
    return sql


def post_transfer_signed(request: SignedTransfer, *, limited_tiers: Sequence[str]) -> tuple[int, str, bool]:
    """Post a signed API transfer (kind ``transfer``, non-counter) in one statement on PostgreSQL: the answer's
    status, its JSON text and whether it is a replay. Accounts of a tier in ``limited_tiers`` are declined (the
    caller's general path counts their limits). Raises ``SignedTransferDeclinedError`` for every outcome but a posting
    or a replay; the statement then wrote nothing."""
    params = [
        request.client_pk,
        request.secret_encrypted,
        request.scopes_json,
        request.ips_json,
        request.nonce,
        request.idempotency_key,
        request.path,
        request.request_fingerprint,
        request.from_account,
        request.to_account,
        int(to_money(request.amount).scaleb(2)),
        request.memo,
        request.now,
        list(request.scopes),
        request.ledger_client,
        request.fingerprint_head,
        request.fingerprint_amount,
        request.fingerprint_tail,
        request.body_tail,
        request.audit_json,
    ]
    sql = _signed_sql(tuple(str(tier) for tier in limited_tiers))
    try:
        if connection.in_atomic_block:  # a caller's transaction (tests): a savepoint keeps a refusal from breaking it
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                status, text, replayed = cursor.fetchone()
        else:  # autocommit: the statement is the transaction, one round trip and one commit
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                status, text, replayed = cursor.fetchone()
    except DatabaseError as exc:
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        if sqlstate in SIGNED_DECLINE_SQLSTATES:
            raise SignedTransferDeclinedError(sqlstate) from None
        raise
    return status, text, replayed
