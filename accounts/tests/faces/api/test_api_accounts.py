"""GET /api/v1/accounts/{number}/ and its entries: shapes, visibility, pagination, filters."""

from __future__ import annotations

import datetime as dt
from uuid import uuid4

import pytest
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.models import Entry
from accounts.tests.api_helpers import signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(make_account, fund):
    return fund(make_account(), "100.00")


def _entries_url(account, query: str = "") -> str:
    return f"/api/v1/accounts/{account.number}/entries/" + (f"?{query}" if query else "")


def test_account_detail_shows_balances_as_strings(client, account, clearing):
    ledger.hold_place(client="t", idempotency_key=uuid4().hex, account_id=account.pk, amount="30.00", reason="risk")
    api = signed(client, "accounts:read", f"party:{account.party_id}")
    response = api.get(f"/api/v1/accounts/{account.number}/")
    assert response.status_code == 200
    assert response.json() == {
        "number": account.number,
        "party": str(account.party_id),
        "tier": "I",
        "role": "lender",
        "state": "active",
        "currency": "CNY",
        "balance": "100.00",
        "available": "70.00",
        "frozen": "30.00",
        "limits": [],
    }


def test_account_scope_by_number_grants_only_that_account(client, account, make_account):
    other = make_account()
    api = signed(client, "accounts:read", f"account:{account.number}")
    assert api.get(f"/api/v1/accounts/{account.number}/").status_code == 200
    assert api.get(f"/api/v1/accounts/{other.number}/").status_code == 404


def test_invisible_account_is_not_found_exactly_like_a_missing_one(client, account, make_account):
    api = signed(client, "accounts:read", "party:999999")
    invisible = api.get(f"/api/v1/accounts/{account.number}/")
    missing = api.get("/api/v1/accounts/6230000000000000/")
    assert invisible.status_code == missing.status_code == 404
    assert invisible.json() == missing.json()
    assert invisible.json()["code"] == "not_found"
    assert api.get(_entries_url(account)).status_code == 404


def test_internal_account_is_404_to_every_scope_even_star(client, clearing):
    # Issue #9: scope * means every customer account; the bank's internal accounts are never shown.
    assert signed(client, "accounts:read", "party:1").get(f"/api/v1/accounts/{clearing.number}/").status_code == 404
    assert signed(client, "*").get(f"/api/v1/accounts/{clearing.number}/").status_code == 404


def test_entries_list_shapes_and_sides(client, account, make_account):
    other = make_account()
    ledger.post_transfer(
        client="t",
        idempotency_key=uuid4().hex,
        kind="transfer",
        legs=ledger.move(from_account_id=account.pk, to_account_id=other.pk, amount="12.34"),
        memo="rent",
    )
    api = signed(client, "accounts:read", f"account:{account.number}")
    body = api.get(_entries_url(account)).json()
    assert len(body["results"]) == 2
    assert body["next"] is None
    newest, funding = body["results"]
    assert newest["kind"] == "transfer"
    assert newest["side"] == "debit"
    assert newest["amount"] == "12.34"
    assert newest["balance_after"] == "87.66"
    assert newest["memo"] == "rent"
    assert newest["created_at"].endswith("+08:00")
    assert dt.datetime.fromisoformat(newest["created_at"]).utcoffset() == dt.timedelta(hours=8)
    assert funding["side"] == "credit"
    assert funding["kind"] == "funding"
    assert funding["balance_after"] == "100.00"
    assert set(newest) == {"id", "transfer", "kind", "side", "amount", "balance_after", "memo", "created_at"}


def test_entries_are_paginated_by_cursor(client, account, fund):
    for _ in range(4):
        fund(account, "1.00")
    api = signed(client, "accounts:read", f"account:{account.number}")
    pages, url = [], _entries_url(account, "page_size=2")
    while url:
        body = api.get(url).json()
        pages.append([row["id"] for row in body["results"]])
        url = body["next"] and body["next"].replace("http://testserver", "")
    assert [len(page) for page in pages] == [2, 2, 1]
    ids = [i for page in pages for i in page]
    assert len(set(ids)) == 5 and ids == sorted(ids, key=int, reverse=True)  # newest first, none twice
    assert set(body) == {"next", "results"}  # no count: a page costs the same wherever it is


