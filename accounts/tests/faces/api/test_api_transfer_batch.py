"""POST /api/v1/transfers/batch/: many transfers in one request, each with its own key, result and error;
one item's refusal never undoes another's (throughput issue)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.ledger.models import Account, Transfer
from accounts.tests.api_helpers import signed
from backoffice.models import AuditLog

URL = "/api/v1/transfers/batch/"


def _item(key, source, target, amount="1.00", **extra):
    return {"idempotency_key": key, "from_account": source.number, "to_account": target.number, "amount": amount, **extra}


@pytest.fixture
def three(make_account, fund):
    a, b, c = make_account(), make_account(), make_account()
    fund(a, "10.00")
    return a, b, c


def _balances(*accounts):
    return [Account.objects.get(pk=account.pk).balance for account in accounts]


def test_a_batch_posts_each_item_and_answers_each_result_in_order(client, three):
    a, b, c = three
    api = signed(client, "*")
    response = api.post(URL, {"items": [_item("k1", a, b, "3.00"), _item("k2", a, c, "2.50", memo="rent")]}, idempotency_key=None)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (2, 0)
    assert [(r["index"], r["idempotency_key"], r["status"]) for r in body["results"]] == [(0, "k1", 201), (1, "k2", 201)]
    assert body["results"][1]["transfer"]["amount"] == "2.50" and body["results"][1]["transfer"]["memo"] == "rent"
    assert body["results"][0]["error"] is None
    assert _balances(a, b, c) == [Decimal("4.50"), Decimal("3.00"), Decimal("2.50")]
    assert AuditLog.objects.filter(action="transfer.create").count() == 2


def test_one_items_refusal_never_undoes_another(client, three, make_account):
    a, b, c = three
    api = signed(client, "*")
    items = [
        _item("ok-1", a, b, "4.00"),
        _item("too-much", a, c, "999.00"),  # insufficient funds
        _item("bad-amount", a, c, 1.5),  # a JSON number
        {"idempotency_key": "missing", "from_account": "6230000000000000", "to_account": c.number, "amount": "1.00"},
        _item("ok-2", a, c, "6.00"),  # exactly what is left after ok-1
    ]
    body = api.post(URL, {"items": items}, idempotency_key=None).json()
    assert [r["status"] for r in body["results"]] == [201, 409, 400, 404, 201]
    assert [r["error"] and r["error"]["code"] for r in body["results"]] == [
        None,
        "insufficient_funds",
        "validation_error",
        "not_found",
        None,
    ]
    assert body["results"][1]["error"]["data"]["shortfall"]
    assert list(body["results"][2]["error"]["fields"]) == ["amount"]
    assert (body["succeeded"], body["failed"]) == (2, 3)
    assert _balances(a, b, c) == [Decimal("0.00"), Decimal("4.00"), Decimal("6.00")]
    assert Transfer.objects.filter(kind="transfer").count() == 2


def test_a_retried_batch_posts_nothing_twice(client, three):
    a, b, c = three
    api = signed(client, "*")
    items = [_item("r1", a, b, "1.00"), _item("r2", a, c, "2.00")]
    first = api.post(URL, {"items": items}, idempotency_key=None).json()
    again = api.post(URL, {"items": items}, idempotency_key=None).json()
    assert [r["transfer"]["id"] for r in again["results"]] == [r["transfer"]["id"] for r in first["results"]]
    assert _balances(a, b, c) == [Decimal("7.00"), Decimal("1.00"), Decimal("2.00")]
    # The same key with another item is a conflict for that item only.
    changed = api.post(URL, {"items": [_item("r1", a, b, "5.00"), _item("r3", a, b, "1.00")]}, idempotency_key=None).json()
    assert [r["status"] for r in changed["results"]] == [422, 201]
    assert changed["results"][0]["error"]["code"] == "idempotency_key_mismatch"


def test_an_item_key_is_the_same_key_as_a_single_transfers(client, three):
    a, b, _c = three
    api = signed(client, "*")
    single = api.post(
        "/api/v1/transfers/", {"from_account": a.number, "to_account": b.number, "amount": "1.00"}, idempotency_key="same"
    )
    assert single.status_code == 201
    body = api.post(URL, {"items": [_item("same", a, b, "1.00")]}, idempotency_key=None).json()
    assert body["results"][0]["transfer"]["id"] == single.json()["id"]
    assert _balances(a, b) == [Decimal("9.00"), Decimal("1.00")]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"items": []}, "items"),
        ({}, "items"),
        ({"items": "no"}, "items"),
        ({"items": [{"idempotency_key": "dup"}, {"idempotency_key": "dup"}]}, "items"),
    ],
)
def test_a_malformed_envelope_is_refused_whole(client, three, payload, field):
    api = signed(client, "*")
    response = api.post(URL, payload, idempotency_key=None)
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    assert field in response.json()["fields"]
    assert not Transfer.objects.filter(kind="transfer").exists()


def test_more_than_the_maximum_is_refused_whole(client, three, settings):
    a, b, _c = three
    settings.LEDGER_BATCH_MAX = 3
    api = signed(client, "*")
    response = api.post(URL, {"items": [_item(f"m{i}", a, b, "0.01") for i in range(4)]}, idempotency_key=None)
    assert response.status_code == 400 and "3" in response.json()["fields"]["items"][0]
    assert not Transfer.objects.filter(kind="transfer").exists()


def test_an_account_the_client_does_not_see_is_404_for_that_item(client, three, make_account):
    a, b, c = three
    api = signed(client, f"account:{a.number}", f"account:{b.number}", "transfers:write")
    body = api.post(URL, {"items": [_item("v1", a, b), _item("v2", a, c)]}, idempotency_key=None).json()
    assert [r["status"] for r in body["results"]] == [201, 404]


def test_the_batch_is_in_the_schema(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/transfers/batch"]["post"]
    assert operation["operationId"] == "transfer_batch"
    assert "200" in operation["responses"]
