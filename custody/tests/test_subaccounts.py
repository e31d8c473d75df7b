"""Depository sub-accounts: one per platform, client and role (R-DEP-01), a known person reused, the
depository tier outside the Class I/II/III counting and limits, dormancy sweeps skipping the
platform's books, and the platform's in-flight money attributed to it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import uuid4

import pytest
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.limits.services import Flow, FlowKind, LimitExceededError, limit_guard
from accounts.parties.errors import KycNotApprovedError
from accounts.parties.models import Party
from accounts.parties.services import account_open
from accounts.states import dormancy
from accounts.states.models import DormancyPolicy
from accounts.tests.cards_fixtures import ID_ZHANG
from backoffice.errors import FieldValidationError
from custody import selectors, services
from custody.errors import DuplicateSubAccountError, IdentityMismatchError, PlatformNotActiveError
from custody.models import LendingPlatform, SubAccount

pytestmark = pytest.mark.django_db

ZHANG = {"type": "person", "name": "张三", "id_number": ID_ZHANG, "mobile": "13800000000"}


def _open(platform, role="lender", identity=None, **kwargs) -> SubAccount:
    return services.subaccount_open(platform=platform, role=role, identity_data=identity or ZHANG, actor_label="test", **kwargs)


# -- R-DEP-01 ----------------------------------------------------------------------------------------


def test_r_dep_01_one_sub_account_per_platform_party_and_role(make_platform):
    platform = make_platform("P001")
    lender = _open(platform, "lender")
    with pytest.raises(DuplicateSubAccountError) as refused:
        _open(platform, "lender")
    assert (refused.value.code, refused.value.http_status) == ("duplicate_sub_account", 409)
    assert refused.value.data["account"] == lender.account.number
    # another role of the same client is another sub-account
    borrower = _open(platform, "borrower")
    assert borrower.party_id == lender.party_id and borrower.account_id != lender.account_id
    assert SubAccount.objects.filter(platform=platform).count() == 2


def test_r_dep_01_the_unique_constraint_backs_the_service(make_platform):
    from django.db import IntegrityError, transaction

    platform = make_platform("P001")
    first = _open(platform, "lender")
    other = account_open(party=first.party, role=Role.LENDER, tier=Account.Tier.DEPOSITORY, owner="platform:P001")
    with pytest.raises(IntegrityError), transaction.atomic():
        SubAccount.objects.create(platform=platform, party=first.party, role="lender", account=other)


def test_r_dep_01_a_person_on_two_platforms_has_two_sub_accounts_and_one_party(make_platform):
    a, b = make_platform("PA"), make_platform("PB")
    on_a, on_b = _open(a), _open(b)
    assert on_a.party_id == on_b.party_id and Party.objects.filter(name="张三").count() == 1
    assert on_a.account.owner == "platform:PA" and on_b.account.owner == "platform:PB"
    assert list(selectors.platform_subaccounts(platform=a)) == [on_a]
    assert selectors.platform_subaccount(platform=a, number=on_b.account.number) is None


def test_subaccount_open_reuses_a_party_the_bank_knows_and_refuses_another_name(make_platform, make_party):
    known = make_party(name="张三", id_number=ID_ZHANG)
    platform = make_platform("P001")
    assert _open(platform).party_id == known.pk
    with pytest.raises(IdentityMismatchError) as refused:
        _open(platform, "borrower", identity={**ZHANG, "name": "李四"})
    assert refused.value.http_status == 422


def test_subaccount_open_creates_an_unknown_person_pending_kyc_and_refuses_a_rejected_one(make_platform, make_party):
    platform = make_platform("P001")
    sub = _open(platform)
    assert sub.party.kyc_state == Party.KycState.PENDING_REVIEW
    rejected = make_party(name="王五", kyc="rejected")
    with pytest.raises(KycNotApprovedError):
        services.subaccount_open(platform=platform, role="lender", party=rejected)


def test_subaccount_is_depository_tier_in_the_platform_books_pending_until_the_card_verifies(make_platform, verify):
    platform = make_platform("P001")
    sub = _open(platform)
    account = sub.account
    assert (account.tier, account.role, account.owner, account.state) == (
        Account.Tier.DEPOSITORY,
        Role.LENDER,
        "platform:P001",
        Account.State.PENDING_VERIFICATION,
    )
    assert verify(sub, id_number=ID_ZHANG).state == Account.State.ACTIVE


def test_subaccount_roles_map_to_their_subjects(make_platform, make_party):
    platform = make_platform("P001")
    org = make_party(type="organisation", name="担保公司")
    guarantor = services.subaccount_open(platform=platform, role="guarantor", party=org)
    compensation = services.subaccount_open(platform=platform, role="compensation", party=org)
    lender = _open(platform)
    assert (guarantor.account.subject_id, compensation.account.subject_id, lender.account.subject_id) == (
        "201201",
        "201201",
        "201101",
    )


def test_subaccount_open_refused_unless_the_platform_allows_the_role(apply_platform, make_platform, maker):
    pending = apply_platform("P009")
    with pytest.raises(PlatformNotActiveError):
        _open(pending)
    platform = make_platform("P001")
    services.platform_suspend(platform_id=platform.pk, actor=maker, reason="notice")
    with pytest.raises(PlatformNotActiveError) as refused:
        _open(platform)
    assert refused.value.data["state"] == LendingPlatform.State.SUSPENDED
    services.platform_wind_down(platform_id=platform.pk, actor=maker, reason="exit")
    for role in ("lender", "borrower", "guarantor"):
        with pytest.raises(PlatformNotActiveError):
            _open(platform, role)
    assert _open(platform, "compensation").role == "compensation"


def test_subaccount_open_validates_role_and_party(make_platform):
    platform = make_platform("P001")
    with pytest.raises(FieldValidationError):
        _open(platform, "merchant")
    with pytest.raises(FieldValidationError):
        services.subaccount_open(platform=platform, role="lender")


def test_depository_tier_is_opened_only_in_a_platform_s_books(make_party):
    with pytest.raises(FieldValidationError):
        account_open(party=make_party(), role=Role.LENDER, tier=Account.Tier.DEPOSITORY)


# -- outside the Class I/II/III counting and limits ------------------------------------------------


def test_depository_tier_outside_class_counting_r_acc_01_02(make_platform, make_party, settings):
    settings.ACCOUNTS_MAX_CLASS2_PER_PERSON = 1
    person = make_party(name="张三", id_number=ID_ZHANG)
    account_open(party=person, role=Role.PERSONAL, tier="I")
    account_open(party=person, role=Role.PERSONAL, tier="II")
    a, b = make_platform("PA"), make_platform("PB")
    _open(a), _open(a, "borrower"), _open(b)  # a Class I and a Class II at their maximum: sub-accounts still open
    # and sub-accounts do not count against the classes
    assert Account.objects.filter(party=person, tier="I").count() == 1


def test_depository_tier_outside_tier_limits_a_lender_receives_more_than_class_ii_allows(
    make_platform, make_party, verify, clearing
):
    platform = make_platform("P001")
    lender = verify(_open(platform), id_number=ID_ZHANG)
    big = Decimal("250000.00")  # above Class II's 200,000.00 a year of non-bound inflows (and 10,000.00 a day)

    def inflow(account):
        return ledger.post_transfer(
            client="test",
            idempotency_key=str(uuid4()),
            kind="test",
            legs=ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=big),
            guards=[limit_guard(flows=[Flow(account.pk, FlowKind.NON_BOUND_INFLOW)])],
        )

    inflow(lender)
    assert Account.objects.get(pk=lender.pk).balance == big
    # the same inflow on a Class II account is refused by its limits
    class2 = account_open(party=make_party(name="李四"), role=Role.PERSONAL, tier="II")
    Account.objects.filter(pk=class2.pk).update(state=Account.State.ACTIVE, face_to_face_verified=True)
    with pytest.raises(LimitExceededError):
        inflow(Account.objects.get(pk=class2.pk))


# -- dormancy --------------------------------------------------------------------------------------


def test_dormancy_r_acc_16_17_18_skip_depository_and_platform_accounts(make_platform, make_account, verify):
    platform = make_platform("P001")
    lender = verify(_open(platform), id_number=ID_ZHANG)
    ordinary = make_account()  # a bank Class I account, no transaction either
    later = timezone.now() + dt.timedelta(days=800)
    suspended = dormancy.accounts_suspend_unused(now=later)
    assert ordinary.pk in suspended
    assert lender.pk not in suspended and platform.own_funds_id not in suspended
    assert Account.objects.get(pk=lender.pk).state == Account.State.ACTIVE
    # R-ACC-17: a policy over every tier still skips them
    policy = DormancyPolicy.objects.create(name="all", inactive_days=30, is_active=True, tiers=[], excluded_kinds=[])
    for account_id in (lender.pk, platform.own_funds_id):
        account = dormancy.account_mark_dormant(account_id=account_id, policy_id=policy.pk, now=later)
        assert account.state == Account.State.ACTIVE
    # R-ACC-18: the platform's corporate own funds get no dormancy notice
    assert dormancy.entity_dormancy_notify(account_id=platform.own_funds_id, now=later) is None
    assert platform.own_funds_id not in dormancy.entity_dormancy_run(now=later)["notified"]
    assert dormancy.dormancy_exempt(Account.objects.get(pk=lender.pk))
    assert not dormancy.dormancy_exempt(ordinary)
