"""Serializer fields of the partner API: money as strings, times in Asia/Shanghai with offset."""

from __future__ import annotations

import re
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backoffice.money import MoneyError, to_money

_AMOUNT_RE = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
AMOUNT_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"


@extend_schema_field({"type": "string", "pattern": AMOUNT_PATTERN, "example": "100.00"})
class MoneyInput(serializers.Field):
    """A positive CNY amount sent as a JSON string with at most two decimals (``"1234.50"``).

    A JSON number is refused (it may already have been rounded by the sender's float), so are
    more than two decimals (never rounded here), zero and negative amounts.
    """

    default_error_messages = {
        "not_a_string": _('Send the amount as a JSON string, for example "100.00", not as a number.'),
        "invalid": _("Enter an amount in yuan, for example 100.00."),
        "precision": _("An amount has at most two decimals."),
        "not_positive": _("The amount must be greater than zero."),
        "too_large": _("The amount is too large."),
    }

    def to_internal_value(self, data) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_a_string")
        text = data.strip()
        if not _AMOUNT_RE.fullmatch(text):
            self.fail("invalid")
        if "." in text and len(text.split(".", 1)[1]) > 2:
            self.fail("precision")
        try:
            amount = to_money(text)
        except MoneyError:
            self.fail("too_large")
        if amount <= 0:
            self.fail("not_positive")
        return amount

    def to_representation(self, value) -> str:
        return f"{to_money(value):.2f}"


@extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "example": "100.00"})
class MoneyOutput(serializers.Field):
    """An amount in a response: a string with exactly two decimals."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return f"{to_money(value):.2f}"


@extend_schema_field(OpenApiTypes.DATETIME)
class LocalDateTime(serializers.Field):
    """A time in the server's zone (Asia/Shanghai) with its offset, to the second: ``2026-12-01T15:04:05+08:00``."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value) -> str | None:
        if value is None:
            return None
        return timezone.localtime(value).isoformat(timespec="seconds")
