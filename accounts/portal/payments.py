"""The portal's money in and out: the transaction password (交易密码), withdrawals (提现) to the
bound card with a confirmation step, recharges (充值) from it, and their lists and detail pages.

Thin views over the services: ``accounts.payments.authorisation.transaction_password_set``,
``accounts.payments.withdrawals.withdrawal_create``, ``accounts.payments.recharges.recharge_create`` and the
selectors ``accounts.payments.selectors.withdrawal_list`` / ``recharge_list``. As everywhere in the portal,
a signed-in user sees only the accounts of their own parties; any other account, or a
withdrawal or recharge of another account, answers 404. The transaction password belongs to the
account's party (a user linked to several parties sets one per party).

A withdrawal takes two pages: the amount (step 1, checked as the service will check it, so a
refusal comes before the password is typed), then a confirmation with the amount, fee, total,
card and settlement, where the holder types the transaction password. The confirmation carries a
signed token with the amount and a business reference drawn for it ("P" + a UUID): sending it
twice reaches ``withdrawal_create`` with the same reference, which refuses the second as a
duplicate, and the holder is shown the withdrawal that was made once. Every refusal
(a ``DomainError``) is shown on the form; nothing is created.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import conf
from accounts.cards import services as cards
from accounts.ledger.models import Account
from accounts.payments import authorisation, recharges, withdrawals
from accounts.payments import selectors as payment_selectors
from accounts.payments.models import Channel, Recharge, TransactionPassword, Withdrawal
from accounts.portal.forms import (
    RECHARGE_SALT,
    WITHDRAWAL_SALT,
    RechargeFilterForm,
    RechargeForm,
    TransactionPasswordForm,
    WithdrawalAmountForm,
    WithdrawalConfirmForm,
    WithdrawalFilterForm,
    new_reference,
    token_check,
    token_make,
)
from accounts.portal.ledger import account_row, can_bind, card_rows, own_account
from backoffice.errors import DomainError, FieldValidationError
from backoffice.portal import money, render_list_page

PORTAL_CLIENT = "portal"
LIST_PAGE_SIZE = 20

# What each state means for the holder.
WITHDRAWAL_NOTES = {
    Withdrawal.State.CREATED: gettext_lazy("Accepted: the bank is setting the amount and the fee aside on your account."),
    Withdrawal.State.FUNDS_HELD: gettext_lazy(
        "Accepted: the amount and the fee are set aside on your account and the payment to your card is on its way."
    ),
    Withdrawal.State.SUBMITTED: gettext_lazy("Sent to the payment channel: waiting for its answer."),
    Withdrawal.State.UNKNOWN: gettext_lazy(
        "The payment channel has not confirmed the outcome yet; the bank keeps checking. Your money is set aside, "
        "not lost: it either reaches your card or comes back to your account."
    ),
    Withdrawal.State.SUCCEEDED: gettext_lazy("Paid to your card."),
    Withdrawal.State.FAILED: gettext_lazy("Not paid: the amount and the fee are back on your account; no fee was taken."),
    Withdrawal.State.RETURNED: gettext_lazy(
        "Your card's bank sent the money back after the payment: the amount and the fee were credited to your account again."
    ),
}
RECHARGE_NOTES = {
    Recharge.State.CREATED: gettext_lazy("Accepted: the bank is asking your card's bank for the money."),
    Recharge.State.SUBMITTED: gettext_lazy("Sent to the payment channel: waiting for its answer."),
    Recharge.State.UNKNOWN: gettext_lazy(
        "The payment channel has not confirmed the outcome yet; the bank keeps checking. If the money was taken "
        "from your card, it will be credited."
    ),
    Recharge.State.SUCCEEDED: gettext_lazy("Collected from your card and credited to your account."),
    Recharge.State.FAILED: gettext_lazy("Not collected: no money was taken from your card."),
}


# -- helpers ------------------------------------------------------------------------------------


def _channel(operation: str) -> tuple[Channel | None, str]:
    """The channel the service will use for ``operation``, or None and why."""
    try:
        return withdrawals.channel_for(operation=operation), ""
    except DomainError as exc:
        return None, exc.text


def _password_set(account: Account) -> bool:
    return authorisation.transaction_password_is_set(party=account.party)


def _password_url(account: Account, next_url: str = "") -> str:
    url = reverse("portal:transaction_password", args=[account.number])
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _settle_note(channel: Channel) -> str:
    return _(
        "Up to %(limit)s yuan arrives in real time, at any time. A larger amount is accepted only on working days "
        "%(start)s–%(end)s and arrives by the next working day (T+1)."
    ) % {"limit": money(channel.real_time_limit), "start": f"{channel.window_start:%H:%M}", "end": f"{channel.window_end:%H:%M}"}


def _withdrawal_precheck(*, account: Account, amount: Decimal, channel: Channel) -> str:
    """The withdrawal rules (R-WD-01, R-WD-06) as ``withdrawal_create`` will check them, before
    the holder types the password; returns the settlement (Withdrawal.Settles). This calls the
    service's own read-only check, so the portal never restates a rule; the service checks
    again, under locks, when the holder confirms. Raises the service's DomainErrors."""
    return withdrawals.withdrawal_check(account=account, amount=amount, channel=channel)


