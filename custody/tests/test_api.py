"""The platform API scope (R-DEP-03, R-DEP-04) and the sub-account endpoints: a platform's client
reaches only its platform's endpoints, is refused on the generic ones, and never sees another
platform's sub-accounts (404), even of one person who is a client of both."""

from __future__ import annotations

import pytest

from accounts.ledger.models import Account, Hold, Transfer
from accounts.tests.api_helpers import signed
from accounts.tests.cards_fixtures import ID_ZHANG
from backoffice.services import validate_scopes
from custody import services
from custody.loans import confirmations
from custody.loans.models import Confirmation
from custody.models import SubAccount

pytestmark = pytest.mark.django_db

ZHANG = {"type": "person", "name": "张三", "id_number": ID_ZHANG, "mobile": "13800000000"}


def _url(code: str, number: str = "") -> str:
    return f"/api/v1/platforms/{code}/sub-accounts/" + (f"{number}/" if number else "")


def _client_opens(response) -> str:
    """R-DEP-04: the platform asked (202); the client, signed in as a portal user of their party,
    confirms on the bank's page. Returns the opened sub-account's number."""
    from django.contrib.auth import get_user_model

    assert response.status_code == 202, response.content
    confirmation = Confirmation.objects.select_related("party").get(pk=response.json()["confirmation"])
    user = confirmation.party.portal_users.first()
    if user is None:
        user = get_user_model().objects.create_user(username=f"client{confirmation.party_id}", password="x-Long-password-1")
        confirmation.party.portal_users.add(user)
    done = confirmations.confirmation_confirm(confirmation_id=confirmation.pk, actor=user)
    assert done.state == "confirmed", done.outcome_code
    return done.sub_account.account.number


# -- R-DEP-03 / R-DEP-04: refused on the generic endpoints ----------------------------------------------


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("post", "/api/v1/accounts/", {"party": 1, "tier": "I"}),
        ("get", "/api/v1/accounts/{number}/", None),
        ("get", "/api/v1/accounts/{number}/entries/", None),
        ("post", "/api/v1/transfers/", {"from_account": "{number}", "to_account": "{number}", "amount": "1.00"}),
        ("post", "/api/v1/holds/", {"account": "{number}", "amount": "1.00"}),
        ("post", "/api/v1/holds/1/release/", None),
        ("post", "/api/v1/parties/", {"type": "person", "name": "x", "id_number": ID_ZHANG}),
        ("post", "/api/v1/withdrawals/", {"account": "{number}", "amount": "1.00", "out_request_no": "w1"}),
        ("get", "/api/v1/withdrawals/", None),
        ("post", "/api/v1/recharges/", {"account": "{number}", "amount": "1.00", "out_request_no": "r1"}),
    ],
)
def test_r_dep_03_r_dep_04_platform_scope_refused_on_generic_endpoints(client, make_platform, fund, method, path, body):
    platform = make_platform("P001")
    sub = services.subaccount_open(platform=platform, role="lender", identity_data=ZHANG)
    number = sub.account.number
    fund(platform.own_funds, "10.00")
    api = signed(client, "platform:P001")
    path = path.replace("{number}", number)
    if body is not None:
        body = {k: (v.replace("{number}", number) if isinstance(v, str) else v) for k, v in body.items()}
    response = api.get(path) if method == "get" else api.post(path, body)
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "platform_scope_refused"
    assert "platform" in response.json()["message"]
    assert not Transfer.objects.filter(client__startswith="api:").exists()
    assert not Hold.objects.filter(client__startswith="api:").exists()


def test_platform_scope_is_held_alone():
    assert validate_scopes(["platform:P001"]) == ["platform:P001"]
    for scopes in (["platform:P001", "accounts:read"], ["platform:P001", "*"], ["platform:P001", "platform:P002"], ["platform:"]):
        with pytest.raises(ValueError):
            validate_scopes(scopes)


def test_a_bank_client_is_refused_on_platform_endpoints(client, make_platform):
    make_platform("P001")
    response = signed(client, "*").get(_url("P001"))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_scope")


# -- the sub-account endpoints -------------------------------------------------------------------------


