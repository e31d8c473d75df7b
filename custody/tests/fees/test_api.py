"""The platform's custody fee endpoints: signed, platform-scoped; another platform's invoices are 404."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.tests.api_helpers import signed
from custody.fees import selectors
from custody.fees import services as fees

pytestmark = pytest.mark.django_db


@pytest.fixture
def billed(make_platform, approved_schedule, today):
    """P001 and P002, each with an approved schedule and one invoice for this month."""
    as_of = selectors.next_month(today.replace(day=1)) + dt.timedelta(days=9)
    made = {}
    for code in ("P001", "P002"):
        platform = make_platform(code)
        approved_schedule(platform, bands=[("0", "0.025")], monthly_minimum=Decimal("8000.00"))
        made[code] = fees.invoice_issue(platform=platform, month=today, as_of=as_of)
    return made


def test_platform_reads_its_schedule_accruals_and_invoices(client, billed, today):
    api = signed(client, "platform:P001")
    schedule = api.get("/api/v1/platforms/P001/fees/schedule/")
    assert schedule.status_code == 200, schedule.content
    assert schedule.json()["bands"] == [{"lower_bound": "0.00", "rate": "0.02500"}]
    assert schedule.json()["mode"] == "marginal"
    accruals = api.get(f"/api/v1/platforms/P001/fees/accruals/?date_from={today.replace(day=1)}&page_size=5&page=1")
    assert accruals.status_code == 200
    assert accruals.json()["count"] == len(selectors.month_days(today.replace(day=1)))
    assert accruals.json()["results"][0]["fee_exact"] == "0.000000"
    invoices = api.get("/api/v1/platforms/P001/fees/invoices/").json()
    assert len(invoices["results"]) == 1
    number = invoices["results"][0]["number"]
    detail = api.get(f"/api/v1/platforms/P001/fees/invoices/{number}/").json()
    assert (detail["total"], detail["state"]) == ("8000.00", "issued")
    assert [line["kind"] for line in detail["lines"]] == ["accrued", "minimum_top_up"]


def test_platform_a_cannot_read_platform_b_invoices(client, billed):
    api = signed(client, "platform:P001")
    other = billed["P002"].number
    assert api.get(f"/api/v1/platforms/P001/fees/invoices/{other}/").status_code == 404
    for path in ("fees/invoices/", f"fees/invoices/{other}/", "fees/accruals/", "fees/schedule/"):
        response = api.get(f"/api/v1/platforms/P002/{path}")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_a_bank_client_is_refused_on_fee_endpoints(client, billed):
    response = signed(client, "*").get("/api/v1/platforms/P001/fees/invoices/")
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_scope")