def test_entries_cursor_pages_do_not_shift_when_entries_arrive(client, account, fund):
    for _ in range(3):
        fund(account, "1.00")
    api = signed(client, "accounts:read", f"account:{account.number}")
    first = api.get(_entries_url(account, "page_size=2")).json()
    fund(account, "2.00")  # a new entry, newest: it must not push a row of page 1 onto page 2
    second = api.get(first["next"].replace("http://testserver", "")).json()
    assert [row["id"] for row in second["results"]] == [
        row["id"] for row in api.get(_entries_url(account, "page=1&page_size=5")).json()["results"][3:5]
    ]


@pytest.mark.parametrize("cursor", ["x", "bm90IGpzb24", "WyJhIl0", "WyJub3QgYSBkYXRlIiwiMSJd", "WzEsMl0"])
def test_a_garbled_cursor_is_a_400_on_cursor(client, account, cursor):
    api = signed(client, "accounts:read", f"account:{account.number}")
    response = api.get(_entries_url(account, f"cursor={cursor}"))
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error" and list(response.json()["fields"]) == ["cursor"]


def test_entries_numbered_pages_still_work_with_page(client, account, fund):
    for _ in range(4):
        fund(account, "1.00")
    api = signed(client, "accounts:read", f"account:{account.number}")
    first = api.get(_entries_url(account, "page=1&page_size=2")).json()
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["previous"] is None
    assert "page=2" in first["next"]
    third = api.get(_entries_url(account, "page=3&page_size=2")).json()
    assert len(third["results"]) == 1
    assert third["next"] is None
    ids = [r["id"] for page in (1, 2, 3) for r in api.get(_entries_url(account, f"page={page}&page_size=2")).json()["results"]]
    assert len(set(ids)) == 5
    assert api.get(_entries_url(account, "page=9&page_size=2")).json()["code"] == "not_found"


def test_entries_page_size_is_capped_at_200(client, account):
    api = signed(client, "accounts:read", f"account:{account.number}")
    assert api.get(_entries_url(account, "page_size=5000")).status_code == 200


def test_entries_filter_by_kind(client, account, make_account):
    other = make_account()
    ledger.post_transfer(
        client="t",
        idempotency_key=uuid4().hex,
        kind="transfer",
        legs=ledger.move(from_account_id=account.pk, to_account_id=other.pk, amount="1.00"),
    )
    api = signed(client, "accounts:read", f"account:{account.number}")
    body = api.get(_entries_url(account, "kind=transfer")).json()
    assert len(body["results"]) == 1
    assert body["results"][0]["kind"] == "transfer"
    assert len(api.get(_entries_url(account, "kind=nothing")).json()["results"]) == 0


def test_entries_filter_by_business_date_in_shanghai(client, account):
    # Move the funding entry to 2026-11-30 23:30 Shanghai time (15:30 UTC): it belongs to the 30th.
    tz = timezone.get_current_timezone()
    Entry.objects.filter(account=account).update(created_at=dt.datetime(2026, 11, 30, 23, 30, tzinfo=tz))
    api = signed(client, "accounts:read", f"account:{account.number}")
    assert len(api.get(_entries_url(account, "date_from=2026-11-30&date_to=2026-11-30")).json()["results"]) == 1
    assert len(api.get(_entries_url(account, "date_from=2026-12-01")).json()["results"]) == 0
    assert len(api.get(_entries_url(account, "date_to=2026-11-29")).json()["results"]) == 0
    assert len(api.get(_entries_url(account, "date_to=2026-11-30")).json()["results"]) == 1


@pytest.mark.parametrize(
    "query, field",
    [
        ("date_from=2026-13-01", "date_from"),
        ("date_to=yesterday", "date_to"),
        ("date_from=2026-12-02&date_to=2026-12-01", "date_to"),
    ],
)
def test_entries_bad_dates_are_a_validation_error(client, account, query, field):
    api = signed(client, "accounts:read", f"account:{account.number}")
    response = api.get(_entries_url(account, query))
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["fields"]
