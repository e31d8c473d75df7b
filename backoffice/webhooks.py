"""Outbound webhooks: an app tells an owner's endpoints that something happened, after commit,
signed, retried with backoff, every attempt logged.

An app calls ``webhook_emit(owner="platform:P001", event="loan.disbursed", payload={...})`` inside
its own transaction. One ``WebhookDelivery`` row is written per active endpoint of that owner that
subscribes to the event, and the Celery task ``backoffice.webhook_deliver`` is enqueued once the
transaction commits: a rolled-back use case tells nobody. The row is its own outbox: a lost task
or a broker outage strands nothing, the beat task ``backoffice.webhook_sweep`` (every minute)
re-drives every delivery whose next attempt is due.

What is sent. ``POST <endpoint url>`` with the body, UTF-8 JSON with sorted keys and no spaces::

    {"created_at": "2026-12-01T15:04:05+08:00", "data": {...}, "event": "loan.disbursed", "id": "<event uuid>"}

(amounts in ``data`` are strings such as ``"123.45"``; a float is refused when the event is
emitted), and the headers:

    Content-Type        application/json
    X-Webhook-Id        the event id (a UUID): the same for every attempt and every resend; dedupe on it
    X-Webhook-Event     the event type, e.g. ``loan.disbursed``
    X-Webhook-Delivery  the delivery id (a resend is a new delivery of the same bytes)
    X-Webhook-Attempt   1, 2, ... within the delivery
    X-Timestamp         unix seconds of this attempt
    X-Nonce             32 characters of [A-Za-z0-9_-], fresh for each attempt
    X-Signature         hex HMAC-SHA256(secret, "POST\\n" + PATH_WITH_QUERY + "\\n" + TIMESTAMP + "\\n"
                        + NONCE + "\\n" + hex(SHA256(body)))

The signed string is the partner API's (``backoffice.signing.string_to_sign``) with the method
``POST`` and the path and query of the endpoint's URL, so a receiver verifies it with the same code
it signs its API calls with; the body carries the event id and type, so the signature covers them.
A receiver should refuse a timestamp far from its clock and compare signatures in constant time.

Delivery. Any 2xx answer delivers. Anything else (another status, a redirect, which is never
followed, a refused connection, no answer within ``WEBHOOK_TIMEOUT_SECONDS``) is a failed attempt:
the next is due after ``WEBHOOK_BACKOFF_SECONDS * 2**(n-1)`` seconds (capped at
``WEBHOOK_BACKOFF_MAX_SECONDS``, with jitter: between half and all of it), and after
``WEBHOOK_MAX_ATTEMPTS`` failed attempts the delivery is dead. An operator may resend a delivered or
dead delivery (``webhook_resend``, audited): a new delivery of the same bytes and event id.
Delivery is at least once: a receiver that answered 2xx after the attempt timed out here gets
the event again, so it deduplicates on ``X-Webhook-Id``.

No network call runs inside a database transaction: an attempt is claimed and committed
(``webhook_attempt_begin``), the endpoint is called, and the answer is recorded
(``webhook_attempt_finish``). The claim moves ``next_attempt_at`` past the call's timeout, so two
workers never send the same attempt.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import json
import logging
import random
import re
import time
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.audit import audit_record
from backoffice.dates import bank_tz
from backoffice.errors import DomainError, FieldValidationError, InvalidStateError, NotFoundError
from backoffice.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from backoffice.signing import HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, new_nonce, sign_request
from backoffice.tasks import enqueue_now, enqueue_on_commit, tasks_run_eagerly

log = logging.getLogger(__name__)

HEADER_EVENT_ID = "X-Webhook-Id"
HEADER_EVENT = "X-Webhook-Event"
HEADER_DELIVERY = "X-Webhook-Delivery"
HEADER_ATTEMPT = "X-Webhook-Attempt"

DELIVER_TASK = "backoffice.webhook_deliver"
EVENT_RE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")
EXCERPT = 500  # characters of an answer or an error kept on the delivery and the attempt
# How long past an attempt's timeout its claim lasts: a worker killed mid-call leaves the
# delivery due again after this, for the sweeper.
CLAIM_MARGIN = dt.timedelta(seconds=60)


class WebhookEndpointInactiveError(DomainError):
    code, http_status = "endpoint_inactive", 409
    message = _("The webhook endpoint is deactivated.")


# -- endpoints ---------------------------------------------------------------------------------


def validate_url(url: str) -> str:
    """An absolute http(s) URL with a host and no credentials in it; anything else is refused."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise FieldValidationError({"url": [str(_("Only absolute http:// or https:// URLs are accepted."))]})
    if parts.username or parts.password:
        raise FieldValidationError({"url": [str(_("A URL may not carry a user name or password."))]})
    if len(url) > 500:
        raise FieldValidationError({"url": [str(_("At most 500 characters."))]})
    return url


