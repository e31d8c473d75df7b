"""Shapes shared by several partner API operations: accounts, vouchers, holds and errors.

Each view keeps its own nested ``InputSerializer``/``OutputSerializer``; what two operations
return alike (a hold, a voucher) lives here. Money fields are declared explicitly (never
``ModelSerializer``, which would expose integer fen).
"""

from __future__ import annotations

from rest_framework import serializers

from accounts.chart import DEBIT
from accounts.models import Transfer
from backoffice.api_fields import LocalDateTime, MoneyOutput

SIDE_NAMES = {"D": "debit", "C": "credit"}


class ErrorSerializer(serializers.Serializer):
    """Every refusal: ``{"code", "message", "fields"?, "data"?}``."""

    code = serializers.CharField(help_text="Stable snake_case code, part of the contract (e.g. insufficient_funds).")
    message = serializers.CharField(help_text="Human-readable, in the Accept-Language language (zh-hans or en).")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages of a validation_error.",
    )
    data = serializers.DictField(required=False, help_text="Named details, e.g. available and shortfall.")

    class Meta:
        ref_name = "Error"


class AccountSerializer(serializers.Serializer):
    number = serializers.CharField()
    party = serializers.IntegerField(source="party_id", allow_null=True)
    tier = serializers.CharField()
    role = serializers.CharField()
    state = serializers.CharField()
    currency = serializers.CharField()
    balance = MoneyOutput()
    available = MoneyOutput()
    frozen = MoneyOutput()

    class Meta:
        ref_name = "Account"


class TransferSerializer(serializers.Serializer):
    """A voucher moving money from one account to another."""

    id = serializers.IntegerField()
    kind = serializers.CharField()
    amount = MoneyOutput()
    from_account = serializers.CharField()
    to_account = serializers.CharField()
    memo = serializers.CharField(allow_blank=True)
    created_at = LocalDateTime()

    class Meta:
        ref_name = "Transfer"


class HoldSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.CharField(source="account.number")
    amount = MoneyOutput()
    captured_amount = MoneyOutput()
    reason = serializers.CharField()
    state = serializers.CharField()
    expires_at = LocalDateTime(allow_null=True)
    created_at = LocalDateTime()

    class Meta:
        ref_name = "Hold"


def transfer_data(transfer: Transfer) -> dict:
    """A two-legged voucher as the API shows it: the debited account is ``from``, the credited ``to``."""
    entries = list(transfer.entries.select_related("account").order_by("pk"))
    debit = next(e for e in entries if e.side == DEBIT)
    credit = next(e for e in entries if e.side != DEBIT)
    return {
        "id": transfer.pk,
        "kind": transfer.kind,
        "amount": transfer.amount,
        "from_account": debit.account.number,
        "to_account": credit.account.number,
        "memo": transfer.memo,
        "created_at": transfer.created_at,
    }
