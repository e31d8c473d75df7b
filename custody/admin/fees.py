"""Custody fees (存管费) in the operator console: schedules (editor with bands inline, history,
maker-checker approval), the fee simulator with a server-drawn SVG chart, accruals per platform,
invoices (XLSX export, printable HTML, collection).

- A draft schedule is edited in place (reference data, bands inline); once submitted it is read-only
  and an approved one is never edited: "New version" copies it into a draft that supersedes it from
  its own effective date. Every step goes through ``custody.fees.services`` and is audited.
- The maker (``custody.change_feeschedule``: operators) submits; the checker
  (``custody.review_feeschedule``: supervisors) decides on the review page, which starts empty;
  the service refuses the maker as checker (``maker_checker_violation``).
- The simulator needs no JavaScript and no CDN: the chart is an inline SVG drawn here.
- Schedule files (django-import-export's XLSX and CSV): a version exports as one row per band
  (``custody.fees.exports.export_schedule``); an import never writes into an existing version: the
  file is checked row by row (errors shown line by line, nothing stored), previewed, and only on
  confirmation becomes a **new draft** (``services.fee_schedule_import``, one transaction), which
  then goes through submit → review like any draft. Exports use ``SafeExportResource``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.audit import audit_record
from backoffice.console import ConsoleView, DecisionForm, DecisionView, ViewOnlyAdmin, ViewOnlyInline, refusal_text
from backoffice.dates import business_date
from backoffice.errors import DomainError
from backoffice.money import MoneyError, parse_amount
from custody.fees import selectors, services, tiers
from custody.fees.exports import export_invoices_xlsx, export_schedule, invoice_print_context
from custody.fees.imports import COLUMNS, MAX_BYTES, read_schedule_file
from custody.fees.models import FeeAccrual, FeeBand, FeeInvoice, FeeInvoiceLine, FeeSchedule

CHANGE_PERMISSION = "custody.change_feeschedule"
REVIEW_PERMISSION = "custody.review_feeschedule"
ADD_PERMISSION = "custody.add_feeschedule"
VIEW_PERMISSION = "custody.view_feeschedule"
IMPORT_SALT = "custody.fees.schedule-import"
VIEW_INVOICE_PERMISSION = "custody.view_feeinvoice"

CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 640, 280, 50


def _schedule_url(schedule: FeeSchedule) -> str:
    return reverse("admin:custody_feeschedule_change", args=[schedule.pk])


# -- the schedule editor ----------------------------------------------------------------------------


class FeeBandInline(admin.TabularInline):
    model = FeeBand
    extra = 1
    fields = ("lower_bound", "rate")

    def has_add_permission(self, request, obj=None):
        return (obj is None or obj.state == FeeSchedule.State.DRAFT) and request.user.has_perm(CHANGE_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.has_add_permission(request, obj)


@admin.register(FeeSchedule)
class FeeScheduleAdmin(admin.ModelAdmin):
    list_display = ("platform", "version", "state", "basis", "mode", "day_count", "effective_from", "reviewed_by")
    list_filter = ("state", "basis", "mode", "platform")
    search_fields = ("=platform__code", "platform__name")
    ordering = ("platform__code", "-version")
    list_select_related = ("platform", "reviewed_by")
    inlines = [FeeBandInline]
    change_form_template = "custody/fees/schedule_change_form.html"
    change_list_template = "custody/fees/schedule_change_list.html"
    fields = (
        "platform",
        "basis",
        "mode",
        "day_count",
        "rounding",
        "monthly_minimum",
        "annual_minimum",
        "onboarding_fee",
        "annual_fixed_fee",
        "per_withdrawal_fee",
        "per_withdrawal_payer",
        "vat_inclusive",
        "effective_from",
        "version",
        "state",
        "supersedes",
        "created_by",
        "submitted_by",
        "submitted_at",
        "reviewed_by",
        "reviewed_at",
        "review_note",
    )
    TRACE = (
        "version",
        "state",
        "supersedes",
        "created_by",
        "submitted_by",
        "submitted_at",
        "reviewed_by",
        "reviewed_at",
        "review_note",
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.TRACE
        if obj.state != FeeSchedule.State.DRAFT:
            return self.fields
        return ("platform", *self.TRACE)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.state != FeeSchedule.State.DRAFT:
            return False  # submitted or approved: never edited; a new version supersedes it
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """A draft is reference data: saved here, the change audited; bands follow (save_related).
        The services validate it (mode, bands) when it is submitted."""
        if not change:
            obj.version = services.fee_schedule_next_version(platform=obj.platform)
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action=f"custody.fee_schedule.{'update' if change else 'create'}",
            target=obj,
            data={"platform": obj.platform.code, "version": obj.version, "fields": sorted(form.changed_data)},
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/review/", wrap(ScheduleReviewView.as_view(model_admin=self)), name="custody_feeschedule_review"),
            path(
                "<int:pk>/submit/",
                wrap(ScheduleActionView.as_view(model_admin=self, action="submit")),
                name="custody_feeschedule_submit",
            ),
            path(
                "<int:pk>/new-version/",
                wrap(ScheduleActionView.as_view(model_admin=self, action="new_version")),
                name="custody_feeschedule_new_version",
            ),
            path("<int:pk>/simulate/", wrap(SimulatorView.as_view(model_admin=self)), name="custody_feeschedule_simulate"),
            path(
                "<int:pk>/export/<str:fmt>/",
                wrap(ScheduleExportView.as_view(model_admin=self)),
                name="custody_feeschedule_export",
            ),
            path("import/", wrap(ScheduleImportView.as_view(model_admin=self)), name="custody_feeschedule_import"),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["can_import"] = can_import(request.user)
        return super().changelist_view(request, extra_context=extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        schedule = FeeSchedule.objects.filter(pk=object_id).select_related("platform").first()
        extra_context = dict(extra_context or {})
        if schedule is not None:
            extra_context["history"] = selectors.schedule_history(platform=schedule.platform)
            extra_context["schedule_actions"] = self.actions_for(request, schedule)
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def actions_for(self, request, schedule):
        pk = schedule.pk
        found = [
            (_("Fee simulator / 费用试算"), reverse("admin:custody_feeschedule_simulate", args=[pk]), "get"),
            (_("Export (XLSX) / 导出（XLSX）"), reverse("admin:custody_feeschedule_export", args=[pk, "xlsx"]), "get"),
            (_("Export (CSV) / 导出（CSV）"), reverse("admin:custody_feeschedule_export", args=[pk, "csv"]), "get"),
        ]
        if schedule.state == FeeSchedule.State.DRAFT and request.user.has_perm(CHANGE_PERMISSION):
            found.append((_("Submit for approval / 提交复核"), reverse("admin:custody_feeschedule_submit", args=[pk]), "post"))
        if schedule.state == FeeSchedule.State.PENDING_APPROVAL and request.user.has_perm(REVIEW_PERMISSION):
            found.append((_("Review / 复核"), reverse("admin:custody_feeschedule_review", args=[pk]), "get"))
        if schedule.state == FeeSchedule.State.APPROVED and request.user.has_perm(CHANGE_PERMISSION):
            found.append((_("New version / 新建版本"), reverse("admin:custody_feeschedule_new_version", args=[pk]), "post"))
        return found


class ScheduleActionView(ConsoleView):
    """POST only: submit a draft, or copy an approved schedule into a new draft version."""

    action = ""

    def post(self, request, pk):
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        schedule = get_object_or_404(FeeSchedule, pk=pk)
        try:
            if self.action == "submit":
                schedule = services.fee_schedule_submit(schedule_id=schedule.pk, actor=request.user)
                messages.success(request, gettext("Submitted for approval. / 已提交复核。"))
            else:
                effective = max(business_date(timezone.now()) + dt.timedelta(days=1), schedule.effective_from)
                schedule = services.fee_schedule_new_version(
                    schedule_id=schedule.pk, effective_from=effective, actor=request.user
                )
                messages.success(request, gettext("New draft version created. / 已新建草稿版本。"))
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
        return HttpResponseRedirect(_schedule_url(schedule))


# -- schedule files (export, import into a new draft) --------------------------------------------


def can_import(user) -> bool:
    return user.has_perm(ADD_PERMISSION) and user.has_perm(CHANGE_PERMISSION)


class ScheduleExportView(ConsoleView):
    """GET: a schedule version as XLSX or CSV, one row per band (audited)."""

    def get(self, request, pk, fmt):
        if not request.user.has_perm(VIEW_PERMISSION):
            raise PermissionDenied
        if fmt not in ("xlsx", "csv"):
            raise Http404
        schedule = get_object_or_404(FeeSchedule.objects.select_related("platform"), pk=pk)
        content, content_type, filename = export_schedule(schedule, fmt)
        audit_record(
            actor=request.user,
            action="custody.fee_schedule.export",
            target=schedule,
            data={"platform": schedule.platform.code, "version": schedule.version, "format": fmt},
        )
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class ScheduleImportForm(forms.Form):
    file = forms.FileField(
        label=_("Schedule file (.xlsx or .csv) / 方案文件（.xlsx 或 .csv）"),
        help_text=_(
            "One row per band, as the export writes it. It becomes a new draft version; nothing is stored "
            "before you confirm. / 每档一行，格式同导出文件。导入生成新的草稿版本，确认前不保存任何数据。"
        ),
    )


class ScheduleImportView(ConsoleView):
    """Import a schedule file into a new draft version, in two steps like import-export's own:
    upload → the file checked row by row (errors line by line) and previewed, nothing stored →
    confirm → ``services.fee_schedule_import`` (one transaction) → the draft's page, from where it
    is submitted for approval as usual."""

    template_name = "custody/fees/schedule_import.html"

    def _check(self, request):
        if not can_import(request.user):
            raise PermissionDenied

    def get(self, request):
        self._check(request)
        return self.page(request, ScheduleImportForm())

    def page(self, request, form, *, parsed=None, payload="", filename="", status=200):
        preview = None
        if parsed is not None and parsed.ok:
            labels = {name: str(FeeSchedule._meta.get_field(name).verbose_name) for name in parsed.fields}
            shown = []
            for name, value in parsed.fields.items():
                field = FeeSchedule._meta.get_field(name)
                if field.choices:
                    value = dict(field.flatchoices).get(value, value)
                elif isinstance(value, bool):
                    value = gettext("Yes / 是") if value else gettext("No / 否")
                elif isinstance(value, Decimal):
                    value = f"{value:,.2f}"
                shown.append((labels[name], value))
            preview = {
                "platform": parsed.platform,
                "version": services.fee_schedule_next_version(platform=parsed.platform),
                "fields": shown,
                "bands": [{"lower": f"{band.lower:,.2f}", "rate": f"{band.rate}"} for band in parsed.bands],
            }
        return self.render(
            request,
            status=status,
            title=gettext("Import a fee schedule / 导入存管费方案"),
            form=form,
            errors=parsed.errors if parsed is not None else [],
            preview=preview,
            payload=payload,
            filename=filename,
            columns=list(COLUMNS.values()),
        )

    def post(self, request):
        self._check(request)
        if "confirm" in request.POST:
            return self.confirm(request)
        form = ScheduleImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.page(request, form, status=400)
        upload = form.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            form.add_error("file", gettext("The file is larger than 1 MB. / 文件超过1MB。"))
            return self.page(request, form, status=400)
        content = upload.read()
        parsed = read_schedule_file(content, upload.name)
        if not parsed.ok:
            return self.page(request, ScheduleImportForm(), parsed=parsed, filename=upload.name, status=400)
        payload = signing.dumps(
            {"name": upload.name, "content": base64.b64encode(content).decode("ascii")}, salt=IMPORT_SALT, compress=True
        )
        return self.page(request, ScheduleImportForm(), parsed=parsed, payload=payload, filename=upload.name)

    def confirm(self, request):
        try:
            data = signing.loads(request.POST.get("payload", ""), salt=IMPORT_SALT, max_age=3600)
            content = base64.b64decode(data["content"], validate=True)
            filename = str(data["name"])
        except (signing.BadSignature, KeyError, TypeError, ValueError, binascii.Error):
            messages.error(request, gettext("The preview has expired; upload the file again. / 预览已失效，请重新上传。"))
            return HttpResponseRedirect(reverse("admin:custody_feeschedule_import"))
        parsed = read_schedule_file(content, filename)  # checked again: the platforms may have changed
        if not parsed.ok:
            return self.page(request, ScheduleImportForm(), parsed=parsed, filename=filename, status=400)
        try:
            draft = services.fee_schedule_import(
                platform=parsed.platform, bands=parsed.bands, actor=request.user, source=filename, **parsed.fields
            )
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
            return self.page(request, ScheduleImportForm(), status=400)
        messages.success(
            request,
            gettext(
                "Imported as draft v%(version)s; submit it for approval when ready. / 已导入为草稿 v%(version)s，请提交复核。"
            )
            % {"version": draft.version},
        )
        return HttpResponseRedirect(_schedule_url(draft))


class ScheduleReviewForm(DecisionForm):
    decision = forms.ChoiceField(
        label=_("decision / 复核结论"),
        choices=[("approve", _("Approve / 同意生效")), ("reject", _("Return to the maker / 退回"))],
        widget=forms.RadioSelect,  # starts empty: the checker chooses
    )
    note = forms.CharField(
        label=_("Note / 复核意见"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Required to return; recorded in the audit log. / 退回时必填，记入审计日志。"),
    )
    reason_needed = _("Returning the schedule needs a reason. / 退回必须填写原因。")


class ScheduleReviewView(DecisionView):
    """The checker's page: the schedule, its bands, the version in force it would supersede."""

    template_name = "custody/fees/review.html"
    permission = REVIEW_PERMISSION
    form_class = ScheduleReviewForm
    url_name = "admin:custody_feeschedule_review"

    def get_object(self, pk):
        return get_object_or_404(FeeSchedule.objects.select_related("platform", "created_by", "submitted_by"), pk=pk)

    def page(self, request, schedule, form):
        return self.render(
            request,
            title=gettext("Review fee schedule %(code)s v%(version)s / 复核存管费方案")
            % {"code": schedule.platform.code, "version": schedule.version},
            original=schedule,
            schedule=schedule,
            bands=list(schedule.bands.all()),
            in_force=selectors.schedule_in_force(platform=schedule.platform, day=business_date(timezone.now())),
            form=form,
            is_maker=request.user.pk in (schedule.created_by_id, schedule.submitted_by_id),
        )

    def decide(self, request, schedule, decision, note):
        if decision == "approve":
            services.fee_schedule_approve(schedule_id=schedule.pk, actor=request.user, note=note)
        else:
            services.fee_schedule_reject(schedule_id=schedule.pk, actor=request.user, note=note)

    def decided(self, request, schedule, decision):
        text = "Schedule approved. / 方案已生效。" if decision == "approve" else "Schedule returned to the maker. / 方案已退回。"
        messages.success(request, gettext(text))
        return HttpResponseRedirect(_schedule_url(schedule))


