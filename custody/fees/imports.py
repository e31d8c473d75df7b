"""Fee schedule files (XLSX or CSV, django-import-export's formats): read and check a file before a
new draft version is made of it.

The file is what ``custody.fees.exports.export_schedule`` writes: one row per band, the contract
fields repeated on every row (they must be equal on every row), the bands sorted by their inclusive
lower bound from 0. ``read_schedule_file`` never writes: it returns the platform, the contract
fields and the bands, or the errors line by line (line 1 is the header, so a row's line is the
spreadsheet's row number). The console shows them (a preview first, like import-export's confirm
step) and only a clean file reaches ``services.fee_schedule_import``, which makes the new draft
in one transaction; the draft then goes through submit → review like any other.
"""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import tablib
from django.utils import translation
from django.utils.translation import gettext
from import_export.formats.base_formats import CSV, XLSX
from openpyxl.utils.exceptions import InvalidFileException

from custody.fees import tiers
from custody.fees.models import FeeSchedule
from custody.models import LendingPlatform

MAX_BYTES = 1_000_000
MAX_ROWS = 200
MONEY_FIELDS = ("monthly_minimum", "annual_minimum", "onboarding_fee", "annual_fixed_fee", "per_withdrawal_fee")
CHOICE_FIELDS = {
    "basis": FeeSchedule.Basis,
    "mode": FeeSchedule.Mode,
    "day_count": FeeSchedule.DayCount,
    "rounding": FeeSchedule.Rounding,
    "per_withdrawal_payer": FeeSchedule.Payer,
}
# The file's columns (column headers in both languages, stable whatever the console's language).
COLUMNS = {
    "platform": "platform / 平台",
    "version": "version / 版本",
    "state": "state / 状态",
    "basis": "basis / 计费基数",
    "mode": "tier mode / 分档方式",
    "day_count": "day count / 计息天数",
    "rounding": "rounding / 舍入",
    "monthly_minimum": "monthly minimum / 月最低收费",
    "annual_minimum": "annual minimum / 年最低收费",
    "onboarding_fee": "onboarding fee / 系统接入费",
    "annual_fixed_fee": "annual fixed fee / 年费",
    "per_withdrawal_fee": "fee per withdrawal / 每笔提现费",
    "per_withdrawal_payer": "per-withdrawal fee paid by / 提现费承担方",
    "vat_inclusive": "VAT inclusive / 含增值税",
    "effective_from": "effective from / 生效日期",
    "lower_bound": "lower bound (inclusive) / 下限（含）",
    "rate": "rate (%) / 费率（%）",
}
INFORMATIVE = ("version", "state")  # written by the export, ignored by the import
REQUIRED = ("platform", "basis", "mode", "effective_from", "lower_bound", "rate")
CONTRACT = ("basis", "mode", "day_count", "rounding", *MONEY_FIELDS, "per_withdrawal_payer", "vat_inclusive", "effective_from")
DEFAULTS = {
    "day_count": FeeSchedule.DayCount.DAYS_365.value,
    "rounding": FeeSchedule.Rounding.AT_INVOICE.value,
    "per_withdrawal_payer": FeeSchedule.Payer.PLATFORM.value,
    "vat_inclusive": True,
    **{name: Decimal("0.00") for name in MONEY_FIELDS},
}
TRUE = {"1", "true", "yes", "y", "是", "含税"}
FALSE = {"0", "false", "no", "n", "否", "不含税"}


@dataclass
class LineError:
    line: int
    column: str
    message: str


@dataclass
class ScheduleFile:
    """What a file says: ``platform``, ``fields`` (the contract), ``bands``; or ``errors``."""

    platform: LendingPlatform | None = None
    fields: dict = field(default_factory=dict)
    bands: list[tiers.Band] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.platform is not None

    def error(self, line: int, column: str, message: str) -> None:
        self.errors.append(LineError(line, COLUMNS.get(column, column), str(message)))


def _header_key(header) -> str | None:
    """A header cell → the column's name: the full bilingual header, either half of it, or the name."""
    text = str(header or "").strip().lstrip("'").strip().lower()
    for name, label in COLUMNS.items():
        parts = {label.lower(), name, *(part.strip().lower() for part in label.split(" / "))}
        if text in parts:
            return name
    return None


def _text(value) -> str:
    if value is None:
        return ""
    return str(value).strip().lstrip("'").strip()


