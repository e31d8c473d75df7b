"""Request signing of the partner API: every refusal code, nonce handling, IP allow-list, scopes."""

from __future__ import annotations

import datetime as dt
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.tests.api_helpers import make_credentials, signed
from backoffice.models import ApiNonce, IdempotencyRecord
from backoffice.signing import sign_request, signed_headers
from backoffice.tasks import purge_nonces

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(make_account, fund):
    return fund(make_account(), "100.00")


def _url(account) -> str:
    return f"/api/v1/accounts/{account.number}/"


def test_sign_request_matches_the_documented_algorithm():
    import hashlib
    import hmac

    body = b'{"amount": "1.00"}'
    message = "POST\n/api/v1/transfers/\n1700000000\nabcdefghijklmnop\n" + hashlib.sha256(body).hexdigest()
    expected = hmac.new(b"s3cret", message.encode(), hashlib.sha256).hexdigest()
    assert (
        sign_request(
            secret="s3cret",
            method="post",
            path_with_query="/api/v1/transfers/",
            body=body,
            timestamp=1700000000,
            nonce="abcdefghijklmnop",
        )
        == expected
    )


def test_signed_request_is_answered(client, account):
    api = signed(client, "*")
    response = api.get(_url(account))
    assert response.status_code == 200
    assert response.json()["balance"] == "100.00"


def test_bad_signature_is_refused_and_does_not_burn_the_nonce(client, account):
    creds = make_credentials("*")
    headers = signed_headers(creds.client_id, creds.secret, "GET", _url(account), b"")
    forged = {**headers, "X-Signature": "0" * 64}
    response = client.get(_url(account), headers=forged)
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert not ApiNonce.objects.filter(nonce=headers["X-Nonce"]).exists()
    # the genuine request with the same nonce still goes through
    assert client.get(_url(account), headers=headers).status_code == 200


