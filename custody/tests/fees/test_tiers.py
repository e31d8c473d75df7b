"""Custody fee arithmetic (custody.fees.tiers), worked by hand in the comments (R-FEE-01..03).

The bands used below (annual % of the pool):
    [0, 10,000,000)            0.10 %
    [10,000,000, 50,000,000)   0.08 %
    [50,000,000, ∞)            0.05 %
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from custody.fees import tiers
from custody.fees.tiers import MARGINAL, WHOLE_AMOUNT, Band

BANDS = [
    Band(Decimal("0"), Decimal("0.10")),
    Band(Decimal("10000000"), Decimal("0.08")),
    Band(Decimal("50000000"), Decimal("0.05")),
]
DAY = dt.date(2025, 6, 30)


def test_r_fee_03_whole_amount_puts_the_whole_pool_in_its_band():
    # 12,000,000 falls in band 2: 12,000,000 × 0.08 % = 9,600.00 a year
    assert tiers.charge(Decimal("12000000"), BANDS, WHOLE_AMOUNT) == Decimal("9600")
    # a day (365): 9,600 / 365 = 26.3013… → 26.30
    assert tiers.daily_fee(Decimal("12000000"), BANDS, WHOLE_AMOUNT, day=DAY, day_count="365") == Decimal("26.30")


def test_r_fee_03_marginal_charges_each_slice_at_its_band():
    # 10,000,000 × 0.10 % = 10,000.00, plus 2,000,000 × 0.08 % = 1,600.00 → 11,600.00 a year
    assert tiers.charge(Decimal("12000000"), BANDS, MARGINAL) == Decimal("11600")
    # a day (365): 11,600 / 365 = 31.7808… → 31.78
    assert tiers.daily_fee(Decimal("12000000"), BANDS, MARGINAL, day=DAY, day_count="365") == Decimal("31.78")
    slices = tiers.breakdown(Decimal("12000000"), BANDS, MARGINAL)
    assert [(s.base, s.charge) for s in slices] == [
        (Decimal("10000000"), Decimal("10000")),
        (Decimal("2000000"), Decimal("1600")),
        (Decimal("0"), Decimal("0")),
    ]


def test_r_fee_03_whole_amount_cliff_a_slightly_larger_pool_pays_less():
    # just below the boundary: 9,999,999.99 × 0.10 % = 9,999.99999 a year → 27.40 a day (÷365 = 27.3972…)
    below = tiers.daily_fee(Decimal("9999999.99"), BANDS, WHOLE_AMOUNT, day=DAY, day_count="365")
    # at the boundary (lower bound inclusive): 10,000,000 × 0.08 % = 8,000 a year → 21.92 a day (÷365 = 21.9178…)
    at = tiers.daily_fee(Decimal("10000000"), BANDS, WHOLE_AMOUNT, day=DAY, day_count="365")
    assert (below, at) == (Decimal("27.40"), Decimal("21.92"))
    assert at < below  # the cliff: one more fen of pool, 5.48 less fee a day
    # marginal has no cliff: 10,000,000 → 10,000.00 a year → 27.40 a day, and it only grows
    assert tiers.daily_fee(Decimal("10000000"), BANDS, MARGINAL, day=DAY, day_count="365") == Decimal("27.40")
    assert tiers.charge(Decimal("10000000.01"), BANDS, MARGINAL) > tiers.charge(Decimal("10000000"), BANDS, MARGINAL)


def test_r_fee_03_the_mode_is_mandatory():
    with pytest.raises(ValueError, match="mandatory"):
        tiers.charge(Decimal("1"), BANDS, "")


def test_r_fee_01_leap_year_under_actual_days_differs():
    # DOMAIN.md §4.2: ¥25,000,000 at 0.05 %/year = 12,500.00 a year
    bands = [Band(Decimal("0"), Decimal("0.05"))]
    # 2023 (365 days): 12,500 / 365 = 34.2465… → 34.25
    assert tiers.daily_fee(Decimal("25000000"), bands, MARGINAL, day=dt.date(2023, 3, 1), day_count="actual") == Decimal("34.25")
    # 2024 (366 days): 12,500 / 366 = 34.1530… → 34.15
    assert tiers.daily_fee(Decimal("25000000"), bands, MARGINAL, day=dt.date(2024, 3, 1), day_count="actual") == Decimal("34.15")
    # a 365 contract ignores the leap year: 34.25 in 2024 too
    assert tiers.daily_fee(Decimal("25000000"), bands, MARGINAL, day=dt.date(2024, 3, 1), day_count="365") == Decimal("34.25")
    assert tiers.days_in_year(dt.date(2024, 12, 31), "actual") == 366


def test_domain_example_100_million_at_0_25_percent():
    # DOMAIN.md §4.2: ¥100,000,000 × 0.25 % / 365 = 684.9315… → 684.93 a day
    bands = [Band(Decimal("0"), Decimal("0.25"))]
    assert tiers.daily_fee(Decimal("100000000"), bands, WHOLE_AMOUNT, day=DAY, day_count="365") == Decimal("684.93")
    assert tiers.daily_fee_exact(Decimal("100000000"), bands, WHOLE_AMOUNT, day=DAY, day_count="365") == Decimal("684.931507")


def test_a_rate_of_0_025_percent_is_exact():
    # 0.025 % of a ¥1,000,000 recharge = 250.00, exactly (no float anywhere)
    assert tiers.charge(Decimal("1000000"), [Band(Decimal("0"), Decimal("0.025"))], MARGINAL) == Decimal("250")
    with pytest.raises(TypeError):
        tiers.charge(1000000.0, [Band(Decimal("0"), Decimal("0.025"))], MARGINAL)


def test_rounding_daily_or_at_invoice_can_differ():
    # 30 days of ¥1,000 at 0.05 %: 0.5 / 365 = 0.001369… a day
    # rounded daily: 0.00 × 30 = 0.00; accrued unrounded: 30 × 0.001370 (micro-yuan) = 0.0411 → 0.04
    bands = [Band(Decimal("0"), Decimal("0.05"))]
    exact = [tiers.daily_fee_exact(Decimal("1000"), bands, MARGINAL, day=DAY, day_count="365")] * 30
    rounded = [tiers.daily_fee(Decimal("1000"), bands, MARGINAL, day=DAY, day_count="365")] * 30
    assert exact[0] == Decimal("0.001370")
    assert tiers.month_total(exact, rounded, round_daily=True) == Decimal("0.00")
    assert tiers.month_total(exact, rounded, round_daily=False) == Decimal("0.04")


def test_r_fee_02_a_month_under_the_minimum_is_topped_up():
    # accrued 5,321.50 + 3 withdrawals × 2.00 = 5,327.50 < 8,000.00 (广东华兴's floor) → top-up 2,672.50
    assert tiers.monthly_bill(Decimal("5321.50"), Decimal("6.00"), Decimal("8000.00")) == (Decimal("8000.00"), Decimal("2672.50"))
    # above the minimum: no top-up
    assert tiers.monthly_bill(Decimal("9000.00"), Decimal("0.00"), Decimal("8000.00")) == (Decimal("9000.00"), Decimal("0.00"))


def test_r_fee_02_annual_true_up_applies_the_annual_minimum():
    # 12 bills of 8,000.00 = 96,000.00 < 800,000.00 (恒丰's annual floor) → true-up 704,000.00
    assert tiers.annual_true_up([Decimal("8000.00")] * 12, Decimal("800000.00")) == Decimal("704000.00")
    # above the floor: nothing
    assert tiers.annual_true_up([Decimal("80000.00")] * 12, Decimal("800000.00")) == Decimal("0.00")


def test_curve_draws_the_cliff():
    points = dict(tiers.curve(BANDS, WHOLE_AMOUNT, top=Decimal("20000000"), points=4))
    assert points[Decimal("9999999.99")] > points[Decimal("10000000")]


def test_readme_worked_example():
    # README "Custody fees": marginal, 12,000,000 → 11,600.00 a year; actual days
    e2025 = tiers.daily_fee_exact(Decimal("12000000"), BANDS, MARGINAL, day=dt.date(2025, 3, 1), day_count="actual")
    r2025 = tiers.daily_fee(Decimal("12000000"), BANDS, MARGINAL, day=dt.date(2025, 3, 1), day_count="actual")
    assert (e2025, r2025) == (Decimal("31.780822"), Decimal("31.78"))  # 11,600 / 365
    r2024 = tiers.daily_fee(Decimal("12000000"), BANDS, MARGINAL, day=dt.date(2024, 3, 1), day_count="actual")
    assert r2024 == Decimal("31.69")  # 11,600 / 366 = 31.693989…
    # a 30-day month: at invoice 30 × 31.780822 = 953.42466 → 953.42; daily 30 × 31.78 = 953.40
    assert tiers.month_total([e2025] * 30, [r2025] * 30, round_daily=False) == Decimal("953.42")
    assert tiers.month_total([e2025] * 30, [r2025] * 30, round_daily=True) == Decimal("953.40")
    # + 3 withdrawals × 2.00 = 959.42 < 8,000.00 → top-up 7,040.58
    assert tiers.monthly_bill(Decimal("953.42"), Decimal("6.00"), Decimal("8000.00")) == (Decimal("8000.00"), Decimal("7040.58"))
