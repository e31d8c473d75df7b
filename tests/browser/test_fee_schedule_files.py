"""An operator (maker) imports a fee schedule file in the console: a bad file is refused with its
errors line by line (nothing stored); the demo platform's exported schedule is previewed, then
confirmed into a new draft version. Screenshots: /tmp/shots-fees/schedule-import-*.png."""

from __future__ import annotations

import csv
import io
from io import StringIO
from pathlib import Path

import pytest

from tests.browser.signin import console_sign_in

SHOTS = Path("/tmp/shots-fees")


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_maker_imports_a_schedule_file_into_a_new_draft(live_server, page, settings):
    from django.core.management import call_command

    from accounts.tests.admin_support import make_staff
    from custody.fees.exports import export_schedule
    from custody.fees.imports import COLUMNS
    from custody.fees.models import FeeSchedule

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_custody_demo", stdout=StringIO())
    SHOTS.mkdir(exist_ok=True)
    source = FeeSchedule.objects.filter(platform__code="DEMO", state="approved").order_by("-version").first()
    before = FeeSchedule.objects.filter(platform__code="DEMO").count()
    content, _type, filename = export_schedule(source, "xlsx")
    bad = io.StringIO()
    writer = csv.writer(bad)
    writer.writerow(list(COLUMNS.values()))
    writer.writerow(
        ["DEMO", "", "", "daily_pool_balance", "", "365", "daily", 0, 0, 0, 0, 0, "platform", 1, "2027-01-01", 0, "0.1"]
    )
    writer.writerow(
        ["DEMO", "", "", "daily_pool_balance", "", "365", "daily", 0, 0, 0, 0, 0, "platform", 1, "2027-01-01", 0, "x"]
    )
    user = make_staff("browser-fee-maker", "operator")

    page.set_viewport_size({"width": 1366, "height": 900})
    listing = "/admin/custody/feeschedule/"
    console_sign_in(page, live_server, user, listing)
    page.click("a.fee-schedule-import")
    page.wait_for_url("**/feeschedule/import/")

    page.set_input_files("#id_file", {"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.getvalue().encode()})
    page.click("input[type=submit]")
    errors = page.locator("#import-errors tbody tr")
    assert errors.count() >= 3  # mode missing twice (lines 2, 3), overlapping band, bad rate (line 3)
    assert "3" in page.locator("#import-errors").inner_text()
    page.screenshot(path=str(SHOTS / "schedule-import-errors.png"), full_page=True)
    assert FeeSchedule.objects.filter(platform__code="DEMO").count() == before

    page.goto(f"{live_server.url}/admin/custody/feeschedule/import/")
    page.set_input_files("#id_file", {"name": filename, "mimeType": "application/octet-stream", "buffer": content})
    page.click("input[type=submit]")
    page.wait_for_selector("#import-preview")
    page.screenshot(path=str(SHOTS / "schedule-import-preview.png"), full_page=True)
    assert FeeSchedule.objects.filter(platform__code="DEMO").count() == before
    page.click("input[name=confirm]")
    page.wait_for_url("**/change/")
    page.screenshot(path=str(SHOTS / "schedule-import-draft.png"), full_page=True)
    draft = FeeSchedule.objects.filter(platform__code="DEMO").order_by("-version").first()
    assert (draft.state, draft.supersedes_id, draft.tier_bands()) == ("draft", source.pk, source.tier_bands())
