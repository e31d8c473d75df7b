"""Template context shared by every page."""

from __future__ import annotations

from django.conf import settings

# The customer-facing product name: the bank's custody service, in Chinese and English.
DEFAULT_BRAND_NAME = "资金存管服务 / Custody Service"


def brand(request) -> dict[str, str]:
    """``brand_name`` ("资金存管服务 / Custody Service", or ``settings.BRAND_NAME``) and its two
    halves ``brand_zh`` and ``brand_en`` (split at " / "; both the whole name if there is none)."""
    name = str(getattr(settings, "BRAND_NAME", "") or DEFAULT_BRAND_NAME)
    zh, _sep, en = name.partition(" / ")
    return {"brand_name": name, "brand_zh": zh.strip(), "brand_en": en.strip()}
