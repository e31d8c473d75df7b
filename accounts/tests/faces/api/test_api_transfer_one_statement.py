"""Issue #14: ``POST /api/v1/transfers/`` in one statement (accounts.api.transfer_fast) answers exactly as the
general path does, and the per-process API client cache never lets a changed client through.

On PostgreSQL every scenario runs twice on accounts and a client built the same way: once with the one-statement
path on, once with it off (``settings.API_TRANSFER_ONE_STATEMENT = False``: the general path, the reference). The
answers must be identical: status, the headers a client reads and the body's bytes (account numbers, voucher ids
and times, which differ between the two runs by construction, replaced by placeholders).
"""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.api import transfer_fast
from accounts.api.serializers import TransferSerializer
from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account, Transfer
from accounts.states.services import account_change_state
from accounts.tests.api_helpers import body_bytes, signed
from backoffice import crypto
from backoffice.models import ApiClient, ApiNonce, AuditLog, IdempotencyRecord
from backoffice.services import api_client_revoke
from backoffice.signing import _CLIENTS, client_entry, signed_headers
from conftest import needs_postgres

pytestmark = pytest.mark.django_db
URL = "/api/v1/transfers/"
HEADERS = ("Content-Type", "Allow", "Idempotent-Replayed", "WWW-Authenticate", "Content-Language")


def _used_one_statement(queries) -> bool:
    return any("api_post_transfer" in q["sql"] for q in queries)


def _post_raw(api, body: bytes, *, key: str, **signing):
    """A POST with the signing headers built here (a chosen nonce, timestamp or signature)."""
    creds = api.credentials
    headers = signed_headers(creds.client_id, creds.secret, "POST", URL, body, **signing)
    headers.update({"Accept-Language": api.language, "Idempotency-Key": key})
    return api.http.post(URL, data=body, content_type="application/json", headers=headers)


# -- the scenarios: each returns the responses a partner saw ----------------------------------------------------


def _success(api, payer, payee, others):
    return [api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "40.50", "memo": "房租 rent"})]


def _replay(api, payer, payee, others):
    data = {"from_account": payer.number, "to_account": payee.number, "amount": "1.00"}
    return [api.post(URL, data, idempotency_key="k-1"), api.post(URL, data, idempotency_key="k-1")]


def _key_reused_with_another_body(api, payer, payee, others):
    first = {"from_account": payer.number, "to_account": payee.number, "amount": "1.00"}
    second = {**first, "amount": "2.00"}
    return [api.post(URL, first, idempotency_key="k-2"), api.post(URL, second, idempotency_key="k-2")]


def _replayed_nonce(api, payer, payee, others):
    body = body_bytes({"from_account": payer.number, "to_account": payee.number, "amount": "1.00"})
    nonce = "n" * 32
    return [_post_raw(api, body, key="k-3", nonce=nonce), _post_raw(api, body, key="k-4", nonce=nonce)]


def _stale_timestamp(api, payer, payee, others):
    body = body_bytes({"from_account": payer.number, "to_account": payee.number, "amount": "1.00"})
    return [_post_raw(api, body, key="k-5", timestamp=int(time.time()) - 3600)]


def _bad_signature(api, payer, payee, others):
    body = body_bytes({"from_account": payer.number, "to_account": payee.number, "amount": "1.00"})
    creds = api.credentials
    headers = signed_headers(creds.client_id, "not-the-secret", "POST", URL, body)
    headers.update({"Accept-Language": api.language, "Idempotency-Key": "k-6"})
    return [api.http.post(URL, data=body, content_type="application/json", headers=headers)]


def _unknown_account(api, payer, payee, others):
    return [api.post(URL, {"from_account": payer.number, "to_account": "6200000000000000", "amount": "1.00"})]


def _account_not_visible(api, payer, payee, others):
    return [api.post(URL, {"from_account": payer.number, "to_account": others.number, "amount": "1.00"})]


def _insufficient_funds(api, payer, payee, others):
    return [api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "100.01"})]