def _password_error(account: Account) -> str:
    """A wrong transaction password: say how many attempts are left, or until when it is locked."""
    record = TransactionPassword.objects.filter(party_id=account.party_id).first()
    now = timezone.now()
    if record is not None and record.locked_until is not None and record.locked_until > now:
        return _("The transaction password is wrong. It is now locked until %(until)s.") % {
            "until": timezone.localtime(record.locked_until).strftime("%Y-%m-%d %H:%M")
        }
    left = conf.password_max_attempts() - (record.failed_attempts if record else 0)
    return _("The transaction password is wrong. %(left)d attempts left before it is locked.") % {"left": max(left, 0)}


def _show_error(form: forms.Form, exc: DomainError, *, account: Account, fields: dict[str, str]) -> None:
    """Put a service's refusal on the form: field errors on their fields (``fields`` maps the
    service's names to the form's), anything else above the form."""
    if isinstance(exc, FieldValidationError):
        for name, errors in exc.fields.items():
            target = fields.get(name)
            for error in errors if isinstance(errors, list) else [errors]:
                form.add_error(target if target in form.fields else None, str(error))
        return
    if exc.code == authorisation.AuthorisationInvalidError.code and "password" in form.fields:
        form.add_error("password", _password_error(account))
        return
    form.add_error(None, exc.text)


def _card_info(account: Account) -> dict | None:
    card = cards.card_withdrawal_card(account=account)
    if card is None:
        return None
    return {"card": card, "masked": card.card_number_masked, "bank": card.bank_name}


def _base_context(account: Account) -> dict:
    card = _card_info(account)
    context = {**account_row(account, details=False), "withdrawal_card": card, "can_bind": False, "card_rows": []}
    if card is None:  # where to go from "no card": bind one, or follow the one being verified
        context.update(can_bind=can_bind(account), card_rows=card_rows(account))
    return context


def _withdrawal_row(withdrawal: Withdrawal) -> dict:
    return {
        "withdrawal": withdrawal,
        # One business reference, alike in the list, the detail page and its title.
        "reference": withdrawal.request_id or str(withdrawal.pk),
        "amount": money(withdrawal.amount),
        "fee": money(withdrawal.fee),
        "total": money(withdrawal.total),
        "state": withdrawal.get_state_display(),
        "settles": withdrawal.get_settles_display(),
        "card": withdrawal.card.card_number_masked,
        "url": reverse("portal:withdrawal_detail", args=[withdrawal.account.number, withdrawal.pk]),
    }


