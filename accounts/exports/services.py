"""Export jobs: create one (the face decides a file is too big to build in the request) and run
it (the Celery task ``accounts.export_job_run``).

``export_job_run`` is idempotent: a job that is not queued any more (another worker took it, or it
is finished) is left alone. The file is written to a temporary file row by row, then saved to the
default storage; progress (rows written of rows to write) is stored every few thousand rows.
"""

from __future__ import annotations

import logging
import tempfile

from django.core.files import File
from django.db import transaction
from django.utils import translation

from accounts.exports.models import ExportJob
from accounts.exports.statements import FORMATS, StatementQuery, statement_count, statement_filename, write_statement
from accounts.ledger.models import Account
from backoffice.tasks import enqueue_on_commit

log = logging.getLogger(__name__)

TASK = "accounts.export_job_run"


def export_job_create(*, owner, query: StatementQuery, fmt: str, language: str = "") -> ExportJob:
    """Queue a statement export for ``owner``; the worker starts after commit."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    account = Account.objects.get(pk=query.account_id)
    with transaction.atomic():
        job = ExportJob.objects.create(
            owner=owner,
            audience=query.audience,
            report=ExportJob.Report.STATEMENT,
            account=account,
            fmt=fmt,
            params=query.to_params(),
            language=language or translation.get_language() or "",
            rows_total=statement_count(query, account),
        )
        enqueue_on_commit(TASK, job.pk)
    return job


def _progress(job_id: int):
    def store(done: int) -> None:
        ExportJob.objects.filter(pk=job_id).update(rows_done=done)

    return store


def export_job_run(*, job_id: int) -> ExportJob:
    """Build the job's file. A failure is recorded on the job (state failed, the error), not raised."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job_id)
        if job.state != ExportJob.State.QUEUED:
            return job
        job.start()
        job.save()
    try:
        query = StatementQuery.from_params(job.params)
        if job.fmt not in FORMATS:
            raise ValueError(f"unknown export format {job.fmt!r}")
        with translation.override(job.language or None), tempfile.TemporaryFile() as handle:
            header = write_statement(handle, query, job.fmt, progress=_progress(job.pk))
            handle.seek(0)
            filename = statement_filename(header, job.fmt)
            job = ExportJob.objects.get(pk=job.pk)
            job.file.save(filename, File(handle), save=False)
        job.filename = filename
        job.finish()
        job.save()
    except Exception as exc:  # recorded on the job: the owner sees "failed", the log has the trace
        log.exception("export job %s failed", job_id)
        job = ExportJob.objects.get(pk=job_id)
        job.fail(error=f"{type(exc).__name__}: {exc}")
        job.save()
    return job


def export_job_for(*, job_id: int, owner, audience: str) -> ExportJob | None:
    """The job if ``owner`` may see it from ``audience``'s face, else None (the face answers 404)."""
    return ExportJob.objects.filter(pk=job_id, owner=owner, audience=audience).select_related("account").first()
