"""/api/v1/...: the merchants' endpoints (signed; scopes ``merchant:<id>[:payments|:refunds|:settlements]`` or ``*``)."""

from django.urls import path

from backoffice.api import slash_optional
from merchants.api import payments, settlements

app_name = "merchants_api"

urlpatterns = slash_optional(
    [
        path("merchants/<sid:merchant_id>/payments/", payments.PaymentCreateApi.as_view(), name="payment-create"),
        path("payments/<sid:payment_id>/", payments.PaymentDetailApi.as_view(), name="payment-detail"),
        path("payments/<sid:payment_id>/refunds/", payments.RefundCreateApi.as_view(), name="refund-create"),
        path("payments/<sid:payment_id>/refund-payouts/", payments.RefundPayoutCreateApi.as_view(), name="refund-payout-create"),
        path("refund-payouts/<sid:payout_id>/", payments.RefundPayoutDetailApi.as_view(), name="refund-payout-detail"),
        path("settlements/", settlements.SettlementListApi.as_view(), name="settlement-list"),
        path("settlements/<sid:settlement_id>/", settlements.SettlementDetailApi.as_view(), name="settlement-detail"),
    ]
)
