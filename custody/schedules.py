"""Loan arithmetic for P2P custody, in Decimal only: repayment schedules and pro-rata splits.

Pure functions (no database, no settings), so that a loan's schedule can be computed, stored and
recomputed to the same fen anywhere.

Conventions (the same for every method):
- ``annual_rate`` is a fraction: ``Decimal("0.12")`` is 12 % a year.
- Day count: the monthly rate is ``annual_rate / 12`` and every month counts the same, whatever
  its number of days (30/360-style; the usual convention of 等额本息 / 等额本金 loans). Interest
  for a month is ``outstanding principal × annual_rate / 12``.
- Each amount is rounded once, half-up to the fen (``ROUND_HALF_UP``): the interest of each
  instalment, the level payment of 等额本息 and the principal part of 等额本金. The LAST
  instalment absorbs the rounding residue: its principal is whatever is still outstanding, so
  Σ principal == principal exactly.
- Instalment k is due k calendar months after ``start`` (the same day of the month, clipped to
  the month's last day: a loan starting 31 January is due 28/29 February, 31 March, 30 April).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

CENT = Decimal("0.01")
MONTHS_PER_YEAR = 12

EQUAL_INSTALMENT = "equal_instalment"  # 等额本息: the same total every month
EQUAL_PRINCIPAL = "equal_principal"  # 等额本金: the same principal every month, interest falling
INTEREST_FIRST = "interest_first"  # 先息后本: interest monthly, all the principal with the last
METHODS = (EQUAL_INSTALMENT, EQUAL_PRINCIPAL, INTEREST_FIRST)


@dataclass(frozen=True)
class Instalment:
    """One instalment (期): what is due on ``due_date``; ``outstanding`` is the principal still
    owed once it is paid."""

    number: int
    due_date: dt.date
    principal: Decimal
    interest: Decimal
    total: Decimal
    outstanding: Decimal


def fen(amount: Decimal) -> Decimal:
    """Half-up to the fen (the one rounding rule of this module)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus calendar months, the day clipped to the month's end (31 Aug + 6 = 28/29 Feb);
    the same rule as ``backoffice.dates.add_months``, on dates."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def _check_money(name: str, amount: Decimal, *, positive: bool) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise TypeError(f"{name} must be a finite Decimal, never float")
    if amount != amount.quantize(CENT):
        raise ValueError(f"{name} {amount} has more than two decimal places")
    if amount < 0 or (positive and amount == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'zero or more'}")
    return amount.quantize(CENT)


def monthly_rate(annual_rate: Decimal) -> Decimal:
    """``annual_rate / 12``, unrounded (the day count of the module docstring)."""
    if not isinstance(annual_rate, Decimal) or not annual_rate.is_finite():
        raise TypeError("annual_rate must be a finite Decimal (0.12 for 12 %), never float")
    if not Decimal(0) <= annual_rate <= Decimal(1):
        raise ValueError("annual_rate is a fraction between 0 and 1 (0.12 for 12 %)")
    with localcontext() as context:
        context.prec = 40
        return annual_rate / MONTHS_PER_YEAR


def level_payment(principal: Decimal, annual_rate: Decimal, term_months: int) -> Decimal:
    """The monthly total of 等额本息, P·r·(1+r)^n / ((1+r)^n − 1), half-up to the fen (P / n at 0 %)."""
    rate = monthly_rate(annual_rate)
    with localcontext() as context:
        context.prec = 40
        if rate == 0:
            return fen(principal / term_months)
        growth = (1 + rate) ** term_months
        return fen(principal * rate * growth / (growth - 1))