def test_r_dep_04_platform_asks_the_client_opens_then_lists_and_reads(client, make_platform, fund, verify):
    make_platform("P001")
    api = signed(client, "platform:P001")
    response = api.post(_url("P001"), {"role": "lender", **ZHANG})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "subaccount_open" and body["role"] == "lender" and body["state"] == "pending"
    assert body["holder"] == {"type": "person", "name": "张三", "id_number": "110105********002X", "mobile": "138****0000"}
    assert "/portal/custody/confirmations/" in body["confirmation_url"] and body["sub_account"] is None
    assert not SubAccount.objects.exists()  # the platform asked; nothing is opened until the client confirms

    number = _client_opens(response)
    sub = SubAccount.objects.get(account__number=number)
    assert sub.opened_by == f"portal:confirmation:{body['confirmation']}"
    assert api.get(f"/api/v1/platforms/P001/confirmations/{body['confirmation']}/").json()["sub_account"] == number

    account = verify(sub, id_number=ID_ZHANG)
    fund(account, "1234.50")
    response = api.get(_url("P001", number))
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["balance"], response.json()["available"]) == (
        "active",
        "1234.50",
        "1234.50",
    )

    _client_opens(api.post(_url("P001"), {"role": "borrower", **ZHANG}))
    listing = api.get(_url("P001")).json()
    assert len(listing["results"]) == 2 and [row["role"] for row in listing["results"]] == ["lender", "borrower"]
    lenders = api.get(_url("P001") + "?role=lender").json()
    assert [row["number"] for row in lenders["results"]] == [number]


def test_r_dep_01_api_duplicate_sub_account_is_409(client, make_platform):
    make_platform("P001")
    api = signed(client, "platform:P001")
    asked = api.post(_url("P001"), {"role": "lender", **ZHANG})
    assert api.post(_url("P001"), {"role": "lender", **ZHANG}).json()["confirmation"] == asked.json()["confirmation"]
    number = _client_opens(asked)
    response = api.post(_url("P001"), {"role": "lender", **ZHANG})
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_sub_account" and response.json()["data"]["account"] == number


def test_subaccount_open_is_replayed_with_the_same_idempotency_key(client, make_platform):
    make_platform("P001")
    api = signed(client, "platform:P001")
    first = api.post(_url("P001"), {"role": "lender", **ZHANG}, idempotency_key="open-zhang")
    again = api.post(_url("P001"), {"role": "lender", **ZHANG}, idempotency_key="open-zhang")
    assert first.status_code == again.status_code == 202 and first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Confirmation.objects.count() == 1 and not SubAccount.objects.exists()


def test_subaccount_open_validation_and_identity_mismatch(client, make_platform):
    make_platform("P001")
    api = signed(client, "platform:P001")
    response = api.post(_url("P001"), {"role": "merchant", **ZHANG})
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    api.post(_url("P001"), {"role": "lender", **ZHANG})
    response = api.post(_url("P001"), {"role": "borrower", **{**ZHANG, "name": "李四"}})
    assert (response.status_code, response.json()["code"]) == (422, "identity_mismatch")


# -- isolation --------------------------------------------------------------------------------------------


def test_isolation_platform_a_never_reaches_platform_b_even_for_a_client_of_both(client, make_platform):
    make_platform("PA")
    make_platform("PB")
    a, b = signed(client, "platform:PA"), signed(client, "platform:PB")
    on_a = _client_opens(a.post(_url("PA"), {"role": "lender", **ZHANG}))
    on_b = _client_opens(b.post(_url("PB"), {"role": "lender", **ZHANG}))
    assert SubAccount.objects.get(account__number=on_a).party_id == SubAccount.objects.get(account__number=on_b).party_id

    # A's key on B's platform: 404, for the list, the detail and opening alike
    for response in (a.get(_url("PB")), a.get(_url("PB", on_b)), a.post(_url("PB"), {"role": "borrower", **ZHANG})):
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    # B's sub-account through A's own path: 404, like a number that does not exist
    assert a.get(_url("PA", on_b)).status_code == 404
    assert a.get(_url("PA", "6230000000000000")).status_code == 404
    # A's list shows only A's sub-account of the shared person; an unknown platform code is 404 too
    assert [row["number"] for row in a.get(_url("PA")).json()["results"]] == [on_a]
    assert a.get(_url("NOPE")).status_code == 404
    # and the generic endpoints never show the person's other accounts
    assert a.get(f"/api/v1/accounts/{on_b}/").status_code == 403
    assert Account.objects.filter(number__in=[on_a, on_b], owner__in=["platform:PA", "platform:PB"]).count() == 2


def test_r_dep_01_r_dep_03_generic_endpoints_never_reach_a_platform_s_books_even_for_the_bank_s_clients(
    client, make_platform, make_account, fund
):
    platform = make_platform("P001")
    sub = services.subaccount_open(platform=platform, role="lender", identity_data=ZHANG)
    fund(platform.own_funds, "100.00")
    bank = signed(client, "*")
    for number in (sub.account.number, platform.own_funds.number):
        assert bank.get(f"/api/v1/accounts/{number}/").status_code == 404
        assert bank.post("/api/v1/holds/", {"account": number, "amount": "1.00"}).status_code == 404
    ordinary = fund(make_account(), "10.00")
    response = bank.post(
        "/api/v1/transfers/", {"from_account": platform.own_funds.number, "to_account": ordinary.number, "amount": "1.00"}
    )
    assert response.status_code == 404
    assert Account.objects.get(pk=platform.own_funds_id).balance == 100
