"""Refusals of judicial-freeze requests speak the operator's language (Chinese and English), with
labels, never the fields' or the kinds' codes (issue 13: "no raw field names", "no codes")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from accounts.states import freezes
from accounts.states.errors import FreezeActionError, FreezePermissionError
from accounts.tests.states_helpers import make_user, place, place_payload
from backoffice.console import refusal_text
from backoffice.errors import FieldValidationError

pytestmark = pytest.mark.django_db


@pytest.fixture
def maker(db):
    return make_user("maker", "request_judicial_freeze")


@pytest.fixture
def checker(db):
    return make_user("checker", "approve_judicial_freeze")


def _refused(language: str, call, error=FieldValidationError) -> str:
    with translation.override(language):
        with pytest.raises(error) as refused:
            call()
        return refusal_text(refused.value)


def test_freeze_place_field_refusals_in_chinese_and_english(maker, make_account, fund):
    account = fund(make_account(), Decimal("100.00"))
    bad = place_payload("partial")  # no amount
    bad["expires_at"] = (timezone.now() - dt.timedelta(days=1)).isoformat()
    bad["effective_at"] = (timezone.now() + dt.timedelta(days=1)).isoformat()

    def create():
        freezes.freeze_request_create(action="place", requested_by=maker, account_id=account.pk, payload=dict(bad))

    chinese = _refused("zh-hans", create)
    assert "须为正数金额" in chinese and "不能晚于当前时间" in chinese and "到期时间须晚于当前时间" in chinese
    assert "金额" in chinese and "生效时间" in chinese and "effective_at" not in chinese and "expires_at" not in chinese
    assert " / " not in chinese
    english = _refused("en", create)
    assert "A positive amount" in english and "effective at: The order takes effect when served" in english
    assert "effective_at" not in english and "须" not in english


def test_freeze_action_refusals_name_labels_and_amounts_with_separators(maker, checker, make_account, fund):
    account = fund(make_account(), Decimal("3000.00"))
    partial = place(maker, checker, account, "partial", "1500.00")
    blocking = place(maker, checker, account, "debit_blocked")

    def deduct(freeze, amount):
        return lambda: freezes.freeze_request_create(
            action="deduct",
            requested_by=maker,
            freeze_id=freeze.pk,
            payload={
                "amount": amount,
                "court_account_name": "北京市朝阳区人民法院",
                "court_account_number": "110000000001",
                "document_number": "(2026)京0105执9号之一",
            },
        )

    chinese = _refused("zh-hans", deduct(partial, "1500.01"), FreezeActionError)
    assert chinese == "冻结金额仅 1,500.00，不能扣划 1,500.01。"
    english = _refused("en", deduct(partial, "1500.01"), FreezeActionError)
    assert english == "Only 1,500.00 is frozen; 1,500.01 cannot be deducted."
    blocked = _refused("zh-hans", deduct(blocking, "1.00"), FreezeActionError)
    assert "debit_blocked" not in blocked and "无可扣划金额" in blocked
    assert "debit_blocked" not in _refused("en", deduct(blocking, "1.00"), FreezeActionError)


def test_freeze_permission_refusal_names_what_is_missing(checker, make_account, fund):
    account = fund(make_account(), Decimal("100.00"))

    def create():
        freezes.freeze_request_create(action="place", requested_by=checker, account_id=account.pk, payload=place_payload("full"))

    chinese = _refused("zh-hans", create, FreezePermissionError)
    assert "申请司法冻结" in chinese and "accounts.request_judicial_freeze" not in chinese
    english = _refused("en", create, FreezePermissionError)
    assert "request judicial freezes" in english and "accounts.request_judicial_freeze" not in english
