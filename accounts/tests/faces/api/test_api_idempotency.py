"""Idempotency-Key on money-moving POSTs: replay, mismatch, missing, in flight, stale, concurrent."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts.ledger import postings as ledger
from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account, Transfer
from accounts.tests.api_helpers import body_bytes, signed
from backoffice.idempotency import body_fingerprint, idempotent
from backoffice.models import IdempotencyRecord
from backoffice.signing import signed_headers
from conftest import needs_postgres

URL = "/api/v1/transfers/"


@pytest.fixture
def payer(make_account, fund):
    return fund(make_account(), "100.00")


@pytest.fixture
def payee(make_account):
    return make_account()


@pytest.fixture
def api(client, payer, payee):
    return signed(client, "*")


def _body(payer, payee, amount="10.00") -> dict:
    return {"from_account": payer.number, "to_account": payee.number, "amount": amount}


def _vouchers(payer) -> int:
    return Transfer.objects.filter(kind="transfer", entries__account=payer).count()


def _in_flight(api, key: str, body: bytes, *, age_seconds: int = 0, path: str = URL) -> IdempotencyRecord:
    at = timezone.now() - dt.timedelta(seconds=age_seconds)
    record = IdempotencyRecord.objects.create(
        client=api.credentials.client, key=key, method="POST", path=path, fingerprint=body_fingerprint(body), created_at=at
    )
    IdempotencyRecord.objects.filter(pk=record.pk).update(updated_at=at)
    return record


@pytest.mark.django_db
def test_replay_returns_the_stored_answer_and_posts_once(api, payer, payee):
    first = api.post(URL, _body(payer, payee), idempotency_key="order-1")
    second = api.post(URL, _body(payer, payee), idempotency_key="order-1")
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert _vouchers(payer) == 1
    assert Account.objects.get(pk=payer.pk).balance == 90
    record = IdempotencyRecord.objects.get(key="order-1")
    assert record.state == "done" and record.response_status == 201


@pytest.mark.django_db
def test_replay_ignores_json_key_order_and_spacing(api, payer, payee):
    body = _body(payer, payee)
    api.post(URL, body, idempotency_key="order-2")
    reordered = b'{ "amount" : "10.00", "to_account": "%s", "from_account": "%s" }' % (
        payee.number.encode(),
        payer.number.encode(),
    )
    assert api.post(URL, reordered, idempotency_key="order-2")["Idempotent-Replayed"] == "true"
    assert _vouchers(payer) == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_422_mismatch(api, payer, payee):
    api.post(URL, _body(payer, payee), idempotency_key="order-3")
    response = api.post(URL, _body(payer, payee, amount="11.00"), idempotency_key="order-3")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_mismatch"
    assert _vouchers(payer) == 1
    assert Account.objects.get(pk=payer.pk).balance == 90


@pytest.mark.django_db
def test_same_key_on_another_path_is_422_mismatch(api, payer, payee):
    api.post(URL, _body(payer, payee), idempotency_key="order-4")
    response = api.post("/api/v1/holds/", {"account": payer.number, "amount": "10.00"}, idempotency_key="order-4")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_mismatch"
    assert Account.objects.get(pk=payer.pk).frozen == 0


@pytest.mark.django_db
def test_keys_are_scoped_per_client(client, payer, payee):
    for _ in range(2):
        response = signed(client, "*").post(URL, _body(payer, payee), idempotency_key="shared-key")
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response
    assert _vouchers(payer) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", [None, "", "x" * 256, "tab\tkey", "ключ"])
def test_money_moving_post_without_a_valid_key_is_400(api, payer, payee, key):
    response = api.post(URL, _body(payer, payee), idempotency_key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
    assert _vouchers(payer) == 0
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/holds/", "/api/v1/holds/1/release/", "/api/v1/holds/1/capture/"])
def test_every_money_moving_post_requires_a_key(api, path):
    response = api.post(path, {}, idempotency_key=None)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"


@pytest.mark.django_db
def test_key_of_255_printable_characters_is_accepted(api, payer, payee):
    assert api.post(URL, _body(payer, payee), idempotency_key="k" * 254 + "~").status_code == 201


@pytest.mark.django_db
def test_key_still_in_flight_is_409(api, payer, payee):
    body = _body(payer, payee)
    _in_flight(api, "busy", body_bytes(body))
    response = api.post(URL, body, idempotency_key="busy")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert _vouchers(payer) == 0
    assert IdempotencyRecord.objects.get(key="busy").state == "in_flight"


@pytest.mark.django_db
def test_key_in_flight_with_another_body_is_422(api, payer, payee):
    _in_flight(api, "busy-2", body_bytes(_body(payer, payee, amount="1.00")))
    assert api.post(URL, _body(payer, payee), idempotency_key="busy-2").status_code == 422


@pytest.mark.django_db
def test_stale_in_flight_key_is_taken_over(api, payer, payee, settings):
    body = _body(payer, payee)
    _in_flight(api, "crashed", body_bytes(body), age_seconds=settings.API_IDEMPOTENCY_STALE_AFTER + 5)
    response = api.post(URL, body, idempotency_key="crashed")
    assert response.status_code == 201
    assert _vouchers(payer) == 1
    assert IdempotencyRecord.objects.get(key="crashed").state == "done"


@pytest.mark.django_db
def test_stale_claim_after_the_ledger_posted_returns_the_first_voucher(api, payer, payee, settings):
    # The first request posted, then died before storing its answer.
    body = _body(payer, payee)
    first = ledger.post_transfer(
        client=f"api:{api.credentials.client_id}",
        idempotency_key="died",
        kind="transfer",
        legs=ledger.move(from_account_id=payer.pk, to_account_id=payee.pk, amount="10.00"),
    )
    _in_flight(api, "died", body_bytes(body), age_seconds=settings.API_IDEMPOTENCY_STALE_AFTER + 5)
    response = api.post(URL, body, idempotency_key="died")
    assert response.status_code == 201
    assert response.json()["id"] == str(first.pk)
    assert _vouchers(payer) == 1
    assert Account.objects.get(pk=payer.pk).balance == 90
    assert ledger_drift() == []


@pytest.mark.django_db
def test_a_refusal_is_stored_and_replayed_too(api, payer, payee, fund):
    body = _body(payer, payee, amount="150.00")
    assert api.post(URL, body, idempotency_key="short").status_code == 409
    fund(payer, "100.00")
    replay = api.post(URL, body, idempotency_key="short")
    assert replay.status_code == 409
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["code"] == "insufficient_funds"
    assert _vouchers(payer) == 0


@pytest.mark.django_db
def test_release_replayed_with_its_key_is_not_invalid_state(api, payer):
    hold = api.post("/api/v1/holds/", {"account": payer.number, "amount": "5.00"}).json()
    first = api.post(f"/api/v1/holds/{hold['id']}/release/", idempotency_key="rel-1")
    again = api.post(f"/api/v1/holds/{hold['id']}/release/", idempotency_key="rel-1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert Account.objects.get(pk=payer.pk).frozen == 0


class _BrokenApi(APIView):
    @idempotent
    def post(self, request):
        raise RuntimeError("the service blew up")


@pytest.mark.django_db
def test_unexpected_exception_gives_the_key_back(payer):
    from accounts.tests.api_helpers import make_credentials

    creds = make_credentials("*")
    body = b'{"x": "1"}'
    headers = signed_headers(creds.client_id, creds.secret, "POST", "/broken/", body)
    request = APIRequestFactory().post(
        "/broken/", data=body, content_type="application/json", headers={**headers, "Idempotency-Key": "boom"}
    )
    with pytest.raises(RuntimeError):
        _BrokenApi.as_view()(request)
    assert not IdempotencyRecord.objects.filter(key="boom").exists()


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_same_key_from_ten_threads_posts_exactly_one_voucher(payer, payee):
    from accounts.tests.api_helpers import make_credentials

    creds = make_credentials("*")
    body = body_bytes(_body(payer, payee))
    barrier = threading.Barrier(10)

    def send(_):
        try:
            headers = signed_headers(creds.client_id, creds.secret, "POST", URL, body)
            barrier.wait(timeout=10)
            response = Client().post(
                URL, data=body, content_type="application/json", headers={**headers, "Idempotency-Key": "race"}
            )
            return response.status_code, response.get("Idempotent-Replayed"), response.json()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(send, range(10)))

    fresh = [o for o in outcomes if o[0] == 201 and o[1] is None]
    replays = [o for o in outcomes if o[0] == 201 and o[1] == "true"]
    busy = [o for o in outcomes if o[0] == 409 and o[2]["code"] == "idempotency_key_in_use"]
    assert len(fresh) == 1, outcomes
    assert len(fresh) + len(replays) + len(busy) == 10, outcomes
    assert all(r[2] == fresh[0][2] for r in replays)
    assert Transfer.objects.filter(client=f"api:{creds.client_id}", idempotency_key="race").count() == 1
    assert Transfer.objects.filter(kind="transfer").count() == 1
    assert Account.objects.get(pk=payer.pk).balance == 90
    assert ledger_drift() == []