def validate_event_types(event_types: list[str]) -> list[str]:
    """Event types such as ``loan.disbursed`` (lower case, dot-separated), or ``*`` for all."""
    cleaned = sorted({str(e).strip() for e in event_types if str(e).strip()})
    bad = [e for e in cleaned if e != "*" and not EVENT_RE.fullmatch(e)]
    if not cleaned or bad:
        message = _("Name at least one event type such as loan.disbursed, or * for all.")
        raise FieldValidationError({"event_types": [str(message)] + bad})
    return cleaned


def _validate_owner(owner: str) -> str:
    owner = (owner or "").strip()
    if not owner or len(owner) > 64:
        raise FieldValidationError({"owner": [str(_("An owner key such as platform:P001, at most 64 characters."))]})
    return owner


@transaction.atomic(durable=True)
def webhook_endpoint_create(
    *,
    owner: str,
    url: str,
    event_types: list[str],
    description: str = "",
    actor=None,
    actor_label: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its signing secret, which is never shown again."""
    secret = WebhookEndpoint.new_secret()
    endpoint = WebhookEndpoint.objects.create(
        owner=_validate_owner(owner),
        url=validate_url(url),
        event_types=validate_event_types(event_types),
        description=description.strip()[:200],
        secret=secret,
    )
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="webhook_endpoint.create",
        target=endpoint,
        data={"owner": endpoint.owner, "url": endpoint.url, "event_types": endpoint.event_types},
    )
    return endpoint, secret


def _locked_endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFoundError()
    return endpoint


@transaction.atomic(durable=True)
def webhook_endpoint_rotate_secret(
    *, endpoint_id: int, actor=None, actor_label: str = "", reason: str = ""
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret, shown once; every later attempt (retries of earlier events too) signs
    with it. The old one stops working at once: tell the receiver first."""
    endpoint = _locked_endpoint(endpoint_id)
    if not endpoint.is_active:
        raise WebhookEndpointInactiveError()
    old_hint = endpoint.secret_hint
    secret = WebhookEndpoint.new_secret()
    endpoint.secret = secret
    endpoint.save(update_fields=["secret_encrypted", "updated_at"])
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="webhook_endpoint.rotate_secret",
        target=endpoint,
        data={"old_hint": old_hint, "new_hint": endpoint.secret_hint, "reason": reason},
    )
    return endpoint, secret


@transaction.atomic(durable=True)
def webhook_endpoint_deactivate(*, endpoint_id: int, actor=None, actor_label: str = "", reason: str = "") -> WebhookEndpoint:
    """Stop sending to an endpoint (never deleted: its deliveries stay). Deliveries still waiting
    for an attempt become dead at their next attempt, which is not sent."""
    endpoint = _locked_endpoint(endpoint_id)
    if not endpoint.is_active:
        raise WebhookEndpointInactiveError()
    endpoint.is_active = False
    endpoint.save(update_fields=["is_active", "updated_at"])
    audit_record(
        actor=actor, actor_label=actor_label, action="webhook_endpoint.deactivate", target=endpoint, data={"reason": reason}
    )
    return endpoint


# -- emitting ----------------------------------------------------------------------------------


