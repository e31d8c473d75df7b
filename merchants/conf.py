"""The merchants app's settings, each readable from the environment (Django settings of the same
name win, which is how tests override them); read at call time."""

from __future__ import annotations

import os

from django.conf import settings

#: How a refund gives back the merchant discount rate (MDR) charged on the payment:
#: ``pro_rata`` (the default) returns the refunded share of it, never more than was charged;
#: ``none`` keeps it (the merchant bears the whole fee of a refunded payment).
MDR_REFUND_POLICIES = ("pro_rata", "none")


def _get(name: str, default: str) -> str:
    value = getattr(settings, name, None)
    return str(value) if value is not None else os.environ.get(name, default)


def mdr_refund_policy() -> str:
    value = _get("MERCHANTS_MDR_REFUND", "pro_rata").strip().lower()
    if value not in MDR_REFUND_POLICIES:
        raise ValueError(f"MERCHANTS_MDR_REFUND must be one of {', '.join(MDR_REFUND_POLICIES)}, not {value!r}")
    return value


def held_wait_files() -> int:
    """R-REC-03: how many of the channel's next business dates' clearing files a short or timing item
    waits for before it goes to suspense (``MERCHANTS_HELD_WAIT_FILES``, default 2: T+2)."""
    value = int(_get("MERCHANTS_HELD_WAIT_FILES", "2"))
    if value < 1:
        raise ValueError(f"MERCHANTS_HELD_WAIT_FILES must be at least 1, not {value}")
    return value
