"""Statement exports that open as numbers (issue #13) and stay in constant memory (issue #14).

XLSX: amounts are number cells with a ``#,##0.00`` format, times are date cells (Asia/Shanghai
wall clock), a header block (account, holder, period, opening and closing balance), a sheet named
after the account and period, kinds as labels, sides as money in / out (portal) or debit / credit
(console); no accounting subject in a customer's export; a withdrawal's fee on its own line.
CSV: a BOM and the same columns. Above ``ACCOUNTS_EXPORT_SYNC_MAX_ROWS`` an export is a background
job with a progress page and an owner-only download.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from urllib.parse import urlencode
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from accounts.exports.models import ExportJob
from accounts.exports.services import export_job_run
from accounts.exports.statements import PORTAL, StatementQuery, statement_rows
from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.payments import withdrawals
from accounts.payments.models import Channel
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from accounts.tests.export_support import body, statement_workbook
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]

SHANGHAI = ZoneInfo("Asia/Shanghai")
PASSWORD = "portal-test-pass-2026"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def post(clearing, monkeypatch):
    def do(account, amount, *, kind="funding", memo="", at: dt.datetime | None = None, out: bool = False):
        source, target = (account, clearing) if out else (clearing, account)
        legs = ledger.move(from_account_id=source.pk, to_account_id=target.pk, amount=Decimal(amount))
        with monkeypatch.context() as patch:
            if at is not None:
                patch.setattr(timezone, "now", lambda: at.replace(tzinfo=SHANGHAI))
            return ledger.post_transfer(client="t", idempotency_key=str(uuid4()), kind=kind, legs=legs, memo=memo)

    return do


@pytest.fixture
def holder(make_party, make_account, django_user_model, post):
    """张三's lender account: 1,234.56 in on 5 Jan, 0.10 in on 6 Jan, 200.00 out on 7 Jan 2026."""
    party = make_party("张三")
    account = make_account(party=party, role=Role.LENDER)
    user = django_user_model.objects.create_user(username="holder", password=PASSWORD)
    party.portal_users.add(user)
    post(account, "1234.56", kind="recharge", memo="首笔 first", at=dt.datetime(2026, 1, 5, 10, 0))
    post(account, "0.10", kind="recharge", at=dt.datetime(2026, 1, 6, 23, 30))
    post(account, "200.00", kind="withdrawal", out=True, at=dt.datetime(2026, 1, 7, 9, 15))
    return {"party": party, "account": account, "user": user}


def _portal_export(client, account, **query):
    return client.get(reverse("portal:statement_export", args=[account.number]) + "?" + urlencode(query))


def test_portal_xlsx_has_numbers_dates_header_block_and_labels(client, holder):
    client.force_login(holder["user"])
    with translation.override("zh-hans"):
        response = _portal_export(
            client, holder["account"], format="xlsx", date_from="2026-01-06", date_to="2026-01-07", language="zh-hans"
        )
    assert response.status_code == 200
    sheet, block, header, rows = statement_workbook(body(response))
    number = holder["account"].number
    # A sheet named after the account and the period.
    assert sheet.title == f"{number} 260106-260107"
    # The header block: account, holder, period (date cells), opening and closing balance (numbers).
    assert block["account / 账号"] == [number]
    assert block["holder / 户名"] == ["张三"]
    assert [d.date() for d in block["period / 期间"]] == [dt.date(2026, 1, 6), dt.date(2026, 1, 7)]
    assert block["opening balance / 期初余额"] == [1234.56]
    assert block["closing balance / 期末余额"] == [1034.66]
    # No accounting subject in a customer's export.
    assert header == [
        "posted_at / 记账时间",
        "voucher / 凭证号",
        "kind / 业务类型",
        "in/out / 收支",
        "amount / 金额",
        "balance / 余额",
        "memo / 摘要",
    ]
    amount, balance, when = header.index("amount / 金额"), header.index("balance / 余额"), header.index("posted_at / 记账时间")
    assert [row[amount].value for row in rows] == [200, 0.1]
    assert all(row[amount].data_type == "n" and row[amount].number_format == "#,##0.00" for row in rows)
    assert [row[balance].value for row in rows] == [1034.66, 1234.66]
    # Times are dates, in Asia/Shanghai (23:30 in Beijing is 15:30 UTC: still the 6th).
    assert rows[1][when].is_date and rows[1][when].value == dt.datetime(2026, 1, 6, 23, 30)
    assert [row[header.index("in/out / 收支")].value for row in rows] == ["支出", "收入"]
    assert [row[header.index("kind / 业务类型")].value for row in rows] == ["提现", "充值"]


def test_portal_csv_keeps_its_bom_and_the_same_columns(client, holder):
    client.force_login(holder["user"])
    xlsx = statement_workbook(body(_portal_export(client, holder["account"], format="xlsx")))
    response = _portal_export(client, holder["account"], format="csv")
    assert response.streaming  # streamed row by row, never built whole in memory
    content = body(response)
    assert content.startswith("\ufeff".encode())
    header, *rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert header == xlsx[2]
    assert [row[header.index("amount / 金额")] for row in rows] == ["200.00", "0.10", "1234.56"]
    assert rows[2][0] == "2026-01-05 10:00:00"


