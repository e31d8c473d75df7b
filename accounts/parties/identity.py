"""Identity and card-number rules (DOMAIN.md §2.3, §2.4): validation and normalisation.

- Resident ID numbers per GB 11643-1999: 18 characters, a real birth date (1900 or later, not in
  the future), ISO 7064 MOD 11-2 check character; a 15-digit legacy number becomes 18 characters;
  a lowercase ``x`` is normalised to ``X`` (R-VER-01, R-VER-02).
- Unified social credit codes per GB 32100-2015: 18 characters of the code's alphabet (no I, O,
  S, V, Z), characters 3-8 an administrative division code (digits), a MOD 31 check character.
- Card numbers: 15-19 digits; the Luhn check warns, never blocks (R-VER-03).
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.checkdigits import luhn_valid

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"  # index: (sum mod 11)
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


class IdentityError(ValueError):
    """A number that fails its standard's rules; the message says which rule."""


def id_check_character(first17: str) -> str:
    total = sum(int(char) * weight for char, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def _birth_date(text: str) -> dt.date:
    try:
        born = dt.date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError as exc:
        raise IdentityError(_("The birth date in the ID number is not a real date.")) from exc
    if born.year < 1900 or born > timezone.localdate():
        raise IdentityError(_("The birth date in the ID number is out of range."))
    return born


def normalise_id_number(value: str) -> str:
    """Return the 18-character form of a valid resident ID number, or raise IdentityError."""
    text = (value or "").strip().upper()
    if re.fullmatch(r"[1-9]\d{14}", text):
        first17 = text[:6] + "19" + text[6:15]
        _birth_date(first17[6:14])
        return first17 + id_check_character(first17)
    if not re.fullmatch(r"[1-9]\d{16}[\dX]", text):
        raise IdentityError(_("An ID number has 18 characters (17 digits and a digit or X) or 15 digits."))
    _birth_date(text[6:14])
    if id_check_character(text[:17]) != text[17]:
        raise IdentityError(_("The ID number's check character is wrong."))
    return text


def credit_code_check_character(first17: str) -> str:
    total = sum(CREDIT_CODE_ALPHABET.index(char) * weight for char, weight in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def normalise_credit_code(value: str) -> str:
    """Return the upper-case 18-character credit code if its check character is right, or raise IdentityError."""
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
