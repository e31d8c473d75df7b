"""The console's trial balance (试算平衡表) after postings through the real ledger."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from django.urls import reverse

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.selectors import internal_account
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

URL = "/admin/accounts/subject/trial-balance/"


def test_admin_trial_balance_url_is_stable():
    assert reverse("admin:accounts_trial_balance") == URL


def test_admin_trial_balance_balances_after_postings(console, make_account, make_party, fund, clearing):
    lender = fund(make_account(), "1000.00")
    merchant = fund(make_account(party=make_party("商户 M", "organisation"), role=Role.MERCHANT, tier="corporate"), "250.50")
    fee = internal_account(Role.FEE_INCOME)
    ledger.post_transfer(
        client="test",
        idempotency_key=str(uuid4()),
        kind="fee",
        legs=ledger.move(from_account_id=merchant.pk, to_account_id=fee.pk, amount=Decimal("0.50")),
    )
    ledger.hold_place(client="test", idempotency_key="hold-1", account_id=lender.pk, amount=Decimal("10.00"), reason="bid")

    client = console("auditor")
    response = client.get(URL)
    assert response.status_code == 200
    report = response.context["report"]
    tb = report.trial_balance
    assert tb.balanced
    assert report.drifts == []
    assert tb.total_debit == tb.total_credit == Decimal("1251.00")
    rows = {row.subject.code: row for row in tb.rows}
    assert rows["100201"].balance == Decimal("1250.50")  # clearing funds (asset, debit side) received the deposits
    assert rows["201101"].balance == Decimal("1000.00")
    assert rows["201201"].balance == Decimal("250.00")
    assert rows["602101"].balance == Decimal("0.50")
    content = response.content.decode()
    assert 'id="total-debit">1,251.00<' in content and 'id="total-credit">1,251.00<' in content
    assert 'class="tb-ok"' in content and 'id="no-drifts"' in content
    assert "试算平衡表" in content or "Trial balance" in content


def test_admin_trial_balance_lists_drifts(console, make_account, fund):
    from accounts.ledger.models import Account

    account = fund(make_account(), "10.00")
    Account.objects.filter(pk=account.pk).update(balance=Decimal("11.00"))  # simulated corruption, bypassing the ledger
    client = console("auditor")
    response = client.get(URL)
    drifts = response.context["report"].drifts
    assert [(d.kind, d.target) for d in drifts] == [("balance", account.number)]
    assert account.number.encode() in response.content
    assert b'id="drifts"' in response.content
    drift_row = response.content.decode().split('id="drifts"')[1].split("</table>")[0]
    assert "账户余额" in drift_row and ">balance<" not in drift_row  # a label, not the check's code
    assert ">10.00<" in drift_row and ">11.00<" in drift_row


def test_admin_trial_balance_amounts_have_thousands_separators(console, make_account, fund):
    fund(make_account(), "1234567.89")
    content = console("auditor").get(URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="total-debit">1,234,567.89<' in content and 'id="total-credit">1,234,567.89<' in content
    row = content.split('data-subject="201101"')[1].split("</tr>")[0]
    assert ">1,234,567.89<" in row and "1234567.89" not in row


def test_admin_index_links_to_the_trial_balance(console):
    client = console("auditor")
    index = client.get("/admin/")
    assert index.status_code == 200
    assert URL.encode() in index.content


def test_admin_trial_balance_needs_view_permission(client):
    from accounts.tests.admin_support import make_staff, sign_in_verified

    sign_in_verified(client, make_staff("nobody-special"))
    assert client.get(URL).status_code == 403
    assert URL.encode() not in client.get("/admin/").content


def _post_at(monkeypatch, when, **kwargs):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: dt.datetime.fromisoformat(when).replace(tzinfo=ZoneInfo("Asia/Shanghai")))
        return ledger.post_transfer(client="test", idempotency_key=str(uuid4()), **kwargs)


def test_admin_trial_balance_as_of_a_business_date_and_as_xlsx(console, make_account, clearing, monkeypatch):
    import io

    import openpyxl

    from accounts.tests.export_support import body

    account = make_account()
    for when, amount in (("2026-03-01 23:30", "1000.00"), ("2026-03-02 00:10", "234.56")):
        legs = ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=Decimal(amount))
        _post_at(monkeypatch, when, kind="funding", legs=legs)
    client = console("auditor")
    # As of 1 March (Asia/Shanghai): the 23:30 posting is in, the one 40 minutes later is not.
    response = client.get(URL + "?as_of=2026-03-01")
    assert response.status_code == 200
    tb = response.context["tb"]
    assert tb.balanced and tb.total_debit == Decimal("1000.00")
    assert response.context["report"] is None  # drifts are about today's balances
    assert client.get(URL).context["tb"].total_debit == Decimal("1234.56")
    # The XLSX export: money as number cells with a two-decimal format, the date in the header.
    export = client.get(URL + "?as_of=2026-03-01&export=xlsx")
    assert export.status_code == 200 and "trial-balance-20260301.xlsx" in export["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(body(export))).active
    rows = [list(row) for row in sheet.iter_rows()]
    assert rows[1][1].is_date and rows[1][1].value.date().isoformat() == "2026-03-01"
    start = next(i for i, row in enumerate(rows) if row[0].value == "subject / 科目代码")
    total = next(row for row in rows if row[0].value == "Total / 合计")
    assert total[3].data_type == "n" and total[3].value == 1000 and total[3].number_format == "#,##0.00"
    clearing_row = next(row for row in rows[start + 1 :] if row[0].value == "100201")
    assert clearing_row[7].value == 1000


def test_admin_trial_balance_bad_as_of_is_a_form_error(console):
    response = console("auditor").get(URL + "?as_of=2026-02-30")
    assert response.status_code == 200 and response.context["form"].errors
