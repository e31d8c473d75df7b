"""Configuration of recharges and withdrawals (settings, each optional, with the default shown).

Per-channel numbers (real-time limit, window, fee, strategy, "not found" grace) live on the
``Channel`` rows the console edits; these are the bank-wide ones.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

DEFAULTS = {
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


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


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
