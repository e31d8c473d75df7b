"""The merchant portal (商户端), mounted at /portal/merchants/ (namespace ``merchants_portal``).

Who sees what. Only a signed-in merchant user whose session passed their TOTP second factor; anyone
else goes to ``login/``. Every page carries the merchant's id and answers 404 unless it is the
user's own merchant, and every row it shows is read through that merchant (merchant B's payment,
batch, key or delivery is 404 for A's users). Viewers read; owner and finance refund and pay out,
each time with a fresh authenticator code (the sign-in factor alone does not move money); only the
owner manages API keys and webhook endpoints (secrets shown once). Thin views over
``merchants.refunds``, ``merchants.payouts``, ``merchants.reports``, ``merchants.exports``,
``backoffice.services`` and ``backoffice.webhooks``.
"""

from __future__ import annotations

import uuid
from functools import wraps

from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from backoffice.errors import DomainError, FieldValidationError
from backoffice.models import ApiClient, WebhookDelivery, WebhookEndpoint
from backoffice.portal import PortalLoginView, money, render_list_page
from backoffice.services import api_client_create, api_client_revoke
from backoffice.webhooks import webhook_endpoint_create, webhook_resend
from merchants import exports, payouts, refunds, reports, selectors
from merchants.models import MerchantPayout, MerchantUser, Payment, Refund, SettlementBatch, merchant_owner
from merchants.payments import refund_window_closes_at, refund_window_passed, refundable_cash, refundable_remaining
from merchants.portal.forms import (
    ApiKeyForm,
    EndpointForm,
    MerchantLoginForm,
    PaymentFilterForm,
    PayoutForm,
    RefundConfirmForm,
    RefundForm,
    RefundPayoutConfirmForm,
    RefundPayoutForm,
    SettlementFilterForm,
)
from merchants.users import merchant_user_verify_totp

PAGE_SIZE = 25
NS = "merchants_portal"


class MerchantLoginView(PortalLoginView):
    template_name = "merchants/portal/login.html"
    authentication_form = MerchantLoginForm
    redirect_authenticated_user = False

    def form_valid(self, form):
        response = super().form_valid(form)
        otp_login(self.request, form.device)
        return response

    def get_default_redirect_url(self):
        return reverse(f"{NS}:home")


def _merchant_user(request: HttpRequest) -> MerchantUser | None:
    user = request.user
    if not user.is_authenticated or not user.is_verified():
        return None
    return MerchantUser.objects.select_related("merchant").filter(user=user, is_active=True).first()


def merchant_page(*, roles: tuple[str, ...] | None = None):
    """The view runs for a verified merchant user of the URL's merchant (else sign-in or 404); with
    ``roles``, a user of another role gets the 403 page."""

    def decorate(view):
        @wraps(view)
        def wrapped(request: HttpRequest, merchant_id: int, *args, **kwargs):
            merchant_user = _merchant_user(request)
            if merchant_user is None:
                return redirect_to_login(request.get_full_path(), reverse(f"{NS}:login"), REDIRECT_FIELD_NAME)
            if merchant_user.merchant_id != merchant_id:
                raise Http404(_("No such merchant."))
            request.merchant_user = merchant_user
            if roles and merchant_user.role not in roles:
                return _forbidden(request)
            return view(request, merchant_user.merchant, *args, **kwargs)

        return wrapped

    return decorate


MONEY_ROLES = (MerchantUser.Role.OWNER, MerchantUser.Role.FINANCE)
OWNER = (MerchantUser.Role.OWNER,)


def _forbidden(request: HttpRequest) -> HttpResponse:
    home_url = reverse(f"{NS}:dashboard", args=[request.merchant_user.merchant_id])
    return render(request, "merchants/portal/forbidden.html", _context(request, language_next=home_url), status=403)


def _context(request: HttpRequest, **extra) -> dict:
    merchant_user = request.merchant_user
    return {"merchant": merchant_user.merchant, "merchant_user": merchant_user, **extra}


def _error_text(exc: DomainError) -> str:
    if isinstance(exc, FieldValidationError):
        return "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.fields.items()) or exc.text
    return exc.text


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    merchant_user = _merchant_user(request)
    if merchant_user is None:
        return redirect(f"{NS}:login")
    return redirect(f"{NS}:dashboard", merchant_user.merchant_id)


