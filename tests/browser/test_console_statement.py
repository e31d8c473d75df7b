"""An operator signs into the console with password and TOTP code and reads an account's statement."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from accounts.ledger.selectors import internal_account
from accounts.parties.services import account_open, party_create, party_kyc_approve
from accounts.tests.admin_support import make_staff
from conftest import random_id_number
from tests.browser.signin import console_sign_in

SCREENSHOT = "/tmp/console_statement.png"


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_console_sign_in_with_totp_then_statement_shows_entries(live_server, page, settings):
    from accounts.ledger import postings as ledger
    from accounts.ledger.chart import Role

    # DATABASE_URL set means "production" cookie flags; the live server speaks plain HTTP.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ADMIN_OTP_REQUIRED = True

    party = party_create(type="person", name="浏览器测试 Browser Test", id_number=random_id_number())
    party_kyc_approve(party_id=party.pk, actor_label="test")
    account = account_open(party=party, role=Role.LENDER, tier="I")
    clearing = internal_account(Role.CLEARING)
    for amount in ("123.45", "6.55"):
        ledger.post_transfer(
            client="browser-test",
            idempotency_key=str(uuid4()),
            kind="funding",
            legs=ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=Decimal(amount)),
            memo="浏览器测试入账 browser funding",
        )
    user = make_staff("browser-auditor", "auditor")

    statement = f"/admin/accounts/account/{account.pk}/statement/"
    console_sign_in(page, live_server, user, statement)  # one device: password and code in one submit
    rows = page.locator("#statement-entries tr.entry-row")
    assert rows.count() == 2
    assert "123.45" in rows.nth(1).inner_text()
    assert "6.55" in rows.nth(0).inner_text()
    assert page.locator("#summary-balance").inner_text() == "130.00"
    page.screenshot(path=SCREENSHOT, full_page=True)


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_console_statement_xlsx_downloads_with_numeric_amounts_and_a_big_one_runs_as_a_job(live_server, page, settings, tmp_path):
    """The XLSX the browser downloads opens with openpyxl and holds numbers; above the sync limit
    the export becomes a job whose page shows the progress and then the download link."""
    import io
    from pathlib import Path

    import openpyxl

    from accounts.ledger import postings as ledger
    from accounts.ledger.chart import Role

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ADMIN_OTP_REQUIRED = True
    settings.MEDIA_ROOT = str(tmp_path / "media")
    shots = Path("/tmp/shots-exports")
    shots.mkdir(exist_ok=True)

    party = party_create(type="person", name="导出测试 Export Test", id_number=random_id_number())
    party_kyc_approve(party_id=party.pk, actor_label="test")
    account = account_open(party=party, role=Role.LENDER, tier="I")
    clearing = internal_account(Role.CLEARING)
    for amount in ("12345.67", "6.55"):
        ledger.post_transfer(
            client="browser-test",
            idempotency_key=str(uuid4()),
            kind="funding",
            legs=ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=Decimal(amount)),
            memo="导出测试 export",
        )
    user = make_staff("browser-exporter", "auditor")
    statement = f"/admin/accounts/account/{account.pk}/statement/"
    console_sign_in(page, live_server, user, statement)

    def open_download(download):
        content = Path(download.path()).read_bytes()
        sheet = openpyxl.load_workbook(io.BytesIO(content)).active
        rows = [list(row) for row in sheet.iter_rows()]
        start = next(i for i, row in enumerate(rows) if row[0].value == "posted_at / 记账时间")
        header = [cell.value for cell in rows[start]]
        return sheet, rows[:start], header, rows[start + 1 :]

    # Small: downloaded at once.
    with page.expect_download() as info:
        page.click("a[href*='export=xlsx']")
    sheet, block, header, rows = open_download(info.value)
    amount = header.index("amount / 金额")
    assert [row[amount].value for row in rows] == [6.55, 12345.67]
    assert all(row[amount].data_type == "n" and row[amount].number_format == "#,##0.00" for row in rows)
    assert rows[0][0].is_date
    assert sheet.title.startswith(account.number)
    assert any(r[0].value == "holder / 户名" and r[1].value == "导出测试 Export Test" for r in block)

    # Big (above the limit): a job, its page, then the download link.
    settings.ACCOUNTS_EXPORT_SYNC_MAX_ROWS = 1
    page.click("a[href*='export=xlsx']")
    page.wait_for_url("**/admin/accounts/account/exports/*/")
    page.wait_for_selector("#export-download", timeout=20000)  # the page refreshes itself until done
    assert page.locator("#export-progress").get_attribute("value") == "100"
    page.screenshot(path=str(shots / "console_export_job.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#export-download")
    _sheet, _block, header, rows = open_download(info.value)
    assert [row[header.index("balance / 余额")].value for row in rows] == [12352.22, 12345.67]