def test_signature_over_another_path_is_refused(client, account, make_account):
    creds = make_credentials("*")
    other = make_account()
    headers = signed_headers(creds.client_id, creds.secret, "GET", _url(other), b"")
    response = client.get(_url(account), headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"


def test_signature_with_the_wrong_secret_is_refused(client, account):
    creds = make_credentials("*")
    headers = signed_headers(creds.client_id, "not-the-secret", "GET", _url(account), b"")
    assert client.get(_url(account), headers=headers).json()["code"] == "bad_signature"


def test_tampered_body_is_refused(client, account, make_account):
    creds = make_credentials("*")
    body = b'{"from_account": "1", "to_account": "2", "amount": "1.00"}'
    headers = signed_headers(creds.client_id, creds.secret, "POST", "/api/v1/transfers/", body)
    response = client.post(
        "/api/v1/transfers/",
        data=body.replace(b"1.00", b"9.00"),
        content_type="application/json",
        headers={**headers, "Idempotency-Key": "k1"},
    )
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    assert not IdempotencyRecord.objects.exists()


# A future timestamp gets closer to the server clock while the request runs: +301 flaked when a
# second ticked over between signing and checking on a loaded machine, so it is +305.
@pytest.mark.parametrize("offset", [-301, 305, -10_000])
def test_stale_timestamp_is_refused(client, account, offset):
    creds = make_credentials("*")
    headers = signed_headers(creds.client_id, creds.secret, "GET", _url(account), b"", timestamp=int(time.time()) + offset)
    response = client.get(_url(account), headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "stale_timestamp"


def test_timestamp_within_the_skew_is_accepted(client, account):
    creds = make_credentials("*")
    headers = signed_headers(creds.client_id, creds.secret, "GET", _url(account), b"", timestamp=int(time.time()) - 250)
    assert client.get(_url(account), headers=headers).status_code == 200


def test_replayed_nonce_is_refused(client, account):
    creds = make_credentials("*")
    headers = signed_headers(creds.client_id, creds.secret, "GET", _url(account), b"")
    assert client.get(_url(account), headers=headers).status_code == 200
    response = client.get(_url(account), headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "replayed_nonce"


def test_same_nonce_from_another_client_is_accepted(client, account):
    first, second = make_credentials("*"), make_credentials("*")
    nonce = "shared-nonce-0123456789"
    for creds in (first, second):
        headers = signed_headers(creds.client_id, creds.secret, "GET", _url(account), b"", nonce=nonce)
        assert client.get(_url(account), headers=headers).status_code == 200


def test_nonce_older_than_the_ttl_may_be_used_again(client, account, settings):
    creds = make_credentials("*")
    nonce = "old-nonce-0123456789"
    ApiNonce.objects.create(
        client=creds.client, nonce=nonce, seen_at=timezone.now() - dt.timedelta(seconds=settings.API_NONCE_TTL + 60)
    )
    headers = signed_headers(creds.client_id, creds.secret, "GET", _url(account), b"", nonce=nonce)
    assert client.get(_url(account), headers=headers).status_code == 200
    assert client.get(_url(account), headers=headers).json()["code"] == "replayed_nonce"


@pytest.mark.parametrize("nonce", ["short", "x" * 65, "has space in it 1234", "ünïcode-nonce-1234567"])
def test_malformed_nonce_is_refused(client, account, nonce):
    creds = make_credentials("*")
    headers = signed_headers(creds.client_id, creds.secret, "GET", _url(account), b"", nonce=nonce)
    response = client.get(_url(account), headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "missing_signature_headers"


def test_unknown_client_is_refused(client, account):
    headers = signed_headers("cl_doesnotexist", "whatever", "GET", _url(account), b"")
    response = client.get(_url(account), headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unknown_client"
    assert response["WWW-Authenticate"] == "Signature"


def test_disabled_client_is_refused_as_unknown(client, account):
    creds = make_credentials("*")
    type(creds.client).objects.filter(pk=creds.client.pk).update(is_active=False)
    headers = signed_headers(creds.client_id, creds.secret, "GET", _url(account), b"")
    assert client.get(_url(account), headers=headers).json()["code"] == "unknown_client"


@pytest.mark.parametrize("missing", ["X-Client-Id", "X-Timestamp", "X-Nonce", "X-Signature"])
def test_missing_signing_header_is_refused(client, account, missing):
    creds = make_credentials("*")
    headers = signed_headers(creds.client_id, creds.secret, "GET", _url(account), b"")
    del headers[missing]
    response = client.get(_url(account), headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "missing_signature_headers"
    assert not ApiNonce.objects.exists()


def test_unsigned_request_is_refused(client, account):
    response = client.get(_url(account))
    assert response.status_code == 401
    assert response.json()["code"] == "missing_signature_headers"


def test_missing_scope_is_refused(client, account):
    api = signed(client, "transfers:write", f"account:{account.number}")
    response = api.get(_url(account))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_scope"


def test_missing_write_scope_is_refused_before_anything_is_written(client, account, make_account):
    other = make_account()
    api = signed(client, "accounts:read", f"account:{account.number}", f"account:{other.number}")
    response = api.post("/api/v1/transfers/", {"from_account": account.number, "to_account": other.number, "amount": "1.00"})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_scope"
    assert not IdempotencyRecord.objects.exists()


def test_ip_not_in_allow_list_is_refused(client, account):
    api = signed(client, "*", ip_allowlist=["10.1.0.0/16"])
    response = api.get(_url(account), REMOTE_ADDR="192.168.1.5")
    assert response.status_code == 403
    assert response.json()["code"] == "ip_not_allowed"


def test_ip_in_allow_list_is_accepted(client, account):
    api = signed(client, "*", ip_allowlist=["10.1.0.0/16", "192.168.9.9"])
    assert api.get(_url(account), REMOTE_ADDR="10.1.2.3").status_code == 200
    assert api.get(_url(account), REMOTE_ADDR="192.168.9.9").status_code == 200


def test_error_message_follows_accept_language(client, account, make_account):
    other = make_account()
    body = {"from_account": account.number, "to_account": other.number}
    english = signed(client, "*", language="en").post("/api/v1/transfers/", body)
    chinese = signed(client, "*", language="zh-hans").post("/api/v1/transfers/", body)
    assert english.status_code == chinese.status_code == 400
    assert english["Content-Language"] == "en"
    assert chinese["Content-Language"] == "zh-hans"
    assert english.json()["fields"]["amount"] == ["This field is required."]
    # DRF ships a zh_Hans catalogue, so the same refusal reads differently in Chinese.
    assert chinese.json()["fields"]["amount"] != english.json()["fields"]["amount"]


def test_purge_task_forgets_old_nonces_and_idempotency_records(settings):
    creds = make_credentials("*")
    now = timezone.now()
    old = now - dt.timedelta(seconds=settings.API_NONCE_TTL + 1)
    ApiNonce.objects.create(client=creds.client, nonce="old-nonce-aaaaaaaaaa", seen_at=old)
    ApiNonce.objects.create(client=creds.client, nonce="new-nonce-aaaaaaaaaa", seen_at=now)
    for key, age in (("old", settings.API_IDEMPOTENCY_TTL + 1), ("new", 60)):
        IdempotencyRecord.objects.create(
            client=creds.client,
            key=key,
            method="POST",
            path="/api/v1/transfers/",
            fingerprint="f",
            state=IdempotencyRecord.State.DONE,
            response_status=201,
            response_body={},
            created_at=now - dt.timedelta(seconds=age),
        )
    result = purge_nonces.delay().get()
    assert result == {"nonces": 1, "idempotency_records": 1}
    assert list(ApiNonce.objects.values_list("nonce", flat=True)) == ["new-nonce-aaaaaaaaaa"]
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_schema_and_docs_are_open_without_signing(client):
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/transfers" in paths  # published without the trailing slash; both forms are served
    operation = paths["/api/v1/transfers"]["post"]
    parameters = {p["name"] for p in operation["parameters"]}
    # The signing headers are the security scheme, not parameters a generated client would ask the caller for.
    assert "Idempotency-Key" in parameters
    assert not {"X-Client-Id", "X-Timestamp", "X-Nonce", "X-Signature"} & parameters
    assert operation["security"] == [{"signature": []}]
    assert client.get("/api/v1/docs/").status_code == 200


def test_openapi_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=StringIO())
    assert "/api/v1/holds/{hold_id}/capture:" in out.read_text()


def test_signing_refusal_is_translated_by_accept_language(client, account):
    english = client.get(_url(account), headers={"Accept-Language": "en"}).json()
    chinese = client.get(_url(account), headers={"Accept-Language": "zh-hans"}).json()
    assert english["code"] == chinese["code"] == "missing_signature_headers"
    assert english["message"].startswith("Signed requests need the headers")
    assert chinese["message"] != english["message"]