def test_r_fee_04_portal_statement_shows_the_withdrawal_fee_on_its_own_line(
    client, customer, fund, make_channel, django_user_model
):
    make_channel(strategy=Channel.Strategy.TRANSIT, withdrawal_fee=Decimal("2.00"))
    account = fund(customer(), "1000.00")
    withdrawals.withdrawal_create(
        client="test", out_request_no="fee-1", account=account, amount="300.00", authorization=PASSWORD_AUTH
    )
    with translation.override("en"):
        rows = list(statement_rows(StatementQuery(account_id=account.pk, audience=PORTAL), account))
    # Newest first: the fee (2.00, balance 698.00), then the withdrawal itself (300.00, balance 700.00).
    assert [(r[2], r[4], r[5]) for r in rows[:2]] == [
        ("Fee", Decimal("2.00"), Decimal("698.00")),
        ("Withdrawal", Decimal("300.00"), Decimal("700.00")),
    ]


def test_console_xlsx_keeps_debit_credit_and_subject(console, holder):
    client = console("auditor")
    url = reverse("admin:accounts_account_statement", args=[holder["account"].pk])
    sheet, block, header, rows = statement_workbook(body(client.get(url + "?export=xlsx")))
    assert "subject / 科目" in header and "side / 借贷" in header
    assert {row[header.index("side / 借贷")].value for row in rows} == {"借", "贷"}  # the console's zh-hans labels
    assert block["opening balance / 期初余额"] == [0] and block["closing balance / 期末余额"] == [1034.66]


def test_no_cell_can_run_a_formula(client, holder, post):
    post(holder["account"], "1.00", kind="recharge", memo='=HYPERLINK("http://x","y")')
    post(holder["account"], "1.00", kind="recharge", memo="@SUM(A1)\x07")
    client.force_login(holder["user"])
    _sheet, _block, header, rows = statement_workbook(body(_portal_export(client, holder["account"], format="xlsx")))
    assert all(cell.data_type != "f" for row in rows for cell in row)
    memos = [row[header.index("memo / 摘要")].value for row in rows]
    assert '\'=HYPERLINK("http://x","y")' in memos and "'@SUM(A1)" in memos


# -- background jobs (issue #14) --------------------------------------------------------------


def test_portal_export_above_the_limit_runs_as_a_job_with_progress_and_download(
    client, holder, settings, django_capture_on_commit_callbacks, django_user_model
):
    settings.ACCOUNTS_EXPORT_SYNC_MAX_ROWS = 2
    client.force_login(holder["user"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _portal_export(client, holder["account"], format="xlsx")
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("portal:export_job", args=[job.pk])
    assert (job.state, job.rows_total, job.owner, job.audience) == ("queued", 3, holder["user"], "portal")
    waiting = client.get(response["Location"])
    assert '<meta http-equiv="refresh"' in waiting.content.decode() and "export-download" not in waiting.content.decode()
    assert client.get(reverse("portal:export_job_download", args=[job.pk])).status_code == 404
    for callback in callbacks:  # the worker runs the task
        callback()
    job.refresh_from_db()
    assert (job.state, job.rows_done) == ("done", 3)
    page = client.get(reverse("portal:export_job", args=[job.pk])).content.decode()
    assert "refresh" not in page and reverse("portal:export_job_download", args=[job.pk]) in page
    download = client.get(reverse("portal:export_job_download", args=[job.pk]))
    assert download.status_code == 200
    _sheet, block, header, rows = statement_workbook(body(download))
    assert [row[header.index("amount / 金额")].value for row in rows] == [200, 0.1, 1234.56]
    # Only its owner sees it.
    other = django_user_model.objects.create_user(username="other", password=PASSWORD)
    client.force_login(other)
    assert client.get(reverse("portal:export_job", args=[job.pk])).status_code == 404
    assert client.get(reverse("portal:export_job_download", args=[job.pk])).status_code == 404


def test_console_export_above_the_limit_runs_as_a_job(console, holder, settings, django_capture_on_commit_callbacks):
    settings.ACCOUNTS_EXPORT_SYNC_MAX_ROWS = 2
    client = console("auditor")
    url = reverse("admin:accounts_account_statement", args=[holder["account"].pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(url + "?export=csv")
    job = ExportJob.objects.get()
    assert response["Location"] == reverse("admin:accounts_account_export_job", args=[job.pk])
    assert job.state == "done"
    page = client.get(response["Location"]).content.decode()
    assert 'id="export-download"' in page
    download = client.get(reverse("admin:accounts_account_export_download", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(body(download).decode("utf-8-sig"))))
    assert len(rows) == 4 and "subject / 科目" in rows[0]


def test_a_job_that_fails_is_marked_failed_not_raised(holder):
    job = ExportJob.objects.create(owner=holder["user"], audience="portal", account=holder["account"], fmt="pdf", params={})
    assert export_job_run(job_id=job.pk).state == "failed"
    assert export_job_run(job_id=job.pk).state == "failed"  # idempotent: a finished job is left alone


def test_every_voucher_kind_has_a_label():
    from accounts.exports.labels import KIND_LABELS
    from accounts.ledger.rules import POSTING_RULES

    real = {kind for kind, rule in POSTING_RULES.items() if rule.purpose != "test-only ad-hoc voucher kind"}
    assert real <= set(KIND_LABELS)