# -- dashboard -----------------------------------------------------------------------------------


@require_GET
@merchant_page()
def dashboard(request: HttpRequest, merchant) -> HttpResponse:
    held = reports.balances(merchant)
    today = reports.today_volume(merchant=merchant)
    history = reports.volume_history(merchant=merchant)
    return render(
        request,
        "merchants/portal/dashboard.html",
        _context(
            request,
            section="dashboard",
            today_count=today.count,
            today_amount=money(today.amount),
            pending=money(held["pending"]),
            available=money(held["available"]),
            reserve=money(held["reserve"]),
            receivable=money(held["receivable"]),
            history_first=history[0].day,
            history_last=history[-1].day,
            now=timezone.localtime(),
        ),
    )


@require_GET
@merchant_page()
def volume_chart(request: HttpRequest, merchant) -> HttpResponse:
    svg = reports.volume_chart_svg(
        history=reports.volume_history(merchant=merchant), title=_("Payments, last 30 days / 近30日收款")
    )
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


# -- payments ------------------------------------------------------------------------------------


def _payments(request: HttpRequest, merchant):
    form = PaymentFilterForm(request.GET or None)
    rows = selectors.payment_list(merchant_id=merchant.pk).order_by("-created_at", "-pk")
    if form.is_bound and not form.is_valid():
        return form, None
    data = form.cleaned_data if form.is_bound else {}
    if data.get("q"):
        q = data["q"].strip()
        rows = rows.filter(Q(out_trade_no__icontains=q) | Q(request_id__iexact=q) | Q(channel_txn_id__iexact=q))
    if data.get("state"):
        rows = rows.filter(state=data["state"])
    if data.get("method"):
        rows = rows.filter(method=data["method"])
    if data.get("date_from"):
        rows = rows.filter(business_date__gte=data["date_from"])
    if data.get("date_to"):
        rows = rows.filter(business_date__lte=data["date_to"])
    return form, rows


def _payment_row(payment: Payment) -> dict:
    return {
        "pk": payment.pk,
        "request_id": payment.request_id,
        "out_trade_no": payment.out_trade_no,
        "method": payment.get_method_display(),
        "state": payment.get_state_display(),
        "state_key": payment.state,
        "order_amount": money(payment.order_amount),
        "paid_amount": money(payment.paid_amount),
        "refunded_amount": money(payment.refunded_amount),
        "business_date": payment.business_date,
        "created_at": timezone.localtime(payment.created_at),
    }


@require_GET
@merchant_page()
def payment_list(request: HttpRequest, merchant) -> HttpResponse:
    form, rows = _payments(request, merchant)
    query = request.GET.copy()
    query.pop("page", None)
    return render_list_page(
        request,
        "merchants/portal/payments.html",
        form=form,
        rows=rows,
        row=_payment_row,
        page_size=PAGE_SIZE,
        query=query.urlencode(),
        **_context(request, section="payments"),
    )


def _export(request: HttpRequest, rows, build, name: str) -> HttpResponse:
    fmt = request.GET.get("format", "csv")
    if fmt not in exports.EXPORT_FORMATS:
        return HttpResponseBadRequest(_("Unknown export format: choose CSV or XLSX."), content_type="text/plain; charset=utf-8")
    content, content_type, extension = build(rows, fmt)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@merchant_page()
def payment_export(request: HttpRequest, merchant) -> HttpResponse:
    form, rows = _payments(request, merchant)
    if rows is None:
        return HttpResponseBadRequest(_("Correct the filters first."), content_type="text/plain; charset=utf-8")
    return _export(request, rows, exports.export_payments, f"payments-{merchant.pk}-{timezone.localdate():%Y%m%d}")


def _own_payment(merchant, pk: int) -> Payment:
    payment = selectors.payment_detail(payment_id=pk)
    if payment is None or payment.merchant_id != merchant.pk:
        raise Http404(_("No such payment."))
    return payment


def _remaining(payment: Payment):
    return refundable_remaining(payment) if payment.state == Payment.State.SUCCEEDED else None


