"""Bank time: one time zone (``settings.TIME_ZONE``, Asia/Shanghai), the business date of a moment,
the start of a business day, and calendar-month arithmetic in bank time.

Every "day", "year", "once per day" and cut-off of the product is counted here, so there is one
answer to "what day is it at the bank"; nothing else builds a ``ZoneInfo``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings

# The first and last business days a date filter may name: a day's bounds (its start and the next
# day's start, in bank time and in UTC) must exist as datetimes, so 0001-01-01 and 9999-12-31 cannot.
FIRST_DAY = dt.date.min + dt.timedelta(days=1)
LAST_DAY = dt.date.max - dt.timedelta(days=1)


def day_in_range(day: dt.date) -> bool:
    """Whether ``day`` lies within ``FIRST_DAY`` .. ``LAST_DAY``: a filter may name it without an overflow."""
    return FIRST_DAY <= day <= LAST_DAY


def bank_tz() -> ZoneInfo:
    """The bank's time zone (``TIME_ZONE``, Asia/Shanghai)."""
    return ZoneInfo(settings.TIME_ZONE)


def business_date(moment: dt.datetime) -> dt.date:
    """The calendar date of ``moment`` in bank time."""
    return moment.astimezone(bank_tz()).date()


def business_date_with_cutoff(moment: dt.datetime, cutoff: dt.time) -> dt.date:
    """The business date of ``moment`` under a day cut-off (日切) at ``cutoff`` bank time: at or after
    the cut-off, the next date; a midnight cut-off is the calendar date."""
    local = moment.astimezone(bank_tz())
    if cutoff != dt.time(0, 0) and local.time() >= cutoff:
        return local.date() + dt.timedelta(days=1)
    return local.date()


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight at the start of ``day`` in bank time."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=bank_tz())


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` plus calendar months in bank time; the day is clipped to the month's end
    (31 Aug + 6 months = 28/29 Feb), the wall-clock time kept."""
    local = moment.astimezone(bank_tz())
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)
