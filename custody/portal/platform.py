"""The platform portal (平台端), mounted at /portal/custody/platform/ (namespace
``custody_portal:platform``): a lending platform's users watch their pool, sub-accounts, loans and
webhooks.

Who sees what. Only a signed-in platform user whose session passed their TOTP second factor (signed
in at ``login/``); anyone else goes to that sign-in page. Every page carries the platform's code and
answers 404 unless it is the user's own platform, and every row it shows is read through that
platform (another platform's loan, delivery or endpoint is 404 too). Viewers read; finance and
owner resend webhook deliveries and upload the daily reconciliation file; the owner creates
webhook endpoints (the secret is shown once). Thin views: the figures come from
``custody.platform_users.reports``, ``custody.fees.selectors`` and
``custody.reconciliation.selectors``, the writes from ``backoffice.webhooks`` and
``custody.reconciliation.services``.
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

from backoffice.dates import business_date
from backoffice.errors import DomainError, FieldValidationError
from backoffice.models import WebhookDelivery, WebhookEndpoint
from backoffice.portal import PortalLoginView, money, render_list_page
from backoffice.webhooks import webhook_endpoint_create, webhook_resend
from custody.fees import selectors as fee_selectors
from custody.fees import tiers
from custody.fees.exports import XLSX, export_invoices_xlsx, invoice_print_context
from custody.fees.models import FeeInvoice
from custody.models import Loan, PlatformUser, SubAccount
from custody.platform_users import reports
from custody.platform_users.exports import EXPORT_FORMATS, export_sub_accounts
from custody.portal.platform_forms import EndpointForm, PlatformLoginForm, ReconciliationUploadForm, SubAccountFilterForm
from custody.reconciliation import files as reconciliation_files
from custody.reconciliation import selectors as reconciliation_selectors
from custody.reconciliation.errors import ReconciliationFileInvalidError
from custody.reconciliation.models import ReconciliationFile, ReconciliationItem
from custody.reconciliation.services import reconciliation_file_import

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


# -- custody fees (存管费) ----------------------------------------------------------------------------


def _band_rows(schedule) -> list[dict]:
    bands = list(schedule.bands.all())
    unit = "%" if schedule.unit == "percent" else _("yuan per item / 元/笔")
    rows = []
    for index, band in enumerate(bands):
        upper = bands[index + 1].lower_bound if index + 1 < len(bands) else None
        rows.append(
            {
                "lower": money(band.lower_bound),
                "upper": money(upper) if upper is not None else "",
                "rate": f"{band.rate.normalize():f} {unit}" if schedule.unit == "percent" else f"{band.rate:,.2f} {unit}",
            }
        )
    return rows


def _schedule_summary(schedule) -> dict:
    return {
        "version": schedule.version,
        "state": schedule.get_state_display(),
        "state_key": schedule.state,
        "basis": schedule.get_basis_display(),
        "mode": schedule.get_mode_display(),
        "day_count": schedule.get_day_count_display(),
        "rounding": schedule.get_rounding_display(),
        "effective_from": schedule.effective_from,
        "monthly_minimum": money(schedule.monthly_minimum),
        "annual_minimum": money(schedule.annual_minimum),
        "onboarding_fee": money(schedule.onboarding_fee),
        "annual_fixed_fee": money(schedule.annual_fixed_fee),
        "per_withdrawal_fee": money(schedule.per_withdrawal_fee),
        "per_withdrawal_payer": schedule.get_per_withdrawal_payer_display(),
        "vat_inclusive": schedule.vat_inclusive,
        "bands": _band_rows(schedule),
    }


@require_GET
@platform_page()
def fees(request: HttpRequest, platform) -> HttpResponse:
    """This month's accruals to date (per day, and their total as the invoice will count it: Σ of
    the rounded days, or the unrounded ones rounded once, by the schedule's rounding), the schedule
    in force with its bands, the schedule history and the invoices."""
    today = business_date(timezone.now())
    month = fee_selectors.month_start(today)
    rows = list(fee_selectors.accruals(platform=platform, date_from=month, date_to=today))
    in_force = fee_selectors.schedule_in_force(platform=platform, day=today)
    history = fee_selectors.schedule_history(platform=platform).prefetch_related("bands").order_by("-version")
    invoice_rows = [
        {
            "number": invoice.number,
            "month": invoice.month,
            "issued_on": invoice.issued_on,
            "due_on": invoice.due_on,
            "total": money(invoice.total),
            "state": invoice.get_state_display(),
            "state_key": invoice.state,
        }
        for invoice in fee_selectors.invoices(platform=platform)
    ]
    return render(
        request,
        "custody/platform/fees.html",
        _context(
            request,
            section="fees",
            month=month,
            today=today,
            accruals=[
                {
                    "day": a.business_date,
                    "basis": money(a.basis_amount),
                    "version": a.schedule.version,
                    "days_in_year": a.days_in_year,
                    "fee": money(a.fee),
                }
                for a in rows
            ],
            accrued_total=money(
                tiers.month_total(
                    [a.fee_exact for a in rows], [a.fee for a in rows], round_daily=in_force.round_daily if in_force else True
                )
            ),
            round_daily=in_force.round_daily if in_force else True,
            in_force=_schedule_summary(in_force) if in_force else None,
            history=[_schedule_summary(s) for s in history],
            invoices=invoice_rows,
        ),
    )


@require_GET
@platform_page()
def invoice_print(request: HttpRequest, platform, number: str) -> HttpResponse:
    invoice = fee_selectors.invoice_get(platform=platform, number=number)
    if invoice is None:
        raise Http404(_("No such invoice."))
    return render(
        request,
        "custody/fees/invoice_print.html",
        {**invoice_print_context(invoice), "back_url": reverse("custody_portal:platform:fees", args=[platform.code])},
    )


@require_GET
@platform_page()
def invoices_export(request: HttpRequest, platform) -> HttpResponse:
    """The platform's invoices (one, with ``?number=``) as XLSX: one row per line, amounts as numbers."""
    rows = FeeInvoice.objects.filter(platform=platform)
    number = request.GET.get("number", "")
    if number:
        rows = rows.filter(number=number)
        if not rows.exists():
            raise Http404(_("No such invoice."))
    response = HttpResponse(export_invoices_xlsx(rows), content_type=XLSX)
    name = number or f"custody-fee-invoices-{platform.code}"
    response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
    response["Cache-Control"] = "no-store"
    return response