def _payout_row(payout: MerchantPayout) -> dict:
    return {
        "request_id": payout.request_id,
        "kind": payout.get_kind_display(),
        "kind_key": payout.kind,
        "payment": payout.payment,
        "payee": f"{payout.payee_name} ****{payout.payee_account_last4}" if payout.kind == MerchantPayout.Kind.REFUND else "",
        "amount": money(payout.amount),
        "state": payout.get_state_display(),
        "state_key": payout.state,
        "batch": payout.batch_id,
        "failure_reason": payout.failure_reason
        if payout.state in (MerchantPayout.State.REJECTED, MerchantPayout.State.FAILED)
        else "",
        "not_before": timezone.localtime(payout.not_before) if payout.not_before else None,
        "created_at": timezone.localtime(payout.created_at),
    }


def _refund_payout_window(payment: Payment) -> dict:
    """Past the channel's refund window (R-REF-04) a refund payout (代付) takes the refund's place."""
    if payment.state != Payment.State.SUCCEEDED:
        return {"window_passed": False, "window_closes_at": None, "cash": None}
    return {
        "window_passed": refund_window_passed(payment),
        "window_closes_at": timezone.localtime(refund_window_closes_at(payment)),
        "cash": refundable_cash(payment),
    }


@require_GET
@merchant_page()
def payment_detail(request: HttpRequest, merchant, pk: int) -> HttpResponse:
    payment = _own_payment(merchant, pk)
    remaining = _remaining(payment)
    window = _refund_payout_window(payment)
    may_move = request.merchant_user.can_move_money
    refund_payouts = MerchantPayout.objects.filter(payment=payment, kind=MerchantPayout.Kind.REFUND).order_by("created_at", "pk")
    return render(
        request,
        "merchants/portal/payment_detail.html",
        _context(
            request,
            section="payments",
            payment=payment,
            discounts=list(payment.discounts.all()),
            refunds=list(payment.refunds.all()),
            # Past the window only a refund payout can pay: what remains is the cash it may still pay.
            remaining=money(window["cash"] if window["window_passed"] else remaining) if remaining is not None else None,
            can_refund=may_move and bool(remaining) and not window["window_passed"],
            window_passed=window["window_passed"],
            window_closes_at=window["window_closes_at"],
            refundable_cash=money(window["cash"]) if window["cash"] is not None else None,
            can_refund_payout=may_move and window["window_passed"] and bool(window["cash"]),
            refund_payouts=[_payout_row(p) for p in refund_payouts],
            money_figures={
                "order_amount": money(payment.order_amount),
                "paid_amount": money(payment.paid_amount),
                "mdr_amount": money(payment.mdr_amount),
                "refunded_amount": money(payment.refunded_amount),
                "reserved_amount": money(payment.reserved_amount),
            },
        ),
    )


def _refund_payout_payment(merchant, pk: int):
    """The merchant's payment and its window; 404 when it is not the merchant's."""
    payment = _own_payment(merchant, pk)
    return payment, _refund_payout_window(payment)


@require_http_methods(["GET", "POST"])
@merchant_page(roles=MONEY_ROLES)
def refund_payout_new(request: HttpRequest, merchant, pk: int) -> HttpResponse:
    """Step 1 of a refund payout (代付) past the channel's refund window: the payer's account, the
    amount and a reason. POST checks them and shows the confirmation (a fresh payout number and the
    authenticator field). Step 2: ``refund_payout_confirm``. Inside the window: back to the payment."""
    payment, window = _refund_payout_payment(merchant, pk)
    if not window["window_passed"]:
        messages.error(request, _("This payment can still be refunded through the channel. / 该笔支付仍可原路退款。"))
        return redirect(f"{NS}:payment_detail", merchant.pk, payment.pk)
    cash = window["cash"]
    form = RefundPayoutForm(request.POST or None, initial={"amount": cash})
    context = _context(request, section="payments", payment=payment, refundable_cash=money(cash))
    if request.method == "POST" and form.is_valid():
        amount = form.cleaned_data["amount"]
        if amount > cash:
            form.add_error(
                "amount",
                _("At most %(remaining)s can still be paid back. / 最多可退 %(remaining)s。") % {"remaining": money(cash)},
            )
        else:
            confirm = RefundPayoutConfirmForm(initial={**form.cleaned_data, "out_payout_no": f"W{uuid.uuid4().hex[:24]}"})
            return render(
                request,
                "merchants/portal/refund_payout_confirm.html",
                {**context, "form": confirm, "amount": money(amount), "data": form.cleaned_data},
            )
    return render(request, "merchants/portal/refund_payout_new.html", {**context, "form": form})


