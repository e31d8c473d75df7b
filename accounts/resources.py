"""Exports (django-import-export): withdrawals, recharges and BIN entries; imports of BIN entries.

Account statements are written by ``accounts.exports`` (constant memory, typed XLSX cells).

Every export resource here derives from ``SafeExportResource``: a text cell that a spreadsheet
would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
prefixed with a single quote (the OWASP CSV-injection rule), in CSV and XLSX alike. Money, numbers,
dates and booleans come from our own widgets, never from user text, and keep their type.
"""

from __future__ import annotations

from import_export import fields, resources, widgets

from accounts.cards.models import BinEntry
from accounts.exports.cells import FORMULA_TRIGGERS, neutralise_formula  # noqa: F401  (re-exported)
from accounts.payments.models import Recharge, Withdrawal


class MoneyWidget(widgets.Widget):
    """Render a Decimal amount as a two-decimal string (no float, no locale grouping)."""

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else f"{value:.2f}"


# Widgets whose output is built from a number, a date or a boolean, never from user text: their
# cells keep their value (a negative amount stays "-12.50", a date stays a date).
TYPED_WIDGETS = (
    MoneyWidget,
    widgets.NumberWidget,
    widgets.DateWidget,
    widgets.DateTimeWidget,
    widgets.TimeWidget,
    widgets.BooleanWidget,
)


class SafeExportResource(resources.ModelResource):
    """A resource whose text cells cannot attack the reader of the export (CSV or XLSX)."""

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        if isinstance(field.widget, TYPED_WIDGETS):
            return value
        return neutralise_formula(value)


class BinEntryResource(SafeExportResource):
    """One row per BIN prefix: ``prefix, bank_name, card_type, card_length``."""

    prefix = fields.Field(attribute="prefix", column_name="prefix", widget=widgets.CharWidget())
    bank_name = fields.Field(attribute="bank_name", column_name="bank_name", widget=widgets.CharWidget())
    card_type = fields.Field(attribute="card_type", column_name="card_type", widget=widgets.CharWidget())
    card_length = fields.Field(attribute="card_length", column_name="card_length", widget=widgets.IntegerWidget())

    class Meta:
        model = BinEntry
        fields = ("prefix", "bank_name", "card_type", "card_length")
        import_id_fields = ("prefix",)
        skip_unchanged = True
        report_skipped = True
        use_transactions = True
        clean_model_instances = True

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None, collect_failed_rows=False, **kwargs):
        """All or nothing for every caller (the admin does this too): a row that fails validation
        rolls the whole file back."""
        kwargs.setdefault("rollback_on_validation_errors", True)
        return super().import_data(
            dataset,
            dry_run=dry_run,
            raise_errors=raise_errors,
            use_transactions=use_transactions,
            collect_failed_rows=collect_failed_rows,
            **kwargs,
        )

    def before_import_row(self, row, **kwargs):
        # Spreadsheets turn "621660" into 621660.0 and pad text: normalise before matching.
        prefix = row.get("prefix")
        if isinstance(prefix, float) and prefix.is_integer():
            row["prefix"] = str(int(prefix))
        elif prefix is not None:
            row["prefix"] = str(prefix).strip()
        if row.get("card_type") is not None:
            row["card_type"] = str(row["card_type"]).strip().upper()


TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _time(attribute: str, column: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=column, widget=widgets.DateTimeWidget(TIME_FORMAT))


class PaymentResource(SafeExportResource):
    """The columns a withdrawal and a recharge share; each subclass lists its own and their order."""

    request_id = fields.Field(attribute="request_id", column_name="request id / 通道请求号")
    out_request_no = fields.Field(attribute="out_request_no", column_name="business reference / 业务流水号")
    client = fields.Field(attribute="client", column_name="requested by / 请求方")
    account = fields.Field(attribute="account__number", column_name="account / 账号")
    amount = fields.Field(attribute="amount", column_name="amount / 金额", widget=MoneyWidget())
    channel = fields.Field(attribute="channel__code", column_name="channel / 通道")
    state = fields.Field(attribute="state", column_name="state / 状态")
    channel_status = fields.Field(attribute="channel_status", column_name="last channel status / 通道最新状态")
    channel_txn_id = fields.Field(attribute="channel_txn_id", column_name="channel transaction id / 通道流水号")
    failure_reason = fields.Field(attribute="failure_reason", column_name="failure reason / 失败原因")
    created_at = _time("created_at", "created / 创建时间")
    resolved_at = _time("resolved_at", "resolved / 结果时间")


class WithdrawalResource(PaymentResource):
    """One row per withdrawal, filtered as the console list is."""

    fee = fields.Field(attribute="fee", column_name="fee / 手续费", widget=MoneyWidget())
    strategy = fields.Field(attribute="strategy", column_name="strategy / 记账模式")
    settles = fields.Field(attribute="settles", column_name="settles / 到账")
    resolved_by = fields.Field(attribute="resolved_by", column_name="resolved by / 结果来源")
    submitted_at = _time("submitted_at", "first submitted / 首次提交")

    class Meta:
        model = Withdrawal
        fields = (
            "request_id",
            "out_request_no",
            "client",
            "account",
            "amount",
            "fee",
            "strategy",
            "channel",
            "state",
            "settles",
            "channel_status",
            "channel_txn_id",
            "resolved_by",
            "failure_reason",
            "created_at",
            "submitted_at",
            "resolved_at",
        )
        export_order = fields


class RechargeResource(PaymentResource):
    """One row per recharge, filtered as the console list is."""

    credited_to_suspense = fields.Field(
        attribute="credited_to_suspense", column_name="credited to suspense / 入挂账", widget=widgets.BooleanWidget()
    )

    class Meta:
        model = Recharge
        fields = (
            "request_id",
            "out_request_no",
            "client",
            "account",
            "amount",
            "channel",
            "state",
            "credited_to_suspense",
            "channel_status",
            "channel_txn_id",
            "failure_reason",
            "created_at",
            "resolved_at",
        )
        export_order = fields
