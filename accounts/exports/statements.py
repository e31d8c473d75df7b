"""An account statement as an export: the header block and typed rows, for a customer (portal) or
for the bank's staff (console).

Rows come from the database in chunks (``QuerySet.iterator(chunk_size=...)``) and are written as
they come, so memory stays flat whatever the number of entries. What each audience sees:

- portal: kind as a label, side as money in / out (收入/支出) of the account, no accounting subject
  (会计科目, an internal code), and a withdrawal's fee on its own line after the amount;
- console: kind as a label, side as debit / credit (借/贷), the subject kept.

Times are Asia/Shanghai wall-clock times (naive datetimes in XLSX, text in CSV); money is Decimal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from accounts import conf
from accounts.exports import labels
from accounts.ledger.chart import DEBIT
from accounts.ledger.models import Account, Entry
from accounts.ledger.selectors import account_statement
from accounts.payments.models import Withdrawal
from backoffice import dates

PORTAL = "portal"
CONSOLE = "console"
AUDIENCES = (PORTAL, CONSOLE)
ZERO = Decimal("0.00")

# Column headers, bilingual as every export of the bank; CSV and XLSX share them.
POSTED_AT = "posted_at / 记账时间"
VOUCHER = "voucher / 凭证号"
KIND = "kind / 业务类型"
SIDE = "side / 借贷"
IN_OUT = "in/out / 收支"
AMOUNT = "amount / 金额"
BALANCE = "balance / 余额"
SUBJECT = "subject / 科目"
MEMO = "memo / 摘要"

COLUMNS = {
    PORTAL: (POSTED_AT, VOUCHER, KIND, IN_OUT, AMOUNT, BALANCE, MEMO),
    CONSOLE: (POSTED_AT, VOUCHER, KIND, SIDE, AMOUNT, BALANCE, SUBJECT, MEMO),
}
# Column kinds, for the XLSX number formats: "time", "money", "int" or "text".
COLUMN_TYPES = {
    POSTED_AT: "time",
    VOUCHER: "int",
    KIND: "text",
    SIDE: "text",
    IN_OUT: "text",
    AMOUNT: "money",
    BALANCE: "money",
    SUBJECT: "text",
    MEMO: "text",
}


@dataclass(frozen=True)
class StatementQuery:
    """Which entries of which account, for whom. Dates are business days (Asia/Shanghai), inclusive."""

    account_id: int
    audience: str = PORTAL
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    kind: str | None = None

    def to_params(self) -> dict:
        return {
            "account_id": self.account_id,
            "audience": self.audience,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "kind": self.kind or None,
        }

    @classmethod
    def from_params(cls, params: dict) -> StatementQuery:
        day = dt.date.fromisoformat
        return cls(
            account_id=int(params["account_id"]),
            audience=params.get("audience") or PORTAL,
            date_from=day(params["date_from"]) if params.get("date_from") else None,
            date_to=day(params["date_to"]) if params.get("date_to") else None,
            kind=params.get("kind") or None,
        )


@dataclass(frozen=True)
class StatementHeader:
    """The block above the rows: account, holder, period, opening and closing balance."""

    number: str
    holder: str
    period_from: dt.date
    period_to: dt.date
    opening: Decimal
    closing: Decimal

    @property
    def sheet_title(self) -> str:
        """``6217000000000018 260101-260131``: at most 31 characters, none that a sheet name forbids."""
        return f"{self.number} {self.period_from:%y%m%d}-{self.period_to:%y%m%d}"[:31]

    def rows(self) -> list[tuple]:
        return [
            ("Account statement / 账户对账单",),
            ("account / 账号", self.number),
            ("holder / 户名", self.holder),
            ("period / 期间", self.period_from, self.period_to),
            ("opening balance / 期初余额", self.opening),
            ("closing balance / 期末余额", self.closing),
        ]


def statement_entries(query: StatementQuery, account: Account):
    return account_statement(account=account, date_from=query.date_from, date_to=query.date_to, kind=query.kind)


def statement_count(query: StatementQuery, account: Account) -> int:
    return statement_entries(query, account).count()


def _balance_before(account: Account, moment: dt.datetime | None) -> Decimal | None:
    """The account's balance just before ``moment`` (None: now), from the entries' ``balance_after``."""
    entries = Entry.objects.filter(account=account)
    if moment is not None:
        entries = entries.filter(created_at__lt=moment)
    last = entries.order_by("-created_at", "-pk").values_list("balance_after", flat=True).first()
    return last


def statement_header(query: StatementQuery, account: Account) -> StatementHeader:
    today = dates.business_date(timezone.now())
    if query.date_from:
        period_from = query.date_from
        opening = _balance_before(account, dates.start_of_day(query.date_from)) or ZERO
    else:
        first = Entry.objects.filter(account=account).order_by("created_at", "pk").values_list("created_at", flat=True).first()
        period_from = dates.business_date(first or account.created_at)
        opening = ZERO
    period_to = query.date_to or today
    end = dates.start_of_day(query.date_to + dt.timedelta(days=1)) if query.date_to else None
    closing = _balance_before(account, end) or ZERO
    holder = account.party.name if account.party_id else account.name
    return StatementHeader(
        number=account.number,
        holder=holder,
        period_from=period_from,
        period_to=period_to,
        opening=opening,
        closing=closing,
    )


def _chunks(iterable: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def local_time(moment: dt.datetime) -> dt.datetime:
    """An aware moment as a naive Asia/Shanghai wall-clock time (what a spreadsheet shows)."""
    return moment.astimezone(dates.bank_tz()).replace(tzinfo=None)


def statement_rows(query: StatementQuery, account: Account, *, chunk_size: int | None = None) -> Iterator[tuple]:
    """The typed rows of the statement, newest first, in the columns of ``COLUMNS[query.audience]``.

    A generator: nothing is held beyond one chunk of ``chunk_size`` entries."""
    chunk_size = chunk_size or conf.export_chunk_rows()
    portal = query.audience == PORTAL
    fields = ["created_at", "transfer_id", "transfer__kind", "side", "amount", "balance_after", "subject", "transfer__memo"]
    if portal:
        fields.append("transfer__metadata__withdrawal")  # the withdrawal whose fee gets its own line
    entries = statement_entries(query, account).values_list(*fields)
    kinds: dict[str, str] = {}
    money_in, money_out = str(labels.MONEY_IN), str(labels.MONEY_OUT)
    debit, credit = str(labels.DEBIT_LABEL), str(labels.CREDIT_LABEL)
    fee_label = str(labels.FEE_LABEL)
    for chunk in _chunks(entries.iterator(chunk_size=chunk_size), chunk_size):
        fees = _withdrawal_fees(chunk) if portal else {}
        for row in chunk:
            created_at, voucher, kind, side, amount, balance_after, subject, memo = row[:8]
            label = kinds.get(kind)
            if label is None:
                label = kinds[kind] = labels.kind_label(kind)
            when = local_time(created_at)
            if not portal:
                yield (when, voucher, label, debit if side == DEBIT else credit, amount, balance_after, subject, memo)
                continue
            inflow = side == account.normal_side
            direction = money_in if inflow else money_out
            fee = fees.get(row[8]) if row[8] is not None else None
            if fee is not None and fee[0] + fee[1] == amount:
                # The withdrawal's fee on its own line; newest first, so it comes before its amount.
                principal, charge = fee
                yield (when, voucher, fee_label, direction, charge, balance_after, memo)
                before_fee = balance_after - charge if inflow else balance_after + charge
                yield (when, voucher, label, direction, principal, before_fee, memo)
            else:
                yield (when, voucher, label, direction, amount, balance_after, memo)


def _withdrawal_fees(chunk: list[tuple]) -> dict:
    """withdrawal id (as found in the voucher's metadata) → (amount, fee), for those with a fee."""
    return withdrawal_fees(row[8] for row in chunk)


def withdrawal_fees(references) -> dict:
    """For the withdrawal ids found in vouchers' metadata (``metadata["withdrawal"]``, an int or a
    string; anything else is skipped): id → (amount, fee), for those with a fee, in one query. A
    voucher of ``amount + fee`` is shown as two lines, the amount and the fee (手续费)."""
    ids = set()
    for reference in references:
        try:
            ids.add(int(reference))
        except (TypeError, ValueError):
            continue
    if not ids:
        return {}
    found = Withdrawal.objects.filter(pk__in=ids, fee__gt=0).values_list("pk", "amount", "fee")
    fees = {}
    for pk, amount, fee in found:
        fees[pk] = (amount, fee)
        fees[str(pk)] = (amount, fee)
    return fees


WIDTHS = {POSTED_AT: 20, VOUCHER: 10, KIND: 16, SIDE: 10, IN_OUT: 10, AMOUNT: 16, BALANCE: 16, SUBJECT: 10, MEMO: 40}
FORMATS = ("csv", "xlsx")


def statement_account(query: StatementQuery) -> Account:
    return Account.objects.select_related("party").get(pk=query.account_id)


def statement_filename(header: StatementHeader, fmt: str) -> str:
    return f"statement-{header.number}-{header.period_from:%Y%m%d}-{header.period_to:%Y%m%d}.{fmt}"


def statement_csv_stream(query: StatementQuery, *, progress=None) -> tuple[StatementHeader, Iterator[bytes]]:
    """(header, chunks of the CSV file): the same columns as the XLSX table, a BOM first."""
    from accounts.exports.writers import csv_stream

    account = statement_account(query)
    header = statement_header(query, account)
    return header, csv_stream(COLUMNS[query.audience], statement_rows(query, account), progress=progress)


def write_statement(fileobj, query: StatementQuery, fmt: str, *, progress=None) -> StatementHeader:
    """Write the statement as ``fmt`` ("csv" or "xlsx") into ``fileobj`` (binary), row by row."""
    from accounts.exports.writers import write_csv, write_xlsx

    account = statement_account(query)
    header = statement_header(query, account)
    columns = list(COLUMNS[query.audience])
    rows = statement_rows(query, account)
    if fmt == "xlsx":
        write_xlsx(
            fileobj,
            title=header.sheet_title,
            header_rows=header.rows(),
            columns=columns,
            types=[COLUMN_TYPES[c] for c in columns],
            rows=rows,
            widths=[WIDTHS[c] for c in columns],
            progress=progress,
        )
    else:
        write_csv(fileobj, columns, rows, progress=progress)
    return header
