"""Reading exports back in tests: the body of a streamed answer, and a statement workbook's parts."""

from __future__ import annotations

import io

import openpyxl

from accounts.exports.statements import POSTED_AT


def body(response) -> bytes:
    """The whole body, streamed (CSV, XLSX files) or not."""
    if getattr(response, "streaming", False):
        # Read to the end: the test client then closes the response (a FileResponse's temporary file) itself,
        # with request_finished kept from closing the test's database connection. Calling close() here would
        # fire request_finished outside that guard: on PostgreSQL it closes the connection of the test's
        # transaction.
        return b"".join(response.streaming_content)
    return response.content


def statement_workbook(content: bytes):
    """(sheet, header block {label: [values]}, column headers, data rows as cells) of a statement XLSX."""
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    rows = [list(row) for row in sheet.iter_rows()]
    start = next(i for i, row in enumerate(rows) if row and row[0].value == POSTED_AT)
    block = {}
    for row in rows[:start]:
        values = [cell.value for cell in row]
        while values and values[-1] is None:
            values.pop()
        if values:
            block[values[0]] = values[1:]
    header = [cell.value for cell in rows[start]]
    return sheet, block, header, rows[start + 1 :]
