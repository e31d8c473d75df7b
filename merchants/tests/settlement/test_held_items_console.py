"""Held items in the console (R-REC-04): the operator proposes a 调账 with a reason code, the same
user cannot approve it (maker ≠ checker), a supervisor approves on a page that shows the item, batch,
merchant, amounts and files seen; the decision starts empty; links only for those who may follow
them; labels in both languages; long lines noted from their clearing file's page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.payments.channels import ClearingRow
from accounts.tests.admin_support import sign_in_verified
from merchants import held, settlement
from merchants.models import HeldAdjustment, HeldItem, LongLineNote, SettlementBatch
from merchants.tests.settlement.conftest import at

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def _suspense(held_batch):
    merchant, batch, payments = held_batch(short=["1234.50"])
    day = batch.business_date
    held.held_items_review(business_date=day + DAY, now=at(day + 2 * DAY))
    held.held_items_review(business_date=day + 2 * DAY, now=at(day + 3 * DAY))
    item = HeldItem.objects.get()
    assert item.state == HeldItem.State.SUSPENSE
    return merchant, batch, item


def test_r_rec_04_console_maker_then_checker(held_batch, maker, checker, django_capture_on_commit_callbacks):
    merchant, batch, item = _suspense(held_batch)
    console = sign_in_verified(Client(), maker)
    page = console.get(reverse("admin:merchants_helditem_change", args=[item.pk]))
    propose = reverse("admin:merchants_helditem_propose", args=[item.pk])
    assert page.status_code == 200 and propose.encode() in page.content
    assert b"1,234.50" in page.content  # thousands separators
    # The maker's page starts with no reason chosen; a bad post is answered on the form.
    form_page = console.get(propose)
    assert form_page.status_code == 200 and form_page.context["form"]["reason"].value() in (None, "")
    bad = console.post(propose, {"reason": "", "note": ""})
    assert bad.status_code == 200 and set(bad.context["form"].errors) == {"reason", "note"}
    assert console.post(propose, {"reason": "channel_confirmed", "note": "通道确认 ticket 42"}).status_code == 302
    adjustment = HeldAdjustment.objects.get()
    check = reverse("admin:merchants_helditem_check", args=[adjustment.pk])
    assert console.get(check).status_code == 403  # an operator has no checker permission
    assert check.encode() not in console.get(reverse("admin:merchants_helditem_change", args=[item.pk])).content
    # A supervisor who proposed it cannot approve it: shown on the page, refused by the service.
    supervisor = sign_in_verified(Client(), checker)
    adjustment_maker = HeldAdjustment.objects.filter(pk=adjustment.pk)
    adjustment_maker.update(maker=checker)
    own = supervisor.get(check)
    assert own.status_code == 200 and own.context["is_maker"]
    refused = supervisor.post(check, {"decision": "approve"}, follow=True)
    errors = [str(m) for m in refused.context["messages"] if m.level_tag == "error"]
    assert len(errors) == 1 and ("Refused" in errors[0] or "复核被拒绝" in errors[0])
    assert HeldAdjustment.objects.get(pk=adjustment.pk).state == HeldAdjustment.State.PROPOSED
    adjustment_maker.update(maker=maker)
    # The checker sees what to weigh; the decision starts empty.
    page = supervisor.get(check)
    body = page.content.decode()
    assert page.context["form"]["decision"].value() in (None, "")
    for shown in (merchant.name, item.item.request_id, "1,234.50", "通道确认 ticket 42", batch.business_date.isoformat()):
        assert shown in body, shown
    assert len(page.context["files"]) == 3  # the batch's own file, then the T+1 and T+2 files seen
    assert supervisor.post(check, {"decision": "reject", "note": ""}).status_code == 200  # a reason is needed
    with django_capture_on_commit_callbacks(execute=True):
        assert supervisor.post(check, {"decision": "approve", "note": "ok"}).status_code == 302
    assert HeldItem.objects.get(pk=item.pk).state == HeldItem.State.ADJUSTED
    assert SettlementBatch.objects.get(pk=batch.pk).state == SettlementBatch.State.RESOLVED
    assert supervisor.get(reverse("admin:merchants_helditem_changelist")).status_code == 200
    assert supervisor.get(reverse("admin:merchants_heldadjustment_changelist")).status_code == 200


@pytest.mark.parametrize(
    ("language", "labels", "other"),
    [
        ("en", ["Propose an adjustment", "Clearing files seen", "Suspense, to be adjusted"], "提出调账"),
        ("zh-hans", ["提出调账", "已核对的清算文件", "挂账待调账"], "Propose an adjustment"),
    ],
)
def test_held_item_pages_are_labelled_in_both_languages(held_batch, maker, language, labels, other):
    merchant, batch, item = _suspense(held_batch)
    console = sign_in_verified(Client(), maker)
    with translation.override(language):
        body = console.get(reverse("admin:merchants_helditem_change", args=[item.pk]), HTTP_ACCEPT_LANGUAGE=language).content
    body = body.decode()
    for label in labels:
        assert label in body, label
    assert other not in body
    assert "suspense_reason" not in body and "wait_until" not in body  # labels, never field names


def test_a_long_line_is_noted_from_its_clearing_file_page(pay_channel, maker):
    day = dt.date(2026, 12, 1)
    file = settlement.clearing_file_import(
        channel=pay_channel, business_date=day, rows=[ClearingRow("T-L", "PY7777777777", "payment", Decimal("5.00"), day)]
    )
    line = file.lines.get()
    console = sign_in_verified(Client(), maker)
    page = console.get(reverse("admin:merchants_clearingfile_change", args=[file.pk]))
    url = reverse("admin:merchants_longlinenote_record", args=[line.pk])
    assert url.encode() in page.content
    assert console.post(url, {"reason": "", "note": "x"}).status_code == 200
    assert console.post(url, {"reason": "not_ours", "note": "通道确认为他行交易"}).status_code == 302
    assert LongLineNote.objects.get().line == line
    assert url.encode() not in console.get(reverse("admin:merchants_clearingfile_change", args=[file.pk])).content
