"""HTTP answers for an export built in the request (small enough: ``ACCOUNTS_EXPORT_SYNC_MAX_ROWS``),
shared by the console and the portal.

CSV is a ``StreamingHttpResponse`` over the rows, so the first bytes leave before the last row is
read; XLSX is written row by row (write-only mode) into a temporary file, then streamed from it.
"""

from __future__ import annotations

import tempfile

from django.http import FileResponse, StreamingHttpResponse

from accounts.exports.statements import StatementQuery, statement_csv_stream, statement_filename, write_statement
from accounts.exports.writers import CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE


def statement_response(query: StatementQuery, fmt: str):
    if fmt == "xlsx":
        handle = tempfile.TemporaryFile()
        header = write_statement(handle, query, fmt)
        handle.seek(0)
        response = FileResponse(
            handle, as_attachment=True, filename=statement_filename(header, fmt), content_type=XLSX_CONTENT_TYPE
        )
    else:
        header, chunks = statement_csv_stream(query)
        response = StreamingHttpResponse(chunks, content_type=CSV_CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{statement_filename(header, fmt)}"'
    response["Cache-Control"] = "no-store"
    return response


def job_file_response(job):
    """The finished job's file, as an attachment."""
    content_type = XLSX_CONTENT_TYPE if job.fmt == "xlsx" else CSV_CONTENT_TYPE
    response = FileResponse(job.file.open("rb"), as_attachment=True, filename=job.filename, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
