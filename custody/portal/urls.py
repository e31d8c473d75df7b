"""Custody's portal pages, mounted at /portal/custody/ (app_name "custody_portal")."""

from django.urls import path

from custody.portal import authorisations

app_name = "custody_portal"
urlpatterns = [
    path("sub-accounts/<str:number>/authorisations/", authorisations.authorisation_list, name="authorisations"),
    path(
        "sub-accounts/<str:number>/authorisations/<int:pk>/revoke/",
        authorisations.authorisation_revoke,
        name="authorisation_revoke",
    ),
]
