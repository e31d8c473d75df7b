"""Partner API clients in the console: created through the service, secret shown exactly once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from backoffice.models import ApiClient, AuditLog
from backoffice.services import api_client_create

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

ADD = "admin:backoffice_apiclient_add"


def test_admin_apiclient_create_shows_the_secret_once(console):
    client = console("supervisor")
    assert client.get(reverse(ADD)).status_code == 200
    response = client.post(reverse(ADD), {"name": "Partner Bank A", "scopes_text": "accounts:read, transfers:write"})
    assert response.status_code == 200
    created = ApiClient.objects.get(name="Partner Bank A")
    assert created.scopes == ["accounts:read", "transfers:write"]
    assert created.secret.encode() in response.content
    assert created.client_id.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    assert AuditLog.objects.filter(action="api_client.create", target_id=str(created.pk)).exists()
    # Afterwards only a hint is shown.
    page = client.get(reverse("admin:backoffice_apiclient_change", args=[created.pk]))
    assert page.status_code == 200
    assert created.secret.encode() not in page.content
    assert created.secret_hint.encode() in page.content
    listing = client.get(reverse("admin:backoffice_apiclient_changelist"))
    assert created.secret.encode() not in listing.content


def test_admin_apiclient_bad_scope_is_a_form_error(console):
    client = console("supervisor")
    response = client.post(reverse(ADD), {"name": "Bad", "scopes_text": "everything"})
    assert response.status_code == 200
    assert response.context["form"].errors["scopes_text"]
    assert not ApiClient.objects.filter(name="Bad").exists()


def test_admin_apiclient_duplicate_name_is_a_form_error(console):
    api_client_create(name="Dup", scopes=["*"])
    client = console("supervisor")
    response = client.post(reverse(ADD), {"name": "Dup", "scopes_text": "*"})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]


def test_admin_apiclient_scopes_are_editable_and_audited(console):
    created, secret = api_client_create(name="Editable", scopes=["accounts:read"])
    client = console("supervisor")
    response = client.post(
        reverse("admin:backoffice_apiclient_change", args=[created.pk]),
        {"scopes_text": "accounts:read, holds:write", "ips_text": "10.1.0.0/16", "is_active": "on"},
    )
    assert response.status_code == 302
    created.refresh_from_db()
    assert created.scopes == ["accounts:read", "holds:write"]
    assert created.ip_allowlist == ["10.1.0.0/16"]
    assert created.secret == secret
    assert AuditLog.objects.filter(action="api_client.change", target_id=str(created.pk)).exists()


def test_admin_apiclient_auditor_sees_but_cannot_add_or_change(console):
    created, secret = api_client_create(name="Viewed", scopes=["*"])
    client = console("auditor")
    page = client.get(reverse("admin:backoffice_apiclient_change", args=[created.pk]))
    assert page.status_code == 200
    assert secret.encode() not in page.content
    assert client.get(reverse(ADD)).status_code == 403
    assert client.post(reverse(ADD), {"name": "Nope", "scopes_text": "*"}).status_code == 403
    assert not ApiClient.objects.filter(name="Nope").exists()


def test_admin_auditlog_is_view_only(console, make_account):
    make_account()
    client = console("auditor")
    row = AuditLog.objects.first()
    assert client.get(reverse("admin:backoffice_auditlog_change", args=[row.pk])).status_code == 200
    assert client.post(reverse("admin:backoffice_auditlog_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
