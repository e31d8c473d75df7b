"""Configuration of card binding, micro-deposit verification and one-time codes.

Every number DOMAIN.md marks [U] is read here, with its default, and nowhere else. The settings
are optional: an unset one takes the default shown.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from backoffice.money import to_money

DEFAULTS = {
    # Dotted path of the verification provider (accounts.verification.VerificationProvider).
    "ACCOUNTS_VERIFICATION_PROVIDER": "accounts.verification.SimulatorProvider",
    # R-VER-03: the shortest card number accepted (16-19 is typical; 15 tolerated).
    "ACCOUNTS_CARD_MIN_LENGTH": 15,
    # R-VER-06: the micro-deposit amount is random in (0.00, max].
    "ACCOUNTS_MICRODEPOSIT_MAX_AMOUNT": "0.50",
    # R-VER-06 [U]: back-fill attempts before the verification fails.
    "ACCOUNTS_MICRODEPOSIT_MAX_ATTEMPTS": 3,
    # R-VER-06 [U]: the back-fill window, in working days after the send.
    "ACCOUNTS_MICRODEPOSIT_TTL_WORKING_DAYS": 7,
    # R-VER-07: status queries of a send with an unknown outcome: first delay, cap, count.
    "ACCOUNTS_MICRODEPOSIT_QUERY_BACKOFF_SECONDS": 30,
    "ACCOUNTS_MICRODEPOSIT_QUERY_BACKOFF_MAX_SECONDS": 3600,
    "ACCOUNTS_MICRODEPOSIT_QUERY_MAX_ATTEMPTS": 8,
    # A "not found" answer counts as a failed send only this long after the submission.
    "ACCOUNTS_MICRODEPOSIT_NOT_FOUND_GRACE_SECONDS": 300,
    # R-VER-08: a one-time code expires this many seconds after it is sent (Ping An: 120 s).
    "ACCOUNTS_OTP_TTL_SECONDS": 120,
    # Wrong codes before a code is burnt.
    "ACCOUNTS_OTP_MAX_ATTEMPTS": 5,
    # Days, years and "once per day" are counted in this time zone.
    "ACCOUNTS_BUSINESS_TIMEZONE": "Asia/Shanghai",
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


def provider_path() -> str:
    return str(get("ACCOUNTS_VERIFICATION_PROVIDER"))


def card_min_length() -> int:
    return int(get("ACCOUNTS_CARD_MIN_LENGTH"))


def microdeposit_max_amount() -> Decimal:
    return to_money(str(get("ACCOUNTS_MICRODEPOSIT_MAX_AMOUNT")))


def microdeposit_max_attempts() -> int:
    return int(get("ACCOUNTS_MICRODEPOSIT_MAX_ATTEMPTS"))


def microdeposit_ttl_working_days() -> int:
    return int(get("ACCOUNTS_MICRODEPOSIT_TTL_WORKING_DAYS"))


def microdeposit_query_backoff(attempt: int) -> int:
    """Seconds before query number ``attempt`` (0-based): exponential, capped."""
    base = int(get("ACCOUNTS_MICRODEPOSIT_QUERY_BACKOFF_SECONDS"))
    return min(base * (2 ** min(attempt, 32)), microdeposit_query_backoff_max())


def microdeposit_query_backoff_max() -> int:
    return int(get("ACCOUNTS_MICRODEPOSIT_QUERY_BACKOFF_MAX_SECONDS"))


def microdeposit_query_max_attempts() -> int:
    return int(get("ACCOUNTS_MICRODEPOSIT_QUERY_MAX_ATTEMPTS"))


def microdeposit_not_found_grace() -> dt.timedelta:
    return dt.timedelta(seconds=int(get("ACCOUNTS_MICRODEPOSIT_NOT_FOUND_GRACE_SECONDS")))


def otp_ttl() -> dt.timedelta:
    return dt.timedelta(seconds=int(get("ACCOUNTS_OTP_TTL_SECONDS")))


def otp_max_attempts() -> int:
    return int(get("ACCOUNTS_OTP_MAX_ATTEMPTS"))


def business_tz() -> ZoneInfo:
    return ZoneInfo(str(get("ACCOUNTS_BUSINESS_TIMEZONE")))


def business_date(moment: dt.datetime) -> dt.date:
    """The calendar date of ``moment`` in the bank's time zone (Asia/Shanghai)."""
    return moment.astimezone(business_tz()).date()


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight at the start of ``day`` in the bank's time zone."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=business_tz())
