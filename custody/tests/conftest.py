"""Custody test fixtures: operators (maker, checker), platforms onboarded through the real services,
sub-accounts opened and verified through the real card flow."""

from __future__ import annotations

import pytest

from accounts.cards import services as cards
from accounts.cards.models import MicroDeposit
from accounts.ledger.models import Account
from accounts.tests.admin_support import make_staff
from accounts.tests.cards_fixtures import card_number, reset_simulator  # noqa: F401  (autouse: a clean simulator)
from custody import services
from custody.models import LendingPlatform, PlatformDocument


@pytest.fixture
def maker(db):
    return make_staff("custody-maker", "operator")


@pytest.fixture
def checker(db):
    return make_staff("custody-checker", "supervisor")


@pytest.fixture
def apply_platform(make_party, maker):
    """``apply_platform("P001")``: an application with its three documents, state ``applied``."""

    def make(code: str = "P001", name: str = "", *, documents: bool = True) -> LendingPlatform:
        org = make_party(type="organisation", name=name or f"{code} 网贷平台有限公司")
        platform = services.platform_apply(code=code, name=org.name, credit_code=org.credit_code, party=org, actor=maker)
        if documents:
            for kind in PlatformDocument.REQUIRED_KINDS:
                services.platform_document_add(platform_id=platform.pk, kind=kind, number=f"{code}-{kind}", actor=maker)
        return platform

    return make


@pytest.fixture
def make_platform(apply_platform, maker, checker):
    """``make_platform("P001")``: an active platform (applied, submitted by the maker, approved by the checker)."""

    def make(code: str = "P001", name: str = "") -> LendingPlatform:
        platform = apply_platform(code, name)
        services.platform_submit_for_review(platform_id=platform.pk, actor=maker)
        return services.platform_approve(platform_id=platform.pk, actor=checker)

    return make


@pytest.fixture
def verify(django_capture_on_commit_callbacks):
    """Bind the holder's own same-name debit card to a sub-account and back-fill the micro-deposit:
    the sub-account becomes active (as the holder would do on the bank's pages)."""

    def do(sub_account, *, id_number: str, digits: str = "1234") -> Account:
        account = sub_account.account
        with django_capture_on_commit_callbacks(execute=True):
            card = cards.card_bind(
                account=account,
                card_number=card_number(digits=digits),
                holder_name=sub_account.party.name,
                id_number=id_number,
                reserved_mobile="13800000000",
                bound_account_kind="class_i",
            )
        deposit = MicroDeposit.objects.filter(card=card).order_by("-pk").first()
        cards.micro_deposit_confirm(card_id=card.pk, amount=str(deposit.amount))
        return Account.objects.get(pk=account.pk)

    return do
