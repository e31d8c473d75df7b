"""/api/v1/...: the merchants' endpoints (signed; scopes ``merchant:<id>[:payments|:refunds]`` or ``*``)."""

from django.urls import path

from merchants.api import payments

app_name = "merchants_api"

urlpatterns = [
    path("merchants/<int:merchant_id>/payments/", payments.PaymentCreateApi.as_view(), name="payment-create"),
    path("payments/<int:payment_id>/", payments.PaymentDetailApi.as_view(), name="payment-detail"),
    path("payments/<int:payment_id>/refunds/", payments.RefundCreateApi.as_view(), name="refund-create"),
]
