"""Custody fees' refusals: stable codes (part of the API contract), HTTP status, bilingual messages."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from backoffice.errors import DomainError


class ScheduleNotEditableError(DomainError):
    """An approved (or submitted) schedule is never edited: a new version supersedes it."""

    code, http_status = "schedule_not_editable", 409
    message = _("Schedule {schedule} is {state}: create a new version instead. / 方案已提交或已生效，请新建版本。")


class ScheduleInvalidError(DomainError):
    code, http_status = "schedule_invalid", 422
    message = _("The schedule is not valid: {reason}. / 存管费方案无效。")


class DayNotClosedError(DomainError):
    """A day (or month) is accrued (or billed) only once it has ended in bank time."""

    code, http_status = "day_not_closed", 409
    message = _("{day} has not ended yet: it cannot be accrued or billed. / 该日（月）尚未结束。")
