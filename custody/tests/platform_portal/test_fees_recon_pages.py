"""The platform portal's Fees (存管费) and Reconciliation (对账) pages: isolation between platforms
(404), a viewer cannot upload (no button, 403), an upload with bad lines lists them by number and
stores nothing, the fee page's figures are the accruals, the invoice export has number cells and no
formula; and the demo seed's fee schedules, accruals, invoice and reconciliation days, run twice."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Transfer
from backoffice.dates import business_date
from backoffice.models import AuditLog
from custody.fees import selectors as fee_selectors
from custody.fees import services as fees
from custody.fees.models import FeeAccrual, FeeBand, FeeInvoice, FeeSchedule
from custody.models import PlatformUser, SubAccount
from custody.reconciliation.files import HEADER
from custody.reconciliation.models import ReconciliationDay, ReconciliationFile, ReconciliationItem

pytestmark = pytest.mark.django_db


def url(name: str, platform, *args) -> str:
    return reverse(f"custody_portal:platform:{name}", args=[platform.code, *args])


def owner(platform) -> PlatformUser:
    return PlatformUser.objects.get(platform=platform, role="owner")


def today() -> dt.date:
    return business_date(timezone.now())


def csv_file(*lines: str, name: str = "daily.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\n".join([",".join(HEADER), *lines]) + "\n").encode(), content_type="text/csv")


# -- isolation and roles ---------------------------------------------------------------------------


def test_isolation_another_platforms_user_gets_404_on_fees_and_reconciliation(demo, make_platform, platform_user, signed_in):
    other = make_platform("P002")
    client = signed_in(platform_user(other, "owner"))
    invoice = FeeInvoice.objects.get(platform=demo)
    for address in (
        url("fees", demo),
        url("invoice_print", demo, invoice.number),
        url("invoices_export", demo),
        url("reconciliation", demo),
        url("reconciliation_upload", demo),
    ):
        assert client.get(address).status_code == 404, address
    before = ReconciliationFile.objects.count()
    assert client.post(url("reconciliation_upload", demo), {"file": csv_file()}).status_code == 404
    # DEMO's invoice under P002's own code is not P002's
    assert client.get(url("invoice_print", other, invoice.number)).status_code == 404
    assert client.get(url("invoices_export", other), {"number": invoice.number}).status_code == 404
    assert invoice.number not in client.get(url("fees", other)).content.decode()
    assert client.get(url("reconciliation", other)).context["rows"] == []
    assert ReconciliationFile.objects.count() == before


def test_r_dep_07_viewer_sees_results_but_cannot_upload(demo, platform_user, signed_in):
    client = signed_in(platform_user(demo, "viewer"))
    page = client.get(url("reconciliation", demo))
    assert page.status_code == 200 and page.context["can_upload"] is False
    assert url("reconciliation_upload", demo) not in page.content.decode()  # no button
    assert client.get(url("reconciliation_upload", demo)).status_code == 403
    before = ReconciliationFile.objects.count()
    lender = SubAccount.objects.filter(platform=demo).order_by("pk").first()
    refused = client.post(
        url("reconciliation_upload", demo), {"file": csv_file(f"balance,{today()},,,{lender.account.number},0.00,")}
    )
    assert refused.status_code == 403
    assert ReconciliationFile.objects.count() == before


@pytest.mark.parametrize("role", ["finance", "owner"])
def test_r_rec_02_upload_with_bad_lines_lists_them_by_number_and_stores_nothing(role, demo, platform_user, signed_in):
    uploader = owner(demo) if role == "owner" else platform_user(demo, role)
    client = signed_in(uploader)
    assert url("reconciliation_upload", demo) in client.get(url("reconciliation", demo)).content.decode()
    lender = SubAccount.objects.filter(platform=demo).select_related("account").order_by("pk").first()
    day = today() - dt.timedelta(days=3)
    counts = [m.objects.count() for m in (ReconciliationFile, ReconciliationDay, ReconciliationItem)]
    bad = csv_file(
        f"balance,{day},,,{lender.account.number},0.00,",
        f"instruction,{day},teleport,X-1,{lender.account.number},10.00,succeeded",  # line 3: type
        f"balance,{day},,,123,abc,",  # line 4: sub_account and amount
    )
    answer = client.post(url("reconciliation_upload", demo), {"file": bad})
    assert answer.status_code == 422
    lines = sorted({e["line"] for e in answer.context["line_errors"]})
    assert lines == [3, 4]
    html = answer.content.decode()
    assert 'data-line="3"' in html and 'data-line="4"' in html and "未导入任何记录" in html
    assert [m.objects.count() for m in (ReconciliationFile, ReconciliationDay, ReconciliationItem)] == counts

    good = csv_file(*(f"balance,{day},,,{s.account.number},0.00," for s in SubAccount.objects.filter(platform=demo)))
    done = client.post(url("reconciliation_upload", demo), {"file": good})
    assert done.status_code == 302
    imported = ReconciliationFile.objects.get(platform=demo, business_date=day)
    assert imported.source == "portal" and imported.uploaded_by_id == uploader.user_id
    assert ReconciliationDay.objects.get(platform=demo, business_date=day).state == "reconciled"
    assert AuditLog.objects.filter(action="custody.reconciliation.import", target_id=str(imported.pk)).exists()


def test_r_dep_07_reconciliation_page_lists_each_days_differences(demo, signed_in):
    client = signed_in(owner(demo))
    page = client.get(url("reconciliation", demo))
    rows = {r["day"]: r for r in page.context["rows"]}
    unreconciled = ReconciliationDay.objects.get(platform=demo, state="unreconciled")
    reconciled = ReconciliationDay.objects.get(platform=demo, state="reconciled")
    assert rows[reconciled.business_date]["differences"] == []
    differences = rows[unreconciled.business_date]["differences"]
    assert [(d["reference"], d["result_key"], d["platform_amount"]) for d in differences] == [
        ("DEMO-RC-UNKNOWN", "long", "100.00")
    ]
    assert "DEMO-RC-UNKNOWN" in page.content.decode()


# -- fees ------------------------------------------------------------------------------------------


def test_r_fee_01_fee_page_figures_equal_the_accruals(demo, signed_in):
    # today's day accrued as the beat will tomorrow (as_of), so that the page shows a non-zero pool
    accrual = fees.fees_accrue(platform=demo, business_date=today(), as_of=today() + dt.timedelta(days=1))
    assert accrual.basis_amount > 0 and accrual.fee > 0
    page = signed_in(owner(demo)).get(url("fees", demo))
    month = fee_selectors.month_start(today())
    rows = FeeAccrual.objects.filter(platform=demo, business_date__gte=month, business_date__lte=today())
    schedule = fee_selectors.schedule_in_force(platform=demo, day=today())
    assert schedule.rounding == "at_invoice"  # Σ unrounded, rounded once (R-FEE-01), as the invoice will count it
    total = sum((a.fee_exact for a in rows), Decimal("0")).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert page.context["accrued_total"] == f"{total:,.2f}"
    assert [(r["day"], r["fee"], r["basis"]) for r in page.context["accruals"]] == [
        (a.business_date, f"{a.fee:,.2f}", f"{a.basis_amount:,.2f}") for a in rows.order_by("business_date")
    ]
    html = page.content.decode()
    assert f'data-day="{today():%Y-%m-%d}">{accrual.fee:,.2f}<' in html
    assert f"{accrual.basis_amount:,.2f}" in html and "," in f"{accrual.basis_amount:,.2f}"  # thousands separator
    in_force = page.context["in_force"]
    assert in_force["version"] == 1 and [b["lower"] for b in in_force["bands"]] == ["0.00", "1,000,000.00", "10,000,000.00"]
    assert [s["version"] for s in page.context["history"]] == [2, 1]
    assert FeeBand.objects.filter(schedule__platform=demo).count() == 6
    invoice = FeeInvoice.objects.get(platform=demo)
    assert [i["number"] for i in page.context["invoices"]] == [invoice.number]
    assert "<script" not in html


def test_r_fee_05_invoice_print_and_export_have_numbers_and_no_formula(demo, signed_in):
    client = signed_in(owner(demo))
    invoice = FeeInvoice.objects.get(platform=demo)
    printed = client.get(url("invoice_print", demo, invoice.number))
    assert printed.status_code == 200
    html = printed.content.decode()
    assert invoice.number in html and f"{invoice.total:,.2f}" in html and "<script" not in html
    answer = client.get(url("invoices_export", demo), {"number": invoice.number})
    assert answer.status_code == 200 and answer["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    amount_col = header.index("amount / 金额")
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == invoice.lines.count()
    assert all(isinstance(row[amount_col], (int, float)) for row in rows)  # number cells
    assert Decimal(str(sum(row[amount_col] for row in rows))).quantize(Decimal("0.01")) == invoice.total


# -- the demo seed ---------------------------------------------------------------------------------


def test_seed_fees_and_reconciliation_run_twice_change_nothing_and_leave_the_ledger_clean(seed):
    seed()
    models = (FeeSchedule, FeeBand, FeeAccrual, FeeInvoice, ReconciliationFile, ReconciliationDay, ReconciliationItem, Transfer)
    first = [m.objects.count() for m in models]
    seed()
    assert [m.objects.count() for m in models] == first
    schedules = list(FeeSchedule.objects.filter(platform__code="DEMO").order_by("version"))
    assert [(s.mode, s.state) for s in schedules] == [("whole_amount", "approved"), ("marginal", "draft")]
    approved = schedules[0]
    assert approved.created_by is not None and approved.reviewed_by is not None and approved.created_by != approved.reviewed_by
    this_month = fee_selectors.month_start(today())
    last_month = fee_selectors.month_start(this_month - dt.timedelta(days=1))
    assert FeeAccrual.objects.filter(platform__code="DEMO").count() == (today() - last_month).days  # every closed day
    invoice = FeeInvoice.objects.get(platform__code="DEMO")
    assert invoice.month == last_month and invoice.state == "issued" and invoice.total == Decimal("500.00")
    days = dict(ReconciliationDay.objects.filter(platform__code="DEMO").values_list("state", "business_date"))
    assert days == {"reconciled": today() - dt.timedelta(days=1), "unreconciled": today() - dt.timedelta(days=2)}
    assert ledger_drift() == []
    call_command("ledger_check", stdout=io.StringIO())  # exits non-zero on any drift
