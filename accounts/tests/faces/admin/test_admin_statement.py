"""The console's account statement: filters, pagination, CSV and XLSX exports, date validation."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from uuid import uuid4

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from accounts.tests.export_support import body, statement_workbook
from backoffice.models import AuditLog

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


@pytest.fixture
def funded(make_account, fund, clearing):
    """An account with a 123.45 funding, a 20.00 fee-like debit of kind 'withdrawal' and a 1.00 top-up."""
    account = fund(make_account(), "123.45")
    ledger.post_transfer(
        client="test",
        idempotency_key=str(uuid4()),
        kind="withdrawal",
        legs=ledger.move(from_account_id=account.pk, to_account_id=clearing.pk, amount=Decimal("20.00")),
        memo="提现 withdrawal",
    )
    fund(account, "1.00")
    return account


def url(account, **params):
    from urllib.parse import urlencode

    base = reverse("admin:accounts_account_statement", args=[account.pk])
    return f"{base}?{urlencode(params)}" if params else base


def test_admin_statement_lists_entries_with_the_balance_header(console, funded):
    client = console("auditor")
    response = client.get(url(funded))
    assert response.status_code == 200
    assert len(response.context["rows"]) == 3
    content = response.content.decode()
    assert "123.45" in content and "20.00" in content
    assert 'id="summary-balance">104.45<' in content
    assert 'id="summary-available">104.45<' in content
    assert 'id="summary-frozen">0.00<' in content


def test_admin_statement_is_linked_from_the_account_page(console, funded):
    client = console("auditor")
    page = client.get(reverse("admin:accounts_account_change", args=[funded.pk]))
    assert url(funded).encode() in page.content


def test_admin_statement_filters_by_kind(console, funded):
    client = console("auditor")
    response = client.get(url(funded, kind="withdrawal"))
    rows = response.context["rows"]
    assert [r["entry"].amount for r in rows] == [Decimal("20.00")]
    assert rows[0]["debit"] == Decimal("20.00") and rows[0]["credit"] is None


def test_admin_statement_filters_by_date(console, funded):
    client = console("auditor")
    today = timezone.localdate()
    assert len(client.get(url(funded, date_from=today.isoformat(), date_to=today.isoformat())).context["rows"]) == 3
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert client.get(url(funded, date_from=tomorrow)).context["rows"] == []
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert client.get(url(funded, date_to=yesterday)).context["rows"] == []


@pytest.mark.parametrize("bad", [{"date_from": "2026-13-45"}, {"date_to": "yesterday"}, {"kind": "no-such-kind"}])
def test_admin_statement_bad_filter_shows_a_form_error(console, funded, bad):
    client = console("auditor")
    response = client.get(url(funded, **bad))
    assert response.status_code == 200
    assert response.context["form"].errors
    assert b"errorlist" in response.content
    export = client.get(url(funded, export="csv", **bad))
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/html")


def test_admin_statement_start_after_end_is_an_error(console, funded):
    client = console("auditor")
    response = client.get(url(funded, date_from="2026-02-02", date_to="2026-02-01"))
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()


def test_admin_statement_paginates_fifty_a_page(console, make_account, fund):
    account = make_account()
    for _ in range(55):
        fund(account, "1.00")
    client = console("auditor")
    first = client.get(url(account))
    assert len(first.context["rows"]) == 50
    assert first.context["page"].paginator.num_pages == 2
    second = client.get(url(account, page=2))
    assert len(second.context["rows"]) == 5
    assert second.context["rows"][-1]["entry"].balance_after == Decimal("1.00")  # oldest last
    assert client.get(url(account, page="zzz")).status_code == 200


def _csv_rows(response):
    text = body(response).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_admin_statement_csv_export_has_exact_amounts(console, funded):
    client = console("auditor")
    response = client.get(url(funded, export="csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"statement-{funded.number}-" in response["Content-Disposition"]
    content = body(response)
    assert content.startswith("\ufeff".encode())  # the BOM: Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(rows) == 3
    amounts = sorted(row["amount / 金额"] for row in rows)
    assert amounts == ["1.00", "123.45", "20.00"]
    assert "123.45" in {row["balance / 余额"] for row in rows}
    assert AuditLog.objects.filter(action="account.statement_export", target_id=str(funded.pk)).exists()


def test_admin_statement_csv_export_keeps_the_filters(console, funded):
    client = console("auditor")
    rows = _csv_rows(client.get(url(funded, kind="funding", export="csv")))
    assert sorted(row["amount / 金额"] for row in rows) == ["1.00", "123.45"]


def test_admin_statement_xlsx_export_opens_with_openpyxl(console, funded):
    client = console("auditor")
    response = client.get(url(funded, export="xlsx"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet, block, header, body_rows = statement_workbook(body(response))
    assert len(body_rows) == 3
    amount_col = header.index("amount / 金额")
    assert all(row[amount_col].data_type == "n" for row in body_rows)
    assert sorted(row[amount_col].value for row in body_rows) == [1, 20, 123.45]
    assert body_rows[0][amount_col].number_format == "#,##0.00"
    # The console keeps the accounting side and subject, with labels.
    sides = {row[header.index("side / 借贷")].value for row in body_rows}
    assert sides == {"借", "贷"}  # the console's zh-hans labels
    assert "subject / 科目" in header
    assert block["account / 账号"] == [funded.number]
    assert sheet.title.startswith(funded.number)


def test_admin_statement_needs_view_permission(client, make_account):
    from accounts.tests.admin_support import make_staff, sign_in_verified

    account = make_account()
    sign_in_verified(client, make_staff("nogroup"))
    assert client.get(url(account)).status_code == 403
    assert client.get(url(account, export="csv")).status_code == 403


def test_admin_statement_requires_a_console_session(client, make_account):
    account = make_account()
    response = client.get(url(account))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
