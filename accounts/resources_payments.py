"""Exports (django-import-export) of the console's withdrawal and recharge lists, as CSV or XLSX.

Export only: these rows are written by the services alone, never imported. Money columns are
exact two-decimal strings (``MoneyWidget``), never fen integers or floats; times are Beijing time.
"""

from __future__ import annotations

from import_export import fields, resources, widgets

from accounts.models import Recharge, Withdrawal
from accounts.resources import MoneyWidget

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _time(attribute: str, column: str) -> fields.Field:
    return fields.Field(attribute=attribute, column_name=column, widget=widgets.DateTimeWidget(TIME_FORMAT))


class WithdrawalResource(resources.ModelResource):
    """One row per withdrawal, filtered as the console list is."""

    request_id = fields.Field(attribute="request_id", column_name="request id / 通道请求号")
    out_request_no = fields.Field(attribute="out_request_no", column_name="business reference / 业务流水号")
    client = fields.Field(attribute="client", column_name="requested by / 请求方")
    account = fields.Field(attribute="account__number", column_name="account / 账号")
    amount = fields.Field(attribute="amount", column_name="amount / 金额", widget=MoneyWidget())
    fee = fields.Field(attribute="fee", column_name="fee / 手续费", widget=MoneyWidget())
    strategy = fields.Field(attribute="strategy", column_name="strategy / 记账模式")
    channel = fields.Field(attribute="channel__code", column_name="channel / 通道")
    state = fields.Field(attribute="state", column_name="state / 状态")
    settles = fields.Field(attribute="settles", column_name="settles / 到账")
    channel_status = fields.Field(attribute="channel_status", column_name="last channel status / 通道最新状态")
    channel_txn_id = fields.Field(attribute="channel_txn_id", column_name="channel transaction id / 通道流水号")
    resolved_by = fields.Field(attribute="resolved_by", column_name="resolved by / 结果来源")
    failure_reason = fields.Field(attribute="failure_reason", column_name="failure reason / 失败原因")
    created_at = _time("created_at", "created / 创建时间")
    submitted_at = _time("submitted_at", "first submitted / 首次提交")
    resolved_at = _time("resolved_at", "resolved / 结果时间")

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


class RechargeResource(resources.ModelResource):
    """One row per recharge, filtered as the console list is."""

    request_id = fields.Field(attribute="request_id", column_name="request id / 通道请求号")
    out_request_no = fields.Field(attribute="out_request_no", column_name="business reference / 业务流水号")
    client = fields.Field(attribute="client", column_name="requested by / 请求方")
    account = fields.Field(attribute="account__number", column_name="account / 账号")
    amount = fields.Field(attribute="amount", column_name="amount / 金额", widget=MoneyWidget())
    channel = fields.Field(attribute="channel__code", column_name="channel / 通道")
    state = fields.Field(attribute="state", column_name="state / 状态")
    credited_to_suspense = fields.Field(
        attribute="credited_to_suspense", column_name="credited to suspense / 入挂账", widget=widgets.BooleanWidget()
    )
    channel_status = fields.Field(attribute="channel_status", column_name="last channel status / 通道最新状态")
    channel_txn_id = fields.Field(attribute="channel_txn_id", column_name="channel transaction id / 通道流水号")
    failure_reason = fields.Field(attribute="failure_reason", column_name="failure reason / 失败原因")
    created_at = _time("created_at", "created / 创建时间")
    resolved_at = _time("resolved_at", "resolved / 结果时间")

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
