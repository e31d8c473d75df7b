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
    parse_amount,
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


# -- parse_amount: the one parser of amount text (the API's MoneyInput, the portal's forms) ---------


def _code(text, **options) -> str:
    with pytest.raises(MoneyError) as caught:
        parse_amount(text, **options)
    return caught.value.code


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", D("1.00")), ("0.37", D("0.37")), ("100.5", D("100.50")), (" 7.10 ", D("7.10")), ("9999999999999.99", MAX_AMOUNT)],
)
def test_parse_amount_reads_ascii_digits_with_at_most_two_decimals(text, expected):
    result = parse_amount(text)
    assert result == expected and isinstance(result, Decimal) and result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "text",
    ["", " ", "abc", "1e2", "1E-1", "NaN", "Infinity", "1,000", "1 000", "1_000", "0x10"]
    + [".5", "1.", ".", "1.2.3", "+5", "-5", "５", "½"],
)
def test_parse_amount_refuses_what_is_not_a_plain_amount_as_invalid(text):
    assert _code(text) == "invalid"


@pytest.mark.parametrize("text", ["0.370", "1.005", "12.345"])
def test_parse_amount_a_third_decimal_is_refused_even_a_zero(text):
    assert _code(text) == "precision"


def test_parse_amount_above_the_maximum_is_too_large():
    assert _code("10000000000000.00") == "too_large"
    assert _code("-99999999999999999", signed=True) == "too_large"


@pytest.mark.parametrize("value", [1, 1.5, None, D("1.00"), b"1.00"])
def test_parse_amount_takes_text_only(value):
    assert _code(value) == "invalid"


def test_parse_amount_signed_takes_a_sign_and_leaves_the_value_to_the_caller():
    assert parse_amount("-5.00", signed=True) == D("-5.00")
    assert parse_amount("+5", signed=True) == D("5.00")
    assert parse_amount("-0", signed=True) == D("0.00")
    assert _code("-0.001", signed=True) == "precision"
    assert _code("-", signed=True) == _code("-.5", signed=True) == "invalid"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("０．３７", D("0.37")), ("１００", D("100.00")), ("100．50", D("100.50")), ("٣٧", D("37.00"))]
    + [("\u30007.1\u3000", D("7.10"))],
)
def test_parse_amount_typed_reads_full_width_and_other_scripts_digits_as_ascii(text, expected):
    assert parse_amount(text, typed=True) == expected


def test_parse_amount_typed_takes_a_bare_point_but_not_a_lone_one():
    assert parse_amount(".37", typed=True) == D("0.37")
    assert parse_amount("1.", typed=True) == D("1.00")
    assert _code(".", typed=True) == "invalid"


def test_parse_amount_typed_allows_twelve_digits_before_the_point_and_refuses_more_as_invalid():
    assert parse_amount("999999999999.99", typed=True) == D("999999999999.99")
    assert _code("1000000000000", typed=True) == "invalid"


@pytest.mark.parametrize("text", ["-0.10", "+1", "1e-1", "1,0", "²"])
def test_parse_amount_typed_still_refuses_signs_exponents_and_commas(text):
    assert _code(text, typed=True) == "invalid"


def test_parse_amount_thousands_drops_commas_but_not_spaces_or_newlines():
    assert parse_amount("1,234.50", typed=True, thousands=True) == D("1234.50")
    assert parse_amount("1，234.50", typed=True, thousands=True) == D("1234.50")
    assert _code(",", typed=True, thousands=True) == "invalid"
    assert _code("1 ,0", typed=True, thousands=True) == "invalid"
    # The portal's old pattern ended in "$", which also matched before a final newline: "100\n,"
    # (a newline then a comma, only from a crafted POST) was read as 100.00. Refused now.
    assert _code("100\n,", typed=True, thousands=True) == "invalid"


def test_to_money_errors_carry_a_code():
    assert _code("1.001") == "precision"
    with pytest.raises(MoneyError) as caught:
        to_money("1.001")
    assert caught.value.code == "precision"
    with pytest.raises(MoneyError) as caught:
        to_money(D("1E+20"))
    assert caught.value.code == "too_large"
    with pytest.raises(MoneyError) as caught:
        to_money("abc")
    assert caught.value.code == "invalid"


# -- each caller keeps its own words --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (1, "JSON string"),
        ("1.234", "at most two decimals"),
        ("99999999999999999.00", "too large"),
        ("-5.00", "greater than zero"),
        ("0.00", "greater than zero"),
        (".5", "Enter an amount in yuan, for example 100.00."),
        ("1.", "Enter an amount in yuan, for example 100.00."),
        ("１００", "Enter an amount in yuan, for example 100.00."),
    ],
)
def test_api_money_input_keeps_one_message_per_rule(data, message):
    from django.utils import translation
    from rest_framework import serializers

    from backoffice.api import MoneyInput

    with translation.override("en"), pytest.raises(serializers.ValidationError) as caught:
        MoneyInput().to_internal_value(data)
    assert message in str(caught.value.detail[0])


@pytest.mark.parametrize("data", [" +12.30 ", "+12.30", " 12.30", "12.30 ", "12.30\n"])
def test_api_money_input_refuses_a_plus_sign_and_surrounding_spaces(data):
    # Issue #9: exactly the documented shape; this sloppy input was accepted before.
    from django.utils import translation
    from rest_framework import serializers

    from backoffice.api import MoneyInput

    with translation.override("en"), pytest.raises(serializers.ValidationError) as caught:
        MoneyInput().to_internal_value(data)
    assert "Enter an amount in yuan, for example 100.00." in str(caught.value.detail[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1,234.50", D("1234.50")), ("１，２３４．５", D("1234.50")), (".5", D("0.50")), ("100.", D("100.00"))],
)
def test_portal_amount_field_reads_commas_full_width_and_bare_points(text, expected):
    from accounts.portal.forms import clean_amount_text

    assert clean_amount_text(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [("abc", "invalid"), ("10.001", "precision"), ("0", "not_positive"), ("-5", "invalid"), ("1000000000000", "invalid")],
)
def test_portal_amount_field_refusals_keep_their_codes(text, code):
    from accounts.portal.forms import clean_amount_text

    with pytest.raises(forms.ValidationError) as caught:
        clean_amount_text(text)
    assert caught.value.code == code


def test_portal_micro_deposit_form_reads_full_width_but_no_commas():
    from accounts.portal.forms import MicroDepositForm

    form = MicroDepositForm(data={"amount": "０．３７"})
    assert form.is_valid() and form.cleaned_data["amount"] == D("0.37")
    form = MicroDepositForm(data={"amount": "0,37"})
    assert not form.is_valid() and form.errors.as_data()["amount"][0].code == "invalid"