def _recharge_row(recharge: Recharge) -> dict:
    return {
        "recharge": recharge,
        "reference": recharge.request_id or str(recharge.pk),
        "amount": money(recharge.amount),
        "state": recharge.get_state_display(),
        "card": recharge.card.card_number_masked,
        "url": reverse("portal:recharge_detail", args=[recharge.account.number, recharge.pk]),
    }


def _own_withdrawal(account: Account, pk: int) -> Withdrawal:
    withdrawal = payment_selectors.withdrawal_list(account_number=account.number).filter(pk=pk).first()
    if withdrawal is None:
        raise Http404(_("No such withdrawal."))
    return withdrawal


def _own_recharge(account: Account, pk: int) -> Recharge:
    recharge = (
        payment_selectors.recharge_list(accounts=Account.objects.filter(pk=account.pk))
        .select_related("card")
        .filter(pk=pk)
        .first()
    )
    if recharge is None:
        raise Http404(_("No such recharge."))
    return recharge


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return ""


# -- transaction password -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def transaction_password(request: HttpRequest, number: str) -> HttpResponse:
    """Set the transaction password of the account's party, or change it (the sign-in password
    is asked for then). The password is stored only as a salted hash by the service."""
    account = own_account(request, number)
    changing = _password_set(account)
    form = TransactionPasswordForm(request.POST if request.method == "POST" else None, request=request, changing=changing)
    next_url = _safe_next(request)
    if request.method == "POST" and form.is_valid():
        try:
            authorisation.transaction_password_set(
                party_id=account.party_id, password=form.cleaned_data["password"], actor=request.user
            )
        except DomainError as exc:
            _show_error(form, exc, account=account, fields={"password": "password"})
        else:
            if changing:
                messages.success(request, _("Your transaction password was changed."))
            else:
                messages.success(request, _("Your transaction password is set."))
            return redirect(next_url or reverse("portal:statement", args=[account.number]))
    return render(
        request,
        "portal/transaction_password.html",
        {"form": form, "changing": changing, "party": account.party, "next": next_url, **_base_context(account)},
    )


# -- withdrawals --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def withdrawal_new(request: HttpRequest, number: str) -> HttpResponse:
    """Step 1: the amount. A valid amount the rules accept draws the confirmation page (step 2)."""
    account = own_account(request, number)
    card = _card_info(account)
    channel, channel_problem = _channel("withdrawal")
    password_set = _password_set(account)
    form = WithdrawalAmountForm(request.POST if request.method == "POST" else None)
    ready = card is not None and channel is not None and password_set
    if request.method == "POST" and form.is_valid():
        if not ready:
            form.add_error(None, _("A withdrawal is not possible now: see the note above."))
        else:
            amount = form.cleaned_data["amount"]
            try:
                settles = _withdrawal_precheck(account=account, amount=amount, channel=channel)
            except DomainError as exc:
                _show_error(form, exc, account=account, fields={"amount": "amount"})
            else:
                payload = {
                    "account": account.number,
                    "user": request.user.pk,
                    "amount": f"{amount:.2f}",
                    "fee": f"{channel.withdrawal_fee:.2f}",
                    "channel": channel.code,
                    "settles": settles,
                    "ref": new_reference(),
                }
                confirm = WithdrawalConfirmForm(initial={"token": token_make(payload, salt=WITHDRAWAL_SALT)})
                return _render_confirm(request, account, confirm, payload)
    return render(
        request,
        "portal/withdrawal_new.html",
        {
            "form": form,
            "channel": channel,
            "channel_problem": channel_problem,
            "fee": money(channel.withdrawal_fee) if channel else None,
            "settle_note": _settle_note(channel) if channel else "",
            "password_set": password_set,
            "password_url": _password_url(account, reverse("portal:withdrawal_new", args=[account.number])),
            "ready": ready,
            **_base_context(account),
        },
    )