# -- the simulator ----------------------------------------------------------------------------------


def chart(schedule: FeeSchedule, pool: Decimal | None, day: dt.date) -> dict:
    """An inline SVG chart of the daily fee (annual charge ÷ N for a balance basis) against the basis,
    from 0 to twice the entered pool or 1.5 × the highest band bound: a polyline and axis ticks."""
    bands = schedule.tier_bands()
    highest = max((band.lower for band in bands), default=Decimal(0))
    top = max(pool * 2 if pool else Decimal(0), highest * Decimal("1.5"), Decimal("1000000"))
    n = tiers.days_in_year(day, schedule.day_count) if schedule.is_balance_basis else 1
    points = [(x, y / n) for x, y in tiers.curve(bands, schedule.mode, top=top, points=80, unit=schedule.unit)]
    y_top = max((y for _x, y in points), default=Decimal(0)) or Decimal(1)
    width, height, margin = CHART_WIDTH - 2 * CHART_MARGIN, CHART_HEIGHT - 2 * CHART_MARGIN, CHART_MARGIN

    def sx(x):
        return margin + float(x / top) * width

    def sy(y):
        return margin + height - float(y / y_top) * height

    polyline = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    marker = None
    if pool is not None and pool <= top:
        marker = {"x": f"{sx(pool):.1f}", "y": f"{sy(tiers.charge(pool, bands, schedule.mode, unit=schedule.unit) / n):.1f}"}
    ticks = [{"x": f"{sx(top * i / 4):.1f}", "label": f"{(top * i / 4):,.0f}"} for i in range(5)]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "polyline": polyline,
        "marker": marker,
        "x_ticks": ticks,
        "y_top_label": f"{tiers.fen(y_top):,.2f}",
        "y_top": f"{margin}",
        "x_axis_y": f"{margin + height}",
        "x_end": f"{margin + width}",
        "margin": margin,
    }


