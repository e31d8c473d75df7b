"""The KYC review queue in the console: approve / reject / face to face through the services, masked
personal data everywhere, and the audited reveal that needs accounts.view_personal_data."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.parties.models import Party
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from backoffice.models import AuditLog
from conftest import random_id_number, random_mobile

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


def kyc_url(action, *parties):
    return reverse("admin:accounts_party_kyc", args=[action]) + "?ids=" + ",".join(str(p.pk) for p in parties)


def errors_of(response):
    return [str(m) for m in response.context["messages"] if m.level_tag == "error"]


@pytest.fixture
def pending(make_party):
    def make(name="待审 Pending", **kwargs):
        return make_party(name, kyc="pending_review", **kwargs)

    return make


def test_admin_kyc_queue_lists_pending_first_and_masks_identity(console, make_party, pending):
    id_number, mobile = random_id_number(), random_mobile()
    approved = make_party("已审 Approved")
    waiting = pending("待审 Waiting", id_number=id_number, mobile=mobile)
    client = console("auditor")
    response = client.get(reverse("admin:accounts_party_changelist"))
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert rows.index(waiting) < rows.index(approved)
    html = response.content.decode()
    assert id_number not in html and mobile not in html
    assert waiting.id_number_masked in html
    filtered = client.get(reverse("admin:accounts_party_changelist"), {"kyc_state__exact": "pending_review"})
    assert list(filtered.context["cl"].result_list) == [waiting]


def test_admin_kyc_party_page_masks_personal_data(console, pending):
    id_number, mobile = random_id_number(), random_mobile()
    party = pending(id_number=id_number, mobile=mobile)
    response = console("supervisor").get(reverse("admin:accounts_party_change", args=[party.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert id_number not in html and mobile not in html
    assert party.id_number_masked in html and party.mobile_masked in html


def test_admin_kyc_search_by_exact_id_number_finds_the_party(console, pending):
    id_number = random_id_number()
    party = pending(id_number=id_number)
    pending("别人 Other")
    response = console("operator").get(reverse("admin:accounts_party_changelist"), {"q": id_number})
    assert list(response.context["cl"].result_list) == [party]
    assert party.id_number_masked in response.content.decode()  # the row shows the masked number


def test_admin_kyc_operator_approves_through_the_service(console, pending, reload):
    party = pending()
    client = console("operator")
    confirm = client.get(kyc_url("approve", party))
    assert confirm.status_code == 200 and b'name="reason"' in confirm.content
    assert reload(party).kyc_state == Party.KycState.PENDING_REVIEW  # nothing before confirmation
    response = client.post(kyc_url("approve", party), {"ids": str(party.pk), "reason": "documents checked"})
    assert response.status_code == 302
    assert reload(party).kyc_state == Party.KycState.APPROVED
    row = AuditLog.objects.get(action="party.kyc_approve", target_id=str(party.pk))
    assert row.actor.username == "operator-user" and row.data["note"] == "documents checked"


def test_admin_kyc_list_action_leads_to_the_confirmation(console, pending):
    first, second = pending("一 First"), pending("二 Second")
    client = console("operator")
    response = client.post(
        reverse("admin:accounts_party_changelist"),
        {"action": "kyc_approve", "_selected_action": [first.pk, second.pk], "index": 0},
    )
    assert response.status_code == 302
    assert response["Location"] == kyc_url("approve", first, second)


def test_admin_kyc_reject_needs_a_reason(console, pending, reload):
    party = pending()
    client = console("operator")
    response = client.post(kyc_url("reject", party), {"ids": str(party.pk), "reason": "  "})
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    assert reload(party).kyc_state == Party.KycState.PENDING_REVIEW
    client.post(kyc_url("reject", party), {"ids": str(party.pk), "reason": "ID photo unreadable"})
    party = reload(party)
    assert party.kyc_state == Party.KycState.REJECTED and party.kyc_rejection_reason == "ID photo unreadable"
    assert AuditLog.objects.filter(action="party.kyc_reject", target_id=str(party.pk)).count() == 1


def test_admin_kyc_refused_approval_is_an_error_message_not_a_500(console, make_party, reload):
    party = make_party()  # already approved
    client = console("operator")
    response = client.post(kyc_url("approve", party), {"ids": str(party.pk), "reason": ""}, follow=True)
    assert response.status_code == 200
    assert errors_of(response)
    assert not AuditLog.objects.filter(action="party.kyc_approve", actor__username="operator-user").exists()


def test_admin_kyc_face_to_face_through_the_service(console, pending, reload):
    party = pending()
    client = console("operator")
    client.post(kyc_url("face_to_face", party), {"ids": str(party.pk), "reason": "at branch 3"})
    party = reload(party)
    assert party.face_to_face_verified and party.face_to_face_verified_by.username == "operator-user"
    assert AuditLog.objects.filter(action="party.face_to_face_verify", target_id=str(party.pk)).exists()


def test_admin_kyc_auditor_cannot_review(console, pending, reload):
    party = pending()
    client = console("auditor")
    assert client.get(kyc_url("approve", party)).status_code == 403
    assert client.post(kyc_url("approve", party), {"ids": str(party.pk)}).status_code == 403
    page = client.get(reverse("admin:accounts_party_change", args=[party.pk]))
    assert b"kyc-action" not in page.content
    assert reload(party).kyc_state == Party.KycState.PENDING_REVIEW


def test_admin_kyc_bad_input_is_no_500(console, pending):
    client = console("operator")
    assert client.get(reverse("admin:accounts_party_kyc", args=["nonsense"])).status_code == 403
    response = client.get(reverse("admin:accounts_party_kyc", args=["approve"]) + "?ids=x,,", follow=True)
    assert response.status_code == 200 and errors_of(response)
    response = client.post(kyc_url("approve"), {"ids": "999999", "reason": ""}, follow=True)
    assert response.status_code == 200 and errors_of(response)


def test_admin_reveal_shows_unmasked_values_once_and_is_audited(console, pending):
    id_number, mobile = random_id_number(), random_mobile()
    party = pending(id_number=id_number, mobile=mobile)
    client = console("supervisor")
    page = client.get(reverse("admin:accounts_party_change", args=[party.pk]))
    assert b"reveal-personal-data" in page.content
    assert client.get(reverse("admin:accounts_party_reveal", args=[party.pk])).status_code == 200
    response = client.post(reverse("admin:accounts_party_reveal", args=[party.pk]), {"reason": "court inquiry 12"})
    assert response.status_code == 200
    assert id_number in response.content.decode() and mobile in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    row = AuditLog.objects.get(action="party.reveal_personal_data", target_id=str(party.pk))
    assert row.actor.username == "supervisor-user" and row.data["reason"] == "court inquiry 12"
    assert id_number not in str(row.data) and mobile not in str(row.data)


def test_admin_reveal_without_a_reason_reveals_nothing(console, pending):
    party = pending()
    client = console("supervisor")
    response = client.post(reverse("admin:accounts_party_reveal", args=[party.pk]), {"reason": ""}, follow=True)
    assert errors_of(response)
    assert party.id_number not in response.content.decode()
    assert not AuditLog.objects.filter(action="party.reveal_personal_data").exists()


@pytest.mark.parametrize("group", ["operator", "auditor"])
def test_admin_reveal_needs_the_permission_and_a_refusal_is_audited(console, pending, group):
    id_number = random_id_number()
    party = pending(id_number=id_number)
    client = console(group)
    page = client.get(reverse("admin:accounts_party_change", args=[party.pk]))
    assert b"reveal-personal-data" not in page.content
    assert client.get(reverse("admin:accounts_party_reveal", args=[party.pk])).status_code == 403
    response = client.post(reverse("admin:accounts_party_reveal", args=[party.pk]), {"reason": "curious"}, follow=True)
    assert response.status_code == 200 and errors_of(response)
    assert id_number not in response.content.decode()
    assert not AuditLog.objects.filter(action="party.reveal_personal_data").exists()
    assert AuditLog.objects.filter(action="party.reveal_personal_data_denied", target_id=str(party.pk)).exists()
