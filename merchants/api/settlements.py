"""Partner API for merchants: settlements (read-only; thin views over ``merchants.selectors``).

Scopes: ``merchant:<id>`` or the narrow ``merchant:<id>:settlements``; a bank client with ``*``
sees every merchant's. A merchant's client sees only its own merchant's batches; another
merchant's batch answers 404 exactly like a missing one.

- ``GET /api/v1/settlements/``: batches, newest business date first, paginated; filters
  ``merchant``, ``state``, ``channel``, ``date_from``/``date_to`` (business date).
- ``GET /api/v1/settlements/{id}/``: one batch with its items (payments and refunds, each with its
  R-REC-02 match) and its payouts.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.response import Response

from accounts.payments.models import Withdrawal
from backoffice.api import (
    KeysetPagination,
    LocalDateTime,
    MoneyOutput,
    component,
    detail_schema,
    list_schema,
    paginated,
    validated,
)
from backoffice.errors import NotFoundError
from merchants import selectors
from merchants.api.payments import MerchantApiView, client_may, merchant_scopes
from merchants.models import Match, MerchantPayout, SettlementBatch, SettlementItem

TAG = "merchants: settlements"


class SettlementItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SettlementItem.Kind.choices)
    request_id = serializers.CharField()
    reference = serializers.CharField(help_text="out_trade_no of a payment, out_refund_no of a refund.")
    payment = serializers.CharField(source="payment_id")
    refund = serializers.CharField(source="refund_id", allow_null=True)
    amount = MoneyOutput(help_text="What the channel moved for it by our books (paid, or cash refunded).")
    mdr_amount = MoneyOutput()
    net_amount = MoneyOutput(help_text="Its effect on pending settlement: + a payment, − a refund.")
    channel_amount = MoneyOutput(allow_null=True, help_text="What the channel's clearing file says (null: no line).")
    match = serializers.ChoiceField(choices=Match.values, help_text="R-REC-02: " + ", ".join(Match.values) + ".")

    class Meta:
        ref_name = "SettlementItem"


class SettlementPayoutSerializer(serializers.Serializer):
    id = serializers.CharField()
    request_id = serializers.CharField()
    amount = MoneyOutput()
    state = serializers.ChoiceField(choices=MerchantPayout.State.choices)
    settles = serializers.ChoiceField(choices=Withdrawal.Settles.values, read_only=True)
    not_before = LocalDateTime()
    resolved_at = LocalDateTime()

    class Meta:
        ref_name = "SettlementPayout"


class SettlementSerializer(serializers.Serializer):
    id = serializers.CharField()
    merchant = serializers.CharField(source="merchant_id")
    channel = serializers.CharField(source="channel.code")
    business_date = serializers.DateField()
    settle_date = serializers.DateField(help_text="T+N working days after the business date.")
    state = serializers.ChoiceField(choices=SettlementBatch.State.choices)
    payment_count = serializers.IntegerField()
    payment_amount = MoneyOutput(help_text="The payments' MDR base.")
    mdr_amount = MoneyOutput()
    refund_count = serializers.IntegerField()
    refund_amount = MoneyOutput(help_text="What the refunds took from pending settlement.")
    net_amount = MoneyOutput(help_text="清分: payments − MDR − refunds.")
    held_amount = MoneyOutput(help_text="Unmatched items' net: held, not paid.")
    settled_amount = MoneyOutput()
    reserve_amount = MoneyOutput()
    receivable_netted = MoneyOutput()
    available_amount = MoneyOutput()
    reserve_release_on = serializers.DateField(allow_null=True)
    settled_at = LocalDateTime()

    class Meta:
        ref_name = "Settlement"


class SettlementDetailSerializer(SettlementSerializer):
    items = SettlementItemSerializer(many=True, source="items.all")
    payouts = SettlementPayoutSerializer(many=True, source="payouts.all")

    class Meta:
        ref_name = "SettlementDetail"


class SettlementFilterSerializer(serializers.Serializer):
    merchant = serializers.IntegerField(required=False, min_value=1)
    state = serializers.ChoiceField(choices=SettlementBatch.State.choices, required=False)
    channel = serializers.CharField(required=False, max_length=32)
    date_from = serializers.DateField(required=False, help_text="First business date, YYYY-MM-DD.")
    date_to = serializers.DateField(required=False, help_text="Last business date, inclusive.")

    class Meta:
        ref_name = "SettlementFilter"


def _visible_merchants(client) -> list[int] | None:
    """The merchants whose settlements the client sees (None: every one)."""
    if "*" in client.scopes:
        return None
    return [int(m) for m, held in merchant_scopes(client).items() if held & {"all", "settlements"}]


class SettlementListApi(MerchantApiView):
    pagination_class = KeysetPagination
    ListOutputSerializer = component(SettlementSerializer, "SettlementListItem")

    @list_schema(
        "merchant_settlement_list",
        tag=TAG,
        summary="Settlement batches (清分 → 清算 → 结算), newest first, paginated",
        filters=SettlementFilterSerializer,
        output=ListOutputSerializer,
        items="Settlement batches",
    )
    def get(self, request):
        self.check_merchant_client(request.auth)
        filters = validated(SettlementFilterSerializer, request.query_params)
        rows = selectors.settlement_list(merchant_ids=_visible_merchants(request.auth), **filters)
        return paginated(self, request, rows, self.ListOutputSerializer)


class SettlementDetailApi(MerchantApiView):
    OutputSerializer = component(SettlementDetailSerializer, "SettlementDetailAnswer")

    @detail_schema(
        "merchant_settlement_detail",
        tag=TAG,
        summary="A settlement batch with its items and payouts",
        output=OutputSerializer,
    )
    def get(self, request, settlement_id: int):
        self.check_merchant_client(request.auth)
        batch = selectors.settlement_detail(settlement_id=settlement_id)
        if batch is None or not client_may(request.auth, batch.merchant_id, "settlements"):
            raise NotFoundError(_("No such settlement."))
        return Response(self.OutputSerializer(batch).data)
