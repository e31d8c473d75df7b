"""Writers that hold one row at a time: CSV as a stream of bytes (UTF-8 with a BOM, so Excel reads
the Chinese headers), XLSX through openpyxl's write-only workbook into a file.

Types: in XLSX, money is a number with a ``#,##0.00`` format, times are dates with a
``yyyy-mm-dd hh:mm:ss`` format, days a ``yyyy-mm-dd`` format, ids integers; every text goes
through ``safe_text`` (no formula, no XML-illegal character). In CSV the same columns are text:
money as ``123.45`` (no grouping), times as ``2026-01-05 10:00:00``.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from accounts.exports.cells import safe_text

BOM = "\ufeff"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
MONEY_FORMAT = "#,##0.00"
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DAY_FORMAT = "yyyy-mm-dd"
CSV_FLUSH_BYTES = 64 * 1024
PROGRESS_EVERY = 5000

Progress = Callable[[int], None]


def csv_text(value) -> str:
    """One CSV cell: exact money, wall-clock times, safe text."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return safe_text(value)


class _Line:
    """A file-like object whose ``write`` returns what it is given (csv.writer writes one line)."""

    def write(self, value: str) -> str:
        return value


def csv_stream(columns: Iterable[str], rows: Iterable[tuple], *, progress: Progress | None = None) -> Iterator[bytes]:
    """The CSV file as chunks of about 64 KiB: the BOM, the header line, then one line per row."""
    writer = csv.writer(_Line())
    buffer = [BOM, writer.writerow([safe_text(c) for c in columns])]
    size = 0
    done = 0
    for row in rows:
        line = writer.writerow([csv_text(v) for v in row])
        buffer.append(line)
        size += len(line)
        done += 1
        if size >= CSV_FLUSH_BYTES:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done)
    yield "".join(buffer).encode("utf-8")
    if progress is not None:
        progress(done)


def write_csv(fileobj, columns: Iterable[str], rows: Iterable[tuple], *, progress: Progress | None = None) -> None:
    for chunk in csv_stream(columns, rows, progress=progress):
        fileobj.write(chunk)


class _TypedRow:
    """Reusable write-only cells, one per column, with the column's number format: the writer
    serialises a row as it is appended, so the same cell objects serve every row (no per-cell
    allocation for a million rows)."""

    def __init__(self, sheet, types: list[str]):
        self.types = types
        self.cells = []
        for kind in types:
            cell = WriteOnlyCell(sheet)
            if kind == "money":
                cell.number_format = MONEY_FORMAT
            elif kind == "time":
                cell.number_format = TIME_FORMAT
            elif kind == "day":
                cell.number_format = DAY_FORMAT
            self.cells.append(cell)

    def fill(self, values: tuple) -> list:
        out = []
        for cell, kind, value in zip(self.cells, self.types, values, strict=False):
            if value is None or value == "":
                out.append(None)
            elif kind == "text":
                out.append(safe_text(value))
            else:
                cell.value = value
                out.append(cell)
        return out


def _typed_cell(sheet, value, *, bold: bool = False):
    """One cell of the header block: money, dates and text each with their format."""
    cell = WriteOnlyCell(sheet)
    if isinstance(value, Decimal):
        cell.value = value
        cell.number_format = MONEY_FORMAT
    elif isinstance(value, dt.datetime):
        cell.value = value
        cell.number_format = TIME_FORMAT
    elif isinstance(value, dt.date):
        cell.value = value
        cell.number_format = DAY_FORMAT
    else:
        cell.value = safe_text(value)
    if bold:
        cell.font = Font(bold=True)
    return cell


def write_xlsx(
    fileobj,
    *,
    title: str,
    header_rows: list[tuple],
    columns: list[str],
    types: list[str],
    rows: Iterable[tuple],
    widths: list[int] | None = None,
    progress: Progress | None = None,
) -> None:
    """A one-sheet workbook named ``title``: the header block, a blank line, the column headers,
    then the rows, written as they come (openpyxl write-only mode)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=safe_sheet_title(title))
    for index, width in enumerate(widths or [], start=1):
        sheet.column_dimensions[_column_letter(index)].width = width
    for line in header_rows:
        sheet.append([_typed_cell(sheet, value, bold=i == 0) for i, value in enumerate(line)])
    sheet.append([])
    sheet.append([_typed_cell(sheet, name, bold=True) for name in columns])
    typed = _TypedRow(sheet, types)
    done = 0
    for row in rows:
        sheet.append(typed.fill(row))
        done += 1
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done)
    book.save(fileobj)
    if progress is not None:
        progress(done)


def safe_sheet_title(title: str) -> str:
    for char in "[]:*?/\\":
        title = title.replace(char, "-")
    return title.strip("'")[:31] or "Sheet"


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)
