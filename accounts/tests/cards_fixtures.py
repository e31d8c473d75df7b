"""Shared fixtures and builders of the card-binding and micro-deposit tests."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from accounts.ledger.chart import Role
from accounts.ledger.models import luhn_check_digit
from accounts.parties.identity import id_check_character
from accounts.parties.models import Party, id_number_hash

SHANGHAI = ZoneInfo("Asia/Shanghai")
ID_ZHANG = "11010519491231002X"  # DOMAIN.md §2.3 test vector
ID_LI = "34052419800101001X"
MOBILE = "13800000000"
ABC_DEBIT = "6228480402564890018"  # DOMAIN.md §2.4: 农业银行 debit, passes Luhn


def id_number(seq: int, born: str = "19900101") -> str:
    first17 = f"110105{born}{seq:03d}"
    return first17 + id_check_character(first17)


def card_number(prefix: str = "622848", digits: str = "1234", length: int = 19, *, luhn: bool = True) -> str:
    """A card number: prefix, filler, the 4 simulator-script digits, and a (correct) check digit."""
    body = prefix + "0" * (length - 1 - len(prefix) - len(digits)) + digits
    check = luhn_check_digit(body)
    if not luhn:
        check = str((int(check) + 1) % 10)
    return body + check


def at(text: str) -> dt.datetime:
    """An aware datetime in Asia/Shanghai from ``"2030-05-02 10:00"``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def reset_simulator():
    from accounts.cards.provider import simulator

    simulator.reset()
    yield
    simulator.reset()


@pytest.fixture
def sim():
    from accounts.cards.provider import simulator

    return simulator


@pytest.fixture
def person(make_party):
    """A person with a resident ID number (only name and ID hash are relied on)."""

    def make(name: str = "张三", id_no: str = ID_ZHANG):
        party = make_party(name=name)
        Party.objects.filter(pk=party.pk).update(id_number_hash=id_number_hash(id_no))
        return Party.objects.get(pk=party.pk)

    return make


@pytest.fixture
def open_account(make_account, person):
    def make(tier: str = "II", role: str = Role.PERSONAL, party=None, name: str = "张三", id_no: str = ID_ZHANG):
        return make_account(party=party or person(name, id_no), role=role, tier=tier)

    return make


@pytest.fixture
def bind():
    """card_bind with the holder's own details by default."""
    from accounts.cards import services as cards

    def do(account, number: str = ABC_DEBIT, *, name: str = "张三", id_no: str = ID_ZHANG, kind: str = "class_i", **kwargs):
        return cards.card_bind(
            account=account,
            card_number=number,
            holder_name=name,
            id_number=id_no,
            reserved_mobile=kwargs.pop("mobile", MOBILE),
            bound_account_kind=kind,
            **kwargs,
        )

    return do