def _jsonable(value):
    """Payload values as JSON: Decimal as its exact text, times in bank time; never a float."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        raise TypeError("webhook payloads carry amounts as Decimal or strings, never float")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.astimezone(bank_tz()).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, (dt.date, uuid.UUID)):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("webhook payload keys must be strings")
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    raise TypeError(f"a webhook payload cannot carry {type(value).__name__}")


def webhook_body(*, event_id: uuid.UUID, event: str, payload: dict, created_at: dt.datetime) -> str:
    """The body of an event, exactly as it is stored and sent (see the module docstring)."""
    envelope = {"id": str(event_id), "event": event, "created_at": created_at, "data": payload}
    return json.dumps(_jsonable(envelope), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


#: Payload keys that name an object (or a list of them): their ids go out as strings, as in the partner API's answers
#: (issue #13: one id type everywhere), whatever type the emitting app used. ``instalment`` is a number, not an id.
ID_KEYS = frozenset(
    {
        "id",
        "bid",
        "confirmation",
        "debt",
        "hold",
        "loan",
        "merchant",
        "party",
        "payment",
        "payout",
        "recharge",
        "refund",
        "released_bids",
        "repayment",
        "settlement",
        "transfer",
        "withdrawal",
    }
)


def _string_id(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return [_string_id(item) for item in value]
    return value


def payload_ids_as_strings(payload: dict) -> dict:
    """``payload`` with every object id (keys in ``ID_KEYS`` or ending in ``_id``) a string: ``{"loan": 7}`` ->
    ``{"loan": "7"}``; ``None`` and non-id values untouched."""
    return {key: _string_id(value) if (key in ID_KEYS or key.endswith("_id")) else value for key, value in payload.items()}


def webhook_emit(*, owner: str, event: str, payload: dict) -> list[WebhookDelivery]:
    """Tell every active endpoint of ``owner`` subscribed to ``event``: one delivery each, sent
    after the caller's transaction commits (nothing is sent if it rolls back). Composable: runs
    inside the caller's transaction. Returns the deliveries (none if no endpoint subscribes)."""
    if not EVENT_RE.fullmatch(event or ""):
        raise ValueError(f"{event!r} is not an event type such as loan.disbursed")
    now = timezone.now()
    event_id = uuid.uuid4()
    body = webhook_body(event_id=event_id, event=event, payload=payload_ids_as_strings(payload), created_at=now)
    deliveries = []
    with transaction.atomic():
        endpoints = WebhookEndpoint.objects.filter(owner=owner, is_active=True).order_by("pk")
        for endpoint in endpoints:
            if not endpoint.subscribes_to(event):
                continue
            delivery = WebhookDelivery.objects.create(
                endpoint=endpoint,
                owner=owner,
                event=event,
                event_id=event_id,
                payload=body,
                next_attempt_at=now,
            )
            # Robust: the row is its own outbox; a broker error must not fail the caller's use
            # case after its commit. The sweeper sends what was not enqueued.
            enqueue_on_commit(DELIVER_TASK, delivery.pk, robust=True)
            deliveries.append(delivery)
    return deliveries


@transaction.atomic(durable=True)
def webhook_resend(*, delivery_id: int, actor=None, actor_label: str = "", reason: str = "") -> WebhookDelivery:
    """Send a delivered or dead delivery again: a new delivery of the same bytes and event id
    (``resend_of`` the first, whose record is left as it was), audited as ``webhook.resend``.
    Refused while the first is still being tried (``invalid_state``) or if its endpoint is
    deactivated (``endpoint_inactive``)."""
    original = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if original is None:
        raise NotFoundError()
    if original.state not in (WebhookDelivery.State.DELIVERED, WebhookDelivery.State.DEAD):
        raise InvalidStateError(state=original.state)
    if not WebhookEndpoint.objects.filter(pk=original.endpoint_id, is_active=True).exists():
        raise WebhookEndpointInactiveError()
    delivery = WebhookDelivery.objects.create(
        endpoint_id=original.endpoint_id,
        owner=original.owner,
        event=original.event,
        event_id=original.event_id,
        payload=original.payload,
        resend_of=original,
        next_attempt_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="webhook.resend",
        target=delivery,
        data={"resend_of": original.pk, "event": original.event, "event_id": str(original.event_id), "reason": reason},
    )
    enqueue_on_commit(DELIVER_TASK, delivery.pk, robust=True)
    return delivery


