"""The account-opening settings (DOMAIN.md §1.4, R-ACC-02): read at call time, with the stated defaults."""

from __future__ import annotations

from django.conf import settings

#: The numbers of R-ACC-01 / R-ACC-02 that are configuration ([U] "原则上"), with their defaults.
DEFAULTS = {
    "ACCOUNTS_MAX_CLASS2_PER_PERSON": 5,
    "ACCOUNTS_MAX_CLASS3_PER_PERSON": 5,
}


def _setting(name: str) -> int:
    return int(getattr(settings, name, DEFAULTS[name]))


def max_class2_per_person() -> int:
    """R-ACC-02: non-closed Class II accounts one person may hold at this bank without an override."""
    return _setting("ACCOUNTS_MAX_CLASS2_PER_PERSON")


def max_class3_per_person() -> int:
    """R-ACC-02: non-closed Class III accounts one person may hold at this bank without an override."""
    return _setting("ACCOUNTS_MAX_CLASS3_PER_PERSON")
