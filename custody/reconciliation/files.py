"""The platform's daily reconciliation file (对账文件): a UTF-8 CSV (a BOM is allowed), parsed and
validated line by line. Pure: no database.

The header (line 1) is exactly::

    record,business_date,type,out_request_no,sub_account,amount,state

Then one line per record, every one of the same ``business_date`` (``YYYY-MM-DD``, the file's day):

- ``instruction``: ``type`` one of recharge, withdrawal, bid, disbursement, repayment;
  ``out_request_no`` (1–64 characters; for recharges and withdrawals the reference the
  instruction was sent with); ``sub_account`` the platform's sub-account concerned (16 digits;
  for a disbursement the borrower's), optional; ``amount`` ``"123.45"`` (> 0); ``state``
  ``succeeded`` or ``failed``. A (type, out_request_no) appears once.
- ``balance``: ``sub_account`` (16 digits, once per file) and its day-end ``amount`` (≥ 0, the
  balance at the platform's 日切); ``type``, ``out_request_no`` and ``state`` empty.

Every error is reported with its line number, field and message; a file with any error is
refused whole (nothing imported).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal

from backoffice.money import MoneyError, parse_amount

HEADER = ("record", "business_date", "type", "out_request_no", "sub_account", "amount", "state")
TYPES = ("recharge", "withdrawal", "bid", "disbursement", "repayment")
STATES = ("succeeded", "failed")
MAX_BYTES = 20 * 1024 * 1024
MAX_LINES = 200_000
_NUMBER = re.compile(r"[0-9]{16}")
_REFERENCE = re.compile(r"[\x21-\x7e]{1,64}")


@dataclass(frozen=True)
class InstructionLine:
    line: int
    type: str
    out_request_no: str
    sub_account: str
    amount: Decimal
    state: str


@dataclass(frozen=True)
class BalanceLine:
    line: int
    sub_account: str
    amount: Decimal


@dataclass
class ParsedFile:
    business_date: dt.date | None = None
    instructions: list[InstructionLine] = field(default_factory=list)
    balances: list[BalanceLine] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    lines: int = 0

    def error(self, line: int, field_name: str, message: str) -> None:
        if len(self.errors) < 1000:
            self.errors.append({"line": line, "field": field_name, "message": message})


def _amount(parsed: ParsedFile, line: int, text: str, *, zero_ok: bool) -> Decimal | None:
    try:
        amount = parse_amount(text)
    except MoneyError as exc:
        parsed.error(line, "amount", f'not an amount of the form "123.45" ({exc.code})')
        return None
    if amount < 0 or (amount == 0 and not zero_ok):
        parsed.error(line, "amount", "must be positive" if not zero_ok else "must not be negative")
        return None
    return amount


def parse(content: bytes) -> ParsedFile:
    """Parse and validate the whole file; ``errors`` empty means every line is good."""
    parsed = ParsedFile()
    if len(content) > MAX_BYTES:
        parsed.error(0, "file", f"larger than {MAX_BYTES} bytes")
        return parsed
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        parsed.error(0, "file", f"not UTF-8 (byte {exc.start})")
        return parsed
    if "\x00" in text:
        parsed.error(0, "file", "contains a NUL character")
        return parsed
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
    seen_refs: dict[tuple[str, str], int] = {}
    seen_accounts: dict[str, int] = {}
    try:
        for index, row in enumerate(rows, start=1):
            parsed.lines = index
            if index > MAX_LINES:
                parsed.error(index, "file", f"more than {MAX_LINES} lines")
                break
            if index == 1:
                if tuple(cell.strip() for cell in row) != HEADER:
                    parsed.error(1, "header", "must be exactly: " + ",".join(HEADER))
                continue
            if not row or all(not cell.strip() for cell in row):
                continue  # a blank line (e.g. the last newline)
            if len(row) != len(HEADER):
                parsed.error(index, "line", f"has {len(row)} fields, {len(HEADER)} expected")
                continue
            record, day_text, kind, reference, account, amount_text, state = (cell.strip() for cell in row)
            try:
                day = dt.date.fromisoformat(day_text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day_text) else None
            except ValueError:
                day = None
            if day is None:
                parsed.error(index, "business_date", "not a date YYYY-MM-DD")
            elif parsed.business_date is None:
                parsed.business_date = day
            elif day != parsed.business_date:
                parsed.error(index, "business_date", f"differs from the file's day {parsed.business_date.isoformat()}")
            if account and not _NUMBER.fullmatch(account):
                parsed.error(index, "sub_account", "not a 16-digit account number")
                account = None
            if record == "instruction":
                ok = True
                if kind not in TYPES:
                    parsed.error(index, "type", "one of " + ", ".join(TYPES))
                    ok = False
                if not _REFERENCE.fullmatch(reference):
                    parsed.error(index, "out_request_no", "1 to 64 printable characters, no spaces")
                    ok = False
                elif kind in TYPES:
                    first = seen_refs.setdefault((kind, reference), index)
                    if first != index:
                        parsed.error(index, "out_request_no", f"{kind} {reference} already on line {first}")
                        ok = False
                if state not in STATES:
                    parsed.error(index, "state", "one of " + ", ".join(STATES))
                    ok = False
                amount = _amount(parsed, index, amount_text, zero_ok=False)
                if ok and amount is not None and account is not None and day is not None:
                    parsed.instructions.append(InstructionLine(index, kind, reference, account or "", amount, state))
            elif record == "balance":
                ok = True
                if kind or reference or state:
                    parsed.error(index, "line", "a balance line leaves type, out_request_no and state empty")
                    ok = False
                if not account:
                    if account == "":
                        parsed.error(index, "sub_account", "required on a balance line")
                    ok = False
                else:
                    first = seen_accounts.setdefault(account, index)
                    if first != index:
                        parsed.error(index, "sub_account", f"balance already on line {first}")
                        ok = False
                amount = _amount(parsed, index, amount_text, zero_ok=True)
                if ok and amount is not None and day is not None:
                    parsed.balances.append(BalanceLine(index, account, amount))
            else:
                parsed.error(index, "record", "instruction or balance")
    except csv.Error as exc:
        parsed.error(parsed.lines + 1, "line", f"not valid CSV: {exc}")
    if parsed.lines == 0:
        parsed.error(1, "header", "the file is empty")
    elif parsed.business_date is None and not parsed.errors:
        parsed.error(2, "file", "no record: at least the sub-accounts' balances are expected")
    return parsed
