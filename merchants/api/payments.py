"""Partner API for merchants: payments and refunds (thin views over ``merchants.payments``,
``merchants.refunds`` and ``merchants.selectors``).

Scopes: ``merchant:<id>`` reaches everything of merchant ``<id>``; the narrow
``merchant:<id>:payments`` creates and reads payments, ``merchant:<id>:refunds`` refunds and reads
payments; a bank client with ``*`` reaches every merchant. Another merchant's payment answers 404
``not_found``, exactly like one that does not exist; a client with no merchant scope at all is
refused 403 ``forbidden_scope``.

- ``POST /api/v1/merchants/{id}/payments/``: a payment order (signed, ``Idempotency-Key``).
- ``POST /api/v1/payments/{id}/refunds/``: a refund (signed, ``Idempotency-Key``; R-REF-01 … 04).
- ``GET /api/v1/payments/{id}/``: the payment with its discounts, refunds, refund payouts and what
  remains refundable.
- ``POST /api/v1/payments/{id}/refund-payouts/``: past the channel's refund window (where a refund
  answers 409 ``refund_window_closed``), propose a refund payout (代付) to an account the payer
  supplies (signed, ``Idempotency-Key``, scope refunds). It waits in ``awaiting_check`` until an
  operator of the bank approves it in the console; the caller never approves.
- ``GET /api/v1/refund-payouts/{id}/``: one refund payout and its state.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api import (
    LocalDateTime,
    MoneyInput,
    MoneyOutput,
    component,
    detail_schema,
    found_or_404,
    validated,
    write_schema,
)
from backoffice.idempotency import idempotent
from backoffice.models import ApiClient
from backoffice.signing import ForbiddenScopeError, ledger_client
from merchants import payments, payouts, refunds, selectors
from merchants.models import MerchantPayout, Payment, PaymentDiscount, PaymentMethod, Refund

TAG = "merchants: payments and refunds"


def merchant_scopes(client: ApiClient) -> dict[str, set[str]]:
    """``{merchant id: {"all" | "payments" | "refunds"}}`` of a client's merchant scopes."""
    found: dict[str, set[str]] = {}
    for scope in client.scopes:
        parts = scope.split(":")
        if parts[0] == "merchant" and len(parts) in (2, 3):
            found.setdefault(parts[1], set()).add(parts[2] if len(parts) == 3 else "all")
    return found


def client_may(client: ApiClient, merchant_id: int, *needs: str) -> bool:
    """Whether the client reaches merchant ``merchant_id`` for one of ``needs`` (``payments``, ``refunds``)."""
    if "*" in client.scopes:
        return True
    held = merchant_scopes(client).get(str(merchant_id), set())
    return "all" in held or bool(held & set(needs))


class MerchantApiView(APIView):
    """Base of the merchant endpoints: no generic operation scope, the merchant is checked per object."""

    required_scope = None

    def check_merchant_client(self, client: ApiClient) -> None:
        if "*" not in client.scopes and not merchant_scopes(client):
            raise ForbiddenScopeError()

    def client_payment(self, request, payment_id: int, *scopes: str):
        """The payment ``payment_id`` if the calling client holds one of ``scopes`` for its
        merchant; 404 ``not_found`` otherwise (another merchant's payment is not disclosed)."""
        self.check_merchant_client(request.auth)
        payment = selectors.payment_detail(payment_id=payment_id)
        found_or_404(payment, _("No such payment."), lambda p: client_may(request.auth, p.merchant_id, *scopes))
        return payment


# -- serializers -----------------------------------------------------------------------------


class DiscountInputSerializer(serializers.Serializer):
    amount = MoneyInput()
    funder = serializers.ChoiceField(choices=PaymentDiscount.Funder.values)
    refundable = serializers.BooleanField(default=False)

    class Meta:
        ref_name = "PaymentDiscountInput"


class DiscountSerializer(serializers.Serializer):
    amount = MoneyOutput()
    funder = serializers.ChoiceField(choices=PaymentDiscount.Funder.values)
    refundable = serializers.BooleanField()
    refunded = MoneyOutput(help_text="Given back to the payer as a coupon so far.")

    class Meta:
        ref_name = "PaymentDiscount"


