"""``POST /api/v1/transfers/`` in one statement on PostgreSQL: the common case of ``TransferCreateApi``.

What must be Python stays Python, before the call: the signature check with the cached client
(``backoffice.signing.verified_from_cache``: HMAC, timestamp window, IP allow-list, scope), the
``Idempotency-Key``'s shape, the strict JSON reading and the input's validation, the answer's
rendering (DRF's ``JSONRenderer``, the voucher's id left for the database to put in). Then the
ledger's ``post_transfer_signed`` (accounts/ledger/postings.py: every balance write starts in the
ledger package) runs one statement, ``api_post_transfer()`` (accounts/migrations/0023), which records the
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
from django.db import connection
from django.http import HttpResponse
from django.utils import timezone
from django.utils.cache import cc_delim_re, patch_vary_headers
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from accounts.ledger.postings import (
    SQLSTATE_CLIENT_CHANGED,
    SignedTransfer,
    SignedTransferDeclinedError,
    post_transfer_signed,
)
from accounts.limits.services import LIMITED_TIERS
from backoffice.api import MoneyInput
from backoffice.idempotency import HEADER_REPLAYED, body_fingerprint
from backoffice.money import to_money
from backoffice.parsers import JsonInputError, json_loads_strict
from backoffice.signing import client_forget, ledger_client, verified_from_cache

KIND = "transfer"

_CONTENT_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})
_ACCEPT = frozenset({"", "*/*", "application/json"})
_KEY_RE = re.compile(r"[\x20-\x7e]{1,255}")  # backoffice.idempotency's rule for Idempotency-Key
_MONEY = MoneyInput()


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
    signed = SignedTransfer(
        client_pk=client.pk,
        secret_encrypted=client.secret_encrypted,
        scopes_json=entry.scopes_json,
        ips_json=entry.ips_json,
        nonce=nonce,
        idempotency_key=key,
        path=request.get_full_path()[:500],
        request_fingerprint=body_fingerprint(body),
        from_account=source,
        to_account=target,
        amount=amount,
        memo=memo,
        now=now,
        scopes=list(client.scopes),
        ledger_client=label,
        fingerprint_head=fp_head,
        fingerprint_amount=fp_amount,
        fingerprint_tail=fp_tail,
        body_tail=answer_tail(amount=amount, source=source, target=target, memo=memo, now=now),
        audit_json=json.dumps(audit),
    )
    try:
        status, text, replayed = post_transfer_signed(signed, limited_tiers=LIMITED_TIERS)
    except SignedTransferDeclinedError as declined:
        if declined.sqlstate == SQLSTATE_CLIENT_CHANGED:
            client_forget(client.client_id)
        return None
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
