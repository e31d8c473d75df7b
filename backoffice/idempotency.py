"""Idempotency of money-moving API requests (``Idempotency-Key``), per client.

The protocol, for one key of one client:
1. *claim*: insert an ``in_flight`` IdempotencyRecord in its own committed transaction. The
   unique (client, key) constraint decides between concurrent requests;
2. a loser of that race, or a later retry, finds the record: a different method, path or body is
   422 ``idempotency_key_mismatch``; a finished one is replayed (same status, same body, header
   ``Idempotent-Replayed: true``: the very bytes first sent); one still in flight is 409 ``idempotency_key_in_use``, unless it
   is older than ``settings.API_IDEMPOTENCY_STALE_AFTER`` (its request crashed), in which case it
   is taken over: safe, because the ledger itself is idempotent on (client, key) and the re-run
   returns the first posting;
3. the view runs; its answer is stored if it is not a 5xx; on a 5xx or an unexpected exception
   the claim is deleted so that a retry runs afresh.

Records are kept ``settings.API_IDEMPOTENCY_TTL`` (at least 24 h) and then purged by the
``backoffice.purge_nonces`` task.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from backoffice.errors import DomainError, IdempotencyConflictError
from backoffice.models import ApiClient, IdempotencyRecord
from backoffice.signing import single_statement

HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
HEADER_REPLAYED = "Idempotent-Replayed"
_KEY_RE = re.compile(r"[\x20-\x7e]{1,255}")


class IdempotencyKeyRequiredError(DomainError):
    code, http_status = "idempotency_key_required", 400
    message = _("This request moves money: send an Idempotency-Key header of 1 to 255 printable characters.")


class IdempotencyKeyInUseError(DomainError):
    code, http_status = "idempotency_key_in_use", 409
    message = _("A request with this Idempotency-Key is still being processed; retry later.")


@dataclass(frozen=True)
class Claim:
    record: IdempotencyRecord
    replay: bool


def idempotency_key_from(request) -> str:
    """The request's ``Idempotency-Key``; raises IdempotencyKeyRequiredError if absent or malformed."""
    key = request.headers.get(HEADER_IDEMPOTENCY_KEY, "")
    if not _KEY_RE.fullmatch(key) or not key.strip():
        raise IdempotencyKeyRequiredError()
    return key


def body_fingerprint(body: bytes) -> str:
    """SHA-256 of the body; JSON is canonicalised first, so key order and spacing do not matter."""
    try:
        canonical = json.dumps(json.loads(body or b"{}"), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON, or hostile nesting: the raw bytes
        canonical = body or b""
    return hashlib.sha256(canonical).hexdigest()


def idempotency_claim(*, client: ApiClient, key: str, method: str, path: str, fingerprint: str, now=None) -> Claim:
    """Claim ``key`` for this request or find its earlier answer. Raises IdempotencyConflictError
    (422) for a different request, IdempotencyKeyInUseError (409) while the first is in flight."""
    for _attempt in range(3):
        now = now or timezone.now()
        try:
            # Committed on its own: one autocommit INSERT outside a transaction (one round trip).
            with single_statement():
                record = IdempotencyRecord.objects.create(
                    client=client,
                    key=key,
                    method=method,
                    path=path,
                    fingerprint=fingerprint,
                    state=IdempotencyRecord.State.IN_FLIGHT,
                    created_at=now,
                )
            return Claim(record=record, replay=False)
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if record is None:
            continue  # the first request gave up its claim meanwhile: claim again
        if (record.method, record.path, record.fingerprint) != (method, path, fingerprint):
            raise IdempotencyConflictError(key=key)
        if record.state == IdempotencyRecord.State.DONE:
            return Claim(record=record, replay=True)
        stale_before = now - dt.timedelta(seconds=settings.API_IDEMPOTENCY_STALE_AFTER)
        if record.updated_at < stale_before:
            # Conditional update: of two retries taking over the same stale claim, one wins.
            taken = IdempotencyRecord.objects.filter(
                pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT, updated_at=record.updated_at
            ).update(updated_at=now)
            if taken:
                record.updated_at = now
                return Claim(record=record, replay=False)
        raise IdempotencyKeyInUseError()
    raise IdempotencyKeyInUseError()


def idempotency_store(*, record: IdempotencyRecord, status: int, body, content: bytes | None = None) -> None:
    """Store the answer of a claimed request: ``content``, the bytes sent, or else ``body`` (any
    JSON-renderable data) rendered as the API renders it. Kept as text, never re-serialised."""
    if content is None:
        content = JSONRenderer().render(body if body is not None else {})
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.DONE,
        response_status=status,
        response_body=content.decode("utf-8"),
        updated_at=timezone.now(),
    )


def idempotency_abandon(*, record: IdempotencyRecord) -> None:
    """Give up a claim whose request failed unexpectedly, so that a retry runs afresh."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def idempotency_records_purge(*, now=None) -> int:
    """Delete records older than ``settings.API_IDEMPOTENCY_TTL``; returns how many."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.API_IDEMPOTENCY_TTL)
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def replay_response(record: IdempotencyRecord) -> HttpResponse:
    """The stored answer, byte for byte (not parsed and rendered again)."""
    return HttpResponse(
        (record.response_body or "").encode("utf-8"),
        status=record.response_status,
        content_type=JSONRenderer.media_type,
        headers={HEADER_REPLAYED: "true"},
    )


def _rendered(view, request, response) -> bytes:
    """The bytes DRF will send for ``response``: the negotiated renderer, media type and context
    (an ``Accept: application/json; indent=4`` first request is replayed indented, as sent)."""
    if not isinstance(response, Response):
        return bytes(response.content)
    renderer = getattr(request, "accepted_renderer", None) or JSONRenderer()
    media_type = getattr(request, "accepted_media_type", None) or renderer.media_type
    context = {**view.get_renderer_context(), "response": response}
    return renderer.render(response.data, media_type, context)


def idempotent(method):
    """Decorate an APIView handler (``post``) that moves money.

    Runs after authentication and permission checks. ``request.idempotency_key`` carries the key
    down to the ledger. Refusals the exception handler turns into 4xx answers are stored and
    replayed like successes.
    """

    @functools.wraps(method)
    def wrapper(view, request, *args, **kwargs):
        key = idempotency_key_from(request)
        claim = idempotency_claim(
            client=request.auth,
            key=key,
            method=request.method,
            path=request.get_full_path()[:500],
            fingerprint=body_fingerprint(request.body),
        )
        if claim.replay:
            return replay_response(claim.record)
        request.idempotency_key = key
        try:
            try:
                response = method(view, request, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - answered by the view's own exception handler
                response = view.handle_exception(exc)  # re-raises what the handler does not answer
        except BaseException:
            idempotency_abandon(record=claim.record)
            raise
        if response.status_code >= 500:
            idempotency_abandon(record=claim.record)
        else:
            idempotency_store(
                record=claim.record, status=response.status_code, body=None, content=_rendered(view, request, response)
            )
        return response

    return wrapper
