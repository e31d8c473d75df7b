"""The customer-facing brand (settings ``BRAND_NAME`` and ``BRAND_NAME_EN``): the bank's custody
service as its customers know it, in the portal's title and header and on the error pages.

``brand_name()`` picks the name of the active language; the context processor ``brand`` offers it
to every template as ``brand_name``.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation


def brand_name(language: str | None = None) -> str:
    language = (language or translation.get_language() or settings.LANGUAGE_CODE).lower()
    if language.startswith("zh"):
        return settings.BRAND_NAME
    return settings.BRAND_NAME_EN


def brand(request) -> dict[str, str]:
    return {"brand_name": brand_name()}
