from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from backoffice import health

urlpatterns = [
    path("", RedirectView.as_view(url="/portal/", permanent=False)),
    # Browsers ask for /favicon.ico on pages that name no icon (a download, a JSON answer).
    path("favicon.ico", lambda request: redirect(static("brand/favicon.svg"))),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("portal/custody/", include("custody.portal.urls")),
    path("portal/merchants/", include("merchants.portal.urls")),
    path("portal/", include("accounts.portal.urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("custody.api.urls")),
    path("api/v1/", include("merchants.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]

# Under /api/ every answer is JSON, a path no route matches included; elsewhere the branded pages
# of backoffice.errors (console or portal layout, both languages, a way back).
handler400 = "backoffice.errors.bad_request"
handler403 = "backoffice.errors.permission_denied"
handler404 = "backoffice.errors.page_not_found"
handler500 = "backoffice.errors.server_error"
