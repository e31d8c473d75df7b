"""The bank's page where a platform's client confirms one instruction (a bid) with the transaction
password (R-DEP-02, method ``confirm``): the platform sent the client here with the URL the API
returned; it never sees the password. The page shows the platform, the loan and the amount; the
client confirms (password) or declines. Only a user of the sub-account's holder sees it (404)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from backoffice.errors import DomainError
from backoffice.portal import money
from custody.loans.models import Confirmation
from custody.loans.services import confirmation_confirm, confirmation_decline


class ConfirmForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Transaction password / 交易密码"),
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        max_length=6,
    )


def _own_confirmation(request: HttpRequest, token: str) -> Confirmation:
    confirmation = (
        Confirmation.objects.select_related("platform", "loan", "sub_account__account", "sub_account__party", "bid")
        .filter(token=token)
        .first()
    )
    if confirmation is None or not request.user.parties.filter(pk=confirmation.sub_account.party_id).exists():
        raise Http404(_("No such confirmation."))
    return confirmation


@login_required
@require_http_methods(["GET", "POST"])
def confirmation(request: HttpRequest, token: str) -> HttpResponse:
    item = _own_confirmation(request, token)
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and item.state == Confirmation.State.PENDING:
        if request.POST.get("action") == "decline":
            try:
                confirmation_decline(confirmation_id=item.pk, actor=request.user)
            except DomainError as exc:
                messages.error(request, exc.text)
            else:
                messages.success(request, _("Declined: nothing was frozen on your account."))
            return redirect("custody_portal:confirmation", token)
        if form.is_valid():
            try:
                item = confirmation_confirm(confirmation_id=item.pk, password=form.cleaned_data["password"], actor=request.user)
            except DomainError as exc:
                form.add_error("password", exc.text)
            else:
                if item.state == Confirmation.State.CONFIRMED:
                    messages.success(
                        request, _("Confirmed: %(amount)s yuan is frozen for this bid.") % {"amount": money(item.amount)}
                    )
                else:
                    messages.error(
                        request,
                        _("The bid could not be placed (%(code)s): nothing was frozen.")
                        % {"code": item.outcome_code or item.state},
                    )
                return redirect("custody_portal:confirmation", token)
    pending = item.state == Confirmation.State.PENDING and item.expires_at > timezone.now()
    return render(
        request,
        "portal/custody/confirmation.html",
        {"item": item, "form": form, "pending": pending, "amount": money(item.amount), "state": item.get_state_display()},
    )
