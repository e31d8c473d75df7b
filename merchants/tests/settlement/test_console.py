"""Refund payouts past the window (代付) in the console: the operator proposes, the same operator
cannot approve (maker ≠ checker), a supervisor approves and the payout is paid; batches read-only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.admin_support import sign_in_verified
from merchants.models import MerchantPayout, Payment

pytestmark = pytest.mark.django_db


def test_console_refund_payout_maker_then_checker(maker, checker, settled_merchant, pay, django_capture_on_commit_callbacks):
    merchant = settled_merchant()
    payment = pay(merchant, "100.00")
    console = sign_in_verified(Client(), maker)
    propose = reverse("admin:merchants_merchantpayout_propose", args=[payment.pk])
    assert console.get(propose).status_code == 200
    response = console.post(
        propose, {"amount": "40.00", "payee_name": "张三", "payee_account": "6222020200112233445", "reason": "past the window"}
    )
    payout = MerchantPayout.objects.get()
    assert response.status_code == 302 and payout.state == MerchantPayout.State.AWAITING_CHECK and payout.maker == maker
    check = reverse("admin:merchants_merchantpayout_check", args=[payout.pk])
    assert console.get(check).status_code == 403  # an operator has no checker permission
    # A supervisor who proposed it still cannot approve it.
    own = sign_in_verified(Client(), checker)
    own.post(propose, {"amount": "10.00", "payee_name": "李四", "payee_account": "6222020200112233446", "reason": "x"})
    own_payout = MerchantPayout.objects.exclude(pk=payout.pk).get()
    refused = own.post(
        reverse("admin:merchants_merchantpayout_check", args=[own_payout.pk]), {"decision": "approve"}, follow=True
    )
    errors = [str(m) for m in refused.context["messages"] if m.level_tag == "error"]
    assert len(errors) == 1 and ("Refused" in errors[0] or "复核被拒绝" in errors[0])  # maker_checker_violation
    assert MerchantPayout.objects.get(pk=own_payout.pk).state == MerchantPayout.State.AWAITING_CHECK
    with django_capture_on_commit_callbacks(execute=True):
        assert own.post(check, {"decision": "approve"}).status_code == 302
    payout.refresh_from_db()
    assert payout.state == MerchantPayout.State.SUCCEEDED and payout.checker == checker
    assert Payment.objects.get(pk=payment.pk).refunded_cash == Decimal("40.00")
    assert own.get(reverse("admin:merchants_settlementbatch_changelist")).status_code == 200
    assert own.get(reverse("admin:merchants_merchantpayout_change", args=[payout.pk])).status_code == 200
