"""Every setting of the ``accounts`` app, read at call time, each with its default.

Every number DOMAIN.md marks [U] or bank policy is configuration, never a constant: it is read
here and nowhere else, one style for all. Each setting comes from Django's settings if set there
(tests override them with pytest-django's ``settings``), else from the environment variable of
the same name, else the default below. Bank time (days, years, cut-offs) is ``backoffice.dates``.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from backoffice.money import to_money

DEFAULTS = {
    # -- parties and account opening (DOMAIN.md §1.4, R-ACC-02: "原则上", configuration) --------
    "ACCOUNTS_MAX_CLASS2_PER_PERSON": 5,
    "ACCOUNTS_MAX_CLASS3_PER_PERSON": 5,
    # -- tier limits (the amounts are data: LimitRuleSet / LimitRule) ----------------------
    # R-ACC-07: the annual window is a calendar year (the only basis implemented).
    "ACCOUNTS_LIMIT_YEAR_BASIS": "calendar",
    # R-ACC-14: days from the trigger date to the KYC task's due date.
    "ACCOUNTS_KYC_TASK_DUE_DAYS": 7,
    # R-ACC-14: what an overdue KYC task does: suspend_non_counter (the default, as the rule says:
    # the person's active Class III accounts move to non-counter suspended until the task is
    # done), or flag (mark the task overdue only).
    "ACCOUNTS_KYC_OVERDUE_ACTION": "suspend_non_counter",
    # -- account states and dormancy (DOMAIN.md §1.6) --------------------------------------
    # R-ACC-16: months after opening without a transaction before non-counter business is suspended.
    "ACCOUNTS_NON_COUNTER_SUSPEND_MONTHS": 6,
    # Voucher kinds that are not customer activity (interest, fees, judicial deductions), R-ACC-16/18.
    "ACCOUNTS_NON_ACTIVITY_VOUCHER_KINDS": ("interest", "fee", "judicial_deduction"),
    # R-ACC-18: months without receipts or payments before an entity account is notified, and
    # days from the notice after which an unclosed one is deemed closed.
    "ACCOUNTS_ENTITY_DORMANCY_MONTHS": 12,
    "ACCOUNTS_ENTITY_DORMANCY_NOTICE_DAYS": 30,
    # -- cards, micro-deposits, one-time codes ---------------------------------------------
    # Dotted path of the verification provider (accounts.cards.provider.VerificationProvider).
    "ACCOUNTS_VERIFICATION_PROVIDER": "accounts.cards.provider.SimulatorProvider",
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
    # -- exports (issue #14: constant memory) ------------------------------------------------
    # An export of more rows than this runs as a background job (ExportJob) with a progress page.
    "ACCOUNTS_EXPORT_SYNC_MAX_ROWS": 20000,
    # Entries read from the database per round trip while an export is written.
    "ACCOUNTS_EXPORT_CHUNK_ROWS": 2000,
    # Wrong codes before a code is burnt.
    "ACCOUNTS_OTP_MAX_ATTEMPTS": 5,
    # -- money in and out (per-channel numbers live on the Channel rows) -------------------
    # R-WD-01: withdrawals one person may make per (business) day.
    "ACCOUNTS_WITHDRAWAL_DAILY_COUNT": 40,
    # The beat sweeper re-drives a withdrawal or recharge in flight with no activity this long.
    "ACCOUNTS_PAYMENT_STUCK_SECONDS": 120,
    # An in-flight withdrawal older than this raises a "stuck" alert (P2).
    "ACCOUNTS_PAYMENT_ALERT_SECONDS": 1800,
    # Status queries of an unknown outcome: first delay, cap (exponential backoff).
    "ACCOUNTS_PAYMENT_QUERY_BACKOFF_SECONDS": 5,
    "ACCOUNTS_PAYMENT_QUERY_BACKOFF_MAX_SECONDS": 600,
    # Query errors in a row after which an alert is raised (the withdrawal stays unknown).
    "ACCOUNTS_PAYMENT_QUERY_ERROR_ALERT": 5,
    # Transaction password: wrong attempts before it locks, and for how long.
    "ACCOUNTS_TRANSACTION_PASSWORD_MAX_ATTEMPTS": 5,
    "ACCOUNTS_TRANSACTION_PASSWORD_LOCK_MINUTES": 30,
}

KYC_OVERDUE_ACTIONS = ("flag", "suspend_non_counter")


def get(name: str):
    """The setting ``name``: from Django's settings if set there (tests override it so), else from
    the environment variable of the same name, else its default. An environment value is read as
    the default's type (a whole number, a comma-separated list, or text)."""
    if hasattr(settings, name):
        return getattr(settings, name)
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return DEFAULTS[name]
    default = DEFAULTS[name]
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r}: a whole number is expected") from None
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw.strip()


