"""Fee schedule files (django-import-export's XLSX and CSV): a version exports as one row per band
(numbers as numbers, no formula cell); a file imports only into a NEW DRAFT version, after a
row-by-row check (errors line by line, nothing stored) and a preview, then goes through the usual
submit → review (maker ≠ checker). Export → import gives an identical draft."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.tests.admin_support import make_staff, sign_in_verified
from backoffice.errors import MakerCheckerError
from backoffice.models import AuditLog
from custody.fees import services as fees
from custody.fees.exports import export_schedule
from custody.fees.imports import COLUMNS, read_schedule_file
from custody.fees.models import FeeSchedule
from custody.models import LendingPlatform

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]

CONTRACT = (
    "basis",
    "mode",
    "day_count",
    "rounding",
    "monthly_minimum",
    "annual_minimum",
    "onboarding_fee",
    "annual_fixed_fee",
    "per_withdrawal_fee",
    "per_withdrawal_payer",
    "vat_inclusive",
    "effective_from",
)
HEADER = [COLUMNS[name] for name in COLUMNS]


def as_user(user) -> Client:
    client = Client()
    sign_in_verified(client, user)
    return client


@pytest.fixture
def approved_v1(make_platform, approved_schedule):
    platform = make_platform("P001")
    return approved_schedule(
        platform,
        bands=[("0", "0.10"), ("10000000", "0.08"), ("50000000", "0.025")],
        mode="whole_amount",
        day_count="actual",
        rounding="daily",
        monthly_minimum=Decimal("8000.00"),
        annual_minimum=Decimal("120000.00"),
        onboarding_fee=Decimal("50000.00"),
        annual_fixed_fee=Decimal("10000.00"),
        per_withdrawal_fee=Decimal("2.00"),
        per_withdrawal_payer="user",
        vat_inclusive=False,
        effective_from=dt.date(2026, 1, 1),
    )


def _upload(console: Client, content: bytes, name: str):
    return console.post(reverse("admin:custody_feeschedule_import"), {"file": SimpleUploadedFile(name, content)})


def _confirm(console: Client, preview_page) -> object:
    payload = re.search(r'name="payload" value="([^"]+)"', preview_page.content.decode()).group(1)
    return console.post(reverse("admin:custody_feeschedule_import"), {"payload": payload, "confirm": "1"})


def _csv(rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _row(platform="P001", mode="marginal", lower="0.00", rate="0.05", **over) -> list:
    values = {
        "platform": platform,
        "version": "",
        "state": "",
        "basis": "daily_pool_balance",
        "mode": mode,
        "day_count": "365",
        "rounding": "at_invoice",
        "monthly_minimum": "0.00",
        "annual_minimum": "0.00",
        "onboarding_fee": "0.00",
        "annual_fixed_fee": "0.00",
        "per_withdrawal_fee": "0.00",
        "per_withdrawal_payer": "platform",
        "vat_inclusive": "1",
        "effective_from": "2027-01-01",
        "lower_bound": lower,
        "rate": rate,
        **over,
    }
    return [values[name] for name in COLUMNS]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_r_fee_03_schedule_export_then_import_gives_an_identical_new_draft(approved_v1, maker, checker, fmt):
    console = as_user(maker)
    exported = console.get(reverse("admin:custody_feeschedule_export", args=[approved_v1.pk, fmt]))
    assert exported.status_code == 200
    assert f"fee-schedule-P001-v1.{fmt}" in exported["Content-Disposition"]
    content = exported.content

    preview = _upload(console, content, f"fee-schedule-P001-v1.{fmt}")
    assert preview.status_code == 200, preview.content.decode()[:3000]
    page = preview.content.decode()
    assert "import-preview" in page and "v2" in page and "50,000,000.00" in page
    assert FeeSchedule.objects.filter(platform=approved_v1.platform).count() == 1  # the preview stores nothing

    done = _confirm(console, preview)
    assert done.status_code == 302
    draft = FeeSchedule.objects.get(platform=approved_v1.platform, version=2)
    assert done["Location"] == reverse("admin:custody_feeschedule_change", args=[draft.pk])
    assert (draft.state, draft.created_by, draft.supersedes) == ("draft", maker, approved_v1)
    assert {name: getattr(draft, name) for name in CONTRACT} == {name: getattr(approved_v1, name) for name in CONTRACT}
    assert draft.tier_bands() == approved_v1.tier_bands()
    approved_v1.refresh_from_db()
    assert approved_v1.state == "approved"  # never written into
    assert AuditLog.objects.filter(action="custody.fee_schedule.import").count() == 1

    # the draft then follows the usual maker-checker path, unchanged
    console.post(reverse("admin:custody_feeschedule_submit", args=[draft.pk]))
    with pytest.raises(MakerCheckerError):
        fees.fee_schedule_approve(schedule_id=draft.pk, actor=maker)
    as_user(checker).post(reverse("admin:custody_feeschedule_review", args=[draft.pk]), {"decision": "approve"})
    assert FeeSchedule.objects.get(pk=draft.pk).state == "approved"


def test_schedule_xlsx_cells_are_numbers_and_dates_and_never_formulas(approved_v1):
    LendingPlatform.objects.filter(pk=approved_v1.platform_id).update(code="=1+2")  # a hostile code
    approved_v1.refresh_from_db()
    content, content_type, _name = export_schedule(approved_v1, "xlsx")
    assert content_type.startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    assert header == HEADER
    assert len(rows) == 4  # one row per band
    assert all(cell.data_type != "f" for row in rows for cell in row)
    first = {header[i]: cell for i, cell in enumerate(rows[1])}
    assert first[COLUMNS["platform"]].value == "'=1+2"
    assert first[COLUMNS["rate"]].data_type == "n" and first[COLUMNS["lower_bound"]].data_type == "n"
    assert first[COLUMNS["monthly_minimum"]].value == 8000
    assert [row[header.index(COLUMNS["rate"])].value for row in rows[1:]] == [0.1, 0.08, 0.025]
    assert first[COLUMNS["effective_from"]].is_date
    csv_content, _type, _name = export_schedule(approved_v1, "csv")
    lines = list(csv.DictReader(io.StringIO(csv_content.decode("utf-8-sig"))))
    assert lines[0][COLUMNS["platform"]] == "'=1+2"
    assert [line[COLUMNS["rate"]] for line in lines] == ["0.10000", "0.08000", "0.02500"]


def test_r_fee_03_bad_rows_are_listed_line_by_line_and_nothing_is_stored(approved_v1, maker):
    rows = [
        _row(mode=""),  # line 2: mode missing (R-FEE-03)
        _row(lower="1000000.00", rate="abc"),  # line 3: bad rate
        _row(lower="1000000.00", rate="0.04"),  # line 4: overlaps line 3 (same lower bound)
        _row(lower="500000.00", rate="0.03"),  # line 5: below line 4's bound (unsorted)
        _row(platform="NOPE", lower="9000000.00", rate="0.123456"),  # line 6: unknown platform, 6 decimals
    ]
    page = _upload(as_user(maker), _csv(rows), "bad.csv")
    assert page.status_code == 400
    text = page.content.decode()
    assert "未保存任何数据" in text  # the console speaks Chinese by default
    assert "与第3行分档重叠" in text
    with translation.override("en"):
        found = read_schedule_file(_csv(rows), "bad.csv").errors
    by_line = {(error.line, error.column.split(" / ")[0]) for error in found}
    assert (2, "tier mode") in by_line
    assert (3, "rate (%)") in by_line
    assert (4, "lower bound (inclusive)") in by_line
    assert (5, "lower bound (inclusive)") in by_line
    assert (6, "platform") in by_line and (6, "rate (%)") in by_line
    messages = {(error.line, error.message) for error in found}
    assert any(line == 4 and "Overlaps the band of line 3" in m for line, m in messages)
    assert any(line == 5 and "below line 4" in m for line, m in messages)
    assert any(line == 6 and "Unknown platform NOPE" in m for line, m in messages)
    for error in found:
        assert f"<td>{error.line}</td>" in text
    assert FeeSchedule.objects.count() == 1
    assert not AuditLog.objects.filter(action="custody.fee_schedule.import").exists()


@pytest.fixture
def english():
    with translation.override("en"):
        yield


def test_a_file_whose_rows_disagree_or_that_cannot_be_read_is_refused(approved_v1, english):
    differing = read_schedule_file(_csv([_row(), _row(lower="100.00", mode="whole_amount")]), "x.csv")
    assert [(e.line, e.column) for e in differing.errors] == [(3, COLUMNS["mode"])]
    assert not differing.ok
    not_zero = read_schedule_file(_csv([_row(lower="100.00")]), "x.csv")
    assert [(e.line, e.column) for e in not_zero.errors] == [(2, COLUMNS["lower_bound"])]
    assert read_schedule_file(b"not a workbook", "x.xlsx").errors[0].message.startswith("The file cannot be read")
    assert read_schedule_file(b"\xff\xfe\x00garbage", "x.csv").errors
    assert read_schedule_file(b"a,b\n1,2\n", "x.txt").errors[0].message.startswith("Upload an .xlsx or .csv")
    missing = read_schedule_file(b"platform,basis\nP001,daily_pool_balance\n", "x.csv")
    assert {e.column for e in missing.errors} >= {COLUMNS["mode"], COLUMNS["rate"]}
    labels = read_schedule_file(_csv([_row(mode="超额累进", basis="Daily pool balance", vat_inclusive="否")]), "x.csv")
    assert labels.ok and labels.fields["mode"] == "marginal" and labels.fields["vat_inclusive"] is False


def test_a_tampered_preview_is_refused_and_stores_nothing(approved_v1, maker):
    console = as_user(maker)
    response = console.post(reverse("admin:custody_feeschedule_import"), {"payload": "forged", "confirm": "1"})
    assert response.status_code == 302
    assert FeeSchedule.objects.count() == 1


def test_only_makers_import_and_the_link_shows_only_to_them(approved_v1, maker):
    auditor = make_staff("auditor-fees", "auditor")
    console = as_user(auditor)
    assert console.get(reverse("admin:custody_feeschedule_import")).status_code == 403
    assert _upload(console, _csv([_row()]), "x.csv").status_code == 403
    listing = console.get(reverse("admin:custody_feeschedule_changelist"))
    assert listing.status_code == 200
    assert reverse("admin:custody_feeschedule_import") not in listing.content.decode()
    maker_listing = as_user(maker).get(reverse("admin:custody_feeschedule_changelist")).content.decode()
    assert reverse("admin:custody_feeschedule_import") in maker_listing
    assert console.get(reverse("admin:custody_feeschedule_export", args=[approved_v1.pk, "xlsx"])).status_code == 200
    assert console.get(reverse("admin:custody_feeschedule_export", args=[approved_v1.pk, "pdf"])).status_code == 404
