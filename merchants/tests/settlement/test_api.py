"""GET /api/v1/settlements/ and /settlements/{id}/: merchant-scoped, paginated, filtered; another
merchant's batch answers 404 like a missing one; the narrow settlements scope."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.tests.api_helpers import signed
from backoffice.dates import bank_tz
from backoffice.services import validate_scopes
from merchants import settlement
from merchants.models import SettlementBatch
from merchants.tests.settlement.conftest import at, settle_day

pytestmark = pytest.mark.django_db


def _settle_today(merchant, capture):
    day = dt.datetime.now(bank_tz()).date()
    with capture(execute=True):
        settlement.settlement_run(business_date=day, now=at(settle_day(day, merchant)))
    return SettlementBatch.objects.get(merchant=merchant)


def test_settlements_list_and_detail_are_merchant_scoped(client, settled_merchant, pay, django_capture_on_commit_callbacks):
    a, b = settled_merchant("商户甲有限公司"), settled_merchant("商户乙有限公司")
    pay(a, "100.00")
    pay(b, "20.00")
    batch_a, batch_b = _settle_today(a, django_capture_on_commit_callbacks), SettlementBatch.objects.get(merchant=b)
    api = signed(client, f"merchant:{a.pk}:settlements")
    listed = api.get("/api/v1/settlements/")
    assert listed.status_code == 200, listed.content
    body = listed.json()
    assert len(body["results"]) == 1 and [r["id"] for r in body["results"]] == [str(batch_a.pk)]
    row = body["results"][0]
    assert (row["state"], row["net_amount"], row["available_amount"], row["payment_count"]) == ("settled", "99.40", "99.40", 1)
    detail = api.get(f"/api/v1/settlements/{batch_a.pk}/").json()
    assert [(i["kind"], i["match"], i["net_amount"]) for i in detail["items"]] == [("payment", "matched", "99.40")]
    assert [(p["amount"], p["state"]) for p in detail["payouts"]] == [("99.40", "succeeded")]
    # Merchant B's batch: 404 exactly like a missing one.
    other, missing = api.get(f"/api/v1/settlements/{batch_b.pk}/"), api.get("/api/v1/settlements/999999/")
    assert other.status_code == missing.status_code == 404
    assert other.json()["code"] == missing.json()["code"] == "not_found"
    # Filters and pages.
    assert len(api.get("/api/v1/settlements/?state=held").json()["results"]) == 0
    assert len(api.get("/api/v1/settlements/?date_from=2000-01-01&page_size=1").json()["results"]) == 1
    # The payments-only key sees no settlement.
    narrow = signed(client, f"merchant:{a.pk}:payments")
    assert len(narrow.get("/api/v1/settlements/").json()["results"]) == 0
    assert narrow.get(f"/api/v1/settlements/{batch_a.pk}/").status_code == 404
    # The bank sees both.
    assert len(signed(client, "*").get("/api/v1/settlements/").json()["results"]) == 2


def test_the_narrow_settlements_scope_is_a_merchant_scope():
    assert validate_scopes(["merchant:7:settlements", "merchant:7:payments"])
    with pytest.raises(ValueError):
        validate_scopes(["merchant:7:settlements", "merchant:8:settlements"])
