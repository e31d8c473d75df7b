"""Export jobs: a large export built by a Celery worker, its progress, and the file it produced.

States (django-fsm, protected): queued → running → done | failed; queued → failed as well (a job
that could not start). Only its owner downloads the file (the faces check ``owner`` and
``audience``: a portal user never sees a console job and the other way round). The file lives in
the default storage (``MEDIA_ROOT``), never served as a static file: the faces stream it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from backoffice.models import TimeStampedModel


class ExportJob(FSMModelMixin, TimeStampedModel):
    """One export built in the background (导出任务)."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    class Audience(models.TextChoices):
        PORTAL = "portal", _("Portal")
        CONSOLE = "console", _("Console")

    class Report(models.TextChoices):
        STATEMENT = "statement", _("Account statement")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs", verbose_name=_("owner")
    )
    audience = models.CharField(_("audience"), max_length=16, choices=Audience.choices)
    report = models.CharField(_("report"), max_length=32, choices=Report.choices, default=Report.STATEMENT)
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("account")
    )
    fmt = models.CharField(_("format"), max_length=8)
    params = models.JSONField(_("parameters"), default=dict)
    language = models.CharField(_("language"), max_length=16, blank=True)
    state = FSMField(_("state"), default=State.QUEUED, choices=State.choices, protected=True)
    rows_total = models.PositiveBigIntegerField(_("rows to write"), default=0)
    rows_done = models.PositiveBigIntegerField(_("rows written"), default=0)
    file = models.FileField(_("file"), upload_to="exports/%Y/%m/", blank=True)
    filename = models.CharField(_("file name"), max_length=200, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        verbose_name = _("export job")
        verbose_name_plural = _("export jobs")

    def __str__(self) -> str:
        return f"#{self.pk} {self.report} {self.fmt} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)

    @transition(field=state, source=State.QUEUED, target=State.RUNNING)
    def start(self) -> None:
        self.started_at = timezone.now()

    @transition(field=state, source=State.RUNNING, target=State.DONE)
    def finish(self) -> None:
        self.finished_at = timezone.now()

    @transition(field=state, source=[State.QUEUED, State.RUNNING], target=State.FAILED)
    def fail(self, error: str = "") -> None:
        self.error = error[:500]
        self.finished_at = timezone.now()