def _inactive_account(api, payer, payee, others):
    account_change_state(account_id=payer.pk, action="freeze")
    return [api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "1.00"})]


def _posting_rule_refusal(api, payer, payee, others):
    # Unreachable through visibility alone (internal accounts are 404): a customer account given an internal role.
    Account.objects.filter(pk=payee.pk).update(role=Role.SUSPENSE)
    return [api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "1.00"})]


def _validation_errors(api, payer, payee, others):
    base = {"from_account": payer.number, "to_account": payee.number}
    return [
        api.post(URL, {**base, "amount": "1.001"}),
        api.post(URL, {**base, "amount": 1}),
        api.post(URL, {**base, "amount": "1.00", "memo": "  padded  "}),  # stripped, as the serializer does
        api.post(URL, {**base, "to_account": payer.number, "amount": "1.00"}),
        api.post(URL, b'{"from_account": "1", "from_account": "2"}'),
        api.post(URL, {**base, "amount": "1.00"}, idempotency_key=None),
    ]


def _class_two_account(api, payer, payee, others):
    # Tier limits run in Python: the general path answers whatever the limits say.
    Account.objects.filter(pk=payee.pk).update(tier=Account.Tier.CLASS_II)
    return [api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "1.00"})]


SCENARIOS = {
    "success": (_success, True),
    "replay": (_replay, True),
    "key_reused_with_another_body": (_key_reused_with_another_body, True),
    "replayed_nonce": (_replayed_nonce, True),
    "stale_timestamp": (_stale_timestamp, False),
    "bad_signature": (_bad_signature, False),
    "unknown_account": (_unknown_account, True),
    "account_not_visible": (_account_not_visible, True),
    "insufficient_funds": (_insufficient_funds, True),
    "inactive_account": (_inactive_account, True),
    "posting_rule_refusal": (_posting_rule_refusal, True),
    "validation_errors": (_validation_errors, False),
    "class_two_account": (_class_two_account, True),
}


def _normal(response, names: dict[str, str]) -> tuple:
    text = response.content.decode()
    for number, name in names.items():
        text = text.replace(number, name)
    text = re.sub(r'"id":"?\d+"?', '"id":ID', text)
    text = re.sub(r'"created_at":"[^"]+"', '"created_at":T', text)
    return response.status_code, {h: response.get(h) for h in HEADERS}, text


def _run(name, one_statement, *, settings, client, make_account, fund):
    scenario, _tries = SCENARIOS[name]
    settings.API_TRANSFER_ONE_STATEMENT = one_statement
    payer, payee, others = fund(make_account(), "100.00"), make_account(), make_account()
    api = signed(client, "accounts:read", "transfers:write", f"party:{payer.party_id}", f"account:{payee.number}")
    client_entry(api.credentials.client_id)  # cached, as after the worker's first request
    with CaptureQueriesContext(connection) as ctx:
        responses = scenario(api, payer, payee, others)
    names = {payer.number: "<PAYER>", payee.number: "<PAYEE>", others.number: "<OTHER>"}
    balances = [f"{Account.objects.get(pk=a.pk).balance:.2f}" for a in (payer, payee, others)]
    records = sorted(  # the keys the scenarios chose, the statuses of all (the others are random)
        (key if key.startswith("k-") else "", status)
        for key, status in IdempotencyRecord.objects.filter(client=api.credentials.client).values_list("key", "response_status")
    )
    nonces = ApiNonce.objects.filter(client=api.credentials.client).count()
    audits = AuditLog.objects.filter(action="transfer.create", actor_label=f"api:{api.credentials.client_id}").count()
    outcome = ([_normal(r, names) for r in responses], balances, records, nonces, audits)
    return outcome, _used_one_statement(ctx.captured_queries)


@needs_postgres
@pytest.mark.postgres
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_one_statement_answers_exactly_as_the_general_path(name, settings, client, make_account, fund):
    general, used = _run(name, False, settings=settings, client=client, make_account=make_account, fund=fund)
    assert not used
    fast, used = _run(name, True, settings=settings, client=client, make_account=make_account, fund=fund)
    assert used == SCENARIOS[name][1]
    assert fast == general
    assert ledger_drift() == []