class RefundSerializer(serializers.Serializer):
    id = serializers.CharField()
    payment = serializers.CharField(source="payment_id")
    out_refund_no = serializers.CharField()
    state = serializers.ChoiceField(
        choices=Refund.State.values, read_only=True, help_text="One of " + ", ".join(Refund.State.values) + "."
    )
    amount = MoneyOutput()
    cash_amount = MoneyOutput(help_text="Back to the payer through the channel (never more than was paid in all).")
    coupon_amount = MoneyOutput(help_text="Refundable discounts given back as coupons.")
    mdr_refunded = MoneyOutput(help_text="The merchant discount rate fee given back to the merchant.")
    reason = serializers.CharField()
    created_at = LocalDateTime()
    resolved_at = LocalDateTime()

    class Meta:
        ref_name = "Refund"


class RefundPayoutSerializer(serializers.Serializer):
    id = serializers.CharField()
    request_id = serializers.CharField()
    payment = serializers.CharField(source="payment_id")
    merchant = serializers.CharField(source="merchant_id")
    out_payout_no = serializers.SerializerMethodField(help_text="The merchant's reference (empty: proposed by the bank).")
    state = serializers.ChoiceField(
        choices=MerchantPayout.State.choices,
        read_only=True,
        help_text="awaiting_check (proposed: the bank's checker decides), rejected, created, scheduled, submitted, "
        "unknown, succeeded or failed.",
    )
    amount = MoneyOutput()
    payee_name = serializers.CharField()
    payee_account = serializers.SerializerMethodField(help_text="Masked: only the last four digits.")
    reason = serializers.CharField()
    origin = serializers.ChoiceField(choices=MerchantPayout.Origin.values, help_text="console, api or portal.")
    failure_reason = serializers.CharField(help_text="Why it was rejected or failed (empty otherwise).")
    created_at = LocalDateTime()
    checked_at = LocalDateTime()
    resolved_at = LocalDateTime()

    class Meta:
        ref_name = "RefundPayout"

    def get_out_payout_no(self, payout: MerchantPayout) -> str:
        return payouts.refund_payout_reference(payout)

    def get_payee_account(self, payout: MerchantPayout) -> str:
        return f"**** {payout.payee_account_last4}"


class PaymentSerializer(serializers.Serializer):
    id = serializers.CharField()
    merchant = serializers.CharField(source="merchant_id")
    out_trade_no = serializers.CharField()
    method = serializers.ChoiceField(choices=PaymentMethod.choices)
    channel = serializers.CharField(source="channel.code")
    state = serializers.ChoiceField(
        choices=Payment.State.values, read_only=True, help_text="One of " + ", ".join(Payment.State.values) + "."
    )
    order_amount = MoneyOutput()
    paid_amount = MoneyOutput(help_text="实付: what the payer paid, the order less every discount.")
    discounts = DiscountSerializer(many=True, source="discounts.all")
    mdr_base = MoneyOutput()
    mdr_rate = serializers.DecimalField(max_digits=7, decimal_places=6, coerce_to_string=True)
    mdr_amount = MoneyOutput()
    business_date = serializers.DateField(help_text="The channel's business date (its day cut-off, 日切).")
    refunded_amount = MoneyOutput()
    refunded_cash = MoneyOutput()
    refunds_in_flight = MoneyOutput(source="reserved_amount")
    refundable_remaining = serializers.SerializerMethodField()
    refunds = RefundSerializer(many=True, source="refunds.all")
    refund_window_closes_at = serializers.SerializerMethodField(
        help_text="R-REF-04: after it, refunds answer refund_window_closed and a refund payout takes their place."
    )
    refundable_cash = serializers.SerializerMethodField(
        help_text="What a refund payout may still pay the payer (cash paid less refunds and payouts in flight or proposed)."
    )
    refund_payouts = serializers.SerializerMethodField()
    created_at = LocalDateTime()
    resolved_at = LocalDateTime()

    class Meta:
        ref_name = "Payment"

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_refund_window_closes_at(self, payment: Payment) -> str | None:
        if payment.state != Payment.State.SUCCEEDED:
            return None
        return timezone.localtime(payments.refund_window_closes_at(payment)).isoformat(timespec="seconds")

    def get_refundable_cash(self, payment: Payment) -> str:
        if payment.state != Payment.State.SUCCEEDED:
            return "0.00"
        return f"{payments.refundable_cash(payment):.2f}"

    @extend_schema_field(RefundPayoutSerializer(many=True))
    def get_refund_payouts(self, payment: Payment) -> list:
        rows = MerchantPayout.objects.filter(payment=payment, kind=MerchantPayout.Kind.REFUND).order_by("created_at", "pk")
        return RefundPayoutSerializer(rows, many=True).data

    def get_refundable_remaining(self, payment: Payment) -> str:
        if payment.state != Payment.State.SUCCEEDED:
            return "0.00"
        return f"{payments.refundable_remaining(payment):.2f}"


