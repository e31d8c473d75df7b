"""The bank's page where a platform's client confirms one instruction (R-DEP-02, method
``confirm``; R-DEP-04, a sub-account opening): the platform sent the client here with the URL the
API returned; it never sees the password. The page shows the platform, what is asked and the
amount; the client confirms (the transaction password; an opening needs only their own signed-in
session) or declines. Only a portal user of the client's party sees it (else 404).

An opening's page is also reachable signed out: a client who already has portal access is sent to
sign in (and back); one who has none sets it up here, proving who they are with their full ID
number (or credit code) and a code texted to the mobile the bank holds
(``custody.loans.confirmations.access_set_up``), and is then signed in to confirm. Thin views over
``custody.loans.confirmations``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from backoffice.errors import DomainError, FieldValidationError
from backoffice.portal import money
from custody.loans import confirmations
from custody.loans.models import Confirmation

Kind = Confirmation.Kind
TITLES = {
    Kind.BID: gettext_lazy("Confirm a bid / 确认投标"),
    Kind.REPAYMENT: gettext_lazy("Confirm a repayment / 确认还款"),
    Kind.DISBURSEMENT_FEE: gettext_lazy("Confirm the loan's service fee / 确认借款服务费"),
    Kind.WITHDRAWAL: gettext_lazy("Confirm a withdrawal / 确认提现"),
    Kind.RECHARGE: gettext_lazy("Confirm a recharge / 确认充值"),
    Kind.SUBACCOUNT_OPEN: gettext_lazy("Open a depository account / 开立存管账户"),
}
EXPLAIN = {
    Kind.BID: gettext_lazy(
        "The amount will be frozen on your account until the loan is funded (then it is lent) or fails (then it is unfrozen)."
    ),
    Kind.REPAYMENT: gettext_lazy("The amount is paid from your account to the loan's lenders."),
    Kind.DISBURSEMENT_FEE: gettext_lazy(
        "Your loan is paid out to your account, less this service fee, which goes to the platform."
    ),
    Kind.WITHDRAWAL: gettext_lazy("The amount (and the channel's fee) is paid from your account to your bound card."),
    Kind.RECHARGE: gettext_lazy("The amount is collected from your bound card onto your account."),
    Kind.SUBACCOUNT_OPEN: gettext_lazy(
        "The platform asks the bank to open a depository account for you in this role. Only you can open it; it "
        "becomes usable once your own bank card in your name is verified."
    ),
}


class ConfirmForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Transaction password / 交易密码"),
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        max_length=6,
    )


class AccessForm(forms.Form):
    id_number = forms.CharField(label=gettext_lazy("Your ID number (or credit code) / 证件号码"), max_length=32)
    code = forms.CharField(label=gettext_lazy("Code texted to your mobile / 短信验证码"), max_length=6)
    username = forms.CharField(label=gettext_lazy("Choose a username / 用户名"), max_length=150)
    password = forms.CharField(label=gettext_lazy("Choose a password / 登录密码"), widget=forms.PasswordInput)
    transaction_password = forms.CharField(
        label=gettext_lazy("Choose a 6-digit transaction password / 交易密码"),
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        max_length=6,
    )


def _context(item: Confirmation, **extra) -> dict:
    return {
        "item": item,
        "title": TITLES.get(item.kind, item.get_kind_display()),
        "explain": EXPLAIN.get(item.kind, ""),
        "amount": money(item.amount),
        "state": item.get_state_display(),
        "is_opening": item.kind == Kind.SUBACCOUNT_OPEN,
        "role": item.data.get("role", ""),
        "pending": item.state == Confirmation.State.PENDING and item.expires_at > timezone.now(),
        **extra,
    }


def _opening_signed_out(request: HttpRequest, item: Confirmation) -> HttpResponse:
    """An opening's page for a client not signed in: sign in, or set up access here."""
    if item.party.portal_users.exists():
        return redirect_to_login(request.get_full_path())
    form = AccessForm(request.POST if request.POST.get("action") == "set_up" else None)
    if request.method == "POST" and request.POST.get("action") == "send_code":
        try:
            masked = confirmations.access_code_send(confirmation_id=item.pk)
        except DomainError as exc:
            messages.error(request, exc.text)
        else:
            messages.success(request, _("A code was texted to %(mobile)s.") % {"mobile": masked})
        return redirect("custody_portal:confirmation", item.token)
    if request.method == "POST" and form.is_valid():
        try:
            user = confirmations.access_set_up(confirmation_id=item.pk, **form.cleaned_data)
        except FieldValidationError as exc:
            for field, reasons in exc.fields.items():
                form.add_error(field if field in form.fields else None, [str(r) for r in reasons])
        except DomainError as exc:
            form.add_error(None, exc.text)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Your access is set up. Confirm the opening below."))
            return redirect("custody_portal:confirmation", item.token)
    return render(request, "portal/custody/confirmation.html", _context(item, access_form=form))


@require_http_methods(["GET", "POST"])
def confirmation(request: HttpRequest, token: str) -> HttpResponse:
    item = (
        Confirmation.objects.select_related("platform", "loan", "party", "sub_account__account", "sub_account__party")
        .filter(token=token)
        .first()
    )
    if item is None:
        raise Http404(_("No such confirmation."))
    if not request.user.is_authenticated:
        if item.kind == Kind.SUBACCOUNT_OPEN:
            return _opening_signed_out(request, item)
        return redirect_to_login(request.get_full_path())
    if not request.user.parties.filter(pk=item.holder_party_id).exists():
        raise Http404(_("No such confirmation."))
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and item.state == Confirmation.State.PENDING:
        if request.POST.get("action") == "decline":
            try:
                confirmations.confirmation_decline(confirmation_id=item.pk, actor=request.user)
            except DomainError as exc:
                messages.error(request, exc.text)
            else:
                messages.success(request, _("Declined: nothing was done."))
            return redirect("custody_portal:confirmation", token)
        if item.kind == Kind.SUBACCOUNT_OPEN or form.is_valid():
            try:
                password = "" if item.kind == Kind.SUBACCOUNT_OPEN else form.cleaned_data["password"]
                item = confirmations.confirmation_confirm(confirmation_id=item.pk, password=password, actor=request.user)
            except DomainError as exc:
                form.add_error("password" if "password" in form.fields else None, exc.text)
            else:
                if item.state == Confirmation.State.CONFIRMED:
                    messages.success(request, _("Confirmed."))
                else:
                    messages.error(
                        request,
                        _("It could not be done (%(code)s): nothing was moved.") % {"code": item.outcome_code or item.state},
                    )
                return redirect("custody_portal:confirmation", token)
    if item.kind == Kind.SUBACCOUNT_OPEN:
        form = None
    return render(request, "portal/custody/confirmation.html", _context(item, form=form))


@login_required
@require_http_methods(["GET"])
def confirmation_list(request: HttpRequest) -> HttpResponse:
    """What platforms asked the signed-in client to confirm and have not been decided, newest first
    (only the user's own parties'), with a link to each page."""
    parties = list(request.user.parties.values_list("pk", flat=True))
    rows = (
        Confirmation.objects.select_related("platform", "sub_account__account")
        .filter(Q(party_id__in=parties) | Q(sub_account__party_id__in=parties))
        .filter(state=Confirmation.State.PENDING, expires_at__gt=timezone.now())
        .order_by("-created_at", "-pk")[:50]
    )
    items = [{"item": item, "title": TITLES.get(item.kind, item.kind), "amount": money(item.amount)} for item in rows]
    return render(request, "portal/custody/confirmation_list.html", {"items": items})