def _decimal(value) -> Decimal:
    """A number cell (int, float as read from XLSX: through its shortest repr, never float arithmetic)
    or a text such as "10,000,000.00" or "0.025%"."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = _text(value).replace(",", "").replace("，", "").removesuffix("%").strip()
    if not text:
        raise ValueError
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError from None
    if not number.is_finite():
        raise ValueError
    return number


def _choice(enum, value) -> str:
    """A code (``marginal``) or its label in either language (``超额累进``)."""
    text = _text(value).lower()
    for member in enum:
        labels = {str(member.label)}
        with translation.override(None):  # the label as written in the code, whatever the language
            labels.add(str(member.label))
        candidates = {member.value.lower()}
        for label in labels:
            candidates |= {label.lower(), *(part.strip().lower() for part in label.split(" / "))}
        if text in candidates:
            return member.value
    raise ValueError


def _date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(_text(value)[:10])


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = _text(value).lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError


def _dataset(content: bytes, filename: str):
    name = filename.lower()
    if name.endswith(".xlsx"):
        return XLSX().create_dataset(content)
    if name.endswith(".csv"):
        return CSV(encoding="utf-8-sig").create_dataset(content)
    raise ValueError(filename)


# What reading a corrupt upload raises: a broken zip or workbook, bytes that are not UTF-8, ragged
# CSV rows, an empty sheet.
UNREADABLE = (
    ValueError,
    LookupError,
    OSError,
    StopIteration,
    TypeError,
    zipfile.BadZipFile,
    csv.Error,
    InvalidFileException,
    tablib.InvalidDimensions,
)


def read_schedule_file(content: bytes, filename: str) -> ScheduleFile:
    """Parse and check a schedule file; nothing is written. See the module's docstring."""
    result = ScheduleFile()
    if len(content) > MAX_BYTES:
        result.error(0, "file", gettext("The file is larger than 1 MB. / 文件超过1MB。"))
        return result
    if not filename.lower().endswith((".xlsx", ".csv")):
        result.error(0, "file", gettext("Upload an .xlsx or .csv file. / 请上传 .xlsx 或 .csv 文件。"))
        return result
    try:
        dataset = _dataset(content, filename)
    except UNREADABLE:  # a corrupt workbook or an undecodable text: the user's file, not our bug
        result.error(0, "file", gettext("The file cannot be read. / 文件无法读取。"))
        return result
    names = [_header_key(header) for header in dataset.headers or []]
    for position, (header, name) in enumerate(zip(dataset.headers or [], names, strict=True), start=1):
        if name is None and _text(header):
            result.error(1, str(header), gettext("Unknown column (column %(n)s). / 未知列（第%(n)s列）。") % {"n": position})
    for name in REQUIRED:
        if name not in names:
            result.error(1, name, gettext("Missing column. / 缺少该列。"))
    if result.errors:
        return result
    rows = []
    for number, values in enumerate(dataset, start=2):
        row = {name: value for name, value in zip(names, values, strict=False) if name is not None}
        if all(_text(value) == "" for value in row.values()):
            continue  # a blank line
        rows.append((number, row))
    if not rows:
        result.error(2, "file", gettext("The file has no band rows. / 文件没有分档数据行。"))
        return result
    if len(rows) > MAX_ROWS:
        result.error(0, "file", gettext("A schedule has at most %(n)s bands. / 方案最多%(n)s档。") % {"n": MAX_ROWS})
        return result
    first_contract: tuple[int, dict] | None = None
    previous: tuple[int, Decimal] | None = None
    for number, row in rows:
        contract = _read_contract(result, number, row)
        if first_contract is None:
            first_contract = (number, contract)
            result.fields = contract
        else:
            first_line, first = first_contract
            for name in CONTRACT:
                if name in contract and name in first and contract[name] != first[name]:
                    result.error(
                        number,
                        name,
                        gettext("Differs from line %(line)s: every row carries the same contract. / 与第%(line)s行不一致。")
                        % {"line": first_line},
                    )
        band, lower = _read_band(result, number, row, previous)
        if band is not None:
            result.bands.append(band)
        if lower is not None:  # a bad rate does not hide an overlap with the next line
            previous = (number, lower)
    if result.bands and not any(e.column == COLUMNS["lower_bound"] for e in result.errors) and result.bands[0].lower != 0:
        result.error(rows[0][0], "lower_bound", gettext("The first band starts at 0.00. / 第一档下限须为0.00。"))
    if result.errors:
        result.platform = None
    return result