def schedule(principal: Decimal, annual_rate: Decimal, term_months: int, method: str, start: dt.date) -> list[Instalment]:
    """The instalments of a loan of ``principal`` at ``annual_rate`` over ``term_months`` months,
    repaid by ``method`` (``equal_instalment`` 等额本息, ``equal_principal`` 等额本金,
    ``interest_first`` 先息后本), the first due one month after ``start``.

    Rounding and day count as in the module docstring: every instalment's interest is the
    outstanding principal × annual_rate / 12, half-up to the fen; the last instalment's principal
    is whatever is still outstanding, so Σ principal == principal to the fen.
    """
    principal = _check_money("principal", principal, positive=True)
    if isinstance(term_months, bool) or not isinstance(term_months, int) or term_months < 1:
        raise ValueError("term_months must be a whole number of months, at least 1")
    if method not in METHODS:
        raise ValueError(f"unknown repayment method {method!r}; one of {', '.join(METHODS)}")
    rate = monthly_rate(annual_rate)
    payment = level_payment(principal, annual_rate, term_months) if method == EQUAL_INSTALMENT else None
    equal_part = fen(principal / term_months) if method == EQUAL_PRINCIPAL else None

    instalments = []
    outstanding = principal
    for number in range(1, term_months + 1):
        interest = fen(outstanding * rate)
        if number == term_months:
            part = outstanding  # the last instalment absorbs every rounding residue
        elif method == EQUAL_INSTALMENT:
            part = payment - interest
        elif method == EQUAL_PRINCIPAL:
            part = equal_part
        else:
            part = Decimal("0.00")
        # A level payment below a month's interest (a rate so high it never amortises) would make
        # the principal part negative: that loan cannot be repaid by this method.
        if part < 0 or part > outstanding:
            raise ValueError("this rate and term give no amortising schedule for this method")
        outstanding -= part
        instalments.append(
            Instalment(
                number=number,
                due_date=add_months(start, number),
                principal=part,
                interest=interest,
                total=part + interest,
                outstanding=outstanding,
            )
        )
    return instalments


def split_largest_remainder(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``total`` split pro rata to ``weights``, to the fen, with no fen unassigned (largest
    remainder, Hamilton's method).

    Each share is first its exact quota rounded down to the fen; the fen left over go one each to
    the largest remainders, ties broken by the lower index. Deterministic: the same input always
    gives the same split. A zero weight gets nothing. Σ shares == total exactly.
    """
    total = _check_money("total", total, positive=False)
    if not weights:
        raise ValueError("at least one weight is needed")
    exact = []
    for weight in weights:
        if not isinstance(weight, Decimal) or not weight.is_finite():
            raise TypeError("weights must be finite Decimals, never float")
        if weight < 0:
            raise ValueError("weights must be zero or more")
        exact.append(Fraction(weight))
    whole = sum(exact, Fraction(0))
    if whole == 0:
        raise ValueError("the weights sum to zero: nothing to split by")
    total_fen = int(total.scaleb(2))
    quotas = [total_fen * weight / whole for weight in exact]
    shares = [quota.numerator // quota.denominator for quota in quotas]
    left = total_fen - sum(shares)
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for index in order[:left]:
        shares[index] += 1
    return [Decimal(share).scaleb(-2) for share in shares]


def overdue_interest(amount: Decimal, annual_rate: Decimal, days: int, *, basis: int = 360) -> Decimal:
    """Penalty interest (罚息) on an overdue ``amount`` for ``days`` days at ``annual_rate``:
    amount × annual_rate × days / basis (360 by default, the bank's usual day basis; pass 365 if
    the loan's terms say so), half-up to the fen. No compounding."""
    amount = _check_money("amount", amount, positive=False)
    monthly_rate(annual_rate)  # the same checks of the rate
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError("days must be a whole number, zero or more")
    if basis not in (360, 365):
        raise ValueError("basis is 360 or 365")
    with localcontext() as context:
        context.prec = 40
        return fen(amount * annual_rate * days / basis)


__all__ = [
    "EQUAL_INSTALMENT",
    "EQUAL_PRINCIPAL",
    "INTEREST_FIRST",
    "METHODS",
    "Instalment",
    "add_months",
    "level_payment",
    "monthly_rate",
    "overdue_interest",
    "schedule",
    "split_largest_remainder",
]