@needs_postgres
@pytest.mark.postgres
def test_one_statement_success_is_one_round_trip_and_writes_what_the_general_path_writes(client, make_account, fund):
    payer, payee = fund(make_account(), "100.00"), make_account()
    api = signed(client, "transfers:write", f"party:{payer.party_id}", f"account:{payee.number}")
    client_entry(api.credentials.client_id)
    data = {"from_account": payer.number, "to_account": payee.number, "amount": "40.50", "memo": "rent"}
    with CaptureQueriesContext(connection) as ctx:
        response = api.post(URL, data, idempotency_key="key-1")
    assert response.status_code == 201
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1 and "api_post_transfer" in statements[0]
    body = json.loads(response.content)
    transfer = Transfer.objects.get(pk=body["id"])
    # The answer is the serializer's, rendered as DRF renders it.
    expected = TransferSerializer(
        {
            "id": transfer.pk,
            "kind": "transfer",
            "amount": Decimal("40.50"),
            "from_account": payer.number,
            "to_account": payee.number,
            "memo": "rent",
            "created_at": transfer.created_at,
        }
    ).data
    assert body == expected
    assert list(body) == list(expected)
    # The voucher's fingerprint is the ledger's own: the same request through post_transfer is a replay, not a conflict.
    again = ledger.post_transfer(
        client=f"api:{api.credentials.client_id}",
        idempotency_key="key-1",
        kind="transfer",
        legs=[ledger.Leg(payer.pk, DEBIT, Decimal("40.50")), ledger.Leg(payee.pk, CREDIT, Decimal("40.50"))],
        memo="rent",
    )
    assert again.pk == transfer.pk
    record = IdempotencyRecord.objects.get(client=api.credentials.client, key="key-1")
    assert (record.state, record.response_status, record.response_body.encode()) == ("done", 201, response.content)
    audit = AuditLog.objects.get(action="transfer.create", target_id=str(transfer.pk))
    assert audit.actor_label == f"api:{api.credentials.client_id}"
    assert audit.data == {"idempotency_key": "key-1", "amount": "40.50", "from_account": payer.number, "to_account": payee.number}
    assert ledger_drift() == []


@pytest.mark.parametrize("memo", ["", "rent", '房租 "quoted" \\ slash', "\u2028line"])
@pytest.mark.parametrize("ids", [(3, 12), (12, 3)])
def test_ledger_fingerprint_parts_rebuild_the_ledgers_fingerprint(memo, ids):
    import hashlib

    source, target = ids
    amount = Decimal("12.30")
    head, amount_json, tail = transfer_fast.ledger_fingerprint_parts(amount=amount, memo=memo)
    low, high = sorted(ids)
    low_side, high_side = ('"D"', '"C"') if source < target else ('"C"', '"D"')
    text = f"{head}{low},{low_side},{amount_json}],[{high},{high_side},{amount_json}]]{tail}"
    legs = ledger._legs_fingerprint(ledger.move(from_account_id=source, to_account_id=target, amount=amount))
    assert hashlib.sha256(text.encode()).hexdigest() == ledger._fingerprint(op="transfer", kind="transfer", legs=legs, memo=memo)


# -- the client cache (every database) --------------------------------------------------------------------------


@pytest.fixture
def account(make_account, fund):
    return fund(make_account(), "100.00")


def _get(api, account, **headers):
    return api.get(f"/api/v1/accounts/{account.number}/", headers=headers or None)


def test_client_is_cached_after_its_first_request_and_costs_no_lookup(client, account, django_assert_max_num_queries):
    api = signed(client, "*")
    assert _get(api, account).status_code == 200
    assert api.credentials.client_id in _CLIENTS
    with CaptureQueriesContext(connection) as ctx:
        assert _get(api, account).status_code == 200
    assert not any('FROM "backoffice_apiclient"' in q["sql"] and "INSERT" not in q["sql"] for q in ctx.captured_queries)


