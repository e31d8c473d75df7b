"""The working-day calendar (工作日): weekends off, public holidays off, make-up days (调休) on.

A date is a working day unless a ``Holiday`` row says otherwise: a row with
``is_working_day=False`` is a public holiday, one with ``is_working_day=True`` a weekend day
worked in exchange (调休). Operators edit the rows in the console; the 2026 PRC holidays are
seeded by a data migration.
"""

from __future__ import annotations

import datetime as dt

from accounts.cards.models import Holiday

__all__ = ["add_working_days", "is_working_day", "next_working_day", "working_days_between"]

_ONE_DAY = dt.timedelta(days=1)


def _overrides(start: dt.date, end: dt.date) -> dict[dt.date, bool]:
    return dict(Holiday.objects.filter(date__gte=start, date__lte=end).values_list("date", "is_working_day"))


def _default(day: dt.date) -> bool:
    return day.weekday() < 5


def is_working_day(day: dt.date) -> bool:
    """Is ``day`` a working day: a weekday that is no holiday, or a make-up working day?"""
    override = Holiday.objects.filter(date=day).values_list("is_working_day", flat=True).first()
    return _default(day) if override is None else override


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The ``n``-th working day after ``day`` (``day`` itself not counted); ``n=0`` returns ``day``.

    Example: from Friday with no holidays, 1 working day later is the next Monday.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    if n == 0:
        return day
    window = dt.timedelta(days=n * 2 + 40)  # wide enough for the Spring Festival and National Day
    current, counted = day, 0
    while True:
        overrides = _overrides(current + _ONE_DAY, current + window)
        limit = current + window
        while current < limit:
            current += _ONE_DAY
            if overrides.get(current, _default(current)):
                counted += 1
                if counted == n:
                    return current


def next_working_day(day: dt.date) -> dt.date:
    """``day`` if it is a working day, else the first working day after it."""
    return day if is_working_day(day) else add_working_days(day, 1)


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days in (start, end]: how many working days ``end`` is after ``start``."""
    if end <= start:
        return 0
    overrides = _overrides(start + _ONE_DAY, end)
    count, current = 0, start
    while current < end:
        current += _ONE_DAY
        if overrides.get(current, _default(current)):
            count += 1
    return count