# -- reconciliation (对账) ---------------------------------------------------------------------------

UPLOADERS = (PlatformUser.Role.OWNER, PlatformUser.Role.FINANCE)


def _item_row(item: ReconciliationItem) -> dict:
    difference = item.difference
    return {
        "line": item.line,
        "kind": item.get_kind_display(),
        "type": item.get_instruction_type_display() if item.instruction_type else "",
        "reference": item.out_request_no,
        "sub_account": item.sub_account,
        "platform_amount": money(item.platform_amount) if item.platform_amount is not None else "",
        "bank_amount": money(item.bank_amount) if item.bank_amount is not None else "",
        "difference": money(difference) if difference is not None else "",
        "platform_state": item.platform_state,
        "bank_state": item.bank_state,
        "result": item.get_result_display(),
        "result_key": item.result,
        "note": item.note,
    }


@require_GET
@platform_page()
def reconciliation(request: HttpRequest, platform) -> HttpResponse:
    """Results per day (newest first) with each unreconciled day's differences listed."""
    days = reconciliation_selectors.reconciliation_days(platform=platform).select_related("file")

    def row(day) -> dict:
        differences = []
        if day.differences:
            items = reconciliation_selectors.day_items(day=day).filter(result__in=ReconciliationItem.DIFFERENCES)
            differences = [_item_row(item) for item in items]
        return {
            "day": day.business_date,
            "state": day.get_state_display(),
            "state_key": day.state,
            "matched": day.matched,
            "long": day.long,
            "short": day.short,
            "mismatch": day.mismatch,
            "timing": day.timing,
            "lines": day.file.lines if day.file else None,
            "compared_at": day.reconciled_at and timezone.localtime(day.reconciled_at),
            "differences": differences,
        }

    return render_list_page(
        request,
        "custody/platform/reconciliation.html",
        form=None,
        rows=days,
        row=row,
        page_size=PAGE_SIZE,
        can_upload=request.platform_user.role in UPLOADERS,
        **_context(request, section="reconciliation"),
    )


@require_http_methods(["GET", "POST"])
@platform_page(roles=UPLOADERS)
def reconciliation_upload(request: HttpRequest, platform) -> HttpResponse:
    """Finance and owner upload the daily file; every bad line is listed with its number, and a file
    with any bad line stores nothing (the service refuses it whole)."""
    form = ReconciliationUploadForm(request.POST or None, request.FILES or None)
    line_errors = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > reconciliation_files.MAX_BYTES:
            form.add_error("file", _("The file is larger than 20 MB. / 文件超过 20 MB。"))
        else:
            try:
                file, created = reconciliation_file_import(
                    platform=platform,
                    content=upload.read(),
                    source=ReconciliationFile.Source.PORTAL,
                    actor=request.user,
                )
            except ReconciliationFileInvalidError as exc:
                line_errors = exc.data.get("errors") or []
                form.add_error(None, exc.text)
            except DomainError as exc:
                form.add_error(None, exc.text)
            else:
                day = reconciliation_selectors.reconciliation_day_get(platform=platform, day=file.business_date)
                if created:
                    messages.success(
                        request,
                        _("File for %(day)s imported: %(state)s. / 对账文件已导入。")
                        % {"day": file.business_date.isoformat(), "state": day.get_state_display()},
                    )
                else:
                    messages.info(request, _("This file was already imported; nothing changed. / 该文件已导入过，未作更改。"))
                return redirect("custody_portal:platform:reconciliation", platform.code)
    return render(
        request,
        "custody/platform/reconciliation_upload.html",
        _context(
            request, section="reconciliation", form=form, line_errors=line_errors, header=",".join(reconciliation_files.HEADER)
        ),
        status=422 if line_errors else 200,
    )


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
    path("<str:code>/fees/", fees, name="fees"),
    path("<str:code>/fees/invoices/export/", invoices_export, name="invoices_export"),
    path("<str:code>/fees/invoices/<str:number>/", invoice_print, name="invoice_print"),
    path("<str:code>/reconciliation/", reconciliation, name="reconciliation"),
    path("<str:code>/reconciliation/upload/", reconciliation_upload, name="reconciliation_upload"),
]
