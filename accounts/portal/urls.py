"""The self-service portal, mounted at /portal/ (app_name "portal")."""

from django.urls import path

from accounts.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.PortalLoginView.as_view(), name="login"),
    path("logout/", views.PortalLogoutView.as_view(), name="logout"),
    path("accounts/<str:number>/", views.statement, name="statement"),
    path("accounts/<str:number>/export/", views.statement_export, name="statement_export"),
    path("accounts/<str:number>/cards/<int:card_id>/verify/", views.card_verify, name="card_verify"),
]
