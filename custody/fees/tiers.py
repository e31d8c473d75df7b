"""Custody fee arithmetic (存管费), in Decimal only: tier resolution, day count, daily fee, rounding.

Pure functions (no database, no settings): a schedule's figures can be recomputed to the same
micro-yuan anywhere, and the console's simulator uses the very same code as the accrual.

Conventions
- A band is ``Band(lower, rate)``: ``lower`` the inclusive lower bound of the basis (yuan, or a
  count), ``rate`` a Decimal **percentage** per year for balances (``Decimal("0.025")`` is 0.025 %),
  per amount for flows, or yuan per item for a count basis (``unit=PER_ITEM``). Bands are sorted
  by ``lower``; the first starts at 0.
- Modes (R-FEE-03, mandatory, no default):
  * ``whole_amount`` (全额累进): the whole basis at the rate of the band it falls in. A slightly
    larger pool can pay less (the cliff at a band's lower bound).
  * ``marginal`` (超额累进): each slice of the basis at its own band's rate; continuous.
- Day count (R-FEE-01): ``365`` or ``actual`` (the days of the date's calendar year: 366 in a
  leap year). The daily fee of a balance is ``B × r / N``.
- Rounding: ``fen()`` rounds half-up to the fen, once, where the contract says (each day, or the
  month's sum at invoice). Unrounded figures are kept to the micro-yuan (``MICRO``: 1/10 000 fen),
  half-up: that is what the accrual stores.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")  # a micro-yuan: 1/10 000 fen, the precision of an unrounded accrual
ZERO = Decimal("0")

WHOLE_AMOUNT = "whole_amount"  # 全额累进
MARGINAL = "marginal"  # 超额累进
MODES = (WHOLE_AMOUNT, MARGINAL)

DAYS_365 = "365"
DAYS_ACTUAL = "actual"
DAY_COUNTS = (DAYS_365, DAYS_ACTUAL)

PERCENT = "percent"  # rate is a percentage of the basis (per year for a balance)
PER_ITEM = "per_item"  # rate is yuan per item (a count basis)
UNITS = (PERCENT, PER_ITEM)


@dataclass(frozen=True)
class Band:
    """A tier: from ``lower`` (inclusive) up to the next band's lower bound (exclusive)."""

    lower: Decimal
    rate: Decimal


@dataclass(frozen=True)
class Slice:
    """One band's part of a fee: ``base`` of the basis charged at ``rate`` gives ``charge``
    (unrounded, per year for a balance). ``upper`` is None for the last band."""

    lower: Decimal
    upper: Decimal | None
    rate: Decimal
    base: Decimal
    charge: Decimal
    applies: bool


def fen(amount: Decimal) -> Decimal:
    """Half-up to the fen: the one rounding rule of a bill."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def micro(amount: Decimal) -> Decimal:
    """Half-up to the micro-yuan: the precision an unrounded accrual is kept to."""
    return amount.quantize(MICRO, rounding=ROUND_HALF_UP)


def _decimal(name: str, value) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"{name} must be a finite Decimal, never float")
    return value


def check_bands(bands) -> list[Band]:
    """The bands sorted by lower bound; the first must start at 0, bounds distinct, rates ≥ 0."""
    bands = sorted(bands, key=lambda band: band.lower)
    if not bands:
        raise ValueError("a schedule needs at least one band")
    for band in bands:
        _decimal("lower", band.lower)
        _decimal("rate", band.rate)
        if band.rate < 0:
            raise ValueError("a band's rate may not be negative")
    if bands[0].lower != 0:
        raise ValueError("the first band starts at 0")
    lowers = [band.lower for band in bands]
    if len(set(lowers)) != len(lowers):
        raise ValueError("two bands share a lower bound")
    return bands


def _factor(rate: Decimal, unit: str) -> Decimal:
    if unit == PERCENT:
        return rate / 100
    if unit == PER_ITEM:
        return rate
    raise ValueError(f"unknown unit {unit!r}")


def breakdown(amount: Decimal, bands, mode: str, *, unit: str = PERCENT) -> list[Slice]:
    """Each band's part of the charge on ``amount`` (unrounded; per year for a balance).

    whole_amount: only the band ``amount`` falls in applies, to the whole amount;
    marginal: every band applies to its slice ``[lower, next lower)`` of the amount.
    """
    amount = _decimal("amount", amount)
    if amount < 0:
        raise ValueError("the basis may not be negative")
    if mode not in MODES:
        raise ValueError(f"the tier mode is mandatory: one of {', '.join(MODES)} (R-FEE-03)")
    bands = check_bands(bands)
    slices = []
    with localcontext() as context:
        context.prec = 50
        for index, band in enumerate(bands):
            upper = bands[index + 1].lower if index + 1 < len(bands) else None
            inside = amount >= band.lower and (upper is None or amount < upper)
            if mode == WHOLE_AMOUNT:
                base = amount if inside else ZERO
                applies = inside
            else:
                top = amount if upper is None else min(amount, upper)
                base = max(top - band.lower, ZERO)
                applies = base > 0
            slices.append(Slice(band.lower, upper, band.rate, base, base * _factor(band.rate, unit), applies))
    return slices


def charge(amount: Decimal, bands, mode: str, *, unit: str = PERCENT) -> Decimal:
    """The unrounded charge on ``amount``: Σ of the bands' parts (per year for a balance)."""
    with localcontext() as context:
        context.prec = 50
        return sum((piece.charge for piece in breakdown(amount, bands, mode, unit=unit)), ZERO)


