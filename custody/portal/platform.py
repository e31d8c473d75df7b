"""The platform portal (平台端), mounted at /portal/custody/platform/ (namespace
``custody_portal:platform``): a lending platform's users watch their pool, sub-accounts, loans and
webhooks.

Who sees what. Only a signed-in platform user whose session passed their TOTP second factor (signed
in at ``login/``); anyone else goes to that sign-in page. Every page carries the platform's code and
answers 404 unless it is the user's own platform, and every row it shows is read through that
platform (another platform's loan, delivery or endpoint is 404 too). Viewers read; finance and
owner resend webhook deliveries; the owner creates webhook endpoints (the secret is shown once).
Thin views: the figures come from ``custody.platform_users.reports``, the writes from
``backoffice.webhooks``.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from backoffice.errors import DomainError, FieldValidationError
from backoffice.models import WebhookDelivery, WebhookEndpoint
from backoffice.portal import PortalLoginView, money, render_list_page
from backoffice.webhooks import webhook_endpoint_create, webhook_resend
from custody.models import Loan, PlatformUser, SubAccount
from custody.platform_users import reports
from custody.platform_users.exports import EXPORT_FORMATS, export_sub_accounts
from custody.portal.platform_forms import EndpointForm, PlatformLoginForm, SubAccountFilterForm

PAGE_SIZE = 25
FLOW_LABELS = {
    "recharges": gettext_lazy("Recharges / 充值"),
    "withdrawals": gettext_lazy("Withdrawals / 提现"),
    "disbursements": gettext_lazy("Disbursements / 放款"),
    "repayments": gettext_lazy("Repayments / 还款"),
}
PART_LABELS = {
    **dict(SubAccount.Role.choices),
    reports.IN_FLIGHT: gettext_lazy("In-flight withdrawals / 在途提现"),
    reports.SUSPENSE: gettext_lazy("Unidentified inflows / 待认领挂账"),
}


class PlatformLoginView(PortalLoginView):
    template_name = "custody/platform/login.html"
    authentication_form = PlatformLoginForm
    redirect_authenticated_user = False

    def form_valid(self, form):
        response = super().form_valid(form)
        otp_login(self.request, form.device)
        return response

    def get_default_redirect_url(self):
        return reverse("custody_portal:platform:home")


def platform_page(*, roles: tuple[str, ...] | None = None):
    """The view runs for a verified platform user of the URL's platform (else sign-in or 404); with
    ``roles``, a user of another role gets the 403 page."""

    def decorate(view):
        @wraps(view)
        def wrapped(request: HttpRequest, code: str, *args, **kwargs):
            platform_user = _platform_user(request)
            if platform_user is None:
                return redirect_to_login(request.get_full_path(), reverse("custody_portal:platform:login"), REDIRECT_FIELD_NAME)
            if platform_user.platform.code != code:
                raise Http404(_("No such platform."))
            request.platform_user = platform_user
            if roles and platform_user.role not in roles:
                return _forbidden(request)
            return view(request, platform_user.platform, *args, **kwargs)

        return wrapped

    return decorate


def _platform_user(request: HttpRequest) -> PlatformUser | None:
    user = request.user
    if not user.is_authenticated or not user.is_verified():
        return None
    return PlatformUser.objects.select_related("platform").filter(user=user, is_active=True).first()


def _forbidden(request: HttpRequest) -> HttpResponse:
    """The 403 page: only links the user may follow (the language switch returns to the dashboard,
    not to the refused POST-only address)."""
    home_url = reverse("custody_portal:platform:dashboard", args=[request.platform_user.platform.code])
    return render(request, "custody/platform/forbidden.html", _context(request, language_next=home_url), status=403)


def _context(request: HttpRequest, **extra) -> dict:
    platform_user = request.platform_user
    return {"platform": platform_user.platform, "platform_user": platform_user, **extra}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    platform_user = _platform_user(request)
    if platform_user is None:
        return redirect("custody_portal:platform:login")
    return redirect("custody_portal:platform:dashboard", platform_user.platform.code)


@require_GET
@platform_page()
def dashboard(request: HttpRequest, platform) -> HttpResponse:
    pool = reports.pool_now(platform=platform)
    parts = [{"key": p, "label": PART_LABELS[p], "amount": money(pool[p])} for p in reports.POOL_PARTS]
    flows = [
        {"key": f.key, "label": FLOW_LABELS[f.key], "count": f.count, "amount": money(f.amount)}
        for f in reports.today_flows(platform=platform)
    ]
    history = reports.pool_history(platform=platform)
    return render(
        request,
        "custody/platform/dashboard.html",
        _context(
            request,
            section="dashboard",
            pool_total=money(pool["total"]),
            parts=parts,
            flows=flows,
            history_first=history[0].day,
            history_last=history[-1].day,
            now=timezone.localtime(),
        ),
    )


@require_GET
@platform_page()
def pool_chart(request: HttpRequest, platform) -> HttpResponse:
    """The pool over the last 30 days as SVG (day-end totals from the ledger entries)."""
    svg = reports.pool_chart_svg(history=reports.pool_history(platform=platform), title=_("Pool, last 30 days / 近30日资金池"))
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


def _sub_accounts(request: HttpRequest, platform):
    form = SubAccountFilterForm(request.GET or None)
    rows = SubAccount.objects.filter(platform=platform).select_related("account", "party").order_by("created_at", "pk")
    if form.is_bound and not form.is_valid():
        return form, None
    data = form.cleaned_data if form.is_bound else {}
    if data.get("q"):
        rows = rows.filter(Q(account__number__icontains=data["q"]) | Q(party__name__icontains=data["q"]))
    if data.get("role"):
        rows = rows.filter(role=data["role"])
    return form, rows


def _sub_account_row(sub: SubAccount) -> dict:
    return {
        "number": sub.account.number,
        "name": sub.party.name,
        "role": sub.get_role_display(),
        "state": sub.account.get_state_display(),
        "state_key": sub.account.state,
        "balance": money(sub.account.balance),
        "frozen": money(sub.account.frozen),
        "available": money(sub.account.available),
        "opened_at": timezone.localtime(sub.created_at),
    }


@require_GET
@platform_page()
def sub_accounts(request: HttpRequest, platform) -> HttpResponse:
    form, rows = _sub_accounts(request, platform)
    query = request.GET.copy()
    query.pop("page", None)
    return render_list_page(
        request,
        "custody/platform/sub_accounts.html",
        form=form,
        rows=rows,
        row=_sub_account_row,
        page_size=PAGE_SIZE,
        query=query.urlencode(),
        **_context(request, section="sub_accounts"),
    )


@require_GET
@platform_page()
def sub_accounts_export(request: HttpRequest, platform) -> HttpResponse:
    fmt = request.GET.get("format", "csv")
    if fmt not in EXPORT_FORMATS:
        return HttpResponseBadRequest(_("Unknown export format: choose CSV or XLSX."), content_type="text/plain; charset=utf-8")
    _form, rows = _sub_accounts(request, platform)
    if rows is None:
        query = request.GET.copy()
        query.pop("format", None)
        return redirect(f"{reverse('custody_portal:platform:sub_accounts', args=[platform.code])}?{query.urlencode()}")
    content, content_type, extension = export_sub_accounts(rows, fmt)
    response = HttpResponse(content, content_type=content_type)
    stamp = timezone.localtime().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="sub-accounts-{platform.code}-{stamp}.{extension}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@platform_page()
def loans(request: HttpRequest, platform) -> HttpResponse:
    state = request.GET.get("state", "")
    if state and state not in Loan.State.values:
        state = ""
    rows = (
        Loan.objects.filter(platform=platform)
        .select_related("borrower__party", "borrower__account")
        .order_by("-created_at", "-pk")
    )
    counts = {s: 0 for s in Loan.State.values}
    for value in Loan.objects.filter(platform=platform).values_list("state", flat=True):
        counts[value] += 1
    states = [{"key": key, "label": label, "count": counts[key]} for key, label in Loan.State.choices]
    page_rows = rows.filter(state=state) if state else rows

    def row(loan: Loan) -> dict:
        return {
            "pk": loan.pk,
            "reference": loan.out_request_no,
            "title": loan.title,
            "borrower": loan.borrower.party.name,
            "amount": money(loan.amount),
            "raised": money(loan.raised),
            "rate": f"{loan.annual_rate * 100:.2f} %",
            "term": loan.term_months,
            "state": loan.get_state_display(),
            "state_key": loan.state,
            "created_at": timezone.localtime(loan.created_at),
        }

    return render_list_page(
        request,
        "custody/platform/loans.html",
        form=None,
        rows=page_rows,
        row=row,
        page_size=PAGE_SIZE,
        states=states,
        state=state,
        **_context(request, section="loans"),
    )


@require_GET
@platform_page()
def loan_detail(request: HttpRequest, platform, pk: int) -> HttpResponse:
    loan = get_object_or_404(Loan.objects.select_related("borrower__party", "borrower__account"), pk=pk, platform=platform)
    schedule = [
        {
            "number": i.number,
            "due_date": i.due_date,
            "principal": money(i.principal),
            "interest": money(i.interest),
            "total": money(i.principal + i.interest),
            "state": i.get_state_display(),
            "state_key": i.state,
            "paid_at": i.paid_at and timezone.localtime(i.paid_at),
        }
        for i in loan.instalments.order_by("number")
    ]
    bids = [
        {
            "lender": b.lender.party.name,
            "number": b.lender.account.number,
            "amount": money(b.amount),
            "state": b.get_state_display(),
            "reference": b.out_request_no,
            "created_at": timezone.localtime(b.created_at),
        }
        for b in loan.bids.select_related("lender__party", "lender__account").order_by("created_at", "pk")
    ]
    return render(
        request,
        "custody/platform/loan_detail.html",
        _context(
            request,
            section="loans",
            loan=loan,
            amount=money(loan.amount),
            raised=money(loan.raised),
            service_fee=money(loan.service_fee),
            principal_repaid=money(loan.principal_repaid),
            rate=f"{loan.annual_rate * 100:.2f} %",
            schedule=schedule,
            bids=bids,
        ),
    )


@require_GET
@platform_page()
def deliveries(request: HttpRequest, platform) -> HttpResponse:
    rows = WebhookDelivery.objects.filter(owner=platform.owner).select_related("endpoint").order_by("-created_at", "-pk")

    def row(delivery: WebhookDelivery) -> dict:
        return {
            "pk": delivery.pk,
            "event": delivery.event,
            "event_id": delivery.event_id,
            "url": delivery.endpoint.url,
            "state": delivery.get_state_display(),
            "state_key": delivery.state,
            "attempts": delivery.attempts,
            "last_status": delivery.last_status,
            "last_error": delivery.last_error,
            "created_at": timezone.localtime(delivery.created_at),
            "resend_of": delivery.resend_of_id,
            "resendable": delivery.state in (WebhookDelivery.State.DELIVERED, WebhookDelivery.State.DEAD)
            and delivery.endpoint.is_active,
        }

    return render_list_page(
        request,
        "custody/platform/deliveries.html",
        form=None,
        rows=rows,
        row=row,
        page_size=PAGE_SIZE,
        **_context(request, section="webhooks"),
    )


@require_POST
@platform_page(roles=(PlatformUser.Role.OWNER, PlatformUser.Role.FINANCE))
def delivery_resend(request: HttpRequest, platform, pk: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery, pk=pk, owner=platform.owner)
    try:
        resent = webhook_resend(delivery_id=delivery.pk, actor=request.user, reason="platform portal")
    except DomainError as exc:
        messages.error(request, exc.text)
    else:
        messages.success(request, _("Delivery %(id)s queued again as delivery %(new)s.") % {"id": delivery.pk, "new": resent.pk})
    return redirect("custody_portal:platform:deliveries", platform.code)


@require_http_methods(["GET", "POST"])
@platform_page()
def endpoints(request: HttpRequest, platform) -> HttpResponse:
    can_create = request.platform_user.can_manage_endpoints
    if request.method == "POST" and not can_create:
        return _forbidden(request)
    form = EndpointForm(request.POST or None) if can_create else None
    secret = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            endpoint, secret = webhook_endpoint_create(
                owner=platform.owner,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                actor=request.user,
            )
        except FieldValidationError as exc:
            for field, reasons in exc.fields.items():
                form.add_error(field if field in form.fields else None, [str(r) for r in reasons])
        else:
            form = EndpointForm()
            messages.success(request, _("Endpoint %(id)s created.") % {"id": endpoint.pk})
    rows = WebhookEndpoint.objects.filter(owner=platform.owner).order_by("-created_at", "-pk")
    response = render(
        request,
        "custody/platform/endpoints.html",
        _context(request, section="webhooks", form=form, rows=rows, secret=secret, can_create=can_create),
    )
    response["Cache-Control"] = "no-store"
    return response


app_name = "platform"
urlpatterns = [
    path("", home, name="home"),
    path("login/", PlatformLoginView.as_view(), name="login"),
    path("<str:code>/", dashboard, name="dashboard"),
    path("<str:code>/pool.svg", pool_chart, name="pool_chart"),
    path("<str:code>/sub-accounts/", sub_accounts, name="sub_accounts"),
    path("<str:code>/sub-accounts/export/", sub_accounts_export, name="sub_accounts_export"),
    path("<str:code>/loans/", loans, name="loans"),
    path("<str:code>/loans/<int:pk>/", loan_detail, name="loan_detail"),
    path("<str:code>/webhooks/", deliveries, name="deliveries"),
    path("<str:code>/webhooks/<int:pk>/resend/", delivery_resend, name="delivery_resend"),
    path("<str:code>/webhooks/endpoints/", endpoints, name="endpoints"),
]
