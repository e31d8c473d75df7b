"""Fixtures of the custody fee tests: an active platform, a verified lender sub-account funded
through the real ledger, and schedules made and approved through the real services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.cards_fixtures import ID_ZHANG
from accounts.tests.payments_fixtures import make_channel  # noqa: F401  (fixture)
from backoffice.dates import business_date
from custody import services
from custody.fees import services as fees

ZHANG = {"type": "person", "name": "张三", "id_number": ID_ZHANG, "mobile": "13800000000"}


@pytest.fixture
def today() -> dt.date:
    return business_date(timezone.now())


@pytest.fixture
def lender(make_platform, verify):
    """``lender(platform)``: the platform's verified lender sub-account (张三)."""

    def make(platform):
        sub = services.subaccount_open(platform=platform, role="lender", identity_data=ZHANG)
        verify(sub, id_number=ID_ZHANG)
        return sub

    return make


@pytest.fixture
def approved_schedule(maker, checker):
    """``approved_schedule(platform, bands=[("0", "0.05")], mode="marginal", **fields)``: made by the
    maker, submitted, approved by the checker."""

    def make(platform, bands=(("0", "0.05"),), *, mode="marginal", basis="daily_pool_balance", **fields):
        fields.setdefault("effective_from", dt.date(2020, 1, 1))
        schedule = fees.fee_schedule_create(
            platform=platform,
            bands=[(Decimal(lower), Decimal(rate)) for lower, rate in bands],
            mode=mode,
            basis=basis,
            actor=maker,
            **fields,
        )
        fees.fee_schedule_submit(schedule_id=schedule.pk, actor=maker)
        return fees.fee_schedule_approve(schedule_id=schedule.pk, actor=checker)

    return make
