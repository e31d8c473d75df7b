"""The portal kit: sign-in and sign-out views, the money display helper and the paged, filtered
list page. Imports no app."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _


def money(value: Decimal) -> str:
    """Exact display of a Decimal amount with a thousands separator: "1,234.56"."""
    return f"{value:,.2f}"


def render_list_page(request, template, *, form, rows, row, page_size, **context):
    """A filtered list, one page (``?page=``) at a time: ``form`` is the filter form, ``rows`` the
    filtered queryset (None while the form has errors: no page), ``row`` makes a template row."""
    page = Paginator(rows, page_size).get_page(request.GET.get("page")) if rows is not None else None
    return render(
        request,
        template,
        {"form": form, "page_obj": page, "rows": [row(item) for item in page.object_list] if page else [], **context},
    )


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
