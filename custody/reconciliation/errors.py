"""Reconciliation's refusals: stable codes (part of the API contract), HTTP status, bilingual messages."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from backoffice.errors import DomainError


class ReconciliationFileInvalidError(DomainError):
    """The platform's daily file has malformed lines: nothing of it is stored. ``data.errors`` lists
    ``{line, field, message}`` for every bad line (line 1 is the header)."""

    code, http_status = "reconciliation_file_invalid", 422
    message = _("The reconciliation file has {count} error(s); nothing was imported. / 对账文件有误，未导入任何记录。")


class RetainedRecordError(DomainError):
    """R-DEP-08: reconciliation records, inflows and reports are kept (≥ 5 years after the loans
    mature) and can never be deleted, not even softly."""

    code, http_status = "record_retained", 409
    message = _("Custody records are retained and cannot be deleted. / 存管记录须留存，不得删除。")


class InflowNotAllocatableError(DomainError):
    code, http_status = "inflow_not_allocatable", 409
    message = _("Inflow {inflow} is {state}: it cannot be allocated now. / 该来账当前状态不可登记挂账。")


class AllocationNotReversibleError(DomainError):
    """R-DEP-10: a wrong allocation is reversed only while the money is still unspent."""

    code, http_status = "allocation_not_reversible", 409
    message = _("Allocation {allocation} cannot be reversed: {reason}. / 登记挂账无法撤销（资金已使用或状态不符）。")


class PeriodNotClosedError(DomainError):
    """A report covers closed days only (its figures never change once generated)."""

    code, http_status = "period_not_closed", 409
    message = _("The period ending {end} has not ended yet. / 报告期尚未结束。")
