"""The BIN table: the shipped fixture (DOMAIN.md §2.4 examples) and the operators' import."""

from __future__ import annotations

import pytest
import tablib

from accounts.cards import services as cards
from accounts.cards.models import BinEntry
from accounts.resources import BinEntryResource
from accounts.tests.cards_fixtures import ABC_DEBIT, card_number

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("prefix", "bank", "card_type", "length"),
    [
        *[(str(p), "中国银行", "DC", 19) for p in range(621660, 621670)],
        ("625908", "中国银行", "CC", 16),
        ("625909", "中国银行", "CC", 16),
        ("625910", "中国银行", "CC", 16),
        ("622848", "中国农业银行", "DC", 19),
        ("622202", "中国工商银行", "DC", 19),
        ("356833", "中国银行 (JCB)", "CC", 16),
        ("409665", "中国银行 (Visa)", "CC", 16),
    ],
)
def test_r_ver_04_fixture_has_the_domain_examples(prefix, bank, card_type, length):
    entry = BinEntry.objects.get(prefix=prefix)
    assert (entry.bank_name, entry.card_type, entry.card_length) == (bank, card_type, length)


def test_r_ver_04_fixture_covers_every_card_type():
    assert BinEntry.objects.count() >= 30
    assert set(BinEntry.objects.values_list("card_type", flat=True)) == {"DC", "CC", "SCC", "PC"}
    assert cards.bin_lookup(ABC_DEBIT).bank_name == "中国农业银行"
    assert cards.bin_lookup(card_number("621665")).card_type == "DC"


def _dataset(*rows):
    return tablib.Dataset(*rows, headers=["prefix", "bank_name", "card_type", "card_length"])


def test_import_creates_updates_and_skips_unchanged_rows():
    result = BinEntryResource().import_data(
        _dataset(
            ["62345678", "测试银行", "dc", 19],  # new, 8 digits, type normalised
            ["622848", "中国农业银行", "DC", 19],  # unchanged
            [625908.0, "中国银行", "SCC", 16],  # changed (a spreadsheet's float prefix)
        ),
        dry_run=False,
    )
    assert not result.has_errors() and not result.has_validation_errors()
    assert (result.totals["new"], result.totals["update"], result.totals["skip"]) == (1, 1, 1)
    assert BinEntry.objects.get(prefix="62345678").card_type == "DC"
    assert BinEntry.objects.get(prefix="625908").card_type == "SCC"
    assert cards.bin_lookup(card_number("62345678")).bank_name == "测试银行"


@pytest.mark.parametrize(
    "bad",
    [["12345", "短前缀", "DC", 19], ["6299990", "坏卡种", "XX", 19], ["6299991", "坏长度", "DC", 25]],
    ids=["prefix-too-short", "unknown-type", "length-out-of-range"],
)
def test_import_refuses_invalid_rows_and_writes_nothing(bad):
    before = BinEntry.objects.count()
    result = BinEntryResource().import_data(_dataset(["6299992", "好行", "DC", 19], bad), dry_run=False)
    assert result.has_validation_errors()
    assert BinEntry.objects.count() == before and not BinEntry.objects.filter(prefix="6299992").exists()
