"""The loans API: a platform's client creates, funds, disburses and repays its loans; another
platform's client gets 404 on them (isolation); R-DEP-02 over the wire; duplicate references."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.ledger.models import Hold, Transfer
from accounts.tests.api_helpers import signed
from custody.loans import services as loans
from custody.loans.models import Loan

pytestmark = pytest.mark.django_db


def _loan_body(borrower, **overrides):
    body = {
        "borrower": borrower.account.number,
        "amount": "3000.00",
        "annual_rate": "0.12",
        "term_months": 3,
        "method": "equal_principal",
        "fundraising_deadline": (timezone.now() + dt.timedelta(days=3)).isoformat(),
        "service_fee_rate": "0.01",
        "out_request_no": "L-api-1",
        "title": "经营周转",
    }
    body.update(overrides)
    return body


def _standing(sub) -> dict:
    return {"method": "standing", "id": sub.auth.pk}


def test_a_loans_life_through_the_api(client, platform, borrower, lender):
    api = signed(client, "platform:P001")
    a, b = lender("5000.00"), lender("5000.00")
    created = api.post("/api/v1/platforms/P001/loans/", _loan_body(borrower))
    assert created.status_code == 201, created.content
    loan = created.json()
    assert loan["state"] == "open" and loan["amount"] == "3000.00" and loan["service_fee"] == "30.00"
    assert [row["principal"] for row in loan["schedule"]] == ["1000.00", "1000.00", "1000.00"]
    assert [row["interest"] for row in loan["schedule"]] == ["30.00", "20.00", "10.00"]

    url = f"/api/v1/loans/{loan['id']}/"
    first = api.post(
        url + "bids/", {"lender": a.account.number, "amount": "1000.00", "out_request_no": "B1", "authorization": _standing(a)}
    )
    assert first.status_code == 201, first.content
    assert first.json()["state"] == "held" and first.json()["authorisation"] == str(a.auth.pk)
    again = api.post(
        url + "bids/", {"lender": b.account.number, "amount": "1.00", "out_request_no": "B1", "authorization": _standing(b)}
    )
    assert (again.status_code, again.json()["code"], again.json()["data"]["id"]) == (
        409,
        "duplicate_reference",
        first.json()["id"],
    )
    too_much = api.post(
        url + "bids/", {"lender": b.account.number, "amount": "2000.01", "out_request_no": "B2", "authorization": _standing(b)}
    )
    assert (too_much.status_code, too_much.json()["code"]) == (409, "bid_exceeds_remaining")
    assert too_much.json()["data"]["remaining"] == "2000.00"
    body = {"lender": b.account.number, "amount": "2000.00", "out_request_no": "B3", "authorization": _standing(b)}
    last = api.post(url + "bids/", body, idempotency_key="bid-b3")
    replay = api.post(url + "bids/", body, idempotency_key="bid-b3")
    assert last.status_code == replay.status_code == 201 and last.json() == replay.json()
    assert Hold.objects.filter(reason="bid", state="active").count() == 2

    detail = api.get(url).json()
    assert detail["state"] == "full" and [x["out_request_no"] for x in detail["bids"]] == ["B1", "B3"]

    disbursed = api.post(url + "disburse/", {"authorization": {"method": "standing", "id": borrower.fee_auth.pk}})
    assert disbursed.status_code == 200, disbursed.content
    assert disbursed.json()["state"] == "disbursed"
    assert Transfer.objects.filter(kind=loans.KIND_DISBURSEMENT).count() == 1

    repaid = api.post(
        url + "repayments/",
        {
            "payer": borrower.account.number,
            "out_request_no": "R1",
            "authorization": {"method": "standing", "id": borrower.fee_auth.pk},
            "instalment": 1,
            "amount": "1030.00",
        },
    )
    assert repaid.status_code == 201, repaid.content
    assert (repaid.json()["principal"], repaid.json()["interest"], repaid.json()["total"]) == ("1000.00", "30.00", "1030.00")
    partial = api.post(
        url + "repayments/",
        {
            "payer": borrower.account.number,
            "out_request_no": "R2",
            "authorization": {"method": "standing", "id": borrower.fee_auth.pk},
            "amount": "10.00",
        },
    )
    assert (partial.status_code, partial.json()["code"]) == (409, "repayment_refused")


def test_r_dep_02_api_refuses_password_and_confirm_waits_for_the_borrower_on_disbursement(
    client, platform, lender, new_loan, bid
):
    api = signed(client, "platform:P001")
    a = lender()
    loan = new_loan("1000.00")
    url = f"/api/v1/loans/{loan.pk}/bids/"
    body = {"lender": a.account.number, "amount": "100.00", "out_request_no": "B1"}
    password = api.post(url, {**body, "authorization": {"method": "password", "password": "135790"}})
    assert (password.status_code, password.json()["code"]) == (403, "authorization_method_refused")
    missing = api.post(url, body)
    assert (missing.status_code, missing.json()["code"]) == (400, "validation_error")
    assert not Hold.objects.filter(reason="bid").exists()
    bid(loan, a, "1000.00")
    confirm = api.post(f"/api/v1/loans/{loan.pk}/disburse/", {"authorization": {"method": "confirm"}})
    assert confirm.status_code == 202 and confirm.json()["kind"] == "disbursement_fee"  # the borrower confirms the fee
    assert Loan.objects.get(pk=loan.pk).state == Loan.State.FULL


def test_r_dep_06_api_limit_exceeded_names_limit_and_remaining(client, platform, borrower):
    api = signed(client, "platform:P001")
    response = api.post("/api/v1/platforms/P001/loans/", _loan_body(borrower, amount="200000.01"))
    assert (response.status_code, response.json()["code"]) == (409, "limit_exceeded")
    assert response.json()["data"] == {"limit": "200000.00", "remaining": "200000.00"}


def test_isolation_platform_a_key_gets_404_on_platform_b_loans(
    client, make_platform, platform, new_loan, open_sub, grant, lender
):
    other = make_platform("P002")
    loan = new_loan("1000.00")
    b_api = signed(client, "platform:P002")
    for response in (
        b_api.get(f"/api/v1/loans/{loan.pk}/"),
        b_api.post(f"/api/v1/loans/{loan.pk}/cancel/", {}),
        b_api.post(f"/api/v1/loans/{loan.pk}/disburse/", {}),
        b_api.post(
            f"/api/v1/loans/{loan.pk}/bids/",
            {"lender": "x", "amount": "1.00", "out_request_no": "x", "authorization": {"method": "standing", "id": 1}},
        ),
        b_api.get("/api/v1/platforms/P001/loans/"),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), response.content
    # A lender of P002 cannot bid on P001's loan even through P001's key: the sub-account is not P001's.
    foreign = lender(on=other)
    a_api = signed(client, "platform:P001")
    refused = a_api.post(
        f"/api/v1/loans/{loan.pk}/bids/",
        {"lender": foreign.account.number, "amount": "1.00", "out_request_no": "x", "authorization": _standing(foreign)},
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "validation_error")
    assert a_api.get(f"/api/v1/loans/{loan.pk}/").status_code == 200
    bank = signed(client, "*").get(f"/api/v1/loans/{loan.pk}/")
    assert (bank.status_code, bank.json()["code"]) == (403, "forbidden_scope")
    assert Loan.objects.get(pk=loan.pk).state == Loan.State.OPEN


def test_cancel_through_the_api_releases_holds(client, platform, lender, new_loan, bid):
    loan = new_loan("1000.00")
    bid(loan, lender(), "400.00")
    response = signed(client, "platform:P001").post(f"/api/v1/loans/{loan.pk}/cancel/", {"reason": "借款人撤回"})
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert [b["state"] for b in response.json()["bids"]] == ["released"]
    assert not Hold.objects.filter(reason="bid", state="active").exists()