@require_POST
@merchant_page(roles=MONEY_ROLES)
def refund_payout_confirm(request: HttpRequest, merchant, pk: int) -> HttpResponse:
    payment, window = _refund_payout_payment(merchant, pk)
    form = RefundPayoutConfirmForm(request.POST)
    context = _context(request, section="payments", payment=payment, refundable_cash=money(window["cash"] or 0))
    if not form.is_valid():
        if set(form.errors) <= {"otp_token"}:
            data = form.cleaned_data
            return render(
                request,
                "merchants/portal/refund_payout_confirm.html",
                {**context, "form": form, "amount": money(data["amount"]), "data": data},
            )
        return render(request, "merchants/portal/refund_payout_new.html", {**context, "form": RefundPayoutForm(request.POST)})
    data = form.cleaned_data
    if not merchant_user_verify_totp(user=request.user, token=data["otp_token"]):
        form.add_error("otp_token", _("The authenticator code is wrong or expired. / 动态验证码错误或已过期。"))
        return render(
            request,
            "merchants/portal/refund_payout_confirm.html",
            {**context, "form": form, "amount": money(data["amount"]), "data": data},
        )
    try:
        payout = payouts.refund_payout_propose(
            payment_id=payment.pk,
            merchant_id=merchant.pk,
            amount=f"{data['amount']:.2f}",
            payee_name=data["payee_name"],
            payee_account=data["payee_account"],
            reason=data["reason"],
            out_payout_no=data["out_payout_no"],
            maker=request.user,
            origin=MerchantPayout.Origin.PORTAL,
            proposed_by_label=f"portal:{request.user.username}",
            require_window_passed=True,
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
        return redirect(f"{NS}:payment_detail", merchant.pk, payment.pk)
    messages.success(
        request,
        _(
            "Refund payout %(number)s of %(amount)s proposed: the bank checks it before paying. "
            "/ 退款代付 %(number)s（%(amount)s）已提交，待银行复核后出款。"
        )
        % {"number": payout.request_id, "amount": money(payout.amount)},
    )
    return redirect(f"{NS}:payment_detail", merchant.pk, payment.pk)


@require_http_methods(["GET", "POST"])
@merchant_page(roles=MONEY_ROLES)
def refund_new(request: HttpRequest, merchant, pk: int) -> HttpResponse:
    """Step 1: the amount and reason (GET shows the form, POST checks it and shows the confirmation
    with a fresh refund number and the authenticator field). Step 2: ``refund_confirm``."""
    payment = _own_payment(merchant, pk)
    remaining = _remaining(payment)
    form = RefundForm(request.POST or None, initial={"amount": remaining})
    context = _context(request, section="payments", payment=payment, remaining=money(remaining or 0))
    if request.method == "POST" and form.is_valid():
        amount = form.cleaned_data["amount"]
        if remaining is None or amount > remaining:
            form.add_error("amount", _("At most %(remaining)s remains refundable.") % {"remaining": money(remaining or 0)})
        else:
            confirm = RefundConfirmForm(
                initial={"amount": amount, "reason": form.cleaned_data["reason"], "out_refund_no": f"P{uuid.uuid4().hex[:24]}"}
            )
            return render(request, "merchants/portal/refund_confirm.html", {**context, "form": confirm, "amount": money(amount)})
    return render(request, "merchants/portal/refund_new.html", {**context, "form": form})


@require_POST
@merchant_page(roles=MONEY_ROLES)
def refund_confirm(request: HttpRequest, merchant, pk: int) -> HttpResponse:
    payment = _own_payment(merchant, pk)
    form = RefundConfirmForm(request.POST)
    context = _context(request, section="payments", payment=payment, remaining=money(_remaining(payment) or 0))
    if not form.is_valid():
        return render(request, "merchants/portal/refund_new.html", {**context, "form": RefundForm(request.POST)})
    amount = form.cleaned_data["amount"]
    if not merchant_user_verify_totp(user=request.user, token=form.cleaned_data["otp_token"]):
        form.add_error("otp_token", _("The authenticator code is wrong or expired. / 动态验证码错误或已过期。"))
        return render(request, "merchants/portal/refund_confirm.html", {**context, "form": form, "amount": money(amount)})
    try:
        refund = refunds.refund_create(
            payment_id=payment.pk,
            merchant_id=merchant.pk,
            client=f"portal:{merchant_owner(merchant.pk)}",
            out_refund_no=form.cleaned_data["out_refund_no"],
            amount=f"{amount:.2f}",
            reason=form.cleaned_data["reason"],
            actor_label=f"merchant user {request.user.username}",
        )
    except DomainError as exc:
        messages.error(request, _error_text(exc))
        return redirect(f"{NS}:payment_detail", merchant.pk, payment.pk)
    refund = Refund.objects.get(pk=refund.pk)  # the state reached by now (submitted after the commit)
    messages.success(
        request,
        _("Refund %(number)s of %(amount)s: %(state)s.")
        % {"number": refund.out_refund_no, "amount": money(refund.amount), "state": Refund.State(refund.state).label},
    )
    return redirect(f"{NS}:payment_detail", merchant.pk, payment.pk)


# -- settlements ---------------------------------------------------------------------------------


def _batch_row(batch: SettlementBatch) -> dict:
    return {
        "pk": batch.pk,
        "business_date": batch.business_date,
        "settle_date": batch.settle_date,
        "channel": batch.channel.code,
        "state": batch.get_state_display(),
        "state_key": batch.state,
        "payment_count": batch.payment_count,
        "net_amount": money(batch.net_amount),
        "held_amount": money(batch.held_amount),
        "reserve_amount": money(batch.reserve_amount),
        "available_amount": money(batch.available_amount),
    }


@require_GET
@merchant_page()
def settlement_list(request: HttpRequest, merchant) -> HttpResponse:
    form = SettlementFilterForm(request.GET or None)
    rows = None
    if not form.is_bound or form.is_valid():
        data = form.cleaned_data if form.is_bound else {}
        rows = selectors.settlement_list(
            merchant_ids=[merchant.pk], state=data.get("state"), date_from=data.get("date_from"), date_to=data.get("date_to")
        )
    return render_list_page(
        request,
        "merchants/portal/settlements.html",
        form=form,
        rows=rows,
        row=_batch_row,
        page_size=PAGE_SIZE,
        **_context(request, section="settlements"),
    )


def _own_batch(merchant, pk: int) -> SettlementBatch:
    batch = selectors.settlement_detail(settlement_id=pk, merchant_id=merchant.pk)
    if batch is None:
        raise Http404(_("No such settlement."))
    return batch


@require_GET
@merchant_page()
def settlement_detail(request: HttpRequest, merchant, pk: int) -> HttpResponse:
    batch = _own_batch(merchant, pk)
    return render(
        request,
        "merchants/portal/settlement_detail.html",
        _context(request, section="settlements", batch=batch, row=_batch_row(batch), items=list(batch.items.all())),
    )


@require_GET
@merchant_page()
def settlement_statement(request: HttpRequest, merchant, pk: int) -> HttpResponse:
    batch = _own_batch(merchant, pk)
    return _export(request, batch, exports.export_statement, f"statement-{merchant.pk}-{batch.business_date:%Y%m%d}-{batch.pk}")


# -- payouts -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@merchant_page()
def payout_list(request: HttpRequest, merchant) -> HttpResponse:
    """The merchant's payouts; owner and finance pay the available balance out (with a fresh code)."""
    can_pay = request.merchant_user.can_move_money
    form = PayoutForm(request.POST or None)
    if request.method == "POST":
        if not can_pay:
            return _forbidden(request)
        if form.is_valid() and merchant_user_verify_totp(user=request.user, token=form.cleaned_data["otp_token"]):
            with transaction.atomic():
                payout = payouts.settlement_payout_create(merchant_id=merchant.pk)
            if payout is None:
                messages.error(
                    request,
                    _(
                        "Nothing was paid out: no available balance, no verified settlement account or no standing "
                        "settlement authorisation. / 未出款：无可用余额、结算账户未验证或无结算授权。"
                    ),
                )
            else:
                messages.success(
                    request,
                    _("Payout %(number)s of %(amount)s: %(state)s.")
                    % {"number": payout.request_id, "amount": money(payout.amount), "state": payout.get_state_display()},
                )
            return redirect(f"{NS}:payouts", merchant.pk)
        form.add_error("otp_token", _("The authenticator code is wrong or expired. / 动态验证码错误或已过期。"))
    rows = MerchantPayout.objects.filter(merchant=merchant).select_related("payment").order_by("-created_at", "-pk")
    return render_list_page(
        request,
        "merchants/portal/payouts.html",
        form=form,
        rows=rows,
        row=_payout_row,
        page_size=PAGE_SIZE,
        can_pay=can_pay,
        available=money(reports.balances(merchant)["available"]),
        account=merchant.settlement_card,
        **_context(request, section="payouts"),
    )


# -- developer settings --------------------------------------------------------------------------


def _keys(merchant):
    prefix = f"merchant-{merchant.pk}-"
    own = f"merchant:{merchant.pk}"
    return [
        c
        for c in ApiClient.objects.filter(name__startswith=prefix).order_by("-created_at", "-pk")
        if c.scopes and all(s == own or s.startswith(own + ":") for s in c.scopes)
    ]


def _developers(request: HttpRequest, merchant, *, key_form=None, endpoint_form=None, secret=None, status=200):
    owner = merchant_owner(merchant.pk)
    endpoints = list(WebhookEndpoint.objects.filter(owner=owner).order_by("-created_at", "-pk"))
    deliveries = list(
        WebhookDelivery.objects.filter(endpoint__owner=owner).select_related("endpoint").order_by("-created_at", "-pk")[:50]
    )
    return render(
        request,
        "merchants/portal/developers.html",
        _context(
            request,
            section="developers",
            keys=_keys(merchant),
            endpoints=endpoints,
            deliveries=deliveries,
            key_form=key_form or ApiKeyForm(),
            endpoint_form=endpoint_form or EndpointForm(),
            secret=secret,
            is_owner=request.merchant_user.is_owner,
            can_resend=request.merchant_user.can_move_money,
        ),
        status=status,
    )


@require_GET
@merchant_page()
def developers(request: HttpRequest, merchant) -> HttpResponse:
    return _developers(request, merchant)


@require_POST
@merchant_page(roles=OWNER)
def api_key_create(request: HttpRequest, merchant) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _developers(request, merchant, key_form=form, status=400)
    scopes = [f"merchant:{merchant.pk}:{scope}" for scope in form.cleaned_data["scopes"]]
    name = f"merchant-{merchant.pk}-{form.cleaned_data['label']}"
    try:
        client, secret = api_client_create(name=name, scopes=scopes, actor=request.user)
    except ValueError as exc:
        form.add_error("label", str(exc))
        return _developers(request, merchant, key_form=form, status=400)
    return _developers(request, merchant, secret={"kind": "key", "id": client.client_id, "secret": secret})


@require_POST
@merchant_page(roles=OWNER)
def api_key_revoke(request: HttpRequest, merchant, pk: int) -> HttpResponse:
    if pk not in {c.pk for c in _keys(merchant)}:
        raise Http404(_("No such key."))
    api_client_revoke(client_pk=pk, actor=request.user, reason="revoked in the merchant portal")
    messages.success(request, _("The key was revoked. / 密钥已停用。"))
    return redirect(f"{NS}:developers", merchant.pk)


@require_POST
@merchant_page(roles=OWNER)
def endpoint_create(request: HttpRequest, merchant) -> HttpResponse:
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _developers(request, merchant, endpoint_form=form, status=400)
    try:
        endpoint, secret = webhook_endpoint_create(
            owner=merchant_owner(merchant.pk),
            url=form.cleaned_data["url"],
            event_types=form.cleaned_data["event_types"],
            description=form.cleaned_data["description"],
            actor=request.user,
        )
    except (ValueError, DomainError) as exc:
        form.add_error("url", str(getattr(exc, "message", exc)))
        return _developers(request, merchant, endpoint_form=form, status=400)
    return _developers(request, merchant, secret={"kind": "webhook", "id": endpoint.url, "secret": secret})


@require_POST
@merchant_page(roles=MONEY_ROLES)
def delivery_resend(request: HttpRequest, merchant, pk: int) -> HttpResponse:
    delivery = WebhookDelivery.objects.filter(pk=pk, endpoint__owner=merchant_owner(merchant.pk)).first()
    if delivery is None:
        raise Http404(_("No such delivery."))
    try:
        webhook_resend(delivery_id=delivery.pk, actor=request.user, reason="merchant portal")
        messages.success(request, _("Sent again. / 已重新发送。"))
    except DomainError as exc:
        messages.error(request, _error_text(exc))
    return redirect(f"{NS}:developers", merchant.pk)
