"""Custody fees in the console: the schedule editor (maker), the checker's decision page (starts
empty; the maker is refused), the simulator with its inline SVG chart, invoices (XLSX, print)."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.admin_support import sign_in_verified
from backoffice.models import AuditLog
from custody.fees import selectors
from custody.fees import services as fees
from custody.fees.models import FeeSchedule

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    sign_in_verified(client, user)
    return client


def test_maker_edits_a_draft_with_bands_and_submits_then_checker_approves(make_platform, maker, checker):
    platform = make_platform("P001")
    console = as_user(maker)
    data = {
        "platform": platform.pk,
        "basis": "daily_pool_balance",
        "mode": "marginal",
        "day_count": "actual",
        "rounding": "at_invoice",
        "monthly_minimum": "8000.00",
        "annual_minimum": "0.00",
        "onboarding_fee": "0.00",
        "annual_fixed_fee": "0.00",
        "per_withdrawal_fee": "2.00",
        "per_withdrawal_payer": "platform",
        "vat_inclusive": "on",
        "effective_from": "2026-01-01",
        "bands-TOTAL_FORMS": "2",
        "bands-INITIAL_FORMS": "0",
        "bands-MIN_NUM_FORMS": "0",
        "bands-MAX_NUM_FORMS": "1000",
        "bands-0-lower_bound": "0.00",
        "bands-0-rate": "0.025",
        "bands-1-lower_bound": "10000000.00",
        "bands-1-rate": "0.02",
    }
    response = console.post(reverse("admin:custody_feeschedule_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = FeeSchedule.objects.get(platform=platform)
    assert (schedule.version, schedule.state, schedule.created_by) == (1, "draft", maker)
    assert [(b.lower_bound, b.rate) for b in schedule.bands.all()] == [
        (Decimal("0.00"), Decimal("0.02500")),
        (Decimal("10000000.00"), Decimal("0.02000")),
    ]
    console.post(reverse("admin:custody_feeschedule_submit", args=[schedule.pk]))
    assert FeeSchedule.objects.get(pk=schedule.pk).state == "pending_approval"

    # the maker may not approve: refused by the service, back to the page with the message
    maker.groups.add(*checker.groups.all())
    response = console.post(reverse("admin:custody_feeschedule_review", args=[schedule.pk]), {"decision": "approve"})
    assert response.status_code == 302
    assert FeeSchedule.objects.get(pk=schedule.pk).state == "pending_approval"

    page = as_user(checker).get(reverse("admin:custody_feeschedule_review", args=[schedule.pk]))
    assert page.status_code == 200
    assert "checked" not in page.content.decode()  # the decision starts empty
    response = as_user(checker).post(reverse("admin:custody_feeschedule_review", args=[schedule.pk]), {"decision": "approve"})
    assert response.status_code == 302
    schedule = FeeSchedule.objects.get(pk=schedule.pk)
    assert (schedule.state, schedule.reviewed_by) == ("approved", checker)
    assert AuditLog.objects.filter(action="custody.fee_schedule.approve", target_id=str(schedule.pk)).exists()
    # approved: read-only, with its history on the page
    page = as_user(maker).get(reverse("admin:custody_feeschedule_change", args=[schedule.pk]))
    assert "fee-schedule-history" in page.content.decode()
    assert 'name="mode"' not in page.content.decode()


def test_simulator_shows_each_band_and_an_inline_svg_chart(make_platform, approved_schedule, checker):
    platform = make_platform("P001")
    schedule = approved_schedule(platform, bands=[("0", "0.10"), ("10000000", "0.08")], mode="whole_amount", day_count="365")
    page = as_user(checker).get(reverse("admin:custody_feeschedule_simulate", args=[schedule.pk]), {"pool": "12,000,000"})
    html = page.content.decode()
    assert page.status_code == 200
    # 12,000,000 × 0.08 % = 9,600.00 a year; / 365 = 26.30 a day
    assert "9600.00" in html and "26.30" in html
    chart = html[html.index('<svg id="fee-chart"') :]
    chart = chart[: chart.index("</svg>")]
    assert "<polyline" in chart and "<script" not in chart
    assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", html)  # no inline script, nothing from a CDN
    assert "cdn" not in html.lower()
    bad = as_user(checker).get(reverse("admin:custody_feeschedule_simulate", args=[schedule.pk]), {"pool": "abc"})
    assert "errornote" in bad.content.decode()


def test_invoices_export_xlsx_with_numbers_and_print(make_platform, approved_schedule, checker, today):
    platform = make_platform("P001")
    approved_schedule(platform, monthly_minimum=Decimal("8000.00"))
    invoice = fees.invoice_issue(
        platform=platform, month=today, as_of=selectors.next_month(today.replace(day=1)) + dt.timedelta(days=9)
    )
    console = as_user(checker)
    response = console.post(
        reverse("admin:custody_feeinvoice_changelist"), {"action": "export_xlsx", "_selected_action": [invoice.pk]}
    )
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "invoice / 账单号"
    amounts = [row[8] for row in rows[1:]]
    assert all(isinstance(value, (int, float)) for value in amounts)  # numbers, not strings
    assert sum(amounts) == 8000
    assert not any(isinstance(cell, str) and cell.startswith("=") for row in rows for cell in row)
    printed = console.get(reverse("admin:custody_feeinvoice_print", args=[invoice.pk]))
    assert printed.status_code == 200
    assert invoice.number in printed.content.decode() and "8,000.00" in printed.content.decode()
    accruals = console.get(reverse("admin:custody_feeaccrual_changelist"), {"platform__id__exact": platform.pk})
    assert accruals.status_code == 200


def test_auditor_sees_schedules_read_only(make_platform, approved_schedule, maker):
    from accounts.tests.admin_support import make_staff

    platform = make_platform("P001")
    schedule = approved_schedule(platform)
    auditor = as_user(make_staff("fee-auditor", "auditor"))
    assert auditor.get(reverse("admin:custody_feeschedule_changelist")).status_code == 200
    page = auditor.get(reverse("admin:custody_feeschedule_change", args=[schedule.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Fee simulator" in html or "费用试算" in html
    assert reverse("admin:custody_feeschedule_new_version", args=[schedule.pk]) not in html
    assert auditor.post(reverse("admin:custody_feeschedule_new_version", args=[schedule.pk])).status_code == 403
    assert as_user(maker).get(reverse("admin:custody_feeschedule_add")).status_code == 200