def test_revoked_client_is_refused_at_once(client, account):
    api = signed(client, "*")
    assert _get(api, account).status_code == 200
    api_client_revoke(client_pk=api.credentials.client.pk)
    response = _get(api, account)
    assert (response.status_code, response.json()["code"]) == (401, "unknown_client")


def test_client_revoked_by_another_process_is_refused_on_its_next_request(client, account):
    # Another process's change: no signal here, the cached entry stays; the nonce's statement sees the row changed.
    api = signed(client, "*")
    assert _get(api, account).status_code == 200
    ApiClient.objects.filter(pk=api.credentials.client.pk).update(is_active=False)
    assert api.credentials.client_id in _CLIENTS
    response = _get(api, account)
    assert (response.status_code, response.json()["code"]) == (401, "unknown_client")
    assert ApiNonce.objects.filter(client=api.credentials.client).count() == 1


def test_secret_rotated_by_another_process_stops_the_old_and_starts_the_new_at_once(client, account):
    api = signed(client, "*")
    assert _get(api, account).status_code == 200
    ApiClient.objects.filter(pk=api.credentials.client.pk).update(secret_encrypted=crypto.encrypt("the-new-secret-0123456789"))
    old = _get(api, account)
    assert (old.status_code, old.json()["code"]) == (401, "bad_signature")
    api.credentials.secret = "the-new-secret-0123456789"
    assert _get(api, account).status_code == 200


def test_scope_withdrawn_by_another_process_is_refused_on_the_next_request(client, account):
    api = signed(client, "*")
    assert _get(api, account).status_code == 200
    ApiClient.objects.filter(pk=api.credentials.client.pk).update(scopes=["transfers:write"])
    response = _get(api, account)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_scope")


def test_ip_allow_list_set_by_another_process_applies_on_the_next_request(client, account):
    api = signed(client, "*")
    assert _get(api, account).status_code == 200
    ApiClient.objects.filter(pk=api.credentials.client.pk).update(ip_allowlist=["10.9.9.9"])
    response = _get(api, account)
    assert (response.status_code, response.json()["code"]) == (403, "ip_not_allowed")


@needs_postgres
@pytest.mark.postgres
def test_one_statement_refuses_a_client_revoked_by_another_process_and_writes_nothing(client, make_account, fund):
    payer, payee = fund(make_account(), "100.00"), make_account()
    api = signed(client, "transfers:write", f"party:{payer.party_id}", f"account:{payee.number}")
    client_entry(api.credentials.client_id)
    ApiClient.objects.filter(pk=api.credentials.client.pk).update(is_active=False)
    response = api.post(URL, {"from_account": payer.number, "to_account": payee.number, "amount": "1.00"})
    assert (response.status_code, response.json()["code"]) == (401, "unknown_client")
    assert Account.objects.get(pk=payee.pk).balance == 0
    assert not ApiNonce.objects.filter(client=api.credentials.client).exists()
    assert api.credentials.client_id not in _CLIENTS


# -- the /api/ middleware lane ----------------------------------------------------------------------------------


def test_api_answers_keep_every_security_header_and_set_no_cookie(client, account):
    api = signed(client, "*")
    for response in (_get(api, account), client.get(f"/api/v1/accounts/{account.number}/")):
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response["Referrer-Policy"] == "same-origin"
        assert "camera=()" in response["Permissions-Policy"]
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert not response.cookies
        assert "Cookie" not in response.get("Vary", "")


def test_api_lane_skips_the_browser_middleware(client, account, monkeypatch):
    from django.contrib.sessions.middleware import SessionMiddleware

    seen = []
    original = SessionMiddleware.process_request
    monkeypatch.setattr(
        SessionMiddleware, "process_request", lambda self, request: seen.append(request.path) or original(self, request)
    )
    api = signed(client, "*")
    assert _get(api, account).status_code == 200
    client.get("/healthz")
    assert seen == ["/healthz"]
