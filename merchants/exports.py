"""The merchant portal's exports (CSV or XLSX): payments and a settlement statement. Amounts are
numbers (Decimal to the fen: a number cell in XLSX, "12.50" in CSV), every text cell neutralised
against spreadsheet formulas (``accounts.resources.SafeExportResource``)."""

from __future__ import annotations

from decimal import Decimal

from import_export import fields, widgets

from accounts.resources import MoneyWidget, SafeExportResource
from merchants.models import Payment, SettlementItem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_FORMATS = ("csv", "xlsx")
FEN = Decimal("0.01")


class AmountWidget(MoneyWidget):
    """An amount as a number (Decimal to the fen), never as text: typed, so never neutralised."""

    def render(self, value, obj=None, **kwargs):
        return None if value is None else Decimal(value).quantize(FEN)


def _dt(column: str, attribute: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=column, widget=widgets.DateTimeWidget("%Y-%m-%d %H:%M:%S"))


class PaymentResource(SafeExportResource):
    request_id = fields.Field(attribute="request_id", column_name="request id / 请求号")
    out_trade_no = fields.Field(attribute="out_trade_no", column_name="order number / 商户订单号")
    method = fields.Field(attribute="method", column_name="method / 支付方式")
    state = fields.Field(attribute="state", column_name="state / 状态")
    business_date = fields.Field(
        attribute="business_date", column_name="business date / 业务日期", widget=widgets.DateWidget("%Y-%m-%d")
    )
    order_amount = fields.Field(attribute="order_amount", column_name="order amount / 订单金额", widget=AmountWidget())
    paid_amount = fields.Field(attribute="paid_amount", column_name="paid / 实付", widget=AmountWidget())
    mdr_amount = fields.Field(attribute="mdr_amount", column_name="MDR / 手续费", widget=AmountWidget())
    refunded_amount = fields.Field(attribute="refunded_amount", column_name="refunded / 已退款", widget=AmountWidget())
    description = fields.Field(attribute="description", column_name="description / 商品描述")
    created_at = _dt("created / 创建时间", "created_at")

    class Meta:
        model = Payment
        fields = (
            "request_id",
            "out_trade_no",
            "method",
            "state",
            "business_date",
            "order_amount",
            "paid_amount",
            "mdr_amount",
            "refunded_amount",
            "description",
            "created_at",
        )
        export_order = fields


class StatementResource(SafeExportResource):
    """A settlement statement: one row per item of the batch."""

    kind = fields.Field(attribute="kind", column_name="kind / 类型")
    request_id = fields.Field(attribute="request_id", column_name="request id / 请求号")
    reference = fields.Field(attribute="reference", column_name="merchant reference / 商户单号")
    amount = fields.Field(attribute="amount", column_name="channel amount / 通道金额", widget=AmountWidget())
    mdr_amount = fields.Field(attribute="mdr_amount", column_name="MDR / 手续费", widget=AmountWidget())
    net_amount = fields.Field(attribute="net_amount", column_name="net / 净额", widget=AmountWidget())
    channel_amount = fields.Field(attribute="channel_amount", column_name="clearing file / 清算文件金额", widget=AmountWidget())
    match = fields.Field(attribute="match", column_name="match / 对账结果")

    class Meta:
        model = SettlementItem
        fields = ("kind", "request_id", "reference", "amount", "mdr_amount", "net_amount", "channel_amount", "match")
        export_order = fields


def _encode(dataset, fmt: str) -> tuple[bytes, str, str]:
    if fmt == "xlsx":
        return dataset.export("xlsx"), XLSX, "xlsx"
    return ("\ufeff" + dataset.export("csv")).encode("utf-8"), "text/csv; charset=utf-8", "csv"


def export_payments(rows, fmt: str) -> tuple[bytes, str, str]:
    """(content, content type, extension) of payments in ``fmt`` ("csv" or "xlsx")."""
    return _encode(PaymentResource().export(queryset=rows), fmt)


def export_statement(batch, fmt: str) -> tuple[bytes, str, str]:
    """A batch's statement: its items, then its totals as the last rows."""
    dataset = StatementResource().export(queryset=batch.items.order_by("pk"))
    for label, value in (
        ("payments / 收款", batch.payment_amount),
        ("MDR / 手续费", batch.mdr_amount),
        ("refunds / 退款", batch.refund_amount),
        ("net / 清分净额", batch.net_amount),
        ("held / 挂起", batch.held_amount),
        ("reserve / 保证金", batch.reserve_amount),
        ("receivable netted / 冲抵应收", batch.receivable_netted),
        ("to available / 转入可用", batch.available_amount),
    ):
        dataset.append(["total / 合计", label, "", None, None, value.quantize(FEN), None, ""])  # the net column
    return _encode(dataset, fmt)
