"""The platform's reconciliation endpoints: a signed raw-CSV upload (idempotent by file hash,
malformed lines answered with their numbers), results, report downloads; platform A's key never
reads platform B's results (404)."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from accounts.tests.api_helpers import signed
from custody.reconciliation import services as recon
from custody.reconciliation.models import ReconciliationFile
from custody.tests.reconciliation.conftest import at, csv_file, entries_to

pytestmark = pytest.mark.django_db

URL = "/api/v1/platforms/{code}/reconciliation/files/"


def upload(api, code: str, content: bytes, content_type: str = "text/csv"):
    path = URL.format(code=code)
    return api.http.post(path, data=content, content_type=content_type, headers=api.headers("POST", path, content))


@pytest.fixture
def funded(platform, lender, day):
    a = lender("5000.00")
    entries_to(at(day, 9), a.account)
    return a


def test_r_rec_01_upload_by_api_reconciles_and_the_same_file_is_imported_once(client, platform, funded, day):
    api = signed(client, "platform:P001")
    content = csv_file(day, balances=[(funded.account.number, "5000.00")])
    first = upload(api, "P001", content)
    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["state"], body["matched"], body["created"], body["business_date"]) == ("reconciled", 1, True, day.isoformat())
    again = upload(api, "P001", content)
    assert (again.status_code, again.json()["created"], again.json()["file_sha256"]) == (200, False, body["file_sha256"])
    assert ReconciliationFile.objects.count() == 1
    days = api.get("/api/v1/platforms/P001/reconciliation/days/").json()
    assert len(days["results"]) == 1 and days["results"][0]["state"] == "reconciled"
    detail = api.get(f"/api/v1/platforms/P001/reconciliation/days/{day}/").json()
    assert detail["items"] == [
        {
            "line": 2,
            "kind": "balance",
            "type": "",
            "out_request_no": "",
            "sub_account": funded.account.number,
            "platform_amount": "5000.00",
            "bank_amount": "5000.00",
            "platform_state": "",
            "bank_state": "",
            "bank_date": None,
            "result": "matched",
            "note": "",
        }
    ]


def test_r_rec_01_malformed_upload_answers_line_errors_and_stores_nothing(client, platform, funded, day):
    api = signed(client, "platform:P001")
    content = csv_file(day, balances=[(funded.account.number, "5000.001")]) + f"balance,{day},,,123,1.00,\n".encode()
    refused = upload(api, "P001", content)
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "reconciliation_file_invalid"
    assert [(e["line"], e["field"]) for e in body["data"]["errors"]] == [(2, "amount"), (3, "sub_account")]
    assert not ReconciliationFile.objects.exists()
    assert upload(api, "P001", b"{}", content_type="application/json").status_code == 415


def test_isolation_platform_a_cannot_read_platform_b_results(client, platform, funded, make_platform, day):
    make_platform("P002")
    recon.reconciliation_file_import(
        platform=platform, content=csv_file(day, balances=[(funded.account.number, "5000.00")]), source="api"
    )
    other = signed(client, "platform:P002")
    for path in (
        "/api/v1/platforms/P001/reconciliation/days/",
        f"/api/v1/platforms/P001/reconciliation/days/{day}/",
        f"/api/v1/platforms/P001/reports/daily/?date={day}",
    ):
        response = other.get(path)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), path
    assert upload(other, "P001", csv_file(day)).status_code == 404
    assert len(other.get("/api/v1/platforms/P002/reconciliation/days/").json()["results"]) == 0
    assert other.get(f"/api/v1/platforms/P002/reconciliation/days/{day}/").status_code == 404
    response = signed(client, "*").get("/api/v1/platforms/P001/reconciliation/days/")
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_scope")


def test_r_dep_09_reports_download_as_csv_and_xlsx_with_numbers(client, platform, funded, day, today):
    api = signed(client, "platform:P001")
    csv_response = api.get(f"/api/v1/platforms/P001/reports/daily/?date={day}&file_type=csv")
    assert csv_response.status_code == 200, csv_response.content
    assert csv_response["Content-Type"].startswith("text/csv")
    text = csv_response.content.decode("utf-8-sig")
    assert "5000.00" in text and funded.account.number in text
    xlsx = api.get(f"/api/v1/platforms/P001/reports/daily/?date={day}&file_type=xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    amounts = [row[4] for row in sheet.iter_rows(min_row=2, values_only=True) if row[0] == "pool closing / 资金池"]
    assert all(isinstance(value, (int, float)) for value in amounts) and max(amounts) == 5000
    assert not any(isinstance(cell, str) and cell.startswith("=") for row in sheet.iter_rows(values_only=True) for cell in row)
    refused = api.get(f"/api/v1/platforms/P001/reports/monthly/?date={today}")
    assert (refused.status_code, refused.json()["code"]) == (409, "period_not_closed")
    assert api.get(f"/api/v1/platforms/P001/reports/weekly/?date={day}").status_code == 404
