"""Identity rules (DOMAIN.md §2.3, §2.4): ID numbers, credit codes, mobiles, card numbers; encryption and masks."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone, translation

from accounts.parties import identity
from backoffice import crypto

# -- R-VER-01: 18-character ID numbers -------------------------------------------------------


@pytest.fixture(autouse=True)
def _english_messages():
    """The refusal messages are matched in English (the default language is zh-hans)."""
    with translation.override("en"):
        yield


@pytest.mark.parametrize("number", ["11010519491231002X", "34052419800101001X"])
def test_r_ver_01_domain_vectors_are_valid(number):
    assert identity.normalise_id_number(number) == number


def test_r_ver_01_wrong_check_character_is_refused():
    with pytest.raises(identity.IdentityError, match="check character"):
        identity.normalise_id_number("340524198001010013")  # the correct check character is X
    assert identity.id_check_character("34052419800101001") == "X"


def test_r_ver_01_lowercase_x_is_normalised_to_capital_x():
    assert identity.normalise_id_number("11010519491231002x") == "11010519491231002X"
    assert identity.normalise_id_number("  34052419800101001x ") == "34052419800101001X"


def test_r_ver_01_future_birth_date_is_refused():
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    number = identity.make_id_number(born=tomorrow, sequence=1)
    with pytest.raises(identity.IdentityError, match="out of range"):
        identity.normalise_id_number(number)


def test_r_ver_01_birth_date_today_is_accepted():
    number = identity.make_id_number(born=timezone.localdate(), sequence=1)
    assert identity.normalise_id_number(number) == number


def test_r_ver_01_february_30_is_not_a_real_date():
    first17 = "11010519900230001"
    with pytest.raises(identity.IdentityError, match="not a real date"):
        identity.normalise_id_number(first17 + identity.id_check_character(first17))


def test_r_ver_01_february_29_only_in_a_leap_year():
    assert identity.normalise_id_number(identity.make_id_number(born=dt.date(2000, 2, 29), sequence=5))
    first17 = "11010519990229005"
    with pytest.raises(identity.IdentityError, match="not a real date"):
        identity.normalise_id_number(first17 + identity.id_check_character(first17))


def test_r_ver_01_birth_before_1900_is_refused_and_1900_01_01_accepted():
    first17 = "11010518991231002"
    with pytest.raises(identity.IdentityError, match="out of range"):
        identity.normalise_id_number(first17 + identity.id_check_character(first17))
    assert identity.normalise_id_number(identity.make_id_number(born=dt.date(1900, 1, 1), sequence=2))


@pytest.mark.parametrize(
    "number",
    [
        "",
        "01010519491231002X",  # first digit 0
        "1101051949123100X2",  # X not last
        "11010519491231002",  # 17 characters
        "11010519491231002X1",  # 19 characters
        "11010519491231002Y",
        "1101051949123100 2X",
        "11010519491231",  # 14 digits
        "0130503670401001",  # 16 digits
    ],
)
def test_r_ver_01_malformed_numbers_are_refused(number):
    with pytest.raises(identity.IdentityError):
        identity.normalise_id_number(number)


# -- R-VER-02: 15-digit legacy numbers ------------------------------------------------------


def test_r_ver_02_fifteen_digits_become_eighteen_with_check_character():
    assert identity.normalise_id_number("130503670401001") == "130503196704010016"


def test_r_ver_02_fifteen_digits_with_an_impossible_date_are_refused():
    with pytest.raises(identity.IdentityError, match="not a real date"):
        identity.normalise_id_number("130503670230001")  # 1967-02-30


def test_r_ver_02_stored_form_is_always_eighteen_characters():
    for number in ("130503670401001", "11010519491231002x", "34052419800101001X"):
        assert len(identity.normalise_id_number(number)) == 18


# -- credit codes (GB 32100-2015) -------------------------------------------------------------


def test_credit_code_check_character_vectors():
    # Built from their first 17 characters; the check is MOD 31 over the code's alphabet.
    assert identity.credit_code_check_character("91350100M000100Y4") == "3"
    assert identity.credit_code_check_character("91110000600037341") == "L"
    assert identity.normalise_credit_code("91350100M000100Y43") == "91350100M000100Y43"


def test_credit_code_lowercase_is_normalised():
    assert identity.normalise_credit_code(" 91350100m000100y43 ") == "91350100M000100Y43"


def test_credit_code_wrong_check_character_is_refused():
    with pytest.raises(identity.IdentityError, match="check character"):
        identity.normalise_credit_code("91350100M000100Y44")


@pytest.mark.parametrize(
    "code",
    ["", "91350100M000100Y4", "91350100M000100Y433", "91350100I000100Y43", "91350100O000100Y43", "9135A100M000100Y43"],
)
def test_credit_code_malformed_is_refused(code):
    with pytest.raises(identity.IdentityError):
        identity.normalise_credit_code(code)


def test_make_credit_code_builds_a_valid_code():
    code = identity.make_credit_code(body="91110105MA0000001")
    assert identity.normalise_credit_code(code) == code


# -- mobiles and card numbers ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["13800000000", "+86 138 0000 0000", "138-0000-0000", "+8613800000000"])
def test_mobile_is_normalised(value):
    assert identity.normalise_mobile(value) == "13800000000"


@pytest.mark.parametrize("value", ["", "12800000000", "1380000000", "138000000001", "23800000000", "1380000000a"])
def test_mobile_malformed_is_refused(value):
    with pytest.raises(identity.IdentityError):
        identity.normalise_mobile(value)


def test_r_ver_03_luhn_vectors_warn_but_never_block():
    assert identity.normalise_card_number("6228 4804 0256 4890 018") == ("6228480402564890018", [])
    assert identity.normalise_card_number("4111111111111111") == ("4111111111111111", [])
    digits, warnings = identity.normalise_card_number("6222021234567890123")
    assert digits == "6222021234567890123" and len(warnings) == 1 and "Luhn" in warnings[0]


@pytest.mark.parametrize("value", ["", "62284804025648", "62284804025648900181", "6228-4804-0256-489a"])
def test_r_ver_03_card_number_length_and_digits(value):
    with pytest.raises(identity.IdentityError):
        identity.normalise_card_number(value)


# -- masking ---------------------------------------------------------------------------------


def test_masking_formats():
    assert crypto.mask_id_number("11010519491231002X") == "110105********002X"
    assert crypto.mask_card_number("6228480402564890018") == "6228 **** **** 0018"
    assert crypto.mask_card_number("4111111111111111") == "4111 **** **** 1111"
    assert crypto.mask_mobile("13800000000") == "138****0000"
    assert crypto.mask_credit_code("91350100M000100Y43") == "913501********0Y43"
    assert crypto.mask_id_number("") == crypto.mask_card_number("") == crypto.mask_mobile("") == ""


def test_masking_short_values_never_show_more_than_they_hide():
    assert crypto.mask_card_number("12345678") == "****5678"
    assert crypto.mask_card_number("1234") == "****"
    assert crypto.mask_mobile("12345") == "*****"


# -- encryption and keyed hashes ---------------------------------------------------------------


def test_encryption_round_trip_and_ciphertext_is_not_plaintext():
    token = crypto.encrypt("11010519491231002X")
    assert "11010519491231002X" not in token and "002X" not in token
    assert crypto.decrypt(token) == "11010519491231002X"
    assert crypto.encrypt("11010519491231002X") != token  # randomised (IV), so equal values are not linkable
    assert crypto.encrypt("") == crypto.decrypt("") == ""


def test_keys_rotate_old_ciphertext_still_opens_and_rotate_moves_it_to_the_new_key(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PII_ENCRYPTION_KEYS = [old]
    token = crypto.encrypt("13800000000")
    settings.PII_ENCRYPTION_KEYS = [new, old]
    assert crypto.decrypt(token) == "13800000000"
    rotated = crypto.rotate(token)
    settings.PII_ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(rotated) == "13800000000"
    with pytest.raises(crypto.PersonalDataError):
        crypto.decrypt(token)


def test_blind_index_is_keyed_and_separates_purposes(settings):
    settings.PII_HASH_KEY = "hash-key-one"
    first = crypto.blind_index("11010519491231002X", purpose="id_number")
    assert first == crypto.blind_index("11010519491231002X", purpose="id_number")
    assert first != crypto.blind_index("11010519491231002X", purpose="mobile")
    assert "11010519491231002X" not in first and len(first) == 64
    settings.PII_HASH_KEY = "hash-key-two"
    assert crypto.blind_index("11010519491231002X", purpose="id_number") != first


# -- stdnum computes, this project's rules stay where they are stricter or different ------------


def test_id_number_whose_address_code_stdnum_does_not_know_is_accepted():
    # stdnum's ric.validate refuses an address code missing from its GB/T 2260 table; DOMAIN.md
    # §2.3 makes that a warning at most, so the number stands.
    from stdnum.cn import ric

    number = identity.make_id_number(address="999999", born=dt.date(1980, 1, 1), sequence=1)
    assert not ric.is_valid(number)
    assert identity.normalise_id_number(number) == number


def test_id_number_birth_before_1900_is_refused_though_stdnum_takes_it():
    from stdnum.cn import ric

    first17 = "11010518991231002"
    number = first17 + identity.id_check_character(first17)
    assert ric.get_birth_date(number) == dt.date(1899, 12, 31)
    with pytest.raises(identity.IdentityError, match="out of range"):
        identity.normalise_id_number(number)


def test_id_number_with_a_wrong_date_and_check_character_names_the_date_first():
    with pytest.raises(identity.IdentityError, match="not a real date"):
        identity.normalise_id_number("110105199002300010")


def test_credit_code_with_a_letter_authority_code_is_accepted_though_stdnum_refuses_it():
    from stdnum.cn import uscc

    code = identity.make_credit_code(body="Y1350100M000100Y4")
    assert not uscc.is_valid(code)
    assert identity.normalise_credit_code(code) == code


@pytest.mark.parametrize("code", ["9135 0100M000100Y43", "9135-0100M000100Y43"])
def test_credit_code_with_inner_spaces_or_dashes_is_refused_though_stdnum_strips_them(code):
    with pytest.raises(identity.IdentityError):
        identity.normalise_credit_code(code)
