"""Issue 13, "an export opened with openpyxl has numeric amounts", on the portal's side: a holder
downloads the statement as XLSX from the statement page at 390 px, in Chromium, and the workbook
holds numbers with a money format, dates as dates, the sheet named after the account, and sides
and kinds as labels, never codes. (The console's side is tests/browser/test_console_statement.py.)"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest

from conftest import random_id_number
from tests.browser.signin import sign_in

LOGIN_PASSWORD = "portal-export-pass-2026"
CODES = {"recharge", "withdrawal", "debit", "credit", "in", "out"}


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_portal_statement_xlsx_download_has_numeric_amounts(live_server, page, settings, django_user_model):
    import openpyxl

    from accounts.ledger import postings as ledger
    from accounts.ledger.chart import Role
    from accounts.ledger.selectors import internal_account
    from accounts.parties.services import account_open, party_create, party_kyc_approve

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False

    party = party_create(type="person", name="导出客户 Export Holder", id_number=random_id_number())
    party_kyc_approve(party_id=party.pk, actor_label="test")
    account = account_open(party=party, role=Role.LENDER, tier="I")
    clearing = internal_account(Role.CLEARING)
    for kind, amount, inward in (("recharge", "12345.67", True), ("withdrawal", "6.55", False)):
        source, target = (clearing, account) if inward else (account, clearing)
        ledger.post_transfer(
            client="browser-test",
            idempotency_key=str(uuid4()),
            kind=kind,
            legs=ledger.move(from_account_id=source.pk, to_account_id=target.pk, amount=Decimal(amount)),
            memo="门户导出 portal export",
        )
    user = django_user_model.objects.create_user(username="export-holder", password=LOGIN_PASSWORD)
    party.portal_users.add(user)

    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, f"{live_server.url}/portal/login/", user.username, LOGIN_PASSWORD, lands_on=f"{live_server.url}/portal/")
    page.goto(f"{live_server.url}/portal/accounts/{account.number}/")
    with page.expect_download() as info:
        page.click("a[href*='format=xlsx']")
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")

    book = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    sheet = book.active
    assert sheet.title.startswith(account.number)
    rows = [list(row) for row in sheet.iter_rows()]
    start = next(i for i, row in enumerate(rows) if row[0].value == "posted_at / 记账时间")
    header = [cell.value for cell in rows[start]]
    entries = [row for row in rows[start + 1 :] if row[0].value is not None]
    amount, balance = header.index("amount / 金额"), header.index("balance / 余额")

    # Numbers, not text, with a money format; the newest entry first.
    assert [row[amount].value for row in entries] == [6.55, 12345.67]
    assert [row[balance].value for row in entries] == [12339.12, 12345.67]
    for row in entries:
        for cell in (row[amount], row[balance]):
            assert cell.data_type == "n" and "0.00" in cell.number_format, (cell.value, cell.number_format)
        assert row[0].is_date
    # Labels, not codes; no accounting subject in a customer's export.
    labels = {row[header.index("in/out / 收支")].value for row in entries} | {
        row[header.index("kind / 业务类型")].value for row in entries
    }
    assert not labels & CODES, labels
    assert not any("subject" in str(title) for title in header)
