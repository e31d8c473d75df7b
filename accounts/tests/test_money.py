"""backoffice.money: exact parsing (no floats, no sub-fen rounding) and the integer-fen MoneyField."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from django import forms
from django.db import connection
from django.db.models import Sum

from accounts.ledger import postings as ledger
from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account, Entry, Transfer
from accounts.ledger.selectors import trial_balance
from backoffice.money import (
    MAX_AMOUNT,
    MoneyError,
    MoneyField,
    format_money,
    from_fen,
    round_money,
    to_fen,
    to_money,
)

D = Decimal


@pytest.mark.parametrize(
    "value, expected",
    [
        ("123.45", D("123.45")),
        (" 7.1 ", D("7.10")),
        ("0", D("0.00")),
        (5, D("5.00")),
        (D("2.5"), D("2.50")),
        (D("1E+2"), D("100.00")),
        ("-3.20", D("-3.20")),
        (D("1.000"), D("1.00")),  # trailing zeros are not extra precision
        ("9999999999999.99", MAX_AMOUNT),
    ],
)
def test_to_money_parses_exact_amounts(value, expected):
    result = to_money(value)
    assert result == expected
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        0.1,
        float("nan"),
        float("inf"),
        True,
        False,
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-Infinity",
        D("NaN"),
        D("Infinity"),
        "1.005",
        D("0.001"),
        "12.345",
        "abc",
        "",
        "1,00",
        None,
        [1],
        b"1.00",
        "10000000000000.00",
        D("1E+30"),  # beyond the context precision: refused, never an InvalidOperation
        D("-1E+40"),
        "1e-30",
    ],
)
def test_to_money_refuses_non_money(value):
    with pytest.raises(MoneyError):
        to_money(value)


def test_money_error_is_a_value_error():
    assert issubclass(MoneyError, ValueError)


def test_fen_conversions_are_exact():
    assert to_fen("123.45") == 12345
    assert to_fen(MAX_AMOUNT) == 999_999_999_999_999
    assert from_fen(12345) == D("123.45")
    assert from_fen(-1) == D("-0.01")
    assert from_fen(999_999_999_999_999) == MAX_AMOUNT
    with pytest.raises(MoneyError):
        to_fen(0.3)


def test_round_money_is_half_up_and_format_money_has_two_decimals():
    assert round_money(D("0.005")) == D("0.01")
    assert round_money(D("0.0049")) == D("0.00")
    assert round_money(D("-0.005")) == D("-0.01")
    assert format_money(D("3")) == "3.00"
    with pytest.raises(MoneyError):
        format_money(D("0.001"))


def test_money_field_python_side():
    field = MoneyField()
    assert field.get_prep_value(D("12.34")) == 1234
    assert field.get_prep_value(None) is None
    assert field.from_db_value(1234, None, connection) == D("12.34")
    assert field.from_db_value(None, None, connection) is None
    assert field.to_python("1.20") == D("1.20")
    assert field.to_python("") is None
    with pytest.raises(forms.ValidationError):
        field.to_python(1.2)
    with pytest.raises(forms.ValidationError):
        field.to_python("1.234")
    with pytest.raises(MoneyError):
        field.get_prep_value(1.2)
    assert isinstance(field.formfield(), forms.DecimalField)


def _post(src, dst, amount):
    return ledger.post_transfer(
        client="money",
        idempotency_key=str(uuid4()),
        kind="test",
        legs=ledger.move(from_account_id=src.pk, to_account_id=dst.pk, amount=amount),
    )


def test_money_field_round_trips_exactly_on_the_database(make_account, clearing):
    account = make_account()
    for amount in ("0.01", "0.10", "0.29", "1234567.89", "0.07"):
        transfer = _post(clearing, account, D(amount))
        assert Transfer.objects.get(pk=transfer.pk).amount == D(amount)
    with connection.cursor() as cursor:
        cursor.execute("SELECT amount FROM accounts_transfer WHERE client = 'money' ORDER BY id")
        stored = [row[0] for row in cursor.fetchall()]
    assert stored == [1, 10, 29, 123456789, 7]  # integer fen in the column
    assert Account.objects.get(pk=account.pk).balance == D("1234568.36")
    total = Entry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"]
    assert total == D("1234568.36")
    assert ledger_drift() == []


def test_money_field_large_amounts_are_exact(make_account, clearing):
    # given a balance of the largest amount, made of many odd fen (a float sum would drift)
    account = make_account()
    _post(clearing, account, MAX_AMOUNT - D("0.33"))
    for _ in range(3):
        _post(clearing, account, D("0.11"))
    fresh = Account.objects.get(pk=account.pk)
    assert fresh.balance == MAX_AMOUNT
    assert str(fresh.balance) == "9999999999999.99"
    assert Entry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] == MAX_AMOUNT
    tb = trial_balance()
    assert tb.balanced
    # when it goes back out, it is exactly zero again
    _post(account, clearing, MAX_AMOUNT)
    assert Account.objects.get(pk=account.pk).balance == D("0.00")
    assert ledger_drift() == []


def test_money_field_refuses_an_amount_above_the_maximum(make_account, clearing):
    from accounts.ledger.errors import InvalidAmountError

    with pytest.raises(InvalidAmountError):
        _post(clearing, make_account(), MAX_AMOUNT + D("0.01"))