def days_in_year(day: dt.date, day_count: str) -> int:
    """N of R-FEE-01: 365, or the actual days of ``day``'s calendar year (366 in a leap year)."""
    if day_count == DAYS_365:
        return 365
    if day_count == DAYS_ACTUAL:
        return 366 if calendar.isleap(day.year) else 365
    raise ValueError(f"day count is one of {', '.join(DAY_COUNTS)}")


def daily_fee_exact(balance: Decimal, bands, mode: str, *, day: dt.date, day_count: str) -> Decimal:
    """``B × r / N`` for one day, unrounded, kept to the micro-yuan (R-FEE-01)."""
    with localcontext() as context:
        context.prec = 50
        return micro(charge(balance, bands, mode) / days_in_year(day, day_count))


def daily_fee(balance: Decimal, bands, mode: str, *, day: dt.date, day_count: str) -> Decimal:
    """``round(B × r / N)``, half-up to the fen (R-FEE-01). Rounded from the exact quotient, not
    from the micro-yuan figure, so there is one rounding only."""
    with localcontext() as context:
        context.prec = 50
        return fen(charge(balance, bands, mode) / days_in_year(day, day_count))


def month_total(daily_exact: list[Decimal], daily_rounded: list[Decimal], *, round_daily: bool) -> Decimal:
    """The month's accrued fee: Σ of the daily fees rounded each day, or the unrounded daily fees
    summed and rounded once (the contract's rounding field)."""
    if round_daily:
        return sum(daily_rounded, ZERO).quantize(CENT)
    return fen(sum(daily_exact, ZERO))


def monthly_bill(accrued: Decimal, per_item: Decimal, minimum: Decimal) -> tuple[Decimal, Decimal]:
    """R-FEE-02: ``max(accrued + per-item, minimum)`` as (bill, minimum top-up)."""
    subtotal = accrued + per_item
    top_up = max(minimum - subtotal, ZERO).quantize(CENT)
    return subtotal + top_up, top_up


def annual_true_up(monthly_bills: list[Decimal], annual_minimum: Decimal) -> Decimal:
    """``max(Σ monthly bills, annual minimum) − Σ monthly bills`` (DOMAIN.md §4.2)."""
    total = sum(monthly_bills, ZERO)
    return (max(total, annual_minimum) - total).quantize(CENT)


def curve(bands, mode: str, *, top: Decimal, points: int = 60, unit: str = PERCENT) -> list[tuple[Decimal, Decimal]]:
    """(basis, charge) pairs from 0 to ``top`` for the simulator's chart, plus each band's lower
    bound and the point just below it, so a whole-amount cliff is drawn as a cliff."""
    top = _decimal("top", top)
    if top <= 0:
        raise ValueError("top must be positive")
    xs = {top * index / points for index in range(points + 1)}
    for band in check_bands(bands):
        if 0 < band.lower <= top:
            xs.add(band.lower)
            xs.add(band.lower - CENT)
    return [(x, charge(x, bands, mode, unit=unit)) for x in sorted(xs) if 0 <= x <= top]


__all__ = [
    "DAYS_365",
    "DAYS_ACTUAL",
    "DAY_COUNTS",
    "MARGINAL",
    "MODES",
    "PERCENT",
    "PER_ITEM",
    "WHOLE_AMOUNT",
    "Band",
    "Slice",
    "annual_true_up",
    "breakdown",
    "charge",
    "check_bands",
    "curve",
    "daily_fee",
    "daily_fee_exact",
    "days_in_year",
    "fen",
    "micro",
    "month_total",
    "monthly_bill",
]
