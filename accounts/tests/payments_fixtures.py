"""Shared fixtures of the recharge and withdrawal tests: a channel, a customer ready to move
money (KYC approved, an active account, a verified same-name debit card, a transaction
password), the in-process simulator, and a books-versus-channel check."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Hold
from accounts.ledger.selectors import internal_account
from accounts.payments.models import Channel, Withdrawal

SHANGHAI = ZoneInfo("Asia/Shanghai")
ABC_DEBIT = "6228480402564890018"  # DOMAIN.md §2.4: 农业银行 debit, passes Luhn
PASSWORD = "135790"
PASSWORD_AUTH = {"method": "password", "password": PASSWORD}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def reset_channel_simulators():
    from accounts.payments.simulator import reset_simulators

    reset_simulators()
    yield
    reset_simulators()


@pytest.fixture
def make_channel(db):
    from accounts.payments.services import channel_register

    def make(code: str = "sim", strategy: str = Channel.Strategy.FREEZE, **fields):
        fields.setdefault("name", f"Simulator {code}")
        fields.setdefault("callback_secret", f"secret-{code}")
        return channel_register(code=code, withdrawal_strategy=strategy, **fields)

    return make


@pytest.fixture
def channel(make_channel):
    return make_channel()


@pytest.fixture
def sim(channel):
    from accounts.payments.simulator import simulator

    return simulator(channel.code, secret=channel.callback_secret)


@pytest.fixture
def customer(make_party, make_account, django_capture_on_commit_callbacks):
    """An active personal account (Class I by default) with a verified debit card (element check
    and micro-deposit through the verification simulator) and a transaction password."""
    from accounts.cards import services as cards
    from accounts.cards.models import MicroDeposit
    from accounts.payments import authorisation

    def make(name: str = "张三", tier: str = Account.Tier.CLASS_I, party=None) -> Account:
        party = party or make_party(name=name)
        account = make_account(party=party, role=Role.PERSONAL, tier=tier)
        from accounts.parties.models import Party

        id_number = Party.objects.get(pk=party.pk).id_number
        with django_capture_on_commit_callbacks(execute=True):
            card = cards.card_bind(
                account=account,
                card_number=ABC_DEBIT,
                holder_name=name,
                id_number=id_number,
                reserved_mobile=party.mobile,
                bound_account_kind="class_i",
            )
        deposit = MicroDeposit.objects.filter(card=card).order_by("-pk").first()
        if deposit is not None:
            cards.micro_deposit_confirm(card_id=card.pk, amount=str(deposit.amount))
        if not authorisation.transaction_password_is_set(party=party):
            authorisation.transaction_password_set(party_id=party.pk, password=PASSWORD)
        return Account.objects.get(pk=account.pk)

    return make


def internal(role: str) -> Account:
    return internal_account(role)


def books(account: Account) -> dict[str, Decimal]:
    """What an operator checks: the customer's balance and frozen, transit, clearing, fee income."""
    account = Account.objects.get(pk=account.pk)
    return {
        "balance": account.balance,
        "frozen": account.frozen,
        "transit": internal(Role.TRANSIT_WITHDRAWAL).balance,
        "clearing": internal(Role.CLEARING).balance,
        "fee_income": internal(Role.FEE_INCOME).balance,
        "withdrawal_holds": sum(
            (h.amount for h in Hold.objects.filter(state=Hold.State.ACTIVE, reason=Hold.Reason.WITHDRAWAL, client="withdrawals")),
            Decimal("0"),
        ),
    }


def assert_books_agree_with_channel(sim) -> None:
    """The channel's net payouts equal the bank's succeeded withdrawals, to the fen; the invariants
    and the whole ledger check clean."""
    from accounts.ledger.checks import ledger_report
    from accounts.payments.invariants import payment_invariants

    paid = sum((w.amount for w in Withdrawal.objects.filter(state=Withdrawal.State.SUCCEEDED)), Decimal("0"))
    assert sim.net_paid() == paid
    assert all(inv.holds for inv in payment_invariants()), payment_invariants()
    assert ledger_report().drifts == []
