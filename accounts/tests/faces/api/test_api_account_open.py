"""POST /api/v1/accounts/ (R-ACC-01/02 through the API) and the limits and bound card in GET."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.ledger.models import Account
from accounts.limits.services import FlowKind
from accounts.parties.models import AccountOpeningOverride
from accounts.tests.api_helpers import signed
from accounts.tests.limits_helpers import open_active, post

pytestmark = pytest.mark.django_db
URL = "/api/v1/accounts/"


@pytest.fixture
def person(make_party):
    return make_party("王五")


@pytest.fixture
def pending_person(make_party):
    return make_party("赵六", kyc="pending_review")


def _api(client, *parties, scopes=("accounts:write", "accounts:read")):
    return signed(client, *scopes, *(f"party:{p.pk}" for p in parties))


def test_account_open_class_ii_is_pending_verification_with_its_limits(client, pending_person):
    api = _api(client, pending_person)
    response = api.post(URL, {"party": pending_person.pk, "tier": "II"}, idempotency_key=None)
    assert response.status_code == 201, response.json()
    body = response.json()
    account = Account.objects.get(number=body["number"])
    assert body["party"] == str(pending_person.pk)
    assert (body["tier"], body["role"], body["state"], body["currency"]) == ("II", "personal", "pending_verification", "CNY")
    assert (body["balance"], body["available"], body["frozen"]) == ("0.00", "0.00", "0.00")
    assert "bound_card" not in body
    assert {(lim["limit"], lim["period"]) for lim in body["limits"]} == {
        ("II_inflow_day", "day"),
        ("II_inflow_year", "year"),
        ("II_outflow_day", "day"),
        ("II_outflow_year", "year"),
    }
    outflow_day = next(lim for lim in body["limits"] if lim["limit"] == "II_outflow_day")
    assert outflow_day == {
        "limit": "II_outflow_day",
        "period": "day",
        "amount": "10000.00",
        "used": "0.00",
        "remaining": "10000.00",
    }
    assert account.party_id == pending_person.pk
    assert api.get(f"/api/v1/accounts/{account.number}/").json() == body


def test_account_open_class_i_for_an_approved_person_is_active_without_limits(client, person):
    response = _api(client, person).post(URL, {"party": person.pk, "tier": "I", "role": "lender"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["tier"], body["role"], body["state"], body["limits"]) == ("I", "lender", "active", [])


def test_account_open_class_i_waits_for_kyc_approval(client, pending_person):
    response = _api(client, pending_person).post(URL, {"party": pending_person.pk, "tier": "I"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "kyc_not_approved"
    assert body["data"]["state"] == "pending_review"
    assert not Account.objects.filter(party=pending_person).exists()


def test_account_open_for_a_rejected_party_is_refused(client, make_party):
    rejected = make_party("孙七", kyc="rejected")
    response = _api(client, rejected).post(URL, {"party": rejected.pk, "tier": "II"})
    assert response.status_code == 409
    assert response.json()["code"] == "kyc_not_approved"


def test_account_open_second_class_i_is_limit_exceeded_even_with_a_reason(client, person):
    api = _api(client, person)
    assert api.post(URL, {"party": person.pk, "tier": "I"}).status_code == 201
    response = api.post(URL, {"party": person.pk, "tier": "I", "override_reason": "customer insists"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "limit_exceeded"
    assert body["data"] == {"limit": "class_i_per_person", "maximum": 1, "held": 1, "remaining": 0}
    assert Account.objects.filter(party=person, tier="I").count() == 1


def test_account_open_class_ii_beyond_the_count_needs_an_override_reason(client, person, settings):
    settings.ACCOUNTS_MAX_CLASS2_PER_PERSON = 1
    api = _api(client, person)
    assert api.post(URL, {"party": person.pk, "tier": "II"}).status_code == 201
    refused = api.post(URL, {"party": person.pk, "tier": "II"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "limit_exceeded"
    assert refused.json()["data"]["limit"] == "class_ii_per_person"
    allowed = api.post(URL, {"party": person.pk, "tier": "II", "override_reason": "salary and savings accounts"})
    assert allowed.status_code == 201, allowed.json()
    override = AccountOpeningOverride.objects.get()
    assert override.account.number == allowed.json()["number"]
    assert override.reason == "salary and savings accounts"
    assert override.actor_label == f"api:{api.credentials.client_id}"


def test_account_open_corporate_for_an_organisation(client, make_party):
    org = make_party("示例机构", type="organisation")
    api = _api(client, org)
    response = api.post(URL, {"party": org.pk, "tier": "corporate"})
    assert response.status_code == 201, response.json()
    assert (response.json()["tier"], response.json()["role"], response.json()["limits"]) == ("corporate", "corporate", [])
    wrong = api.post(URL, {"party": org.pk, "tier": "II"})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "validation_error"
    assert "tier" in wrong.json()["fields"]


@pytest.mark.parametrize(
    "data, field",
    [
        ({"tier": "II"}, "party"),
        ({"party": "x", "tier": "II"}, "party"),
        ({"party": "12a", "tier": "II"}, "party"),
        ({"party": True, "tier": "II"}, "party"),
        ({"party": 1.5, "tier": "II"}, "party"),
        ({"party": "0", "tier": "II"}, "party"),
        ({"tier": "IV"}, "tier"),
        ({"tier": "internal"}, "tier"),
        ({"tier": "II", "role": "clearing"}, "role"),
    ],
)
def test_account_open_malformed_input_is_400(client, person, data, field):
    data = {"party": person.pk, **data} if "party" not in data and field != "party" else data
    response = _api(client, person).post(URL, data)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Account.objects.filter(party=person).exists()


def test_account_open_takes_the_party_id_as_a_string_or_for_compatibility_an_integer(client, make_party):
    as_string, as_integer = make_party("孙九"), make_party("周十")
    api = _api(client, as_string, as_integer)
    by_string = api.post(URL, {"party": str(as_string.pk), "tier": "II"})
    by_integer = api.post(URL, {"party": as_integer.pk, "tier": "II"})
    assert by_string.status_code == by_integer.status_code == 201
    assert (by_string.json()["party"], by_integer.json()["party"]) == (str(as_string.pk), str(as_integer.pk))


def test_account_open_for_an_invisible_party_is_404_like_a_missing_one(client, person, make_party):
    other = make_party("钱八")
    api = _api(client, other)
    invisible = api.post(URL, {"party": person.pk, "tier": "II"})
    missing = api.post(URL, {"party": 99999999, "tier": "II"})
    assert invisible.status_code == missing.status_code == 404
    assert invisible.json() == missing.json()
    assert not Account.objects.filter(party=person).exists()


def test_account_open_an_account_scope_does_not_show_its_owner(client, person, make_account):
    existing = make_account(party=person, tier="I")
    api = signed(client, "accounts:write", f"account:{existing.number}")
    assert api.post(URL, {"party": person.pk, "tier": "II"}).status_code == 404


def test_account_open_needs_the_accounts_write_scope(client, person):
    api = _api(client, person, scopes=("accounts:read", "parties:write"))
    response = api.post(URL, {"party": person.pk, "tier": "II"})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_scope"


def test_account_open_with_an_idempotency_key_opens_once(client, person):
    api = _api(client, person)
    first = api.post(URL, {"party": person.pk, "tier": "II"}, idempotency_key="open-1")
    again = api.post(URL, {"party": person.pk, "tier": "II"}, idempotency_key="open-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["number"] == again.json()["number"]
    assert Account.objects.filter(party=person, tier="II").count() == 1


def test_account_detail_limits_after_an_outflow_posted_with_the_limit_guard(client, person, fund):
    account = fund(open_active(person, "II"), "500.00")
    post(account, FlowKind.PAYMENT, "120.50", when=timezone.now())
    body = _api(client, person).get(f"/api/v1/accounts/{account.number}/").json()
    limits = {lim["limit"]: lim for lim in body["limits"]}
    assert limits["II_outflow_day"] == {
        "limit": "II_outflow_day",
        "period": "day",
        "amount": "10000.00",
        "used": "120.50",
        "remaining": "9879.50",
    }
    assert limits["II_outflow_year"]["used"] == "120.50"
    assert limits["II_outflow_year"]["remaining"] == "199879.50"
    assert limits["II_inflow_day"]["used"] == "0.00"  # the funding was not a counted inflow
    assert body["balance"] == "379.50"


def test_account_detail_class_iii_lists_its_balance_cap(client, person, fund):
    account = fund(open_active(person, "III"), "300.00")
    body = _api(client, person).get(f"/api/v1/accounts/{account.number}/").json()
    cap = next(lim for lim in body["limits"] if lim["period"] == "moment")
    assert (cap["used"], cap["remaining"]) == ("300.00", "1700.00")