def _payment_data(payment_id: int) -> dict:
    return PaymentSerializer(selectors.payment_detail(payment_id=payment_id)).data


# -- views ---------------------------------------------------------------------------------------


class PaymentCreateApi(MerchantApiView):
    class InputSerializer(serializers.Serializer):
        out_trade_no = serializers.CharField(max_length=64, help_text="The merchant's order number, unique per merchant.")
        method = serializers.ChoiceField(choices=PaymentMethod.choices)
        order_amount = MoneyInput()
        discounts = DiscountInputSerializer(many=True, required=False, default=list)
        channel = serializers.CharField(required=False, allow_blank=True, max_length=32)
        description = serializers.CharField(required=False, allow_blank=True, max_length=200)

        class Meta:
            ref_name = "PaymentCreateInput"

    OutputSerializer = component(PaymentSerializer, "PaymentCreated")

    @write_schema(
        "merchant_payment_create",
        tag=TAG,
        summary="Create a payment order of a merchant (收单)",
        description=(
            "The payer pays the order amount less every discount (paid_amount, 实付). The MDR is charged on the order "
            "less the merchant's own discounts, at the merchant's rate for the method on the business date, half-up to "
            "the fen. On success the merchant is owed the MDR base less the MDR (pending settlement)."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        texts={
            403: "forbidden_scope",
            404: "not_found: no such merchant, or not this client's",
            409: "duplicate_reference (data.id: the first payment), merchant_not_active, no_fee_rate, no_channel, "
            "idempotency_key_in_use",
        },
        examples=[
            OpenApiExample(
                "order with a platform coupon",
                request_only=True,
                value={
                    "out_trade_no": "ORDER-1",
                    "method": "wechat",
                    "order_amount": "100.00",
                    "discounts": [{"amount": "5.00", "funder": "platform_coupon", "refundable": True}],
                },
            )
        ],
    )
    @idempotent
    def post(self, request, merchant_id: int):
        self.check_merchant_client(request.auth)
        merchant = selectors.merchant_get(merchant_id=merchant_id)
        found_or_404(merchant, _("No such merchant."), lambda m: client_may(request.auth, m.pk, "payments"))
        data = validated(self.InputSerializer, request.data)
        payment = payments.payment_create(
            merchant_id=merchant.pk,
            client=ledger_client(request.auth),
            out_trade_no=data["out_trade_no"],
            method=data["method"],
            order_amount=data["order_amount"],
            discounts=[{**d, "amount": f"{d['amount']:.2f}"} for d in data["discounts"]],
            channel_code=data.get("channel") or None,
            description=data.get("description", ""),
        )
        return Response(_payment_data(payment.pk), status=status.HTTP_201_CREATED)


class RefundCreateApi(MerchantApiView):
    class InputSerializer(serializers.Serializer):
        out_refund_no = serializers.CharField(max_length=64, help_text="The merchant's refund number, unique per merchant.")
        amount = MoneyInput()
        reason = serializers.CharField(required=False, allow_blank=True, max_length=200)

        class Meta:
            ref_name = "RefundCreateInput"

    OutputSerializer = component(RefundSerializer, "RefundCreated")

    @write_schema(
        "merchant_refund_create",
        tag=TAG,
        summary="Refund (part of) a succeeded payment",
        description=(
            "R-REF-01: refunds (succeeded and in flight) never exceed the order amount and the cash never exceeds what "
            "the payer paid; cash first, then refundable discounts as coupons. R-REF-02: the same out_refund_no for "
            "the same payment and amount answers the first refund. R-REF-03: the state is unknown until a query or a "
            "callback ends it. R-REF-04: the channel's refund count and window."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        texts={
            403: "forbidden_scope",
            404: "not_found: no such payment, or not this client's",
            409: "limit_exceeded (data.limit = refundable, data.remaining), refund_count_exceeded, refund_window_closed "
            "(past the channel's window: propose a refund payout instead; data.days, data.window_closed_at, "
            "data.refundable_cash, data.refund_payout = the path to POST it to), duplicate_reference, invalid_state, "
            "idempotency_key_in_use",
        },
    )
    @idempotent
    def post(self, request, payment_id: int):
        payment = self.client_payment(request, payment_id, "refunds")
        data = validated(self.InputSerializer, request.data)
        refund = refunds.refund_create(
            payment_id=payment.pk,
            merchant_id=payment.merchant_id,
            client=ledger_client(request.auth),
            out_refund_no=data["out_refund_no"],
            amount=f"{data['amount']:.2f}",
            reason=data.get("reason", ""),
        )
        return Response(self.OutputSerializer(Refund.objects.get(pk=refund.pk)).data, status=status.HTTP_201_CREATED)


class PaymentDetailApi(MerchantApiView):
    OutputSerializer = component(PaymentSerializer, "PaymentDetail")

    @detail_schema(
        "merchant_payment_detail",
        tag=TAG,
        summary="A payment with its discounts, refunds and what remains refundable",
        output=OutputSerializer,
    )
    def get(self, request, payment_id: int):
        payment = self.client_payment(request, payment_id, "payments", "refunds")
        return Response(self.OutputSerializer(payment).data)


class RefundPayoutCreateApi(MerchantApiView):
    class InputSerializer(serializers.Serializer):
        out_payout_no = serializers.CharField(
            max_length=48, help_text="The merchant's reference for this payout, unique per merchant (a retry reuses it)."
        )
        amount = MoneyInput(help_text="At most the payment's refundable_cash.")
        payee_name = serializers.CharField(max_length=200, help_text="The payer's name on the account.")
        payee_account = serializers.CharField(
            max_length=40, help_text="The payer's account number, 8 to 32 digits (stored encrypted, shown masked)."
        )
        reason = serializers.CharField(max_length=200)

        class Meta:
            ref_name = "RefundPayoutCreateInput"

    OutputSerializer = component(RefundPayoutSerializer, "RefundPayoutCreated")

    @write_schema(
        "merchant_refund_payout_create",
        tag=TAG,
        summary="Propose a refund payout (代付) of a payment past its channel's refund window",
        description=(
            "When a refund answers 409 refund_window_closed, the payer's money goes back by a payout to an account the "
            "payer supplies. The payout starts awaiting_check: an operator of the bank approves or rejects it in the "
            "console (maker-checker; the caller never approves). On approval the cash is reserved on the payment "
            "(R-REF-01), the merchant's funds pay it, and it is sent to the channel. The same out_payout_no for the "
            "same payment and amount answers the first payout; otherwise 409 duplicate_reference (data.id)."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        texts={
            403: "forbidden_scope",
            404: "not_found: no such payment, or not this client's",
            409: "refund_window_open (refund through the channel: data.window_closes_at), limit_exceeded (data.limit = "
            "refundable, data.remaining), duplicate_reference (data.id), invalid_state, idempotency_key_in_use",
        },
        examples=[
            OpenApiExample(
                "payer's account",
                request_only=True,
                value={
                    "out_payout_no": "RP-1",
                    "amount": "60.00",
                    "payee_name": "张三",
                    "payee_account": "6222020200112233445",
                    "reason": "refund past the channel's window",
                },
            )
        ],
    )
    @idempotent
    def post(self, request, payment_id: int):
        payment = self.client_payment(request, payment_id, "refunds")
        data = validated(self.InputSerializer, request.data)
        payout = payouts.refund_payout_propose(
            payment_id=payment.pk,
            merchant_id=payment.merchant_id,
            amount=f"{data['amount']:.2f}",
            payee_name=data["payee_name"],
            payee_account=data["payee_account"],
            reason=data["reason"],
            out_payout_no=data["out_payout_no"],
            origin=MerchantPayout.Origin.API,
            proposed_by_label=f"api:{request.auth.client_id}",
            require_window_passed=True,
        )
        return Response(self.OutputSerializer(MerchantPayout.objects.get(pk=payout.pk)).data, status=status.HTTP_201_CREATED)


class RefundPayoutDetailApi(MerchantApiView):
    OutputSerializer = component(RefundPayoutSerializer, "RefundPayoutDetail")

    @detail_schema(
        "merchant_refund_payout_detail",
        tag=TAG,
        summary="A refund payout (代付) and its state",
        output=OutputSerializer,
    )
    def get(self, request, payout_id: int):
        self.check_merchant_client(request.auth)
        payout = MerchantPayout.objects.filter(pk=payout_id, kind=MerchantPayout.Kind.REFUND).first()
        found_or_404(payout, _("No such payout."), lambda p: client_may(request.auth, p.merchant_id, "payments", "refunds"))
        return Response(self.OutputSerializer(payout).data)
