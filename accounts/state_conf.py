"""Settings of account states, dormancy and judicial freezes, each with its DOMAIN.md default.

Every number here is marked [U] or bank policy in DOMAIN.md §1.6: configuration, never a constant.
Read them through these functions so tests can override with pytest-django's ``settings``.
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.conf import settings
from django.utils import timezone

DEFAULT_NON_ACTIVITY_VOUCHER_KINDS = ("interest", "fee", "judicial_deduction")


def non_counter_suspend_months() -> int:
    """R-ACC-16: months after opening without a transaction before non-counter business is suspended."""
    return int(getattr(settings, "ACCOUNTS_NON_COUNTER_SUSPEND_MONTHS", 6))


def non_activity_voucher_kinds() -> tuple[str, ...]:
    """Voucher kinds that are not customer activity (interest, fees, judicial deductions) for R-ACC-16/18."""
    return tuple(getattr(settings, "ACCOUNTS_NON_ACTIVITY_VOUCHER_KINDS", DEFAULT_NON_ACTIVITY_VOUCHER_KINDS))


def entity_dormancy_months() -> int:
    """R-ACC-18: months without receipts or payments before an entity account is notified."""
    return int(getattr(settings, "ACCOUNTS_ENTITY_DORMANCY_MONTHS", 12))


def entity_dormancy_notice_days() -> int:
    """R-ACC-18: days from the notice after which an unclosed entity account is deemed closed."""
    return int(getattr(settings, "ACCOUNTS_ENTITY_DORMANCY_NOTICE_DAYS", 30))


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` plus calendar months in the business time zone (Asia/Shanghai); the day is
    clipped to the month's end (31 Aug + 6 months = 28/29 Feb), the wall-clock time kept."""
    local = timezone.localtime(moment)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)
