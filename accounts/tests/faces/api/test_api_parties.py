"""POST /api/v1/parties/: persons and organisations, masking, validation, duplicates, visibility grant."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.parties.models import Party
from accounts.tests.api_helpers import signed
from backoffice.models import ApiClient, AuditLog
from conftest import random_credit_code

pytestmark = pytest.mark.django_db
URL = "/api/v1/parties/"
ID_ZHANG = "11010519491231002X"  # DOMAIN.md §2.3 test vector
MOBILE = "13812345678"


def _person(**overrides) -> dict:
    return {"type": "person", "name": "张三", "id_number": ID_ZHANG, "mobile": MOBILE, **overrides}


def _organisation(**overrides) -> dict:
    return {
        "type": "organisation",
        "name": "示例科技有限公司",
        "credit_code": random_credit_code(),
        "legal_representative": "李四",
        **overrides,
    }


def _scopes(api) -> list[str]:
    return ApiClient.objects.get(pk=api.credentials.client.pk).scopes


@pytest.fixture
def api(client):
    return signed(client, "parties:write", "accounts:write", "accounts:read")


def test_party_create_person_answers_201_masked(api):
    response = api.post(URL, _person(), idempotency_key=None)
    assert response.status_code == 201, response.json()
    body = response.json()
    party = Party.objects.get()
    assert body == {
        "id": str(party.pk),
        "type": "person",
        "name": "张三",
        "id_number": "110105********002X",
        "mobile": "138****5678",
        "kyc_state": "pending_review",
        "created_at": body["created_at"],
    }
    assert dt.datetime.fromisoformat(body["created_at"]).utcoffset() == dt.timedelta(hours=8)
    assert ID_ZHANG not in response.content.decode() and MOBILE not in response.content.decode()
    assert party.id_number == ID_ZHANG and party.mobile == MOBILE


def test_party_create_grants_the_client_the_party_scope_audited(api):
    party_id = api.post(URL, _person()).json()["id"]
    assert f"party:{party_id}" in _scopes(api)
    grant = AuditLog.objects.get(action="api_client.grant_scope")
    assert grant.target_id == str(api.credentials.client.pk)
    assert grant.data == {"scope": f"party:{party_id}", "reason": "party.create"}
    created = AuditLog.objects.get(action="party.create", target_id=str(party_id))
    assert created.actor_label == f"api:{api.credentials.client_id}"
    assert ID_ZHANG not in str(created.data)


def test_party_create_then_the_creator_opens_an_account_for_it(api):
    party_id = api.post(URL, _person()).json()["id"]
    response = api.post("/api/v1/accounts/", {"party": party_id, "tier": "II"})
    assert response.status_code == 201, response.json()
    assert api.get(f"/api/v1/accounts/{response.json()['number']}/").status_code == 200


def test_party_create_by_a_star_client_adds_no_scope(client):
    api = signed(client, "*")
    assert api.post(URL, _person()).status_code == 201
    assert _scopes(api) == ["*"]
    assert not AuditLog.objects.filter(action="api_client.grant_scope").exists()


def test_party_create_organisation_shows_credit_code_masked_and_no_id_number(api):
    data = _organisation()
    response = api.post(URL, data)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["type"] == "organisation"
    assert "id_number" not in body
    assert body["mobile"] is None
    assert body["credit_code"] != data["credit_code"] and "*" in body["credit_code"]
    assert data["credit_code"] not in response.content.decode()
    assert Party.objects.get().legal_representative == "李四"


def test_party_create_accepts_a_15_digit_id_number_and_normalises_it(api):
    legacy = "110105491231002"  # the 15-digit form of ID_ZHANG
    response = api.post(URL, _person(id_number=legacy))
    assert response.status_code == 201, response.json()
    assert Party.objects.get().id_number == ID_ZHANG


@pytest.mark.parametrize(
    "data, field",
    [
        (_person(id_number="110105194912310021"), "id_number"),  # wrong check character
        (_person(id_number=""), "id_number"),
        (_person(mobile="12345"), "mobile"),
        (_person(name=""), "name"),
        (_person(credit_code="91110105MA01ABCD2X"), "credit_code"),
        ({"type": "organisation", "name": "Org", "credit_code": "not-a-code", "legal_representative": "李四"}, "credit_code"),
        ({"type": "organisation", "name": "Org", "credit_code": "91110105MA01ABCD2X"}, "legal_representative"),
        ({"type": "robot", "name": "R2"}, "type"),
        ({"name": "张三"}, "type"),
    ],
)
def test_party_create_invalid_input_is_400_with_fields_and_writes_nothing(api, data, field):
    response = api.post(URL, data)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert field in body["fields"]
    assert Party.objects.count() == 0
    assert not any(s.startswith("party:") for s in _scopes(api))


def test_party_create_duplicate_of_a_visible_party_names_it(api):
    first = api.post(URL, _person()).json()["id"]
    response = api.post(URL, _person(name="张三", mobile="13900000000"))
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "duplicate_party"
    assert body["data"]["party"] == first
    assert Party.objects.count() == 1


def test_party_create_duplicate_of_an_invisible_party_does_not_leak_its_id(api, client):
    first = api.post(URL, _person()).json()["id"]
    other = signed(client, "parties:write")
    response = other.post(URL, _person())
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "duplicate_party"
    assert "data" not in body
    assert str(first) not in body["message"]
    assert f"party:{first}" not in _scopes(other)


def test_party_create_duplicate_credit_code_is_409(api):
    data = _organisation()
    api.post(URL, data)
    response = api.post(URL, {**data, "name": "另一个名字"})
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_party"


def test_party_create_needs_the_parties_write_scope(client):
    api = signed(client, "accounts:read", "accounts:write")
    response = api.post(URL, _person())
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_scope"
    assert Party.objects.count() == 0


def test_party_create_with_an_idempotency_key_replays_the_first_answer(api):
    first = api.post(URL, _person(), idempotency_key="party-1")
    again = api.post(URL, _person(), idempotency_key="party-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Party.objects.count() == 1
    other = api.post(URL, _person(mobile="13900000000"), idempotency_key="party-1")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_mismatch"


def test_party_create_message_follows_accept_language(client):
    english = signed(client, "parties:write").post(URL, _person(id_number="bad"))
    chinese = signed(client, "parties:write", language="zh-hans").post(URL, _person(id_number="bad"))
    assert english.json()["code"] == chinese.json()["code"] == "validation_error"
    assert english.json()["message"] != chinese.json()["message"]


def test_api_client_grant_scope_adds_once_and_refuses_unknown_scopes(api):
    from backoffice.services import api_client_grant_scope

    pk = api.credentials.client.pk
    assert api_client_grant_scope(client_pk=pk, scope="party:42") is True
    assert api_client_grant_scope(client_pk=pk, scope="party:42") is False
    assert _scopes(api).count("party:42") == 1
    assert AuditLog.objects.filter(action="api_client.grant_scope").count() == 1
    with pytest.raises(ValueError):
        api_client_grant_scope(client_pk=pk, scope="money:print")


def test_party_create_refused_writes_no_grant(api):
    api.post(URL, _person())
    api.post(URL, _person())  # duplicate
    assert AuditLog.objects.filter(action="api_client.grant_scope").count() == 1
    assert len([s for s in _scopes(api) if s.startswith("party:")]) == 1
