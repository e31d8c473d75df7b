"""Loan schedules and pro-rata splits (custody.schedules), each worked loan written out by hand.

The worked loan: 10,000.00 at 12 % a year for 3 months from 2026-01-31, so the monthly rate is
0.12 / 12 = 0.01 and the instalments fall due on 2026-02-28, 2026-03-31 and 2026-04-30 (the 31st
clipped to each month's end, always counted from the start date)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D  # noqa: N817 - amounts read like the worked figures

import pytest

from custody.schedules import (
    EQUAL_INSTALMENT,
    EQUAL_PRINCIPAL,
    INTEREST_FIRST,
    METHODS,
    add_months,
    level_payment,
    overdue_interest,
    schedule,
    split_largest_remainder,
)

START = dt.date(2026, 1, 31)
DUE = [dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 30)]


def rows(instalments):
    return [(i.number, i.due_date, i.principal, i.interest, i.total, i.outstanding) for i in instalments]


def test_schedule_equal_instalment_worked_loan():
    # Level payment A = P·r·(1+r)^n / ((1+r)^n − 1) with P = 10000, r = 0.01, n = 3:
    #   (1.01)^3 = 1.030301; A = 10000 × 0.01 × 1.030301 / 0.030301 = 3400.2211… → 3400.22
    # 1: interest 10000.00 × 0.01 = 100.00;            principal 3400.22 − 100.00 = 3300.22; left 6699.78
    # 2: interest  6699.78 × 0.01 = 66.9978 → 67.00;   principal 3400.22 −  67.00 = 3333.22; left 3366.56
    # 3: interest  3366.56 × 0.01 = 33.6656 → 33.67;   principal = all that is left = 3366.56;
    #    total 3400.23: the last instalment absorbs the rounding residue (one fen more than A).
    assert level_payment(D("10000.00"), D("0.12"), 3) == D("3400.22")
    assert rows(schedule(D("10000.00"), D("0.12"), 3, EQUAL_INSTALMENT, START)) == [
        (1, DUE[0], D("3300.22"), D("100.00"), D("3400.22"), D("6699.78")),
        (2, DUE[1], D("3333.22"), D("67.00"), D("3400.22"), D("3366.56")),
        (3, DUE[2], D("3366.56"), D("33.67"), D("3400.23"), D("0.00")),
    ]


def test_schedule_equal_principal_worked_loan():
    # Principal part 10000.00 / 3 = 3333.333… → 3333.33 for the first two; the last takes the rest,
    # 10000.00 − 2 × 3333.33 = 3333.34.
    # 1: interest 10000.00 × 0.01 = 100.00                 total 3433.33
    # 2: interest  6666.67 × 0.01 = 66.6667 → 66.67        total 3400.00
    # 3: interest  3333.34 × 0.01 = 33.3334 → 33.33        total 3366.67
    assert rows(schedule(D("10000.00"), D("0.12"), 3, EQUAL_PRINCIPAL, START)) == [
        (1, DUE[0], D("3333.33"), D("100.00"), D("3433.33"), D("6666.67")),
        (2, DUE[1], D("3333.33"), D("66.67"), D("3400.00"), D("3333.34")),
        (3, DUE[2], D("3333.34"), D("33.33"), D("3366.67"), D("0.00")),
    ]


def test_schedule_interest_first_worked_loan():
    # Interest 10000.00 × 0.01 = 100.00 every month; the whole principal with the last instalment.
    assert rows(schedule(D("10000.00"), D("0.12"), 3, INTEREST_FIRST, START)) == [
        (1, DUE[0], D("0.00"), D("100.00"), D("100.00"), D("10000.00")),
        (2, DUE[1], D("0.00"), D("100.00"), D("100.00"), D("10000.00")),
        (3, DUE[2], D("10000.00"), D("100.00"), D("10100.00"), D("0.00")),
    ]


def test_schedule_residue_lands_in_the_last_instalment():
    # 1,000.00 at 10 % over 7 months: r = 0.1 / 12 = 0.008333…, nothing divides evenly.
    # (1+r)^7 = 1.0598120909…; A = 1000 × r × 1.0598120909 / 0.0598120909 = 147.6585… → 147.66
    # for instalments 1–6. Instalment 1: interest 1000.00 × r = 8.3333 → 8.33, principal 139.33.
    # After six, 146.42 is outstanding: the last is 146.42 + 146.42 × r (1.2201… → 1.22) = 147.64,
    # two fen less than A: the residue of six roundings.
    instalments = schedule(D("1000.00"), D("0.10"), 7, EQUAL_INSTALMENT, dt.date(2026, 3, 15))
    assert [i.total for i in instalments[:-1]] == [D("147.66")] * 6
    assert (instalments[0].principal, instalments[0].interest) == (D("139.33"), D("8.33"))
    assert (instalments[-1].principal, instalments[-1].interest, instalments[-1].total) == (
        D("146.42"),
        D("1.22"),
        D("147.64"),
    )
    assert instalments[-1].principal == instalments[-2].outstanding
    for method in METHODS:
        instalments = schedule(D("1000.00"), D("0.10"), 7, method, dt.date(2026, 3, 15))
        assert sum(i.principal for i in instalments) == D("1000.00"), method
        assert instalments[-1].outstanding == D("0.00")
        assert all(i.total == i.principal + i.interest for i in instalments)
        assert all(i.principal == i.principal.quantize(D("0.01")) for i in instalments)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("principal", "rate", "term"),
    [(D("0.01"), D("0.24"), 1), (D("999999.99"), D("0.0799"), 36), (D("12345.67"), D("0.15"), 12), (D("100.00"), D("0"), 3)],
)
def test_schedule_principal_sums_exactly(method, principal, rate, term):
    instalments = schedule(principal, rate, term, method, dt.date(2026, 8, 31))
    assert len(instalments) == term
    assert sum(i.principal for i in instalments) == principal
    assert all(i.principal >= 0 and i.interest >= 0 for i in instalments)
    assert [i.number for i in instalments] == list(range(1, term + 1))


def test_schedule_zero_rate_equal_instalment_is_principal_over_term():
    # 100.00 / 3 = 33.33 twice, then 33.34; no interest.
    assert [(i.principal, i.interest) for i in schedule(D("100.00"), D("0"), 3, EQUAL_INSTALMENT, START)] == [
        (D("33.33"), D("0.00")),
        (D("33.33"), D("0.00")),
        (D("33.34"), D("0.00")),
    ]


def test_schedule_due_dates_clip_to_month_end_from_the_start():
    assert add_months(dt.date(2026, 8, 31), 6) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2027, 8, 31), 6) == dt.date(2028, 2, 29)  # a leap year
    assert add_months(dt.date(2026, 1, 15), 12) == dt.date(2027, 1, 15)
    dates = [i.due_date for i in schedule(D("1200.00"), D("0.12"), 4, EQUAL_PRINCIPAL, dt.date(2026, 10, 31))]
    assert dates == [dt.date(2026, 11, 30), dt.date(2026, 12, 31), dt.date(2027, 1, 31), dt.date(2027, 2, 28)]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((10000.0, D("0.12"), 3, EQUAL_INSTALMENT), TypeError),  # a float principal
        ((D("10000.00"), 0.12, 3, EQUAL_INSTALMENT), TypeError),  # a float rate
        ((D("10000.001"), D("0.12"), 3, EQUAL_INSTALMENT), ValueError),  # sub-fen
        ((D("0.00"), D("0.12"), 3, EQUAL_INSTALMENT), ValueError),
        ((D("100.00"), D("-0.01"), 3, EQUAL_INSTALMENT), ValueError),
        ((D("100.00"), D("0.12"), 0, EQUAL_INSTALMENT), ValueError),
        ((D("100.00"), D("0.12"), 3, "balloon"), ValueError),
    ],
)
def test_schedule_refuses_bad_input(args, error):
    with pytest.raises(error):
        schedule(*args, START)


def test_split_largest_remainder_sums_exactly():
    # 100.00 by 1:1:1 → quotas 33.333… each; floors 33.33 × 3 = 99.99; the one fen left goes to the
    # first (all remainders tie, the lower index wins).
    assert split_largest_remainder(D("100.00"), [D("1"), D("1"), D("1")]) == [D("33.34"), D("33.33"), D("33.33")]
    # 10.00 by 5000 : 3000 : 2000 (lenders' bids) → 5.00, 3.00, 2.00 exactly.
    assert split_largest_remainder(D("10.00"), [D("5000.00"), D("3000.00"), D("2000.00")]) == [D("5.00"), D("3.00"), D("2.00")]
    weights = [D("1234.56"), D("0.01"), D("98765.43"), D("333.33"), D("7.77")]
    for total in (D("0.01"), D("0.07"), D("1000.00"), D("3400.23"), D("99999.99")):
        shares = split_largest_remainder(total, weights)
        assert sum(shares) == total
        assert all(share >= 0 for share in shares)


def test_split_largest_remainder_gives_the_fen_to_the_largest_remainders():
    # 0.10 by 1 : 1 : 8 → quotas 0.01, 0.01, 0.08 exactly: nothing left over.
    assert split_largest_remainder(D("0.10"), [D("1"), D("1"), D("8")]) == [D("0.01"), D("0.01"), D("0.08")]
    # 0.10 by 1 : 2 : 3 → quotas in fen 1.666…, 3.333…, 5.0 → floors 1, 3, 5 (9 fen), remainders
    # 0.666…, 0.333…, 0 → the one fen left goes to the first.
    assert split_largest_remainder(D("0.10"), [D("1"), D("2"), D("3")]) == [D("0.02"), D("0.03"), D("0.05")]
    # 0.05 by 1 : 1 : 1 : 1 → 1.25 fen each; floors 4 fen, one left; a four-way tie → index 0.
    assert split_largest_remainder(D("0.05"), [D("1")] * 4) == [D("0.02"), D("0.01"), D("0.01"), D("0.01")]


def test_split_largest_remainder_ties_are_deterministic_by_index():
    # 0.02 by 1 : 1 : 1 → 0.666… fen each; two fen to hand out, three equal remainders → indexes 0, 1.
    assert split_largest_remainder(D("0.02"), [D("1"), D("1"), D("1")]) == [D("0.01"), D("0.01"), D("0.00")]
    # 0.02 by 2 : 1 : 1 → 1, 0.5, 0.5 fen: floors 1, 0, 0; one fen left, the tie of 0.5 → index 1.
    assert split_largest_remainder(D("0.02"), [D("2"), D("1"), D("1")]) == [D("0.01"), D("0.01"), D("0.00")]
    # The same call always gives the same answer.
    assert len({tuple(split_largest_remainder(D("0.07"), [D("1")] * 6)) for _ in range(20)}) == 1


def test_split_largest_remainder_zero_weights_get_nothing():
    assert split_largest_remainder(D("0.03"), [D("0"), D("1"), D("0"), D("1")]) == [
        D("0.00"),
        D("0.02"),
        D("0.00"),
        D("0.01"),
    ]
    assert split_largest_remainder(D("0.00"), [D("1"), D("2")]) == [D("0.00"), D("0.00")]
    with pytest.raises(ValueError):
        split_largest_remainder(D("1.00"), [D("0"), D("0")])
    with pytest.raises(ValueError):
        split_largest_remainder(D("1.00"), [])
    with pytest.raises(ValueError):
        split_largest_remainder(D("1.00"), [D("-1"), D("2")])
    with pytest.raises(TypeError):
        split_largest_remainder(D("1.00"), [0.5, 0.5])


def test_overdue_interest_simple_days():
    # 3400.22 overdue 10 days at 18 % a year, basis 360: 3400.22 × 0.18 × 10 / 360 = 17.0011 → 17.00
    assert overdue_interest(D("3400.22"), D("0.18"), 10) == D("17.00")
    # basis 365: 3400.22 × 0.18 × 10 / 365 = 16.7682… → 16.77
    assert overdue_interest(D("3400.22"), D("0.18"), 10, basis=365) == D("16.77")
    assert overdue_interest(D("3400.22"), D("0.18"), 0) == D("0.00")
