"""backoffice.checkdigits: the one Luhn (stdnum's), for account numbers and card numbers (DOMAIN.md §2.4)."""

from __future__ import annotations

import pytest

from accounts.ledger.models import account_number_is_valid, new_account_number
from backoffice.checkdigits import luhn_check_digit, luhn_valid


@pytest.mark.parametrize(
    ("number", "valid"),
    [("6228480402564890018", True), ("4111111111111111", True), ("6222021234567890123", False)],
)
def test_luhn_valid_domain_vectors(number, valid):
    assert luhn_valid(number) is valid


def test_luhn_check_digit_completes_the_number():
    assert luhn_check_digit("622848040256489001") == "8"
    assert luhn_check_digit("7894") == "9"
    assert luhn_check_digit("") == "0"


def test_luhn_reads_full_width_digits_as_their_ascii_values():
    assert luhn_valid("４111111111111111")
    assert luhn_check_digit("７８９４") == "9"


@pytest.mark.parametrize("internal", [True, False])
def test_new_account_numbers_carry_a_luhn_check_digit(internal):
    number = new_account_number(internal=internal)
    assert account_number_is_valid(number) and luhn_valid(number)
    assert not account_number_is_valid(number[:-1] + str((int(number[-1]) + 1) % 10))
