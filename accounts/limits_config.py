"""Settings the tier limits read (DOMAIN.md [U] numbers that are configuration, not data).

The limit amounts themselves are data (``LimitRuleSet`` / ``LimitRule``, editable in the console);
what stays here is how periods are cut and what happens around the KYC trigger.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["kyc_overdue_action", "kyc_task_due_days", "limit_timezone", "limit_year_basis"]

KYC_OVERDUE_ACTIONS = ("flag", "suspend_non_counter")


def limit_timezone() -> ZoneInfo:
    """The calendar whose days and years the limits count in (default Asia/Shanghai)."""
    return ZoneInfo(getattr(settings, "ACCOUNTS_LIMIT_TIMEZONE", "Asia/Shanghai"))


def limit_year_basis() -> str:
    """R-ACC-07: the annual window is a calendar year (``calendar``, the only basis implemented)."""
    basis = getattr(settings, "ACCOUNTS_LIMIT_YEAR_BASIS", "calendar")
    if basis != "calendar":
        raise ImproperlyConfigured(f"ACCOUNTS_LIMIT_YEAR_BASIS={basis!r}: only 'calendar' is implemented")
    return basis


def kyc_task_due_days() -> int:
    """R-ACC-14: days from the trigger date to the KYC task's due date (default 7)."""
    return int(getattr(settings, "ACCOUNTS_KYC_TASK_DUE_DAYS", 7))


def kyc_overdue_action() -> str:
    """R-ACC-14: what an overdue KYC task does: ``flag`` (default) or ``suspend_non_counter``
    (the person's active Class III accounts move to non-counter suspended)."""
    action = getattr(settings, "ACCOUNTS_KYC_OVERDUE_ACTION", "flag")
    if action not in KYC_OVERDUE_ACTIONS:
        raise ImproperlyConfigured(f"ACCOUNTS_KYC_OVERDUE_ACTION={action!r}: one of {KYC_OVERDUE_ACTIONS}")
    return action