def _render_confirm(request: HttpRequest, account: Account, form: WithdrawalConfirmForm, payload: dict) -> HttpResponse:
    amount, fee = Decimal(payload["amount"]), Decimal(payload["fee"])
    return render(
        request,
        "portal/withdrawal_confirm.html",
        {
            "form": form,
            "amount": money(amount),
            "fee": money(fee),
            "total": money(amount + fee),
            "settles": Withdrawal.Settles(payload["settles"]).label,
            "settles_code": payload["settles"],
            **_base_context(account),
        },
    )


@login_required
@require_POST
def withdrawal_confirm(request: HttpRequest, number: str) -> HttpResponse:
    """Step 2 (POST): the transaction password; creates the withdrawal once per confirmation."""
    account = own_account(request, number)
    start_again = reverse("portal:withdrawal_new", args=[account.number])
    form = WithdrawalConfirmForm(request.POST)
    try:
        payload = token_check(request.POST.get("token", ""), salt=WITHDRAWAL_SALT, account=account, user=request.user)
    except forms.ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect(start_again)
    if not form.is_valid():
        return _render_confirm(request, account, form, payload)
    channel, _problem = _channel("withdrawal")
    if channel is None or channel.code != payload["channel"] or f"{channel.withdrawal_fee:.2f}" != payload["fee"]:
        messages.warning(request, _("The withdrawal conditions have changed since this page was shown. Please check them again."))
        return redirect(start_again)
    try:
        withdrawal = withdrawals.withdrawal_create(
            client=PORTAL_CLIENT,
            out_request_no=payload["ref"],
            account=account,
            amount=payload["amount"],
            authorization={"method": "password", "password": form.cleaned_data["password"]},
            actor=request.user,
            channel_code=payload["channel"],
        )
    except withdrawals.DuplicateReferenceError:
        existing = payment_selectors.withdrawal_list(clients=[PORTAL_CLIENT], account_number=account.number).filter(
            out_request_no=payload["ref"]
        )
        first = existing.first()
        messages.warning(request, _("This withdrawal was already submitted; it was not made a second time."))
        if first is None:
            return redirect(start_again)
        return redirect("portal:withdrawal_detail", account.number, first.pk)
    except DomainError as exc:
        _show_error(form, exc, account=account, fields={"authorization": "password"})
        return _render_confirm(request, account, form, payload)
    messages.success(
        request,
        _("Your withdrawal of %(amount)s yuan was accepted.") % {"amount": money(withdrawal.amount)},
    )
    return redirect("portal:withdrawal_detail", account.number, withdrawal.pk)


def _state_filter(form_class, request: HttpRequest):
    form = form_class(request.GET)
    state = form.cleaned_data["state"] if form.is_valid() else ""
    return form, state


@login_required
@require_GET
def withdrawal_list(request: HttpRequest, number: str) -> HttpResponse:
    account = own_account(request, number)
    form, state = _state_filter(WithdrawalFilterForm, request)
    return render_list_page(
        request,
        "portal/withdrawal_list.html",
        form=form,
        rows=payment_selectors.withdrawal_list(account_number=account.number, state=state or None),
        row=_withdrawal_row,
        page_size=LIST_PAGE_SIZE,
        **_base_context(account),
    )


