"""Webhooks in the operator console: endpoints created through the service with the secret shown
once, rotated and deactivated after a confirmation; the delivery log with its filters, the payload
and attempts, and "resend" with a confirmation, by those allowed to."""

from __future__ import annotations

import socket

import pytest
from django.urls import reverse

from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from backoffice.models import AuditLog, WebhookDelivery, WebhookEndpoint
from backoffice.webhooks import webhook_emit, webhook_endpoint_create

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]

OWNER = "merchant:12"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_delivery(settings, django_capture_on_commit_callbacks):
    """A delivery to an address where nothing listens, dead after its only allowed attempt."""
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    endpoint, _secret = webhook_endpoint_create(owner=OWNER, url=f"http://127.0.0.1:{_closed_port()}/hook", event_types=["*"])
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = webhook_emit(owner=OWNER, event="payment.succeeded", payload={"payment": 99, "amount": "12.50"})
    delivery = WebhookDelivery.objects.get(pk=delivery.pk)
    assert delivery.state == "dead"
    return delivery


def test_console_webhook_endpoint_create_shows_the_secret_once(console):
    client = console("supervisor")
    add = reverse("admin:backoffice_webhookendpoint_add")
    assert client.get(add).status_code == 200
    response = client.post(
        add, {"owner": OWNER, "url": "https://merchant.example/hooks", "event_types": "payment.succeeded, refund.succeeded"}
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get(owner=OWNER)
    assert endpoint.event_types == ["payment.succeeded", "refund.succeeded"]
    assert endpoint.secret.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    assert AuditLog.objects.filter(action="webhook_endpoint.create", target_id=str(endpoint.pk)).exists()
    page = client.get(reverse("admin:backoffice_webhookendpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200
    assert endpoint.secret.encode() not in page.content
    assert endpoint.secret_hint.encode() in page.content


def test_console_webhook_endpoint_bad_url_is_a_form_error(console):
    client = console("supervisor")
    response = client.post(
        reverse("admin:backoffice_webhookendpoint_add"), {"owner": OWNER, "url": "ftp://x.example/", "event_types": "*"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["url"]
    assert not WebhookEndpoint.objects.exists()


def test_console_webhook_endpoint_operator_cannot_create(console):
    client = console("operator")
    assert client.get(reverse("admin:backoffice_webhookendpoint_add")).status_code == 403


def test_console_webhook_endpoint_rotate_and_deactivate_after_confirmation(console):
    endpoint, secret = webhook_endpoint_create(owner=OWNER, url="https://merchant.example/hooks", event_types=["*"])
    client = console("supervisor")
    rotate = reverse("admin:backoffice_webhookendpoint_rotate", args=[endpoint.pk])
    assert client.get(rotate).status_code == 200  # the confirmation page
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == secret  # nothing changed yet
    response = client.post(rotate, {"reason": "suspected leak"})
    new_secret = WebhookEndpoint.objects.get(pk=endpoint.pk).secret
    assert new_secret != secret and new_secret.encode() in response.content

    deactivate = reverse("admin:backoffice_webhookendpoint_deactivate", args=[endpoint.pk])
    assert client.post(deactivate, {"reason": ""}).status_code == 200  # a reason is required
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).is_active
    assert client.post(deactivate, {"reason": "merchant left"}).status_code == 302
    assert not WebhookEndpoint.objects.get(pk=endpoint.pk).is_active
    actions = set(AuditLog.objects.filter(target_id=str(endpoint.pk)).values_list("action", flat=True))
    assert {"webhook_endpoint.rotate_secret", "webhook_endpoint.deactivate"} <= actions


def test_console_webhook_delivery_log_filters_search_and_detail(console, dead_delivery):
    client = console("auditor")
    changelist = reverse("admin:backoffice_webhookdelivery_changelist")
    for query in ("", "?state__exact=dead", "?event=payment.succeeded", f"?owner={OWNER}", f"?q={dead_delivery.event_id}"):
        response = client.get(changelist + query)
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [dead_delivery], query
    assert list(client.get(changelist + "?state__exact=delivered").context["cl"].result_list) == []
    detail = client.get(reverse("admin:backoffice_webhookdelivery_change", args=[dead_delivery.pk]))
    assert detail.status_code == 200
    content = detail.content.decode()
    assert "payment.succeeded" in content and "12.50" in content  # the payload
    assert "connection failed" in content  # the attempt
    assert "webhook-resend" not in content  # an auditor may not resend


def test_console_webhook_resend_with_confirmation(console, dead_delivery):
    client = console("operator")
    detail = client.get(reverse("admin:backoffice_webhookdelivery_change", args=[dead_delivery.pk]))
    assert "webhook-resend" in detail.content.decode()
    resend = reverse("admin:backoffice_webhookdelivery_resend")
    page = client.get(resend + f"?ids={dead_delivery.pk}")
    assert page.status_code == 200 and str(dead_delivery.event_id) in page.content.decode()
    assert WebhookDelivery.objects.count() == 1  # the confirmation page sends nothing
    response = client.post(resend, {"ids": str(dead_delivery.pk), "reason": "merchant back online"})
    assert response.status_code == 302
    resent = WebhookDelivery.objects.get(resend_of=dead_delivery)
    assert resent.payload == dead_delivery.payload
    assert AuditLog.objects.filter(action="webhook.resend", target_id=str(resent.pk)).exists()


def test_console_webhook_resend_list_action_and_refusals(console, dead_delivery):
    client = console("auditor", username="auditor-2")
    assert client.get(reverse("admin:backoffice_webhookdelivery_resend") + f"?ids={dead_delivery.pk}").status_code == 403
    operator = console("operator", username="operator-2")
    response = operator.post(
        reverse("admin:backoffice_webhookdelivery_changelist"),
        {"action": "action_resend", "_selected_action": [dead_delivery.pk]},
    )
    assert response.status_code == 302 and f"ids={dead_delivery.pk}" in response["Location"]
