"""The platform portal's sub-account export (CSV or XLSX): one row per sub-account, money as exact
strings, every text cell neutralised against spreadsheet formulas (``SafeExportResource``)."""

from __future__ import annotations

from import_export import fields, widgets

from accounts.resources import MoneyWidget, SafeExportResource
from custody.models import SubAccount

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_FORMATS = ("csv", "xlsx")


class SubAccountResource(SafeExportResource):
    number = fields.Field(attribute="account__number", column_name="account / 账号")
    name = fields.Field(attribute="party__name", column_name="name / 户名")
    role = fields.Field(attribute="get_role_display", column_name="role / 角色")
    state = fields.Field(attribute="account__get_state_display", column_name="state / 状态")
    balance = fields.Field(attribute="account__balance", column_name="balance / 余额", widget=MoneyWidget())
    frozen = fields.Field(attribute="account__frozen", column_name="frozen / 冻结", widget=MoneyWidget())
    available = fields.Field(attribute="account__available", column_name="available / 可用", widget=MoneyWidget())
    opened_at = fields.Field(
        attribute="created_at", column_name="opened at / 开户时间", widget=widgets.DateTimeWidget("%Y-%m-%d %H:%M:%S")
    )

    class Meta:
        model = SubAccount
        fields = ("number", "name", "role", "state", "balance", "frozen", "available", "opened_at")
        export_order = fields


def export_sub_accounts(rows, fmt: str) -> tuple[bytes, str, str]:
    """(content, content type, file extension) of ``rows`` in ``fmt`` ("csv" or "xlsx")."""
    dataset = SubAccountResource().export(queryset=rows)
    if fmt == "xlsx":
        return dataset.export("xlsx"), XLSX, "xlsx"
    return ("\ufeff" + dataset.export("csv")).encode("utf-8"), "text/csv; charset=utf-8", "csv"