# -- parties and account opening -------------------------------------------------------------


def max_class2_per_person() -> int:
    """R-ACC-02: non-closed Class II accounts one person may hold at this bank without an override."""
    return int(get("ACCOUNTS_MAX_CLASS2_PER_PERSON"))


def max_class3_per_person() -> int:
    """R-ACC-02: non-closed Class III accounts one person may hold at this bank without an override."""
    return int(get("ACCOUNTS_MAX_CLASS3_PER_PERSON"))


# -- tier limits -----------------------------------------------------------------------------


def limit_year_basis() -> str:
    """R-ACC-07: the annual window is a calendar year (``calendar``, the only basis implemented)."""
    basis = get("ACCOUNTS_LIMIT_YEAR_BASIS")
    if basis != "calendar":
        raise ImproperlyConfigured(f"ACCOUNTS_LIMIT_YEAR_BASIS={basis!r}: only 'calendar' is implemented")
    return basis


def kyc_task_due_days() -> int:
    """R-ACC-14: days from the trigger date to the KYC task's due date (default 7)."""
    return int(get("ACCOUNTS_KYC_TASK_DUE_DAYS"))


def kyc_overdue_action() -> str:
    """R-ACC-14: what an overdue KYC task does: ``suspend_non_counter`` (default) or ``flag``."""
    action = get("ACCOUNTS_KYC_OVERDUE_ACTION")
    if action not in KYC_OVERDUE_ACTIONS:
        raise ImproperlyConfigured(f"ACCOUNTS_KYC_OVERDUE_ACTION={action!r}: one of {KYC_OVERDUE_ACTIONS}")
    return action


# -- account states and dormancy -------------------------------------------------------------


def non_counter_suspend_months() -> int:
    """R-ACC-16: months after opening without a transaction before non-counter business is suspended."""
    return int(get("ACCOUNTS_NON_COUNTER_SUSPEND_MONTHS"))


def non_activity_voucher_kinds() -> tuple[str, ...]:
    """Voucher kinds that are not customer activity (interest, fees, judicial deductions) for R-ACC-16/18."""
    return tuple(get("ACCOUNTS_NON_ACTIVITY_VOUCHER_KINDS"))


def entity_dormancy_months() -> int:
    """R-ACC-18: months without receipts or payments before an entity account is notified."""
    return int(get("ACCOUNTS_ENTITY_DORMANCY_MONTHS"))


def entity_dormancy_notice_days() -> int:
    """R-ACC-18: days from the notice after which an unclosed entity account is deemed closed."""
    return int(get("ACCOUNTS_ENTITY_DORMANCY_NOTICE_DAYS"))


# -- cards, micro-deposits, one-time codes ---------------------------------------------------


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


# -- money in and out ------------------------------------------------------------------------


def daily_count() -> int:
    return int(get("ACCOUNTS_WITHDRAWAL_DAILY_COUNT"))


def stuck_after() -> dt.timedelta:
    return dt.timedelta(seconds=int(get("ACCOUNTS_PAYMENT_STUCK_SECONDS")))


def alert_after() -> dt.timedelta:
    return dt.timedelta(seconds=int(get("ACCOUNTS_PAYMENT_ALERT_SECONDS")))


def query_backoff(attempt: int) -> int:
    """Seconds before status query number ``attempt`` (0-based): exponential, capped."""
    base = int(get("ACCOUNTS_PAYMENT_QUERY_BACKOFF_SECONDS"))
    return min(base * (2 ** min(attempt, 20)), int(get("ACCOUNTS_PAYMENT_QUERY_BACKOFF_MAX_SECONDS")))


def query_error_alert() -> int:
    return int(get("ACCOUNTS_PAYMENT_QUERY_ERROR_ALERT"))


def password_max_attempts() -> int:
    return int(get("ACCOUNTS_TRANSACTION_PASSWORD_MAX_ATTEMPTS"))


def password_lock() -> dt.timedelta:
    return dt.timedelta(minutes=int(get("ACCOUNTS_TRANSACTION_PASSWORD_LOCK_MINUTES")))


def export_sync_max_rows() -> int:
    return int(get("ACCOUNTS_EXPORT_SYNC_MAX_ROWS"))


def export_chunk_rows() -> int:
    return int(get("ACCOUNTS_EXPORT_CHUNK_ROWS"))