class SimulatorView(ConsoleView):
    """Enter a pool size (or a flow amount or count): each band's part, the annual and daily fee, a chart."""

    template_name = "custody/fees/simulate.html"

    def get(self, request, pk):
        if not request.user.has_perm("custody.view_feeschedule"):
            raise PermissionDenied
        schedule = get_object_or_404(FeeSchedule.objects.select_related("platform").prefetch_related("bands"), pk=pk)
        raw = (request.GET.get("pool") or "").strip()
        pool, error, result = None, "", None
        day = business_date(timezone.now())
        if raw:
            try:
                pool = parse_amount(raw, thousands=True)
                if pool < 0:
                    raise MoneyError("negative")
            except (MoneyError, ValueError):
                error = gettext("Enter an amount such as 12000000.00. / 请输入金额，例如 12000000.00。")
                pool = None
        if pool is not None:
            bands = schedule.tier_bands()
            slices = tiers.breakdown(pool, bands, schedule.mode, unit=schedule.unit)
            n = tiers.days_in_year(day, schedule.day_count) if schedule.is_balance_basis else 1
            annual = tiers.charge(pool, bands, schedule.mode, unit=schedule.unit)
            result = {
                "slices": [
                    {"s": piece, "charge": tiers.fen(piece.charge), "daily": tiers.fen(piece.charge / n)} for piece in slices
                ],
                "annual": tiers.fen(annual),
                "daily": tiers.fen(annual / n),
                "daily_exact": tiers.micro(annual / n),
                "n": n,
            }
        return self.render(
            request,
            title=gettext("Fee simulator: %(code)s v%(version)s / 存管费试算")
            % {"code": schedule.platform.code, "version": schedule.version},
            original=schedule,
            schedule=schedule,
            pool=raw,
            error=error,
            result=result,
            chart=chart(schedule, pool, day),
        )


