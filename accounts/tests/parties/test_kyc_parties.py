"""Parties: creation with validated identity data, duplicates, encryption at rest, search by hash,
masked display, audited reveal, the KYC review state machine and face-to-face verification."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import translation

from accounts.ledger.errors import InvalidStateError, NotFoundError
from accounts.parties.errors import DuplicatePartyError, PersonalDataForbiddenError
from accounts.parties.models import Party
from accounts.parties.selectors import parties_awaiting_kyc, party_find_by_credit_code, party_find_by_id_number
from accounts.parties.services import (
    party_create,
    party_face_to_face_verify,
    party_kyc_approve,
    party_kyc_reject,
    party_kyc_resubmit,
    party_reveal_personal_data,
)
from backoffice.errors import FieldValidationError, error_body
from backoffice.models import AuditLog

ID = "11010519491231002X"
MOBILE = "13800000000"
CODE = "91350100M000100Y43"

pytestmark = pytest.mark.django_db


def person(**overrides):
    data = {"type": "person", "name": "张三", "id_number": ID, "mobile": MOBILE} | overrides
    return party_create(**data)


def organisation(**overrides):
    data = {"type": "organisation", "name": "甲公司", "credit_code": CODE, "legal_representative": "赵六"} | overrides
    return party_create(**data)


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user(username="ops", password="ops-test-pass-2026", is_staff=True)


@pytest.fixture
def privileged(django_user_model):
    user = django_user_model.objects.create_user(username="privileged", password="priv-test-pass-2026", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_personal_data", content_type__app_label="accounts"))
    return django_user_model.objects.get(pk=user.pk)  # fresh permission cache


# -- creation ------------------------------------------------------------------------------


def test_person_is_created_normalised_encrypted_and_pending_review():
    party = person(id_number="130503670401001", mobile="+86 139-0000-0001")
    party = Party.objects.get(pk=party.pk)
    assert party.type == Party.Type.PERSON and party.kyc_state == Party.KycState.PENDING_REVIEW
    assert party.id_number == "130503196704010016"  # R-VER-02: stored as 18 characters
    assert party.mobile == "13900000001"
    assert not party.face_to_face_verified


def test_organisation_is_created_with_credit_code_and_legal_representative():
    party = organisation(credit_code=CODE.lower())
    assert party.credit_code == CODE and party.legal_representative == "赵六"
    assert party.id_number == "" and party.id_number_hash == ""


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"id_number": "340524198001010013"}, "id_number"),  # wrong check character
        ({"id_number": "11010519900230001X"}, "id_number"),  # Feb 30
        ({"id_number": None}, "id_number"),  # a person needs one
        ({"mobile": "12345"}, "mobile"),
        ({"name": "  "}, "name"),
        ({"name": "名" * 201}, "name"),
        ({"credit_code": CODE}, "credit_code"),  # a person has none
        ({"type": "robot"}, "type"),
    ],
)
def test_bad_person_input_raises_field_errors_and_writes_nothing(data, field):
    with pytest.raises(FieldValidationError) as caught:
        person(**data)
    assert field in caught.value.fields and caught.value.fields[field]
    assert not Party.objects.exists() and not AuditLog.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"credit_code": "91350100M000100Y44"}, "credit_code"),
        ({"credit_code": ""}, "credit_code"),
        ({"legal_representative": ""}, "legal_representative"),
        ({"id_number": ID}, "id_number"),  # an organisation has none
    ],
)
def test_bad_organisation_input_raises_field_errors_and_writes_nothing(data, field):
    with pytest.raises(FieldValidationError) as caught:
        organisation(**data)
    assert field in caught.value.fields
    assert not Party.objects.exists() and not AuditLog.objects.exists()


def test_every_bad_field_is_reported_at_once_and_the_body_matches_the_api_shape():
    with pytest.raises(FieldValidationError) as caught:
        person(name="", id_number="123", mobile="1")
    assert set(caught.value.fields) == {"name", "id_number", "mobile"}
    body = error_body(caught.value.code, caught.value.text, fields=caught.value.fields)
    assert body["code"] == "validation_error" and all(isinstance(m, str) for m in body["fields"]["id_number"])


def test_field_messages_follow_the_active_language():
    # The messages are lazy: they are read in the language active when they are shown.
    with pytest.raises(FieldValidationError) as caught:
        person(id_number="340524198001010013")
    with translation.override("en"):
        assert "check character" in str(caught.value.fields["id_number"][0])
    with translation.override("zh-hans"):
        assert "校验位" in str(caught.value.fields["id_number"][0])


def test_duplicate_id_number_is_refused_naming_the_existing_party():
    first = person()
    with pytest.raises(DuplicatePartyError) as caught:
        person(name="张三 again", id_number=ID.lower())  # same number after normalisation, same keyed hash
    assert caught.value.code == "duplicate_party" and caught.value.http_status == 409
    assert caught.value.data == {"party": str(first.pk), "field": "id_number"}
    assert Party.objects.count() == 1


def test_duplicate_of_a_fifteen_digit_number_is_found_after_conversion():
    person(id_number="130503196704010016")
    with pytest.raises(DuplicatePartyError):
        person(name="王五", id_number="130503670401001")


def test_duplicate_credit_code_is_refused_naming_the_existing_party():
    first = organisation()
    with pytest.raises(DuplicatePartyError) as caught:
        organisation(name="甲公司分号", credit_code=CODE.lower())
    assert caught.value.data == {"party": str(first.pk), "field": "credit_code"}
    assert Party.objects.count() == 1


def test_same_mobile_for_two_people_is_allowed():
    person()
    person(name="李四", id_number="34052419800101001X")
    assert Party.objects.filter(mobile_hash=Party.objects.first().mobile_hash).count() == 2


def test_creation_audit_row_holds_masked_values_only(operator):
    party = person(actor=operator)
    row = AuditLog.objects.get(action="party.create", target_id=str(party.pk))
    assert row.actor == operator
    assert row.data["id_number"] == "110105********002X" and row.data["mobile"] == "138****0000"
    text = json.dumps(row.data, ensure_ascii=False)
    assert ID not in text and MOBILE not in text


# -- encryption at rest, search by hash, masked display ----------------------------------------


def test_encryption_at_rest_raw_row_has_no_plaintext_id_or_mobile():
    party = person()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_party WHERE id = %s", [party.pk])
        row = cursor.fetchone()
    raw = " ".join(str(value) for value in row)
    for secret in (ID, ID[:17], ID[6:], MOBILE, MOBILE[3:]):
        assert secret not in raw
    assert party.id_number_hash in raw  # the keyed hash is what the row holds for search


def test_party_find_by_id_number_uses_the_keyed_hash(django_assert_max_num_queries):
    party = person()
    other = person(name="李四", id_number="34052419800101001X")
    with django_assert_max_num_queries(1):
        found = party_find_by_id_number("11010519491231002x")
    assert found == party
    assert party_find_by_id_number("34052419800101001X") == other
    assert party_find_by_id_number("130503196704010016") is None
    assert party_find_by_id_number("not a number") is None


def test_party_find_by_id_number_never_decrypts(monkeypatch):
    party = person()

    def refuse(_ciphertext):
        raise AssertionError("search must not decrypt")

    monkeypatch.setattr("backoffice.crypto.decrypt", refuse)
    assert party_find_by_id_number(ID).pk == party.pk


def test_party_find_by_credit_code():
    party = organisation()
    assert party_find_by_credit_code(CODE.lower()) == party
    assert party_find_by_credit_code("bad") is None


def test_masked_properties_and_str_repr_never_show_plaintext():
    party = person()
    assert party.id_number_masked == "110105********002X" and party.mobile_masked == "138****0000"
    for text in (str(party), repr(party)):
        assert ID not in text and MOBILE not in text and "002X" not in text
    org = organisation()
    assert org.credit_code_masked == "913501********0Y43"


# -- reveal ---------------------------------------------------------------------------------


def test_reveal_needs_the_permission_and_a_refusal_is_audited(operator):
    party = person()
    with pytest.raises(PersonalDataForbiddenError) as caught:
        party_reveal_personal_data(party_id=party.pk, actor=operator)
    assert caught.value.http_status == 403 and caught.value.code == "forbidden"
    denied = AuditLog.objects.get(action="party.reveal_personal_data_denied")
    assert denied.actor == operator and denied.target_id == str(party.pk)
    assert not AuditLog.objects.filter(action="party.reveal_personal_data").exists()


def test_reveal_without_an_actor_is_refused():
    party = person()
    with pytest.raises(PersonalDataForbiddenError):
        party_reveal_personal_data(party_id=party.pk, actor=None)


def test_reveal_with_the_permission_returns_plaintext_and_audits_every_view(privileged):
    party = person()
    revealed = party_reveal_personal_data(party_id=party.pk, actor=privileged, reason="customer call")
    assert revealed["id_number"] == ID and revealed["mobile"] == MOBILE
    party_reveal_personal_data(party_id=party.pk, actor=privileged)
    rows = AuditLog.objects.filter(action="party.reveal_personal_data", target_id=str(party.pk))
    assert rows.count() == 2
    first = rows.order_by("pk").first()
    assert first.actor == privileged and first.data == {"fields": ["id_number", "mobile"], "reason": "customer call"}
    assert ID not in json.dumps([r.data for r in rows]) and MOBILE not in json.dumps([r.data for r in rows])


def test_reveal_of_an_unknown_party_is_not_found(privileged):
    with pytest.raises(NotFoundError):
        party_reveal_personal_data(party_id=999999, actor=privileged)


def test_inactive_user_cannot_reveal_even_with_the_permission(privileged):
    privileged.is_active = False
    privileged.save()
    with pytest.raises(PersonalDataForbiddenError):
        party_reveal_personal_data(party_id=person().pk, actor=privileged)


# -- KYC review -------------------------------------------------------------------------------


def test_kyc_approve_from_pending_review(operator):
    party = person()
    assert list(parties_awaiting_kyc()) == [party]
    party = party_kyc_approve(party_id=party.pk, actor=operator, note="documents checked")
    party = Party.objects.get(pk=party.pk)
    assert party.kyc_state == Party.KycState.APPROVED
    assert party.kyc_reviewed_by == operator and party.kyc_reviewed_at is not None
    assert list(parties_awaiting_kyc()) == []
    row = AuditLog.objects.get(action="party.kyc_approve")
    assert row.data == {"from": "pending_review", "to": "approved", "note": "documents checked"}


def test_kyc_reject_needs_a_reason_then_resubmission_returns_to_the_queue(operator):
    party = person()
    with pytest.raises(FieldValidationError):
        party_kyc_reject(party_id=party.pk, reason=" ", actor=operator)
    party_kyc_reject(party_id=party.pk, reason="photo unreadable", actor=operator)
    rejected = Party.objects.get(pk=party.pk)
    assert rejected.kyc_state == Party.KycState.REJECTED and rejected.kyc_rejection_reason == "photo unreadable"
    assert list(parties_awaiting_kyc()) == []
    party_kyc_resubmit(party_id=party.pk, mobile="13900000009", actor_label="api:partner")
    again = Party.objects.get(pk=party.pk)
    assert again.kyc_state == Party.KycState.PENDING_REVIEW and again.mobile == "13900000009"
    assert list(parties_awaiting_kyc()) == [again]
    row = AuditLog.objects.get(action="party.kyc_resubmit")
    assert row.data["changed"] == ["mobile"] and row.data["mobile"] == "139****0009"
    party_kyc_approve(party_id=party.pk, actor=operator)
    assert Party.objects.get(pk=party.pk).kyc_rejection_reason == ""


def test_kyc_resubmission_with_a_bad_or_duplicate_id_number_changes_nothing():
    person(name="李四", id_number="34052419800101001X")
    party = person()
    party_kyc_reject(party_id=party.pk, reason="wrong number", actor_label="test")
    with pytest.raises(FieldValidationError):
        party_kyc_resubmit(party_id=party.pk, id_number="340524198001010013")
    with pytest.raises(DuplicatePartyError):
        party_kyc_resubmit(party_id=party.pk, id_number="34052419800101001x")
    unchanged = Party.objects.get(pk=party.pk)
    assert unchanged.kyc_state == Party.KycState.REJECTED and unchanged.id_number == ID
    party_kyc_resubmit(party_id=party.pk, id_number="130503670401001")
    assert party_find_by_id_number("130503196704010016").pk == party.pk
    assert party_find_by_id_number(ID) is None


@pytest.mark.parametrize(
    ("setup", "service", "kwargs"),
    [
        ("approved", party_kyc_approve, {}),
        ("approved", party_kyc_reject, {"reason": "late"}),
        ("rejected", party_kyc_approve, {}),
        ("rejected", party_kyc_reject, {"reason": "again"}),
        ("pending_review", party_kyc_resubmit, {}),
        ("approved", party_kyc_resubmit, {}),
    ],
)
def test_kyc_transitions_refused_raise_invalid_state_never_transition_not_allowed(setup, service, kwargs):
    party = person()
    if setup == "approved":
        party_kyc_approve(party_id=party.pk, actor_label="test")
    elif setup == "rejected":
        party_kyc_reject(party_id=party.pk, reason="x", actor_label="test")
    audits = AuditLog.objects.count()
    with pytest.raises(InvalidStateError) as caught:
        service(party_id=party.pk, **kwargs)
    assert caught.value.code == "invalid_state" and caught.value.data["state"] == setup
    assert Party.objects.get(pk=party.pk).kyc_state == setup and AuditLog.objects.count() == audits


def test_kyc_state_is_protected_from_direct_assignment():
    party = person()
    with pytest.raises(AttributeError):
        party.kyc_state = Party.KycState.APPROVED


def test_kyc_service_on_unknown_party_is_not_found():
    with pytest.raises(NotFoundError):
        party_kyc_approve(party_id=424242)


# -- face to face ------------------------------------------------------------------------------


def test_face_to_face_verification_records_who_and_when(operator):
    party = person()
    party_face_to_face_verify(party_id=party.pk, actor=operator, note="counter 3")
    party = Party.objects.get(pk=party.pk)
    assert party.face_to_face_verified and party.face_to_face_verified_by == operator
    first_at = party.face_to_face_verified_at
    party_face_to_face_verify(party_id=party.pk, actor=operator)
    assert Party.objects.get(pk=party.pk).face_to_face_verified_at >= first_at
    rows = AuditLog.objects.filter(action="party.face_to_face_verify").order_by("pk")
    assert [r.data["again"] for r in rows] == [False, True]


def test_face_to_face_needs_a_named_verifier_a_person_and_no_rejection():
    party = person()
    with pytest.raises(FieldValidationError):
        party_face_to_face_verify(party_id=party.pk)
    with pytest.raises(InvalidStateError):
        party_face_to_face_verify(party_id=organisation().pk, actor_label="branch 12")
    party_kyc_reject(party_id=party.pk, reason="x", actor_label="test")
    with pytest.raises(InvalidStateError):
        party_face_to_face_verify(party_id=party.pk, actor_label="branch 12")
    assert not Party.objects.get(pk=party.pk).face_to_face_verified


# -- fixtures -------------------------------------------------------------------------------


def test_make_party_fixture_builds_valid_distinct_approved_parties(make_party):
    people = [make_party(f"person {i}") for i in range(20)]
    assert len({p.id_number_hash for p in people}) == 20
    assert all(p.kyc_state == Party.KycState.APPROVED and len(p.id_number) == 18 for p in people)
    org = make_party("乙公司", type="organisation")
    assert len(org.credit_code) == 18 and org.legal_representative
    assert make_party("pending", kyc="pending_review").kyc_state == Party.KycState.PENDING_REVIEW
