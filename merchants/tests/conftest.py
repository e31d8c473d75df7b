"""Merchants test fixtures: operators (maker, checker), merchants onboarded through the real
services, a simulator channel, payments and refunds through the real lifecycle and ledger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.ledger.selectors import internal_account
from accounts.tests.admin_support import make_staff
from accounts.tests.payments_fixtures import make_channel, reset_channel_simulators  # noqa: F401
from merchants import onboarding, payments, refunds
from merchants.models import Merchant, Payment, Refund

# The standing settlement authorisation an application carries (recorded when it is approved).
AUTHORISATION = {
    "authorisation_reference": "SA-2026-001",
    "authorisation_signed_on": dt.date(2026, 1, 5),
    "authorisation_signatory": "王五 Wang Wu",
}


@pytest.fixture
def maker(db):
    return make_staff("merchant-maker", "operator")


@pytest.fixture
def checker(db):
    return make_staff("merchant-checker", "supervisor")


@pytest.fixture
def pay_channel(make_channel):  # noqa: F811
    return make_channel("paysim")


@pytest.fixture
def paysim(pay_channel):
    from accounts.payments.simulator import simulator

    return simulator(pay_channel.code, secret=pay_channel.callback_secret)


@pytest.fixture
def make_merchant(make_party, maker, checker, pay_channel):
    """``make_merchant("商户A", rate="0.006")``: an active merchant with a fee rate for every method."""

    def make(name: str = "示例商户有限公司", *, rate: str = "0.006", **terms) -> Merchant:
        org = make_party(type="organisation", name=name)
        terms = {**AUTHORISATION, **terms}
        merchant = onboarding.merchant_apply(name=name, credit_code=org.credit_code, actor=maker, **terms)
        onboarding.merchant_submit_for_review(merchant_id=merchant.pk, actor=maker)
        merchant = onboarding.merchant_approve(merchant_id=merchant.pk, actor=checker)
        for method in ("wechat", "alipay", "unionpay", "card"):
            onboarding.merchant_fee_rate_set(
                merchant_id=merchant.pk, method=method, rate=rate, effective_from=_epoch(), actor=maker
            )
        return Merchant.objects.get(pk=merchant.pk)

    return make


def _epoch():
    import datetime as dt

    return dt.date(2000, 1, 1)


@pytest.fixture
def pay(django_capture_on_commit_callbacks):
    """``pay(merchant, "100.00", discounts=[...])``: a payment submitted and answered (simulator default: success)."""
    counter = {"n": 0}

    def do(merchant, amount, *, discounts=(), out_trade_no=None, **kwargs) -> Payment:
        counter["n"] += 1
        with django_capture_on_commit_callbacks(execute=True):
            payment = payments.payment_create(
                merchant_id=merchant.pk,
                client="test",
                out_trade_no=out_trade_no or f"ORDER-{counter['n']}",
                method=kwargs.pop("method", "wechat"),
                order_amount=amount,
                discounts=list(discounts),
                **kwargs,
            )
        return Payment.objects.get(pk=payment.pk)

    return do


@pytest.fixture
def refund(django_capture_on_commit_callbacks):
    """``refund(payment, "10.00")``: a refund accepted, submitted and queried (R-REF-03)."""
    counter = {"n": 0}

    def do(payment, amount, *, out_refund_no=None, **kwargs) -> Refund:
        counter["n"] += 1
        with django_capture_on_commit_callbacks(execute=True):
            row = refunds.refund_create(
                payment_id=payment.pk,
                client="test",
                out_refund_no=out_refund_no or f"REFUND-{payment.pk}-{counter['n']}",
                amount=amount,
                **kwargs,
            )
        return Refund.objects.get(pk=row.pk)

    return do


def balances(merchant: Merchant) -> dict[str, Decimal]:
    """The merchant's four accounts and the bank's clearing, marketing and fee income, re-read."""
    ids = {
        "pending": merchant.pending_account_id,
        "available": merchant.available_account_id,
        "reserve": merchant.reserve_account_id,
        "receivable": merchant.receivable_account_id,
    }
    rows = {a.pk: a.balance for a in Account.objects.filter(pk__in=ids.values())}
    out = {name: rows[pk] for name, pk in ids.items()}
    for name, role in (("clearing", Role.CLEARING), ("marketing", Role.MARKETING), ("fee_income", Role.FEE_INCOME)):
        out[name] = Account.objects.get(pk=internal_account(role).pk).balance
    return out