# -- signing and sending -----------------------------------------------------------------------


def path_with_query(url: str) -> str:
    """The part of ``url`` that is signed: the path (``/`` if empty) and ``?query`` if any."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def webhook_signature(*, secret: str, url: str, timestamp: int | str, nonce: str, body: bytes) -> str:
    """The ``X-Signature`` of one attempt (a receiver computes the same to verify it)."""
    return sign_request(
        secret=secret, method="POST", path_with_query=path_with_query(url), body=body, timestamp=int(timestamp), nonce=nonce
    )


def webhook_backoff(attempts: int, *, rng: random.Random | None = None) -> int:
    """Seconds to wait after ``attempts`` failed attempts: base * 2**(attempts-1), capped, then
    jittered to between half and all of it (so a receiver's outage is not hit in lockstep)."""
    base = settings.WEBHOOK_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    delay = min(base, settings.WEBHOOK_BACKOFF_MAX_SECONDS)
    return max(1, round(delay / 2 + (rng or random).uniform(0, delay / 2)))


@dataclasses.dataclass(frozen=True)
class Attempt:
    """A claimed attempt: what to send, and to whom (read once, committed, before the call)."""

    delivery_id: int
    number: int
    url: str
    secret: str
    event: str
    event_id: str
    body: bytes


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int | None  # the HTTP status, None when none came (refused, timed out)
    text: str  # an excerpt of the answer's body, or the error
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other non-2xx: never followed (the signed URL is the one
    the owner registered)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# No proxy from the environment (as the channel adapters), no redirects.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


def _excerpt(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text[:EXCERPT]


def webhook_headers(attempt: Attempt, *, timestamp: int, nonce: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "custody-backoffice-webhooks/1",
        HEADER_EVENT_ID: attempt.event_id,
        HEADER_EVENT: attempt.event,
        HEADER_DELIVERY: str(attempt.delivery_id),
        HEADER_ATTEMPT: str(attempt.number),
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: webhook_signature(
            secret=attempt.secret, url=attempt.url, timestamp=timestamp, nonce=nonce, body=attempt.body
        ),
    }


def webhook_post(attempt: Attempt, *, timeout: float | None = None) -> Answer:
    """POST one attempt (outside any transaction); never raises for what the receiver does."""
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS if timeout is None else timeout
    headers = webhook_headers(attempt, timestamp=int(time.time()), nonce=new_nonce())
    request = urllib.request.Request(attempt.url, data=attempt.body, method="POST", headers=headers)
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return Answer(response.status, _excerpt(response.read(EXCERPT)), took())
    except urllib.error.HTTPError as exc:  # a status outside 2xx, a redirect included
        try:
            text = _excerpt(exc.read(EXCERPT))
        except (OSError, http.client.HTTPException):
            text = ""
        return Answer(exc.code, text or str(exc.reason)[:EXCERPT], took())
    except TimeoutError:
        return Answer(None, f"timeout after {timeout}s", took())
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return Answer(None, f"timeout after {timeout}s", took())
        return Answer(None, _excerpt(f"connection failed: {reason}"), took())
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Answer(None, _excerpt(f"{type(exc).__name__}: {exc}"), took())


@transaction.atomic(durable=True)
def webhook_attempt_begin(*, delivery_id: int, now: dt.datetime | None = None) -> Attempt | None:
    """Claim the next attempt of a delivery that is due; None if it is delivered, dead, not due,
    or claimed by another worker. A delivery to a deactivated endpoint becomes dead, unsent."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None or delivery.state not in (WebhookDelivery.State.PENDING, WebhookDelivery.State.RETRYING):
        return None
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None
    endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
    if not endpoint.is_active:
        delivery.mark_dead()
        delivery.next_attempt_at = None
        delivery.last_error = "endpoint deactivated: not sent"
        delivery.save()
        return None
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.next_attempt_at = now + dt.timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS) + CLAIM_MARGIN
    delivery.save()
    return Attempt(
        delivery_id=delivery.pk,
        number=delivery.attempts,
        url=endpoint.url,
        secret=endpoint.secret,
        event=delivery.event,
        event_id=str(delivery.event_id),
        body=delivery.payload.encode(),
    )


@transaction.atomic(durable=True)
def webhook_attempt_finish(*, attempt: Attempt, answer: Answer, now: dt.datetime | None = None) -> WebhookDelivery:
    """Record an attempt's answer: delivered on 2xx; otherwise retrying with backoff, or dead after
    the last allowed attempt. An answer to a claim that is no longer current is only logged."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_for_update().get(pk=attempt.delivery_id)
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=attempt.number,
        at=now,
        status=answer.status,
        error="" if answer.delivered else answer.text,
        duration_ms=answer.duration_ms,
    )
    current = delivery.state in (WebhookDelivery.State.PENDING, WebhookDelivery.State.RETRYING)
    if not current or delivery.attempts != attempt.number:
        log.warning("webhook delivery %s: late answer to attempt %s ignored", delivery.pk, attempt.number)
        return delivery
    delivery.last_status = answer.status
    delivery.last_error = "" if answer.delivered else answer.text
    if answer.delivered:
        delivery.mark_delivered()
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.mark_dead()
        delivery.next_attempt_at = None
    else:
        delivery.mark_retrying()
        delay = webhook_backoff(delivery.attempts)
        delivery.next_attempt_at = now + dt.timedelta(seconds=delay)
        # With a broker, the retry is scheduled; run eagerly (tests, the embedded demo) it would
        # run at once and loop, so the sweeper (or an operator) drives it when it is due.
        if not tasks_run_eagerly():
            enqueue_on_commit(DELIVER_TASK, delivery.pk, countdown=delay, robust=True)
    delivery.save()
    return delivery


def webhook_deliver(*, delivery_id: int, now: dt.datetime | None = None) -> WebhookDelivery | None:
    """One attempt of a delivery if it is due: claim, POST, record. None if nothing was due."""
    attempt = webhook_attempt_begin(delivery_id=delivery_id, now=now)
    if attempt is None:
        return None
    answer = webhook_post(attempt)
    return webhook_attempt_finish(attempt=attempt, answer=answer, now=now)


def webhook_sweep(*, now: dt.datetime | None = None) -> int:
    """Drive every delivery whose next attempt is due (beat, every minute); returns how many.
    With a broker each is enqueued; eagerly each is attempted in turn."""
    now = now or timezone.now()
    due = (
        WebhookDelivery.objects.filter(
            state__in=[WebhookDelivery.State.PENDING, WebhookDelivery.State.RETRYING], next_attempt_at__lte=now
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:1000]
    )
    driven = 0
    for delivery_id in list(due):
        if tasks_run_eagerly():
            webhook_deliver(delivery_id=delivery_id, now=now)
        else:
            enqueue_now(DELIVER_TASK, delivery_id)
        driven += 1
    return driven


# -- tasks (registered when the app is ready: backoffice.apps) ---------------------------------
# They live here, not in backoffice.tasks, because this module enqueues through backoffice.tasks.


@shared_task(name="backoffice.webhook_deliver", acks_late=True)
def webhook_deliver_task(delivery_id: int) -> str | None:
    """One attempt of a delivery, if it is due (a no-op otherwise: safe to run twice)."""
    delivery = webhook_deliver(delivery_id=delivery_id)
    return None if delivery is None else delivery.state


@shared_task(name="backoffice.webhook_sweep", acks_late=True)
def webhook_sweep_task() -> int:
    """Beat: re-drive every delivery whose next attempt is due."""
    return webhook_sweep()
