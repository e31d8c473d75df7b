"""``POST /api/v1/transfers/`` in one statement on PostgreSQL: the common case of ``TransferCreateApi``.

What must be Python stays Python, before the call: the signature check with the cached client
(``backoffice.signing.verified_from_cache``: HMAC, timestamp window, IP allow-list, scope), the
``Idempotency-Key``'s shape, the strict JSON reading and the input's validation, the answer's
rendering (DRF's ``JSONRenderer``, the voucher's id left for the database to put in). Then one
statement, ``api_post_transfer()`` (accounts/migrations/0023_api_post_transfer.py), records the
nonce, finds an earlier answer to replay, resolves the accounts with the client's visibility, posts
through the ledger's ``ledger_post_transfer()``, writes the audit row and stores the answer: one
round trip, one commit.

Anything off the common case answers ``None`` here, before or after the call (the statement then
rolled back whole: nothing written, not even the nonce), and the view runs its general path, whose
answers are the reference: a refusal of any kind (signing, scope, validation, visibility, the
ledger's), a key used by another request or still in flight, a Class II/III account (tier limits),
a client changed since it was cached, a body or headers outside the plain case (a query string,
another content type or ``Accept``), SQLite, or ``settings.API_TRANSFER_ONE_STATEMENT = False``.
``accounts/tests/faces/api/test_api_transfer_one_statement.py`` holds both paths to the same answers.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.cache import cc_delim_re, patch_vary_headers
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from accounts.ledger.chart import ROLE_CHART
from accounts.ledger.models import Account, Transfer
from accounts.ledger.rules import POSTING_RULES
from accounts.limits.services import LIMITED_TIERS
from backoffice.api import MoneyInput
from backoffice.idempotency import HEADER_REPLAYED, body_fingerprint
from backoffice.money import to_money
from backoffice.parsers import JsonInputError, json_loads_strict
from backoffice.signing import client_forget, ledger_client, verified_from_cache

KIND = "transfer"
CHANNEL = Transfer.Channel.NON_COUNTER.value

#: Refusals and races the general path answers (the statement rolled back whole): the function's own (AP001 client
#: changed, AP002 key of another request or in flight, AP003 an account missing, invisible or tier-limited), the
#: ledger's refusals, a unique violation (a duplicate nonce, a concurrent request with the same key, a ledger replay),
#: a deadlock or serialization failure.
GENERAL_PATH_SQLSTATES = frozenset({"AP001", "AP002", "AP003", "LG001", "LG002", "LG003", "LG004", "23505", "40P01", "40001"})

_CONTENT_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})
_ACCEPT = frozenset({"", "*/*", "application/json"})
_KEY_RE = re.compile(r"[\x20-\x7e]{1,255}")  # backoffice.idempotency's rule for Idempotency-Key
_WORD = re.compile(r"[A-Za-z0-9_]+")
_MONEY = MoneyInput()
_SQL: list[str] = []
_CALL = "SELECT o_status, o_body, o_replayed FROM api_post_transfer(ARGUMENTS)"


def _array(words) -> str:
    words = [str(word) for word in words]
    assert all(_WORD.fullmatch(word) for word in words), words  # identifiers: nothing to escape
    return "ARRAY[" + ", ".join(f"'{word}'" for word in words) + "]::text[]"


def statement() -> str:
    """The call, with the constants written in once per process (as ``accounts.ledger.postings`` writes them into
    its call of ``ledger_post_transfer``): the tiers with limits, the kind, and the ledger's rule lists from their
    Python source (``Account.INFLOW_STATES``, ``Account.outflow_states``, the chart, the posting rule of the kind)."""
    if not _SQL:
        rule = POSTING_RULES[KIND]
        overdraw = sorted(role for role, chart in ROLE_CHART.items() if chart.may_overdraw)
        internal = str(Account.Kind.INTERNAL)
        assert _WORD.fullmatch(internal) and _WORD.fullmatch(CHANNEL) and _WORD.fullmatch(KIND)
        # Only constants are written in (identifiers checked above); every value of the request is a parameter.
        arguments = (
            "%s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, %s, %s::bigint, %s, %s, %s::text[], "
            f"{_array(LIMITED_TIERS)}, %s, '{KIND}', %s, %s, %s, %s, %s::jsonb, "
            f"{_array(Account.INFLOW_STATES)}, {_array(Account.outflow_states(CHANNEL))}, {_array(overdraw)}, "
            f"'{internal}', {_array(sorted(rule.debit))}, {_array(sorted(rule.credit))}, '{CHANNEL}'"
        )
        _SQL.append(_CALL.replace("ARGUMENTS", arguments))
    return _SQL[0]


def enabled() -> bool:
    return connection.vendor == "postgresql" and getattr(settings, "API_TRANSFER_ONE_STATEMENT", True)


def _text(value, max_length: int, *, blank: bool) -> bool:
    """``value`` is what ``CharField(max_length, allow_blank=blank)`` would return unchanged: a string, already
    stripped, without NUL (the strict JSON reader refused lone surrogates)."""
    return (
        type(value) is str
        and (blank or bool(value))
        and len(value) <= max_length
        and value.strip() == value
        and "\x00" not in value
    )


def plain_input(data) -> tuple[str, str, Decimal, str] | None:
    """``(from_account, to_account, amount, memo)`` when ``TransferCreateApi.InputSerializer`` would accept ``data``
    and return exactly these values; None for anything else (the serializer then answers)."""
    if type(data) is not dict:
        return None
    source, target, memo = data.get("from_account"), data.get("to_account"), data.get("memo", "")
    if not (_text(source, 16, blank=False) and _text(target, 16, blank=False) and _text(memo, 200, blank=True)):
        return None
    amount = data.get("amount")
    if type(amount) is not str:
        return None
    try:
        return source, target, _MONEY.to_internal_value(amount), memo
    except serializers.ValidationError:
        return None


def answer_tail(*, amount: Decimal, source: str, target: str, memo: str, now) -> str:
    """The 201 answer as ``TransferCreateApi`` renders it (``JSONRenderer``, the ``TransferCreated`` fields in
    order), after its ``{"id":"``, the id and its closing quote, which the statement puts in (ids are strings)."""
    rendered = JSONRenderer().render(
        {
            "id": "0",
            "kind": KIND,
            "amount": f"{to_money(amount):.2f}",
            "from_account": source,
            "to_account": target,
            "memo": memo,
            "created_at": timezone.localtime(now).isoformat(timespec="seconds"),
        }
    )
    head = b'{"id":"0"'
    assert rendered.startswith(head)
    return rendered[len(head) :].decode("utf-8")


def ledger_fingerprint_parts(*, amount: Decimal, memo: str) -> tuple[str, str, str]:
    """The JSON text ``accounts.ledger.postings._fingerprint`` hashes for a two-leg transfer, around the two account
    ids (the statement puts them in, legs sorted by id): head, the amount as JSON, tail."""
    head = '{"kind":' + json.dumps(KIND) + ',"legs":[['
    tail = ',"memo":' + json.dumps(memo) + ',"op":' + json.dumps("transfer") + "}"
    return head, json.dumps(str(to_money(amount))), tail


def respond(view, request) -> HttpResponse | None:
    """The answer of ``TransferCreateApi`` in one statement, or None for the general path (nothing written)."""
    if not enabled():
        return None
    meta = request.META
    if meta.get("QUERY_STRING") or meta.get("CONTENT_TYPE", "") not in _CONTENT_TYPES:
        return None
    if meta.get("HTTP_ACCEPT", "") not in _ACCEPT:
        return None
    try:
        body = request.body
    except RequestDataTooBig:
        return None
    verified = verified_from_cache(request, view.required_scope)
    if verified is None or not body:
        return None
    entry, nonce = verified
    key = meta.get("HTTP_IDEMPOTENCY_KEY", "")
    if not _KEY_RE.fullmatch(key) or not key.strip():
        return None
    try:
        plain = plain_input(json_loads_strict(body))
    except JsonInputError:
        return None
    if plain is None or plain[0] == plain[1]:
        return None
    source, target, amount, memo = plain
    now = timezone.now()
    client = entry.client
    label = ledger_client(client)
    fp_head, fp_amount, fp_tail = ledger_fingerprint_parts(amount=amount, memo=memo)
    audit = {"idempotency_key": key, "amount": f"{amount:.2f}", "from_account": source, "to_account": target}
    params = [
        client.pk,
        client.secret_encrypted,
        entry.scopes_json,
        entry.ips_json,
        nonce,
        key,
        request.get_full_path()[:500],
        body_fingerprint(body),
        source,
        target,
        int(amount.scaleb(2)),
        memo,
        now,
        list(client.scopes),
        label,
        fp_head,
        fp_amount,
        fp_tail,
        answer_tail(amount=amount, source=source, target=target, memo=memo, now=now),
        json.dumps(audit),
    ]
    try:
        if connection.in_atomic_block:  # a caller's transaction (tests): a savepoint keeps a refusal from breaking it
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement(), params)
                status, text, replayed = cursor.fetchone()
        else:  # autocommit: the statement is the transaction, one round trip and one commit
            with connection.cursor() as cursor:
                cursor.execute(statement(), params)
                status, text, replayed = cursor.fetchone()
    except DatabaseError as exc:
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        if sqlstate == "AP001":
            client_forget(client.client_id)
        if sqlstate in GENERAL_PATH_SQLSTATES:
            return None
        raise
    response = HttpResponse(text.encode("utf-8"), status=status, content_type=JSONRenderer.media_type)
    if replayed:
        response[HEADER_REPLAYED] = "true"
    # What APIView.finalize_response adds to every answer of this view (Allow; Vary with several renderers).
    headers = dict(view.default_response_headers)
    vary = headers.pop("Vary", None)
    for name, value in headers.items():
        response[name] = value
    if vary is not None:
        patch_vary_headers(response, cc_delim_re.split(vary))
    return response
