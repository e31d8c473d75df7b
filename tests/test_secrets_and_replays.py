"""API client secrets encrypted at rest (signing decrypts them), ``manage.py rotate_secrets``, and
idempotent replays that return the very bytes of the first answer (PostgreSQL's jsonb would not)."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from accounts.payments.models import Channel
from accounts.payments.services import channel_register
from accounts.tests.api_helpers import make_credentials, signed
from backoffice import crypto
from backoffice.models import ApiClient, IdempotencyRecord
from conftest import needs_postgres

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


def _stored_secret(client: ApiClient) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM backoffice_apiclient WHERE id = %s", [client.pk])
        return cursor.fetchone()[0]


def test_api_client_secret_is_encrypted_at_rest_and_signing_still_works(client, make_account):
    creds = make_credentials("accounts:read")
    stored = _stored_secret(creds.client)
    assert creds.secret not in stored and stored.startswith("gAAAA")  # a Fernet token
    assert crypto.decrypt(stored) == creds.secret
    assert ApiClient.objects.get(pk=creds.client.pk).secret == creds.secret
    account = make_account()
    api = signed(client, "*")
    assert api.get(f"/api/v1/accounts/{account.number}/").status_code == 200


def test_rotate_secrets_re_encrypts_under_the_first_key(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PII_ENCRYPTION_KEYS = [old_key]
    creds = make_credentials("*")
    channel = channel_register(
        code="rot", name="Rotation", withdrawal_strategy=Channel.Strategy.FREEZE, callback_secret="channel-callback-secret"
    )
    before = _stored_secret(creds.client), Channel.objects.get(pk=channel.pk).callback_secret_encrypted

    settings.PII_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "backoffice.ApiClient.secret_encrypted: 1" in out.getvalue()
    assert "accounts.Channel.callback_secret_encrypted:" in out.getvalue()
    after = _stored_secret(creds.client), Channel.objects.get(pk=channel.pk).callback_secret_encrypted
    assert after[0] != before[0] and after[1] != before[1]

    settings.PII_ENCRYPTION_KEYS = [new_key]  # the old key can now be retired
    assert ApiClient.objects.get(pk=creds.client.pk).secret == creds.secret
    assert Channel.objects.get(pk=channel.pk).callback_secret == "channel-callback-secret"


def test_rotate_secrets_dry_run_writes_nothing(settings):
    creds = make_credentials("*")
    before = _stored_secret(creds.client)
    settings.PII_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *crypto._keys()]
    call_command("rotate_secrets", "--dry-run", stdout=io.StringIO())
    assert _stored_secret(creds.client) == before


def _transfer_twice(client, make_account, fund, **headers):
    payer, payee = fund(make_account(), "100.00"), make_account()
    api = signed(client, "*")
    body = {"to_account": payee.number, "amount": "10.00", "from_account": payer.number, "memo": "转账 z-a order"}
    key = f"replay-{uuid.uuid4().hex}"
    first = api.post("/api/v1/transfers/", body, idempotency_key=key, headers=headers)
    again = api.post("/api/v1/transfers/", body, idempotency_key=key, headers=headers)
    return first, again


def _assert_byte_identical(first, again):
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert IdempotencyRecord.objects.get().response_body.encode() == first.content


def test_a_replay_is_byte_identical(client, make_account, fund):
    _assert_byte_identical(*_transfer_twice(client, make_account, fund))


def test_a_replay_keeps_the_first_answers_rendering(client, make_account, fund):
    first, again = _transfer_twice(client, make_account, fund, Accept="application/json; indent=4")
    _assert_byte_identical(first, again)
    assert b"\n    " in first.content


@needs_postgres
@pytest.mark.postgres
def test_a_replay_is_byte_identical_on_postgresql(client, make_account, fund):
    first, again = _transfer_twice(client, make_account, fund)
    _assert_byte_identical(first, again)
    keys = list(json.loads(first.content))
    assert keys != sorted(keys, key=lambda k: (len(k), k))  # an order jsonb would have rewritten
