"""Loans test fixtures: an active platform, a verified borrower, verified and funded lenders with
standing authorisations, all through the real services (cards, ledger, authorisations)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone

from accounts.tests.payments_fixtures import channel, make_channel, reset_channel_simulators, sim  # noqa: F401
from conftest import random_id_number
from custody import services
from custody.loans import services as loans
from custody.loans.authorisations import standing_authorisation_grant
from custody.models import SubAccount

_names = count(1)
_seq = count(1)

BIG = Decimal("100000000.00")


def _identity(kind: str = "person") -> dict:
    n = next(_names)
    return {"type": "person", "name": f"客户{n}", "id_number": random_id_number(), "mobile": f"139{n:08d}"}


@pytest.fixture
def open_sub(verify):
    """``open_sub(platform, role)``: a verified (active) sub-account of a new person in ``role``."""

    def make(platform, role: str, identity: dict | None = None) -> SubAccount:
        identity = identity or _identity()
        sub = services.subaccount_open(platform=platform, role=role, identity_data=identity)
        verify(sub, id_number=identity["id_number"])
        return SubAccount.objects.select_related("account", "party").get(pk=sub.pk)

    return make


@pytest.fixture
def grant():
    """``grant(sub, "bid", cumulative="…", per="…")``: the client's standing authorisation."""

    def make(sub, *types, per=BIG, cumulative=BIG, days: int = 30):
        return standing_authorisation_grant(
            grantor=sub,
            instruction_types=list(types),
            per_instruction_max=Decimal(str(per)),
            cumulative_max=Decimal(str(cumulative)),
            expires_at=timezone.now() + dt.timedelta(days=days),
            granted_via="test:portal",
        )

    return make


@pytest.fixture
def platform(make_platform):
    return make_platform("P001")


@pytest.fixture
def borrower(platform, open_sub, grant):
    sub = open_sub(platform, "borrower")
    sub.fee_auth = grant(sub, "fee", "auto_repay")
    return sub


@pytest.fixture
def lender(platform, open_sub, grant, fund):
    """``lender("5000.00")``: a verified lender funded with that much, with a ``bid`` authorisation
    (``lender.auth``)."""

    def make(funds="10000.00", *, on=None, **grant_kwargs) -> SubAccount:
        sub = open_sub(on or platform, "lender")
        fund(sub.account, Decimal(funds))
        sub.auth = grant(sub, "bid", **grant_kwargs)
        return sub

    return make


@pytest.fixture
def new_loan(platform, borrower):
    """``new_loan("10000.00", ...)``: an open loan of the borrower through loan_create."""

    def make(amount="10000.00", *, on=None, borrower_sub=None, **kwargs):
        values = {
            "annual_rate": Decimal("0.12"),
            "term_months": 3,
            "method": "equal_instalment",
            "fundraising_deadline": timezone.now() + dt.timedelta(days=7),
            "service_fee_rate": Decimal("0.02"),
            "out_request_no": f"L{next(_seq)}",
        }
        values.update(kwargs)
        return loans.loan_create(
            platform=on or platform, borrower_number=(borrower_sub or borrower).account.number, amount=Decimal(amount), **values
        )

    return make


@pytest.fixture
def bid():
    """``bid(loan, lender, "1000.00")``: a bid through bid_place with the lender's authorisation."""

    def make(loan, lender_sub, amount, *, authorization=None, out_request_no=None):
        return loans.bid_place(
            loan_id=loan.pk,
            platform=loan.platform,
            lender_number=lender_sub.account.number,
            amount=Decimal(str(amount)),
            out_request_no=out_request_no or f"B{next(_seq)}",
            authorization=authorization or {"method": "standing", "id": lender_sub.auth.pk},
        )

    return make
