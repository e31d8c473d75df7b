"""The platform's corporate settlement account (对公结算账户): bound to its own funds in its own name
and credit code, no Luhn and no BIN (R-VER-03), verified by a micro-deposit or by an operator other
than the one who bound it; then the platform's own funds may be withdrawn to it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.cards import services as cards
from accounts.cards.models import BoundCard, MicroDeposit
from accounts.ledger.chart import Role
from accounts.payments import authorisation, withdrawals
from accounts.payments.models import Withdrawal
from accounts.tests.payments_fixtures import *  # noqa: F401,F403  (make_channel, a clean channel simulator)
from accounts.tests.payments_fixtures import PASSWORD, PASSWORD_AUTH
from backoffice.errors import FieldValidationError, InvalidStateError, MakerCheckerError
from custody import services
from custody.errors import PlatformNotActiveError
from custody.models import LendingPlatform

pytestmark = pytest.mark.django_db

NUMBER = "110060149018000123456"  # a corporate account number: no Luhn, no BIN


def test_settlement_account_verified_by_micro_deposit(make_platform, maker, django_capture_on_commit_callbacks):
    platform = make_platform("P001")
    with django_capture_on_commit_callbacks(execute=True):
        card = services.platform_settlement_bind(
            platform_id=platform.pk, account_number=NUMBER, bank_name="某银行北京分行", actor=maker
        )
    card = BoundCard.objects.get(pk=card.pk)
    assert (card.kind, card.state, card.bin_prefix, card.card_type, card.warnings) == (
        BoundCard.Kind.CORPORATE_ACCOUNT,
        BoundCard.State.AWAITING_MICRO_DEPOSIT,
        "",
        "",
        [],
    )
    assert card.holder_name == platform.party.name and card.card_number_masked == "1100 **** **** 3456"
    assert LendingPlatform.objects.get(pk=platform.pk).settlement_card_id == card.pk
    deposit = MicroDeposit.objects.get(card=card)
    assert deposit.state == MicroDeposit.State.AWAITING_BACKFILL
    assert cards.micro_deposit_confirm(card_id=card.pk, amount=str(deposit.amount)).state == BoundCard.State.VERIFIED


def test_settlement_account_verified_by_another_operator(make_platform, maker, checker):
    platform = make_platform("P001")
    card = services.platform_settlement_bind(
        platform_id=platform.pk, account_number=NUMBER, bank_name="某银行", verification="operator", actor=maker
    )
    assert card.state == BoundCard.State.VERIFYING and not MicroDeposit.objects.filter(card=card).exists()
    with pytest.raises(MakerCheckerError):
        cards.corporate_account_verify(card_id=card.pk, actor=maker, evidence="开户许可证")
    with pytest.raises(FieldValidationError):
        cards.corporate_account_verify(card_id=card.pk, actor=checker, evidence=" ")
    card = cards.corporate_account_verify(card_id=card.pk, actor=checker, evidence="开户许可证 J1000012345601")
    assert (card.state, card.verified_by) == (BoundCard.State.VERIFIED, checker)
    with pytest.raises(InvalidStateError):
        cards.corporate_account_verify(card_id=card.pk, actor=checker, evidence="again")


def test_settlement_account_same_name_and_credit_code_only(make_platform, make_party, make_account):
    platform = make_platform("P001")
    other = make_party(type="organisation", name="别的公司")
    with pytest.raises(cards.CardHolderMismatchError):
        cards.corporate_account_bind(
            account=platform.own_funds,
            account_number=NUMBER,
            account_name=platform.party.name,
            credit_code=other.credit_code,
            bank_name="某银行",
        )
    with pytest.raises(cards.CardHolderMismatchError):
        cards.corporate_account_bind(
            account=platform.own_funds,
            account_number=NUMBER,
            account_name="别的公司",
            credit_code=platform.credit_code,
            bank_name="某银行",
        )
    with pytest.raises(FieldValidationError) as refused:
        cards.corporate_account_bind(
            account=platform.own_funds, account_number="12ab", account_name="x", credit_code="bad", bank_name=""
        )
    assert {"account_number", "bank_name"} <= set(refused.value.fields)
    person = make_account(role=Role.PERSONAL)
    with pytest.raises(InvalidStateError):
        cards.corporate_account_bind(
            account=person, account_number=NUMBER, account_name=person.party.name, credit_code=platform.credit_code, bank_name="b"
        )


def test_settlement_account_refused_before_activation(apply_platform, maker):
    platform = apply_platform("P009")
    with pytest.raises(PlatformNotActiveError):
        services.platform_settlement_bind(platform_id=platform.pk, account_number=NUMBER, bank_name="b", actor=maker)


def test_own_funds_withdraw_to_the_verified_settlement_account(make_platform, make_channel, maker, checker, fund):
    make_channel()
    platform = make_platform("P001")
    card = services.platform_settlement_bind(
        platform_id=platform.pk, account_number=NUMBER, bank_name="某银行", verification="operator", actor=maker
    )
    cards.corporate_account_verify(card_id=card.pk, actor=checker, evidence="开户许可证")
    fund(platform.own_funds, "5000.00")
    authorisation.transaction_password_set(party_id=platform.party_id, password=PASSWORD)
    withdrawal = withdrawals.withdrawal_create(
        client="test", out_request_no="own-1", account=platform.own_funds, amount="1000.00", authorization=PASSWORD_AUTH
    )
    withdrawal = Withdrawal.objects.get(pk=withdrawal.pk)
    assert (withdrawal.state, withdrawal.card_id, withdrawal.amount) == ("funds_held", card.pk, Decimal("1000.00"))