@login_required
@require_GET
def withdrawal_detail(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    account = own_account(request, number)
    withdrawal = _own_withdrawal(account, pk)
    return render(
        request,
        "portal/withdrawal_detail.html",
        {
            "row": _withdrawal_row(withdrawal),
            "note": WITHDRAWAL_NOTES.get(withdrawal.state, ""),
            "in_flight": withdrawal.state in Withdrawal.IN_FLIGHT,
            "next_working_day": withdrawal.settles == Withdrawal.Settles.NEXT_WORKING_DAY,
            **_base_context(account),
        },
    )


# -- recharges ----------------------------------------------------------------------------------


def _recharge_token(account: Account, user) -> str:
    return token_make({"account": account.number, "user": user.pk, "ref": new_reference()}, salt=RECHARGE_SALT)


@login_required
@require_http_methods(["GET", "POST"])
def recharge_new(request: HttpRequest, number: str) -> HttpResponse:
    """A recharge from the bound card: the amount and the transaction password, in one step."""
    account = own_account(request, number)
    card = _card_info(account)
    channel, channel_problem = _channel("recharge")
    password_set = _password_set(account)
    ready = card is not None and channel is not None and password_set
    if request.method == "POST":
        form = RechargeForm(request.POST)
        try:
            payload = token_check(request.POST.get("token", ""), salt=RECHARGE_SALT, account=account, user=request.user)
        except forms.ValidationError as exc:
            messages.error(request, exc.messages[0])
            return redirect("portal:recharge_new", account.number)
        if form.is_valid():
            if not ready:
                form.add_error(None, _("A recharge is not possible now: see the note above."))
            else:
                response = _recharge_create(request, account, form, payload)
                if response is not None:
                    return response
    else:
        form = RechargeForm(initial={"token": _recharge_token(account, request.user)})
    return render(
        request,
        "portal/recharge_new.html",
        {
            "form": form,
            "channel": channel,
            "channel_problem": channel_problem,
            "password_set": password_set,
            "password_url": _password_url(account, reverse("portal:recharge_new", args=[account.number])),
            "ready": ready,
            **_base_context(account),
        },
    )


def _recharge_create(request: HttpRequest, account: Account, form: RechargeForm, payload: dict) -> HttpResponse | None:
    """Create the recharge; a redirect on success or on a repeated submission, None (errors on
    the form) on a refusal."""
    try:
        recharge = recharges.recharge_create(
            client=PORTAL_CLIENT,
            out_request_no=payload["ref"],
            account=account,
            amount=form.cleaned_data["amount"],
            authorization={"method": "password", "password": form.cleaned_data["password"]},
            actor=request.user,
        )
    except withdrawals.DuplicateReferenceError:
        first = (
            payment_selectors.recharge_list(accounts=Account.objects.filter(pk=account.pk), clients=[PORTAL_CLIENT])
            .filter(out_request_no=payload["ref"])
            .first()
        )
        messages.warning(request, _("This recharge was already submitted; it was not made a second time."))
        if first is None:
            return redirect("portal:recharge_new", account.number)
        return redirect("portal:recharge_detail", account.number, first.pk)
    except DomainError as exc:
        _show_error(form, exc, account=account, fields={"amount": "amount", "authorization": "password"})
        return None
    messages.success(request, _("Your recharge of %(amount)s yuan was accepted.") % {"amount": money(recharge.amount)})
    return redirect("portal:recharge_detail", account.number, recharge.pk)


@login_required
@require_GET
def recharge_list(request: HttpRequest, number: str) -> HttpResponse:
    account = own_account(request, number)
    form, state = _state_filter(RechargeFilterForm, request)
    rows = payment_selectors.recharge_list(accounts=Account.objects.filter(pk=account.pk)).select_related("card")
    if state:
        rows = rows.filter(state=state)
    return render_list_page(
        request,
        "portal/recharge_list.html",
        form=form,
        rows=rows,
        row=_recharge_row,
        page_size=LIST_PAGE_SIZE,
        **_base_context(account),
    )


@login_required
@require_GET
def recharge_detail(request: HttpRequest, number: str, pk: int) -> HttpResponse:
    account = own_account(request, number)
    recharge = _own_recharge(account, pk)
    return render(
        request,
        "portal/recharge_detail.html",
        {
            "row": _recharge_row(recharge),
            "note": RECHARGE_NOTES.get(recharge.state, ""),
            "in_flight": recharge.state in Recharge.IN_FLIGHT,
            **_base_context(account),
        },
    )


__all__ = [
    "recharge_detail",
    "recharge_list",
    "recharge_new",
    "transaction_password",
    "withdrawal_confirm",
    "withdrawal_detail",
    "withdrawal_list",
    "withdrawal_new",
]
