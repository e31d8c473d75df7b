"""Merchants in the console: the maker's application and submission, the checker's decision page
(maker ≠ checker), fee rates, and the read-only payment and refund lists (filters, search)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.admin_support import make_staff, sign_in_verified
from merchants import onboarding, settlement
from merchants.models import Merchant, SettlementAuthorisation

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    return sign_in_verified(Client(), user)


def errors_of(response):
    return [str(m) for m in response.context["messages"] if m.level_tag == "error"]


def test_console_onboarding_maker_then_checker(maker, checker, make_party):
    org = make_party(type="organisation", name="丁商户有限公司")
    console = as_user(maker)
    assert console.get(reverse("admin:merchants_merchant_add")).status_code == 302
    response = console.post(
        reverse("admin:merchants_merchant_apply"),
        {"name": org.name, "credit_code": org.credit_code, "settlement_cycle_days": "1", "reserve_rate": "0"},
    )
    assert response.status_code == 200 and "authorisation_reference" in response.context["form"].errors  # required
    response = console.post(
        reverse("admin:merchants_merchant_apply"),
        {
            "name": org.name,
            "credit_code": org.credit_code,
            "settlement_cycle_days": "1",
            "reserve_rate": "0",
            "authorisation_reference": "SA-CONSOLE-1",
            "authorisation_signed_on": "2026-01-05",
            "authorisation_signatory": "王五",
        },
    )
    merchant = Merchant.objects.get(credit_code=org.credit_code)
    assert response.status_code == 302 and merchant.created_by == maker
    rate = console.post(reverse("admin:merchants_merchant_fee_rate", args=[merchant.pk]), {"method": "wechat", "rate": "0.006"})
    assert rate.status_code == 302 and str(merchant.fee_rates.get().rate) == "0.006000"
    assert console.post(reverse("admin:merchants_merchant_submit", args=[merchant.pk]), {"reason": ""}).status_code == 302
    assert Merchant.objects.get(pk=merchant.pk).state == Merchant.State.KYC_REVIEW

    review_url = reverse("admin:merchants_merchant_review", args=[merchant.pk])
    assert console.get(review_url).status_code == 403  # an operator has no checker permission
    maker_as_supervisor = make_staff("merchant-maker-2", "supervisor")
    merchant.created_by = maker_as_supervisor
    Merchant.objects.filter(pk=merchant.pk).update(created_by=maker_as_supervisor)
    own = as_user(maker_as_supervisor)
    refused = own.post(review_url, {"decision": "approve", "note": ""}, follow=True)
    assert any("maker" in e.lower() or "经办" in e or "different" in e.lower() for e in errors_of(refused))
    assert Merchant.objects.get(pk=merchant.pk).state == Merchant.State.KYC_REVIEW

    page = as_user(checker).get(review_url)
    assert page.status_code == 200 and org.name in page.text
    assert "SA-CONSOLE-1" in page.text and "王五" in page.text and "2026" in page.text  # the checker weighs it
    decided = as_user(checker).post(review_url, {"decision": "approve", "note": "资料齐全"})
    assert decided.status_code == 302
    merchant = Merchant.objects.get(pk=merchant.pk)
    assert merchant.state == Merchant.State.ACTIVE and merchant.pending_account_id is not None
    detail = as_user(checker).get(reverse("admin:merchants_merchant_change", args=[merchant.pk]))
    assert detail.status_code == 200 and merchant.pending_account.number in detail.text
    assert merchant.settlement_authorisation.reference == "SA-CONSOLE-1" and "SA-CONSOLE-1" in detail.text


def test_console_refuses_approval_without_settlement_authorisation(maker, checker, make_party):
    org = make_party(type="organisation", name="庚商户有限公司")
    merchant = onboarding.merchant_apply(name=org.name, credit_code=org.credit_code, actor=maker)
    onboarding.merchant_submit_for_review(merchant_id=merchant.pk, actor=maker)
    review_url = reverse("admin:merchants_merchant_review", args=[merchant.pk])
    page = as_user(checker).get(review_url)
    assert "未附结算授权，须由经办人补充后方可通过" in page.text  # the page speaks Chinese by default
    refused = as_user(checker).post(review_url, {"decision": "approve", "note": ""}, follow=True)
    assert any("申请未附商户签署的结算授权" in e for e in errors_of(refused))
    assert Merchant.objects.get(pk=merchant.pk).state == Merchant.State.KYC_REVIEW
    # Returned, the maker adds it from the merchant's page.
    onboarding.merchant_return(merchant_id=merchant.pk, actor=checker, note="缺结算授权")
    console = as_user(maker)
    url = reverse("admin:merchants_merchant_authorisation", args=[merchant.pk])
    assert url in console.get(reverse("admin:merchants_merchant_change", args=[merchant.pk])).text
    saved = console.post(url, {"reference": "SA-7", "signed_on": "2026-01-05", "signatory": "王五"})
    assert saved.status_code == 302 and Merchant.objects.get(pk=merchant.pk).authorisation_reference == "SA-7"


def test_console_replaces_a_revoked_settlement_authorisation(maker, checker, make_merchant):
    merchant = make_merchant()
    console = as_user(maker)
    url = reverse("admin:merchants_merchant_authorisation", args=[merchant.pk])
    assert console.get(url).status_code == 404  # in force: nothing to replace, no link
    assert url not in console.get(reverse("admin:merchants_merchant_change", args=[merchant.pk])).text
    settlement.settlement_authorisation_revoke(merchant_id=merchant.pk, actor=checker)
    assert console.post(url, {"reference": "SA-2026-002", "signed_on": "2026-02-01", "signatory": "赵六"}).status_code == 302
    approve_url = reverse("admin:merchants_merchant_authorisation_approve", args=[merchant.pk])
    assert console.get(approve_url).status_code == 403  # an operator is no checker
    page = as_user(checker).get(reverse("admin:merchants_merchant_change", args=[merchant.pk]))
    assert approve_url in page.text
    assert as_user(checker).post(approve_url, {"reason": ""}).status_code == 302
    authorisation = SettlementAuthorisation.objects.get(merchant=merchant)
    assert authorisation.reference == "SA-2026-002" and authorisation.in_force and authorisation.approved_by == checker


def test_console_payment_and_refund_lists(make_merchant, pay, refund, maker):
    merchant = make_merchant()
    payment = pay(merchant, "100.00", out_trade_no="SHOP-42")
    row = refund(payment, "10.00")
    console = as_user(maker)
    payments_url = reverse("admin:merchants_payment_changelist")
    page = console.get(payments_url, {"q": "SHOP-42"})
    assert page.status_code == 200 and payment.request_id in page.text
    assert payment.request_id not in console.get(payments_url, {"state__exact": "failed"}).text
    assert console.get(reverse("admin:merchants_payment_change", args=[payment.pk])).status_code == 200
    refunds_url = reverse("admin:merchants_refund_changelist")
    page = console.get(refunds_url, {"q": row.request_id})
    assert page.status_code == 200 and row.out_refund_no in page.text
    assert console.get(reverse("admin:merchants_payment_add")).status_code == 403
