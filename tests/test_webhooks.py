"""Outbound webhooks (backoffice.webhooks) against a real HTTP receiver on 127.0.0.1: signed after
commit, retried with backoff, dead after the last attempt, resent by an operator, never sent for a
rolled-back transaction, never following a redirect, and a receiver that does not answer in time."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from backoffice import crypto
from backoffice.errors import FieldValidationError, InvalidStateError
from backoffice.models import AuditLog, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from backoffice.webhooks import (
    WebhookEndpointInactiveError,
    webhook_backoff,
    webhook_emit,
    webhook_endpoint_create,
    webhook_endpoint_deactivate,
    webhook_endpoint_rotate_secret,
    webhook_resend,
    webhook_sweep,
)

pytestmark = pytest.mark.django_db

OWNER = "platform:P001"


class Receiver(ThreadingHTTPServer):
    """Records every request; answers the scripted statuses in turn (then ``default``), after
    ``delay`` seconds."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.script: list[int] = []
        self.default = 200
        self.delay = 0.0
        self.redirect_to = ""
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.default


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass

    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server: Receiver = self.server
        server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if server.delay:
            time.sleep(server.delay)
        status = server.next_status()
        answer = f'{{"status": {status}}}'.encode()
        try:
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", server.url + "/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(receiver):
    endpoint, secret = webhook_endpoint_create(
        owner=OWNER, url=receiver.url + "/hooks/custody?v=1", event_types=["loan.disbursed"], actor_label="test"
    )
    return endpoint, secret


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    settings.WEBHOOK_BACKOFF_SECONDS = 10
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    settings.WEBHOOK_TIMEOUT_SECONDS = 2


def verify(request: dict, secret: str) -> bool:
    """What a receiver does, written out independently of the sender's helpers."""
    headers = {k.lower(): v for k, v in request["headers"].items()}
    message = "\n".join(
        ["POST", request["path"], headers["x-timestamp"], headers["x-nonce"], hashlib.sha256(request["body"]).hexdigest()]
    )
    expected = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-signature"])


def emit(django_capture_on_commit_callbacks, event="loan.disbursed", payload=None):
    with django_capture_on_commit_callbacks(execute=True):
        return webhook_emit(owner=OWNER, event=event, payload=payload or {"loan": 7, "amount": Decimal("10000.00")})


def reload(delivery) -> WebhookDelivery:
    return WebhookDelivery.objects.get(pk=delivery.pk)


