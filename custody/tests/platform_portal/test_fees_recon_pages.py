"""The platform portal's Fees (存管费) and Reconciliation (对账) pages, and the demo seed's fee
schedules, accruals, invoice and reconciliation days."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Transfer
from backoffice.dates import business_date
from custody.fees import selectors as fee_selectors
from custody.fees.models import FeeAccrual, FeeInvoice, FeeSchedule
from custody.models import PlatformUser
from custody.reconciliation.models import ReconciliationDay, ReconciliationFile, ReconciliationItem

pytestmark = pytest.mark.django_db


def url(name: str, platform, *args) -> str:
    return reverse(f"custody_portal:platform:{name}", args=[platform.code, *args])


def owner(platform) -> PlatformUser:
    return PlatformUser.objects.get(platform=platform, role="owner")


def test_seed_has_schedules_in_both_modes_accruals_an_invoice_and_two_reconciliation_days(seed):
    seed()
    platform = FeeSchedule.objects.get(version=1).platform
    today = business_date(timezone.now())
    schedules = list(FeeSchedule.objects.filter(platform=platform).order_by("version"))
    assert [(s.mode, s.state) for s in schedules] == [("whole_amount", "approved"), ("marginal", "draft")]
    assert schedules[0].created_by != schedules[0].reviewed_by
    last_month = fee_selectors.month_start(fee_selectors.month_start(today) - __import__("datetime").timedelta(days=1))
    assert FeeAccrual.objects.filter(platform=platform).count() == (today - last_month).days
    invoice = FeeInvoice.objects.get(platform=platform)
    assert invoice.month == last_month and invoice.state == "issued"
    states = sorted(ReconciliationDay.objects.filter(platform=platform).values_list("state", flat=True))
    assert states == ["reconciled", "unreconciled"]
    assert ledger_drift() == []
    print(seed())
