"""The bank's page where a platform's client grants and revokes standing authorisations (业务授权,
R-DEP-02): the platform sends instructions covered by them (``{"method": "standing", "id"}``) and
never sees the client's password, which is typed here only.

A signed-in user sees only the sub-accounts of their own parties (any other answers 404). Thin views
over ``custody.loans.authorisations``: the grant checks the transaction password (wrong attempts
count and lock), then records the authorisation; revocation stops every later instruction.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from backoffice.errors import DomainError, FieldValidationError
from backoffice.portal import money
from custody.loans.authorisations import (
    TYPES_BY_ROLE,
    standing_authorisation_grant_by_holder,
    standing_authorisation_revoke,
)
from custody.loans.models import StandingAuthorisation
from custody.models import SubAccount


def _own_sub_account(request: HttpRequest, number: str) -> SubAccount:
    sub = SubAccount.objects.select_related("account", "platform", "party").filter(account__number=number).first()
    if sub is None or not request.user.parties.filter(pk=sub.party_id).exists():
        raise Http404(_("No such account."))
    return sub


class GrantForm(forms.Form):
    instruction_types = forms.MultipleChoiceField(
        label=gettext_lazy("Instructions the platform may send / 授权业务"), widget=forms.CheckboxSelectMultiple
    )
    per_instruction_max = forms.DecimalField(
        label=gettext_lazy("Most per instruction (yuan) / 单笔上限"), max_digits=15, decimal_places=2, min_value=0.01
    )
    cumulative_max = forms.DecimalField(
        label=gettext_lazy("Most in total (yuan) / 累计上限"), max_digits=15, decimal_places=2, min_value=0.01
    )
    days = forms.IntegerField(label=gettext_lazy("Valid for (days) / 有效天数"), min_value=1, max_value=366, initial=90)
    password = forms.CharField(
        label=gettext_lazy("Transaction password / 交易密码"),
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        max_length=6,
    )

    def __init__(self, *args, role: str, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = TYPES_BY_ROLE.get(role, set())
        self.fields["instruction_types"].choices = [c for c in StandingAuthorisation.Type.choices if c[0] in allowed]


def _row(authorisation: StandingAuthorisation, now) -> dict:
    labels = dict(StandingAuthorisation.Type.choices)
    return {
        "id": authorisation.pk,
        "types": ", ".join(str(labels.get(t, t)) for t in authorisation.instruction_types),
        "per_instruction_max": money(authorisation.per_instruction_max),
        "cumulative_max": money(authorisation.cumulative_max),
        "consumed": money(authorisation.consumed),
        "expires_at": timezone.localtime(authorisation.expires_at),
        "revoked_at": authorisation.revoked_at and timezone.localtime(authorisation.revoked_at),
        "in_force": authorisation.revoked_at is None and authorisation.expires_at > now,
    }


@login_required
@require_http_methods(["GET", "POST"])
def authorisation_list(request: HttpRequest, number: str) -> HttpResponse:
    """The sub-account's standing authorisations, and the form granting a new one."""
    sub = _own_sub_account(request, number)
    form = GrantForm(request.POST or None, role=sub.role)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            granted = standing_authorisation_grant_by_holder(
                grantor=sub,
                password=data["password"],
                instruction_types=data["instruction_types"],
                per_instruction_max=data["per_instruction_max"],
                cumulative_max=data["cumulative_max"],
                expires_at=timezone.now() + dt.timedelta(days=data["days"]),
                actor=request.user,
            )
        except FieldValidationError as exc:
            for field, reasons in exc.fields.items():
                form.add_error(field if field in form.fields else None, [str(r) for r in reasons])
        except DomainError as exc:
            form.add_error("password" if exc.code.startswith(("authorization", "transaction_password")) else None, exc.text)
        else:
            messages.success(
                request,
                _("Authorisation %(id)s granted to %(platform)s. Give the platform this number.")
                % {"id": granted.pk, "platform": sub.platform.name},
            )
            return redirect("custody_portal:authorisations", sub.account.number)
    now = timezone.now()
    rows = [_row(a, now) for a in StandingAuthorisation.objects.filter(grantor=sub).order_by("-created_at", "-pk")]
    return render(request, "portal/custody/authorisations.html", {"sub": sub, "form": form, "rows": rows})


@login_required
@require_POST
def authorisation_revoke(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    sub = _own_sub_account(request, number)
    if not StandingAuthorisation.objects.filter(pk=pk, grantor=sub).exists():
        raise Http404(_("No such authorisation."))
    standing_authorisation_revoke(authorisation_id=pk, actor=request.user, actor_label="portal")
    messages.success(request, _("Authorisation %(id)s revoked: the platform may no longer use it.") % {"id": pk})
    return redirect("custody_portal:authorisations", sub.account.number)
