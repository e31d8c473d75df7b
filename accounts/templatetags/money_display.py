"""``{{ value|money }}``: an amount for people, ``1234567.8`` → ``1,234,567.80`` (exact, never
through float; ``backoffice.portal.money``). An amount given as text (``"1234.50"``, as a drift
report holds it) is formatted too; anything that is not an amount is shown as it is."""

from __future__ import annotations

from decimal import Decimal

from django import template

from backoffice.money import MoneyError, to_money
from backoffice.portal import money as money_text

register = template.Library()


@register.filter
def money(value):
    if value is None or value == "" or isinstance(value, (bool, float)):
        return value
    if isinstance(value, (Decimal, int, str)):
        try:
            return money_text(to_money(value))
        except MoneyError:
            return value
    return value
