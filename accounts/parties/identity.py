"""Identity and card-number rules (DOMAIN.md §2.3, §2.4): validation and normalisation.

- Resident ID numbers per GB 11643-1999: 18 characters, a real birth date (1900 or later, not in
  the future), ISO 7064 MOD 11-2 check character; a 15-digit legacy number becomes 18 characters;
  a lowercase ``x`` is normalised to ``X`` (R-VER-01, R-VER-02).
- Unified social credit codes per GB 32100-2015: 18 characters of the code's alphabet (no I, O,
  S, V, Z), characters 3-8 an administrative division code (digits), a MOD 31 check character.
- Card numbers: 15-19 digits; the Luhn check warns, never blocks (R-VER-03).

The check characters and the birth date come from python-stdnum (``stdnum.cn.ric``,
``stdnum.cn.uscc``; the Luhn check is ``stdnum.luhn`` behind ``backoffice.checkdigits``). The
shapes, the normalisation, the order of the checks and the messages are this project's, and so
are its rules where they are stricter than stdnum's (see each function).
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

from backoffice.checkdigits import luhn_valid

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


class IdentityError(ValueError):
    """A number that fails its standard's rules; the message says which rule."""


def id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character that completes the first 17 digits (stdnum's)."""
    return ric.calc_check_digit(first17 + "0")  # stdnum's function skips the last character


def _birth_date(number: str) -> dt.date:
    """The birth date of an 18-character number, read by stdnum; the range is this project's rule:
    stdnum takes any real date, this project refuses one before 1900 or after today (R-VER-01)."""
    try:
        born = ric.get_birth_date(number)
    except StdnumError as exc:
        raise IdentityError(_("The birth date in the ID number is not a real date.")) from exc
    if born.year < 1900 or born > timezone.localdate():
        raise IdentityError(_("The birth date in the ID number is out of range."))
    return born


def normalise_id_number(value: str) -> str:
    """Return the 18-character form of a valid resident ID number, or raise IdentityError.

    Not ``ric.validate``: it would refuse an address code missing from stdnum's GB/T 2260 table
    (DOMAIN.md §2.3 makes that a warning at most, division codes change yearly), take a birth date
    before 1900 or in the future, a first digit 0, and neither converts 15 digits (R-VER-02) nor
    checks the date before the check character (the order of this project's messages).
    """
    text = (value or "").strip().upper()
    if re.fullmatch(r"[1-9]\d{14}", text):
        first17 = text[:6] + "19" + text[6:15]
        number = first17 + id_check_character(first17)
        _birth_date(number)
        return number
    if not re.fullmatch(r"[1-9]\d{16}[\dX]", text):
        raise IdentityError(_("An ID number has 18 characters (17 digits and a digit or X) or 15 digits."))
    _birth_date(text)
    if id_check_character(text[:17]) != text[17]:
        raise IdentityError(_("The ID number's check character is wrong."))
    return text


def credit_code_check_character(first17: str) -> str:
    """The GB 32100 MOD 31 check character that completes the first 17 characters (stdnum's)."""
    return uscc.calc_check_digit(first17)


def normalise_credit_code(value: str) -> str:
    """Return the upper-case 18-character credit code if its check character is right, or raise IdentityError.

    Not ``uscc.validate``: it removes spaces and dashes inside the code (refused here), and it
    requires digits in characters 1 and 2, which GB 32100 does not (authority code ``Y``, for one).
    """
    text = (value or "").strip().upper()
    if len(text) != 18 or any(char not in CREDIT_CODE_ALPHABET for char in text):
        raise IdentityError(_("A unified social credit code has 18 characters of digits and capital letters (no I, O, Z, S, V)."))
    if not text[2:8].isdigit():
        raise IdentityError(_("Characters 3 to 8 of a credit code are the administrative division code (digits)."))
    if credit_code_check_character(text[:17]) != text[17]:
        raise IdentityError(_("The credit code's check character is wrong."))
    return text


def normalise_mobile(value: str) -> str:
    """Return the 11-digit mainland mobile (spaces, dashes and a +86 prefix removed), or raise IdentityError."""
    text = re.sub(r"[\s-]", "", value or "")
    if text.startswith("+86"):
        text = text[3:]
    if not MOBILE_RE.fullmatch(text):
        raise IdentityError(_("A mainland mobile number has 11 digits and starts with 1."))
    return text


def normalise_card_number(value: str, *, min_length: int = 15) -> tuple[str, list[str]]:
    """Return (digits, warnings). Raises IdentityError on a malformed number; Luhn only warns."""
    text = re.sub(r"[\s-]", "", value or "")
    if not text.isdigit() or not (min_length <= len(text) <= 19):
        raise IdentityError(_("A card number has 15 to 19 digits."))
    warnings = [] if luhn_valid(text) else [str(_("The card number fails the Luhn check; verification decides."))]
    return text, warnings


# -- builders of valid numbers, for tests and the demo data (never for customers' data) ----------


def make_id_number(*, address: str = "110105", born: dt.date, sequence: int) -> str:
    """A well-formed 18-character ID number: address code, birth date, 3-digit sequence, check character."""
    first17 = f"{address}{born:%Y%m%d}{sequence:03d}"
    return first17 + id_check_character(first17)


def make_credit_code(*, body: str) -> str:
    """A well-formed credit code from its first 17 characters (authority, category, division, organisation code)."""
    return body + credit_code_check_character(body)
