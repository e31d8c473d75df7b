"""The portal kit: sign-in and sign-out views and the money display helper. Imports no app."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


def money(value: Decimal) -> str:
    """Exact display of a Decimal amount with a thousands separator: "1,234.56"."""
    return f"{value:,.2f}"


class PortalLoginForm(AuthenticationForm):
    """Django's sign-in form; django-axes counts its failures (it receives the request)."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("Username")
        self.fields["password"].label = _("Password")
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = PortalLoginForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        # django-axes allows AXES_FAILURE_LIMIT to be a callable; the hint is shown only for a number.
        limit = getattr(settings, "AXES_FAILURE_LIMIT", None)
        return super().get_context_data(failure_limit=limit if isinstance(limit, int) else None, **kwargs)


class PortalLogoutView(auth_views.LogoutView):
    """POST only (Django's LogoutView refuses GET), CSRF-checked; then back to the sign-in page."""
