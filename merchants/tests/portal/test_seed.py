"""seed_merchants_demo: an active merchant with payments, a refund, a settled batch and its payout,
an owner with TOTP printed; running it twice changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.ledger.selectors import trial_balance
from merchants.models import Merchant, MerchantPayout, MerchantUser, Payment, Refund, SettlementBatch

pytestmark = pytest.mark.django_db


def _seed(capture) -> str:
    out = StringIO()
    with capture(execute=True):
        call_command("seed_demo", stdout=StringIO())
        call_command("seed_merchants_demo", stdout=out)
    return out.getvalue()


def _state():
    return (
        list(Merchant.objects.values_list("pk", "state")),
        list(Payment.objects.values_list("out_trade_no", "state", "refunded_amount")),
        list(Refund.objects.values_list("out_refund_no", "state")),
        list(SettlementBatch.objects.values_list("state", "net_amount", "available_amount")),
        list(MerchantPayout.objects.values_list("amount", "state")),
    )


def test_seed_merchants_demo_twice(django_capture_on_commit_callbacks, settings):
    printed = _seed(django_capture_on_commit_callbacks)
    assert "otpauth://totp/" in printed and "shop-owner" in printed
    merchant = Merchant.objects.get()
    assert merchant.state == Merchant.State.ACTIVE
    assert Payment.objects.filter(state=Payment.State.SUCCEEDED).count() == 3
    assert Refund.objects.get().state == Refund.State.SUCCEEDED
    batch = SettlementBatch.objects.get()
    assert batch.state == SettlementBatch.State.SETTLED and batch.available_amount > 0
    assert MerchantPayout.objects.get().state == MerchantPayout.State.SUCCEEDED
    assert MerchantUser.objects.get().role == "owner"
    first = _state()
    _seed(django_capture_on_commit_callbacks)
    assert _state() == first
    assert trial_balance().balanced
