"""The self-service portal, mounted at /portal/ (app_name "portal")."""

from django.urls import path

from accounts.portal import cards as cards_views
from accounts.portal import payments as payments_views
from accounts.portal.ledger import card_verify, dashboard, export_job, export_job_download, statement, statement_export
from backoffice.portal import PortalLoginView, PortalLogoutView

app_name = "portal"
urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("login/", PortalLoginView.as_view(), name="login"),
    path("logout/", PortalLogoutView.as_view(), name="logout"),
    path("accounts/<str:number>/", statement, name="statement"),
    path("accounts/<str:number>/export/", statement_export, name="statement_export"),
    path("accounts/<str:number>/cards/bind/", cards_views.card_bind, name="card_bind"),
    path("accounts/<str:number>/cards/bind/code/", cards_views.card_bind_code, name="card_bind_code"),
    path("exports/<int:pk>/", export_job, name="export_job"),
    path("exports/<int:pk>/download/", export_job_download, name="export_job_download"),
    path("accounts/<str:number>/cards/<int:card_id>/verify/", card_verify, name="card_verify"),
    # Money in and out (accounts.portal.payments_views).
    path(
        "accounts/<str:number>/transaction-password/",
        payments_views.transaction_password,
        name="transaction_password",
    ),
    path("accounts/<str:number>/withdrawals/", payments_views.withdrawal_list, name="withdrawal_list"),
    path("accounts/<str:number>/withdrawals/new/", payments_views.withdrawal_new, name="withdrawal_new"),
    path("accounts/<str:number>/withdrawals/confirm/", payments_views.withdrawal_confirm, name="withdrawal_confirm"),
    path("accounts/<str:number>/withdrawals/<int:pk>/", payments_views.withdrawal_detail, name="withdrawal_detail"),
    path("accounts/<str:number>/recharges/", payments_views.recharge_list, name="recharge_list"),
    path("accounts/<str:number>/recharges/new/", payments_views.recharge_new, name="recharge_new"),
    path("accounts/<str:number>/recharges/<int:pk>/", payments_views.recharge_detail, name="recharge_detail"),
]
