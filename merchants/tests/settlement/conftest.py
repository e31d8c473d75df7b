"""Settlement fixtures: a merchant with a verified corporate settlement account and its standing
settlement authorisation, and a helper that runs one batch through its steps with a clearing file."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts import workdays
from accounts.cards import services as cards
from accounts.payments.channels import ClearingRow, adapter_for
from backoffice.dates import bank_tz
from merchants import onboarding, settlement
from merchants.models import Merchant, SettlementBatch


@pytest.fixture
def settled_merchant(make_merchant, maker, checker):
    """``settled_merchant(reserve_rate="0.05", reserve_release_days=30)``: active, account bound and
    verified by another operator, standing settlement authorisation recorded."""

    def make(name: str = "结算测试商户有限公司", **terms) -> Merchant:
        merchant = make_merchant(name, **terms)
        card = onboarding.merchant_settlement_bind(
            merchant_id=merchant.pk,
            account_number="110060149018800012345",
            bank_name="交通银行",
            verification="operator",
            actor=maker,
        )
        cards.corporate_account_verify(card_id=card.pk, actor=checker, evidence="开户许可证 account licence")
        settlement.settlement_authorisation_record(
            merchant_id=merchant.pk, reference=f"SA-{merchant.pk}", signed_on=dt.date(2026, 1, 5), actor=maker
        )
        return Merchant.objects.get(pk=merchant.pk)

    return make


def at(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment of ``day`` in bank time (10:00 is inside the channels' default window 09:00-16:30)."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=bank_tz())


def settle_day(business_date: dt.date, merchant: Merchant) -> dt.date:
    return workdays.add_working_days(business_date, merchant.settlement_cycle_days)


def channel_file(channel, business_date: dt.date, *, request_ids=None, changes=None, extra=()):
    """The simulator's clearing lines for ``request_ids`` (default: every line the channel has
    today), dated ``business_date``; ``changes`` maps a request id to another amount (or None: drop it)."""
    rows = adapter_for(channel).clearing_file(business_date=dt.datetime.now(bank_tz()).date())
    out = []
    for row in rows:
        if request_ids is not None and row.request_id not in request_ids:
            continue
        amount = row.amount
        if changes and row.request_id in changes:
            amount = changes[row.request_id]
            if amount is None:
                continue
        out.append(ClearingRow(row.channel_txn_id, row.request_id, row.kind, amount, business_date))
    return [*out, *extra]


def run_batch(merchant, channel, business_date, *, rows, now, capture):
    """One batch through 清分, 清算 (with ``rows`` as the channel's file) and 结算 at ``now``."""
    batch = settlement.batch_open(merchant=merchant, channel=channel, business_date=business_date)
    settlement.batch_clear(batch_id=batch.pk, now=now)
    file = settlement.clearing_file_import(channel=channel, business_date=business_date, rows=rows)
    settlement.batch_reconcile(batch_id=batch.pk, file=file, now=now)
    with capture(execute=True):
        return settlement.batch_settle(batch_id=batch.pk, now=now)


@pytest.fixture
def held_batch(settled_merchant, pay, pay_channel, django_capture_on_commit_callbacks):
    """``held_batch(short=["20.00"], mismatch=["30.00"], reserve_rate="0")``: a batch of today with
    a matched payment of 10.00, the short payments missing from the channel's file and the mismatch
    ones one fen lower in it; settled on its settlement date (held). Returns (merchant, batch, payments)."""

    def make(*, short=("20.00",), mismatch=(), **terms):
        merchant = settled_merchant(rate="0", **terms)
        ok = pay(merchant, "10.00")
        shorts = [pay(merchant, amount) for amount in short]
        mismatches = [pay(merchant, amount) for amount in mismatch]
        day = dt.datetime.now(bank_tz()).date()
        rows = channel_file(
            pay_channel,
            day,
            request_ids={ok.request_id, *(p.request_id for p in mismatches)},
            changes={p.request_id: p.paid_amount - Decimal("0.01") for p in mismatches},
        )
        batch = run_batch(
            merchant,
            pay_channel,
            day,
            rows=rows,
            now=at(settle_day(day, merchant)),
            capture=django_capture_on_commit_callbacks,
        )
        assert batch.state == SettlementBatch.State.HELD
        return merchant, batch, {"ok": ok, "short": shorts, "mismatch": mismatches}

    return make
