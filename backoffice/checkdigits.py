"""The Luhn (MOD 10) check digit, the one implementation: python-stdnum's ``stdnum.luhn``.

Used for the bank's own account numbers (``accounts.ledger.models``: the 16th digit) and for card
numbers (``accounts.parties.identity``: a failure only warns, R-VER-03). Migrations keep their
frozen copies.
"""

from __future__ import annotations

from stdnum import luhn


def _ascii(digits: str) -> str:
    # stdnum reads ASCII digits only; callers screen with str.isdigit(), which also lets through
    # other scripts' digits (full-width ５), and the hand-written check read them with int(): kept.
    return "".join(str(int(char)) for char in digits)


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit that completes ``digits``."""
    return luhn.calc_check_digit(_ascii(digits))


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` (check digit included) pass the Luhn check; an empty string does, as before."""
    return luhn.checksum(_ascii(digits)) == 0
