"""The portal's card binding (绑卡) by the holder: the four elements, a one-time code to the card's
reserved mobile, then the micro-deposit back-fill (``accounts.portal.ledger.card_verify``).

Step 1 (``card_bind``) checks the elements as the service will (``cards.card_bind_check``: format,
same name and ID as the account holder, the card kind and the BIN table) so that a refusal comes
before a code is texted, then texts the code (``cards.otp_send``, purpose ``card_bind``, to the
reserved mobile) and keeps the elements encrypted in the session. Step 2 (``card_bind_code``)
checks the code (``cards.otp_verify``: it works once, for 120 s, and a few wrong codes burn it),
then binds (``cards.card_bind``): the card's bank checks the elements and, once it confirms them,
the bank sends the micro-deposit. The holder lands on the card's verification page.

Only a person's own accounts, not closed, without a live recharge-and-withdrawal card, bind here
(an organisation binds its settlement account at the bank). Any other account answers 404.
"""

from __future__ import annotations

import json
import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import conf
from accounts.cards import services as cards
from accounts.cards.models import BoundCard, OneTimeCode
from accounts.ledger.models import Account
from accounts.portal.forms import CardBindForm, OneTimeCodeForm
from accounts.portal.ledger import ASK_KIND_TIERS, account_row, can_bind, own_account
from backoffice import crypto
from backoffice.errors import DomainError, FieldValidationError

SESSION_KEY = "portal.card_bind"
# How long the elements typed at step 1 wait in the session for the code.
PENDING_MAX_AGE = 15 * 60
# A new code may be asked for this long after the last one.
RESEND_AFTER = 60
PURPOSE = OneTimeCode.Purpose.CARD_BIND

__all__ = ["card_bind", "card_bind_code"]


def _bindable(request: HttpRequest, number: str) -> Account | None:
    account = own_account(request, number)
    if can_bind(account):
        return account
    messages.info(request, _("A card cannot be bound to this account here: see the account's cards below."))
    return None


def _pending(request: HttpRequest, account: Account) -> dict | None:
    pending = request.session.get(SESSION_KEY)
    if not pending or pending.get("account") != account.number or pending.get("user") != request.user.pk:
        return None
    if time.time() - pending.get("at", 0) > PENDING_MAX_AGE:
        request.session.pop(SESSION_KEY, None)
        return None
    return pending


def _elements(pending: dict) -> dict:
    return json.loads(crypto.decrypt(pending["elements"]))


def _context(account: Account, **extra) -> dict:
    return {**account_row(account, details=False), "ask_kind": account.tier in ASK_KIND_TIERS, **extra}


def _field_errors(form, exc: FieldValidationError) -> None:
    for name, errors in exc.fields.items():
        for error in errors if isinstance(errors, list) else [errors]:
            form.add_error(name if name in form.fields else None, str(error))


def _send_code(request: HttpRequest, account: Account, mobile: str) -> str | None:
    """Text a code to ``mobile``; the masked mobile, or None (the refusal is in messages)."""
    try:
        otp = cards.otp_send(account=account, purpose=PURPOSE, mobile=mobile, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.text)
        return None
    return otp.mobile_masked


@login_required
@require_http_methods(["GET", "POST"])
def card_bind(request: HttpRequest, number: str) -> HttpResponse:
    """Step 1: the four elements. Checked, then a code is texted to the reserved mobile."""
    account = _bindable(request, number)
    if account is None:
        return redirect("portal:statement", number)
    ask_kind = account.tier in ASK_KIND_TIERS
    if request.method == "POST":
        form = CardBindForm(request.POST, ask_kind=ask_kind)
    else:
        form = CardBindForm(initial={"holder_name": account.party.name}, ask_kind=ask_kind)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            checked = cards.card_bind_check(
                account=account,
                card_number=data["card_number"],
                holder_name=data["holder_name"],
                id_number=data["id_number"],
                reserved_mobile=data["reserved_mobile"],
                bound_account_kind=data["bound_account_kind"],
            )
        except FieldValidationError as exc:
            _field_errors(form, exc)
        except DomainError as exc:
            form.add_error(None, exc.text)
        else:
            masked_mobile = _send_code(request, account, checked["reserved_mobile"])
            if masked_mobile is not None:
                elements = {**checked, "bound_account_kind": data["bound_account_kind"]}
                elements.pop("warnings", None)
                request.session[SESSION_KEY] = {
                    "account": account.number,
                    "user": request.user.pk,
                    "at": time.time(),
                    "sent_at": time.time(),
                    "elements": crypto.encrypt(json.dumps(elements)),
                    "card": crypto.mask_card_number(checked["card_number"]),
                    "mobile": masked_mobile,
                }
                return redirect("portal:card_bind_code", account.number)
    return render(request, "portal/card_bind.html", _context(account, form=form, step=1))


