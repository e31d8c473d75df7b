"""Merchant onboarding (maker-checker, accounts at activation, dormancy exemption), payments'
business dates around the channel's cut-off (日切), and the channel's clearing file (R-REC-01)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.payments.channels import adapter_for
from accounts.payments.services import channel_register
from accounts.states.dormancy import dormancy_exempt
from backoffice.errors import FieldValidationError, InvalidStateError, MakerCheckerError
from merchants import onboarding, settlement
from merchants.errors import (
    DuplicateReferenceError,
    MerchantNotActiveError,
    NoFeeRateError,
    SettlementAuthorisationMissingError,
)
from merchants.models import Merchant, Payment, SettlementAuthorisation
from merchants.tests.conftest import AUTHORISATION

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_onboarding_maker_checker_and_accounts_at_activation(make_party, maker, checker):
    org = make_party(type="organisation", name="甲商户有限公司")
    merchant = onboarding.merchant_apply(name=org.name, credit_code=org.credit_code, actor=maker, **AUTHORISATION)
    assert merchant.party == org and merchant.state == Merchant.State.APPLIED
    assert merchant.settlement_cycle_days == 1
    onboarding.merchant_submit_for_review(merchant_id=merchant.pk, actor=maker)
    with pytest.raises(MakerCheckerError):
        onboarding.merchant_approve(merchant_id=merchant.pk, actor=maker)
    merchant = onboarding.merchant_approve(merchant_id=merchant.pk, actor=checker)
    assert merchant.state == Merchant.State.ACTIVE
    accounts = {
        a.role: a
        for a in Account.objects.filter(
            pk__in=[
                merchant.pending_account_id,
                merchant.available_account_id,
                merchant.reserve_account_id,
                merchant.receivable_account_id,
            ]
        )
    }
    assert set(accounts) == {Role.MERCHANT_PENDING, Role.MERCHANT_AVAILABLE, Role.MERCHANT_RESERVE, Role.MERCHANT_RECEIVABLE}
    for account in accounts.values():
        assert account.owner == f"merchant:{merchant.pk}"
        assert dormancy_exempt(account)
    assert accounts[Role.MERCHANT_PENDING].tier == Account.Tier.CORPORATE
    assert accounts[Role.MERCHANT_PENDING].subject_id == "224102"
    assert accounts[Role.MERCHANT_RESERVE].subject_id == "224105"
    # The standing settlement authorisation the application carried, recorded by the approval.
    authorisation = SettlementAuthorisation.objects.get(merchant=merchant)
    assert (authorisation.reference, authorisation.signed_on, authorisation.signatory) == (
        "SA-2026-001",
        dt.date(2026, 1, 5),
        "王五 Wang Wu",
    )
    assert authorisation.scope == SettlementAuthorisation.Scope.SETTLED_FUNDS_TO_VERIFIED_ACCOUNT
    assert (authorisation.recorded_by, authorisation.approved_by, authorisation.in_force) == (maker, checker, True)


def test_approval_without_a_settlement_authorisation_is_refused(make_party, maker, checker):
    org = make_party(type="organisation", name="戊商户有限公司")
    merchant = onboarding.merchant_apply(name=org.name, credit_code=org.credit_code, actor=maker)
    onboarding.merchant_submit_for_review(merchant_id=merchant.pk, actor=maker)
    with pytest.raises(SettlementAuthorisationMissingError) as refused:
        onboarding.merchant_approve(merchant_id=merchant.pk, actor=checker)
    assert refused.value.code == "settlement_authorisation_required" and "结算授权" in refused.value.text
    with translation.override("en"):
        assert "no signed standing settlement authorisation" in refused.value.text
    merchant.refresh_from_db()
    assert merchant.state == Merchant.State.KYC_REVIEW and merchant.pending_account_id is None  # nothing opened
    assert not SettlementAuthorisation.objects.filter(merchant=merchant).exists()
    # Half an authorisation is a field error; the checker returns it, the maker completes it.
    with pytest.raises(FieldValidationError) as bad:
        onboarding.merchant_apply(
            name="己", credit_code=org.credit_code, actor=maker, authorisation_reference="SA-1", authorisation_signatory=""
        )
    assert set(bad.value.fields) == {"authorisation_signatory", "authorisation_signed_on"}
    with pytest.raises(InvalidStateError):
        onboarding.merchant_authorisation_set(
            merchant_id=merchant.pk, reference="SA-9", signed_on=dt.date(2026, 1, 5), signatory="王五", actor=maker
        )  # under review: the maker may not change it now
    onboarding.merchant_return(merchant_id=merchant.pk, actor=checker, note="缺结算授权")
    with pytest.raises(FieldValidationError) as future:
        onboarding.merchant_authorisation_set(
            merchant_id=merchant.pk, reference="SA-9", signed_on=dt.date(2999, 1, 1), signatory="王五", actor=maker
        )
    assert set(future.value.fields) == {"authorisation_signed_on"}
    onboarding.merchant_authorisation_set(
        merchant_id=merchant.pk, reference="SA-9", signed_on=dt.date(2026, 1, 5), signatory="王五", actor=maker
    )
    onboarding.merchant_submit_for_review(merchant_id=merchant.pk, actor=maker)
    with pytest.raises(MakerCheckerError):
        onboarding.merchant_approve(merchant_id=merchant.pk, actor=maker)  # maker ≠ checker still holds
    merchant = onboarding.merchant_approve(merchant_id=merchant.pk, actor=checker)
    assert merchant.state == Merchant.State.ACTIVE and merchant.settlement_authorisation.reference == "SA-9"


def test_a_revoked_settlement_authorisation_is_replaced_under_maker_checker(make_merchant, maker, checker):
    merchant = make_merchant()
    with pytest.raises(InvalidStateError):  # in force: nothing to replace
        onboarding.merchant_authorisation_set(
            merchant_id=merchant.pk, reference="SA-2", signed_on=dt.date(2026, 2, 1), signatory="赵六", actor=maker
        )
    settlement.settlement_authorisation_revoke(merchant_id=merchant.pk, actor=checker)
    with pytest.raises(SettlementAuthorisationMissingError):  # no replacement entered yet
        onboarding.merchant_authorisation_replace_approve(merchant_id=merchant.pk, actor=checker)
    onboarding.merchant_authorisation_set(
        merchant_id=merchant.pk, reference="SA-2", signed_on=dt.date(2026, 2, 1), signatory="赵六", actor=maker
    )
    with pytest.raises(MakerCheckerError):
        onboarding.merchant_authorisation_replace_approve(merchant_id=merchant.pk, actor=maker)
    authorisation = onboarding.merchant_authorisation_replace_approve(merchant_id=merchant.pk, actor=checker)
    assert (authorisation.reference, authorisation.signatory, authorisation.in_force) == ("SA-2", "赵六", True)
    assert (authorisation.recorded_by, authorisation.approved_by) == (maker, checker)


def test_onboarding_refusals(make_party, maker, checker):
    with pytest.raises(FieldValidationError) as bad:
        onboarding.merchant_apply(name="", credit_code="91350100M000100Y4X", actor=maker)
    assert set(bad.value.fields) == {"name", "credit_code"}
    org = make_party(type="organisation", name="乙商户有限公司")
    merchant = onboarding.merchant_apply(name=org.name, credit_code=org.credit_code, actor=maker)
    with pytest.raises(InvalidStateError):
        onboarding.merchant_approve(merchant_id=merchant.pk, actor=checker)  # not submitted
    onboarding.merchant_submit_for_review(merchant_id=merchant.pk, actor=maker)
    returned = onboarding.merchant_return(merchant_id=merchant.pk, actor=checker, note="营业执照模糊")
    assert returned.state == Merchant.State.APPLIED and returned.review_note == "营业执照模糊"


def test_suspended_merchant_takes_no_payment(make_merchant, pay, maker):
    merchant = make_merchant()
    onboarding.merchant_suspend(merchant_id=merchant.pk, actor=maker)
    with pytest.raises(MerchantNotActiveError):
        pay(merchant, "1.00")


def test_payment_refusals(make_merchant, pay, make_party, maker, checker):
    merchant = make_merchant()
    pay(merchant, "1.00", out_trade_no="A-1")
    with pytest.raises(DuplicateReferenceError):
        pay(merchant, "1.00", out_trade_no="A-1")
    with pytest.raises(FieldValidationError) as bad:
        pay(merchant, "5.00", discounts=[{"amount": "5.00", "funder": "merchant"}])
    assert "discounts" in bad.value.fields
    org = make_party(type="organisation", name="丙商户有限公司")
    other = onboarding.merchant_apply(name=org.name, credit_code=org.credit_code, actor=maker, **AUTHORISATION)
    onboarding.merchant_submit_for_review(merchant_id=other.pk, actor=maker)
    other = onboarding.merchant_approve(merchant_id=other.pk, actor=checker)
    with pytest.raises(NoFeeRateError):
        pay(other, "1.00")


@pytest.mark.parametrize(
    ("cutoff", "before", "after"),
    [
        (dt.time(0, 0), dt.datetime(2026, 12, 1, 23, 59, 59, 999000), dt.datetime(2026, 12, 2, 0, 0, 0, 0)),
        (dt.time(23, 0), dt.datetime(2026, 12, 1, 22, 59, 59, 999000), dt.datetime(2026, 12, 1, 23, 0, 0, 0)),
    ],
)
def test_r_rec_01_payments_around_the_cut_off_land_in_exactly_one_business_date(
    make_merchant, pay, pay_channel, cutoff, before, after
):
    channel_register(code=pay_channel.code, cutoff_time=cutoff)
    merchant = make_merchant()
    first = pay(merchant, "1.00", now=before.replace(tzinfo=SHANGHAI))
    second = pay(merchant, "1.00", now=after.replace(tzinfo=SHANGHAI))
    assert first.business_date == dt.date(2026, 12, 1)
    assert second.business_date == dt.date(2026, 12, 2)
    assert Payment.objects.filter(business_date=dt.date(2026, 12, 1)).count() == 1
    assert Payment.objects.filter(business_date=dt.date(2026, 12, 2)).count() == 1


def test_r_rec_01_clearing_file_lists_payments_and_refunds_of_the_business_date(make_merchant, pay, refund, pay_channel):
    merchant = make_merchant()
    payment = pay(merchant, "100.00")
    row = refund(payment, "30.00")
    today = pay_channel.business_date_of(dt.datetime.now(dt.UTC))
    lines = adapter_for(pay_channel).clearing_file(business_date=today)
    assert [(line.request_id, line.kind, line.amount) for line in lines] == [
        (payment.request_id, "payment", Decimal("100.00")),
        (row.request_id, "refund", Decimal("30.00")),
    ]
    assert all(line.business_date == today and line.channel_txn_id for line in lines)
    assert adapter_for(pay_channel).clearing_file(business_date=today - dt.timedelta(days=3)) == []


def test_a_merchant_closes_only_with_empty_books(make_merchant, pay, refund, maker):
    merchant = make_merchant()
    payment = pay(merchant, "10.00")
    with pytest.raises(InvalidStateError):
        onboarding.merchant_close(merchant_id=merchant.pk, actor=maker)
    refund(payment, "10.00")
    assert onboarding.merchant_close(merchant_id=merchant.pk, actor=maker).state == Merchant.State.CLOSED


def test_http_simulator_payments_refunds_and_clearing_file(make_channel):
    """The HTTP simulator and its adapter speak payments, refunds and clearing files too."""
    from accounts.payments.channels import ChannelStatus
    from accounts.payments.models import Channel
    from accounts.payments.simulator_http import start_simulator_server

    server = start_simulator_server(code="httppay", secret="secret-httppay")
    try:
        channel = make_channel(
            "httppay", adapter=Channel.Adapter.HTTP_SIMULATOR, base_url=server.url, timeout_seconds=2, cutoff_time=dt.time(23, 0)
        )
        adapter = adapter_for(channel)
        paid = adapter.create_payment(request_id="PY0000000001", amount=Decimal("95.00"), method="wechat")
        assert (paid.status, paid.amount) == (ChannelStatus.SUCCESS, Decimal("95.00"))
        assert adapter.query_payment(request_id="PY0000000001").status == ChannelStatus.SUCCESS
        refunded = adapter.refund(request_id="RF0000000001", payment_request_id="PY0000000001", amount=Decimal("60.00"))
        assert refunded.status == ChannelStatus.SUCCESS
        too_much = adapter.refund(request_id="RF0000000002", payment_request_id="PY0000000001", amount=Decimal("35.01"))
        assert too_much.status == ChannelStatus.FAILURE  # the channel's own cap: never more than was paid
        assert adapter.query_refund(request_id="RF0000000001").status == ChannelStatus.SUCCESS
        today = channel.business_date_of(dt.datetime.now(dt.UTC))
        rows = adapter.clearing_file(business_date=today)
        assert [(r.request_id, r.kind, r.amount) for r in rows] == [
            ("PY0000000001", "payment", Decimal("95.00")),
            ("RF0000000001", "refund", Decimal("60.00")),
        ]
    finally:
        server.stop()


def test_a_merchants_account_stays_open_while_the_merchant_is_not_closed(make_merchant):
    from accounts.states.services import account_close_blockers

    merchant = make_merchant()
    assert "merchant_not_closed" in account_close_blockers(account=merchant.available_account)


def test_who_entered_the_settlement_authorisation_cannot_approve_it(make_party, maker, checker):
    org = make_party(type="organisation", name="辛商户有限公司")
    merchant = onboarding.merchant_apply(name=org.name, credit_code=org.credit_code, actor=maker)
    onboarding.merchant_authorisation_set(
        merchant_id=merchant.pk, reference="SA-3", signed_on=dt.date(2026, 1, 5), signatory="王五", actor=checker
    )
    onboarding.merchant_submit_for_review(merchant_id=merchant.pk, actor=maker)
    with pytest.raises(MakerCheckerError):
        onboarding.merchant_approve(merchant_id=merchant.pk, actor=checker)
    assert Merchant.objects.get(pk=merchant.pk).state == Merchant.State.KYC_REVIEW
