"""Custody fee files: invoices as XLSX, shared by the console and the platform portal (one row per
invoice line), and a schedule version as XLSX or CSV (one row per band, the contract fields on
every row; ``custody.fees.imports`` reads it back into a new draft). Amounts and rates are number
cells (never a formula, never a string), dates are dates, every text cell is neutralised against
spreadsheet formulas (``SafeExportResource``)."""

from __future__ import annotations

from import_export import fields, widgets

from accounts.resources import SafeExportResource
from custody.fees.imports import COLUMNS
from custody.fees.models import FeeBand, FeeInvoiceLine
from custody.fees.selectors import vat_part

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


class NumberMoney(widgets.DecimalWidget):
    """An amount as a number in the spreadsheet (a Decimal cell, never a formula, never a string)."""

    def __init__(self):
        super().__init__(coerce_to_string=False)


class InvoiceLineResource(SafeExportResource):
    """One row per invoice line: XLSX with amounts as numbers."""

    invoice = fields.Field(attribute="invoice__number", column_name="invoice / 账单号")
    platform = fields.Field(attribute="invoice__platform__code", column_name="platform / 平台")
    month = fields.Field(attribute="invoice__month", column_name="month / 账期", widget=widgets.DateWidget("%Y-%m"))
    state = fields.Field(attribute="invoice__state", column_name="state / 状态")
    position = fields.Field(attribute="position", column_name="line / 序号", widget=widgets.IntegerWidget(coerce_to_string=False))
    kind = fields.Field(attribute="kind", column_name="kind / 项目")
    description = fields.Field(attribute="description", column_name="description / 说明")
    quantity = fields.Field(attribute="quantity", column_name="quantity / 数量", widget=NumberMoney())
    amount = fields.Field(attribute="amount", column_name="amount / 金额", widget=NumberMoney())
    total = fields.Field(attribute="invoice__total", column_name="invoice total / 账单合计", widget=NumberMoney())

    class Meta:
        model = FeeInvoiceLine
        fields = ("invoice", "platform", "month", "state", "position", "kind", "description", "quantity", "amount", "total")
        export_order = fields


def _schedule_field(name: str, widget=None) -> fields.Field:
    attribute = "schedule__platform__code" if name == "platform" else f"schedule__{name}"
    return fields.Field(attribute=attribute, column_name=COLUMNS[name], widget=widget)


class ScheduleBandResource(SafeExportResource):
    """One row per band of a schedule version, the version's contract on every row (codes, numbers,
    a date, a boolean): the file ``custody.fees.imports.read_schedule_file`` reads."""

    platform = _schedule_field("platform")
    version = _schedule_field("version", widgets.IntegerWidget(coerce_to_string=False))
    state = _schedule_field("state")
    basis = _schedule_field("basis")
    mode = _schedule_field("mode")
    day_count = _schedule_field("day_count")
    rounding = _schedule_field("rounding")
    monthly_minimum = _schedule_field("monthly_minimum", NumberMoney())
    annual_minimum = _schedule_field("annual_minimum", NumberMoney())
    onboarding_fee = _schedule_field("onboarding_fee", NumberMoney())
    annual_fixed_fee = _schedule_field("annual_fixed_fee", NumberMoney())
    per_withdrawal_fee = _schedule_field("per_withdrawal_fee", NumberMoney())
    per_withdrawal_payer = _schedule_field("per_withdrawal_payer")
    vat_inclusive = _schedule_field("vat_inclusive", widgets.BooleanWidget(coerce_to_string=False))
    effective_from = _schedule_field("effective_from", widgets.DateWidget("%Y-%m-%d", coerce_to_string=False))
    lower_bound = fields.Field(attribute="lower_bound", column_name=COLUMNS["lower_bound"], widget=NumberMoney())
    rate = fields.Field(attribute="rate", column_name=COLUMNS["rate"], widget=NumberMoney())

    class Meta:
        model = FeeBand
        fields = tuple(COLUMNS)
        export_order = fields


def export_schedule(schedule, fmt: str) -> tuple[bytes, str, str]:
    """A schedule version's file: (content, content type, file name) for ``fmt`` in {"xlsx", "csv"}."""
    bands = FeeBand.objects.filter(schedule=schedule).select_related("schedule__platform").order_by("lower_bound")
    dataset = ScheduleBandResource().export(queryset=bands)
    name = f"fee-schedule-{schedule.platform.code}-v{schedule.version}"
    if fmt == "xlsx":
        return dataset.export("xlsx"), XLSX, f"{name}.xlsx"
    return ("\ufeff" + dataset.export("csv")).encode("utf-8"), CSV, f"{name}.csv"


def export_invoices_xlsx(invoices) -> bytes:
    """The lines of ``invoices`` (a queryset), by platform, month and position, as XLSX bytes."""
    lines = (
        FeeInvoiceLine.objects.filter(invoice__in=invoices)
        .select_related("invoice__platform")
        .order_by("invoice__platform__code", "invoice__month", "position")
    )
    return InvoiceLineResource().export(queryset=lines).export("xlsx")


def _money(value) -> str:
    return f"{value:,.2f}"


def invoice_print_context(invoice) -> dict:
    """What the printable invoice (``custody/fees/invoice_print.html``) shows, for the console and
    the portal alike: amounts with a thousands separator, the VAT part of a VAT-inclusive total."""
    lines = [
        {
            "position": line.position,
            "kind": line.get_kind_display(),
            "description": line.description,
            "quantity": f"{line.quantity:,f}" if line.quantity % 1 else f"{line.quantity:,.0f}",
            "amount": _money(line.amount),
        }
        for line in invoice.lines.all()
    ]
    return {
        "invoice": invoice,
        "lines": lines,
        "total": _money(invoice.total),
        "vat": _money(vat_part(invoice.total)) if invoice.vat_inclusive else None,
    }
