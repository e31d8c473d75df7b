"""Reconciliation in the console: upload on a platform's behalf (line errors shown, nothing
stored), the day's differences listed and searchable, the suspense queue (maker proposes, the
checker's page starts empty and shows inflow, holder and amount; the maker is refused), reverse,
report downloads, and no delete anywhere (R-DEP-08)."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.tests.admin_support import make_staff, sign_in_verified
from custody.admin.reconciliation import (
    CustodyReportAdmin,
    ReconciliationDayAdmin,
    ReconciliationFileAdmin,
    ReconciliationItemAdmin,
    SuspenseAllocationAdmin,
)
from custody.reconciliation import services as recon
from custody.reconciliation.models import (
    ReconciliationDay,
    ReconciliationFile,
    SuspenseAllocation,
    UnidentifiedInflow,
)
from custody.tests.reconciliation.conftest import at, csv_file, entries_to

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    sign_in_verified(client, user)
    return client


@pytest.fixture
def funded(platform, lender, day):
    a = lender("5000.00")
    entries_to(at(day, 9), a.account)
    return a


def test_r_dep_07_upload_on_behalf_shows_line_errors_then_the_day_and_its_differences(platform, funded, day, maker):
    console = as_user(maker)
    url = reverse("admin:custody_reconciliationday_upload")
    assert console.get(url).status_code == 200
    bad = csv_file(day, balances=[(funded.account.number, "5000.001")])
    response = console.post(url, {"platform": platform.pk, "file": SimpleUploadedFile("d.csv", bad, "text/csv")})
    assert response.status_code == 422
    assert "line-errors" in response.content.decode() and not ReconciliationFile.objects.exists()
    good = csv_file(
        day,
        instructions=[("bid", "GHOST", funded.account.number, "1.00", "succeeded")],
        balances=[(funded.account.number, "5000.00")],
    )
    response = console.post(url, {"platform": platform.pk, "file": SimpleUploadedFile("d.csv", good, "text/csv")})
    assert response.status_code == 302
    day_row = ReconciliationDay.objects.get()
    assert (day_row.state, day_row.long, ReconciliationFile.objects.get().source) == ("unreconciled", 1, "console")
    page = console.get(reverse("admin:custody_reconciliationday_change", args=[day_row.pk])).content.decode()
    assert "GHOST" in page and "差异" in page
    listing = console.get(reverse("admin:custody_reconciliationday_changelist") + "?state__exact=unreconciled&q=P001")
    assert listing.status_code == 200 and "P001" in listing.content.decode()
    items = console.get(reverse("admin:custody_reconciliationitem_changelist") + "?result__exact=long&q=GHOST")
    assert "GHOST" in items.content.decode()


def test_r_dep_10_allocation_queue_maker_checker_in_the_console(platform, open_sub, maker, checker):
    target = open_sub(platform, "lender")
    maker_console, checker_console = as_user(maker), as_user(checker)
    response = maker_console.post(
        reverse("admin:custody_unidentifiedinflow_add"),
        {"platform": platform.pk, "amount": "800.00", "reference": "IN-9", "value_date": "2026-12-01", "payer_name": "某公司"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    inflow = UnidentifiedInflow.objects.get()
    response = maker_console.post(
        reverse("admin:custody_unidentifiedinflow_propose", args=[inflow.pk]),
        {"sub_account": target.account.number, "reason": "回单 2026-12-01"},
    )
    assert response.status_code == 302
    allocation = SuspenseAllocation.objects.get()
    review = reverse("admin:custody_suspenseallocation_review", args=[allocation.pk])
    assert maker_console.get(review).status_code == 403  # an operator is not a checker
    page = checker_console.get(review).content.decode()
    assert "IN-9" in page and target.party.name in page and "800.00" in page
    assert "checked" not in page  # the decision starts empty
    maker_as_supervisor = make_staff("maker-sup", "supervisor")
    own = recon.allocation_reject(allocation_id=allocation.pk, actor=checker, note="wrong")
    assert own.state == "rejected"
    proposal = recon.allocation_propose(
        inflow_id=inflow.pk, sub_account_number=target.account.number, reason="回单", actor=maker_as_supervisor
    )
    refused = as_user(maker_as_supervisor).post(
        reverse("admin:custody_suspenseallocation_review", args=[proposal.pk]), {"decision": "approve"}
    )
    assert refused.status_code == 302 and SuspenseAllocation.objects.get(pk=proposal.pk).state == "proposed"
    response = checker_console.post(
        reverse("admin:custody_suspenseallocation_review", args=[proposal.pk]), {"decision": "approve"}
    )
    assert response.status_code == 302
    assert SuspenseAllocation.objects.get(pk=proposal.pk).state == "approved"
    response = checker_console.post(
        reverse("admin:custody_suspenseallocation_reverse", args=[proposal.pk]), {"reason": "wrong client"}
    )
    assert response.status_code == 302
    assert SuspenseAllocation.objects.get(pk=proposal.pk).state == "reversed"


def test_r_dep_09_report_download_in_the_console(platform, funded, day, maker):
    console = as_user(maker)
    url = reverse("admin:custody_reconciliationday_reports")
    assert console.get(url).status_code == 200
    response = console.post(url, {"platform": platform.pk, "kind": "daily", "date": day.isoformat(), "file_type": "xlsx"})
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    closing = {row[1]: row[4] for row in sheet.iter_rows(values_only=True) if row[0] == "pool closing / 资金池"}
    assert closing["total"] == 5000
    assert console.get(reverse("admin:custody_custodyreport_changelist")).status_code == 200


def test_r_dep_08_the_console_deletes_nothing(platform, funded, day, checker):
    recon.reconciliation_file_import(
        platform=platform, content=csv_file(day, balances=[(funded.account.number, "5000.00")]), source="api"
    )
    request = type("R", (), {"user": checker})()
    from django.contrib import admin as django_admin

    for admin_class, model in (
        (ReconciliationDayAdmin, ReconciliationDay),
        (ReconciliationFileAdmin, ReconciliationFile),
        (ReconciliationItemAdmin, None),
        (SuspenseAllocationAdmin, SuspenseAllocation),
        (CustodyReportAdmin, None),
    ):
        model_admin = django_admin.site._registry[model] if model else None
        assert model_admin is None or not model_admin.has_delete_permission(request)
        assert admin_class.has_delete_permission(admin_class, request) is False
    inflow_admin = django_admin.site._registry[UnidentifiedInflow]
    assert not inflow_admin.has_delete_permission(request)
    day_row = ReconciliationDay.objects.get()
    response = as_user(checker).post(reverse("admin:custody_reconciliationday_delete", args=[day_row.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert ReconciliationDay.objects.filter(pk=day_row.pk).exists()


def test_an_auditor_sees_every_reconciliation_page_and_changes_nothing(platform, funded, day):
    recon.reconciliation_file_import(
        platform=platform, content=csv_file(day, balances=[(funded.account.number, "1.00")]), source="api"
    )
    recon.inflow_register(platform=platform, amount="5.00", reference="IN-A")
    auditor = as_user(make_staff("recon-auditor", "auditor"))
    for name in (
        "reconciliationday",
        "reconciliationitem",
        "reconciliationfile",
        "reconciliationalert",
        "unidentifiedinflow",
        "suspenseallocation",
        "custodyreport",
    ):
        assert auditor.get(reverse(f"admin:custody_{name}_changelist")).status_code == 200, name
    day_row = ReconciliationDay.objects.get()
    assert auditor.get(reverse("admin:custody_reconciliationday_change", args=[day_row.pk])).status_code == 200
    assert auditor.get(reverse("admin:custody_reconciliationday_upload")).status_code == 403
    assert auditor.get(reverse("admin:custody_unidentifiedinflow_add")).status_code == 403
    inflow = UnidentifiedInflow.objects.get()
    assert auditor.get(reverse("admin:custody_unidentifiedinflow_propose", args=[inflow.pk])).status_code == 403
