"""Exports (django-import-export): an account statement as CSV or XLSX, money as exact strings."""

from __future__ import annotations

from import_export import fields, resources, widgets

from accounts.models import Entry


class MoneyWidget(widgets.Widget):
    """Render a Decimal amount as a two-decimal string (no float, no locale grouping)."""

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else f"{value:.2f}"


class StatementResource(resources.ModelResource):
    """One row per entry of an account's statement."""

    posted_at = fields.Field(
        attribute="created_at", column_name="posted_at / 记账时间", widget=widgets.DateTimeWidget("%Y-%m-%d %H:%M:%S")
    )
    voucher = fields.Field(attribute="transfer_id", column_name="voucher / 凭证号")
    kind = fields.Field(attribute="transfer__kind", column_name="kind / 业务类型")
    side = fields.Field(attribute="side", column_name="side / 借贷")
    amount = fields.Field(attribute="amount", column_name="amount / 金额", widget=MoneyWidget())
    balance_after = fields.Field(attribute="balance_after", column_name="balance / 余额", widget=MoneyWidget())
    subject = fields.Field(attribute="subject", column_name="subject / 科目")
    memo = fields.Field(attribute="transfer__memo", column_name="memo / 摘要")

    class Meta:
        model = Entry
        fields = ("posted_at", "voucher", "kind", "side", "amount", "balance_after", "subject", "memo")
        export_order = fields


def export_statement(entries, fmt: str) -> tuple[bytes, str, str]:
    """Return (content, content type, file extension) for ``fmt`` in {"csv", "xlsx"}."""
    dataset = StatementResource().export(queryset=entries)
    if fmt == "xlsx":
        return dataset.export("xlsx"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
    return ("\ufeff" + dataset.export("csv")).encode("utf-8"), "text/csv; charset=utf-8", "csv"
