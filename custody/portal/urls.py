"""Custody's portal pages, mounted at /portal/custody/ (app_name "custody_portal")."""

from django.urls import include, path

from custody.portal import authorisations, confirmations

app_name = "custody_portal"
urlpatterns = [
    path("confirmations/", confirmations.confirmation_list, name="confirmations"),
    path("platform/", include("custody.portal.platform")),
    path("confirmations/<str:token>/", confirmations.confirmation, name="confirmation"),
    path("sub-accounts/<str:number>/authorisations/", authorisations.authorisation_list, name="authorisations"),
    path(
        "sub-accounts/<str:number>/authorisations/<int:pk>/revoke/",
        authorisations.authorisation_revoke,
        name="authorisation_revoke",
    ),
]
