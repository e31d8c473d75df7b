"""A platform's in-flight money is its own: a transit-mode withdrawal from a client's sub-account
goes through the platform's withdrawal transit account (过渡户), a failed one comes back from it,
and the transit invariant counts every transit account together."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.ledger.selectors import internal_account
from accounts.payments import authorisation, withdrawals
from accounts.payments.invariants import payment_invariants
from accounts.payments.models import Channel, Withdrawal
from accounts.payments.simulator import Script
from accounts.tests.cards_fixtures import ID_ZHANG
from accounts.tests.payments_fixtures import *  # noqa: F401,F403  (make_channel, a clean channel simulator)
from accounts.tests.payments_fixtures import PASSWORD, PASSWORD_AUTH
from custody import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def lender(make_platform, make_party, verify, fund):
    platform = make_platform("P001")
    party = make_party(name="张三", id_number=ID_ZHANG)
    sub = services.subaccount_open(platform=platform, role="lender", party=party)
    account = fund(verify(sub, id_number=ID_ZHANG), "1000.00")
    authorisation.transaction_password_set(party_id=party.pk, password=PASSWORD)
    return account


def _balance(account: Account) -> Decimal:
    return Account.objects.get(pk=account.pk).balance


def test_transit_withdrawal_of_a_sub_account_goes_through_the_platform_s_transit(
    make_channel, lender, django_capture_on_commit_callbacks
):
    from accounts.payments.simulator import simulator

    channel = make_channel(strategy=Channel.Strategy.TRANSIT, withdrawal_fee=Decimal("2.00"))
    own_transit = internal_account(Role.TRANSIT_WITHDRAWAL, owner="platform:P001")
    bank_transit = internal_account(Role.TRANSIT_WITHDRAWAL)
    simulator(channel.code, secret=channel.callback_secret).script_next(Script(submit="failure"))

    # in flight: the platform's transit account holds amount + fee, the bank's nothing
    withdrawal = withdrawals.withdrawal_create(
        client="test", out_request_no="w1", account=lender, amount="100.00", authorization=PASSWORD_AUTH
    )
    assert (_balance(own_transit), _balance(bank_transit), _balance(lender)) == (
        Decimal("102.00"),
        Decimal("0.00"),
        Decimal("898.00"),
    )
    assert all(invariant.holds for invariant in payment_invariants())

    # the channel refuses it: the money comes back from the platform's transit account
    with django_capture_on_commit_callbacks(execute=True):
        withdrawals.withdrawal_submit(withdrawal_id=withdrawal.pk)
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == Withdrawal.State.FAILED
    assert (_balance(own_transit), _balance(lender)) == (Decimal("0.00"), Decimal("1000.00"))
    assert all(invariant.holds for invariant in payment_invariants())
