"""Platform onboarding and life cycle: the FSM with maker ≠ checker, activation opening the
platform's books (own funds, its suspense and transit), the margin hold, termination."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError

from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Hold
from accounts.ledger.selectors import internal_account, internal_account_for
from accounts.ledger.services import internal_account_create
from accounts.parties.errors import KycNotApprovedError
from accounts.states.errors import AccountNotClosableError
from accounts.states.services import account_change_state
from backoffice.errors import FieldValidationError, InvalidStateError, MakerCheckerError
from backoffice.models import AuditLog
from custody import selectors, services
from custody.errors import (
    DocumentsIncompleteError,
    DuplicatePlatformError,
    IdentityMismatchError,
    PlatformHasMoneyError,
    PlatformNotActiveError,
)
from custody.models import LendingPlatform, PlatformDocument

pytestmark = pytest.mark.django_db


def _reload(platform) -> LendingPlatform:
    return LendingPlatform.objects.get(pk=platform.pk)


# -- onboarding FSM, maker-checker ---------------------------------------------------------------


def test_platform_apply_submit_approve_goes_live_audited(apply_platform, maker, checker):
    platform = apply_platform("P001")
    assert platform.state == LendingPlatform.State.APPLIED and platform.own_funds is None

    platform = services.platform_submit_for_review(platform_id=platform.pk, actor=maker)
    assert (platform.state, platform.submitted_by) == (LendingPlatform.State.UNDER_REVIEW, maker)

    platform = services.platform_approve(platform_id=platform.pk, actor=checker, note="documents checked")
    platform = _reload(platform)
    assert platform.state == LendingPlatform.State.ACTIVE
    assert (platform.reviewed_by, platform.review_note) == (checker, "documents checked")
    assert set(platform.documents.values_list("check_state", flat=True)) == {PlatformDocument.Check.ACCEPTED}
    audit = AuditLog.objects.filter(target_type="custody.lendingplatform").order_by("pk")
    actions = list(audit.values_list("action", flat=True))
    assert actions[0] == "custody.platform.apply" and "custody.platform.submit" in actions
    assert actions[-1] == "custody.platform.approve"


@pytest.mark.parametrize("who", ["submitter", "creator"])
def test_platform_approve_refused_to_the_maker(apply_platform, maker, checker, who, make_party):
    platform = apply_platform("P001")
    services.platform_submit_for_review(platform_id=platform.pk, actor=maker if who == "submitter" else checker)
    actor = maker
    with pytest.raises(MakerCheckerError) as refused:
        services.platform_approve(platform_id=platform.pk, actor=actor)
    assert (refused.value.code, refused.value.http_status) == ("maker_checker_violation", 403)
    assert _reload(platform).state == LendingPlatform.State.UNDER_REVIEW
    assert not Account.objects.filter(owner="platform:P001").exists()


def test_platform_approve_refused_without_an_identified_checker(apply_platform, maker):
    platform = apply_platform("P001")
    services.platform_submit_for_review(platform_id=platform.pk, actor=maker)
    with pytest.raises(MakerCheckerError):
        services.platform_approve(platform_id=platform.pk, actor=None)


def test_platform_maker_is_not_checker_is_a_database_check_too(apply_platform, maker):
    platform = apply_platform("P001")
    with pytest.raises(IntegrityError):
        LendingPlatform.objects.filter(pk=platform.pk).update(submitted_by=maker, reviewed_by=maker)


def test_platform_submit_needs_every_document(apply_platform, maker):
    platform = apply_platform("P001", documents=False)
    services.platform_document_add(platform_id=platform.pk, kind="licence", number="L-1", actor=maker)
    with pytest.raises(DocumentsIncompleteError) as refused:
        services.platform_submit_for_review(platform_id=platform.pk, actor=maker)
    assert "regulator_filing" in refused.value.text and "icp" in refused.value.text


def test_platform_return_needs_a_reason_and_goes_back_to_the_maker(apply_platform, maker, checker):
    platform = apply_platform("P001")
    services.platform_submit_for_review(platform_id=platform.pk, actor=maker)
    with pytest.raises(FieldValidationError):
        services.platform_return(platform_id=platform.pk, actor=checker, note=" ")
    platform = services.platform_return(platform_id=platform.pk, actor=checker, note="ICP licence expired")
    assert platform.state == LendingPlatform.State.APPLIED and platform.review_note == "ICP licence expired"
    # the maker may attach a new document and submit again
    services.platform_document_add(platform_id=platform.pk, kind="icp", number="ICP-2", actor=maker)
    assert services.platform_submit_for_review(platform_id=platform.pk, actor=maker).state == LendingPlatform.State.UNDER_REVIEW


def test_platform_state_is_protected_transitions_only_through_services(make_platform):
    platform = make_platform("P001")
    with pytest.raises(AttributeError):
        platform.state = LendingPlatform.State.TERMINATED


def test_platform_apply_validates_code_and_credit_code(make_party, maker):
    org = make_party(type="organisation", name="某平台")
    with pytest.raises(FieldValidationError) as refused:
        services.platform_apply(code="p 1", name="某平台", credit_code="91110105MA01ABCD2Y", party=org, actor=maker)
    assert set(refused.value.fields) == {"code", "credit_code"}
    services.platform_apply(code="p001", name="某平台", credit_code=org.credit_code, party=org, actor=maker)
    assert LendingPlatform.objects.get().code == "P001"  # upper-cased
    with pytest.raises(DuplicatePlatformError):
        services.platform_apply(code="P001", name="某平台", credit_code=org.credit_code, party=org, actor=maker)


def test_platform_apply_reuses_the_organisation_by_credit_code_and_checks_it(make_party, maker):
    org = make_party(type="organisation", name="某平台")
    platform = services.platform_apply(code="P002", name="某平台", credit_code=org.credit_code, actor=maker)
    assert platform.party == org
    other = make_party(type="organisation", name="别的公司")
    with pytest.raises(IdentityMismatchError):
        services.platform_apply(code="P003", name="某平台", credit_code=org.credit_code, party=other, actor=maker)


def test_platform_approve_needs_the_organisation_kyc_approved(make_party, maker, checker):
    org = make_party(type="organisation", name="待审机构", kyc="pending_review")
    platform = services.platform_apply(code="P009", name="待审机构", credit_code=org.credit_code, party=org, actor=maker)
    for kind in PlatformDocument.REQUIRED_KINDS:
        services.platform_document_add(platform_id=platform.pk, kind=kind, number=kind, actor=maker)
    services.platform_submit_for_review(platform_id=platform.pk, actor=maker)
    with pytest.raises(KycNotApprovedError):
        services.platform_approve(platform_id=platform.pk, actor=checker)
    assert _reload(platform).state == LendingPlatform.State.UNDER_REVIEW


# -- activation opens the platform's books ---------------------------------------------------------


def test_activation_opens_own_funds_suspense_and_transit_in_the_platform_books(make_platform):
    platform = make_platform("P001")
    own = platform.own_funds
    assert (own.role, own.tier, own.kind, own.owner, own.party_id) == (
        Role.PLATFORM_OWN,
        Account.Tier.CORPORATE,
        Account.Kind.CUSTOMER,
        "platform:P001",
        platform.party_id,
    )
    assert own.state == Account.State.ACTIVE
    suspense = internal_account(Role.SUSPENSE, owner="platform:P001")
    transit = internal_account(Role.TRANSIT_WITHDRAWAL, owner="platform:P001")
    assert suspense.kind == transit.kind == Account.Kind.INTERNAL
    # the bank's own stay what internal_account(role) answers
    assert internal_account(Role.SUSPENSE).owner == "" and internal_account(Role.SUSPENSE) != suspense
    assert {a.role for a in selectors.platform_books(platform=platform)} == {
        Role.PLATFORM_OWN,
        Role.SUSPENSE,
        Role.TRANSIT_WITHDRAWAL,
    }


def test_internal_account_is_unique_on_role_and_owner(make_platform):
    make_platform("P001")
    with pytest.raises(IntegrityError):
        internal_account_create(role=Role.SUSPENSE, name="second", owner="platform:P001")
    with pytest.raises(IntegrityError):
        internal_account_create(role=Role.CLEARING, name="second clearing")
    # another owner is another account
    assert internal_account_create(role=Role.SUSPENSE, name="P002 suspense", owner="platform:P002").owner == "platform:P002"


def test_internal_account_for_picks_the_owner_s_own_else_the_bank_s(make_platform, make_account):
    platform = make_platform("P001")
    bank_customer = make_account()
    assert internal_account_for(Role.TRANSIT_WITHDRAWAL, account=platform.own_funds).owner == "platform:P001"
    assert internal_account_for(Role.SUSPENSE, account=platform.own_funds).owner == "platform:P001"
    assert internal_account_for(Role.TRANSIT_WITHDRAWAL, account=bank_customer).owner == ""
    # an owner without its own account of that role falls back to the bank's
    assert internal_account_for(Role.FEE_INCOME, account=platform.own_funds).owner == ""


# -- margin, life cycle -----------------------------------------------------------------------------


def test_platform_margin_is_a_margin_hold_on_own_funds(make_platform, fund):
    platform = make_platform("P001")
    fund(platform.own_funds, "100000.00")
    hold = services.platform_margin_place(platform_id=platform.pk, amount=Decimal("30000.00"), key="2026-12")
    assert (hold.reason, hold.account_id, hold.state) == (Hold.Reason.MARGIN, platform.own_funds_id, Hold.State.ACTIVE)
    own = Account.objects.get(pk=platform.own_funds_id)
    assert (own.balance, own.frozen, own.available) == (Decimal("100000.00"), Decimal("30000.00"), Decimal("70000.00"))
    assert selectors.platform_margin(platform=platform) == Decimal("30000.00")
    # idempotent on the key
    again = services.platform_margin_place(platform_id=platform.pk, amount=Decimal("30000.00"), key="2026-12")
    assert again.pk == hold.pk and selectors.platform_margin(platform=platform) == Decimal("30000.00")
    services.platform_margin_release(platform_id=platform.pk, hold_id=hold.pk)
    assert selectors.platform_margin(platform=platform) == Decimal("0.00")


def test_platform_suspend_resume_wind_down_terminate(make_platform, maker, fund):
    platform = make_platform("P001")
    platform = services.platform_suspend(platform_id=platform.pk, actor=maker, reason="regulator notice")
    assert platform.state == LendingPlatform.State.SUSPENDED
    with pytest.raises(PlatformNotActiveError):
        services.platform_margin_place(platform_id=platform.pk, amount=Decimal("1.00"), key="k")
    platform = services.platform_resume(platform_id=platform.pk, actor=maker)
    assert platform.state == LendingPlatform.State.ACTIVE
    with pytest.raises(InvalidStateError):
        services.platform_terminate(platform_id=platform.pk, actor=maker, reason="early")
    platform = services.platform_wind_down(platform_id=platform.pk, actor=maker, reason="exit")
    fund(platform.own_funds, "5.00")
    with pytest.raises(PlatformHasMoneyError) as refused:
        services.platform_terminate(platform_id=platform.pk, actor=maker, reason="done")
    assert platform.own_funds.number in refused.value.text
    assert _reload(platform).state == LendingPlatform.State.WINDING_DOWN


def test_platform_terminates_once_its_books_are_empty_and_own_funds_then_may_close(make_platform, maker, checker):
    platform = make_platform("P001")
    with pytest.raises(AccountNotClosableError) as refused:
        account_change_state(account_id=platform.own_funds_id, action="close", actor=checker)
    assert "platform_not_terminated" in refused.value.data["reasons"]
    services.platform_wind_down(platform_id=platform.pk, actor=maker, reason="exit")
    assert services.platform_terminate(platform_id=platform.pk, actor=maker, reason="done").state == "terminated"
    closed = account_change_state(account_id=platform.own_funds_id, action="close", actor=checker)
    assert closed.state == Account.State.CLOSED
