"""The self-service portal: a party's own accounts, their statements and statement exports.

Thin views over ``accounts.selectors``; nothing here writes. A signed-in user sees the accounts
of every party they belong to (``Party.portal_users``) and nothing else: any other account
number answers 404, never 403, so the portal does not confirm that an account exists.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts import selectors
from accounts.chart import CREDIT
from accounts.models import Account, Entry
from accounts.portal.forms import PortalLoginForm, StatementFilterForm, kind_label
from accounts.resources import export_statement

PAGE_SIZE = 50
EXPORT_FORMATS = ("csv", "xlsx")


def money(value: Decimal) -> str:
    """Exact display of a Decimal amount with a thousands separator: "1,234.56"."""
    return f"{value:,.2f}"


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


def _own_account(request: HttpRequest, number: str) -> Account:
    account = selectors.account_get(number=number)
    if account is None or account.party_id is None or not request.user.parties.filter(pk=account.party_id).exists():
        raise Http404(_("No such account."))
    return account


def _account_row(account: Account) -> dict:
    return {
        "account": account,
        "balance": money(account.balance),
        "available": money(account.available),
        "frozen": money(account.frozen),
    }


def _entry_row(entry: Entry) -> dict:
    return {
        "entry": entry,
        "kind": kind_label(entry.transfer.kind),
        "is_credit": entry.side == CREDIT,
        "amount": money(entry.amount),
        "balance_after": money(entry.balance_after),
    }


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    parties = list(request.user.parties.order_by("name"))
    accounts = selectors.accounts_for_party(party_ids=[party.pk for party in parties]).select_related("party")
    return render(
        request,
        "portal/dashboard.html",
        {"parties": parties, "rows": [_account_row(account) for account in accounts]},
    )


def _filtered_statement(request: HttpRequest, account: Account):
    """(form, entries or None): entries are None while the filter form has errors."""
    form = StatementFilterForm(request.GET, kinds=selectors.statement_kinds(account=account))
    if not form.is_valid():
        return form, None
    entries = selectors.account_statement(
        account=account,
        date_from=form.cleaned_data["date_from"],
        date_to=form.cleaned_data["date_to"],
        kind=form.cleaned_data["kind"] or None,
    )
    return form, entries


@login_required
@require_GET
def statement(request: HttpRequest, number: str) -> HttpResponse:
    account = _own_account(request, number)
    form, entries = _filtered_statement(request, account)
    page = None
    if entries is not None:
        page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/statement.html",
        {
            "form": form,
            "page_obj": page,
            "rows": [_entry_row(entry) for entry in page.object_list] if page else [],
            **_account_row(account),
        },
    )


@login_required
@require_GET
def statement_export(request: HttpRequest, number: str) -> HttpResponse:
    account = _own_account(request, number)
    fmt = request.GET.get("format", "csv")
    if fmt not in EXPORT_FORMATS:
        return HttpResponseBadRequest(_("Unknown export format: choose CSV or XLSX."), content_type="text/plain; charset=utf-8")
    form, entries = _filtered_statement(request, account)
    if entries is None:
        # Send the user back to the statement, where the same filters show their errors.
        query = request.GET.copy()
        query.pop("format", None)
        return redirect(f"{reverse('portal:statement', args=[account.number])}?{query.urlencode()}")
    content, content_type, extension = export_statement(entries, fmt)
    stamp = timezone.localtime().strftime("%Y%m%d")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="statement-{account.number}-{stamp}.{extension}"'
    return response