def later(minutes: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


def test_webhook_emit_posts_signed_body_after_commit(receiver, endpoint, django_capture_on_commit_callbacks):
    # given an endpoint subscribed to loan.disbursed
    ep, secret = endpoint
    # when the event is emitted and the transaction commits
    [delivery] = emit(django_capture_on_commit_callbacks)
    # then the receiver got one POST it can verify with the secret
    [request] = receiver.requests
    assert request["path"] == "/hooks/custody?v=1"
    assert verify(request, secret)
    assert not verify(request, secret + "x")
    body = json.loads(request["body"])
    assert body["event"] == "loan.disbursed"
    assert body["data"] == {"loan": "7", "amount": "10000.00"}  # ids go out as strings (issue #13)
    assert body["created_at"].endswith("+08:00")
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["x-webhook-id"] == body["id"] == str(delivery.event_id)
    assert headers["x-webhook-event"] == "loan.disbursed"
    assert headers["x-webhook-attempt"] == "1"
    assert abs(int(headers["x-timestamp"]) - time.time()) < 60
    # the stored payload is the exact bytes sent
    delivery = reload(delivery)
    assert delivery.payload.encode() == request["body"]
    assert delivery.state == WebhookDelivery.State.DELIVERED
    assert (delivery.attempts, delivery.last_status, delivery.next_attempt_at) == (1, 200, None)
    assert delivery.delivered_at is not None
    assert list(WebhookAttempt.objects.filter(delivery=delivery).values_list("number", "status")) == [(1, 200)]


def test_webhook_emit_only_to_active_subscribed_endpoints_of_the_owner(receiver, django_capture_on_commit_callbacks):
    subscribed, _ = webhook_endpoint_create(owner=OWNER, url=receiver.url + "/a", event_types=["loan.disbursed"])
    everything, _ = webhook_endpoint_create(owner=OWNER, url=receiver.url + "/b", event_types=["*"])
    webhook_endpoint_create(owner=OWNER, url=receiver.url + "/c", event_types=["loan.repaid"])
    webhook_endpoint_create(owner="merchant:12", url=receiver.url + "/d", event_types=["*"])
    gone, _ = webhook_endpoint_create(owner=OWNER, url=receiver.url + "/e", event_types=["*"])
    webhook_endpoint_deactivate(endpoint_id=gone.pk, actor_label="test")

    deliveries = emit(django_capture_on_commit_callbacks)

    assert sorted(d.endpoint_id for d in deliveries) == sorted([subscribed.pk, everything.pk])
    assert sorted(r["path"] for r in receiver.requests) == ["/a", "/b"]
    assert len({d.event_id for d in deliveries}) == 1  # one event, one id, however many endpoints


def test_webhook_emit_in_a_rolled_back_transaction_sends_nothing(receiver, endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            webhook_emit(owner=OWNER, event="loan.disbursed", payload={"loan": 1})
            raise RuntimeError("the use case fails after emitting")
    assert callbacks == []
    assert WebhookDelivery.objects.count() == 0
    assert receiver.requests == []


def test_webhook_retries_on_500_with_backoff_then_delivers(receiver, endpoint, django_capture_on_commit_callbacks):
    receiver.script = [500, 500]
    [delivery] = emit(django_capture_on_commit_callbacks)

    delivery = reload(delivery)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("retrying", 1, 500)
    first_wait = (delivery.next_attempt_at - delivery.attempt_log.last().at).total_seconds()
    assert 5 <= first_wait <= 10  # base 10 s, jittered between half and all of it
    assert '"status": 500' in delivery.last_error

    assert webhook_sweep() == 0  # not due yet: nothing sent
    assert len(receiver.requests) == 1

    assert webhook_sweep(now=later(1)) == 1
    delivery = reload(delivery)
    assert (delivery.state, delivery.attempts) == ("retrying", 2)
    second_wait = (delivery.next_attempt_at - delivery.attempt_log.last().at).total_seconds()
    assert 10 <= second_wait <= 20  # doubled

    webhook_sweep(now=later(2))
    delivery = reload(delivery)
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.last_error) == ("delivered", 3, 200, "")
    assert [r["headers"]["X-Webhook-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len({r["body"] for r in receiver.requests}) == 1  # the same bytes every time
    assert len({r["headers"]["X-Nonce"] for r in receiver.requests}) == 3  # a fresh nonce each time
    assert list(delivery.attempt_log.values_list("status", flat=True)) == [500, 500, 200]


def test_webhook_dead_after_max_attempts(receiver, endpoint, django_capture_on_commit_callbacks):
    receiver.default = 503
    [delivery] = emit(django_capture_on_commit_callbacks)
    for minutes in (10, 20, 40, 80, 160):
        webhook_sweep(now=later(minutes))
    delivery = reload(delivery)
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("dead", 4, None)
    assert len(receiver.requests) == 4  # WEBHOOK_MAX_ATTEMPTS, and nothing after
    assert webhook_sweep(now=later(1000)) == 0


def test_webhook_resend_of_a_dead_delivery_is_a_new_audited_delivery(receiver, endpoint, django_capture_on_commit_callbacks):
    receiver.default = 500
    [dead] = emit(django_capture_on_commit_callbacks)
    for minutes in (10, 20, 40):
        webhook_sweep(now=later(minutes))
    assert reload(dead).state == "dead"
    operator = User.objects.create_user("ops-resend", password="x" * 12)

    receiver.default = 200
    with django_capture_on_commit_callbacks(execute=True):
        resent = webhook_resend(delivery_id=dead.pk, actor=operator, reason="receiver fixed")

    resent = reload(resent)
    assert (resent.state, resent.attempts, resent.resend_of_id) == ("delivered", 1, dead.pk)
    assert (resent.event_id, resent.payload) == (dead.event_id, dead.payload)
    assert reload(dead).state == "dead"  # the first record is left as it was
    assert receiver.requests[-1]["body"] == dead.payload.encode()
    assert receiver.requests[-1]["headers"]["X-Webhook-Delivery"] == str(resent.pk)
    record = AuditLog.objects.get(action="webhook.resend")
    assert (record.actor, record.target_id, record.data["resend_of"]) == (operator, str(resent.pk), dead.pk)


def test_webhook_resend_refused_while_still_being_tried_or_endpoint_inactive(
    receiver, endpoint, django_capture_on_commit_callbacks
):
    receiver.default = 500
    [delivery] = emit(django_capture_on_commit_callbacks)
    with pytest.raises(InvalidStateError):
        webhook_resend(delivery_id=delivery.pk, actor_label="test")
    receiver.default = 200
    webhook_sweep(now=later(10))
    webhook_endpoint_deactivate(endpoint_id=endpoint[0].pk, actor_label="test")
    with pytest.raises(WebhookEndpointInactiveError):
        webhook_resend(delivery_id=delivery.pk, actor_label="test")
    assert WebhookDelivery.objects.count() == 1


def test_webhook_receiver_that_times_out_is_a_failed_attempt(receiver, endpoint, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.delay = 1.5
    started = time.monotonic()
    [delivery] = emit(django_capture_on_commit_callbacks)
    assert time.monotonic() - started < 1.45  # the attempt gave up at the timeout
    delivery = reload(delivery)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("retrying", 1, None)
    assert delivery.last_error.startswith("timeout")
    assert delivery.attempt_log.get().error.startswith("timeout")


def test_webhook_never_follows_a_redirect(receiver, endpoint, django_capture_on_commit_callbacks):
    receiver.script = [302]
    [delivery] = emit(django_capture_on_commit_callbacks)
    delivery = reload(delivery)
    assert (delivery.state, delivery.last_status) == ("retrying", 302)
    assert [r["path"] for r in receiver.requests] == ["/hooks/custody?v=1"]  # /elsewhere never asked


def test_webhook_unreachable_endpoint_is_a_failed_attempt(django_capture_on_commit_callbacks):
    closed = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there any more
    webhook_endpoint_create(owner=OWNER, url=f"http://127.0.0.1:{port}/", event_types=["*"])
    [delivery] = emit(django_capture_on_commit_callbacks)
    delivery = reload(delivery)
    assert (delivery.state, delivery.last_status) == ("retrying", None)
    assert delivery.last_error.startswith("connection failed")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.com/hook",
        "http://",
        "https://u:p@example.com/",
    ],
)
def test_webhook_endpoint_refuses_non_http_urls(url):
    with pytest.raises(FieldValidationError) as refused:
        webhook_endpoint_create(owner=OWNER, url=url, event_types=["*"])
    assert "url" in refused.value.fields
    assert WebhookEndpoint.objects.count() == 0


def test_webhook_endpoint_refuses_bad_event_types():
    with pytest.raises(FieldValidationError):
        webhook_endpoint_create(owner=OWNER, url="https://example.com/", event_types=["Loan Disbursed"])
    with pytest.raises(FieldValidationError):
        webhook_endpoint_create(owner=OWNER, url="https://example.com/", event_types=[])


def test_webhook_payload_refuses_float(endpoint):
    with pytest.raises(TypeError):
        webhook_emit(owner=OWNER, event="loan.disbursed", payload={"amount": 12.5})
    assert WebhookDelivery.objects.count() == 0


def test_webhook_secret_encrypted_at_rest_rotated_and_audited(receiver, endpoint, django_capture_on_commit_callbacks):
    ep, secret = endpoint
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM backoffice_webhookendpoint WHERE id = %s", [ep.pk])
        stored = cursor.fetchone()[0]
    assert secret not in stored and crypto.decrypt(stored) == secret and secret.startswith("whsec_")

    _ep, new_secret = webhook_endpoint_rotate_secret(endpoint_id=ep.pk, actor_label="test", reason="leaked")
    assert new_secret != secret
    emit(django_capture_on_commit_callbacks)
    assert verify(receiver.requests[-1], new_secret) and not verify(receiver.requests[-1], secret)

    webhook_endpoint_deactivate(endpoint_id=ep.pk, actor_label="test", reason="platform left")
    actions = list(
        AuditLog.objects.filter(target_id=str(ep.pk), target_type="backoffice.webhookendpoint").values_list("action", flat=True)
    )
    assert sorted(actions) == ["webhook_endpoint.create", "webhook_endpoint.deactivate", "webhook_endpoint.rotate_secret"]
    assert all(secret not in json.dumps(r.data) and new_secret not in json.dumps(r.data) for r in AuditLog.objects.all())


def test_webhook_delivery_to_a_deactivated_endpoint_dies_unsent(receiver, endpoint, django_capture_on_commit_callbacks):
    receiver.default = 500
    [delivery] = emit(django_capture_on_commit_callbacks)
    webhook_endpoint_deactivate(endpoint_id=endpoint[0].pk, actor_label="test")
    webhook_sweep(now=later(10))
    delivery = reload(delivery)
    assert (delivery.state, delivery.attempts) == ("dead", 1)
    assert len(receiver.requests) == 1


def test_webhook_backoff_is_exponential_capped_and_jittered(settings):
    import random

    settings.WEBHOOK_BACKOFF_SECONDS = 30
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 600
    rng = random.Random(7)
    for attempts, full in [(1, 30), (2, 60), (3, 120), (5, 480), (6, 600), (20, 600)]:
        waits = {webhook_backoff(attempts, rng=rng) for _ in range(50)}
        assert all(full / 2 <= wait <= full for wait in waits)
        assert len(waits) > 1  # jittered


def test_webhook_secret_rewritten_by_rotate_secrets(settings):
    import io

    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PII_ENCRYPTION_KEYS = [old_key]
    endpoint, secret = webhook_endpoint_create(owner=OWNER, url="https://example.com/hook", event_types=["*"])
    settings.PII_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "backoffice.WebhookEndpoint.secret_encrypted: 1" in out.getvalue()
    settings.PII_ENCRYPTION_KEYS = [new_key]  # the old key retired: the secret still opens
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == secret