# -- accruals ------------------------------------------------------------------------------------


@admin.register(FeeAccrual)
class FeeAccrualAdmin(ViewOnlyAdmin):
    list_display = ("platform", "business_date", "basis_amount", "days_in_year", "fee_exact", "fee", "schedule")
    list_filter = ("platform",)
    date_hierarchy = "business_date"
    search_fields = ("=platform__code",)
    list_select_related = ("platform", "schedule")
    ordering = ("platform__code", "-business_date")


# -- invoices ------------------------------------------------------------------------------------


class FeeInvoiceLineInline(ViewOnlyInline):
    model = FeeInvoiceLine
    fields = ("position", "kind", "description", "quantity", "amount")


@admin.register(FeeInvoice)
class FeeInvoiceAdmin(ViewOnlyAdmin):
    list_display = ("number", "platform", "month", "total", "state", "due_on")  # issued on, attempts: the page
    list_filter = ("state", "platform")
    search_fields = ("=number", "=platform__code")
    list_select_related = ("platform",)
    ordering = ("-month", "platform__code")
    inlines = [FeeInvoiceLineInline]
    actions = ["export_xlsx", "collect"]
    change_form_template = "custody/fees/invoice_change_form.html"

    @admin.action(description=_("Export the selected invoices (XLSX) / 导出所选账单（XLSX）"), permissions=["view"])
    def export_xlsx(self, request, queryset):
        audit_record(actor=request.user, action="custody.fee_invoice.export", data={"invoices": queryset.count()})
        response = HttpResponse(
            export_invoices_xlsx(queryset), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        response["Content-Disposition"] = 'attachment; filename="custody-fee-invoices.xlsx"'
        return response

    @admin.action(description=_("Collect from own funds now / 立即从自有资金扣收"), permissions=["collect"])
    def collect(self, request, queryset):
        for invoice in queryset.order_by("pk"):
            try:
                invoice = services.invoice_collect(invoice_id=invoice.pk, actor=request.user)
            except DomainError as exc:
                messages.error(request, f"{invoice.number}: {refusal_text(exc)}")
                continue
            messages.info(request, f"{invoice.number}: {invoice.get_state_display()} {invoice.last_refusal}")

    def has_collect_permission(self, request):
        return request.user.has_perm(REVIEW_PERMISSION)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/print/", wrap(InvoicePrintView.as_view(model_admin=self)), name="custody_feeinvoice_print"),
        ] + super().get_urls()


class InvoicePrintView(ConsoleView):
    """A printable HTML invoice (the browser prints it; no script)."""

    def get(self, request, pk):
        if not request.user.has_perm(VIEW_INVOICE_PERMISSION):
            raise PermissionDenied
        invoice = get_object_or_404(FeeInvoice.objects.select_related("platform", "schedule", "voucher"), pk=pk)
        return TemplateResponse(
            request,
            "custody/fees/invoice_print.html",
            {
                **invoice_print_context(invoice),
                "back_url": reverse("admin:custody_feeinvoice_change", args=[invoice.pk]),
            },
        )