@login_required
@require_http_methods(["GET", "POST"])
def card_bind_code(request: HttpRequest, number: str) -> HttpResponse:
    """Step 2: the code from the SMS, then the binding; or a new code (``resend``)."""
    account = _bindable(request, number)
    if account is None:
        return redirect("portal:statement", number)
    pending = _pending(request, account)
    if pending is None:
        messages.warning(request, _("Please enter the card details again."))
        return redirect("portal:card_bind", account.number)
    here = reverse("portal:card_bind_code", args=[account.number])
    form = OneTimeCodeForm(request.POST if request.method == "POST" and "resend" not in request.POST else None)
    wait = max(0, int(RESEND_AFTER - (time.time() - pending.get("sent_at", 0))))
    if request.method == "POST" and "resend" in request.POST:
        if wait > 0:
            messages.warning(request, _("You can ask for a new code in %(seconds)d seconds.") % {"seconds": wait})
        elif _send_code(request, account, _elements(pending)["reserved_mobile"]) is not None:
            pending["sent_at"] = time.time()
            request.session[SESSION_KEY] = pending
            messages.success(request, _("A new code was sent to %(mobile)s.") % {"mobile": pending["mobile"]})
        return redirect(here)
    if request.method == "POST" and form.is_valid():
        response = _verify_and_bind(request, account, form, pending)
        if response is not None:
            return response
    return render(
        request,
        "portal/card_bind.html",
        _context(account, form=form, step=2, pending=pending, resend_wait=wait),
    )


def _verify_and_bind(request: HttpRequest, account: Account, form: OneTimeCodeForm, pending: dict) -> HttpResponse | None:
    try:
        cards.otp_verify(account=account, purpose=PURPOSE, code=form.cleaned_data["code"], actor=request.user)
    except cards.OtpExpiredError:
        form.add_error("code", _("This code has expired. Ask for a new one."))
        return None
    except cards.OtpInvalidError:
        form.add_error("code", _code_error(account))
        return None
    elements = _elements(pending)
    request.session.pop(SESSION_KEY, None)
    try:
        card = cards.card_bind(
            account=account,
            card_number=elements["card_number"],
            holder_name=elements["holder_name"],
            id_number=elements["id_number"],
            reserved_mobile=elements["reserved_mobile"],
            bound_account_kind=elements["bound_account_kind"],
            actor=request.user,
        )
    except DomainError as exc:
        messages.error(request, exc.text)
        return redirect("portal:card_bind", account.number)
    if card.state == BoundCard.State.FAILED:
        messages.error(request, _("The card's bank did not confirm the card details."))
    else:
        messages.success(request, _("The card's bank confirmed the card details."))
    return redirect("portal:card_verify", account.number, card.pk)


def _code_error(account: Account) -> str:
    """A wrong code: how many tries are left, or that it can no longer be used."""
    otp = OneTimeCode.objects.filter(account=account, purpose=PURPOSE).order_by("-sent_at", "-pk").first()
    if otp is None or otp.revoked_at is not None or otp.used_at is not None:
        return _("The code is wrong and can no longer be used. Ask for a new one.")
    left = max(conf.otp_max_attempts() - otp.attempts, 0)
    return _("The code is wrong. %(left)d tries left.") % {"left": left}
