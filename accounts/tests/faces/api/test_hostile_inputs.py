"""Issue #9: no 500 on hostile input. Each row answered 500 (or accepted sloppy input) before; each now
answers a 4xx with the documented JSON error, writes no half record, and a refused callback leaves its
``security.callback_rejected`` audit row as a forged one does."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.ledger.models import Account, Transfer
from accounts.payments.models import ChannelCallback, PaymentAlert
from accounts.tests.api_helpers import signed
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from backoffice.models import AuditLog, IdempotencyRecord

pytestmark = pytest.mark.django_db

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


@pytest.fixture
def payer(make_account, fund):
    return fund(make_account(), "100.00")


@pytest.fixture
def payee(make_account):
    return make_account()


@pytest.fixture
def api(client, payer, payee):
    return signed(client, "accounts:read", "transfers:write", f"party:{payer.party_id}", f"account:{payee.number}")


@pytest.fixture
def channel_http():
    return Client(enforce_csrf_checks=True)


def _post_callback(http, code: str, body: bytes, **extra):
    return http.post(
        f"/api/v1/channels/{code}/callbacks/", data=body, content_type="application/json", REMOTE_ADDR="10.9.9.9", **extra
    )


def _assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body


def _assert_callback_rejected(response) -> None:
    _assert_json_error(response, 401, "invalid_signature")
    event = AuditLog.objects.get(action="security.callback_rejected")
    assert event.data["remote_addr"] == "10.9.9.9"
    assert PaymentAlert.objects.filter(kind=PaymentAlert.Kind.FORGED_CALLBACK).count() == 1
    assert not ChannelCallback.objects.exists()


def _transfer_body(payer, payee, amount="1.00") -> dict:
    return {"from_account": payer.number, "to_account": payee.number, "amount": amount}


def _balances(*accounts) -> list[str]:
    return [f"{Account.objects.get(pk=a.pk).balance:.2f}" for a in accounts]


# -- bodies: the strict JSON reader --------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_hostile_deep_json_body_on_callbacks_is_401_json_and_recorded(channel_http, channel, body):
    _assert_callback_rejected(_post_callback(channel_http, channel.code, body))


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_hostile_deep_json_body_on_transfers_is_400_json(api, payer, payee, body):
    response = api.post("/api/v1/transfers/", body)
    assert _assert_json_error(response, 400, "malformed_request")["data"] == {"reason": "too_deep"}
    assert not Transfer.objects.filter(kind="transfer").exists()
    assert _balances(payer, payee) == ["100.00", "0.00"]
    assert not IdempotencyRecord.objects.filter(state=IdempotencyRecord.State.IN_FLIGHT).exists()


def test_hostile_lone_surrogate_in_a_callback_field_is_401_json_and_recorded(channel_http, channel):
    body = b'{"request_id": "WD\\ud800", "channel_txn_id": "T1", "status": "success", "amount": "1.00", '
    body += b'"timestamp": 1, "signature": "x"}'
    _assert_callback_rejected(_post_callback(channel_http, channel.code, body))


def test_hostile_lone_surrogate_in_a_transfer_field_is_400_json(api, payer, payee):
    body = json.dumps({**_transfer_body(payer, payee), "memo": "\ud800"}).encode()  # json.dumps escapes it: \\ud800
    response = api.post("/api/v1/transfers/", body)
    assert _assert_json_error(response, 400, "malformed_request")["data"] == {"reason": "lone_surrogate"}
    assert _balances(payer, payee) == ["100.00", "0.00"]


def test_hostile_huge_exponent_amount_in_a_callback_is_401_json_and_recorded(channel_http, channel):
    body = b'{"request_id": "WD0000000001", "channel_txn_id": "T1", "status": "success", "amount": 1e999999999, '
    body += b'"timestamp": 1, "signature": "x"}'
    _assert_callback_rejected(_post_callback(channel_http, channel.code, body))


def test_hostile_huge_exponent_amount_in_a_transfer_is_400_json(api, payer, payee):
    body = b'{"from_account": "%s", "to_account": "%s", "amount": 1e999999999}' % (
        payer.number.encode(),
        payee.number.encode(),
    )
    response = api.post("/api/v1/transfers/", body)
    assert list(_assert_json_error(response, 400, "validation_error")["fields"]) == ["amount"]
    huge = api.post("/api/v1/transfers/", _transfer_body(payer, payee, amount="9" * 100_000 + ".00"))
    assert list(_assert_json_error(huge, 400, "validation_error")["fields"]) == ["amount"]


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_hostile_nan_in_a_transfer_is_400_json(api, payer, payee, constant):
    body = b'{"from_account": "%s", "to_account": "%s", "amount": "1.00", "memo": %s}' % (
        payer.number.encode(),
        payee.number.encode(),
        constant,
    )
    response = api.post("/api/v1/transfers/", body)
    assert _assert_json_error(response, 400, "malformed_request")["data"] == {"reason": "not_a_number"}


def test_hostile_duplicate_json_keys_in_a_transfer_are_400_json(api, payer, payee):
    # Which "amount" counts would depend on the parser: a reader of the signed body might see 1.00, we 99.00.
    body = b'{"from_account": "%s", "to_account": "%s", "amount": "1.00", "amount": "99.00"}' % (
        payer.number.encode(),
        payee.number.encode(),
    )
    response = api.post("/api/v1/transfers/", body)
    assert _assert_json_error(response, 400, "malformed_request")["data"] == {"reason": "duplicate_key"}
    assert _balances(payer, payee) == ["100.00", "0.00"]


def test_hostile_duplicate_json_keys_in_a_callback_are_401_json_and_recorded(channel_http, channel):
    body = b'{"request_id": "WD0000000001", "channel_txn_id": "T1", "status": "success", "status": "failure", '
    body += b'"amount": "1.00", "timestamp": 1, "signature": "x"}'
    _assert_callback_rejected(_post_callback(channel_http, channel.code, body))


def test_hostile_body_that_is_not_utf8_is_400_json(api, payer, payee):
    response = api.post("/api/v1/transfers/", b'{"memo": "\xff"}')
    assert _assert_json_error(response, 400, "malformed_request")["data"] == {"reason": "not_utf8"}


# -- money fields: exactly the documented shape ----------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [" 1.00 ", "1.00 ", " 1.00", "+1.00", "１.００", "1.00\n", "1e2", "1.", ".50", "1,000.00", "٣.00", "0x10"],
)
def test_hostile_sloppy_amount_text_in_a_transfer_is_400_validation_error(api, payer, payee, amount):
    response = api.post("/api/v1/transfers/", _transfer_body(payer, payee, amount=amount))
    body = _assert_json_error(response, 400, "validation_error")
    assert list(body["fields"]) == ["amount"]
    assert _balances(payer, payee) == ["100.00", "0.00"]


@pytest.mark.parametrize("amount", ["1", "1.5", "1.50", "0.01"])
def test_amounts_of_the_documented_shape_are_still_accepted(api, payer, payee, amount):
    response = api.post("/api/v1/transfers/", _transfer_body(payer, payee, amount=amount))
    assert response.status_code == 201, response.json()


# -- paths ------------------------------------------------------------------------------------------------


def test_hostile_nul_in_the_callback_path_is_404_json(channel_http, channel):
    response = _post_callback(channel_http, "sim%00", b"{}")
    _assert_json_error(response, 404, "not_found")


def test_hostile_nul_in_an_account_path_is_404_json(api):
    _assert_json_error(api.get("/api/v1/accounts/6230%00/"), 404, "not_found")


def test_hostile_non_numeric_id_is_a_json_404(api):
    response = api.get("/api/v1/cards/abc/")
    _assert_json_error(response, 404, "not_found")


def test_hostile_unknown_api_path_is_a_json_404_in_chinese_by_default(client):
    response = client.get("/api/v1/no-such-thing/")
    assert _assert_json_error(response, 404, "not_found")["message"] != "Not found."


def test_a_path_outside_the_api_keeps_the_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# -- date filters: 9999-12-31 has no next day --------------------------------------------------------------


@pytest.mark.parametrize("field", ["date_to", "date_from"])
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_hostile_date_to_9999_12_31_on_entries_is_400_json(api, payer, field, day):
    response = api.get(f"/api/v1/accounts/{payer.number}/entries/?{field}={day}")
    assert list(_assert_json_error(response, 400, "validation_error")["fields"]) == [field]


@pytest.mark.parametrize("path", ["/api/v1/withdrawals/", "/api/v1/recharges/"])
def test_hostile_date_to_9999_12_31_on_withdrawals_and_recharges_is_400_json(client, path):
    api = signed(client, "accounts:read")
    response = api.get(f"{path}?date_to=9999-12-31")
    assert list(_assert_json_error(response, 400, "validation_error")["fields"]) == ["date_to"]


def test_the_last_queryable_day_is_fine(api, payer):
    response = api.get(f"/api/v1/accounts/{payer.number}/entries/?date_from=0001-01-02&date_to=9999-12-30")
    assert response.status_code == 200, response.json()
    assert len(response.json()["results"]) == 1


# -- the schema documents what the lists and writes may answer ---------------------------------------------


def _schema(client) -> dict:
    return client.get("/api/v1/schema/?format=json").json()


def test_page_zero_is_a_documented_json_404(api, payer, client):
    response = api.get(f"/api/v1/accounts/{payer.number}/entries/?page=0")
    _assert_json_error(response, 404, "not_found")
    paths = _schema(client)["paths"]
    for path in ("/api/v1/accounts/{number}/entries", "/api/v1/withdrawals", "/api/v1/recharges"):
        assert "404" in paths[path]["get"]["responses"], path


def test_unsupported_media_type_is_a_documented_json_415(api, payer, payee, client):
    body = json.dumps(_transfer_body(payer, payee)).encode()
    headers = api.headers("POST", "/api/v1/transfers/", body)
    headers["Idempotency-Key"] = "k-415"
    response = client.post("/api/v1/transfers/", data=body, content_type="text/plain", headers=headers)
    _assert_json_error(response, 415, "unsupported_media_type")
    paths = _schema(client)["paths"]
    for path in ("/api/v1/transfers", "/api/v1/holds", "/api/v1/withdrawals", "/api/v1/recharges"):
        assert "415" in paths[path]["post"]["responses"], path
