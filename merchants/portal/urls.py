"""The merchant portal, mounted at /portal/merchants/ (app_name "merchants_portal")."""

from django.urls import path

from backoffice.portal import PortalLogoutView
from merchants.portal import views

app_name = "merchants_portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.MerchantLoginView.as_view(), name="login"),
    path("logout/", PortalLogoutView.as_view(next_page="merchants_portal:login"), name="logout"),
    path("<int:merchant_id>/", views.dashboard, name="dashboard"),
    path("<int:merchant_id>/chart.svg", views.volume_chart, name="chart"),
    path("<int:merchant_id>/payments/", views.payment_list, name="payments"),
    path("<int:merchant_id>/payments/export/", views.payment_export, name="payments_export"),
    path("<int:merchant_id>/payments/<int:pk>/", views.payment_detail, name="payment_detail"),
    path("<int:merchant_id>/payments/<int:pk>/refund/", views.refund_new, name="refund_new"),
    path("<int:merchant_id>/payments/<int:pk>/refund/confirm/", views.refund_confirm, name="refund_confirm"),
    path("<int:merchant_id>/payments/<int:pk>/refund-payout/", views.refund_payout_new, name="refund_payout_new"),
    path(
        "<int:merchant_id>/payments/<int:pk>/refund-payout/confirm/",
        views.refund_payout_confirm,
        name="refund_payout_confirm",
    ),
    path("<int:merchant_id>/settlements/", views.settlement_list, name="settlements"),
    path("<int:merchant_id>/settlements/<int:pk>/", views.settlement_detail, name="settlement_detail"),
    path("<int:merchant_id>/settlements/<int:pk>/statement/", views.settlement_statement, name="statement"),
    path("<int:merchant_id>/payouts/", views.payout_list, name="payouts"),
    path("<int:merchant_id>/developers/", views.developers, name="developers"),
    path("<int:merchant_id>/developers/keys/", views.api_key_create, name="api_key_create"),
    path("<int:merchant_id>/developers/keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("<int:merchant_id>/developers/endpoints/", views.endpoint_create, name="endpoint_create"),
    path("<int:merchant_id>/developers/deliveries/<int:pk>/resend/", views.delivery_resend, name="delivery_resend"),
]