def _read_contract(result: ScheduleFile, number: int, row: dict) -> dict:
    """The platform (checked against the bank's platforms) and the contract fields of one row."""
    contract: dict = {}
    code = _text(row.get("platform"))
    if not code:
        result.error(number, "platform", gettext("The platform's code is missing. / 缺少平台编号。"))
    else:
        platform = LendingPlatform.objects.filter(code=code).first()
        if platform is None:
            result.error(number, "platform", gettext("Unknown platform %(code)s. / 平台 %(code)s 不存在。") % {"code": code})
        elif result.platform is None:
            result.platform = platform
        elif platform.pk != result.platform.pk:
            result.error(
                number, "platform", gettext("One file holds one platform's schedule. / 一个文件只能包含一个平台的方案。")
            )
    for name, enum in CHOICE_FIELDS.items():
        value = row.get(name)
        if _text(value) == "":
            if name in DEFAULTS:
                contract[name] = DEFAULTS[name]
            elif name == "mode":
                result.error(number, name, gettext("The tier mode is mandatory (whole amount or marginal). / 分档方式必填。"))
            else:
                result.error(number, name, gettext("Required. / 必填。"))
            continue
        try:
            contract[name] = _choice(enum, value)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            text = gettext("Unknown value; one of: %(allowed)s. / 取值无效，可选：%(allowed)s。")
            result.error(number, name, text % {"allowed": allowed})
    for name in MONEY_FIELDS:
        value = row.get(name)
        if _text(value) == "":
            contract[name] = DEFAULTS[name]
            continue
        try:
            amount = _decimal(value)
        except ValueError:
            result.error(number, name, gettext("Not an amount. / 金额无效。"))
            continue
        if amount < 0 or amount != amount.quantize(Decimal("0.01")):
            result.error(
                number, name, gettext("An amount of at least 0.00 with 2 decimals at most. / 金额须不小于0且最多两位小数。")
            )
            continue
        contract[name] = amount.quantize(Decimal("0.01"))
    value = row.get("vat_inclusive")
    if _text(value) == "":
        contract["vat_inclusive"] = DEFAULTS["vat_inclusive"]
    else:
        try:
            contract["vat_inclusive"] = _bool(value)
        except ValueError:
            result.error(number, "vat_inclusive", gettext("Yes or no (1 or 0). / 请填是或否（1或0）。"))
    value = row.get("effective_from")
    try:
        contract["effective_from"] = _date(value)
    except (TypeError, ValueError):
        result.error(number, "effective_from", gettext("A date such as 2026-01-01. / 日期格式如 2026-01-01。"))
    return contract


def _read_band(result: ScheduleFile, number: int, row: dict, previous: tuple[int, Decimal] | None):
    """The band of one row (None when bad) and its lower bound when it is a usable one for the order."""
    lower = rate = None
    try:
        lower = _decimal(row.get("lower_bound"))
        if lower < 0 or lower != lower.quantize(Decimal("0.01")):
            raise ValueError
    except ValueError:
        result.error(number, "lower_bound", gettext("A lower bound of at least 0.00 with 2 decimals at most. / 下限无效。"))
        lower = None
    try:
        rate = _decimal(row.get("rate"))
        if rate < 0 or rate >= Decimal("10000") or rate != rate.quantize(Decimal("0.00001")):
            raise ValueError
    except ValueError:
        result.error(
            number,
            "rate",
            gettext("A rate from 0 with 5 decimals at most (0.025 means 0.025 per cent). / 费率须不小于0且最多五位小数。"),
        )
        rate = None
    if lower is not None and previous is not None:
        previous_line, previous_lower = previous
        if lower == previous_lower:
            result.error(
                number,
                "lower_bound",
                gettext("Overlaps the band of line %(line)s (same lower bound). / 与第%(line)s行分档重叠。")
                % {"line": previous_line},
            )
            return None, lower
        if lower < previous_lower:
            result.error(
                number,
                "lower_bound",
                gettext("Bands go up: this lower bound is below line %(line)s's. / 下限低于第%(line)s行：分档须按下限递增排列。")
                % {"line": previous_line},
            )
            return None, None
    if lower is None or rate is None:
        return None, lower
    return tiers.Band(lower.quantize(Decimal("0.01")), rate.quantize(Decimal("0.00001"))), lower
