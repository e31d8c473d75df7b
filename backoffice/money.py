"""Money: ``Decimal`` yuan in Python, integer fen in the database, strings in the API.

Floats are refused everywhere; an amount with more than two decimals is refused, never rounded.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import forms
from django.core import validators
from django.db import models

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# 10^15 fen: far above any real balance, and inside a signed 64-bit integer.
MAX_AMOUNT = Decimal("9999999999999.99")


class MoneyError(ValueError):
    """An amount that is not exact money (float, sub-fen precision, not a number).

    ``code`` says which rule failed, for callers that word their own message: ``invalid`` (not an
    amount), ``precision`` (more than two decimals) or ``too_large`` (above ``MAX_AMOUNT``).
    """

    def __init__(self, message: str = "", *, code: str = "invalid"):
        super().__init__(message)
        self.code = code


def to_money(value) -> Decimal:
    """Parse an amount exactly; refuse floats and sub-cent precision (never round silently)."""
    if isinstance(value, bool):
        raise MoneyError("money must not be a boolean")
    if isinstance(value, float):
        raise MoneyError("money must not be a float")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            raise MoneyError(f"{value!r} is not an amount") from exc
    else:
        raise MoneyError(f"{type(value).__name__} is not an amount")
    if not amount.is_finite():
        raise MoneyError(f"{value!r} is not an amount")
    # Before abs(): an exponent beyond the context's (1E+999999999) would raise decimal.Overflow.
    if amount and amount.adjusted() > MAX_AMOUNT.adjusted():
        raise MoneyError("the amount is too large", code="too_large")
    # Size first: quantizing a huge value (1E+30) exceeds the context precision and would raise
    # decimal.InvalidOperation instead of a MoneyError.
    if abs(amount) > MAX_AMOUNT:
        raise MoneyError(f"{value} is too large", code="too_large")
    quantized = amount.quantize(CENT)
    if amount != quantized:
        raise MoneyError(f"{value} has more than two decimal places", code="precision")
    return quantized


# ASCII digits, an optional sign, at most one point; no exponent, no separators, no spaces inside.
_AMOUNT_TEXT = re.compile(r"(?P<sign>[+-]?)(?P<units>[0-9]*)(?:\.(?P<decimals>[0-9]*))?")
FULL_WIDTH_POINT = "\uff0e"  # what a Chinese keyboard's point key may type
FULL_WIDTH_COMMA = "\uff0c"
TYPED_MAX_UNITS = 12  # digits before the point in a typed amount (a form field's size)


def _typed_as_ascii(text: str) -> str:
    # A decimal digit of any script (full-width ３ from a Chinese keyboard, ٣, ३) is read as its
    # ASCII digit, as the portal always has (it matched with \d and read with Decimal()); a
    # full-width point is a point.
    text = text.replace(FULL_WIDTH_POINT, ".")
    return "".join(str(int(char)) if char.isdecimal() and not char.isascii() else char for char in text)


def parse_amount(text: str, *, signed: bool = False, typed: bool = False, thousands: bool = False) -> Decimal:
    """The one parser of an amount written as text, in yuan: exact, never rounded, never a float.

    The text (surrounding whitespace aside) is ASCII digits with at most one point and at most two
    decimals (a third is refused even if it is a zero, ``"0.370"``); no exponent, thousands
    separator, ``NaN`` or ``Infinity``; no sign unless ``signed``. The caller decides whether zero
    or a negative amount is acceptable.

    ``typed=True`` is for what a person typed in the portal: decimal digits of any script and a
    full-width point are read as ASCII, a bare point is fine (``".37"``, ``"1."``), and at most 12
    digits come before the point (more is refused as ``invalid``, before any size check).
    ``thousands=True`` drops every comma, ASCII or full-width (``"1,234.50"``), once the text is
    stripped (so a space left beside a comma is still refused).

    Raises ``MoneyError`` with ``code`` ``invalid``, ``precision`` or ``too_large``.
    """
    if not isinstance(text, str):
        raise MoneyError(f"{type(text).__name__} is not an amount text")
    if typed:
        text = _typed_as_ascii(text)
    text = text.strip()
    if thousands:
        text = text.replace(",", "").replace(FULL_WIDTH_COMMA, "")
    shape = _AMOUNT_TEXT.fullmatch(text)
    if shape is None or (shape["sign"] and not signed):
        raise MoneyError(f"{text!r} is not an amount")
    units, decimals = shape["units"], shape["decimals"]
    if typed:
        well_formed = (units or decimals) and len(units) <= TYPED_MAX_UNITS
    else:
        well_formed = units and decimals != ""
    if not well_formed:
        raise MoneyError(f"{text!r} is not an amount")
    if decimals is not None and len(decimals) > 2:
        raise MoneyError(f"{text} has more than two decimal places", code="precision")
    return to_money(text)


def sum_to_money(value) -> Decimal:
    """The result of ``Sum`` over a money column as exact money: None is zero, and a raw integer
    (a sum over the fen column on some backends) is read as fen."""
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))


def to_fen(value) -> int:
    return int(to_money(value).scaleb(2))


def from_fen(value: int) -> Decimal:
    return Decimal(int(value)).scaleb(-2).quantize(CENT)


def round_money(value: Decimal) -> Decimal:
    """The one rounding rule for computed amounts (fees, interest): half-up to the fen."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(value: Decimal) -> str:
    return f"{to_money(value):.2f}"


class MoneyField(models.BigIntegerField):
    """CNY amount: Decimal yuan in Python, integer fen in the database."""

    description = "Amount in CNY, stored as integer fen"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", ZERO)
        super().__init__(*args, **kwargs)

    @property
    def validators(self):
        # BigIntegerField's range validators compare fen integers; amounts are Decimal yuan.
        return [v for v in super().validators if not isinstance(v, (validators.MinValueValidator, validators.MaxValueValidator))]

    def from_db_value(self, value, expression, connection):
        return None if value is None else from_fen(value)

    def to_python(self, value):
        if value is None or value == "":
            return None
        try:
            return to_money(value)
        except MoneyError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc

    def get_prep_value(self, value):
        if value is None:
            return None
        if hasattr(value, "resolve_expression"):
            return value
        return to_fen(value)

    def formfield(self, **kwargs):
        defaults = {"form_class": forms.DecimalField, "max_digits": 15, "decimal_places": 2}
        defaults.update(kwargs)
        return models.Field.formfield(self, **defaults)
