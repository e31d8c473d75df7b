"""The console's reconciliation pages (对账): results per platform and day with their differences
(filters, search), a file uploaded on a platform's behalf, reconciliation alerts, the suspense
allocation queue (不明来账 → 登记挂账, maker-checker; 撤销挂账 while unspent) and the custody
reports' downloads. Thin: every write is a ``custody.reconciliation.services`` call.

Nothing here is ever deleted (R-DEP-08): no delete permission, no "delete selected"."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.console import (
    ConsoleView,
    DecisionForm,
    DecisionView,
    NoDeleteMixin,
    ViewOnlyAdmin,
    add_field_errors,
    refusal_text,
)
from backoffice.dates import business_date
from backoffice.errors import DomainError, FieldValidationError
from custody.models import LendingPlatform
from custody.reconciliation import reports, selectors, services
from custody.reconciliation.errors import ReconciliationFileInvalidError
from custody.reconciliation.models import (
    CustodyReport,
    ReconciliationAlert,
    ReconciliationDay,
    ReconciliationFile,
    ReconciliationItem,
    SuspenseAllocation,
    UnidentifiedInflow,
)

FORM_TEMPLATE = "custody/reconciliation/form.html"
UPLOAD_PERMISSION = "custody.add_reconciliationfile"
REGISTER_PERMISSION = "custody.add_unidentifiedinflow"
PROPOSE_PERMISSION = "custody.add_suspenseallocation"
REVIEW_PERMISSION = "custody.review_suspenseallocation"
REVERSE_PERMISSION = "custody.change_suspenseallocation"
GENERATE_PERMISSION = "custody.add_custodyreport"


def _refused(request, exc: DomainError) -> None:
    messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})


class FormPageView(ConsoleView):
    """A form page (``FORM_TEMPLATE``): ``permission``, ``form_class``, ``title``; ``done`` runs the service."""

    template_name = FORM_TEMPLATE
    permission = ""
    form_class = forms.Form
    title = ""
    intro = ""
    multipart = False

    def check(self, request, **kwargs):
        if not request.user.has_perm(self.permission):
            raise PermissionDenied
        return None

    def page(self, request, form, obj=None, status=200):
        return self.render(
            request,
            status=status,
            title=self.title,
            intro=self.intro,
            form=form,
            original=obj,
            multipart=self.multipart,
            cancel_url=reverse(
                f"admin:{self.model_admin.model._meta.app_label}_{self.model_admin.model._meta.model_name}_changelist"
            ),
            **self.extra(obj),
        )

    def extra(self, obj) -> dict:
        return {}

    def form_kwargs(self, obj) -> dict:
        return {}

    def get(self, request, **kwargs):
        obj = self.check(request, **kwargs)
        return self.page(request, self.form_class(initial=dict(request.GET.items()), **self.form_kwargs(obj)), obj)

    def post(self, request, **kwargs):
        obj = self.check(request, **kwargs)
        form = self.form_class(request.POST, request.FILES, **self.form_kwargs(obj))
        if not form.is_valid():
            return self.page(request, form, obj, status=400)
        try:
            return self.done(request, form.cleaned_data, obj)
        except FieldValidationError as exc:
            add_field_errors(form, exc)
            return self.page(request, form, obj, status=400)
        except DomainError as exc:
            _refused(request, exc)
            return self.page(request, form, obj, status=409)

    def done(self, request, data, obj):
        raise NotImplementedError


def _platforms():
    return LendingPlatform.objects.exclude(own_funds__isnull=True).order_by("code")


# -- results ------------------------------------------------------------------------------------------


class UploadForm(forms.Form):
    platform = forms.ModelChoiceField(label=_("platform / 平台"), queryset=LendingPlatform.objects.none())
    file = forms.FileField(
        label=_("daily file (CSV) / 对账文件（CSV）"),
        help_text=_("Header: record,business_date,type,out_request_no,sub_account,amount,state (README). / 表头见说明文档。"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["platform"].queryset = _platforms()


class UploadView(FormPageView):
    permission = UPLOAD_PERMISSION
    form_class = UploadForm
    title = _("Upload a daily file on a platform's behalf / 代平台上传对账文件")
    intro = _(
        "The file is validated line by line; with any error nothing is imported. The same file twice is imported once. "
        "/ 逐行校验，有任何错误则整份不导入；同一文件只导入一次。"
    )
    multipart = True

    def done(self, request, data, obj):
        try:
            file, created = services.reconciliation_file_import(
                platform=data["platform"], content=data["file"].read(), source="console", actor=request.user
            )
        except ReconciliationFileInvalidError as exc:
            messages.error(request, refusal_text(exc))
            form = self.form_class(initial={"platform": data["platform"]})
            return self.render(
                request,
                status=422,
                title=self.title,
                intro=self.intro,
                form=form,
                multipart=True,
                line_errors=exc.data.get("errors") or [],
                cancel_url=reverse("admin:custody_reconciliationday_changelist"),
            )
        day = ReconciliationDay.objects.get(platform=file.platform, business_date=file.business_date)
        if created:
            messages.success(request, gettext("Imported: %(state)s. / 已导入。") % {"state": day.get_state_display()})
        else:
            messages.info(request, gettext("This file was imported before. / 该文件已导入过。"))
        return HttpResponseRedirect(reverse("admin:custody_reconciliationday_change", args=[day.pk]))


@admin.register(ReconciliationDay)
class ReconciliationDayAdmin(ViewOnlyAdmin):
    list_display = ("business_date", "platform", "state", "matched", "long", "short", "mismatch", "timing", "items_link")
    list_filter = ("state", "platform", "business_date")
    search_fields = ("platform__code", "platform__name", "file__sha256")
    date_hierarchy = "business_date"
    list_select_related = ("platform",)
    change_list_template = "custody/reconciliation/day_change_list.html"
    change_form_template = "custody/reconciliation/day_change_form.html"

    @admin.display(description=_("differences / 差异明细"))
    def items_link(self, day):
        if day.file_id is None:
            return "-"
        url = reverse("admin:custody_reconciliationitem_changelist") + f"?file__id__exact={day.file_id}"
        return format_html('<a href="{}">{}</a>', url, gettext("items / 明细"))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(UploadView.as_view(model_admin=self)), name="custody_reconciliationday_upload"),
            path("reports/", wrap(ReportView.as_view(model_admin=self)), name="custody_reconciliationday_reports"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {
            "may_upload": request.user.has_perm(UPLOAD_PERMISSION),
            "may_report": request.user.has_perm("custody.view_custodyreport"),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        day = self.get_object(request, object_id)
        items = list(selectors.day_items(day=day)) if day else []
        extra = {"items": items, "differences": [i for i in items if i.result in ReconciliationItem.DIFFERENCES]}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})


@admin.register(ReconciliationItem)
class ReconciliationItemAdmin(ViewOnlyAdmin):
    list_display = (
        "business_date",
        "platform",
        "kind",
        "instruction_type",
        "out_request_no",
        "sub_account",
        "platform_amount",
        "bank_amount",
        "platform_state",
        "bank_state",
        "bank_date",
        "result",
        "line",
        "note",
    )
    list_filter = ("result", "kind", "instruction_type", "platform", "business_date")
    search_fields = ("out_request_no", "sub_account", "platform__code")
    list_select_related = ("platform",)


@admin.register(ReconciliationFile)
class ReconciliationFileAdmin(ViewOnlyAdmin):
    list_display = ("business_date", "platform", "source", "lines", "sha256", "uploaded_by", "client", "created_at")
    list_filter = ("source", "platform")
    search_fields = ("sha256", "platform__code")
    exclude = ("content",)
    readonly_fields = ("platform", "business_date", "sha256", "lines", "source", "uploaded_by", "client", "created_at")


@admin.register(ReconciliationAlert)
class ReconciliationAlertAdmin(ViewOnlyAdmin):
    list_display = (
        "severity",
        "kind",
        "platform",
        "business_date",
        "text",
        "created_at",
        "acknowledged_at",
        "acknowledged_by",
    )
    list_filter = ("kind", "severity", ("acknowledged_at", admin.EmptyFieldListFilter))
    search_fields = ("platform__code", "message")
    actions = ["acknowledge"]

    @admin.display(description=_("message / 说明"))
    def text(self, obj):
        """In the reader's language; the search matches the stored bilingual ``message``."""
        return obj.text

    @admin.action(description=_("Acknowledge / 确认告警"), permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        for alert in queryset:
            services.reconciliation_alert_acknowledge(alert_id=alert.pk, actor=request.user)
        messages.success(request, gettext("Acknowledged. / 已确认。"))

    def has_acknowledge_permission(self, request):
        return request.user.has_perm("custody.change_reconciliationalert")


# -- unidentified inflows and the allocation queue --------------------------------------------------


class InflowForm(forms.Form):
    platform = forms.ModelChoiceField(label=_("platform / 平台"), queryset=LendingPlatform.objects.none())
    amount = forms.DecimalField(label=_("amount / 金额"), max_digits=15, decimal_places=2, min_value=Decimal("0.01"))
    reference = forms.CharField(label=_("bank reference / 来账流水号"), max_length=64)
    value_date = forms.DateField(label=_("value date / 来账日期"))
    payer_name = forms.CharField(label=_("payer name / 付款人户名"), max_length=200, required=False)
    payer_account = forms.CharField(label=_("payer account / 付款账号"), max_length=40, required=False)
    memo = forms.CharField(label=_("memo / 附言"), max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["platform"].queryset = _platforms()


class InflowRegisterView(FormPageView):
    permission = REGISTER_PERMISSION
    form_class = InflowForm
    title = _("Book an unidentified inflow to the platform's suspense / 不明来账入挂账")
    intro = _("Credited to the platform's suspense, never to a client. / 只入平台挂账户，不直接入客户。")

    def done(self, request, data, obj):
        inflow = services.inflow_register(actor=request.user, **data)
        messages.success(request, gettext("Booked to suspense. / 已入挂账。"))
        return HttpResponseRedirect(reverse("admin:custody_unidentifiedinflow_change", args=[inflow.pk]))


class ProposeForm(forms.Form):
    sub_account = forms.CharField(label=_("sub-account number / 子账户账号"), max_length=16)
    reason = forms.CharField(label=_("evidence / 依据"), max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class ProposeView(FormPageView):
    permission = PROPOSE_PERMISSION
    form_class = ProposeForm
    title = _("Propose an allocation (maker) / 登记挂账（经办）")
    intro = _("A different user approves before any money moves. / 须由他人复核后才入账。")

    def check(self, request, pk=None):
        super().check(request)
        return get_object_or_404(UnidentifiedInflow.objects.select_related("platform"), pk=pk)

    def extra(self, obj) -> dict:
        return {"inflow": obj}

    def done(self, request, data, inflow):
        services.allocation_propose(
            inflow_id=inflow.pk, sub_account_number=data["sub_account"], reason=data["reason"], actor=request.user
        )
        messages.success(request, gettext("Proposed; awaiting a checker. / 已提交复核。"))
        return HttpResponseRedirect(reverse("admin:custody_suspenseallocation_changelist"))


class InflowAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = ("reference", "platform", "amount", "value_date", "payer_name", "state", "propose_link", "created_at")
    list_filter = ("state", "platform")
    search_fields = ("reference", "payer_name", "payer_account", "platform__code")
    list_select_related = ("platform",)
    readonly_fields = (
        "platform",
        "amount",
        "value_date",
        "payer_name",
        "payer_account",
        "reference",
        "memo",
        "state",
        "voucher",
        "recorded_by",
        "created_at",
    )

    @admin.display(description=_("allocate / 登记挂账"))
    def propose_link(self, inflow):
        if inflow.state != UnidentifiedInflow.State.UNALLOCATED:
            return "-"
        url = reverse("admin:custody_unidentifiedinflow_propose", args=[inflow.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("propose / 登记"))

    def has_change_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        return InflowRegisterView.as_view(model_admin=self)(request)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/propose/", wrap(ProposeView.as_view(model_admin=self)), name="custody_unidentifiedinflow_propose"),
            *super().get_urls(),
        ]


admin.site.register(UnidentifiedInflow, InflowAdmin)


class AllocationReviewForm(DecisionForm):
    decision = forms.ChoiceField(
        label=_("decision / 复核结论"),
        choices=[("approve", _("Approve: allocate / 同意入账")), ("reject", _("Reject / 驳回"))],
        widget=forms.RadioSelect,  # starts empty: the checker chooses
    )
    note = forms.CharField(
        label=_("Note / 复核意见"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Required to reject; recorded in the audit log. / 驳回时必填，记入审计日志。"),
    )
    reason_needed = _("Rejecting needs a reason. / 驳回必须填写原因。")


class AllocationReviewView(DecisionView):
    """The checker sees the inflow, the sub-account's holder and the amount; the decision starts empty."""

    template_name = "custody/reconciliation/review.html"
    permission = REVIEW_PERMISSION
    form_class = AllocationReviewForm
    url_name = "admin:custody_suspenseallocation_review"

    def get_object(self, pk):
        return get_object_or_404(
            SuspenseAllocation.objects.select_related(
                "inflow__platform", "sub_account__party", "sub_account__account", "proposed_by"
            ),
            pk=pk,
        )

    def page(self, request, allocation, form):
        return self.render(
            request,
            title=gettext("Review allocation of inflow %(reference)s / 复核登记挂账")
            % {"reference": allocation.inflow.reference},
            original=allocation,
            allocation=allocation,
            inflow=allocation.inflow,
            holder=allocation.sub_account.party,
            form=form,
            is_maker=request.user.pk == allocation.proposed_by_id,
        )

    def decide(self, request, allocation, decision, note):
        if decision == "approve":
            services.allocation_approve(allocation_id=allocation.pk, actor=request.user, note=note)
        else:
            services.allocation_reject(allocation_id=allocation.pk, actor=request.user, note=note)

    def decided(self, request, allocation, decision):
        text = "Allocated. / 已入账。" if decision == "approve" else "Rejected. / 已驳回。"
        messages.success(request, gettext(text))
        return HttpResponseRedirect(reverse("admin:custody_suspenseallocation_changelist"))


class ReverseForm(forms.Form):
    reason = forms.CharField(label=_("Reason / 原因"), max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class ReverseView(FormPageView):
    permission = REVERSE_PERMISSION
    form_class = ReverseForm
    title = _("Reverse an allocation / 撤销挂账")
    intro = _(
        "Only while the money is unspent: refused when the sub-account's available balance no longer covers it. "
        "/ 仅在资金未被使用时可撤销。"
    )

    def check(self, request, pk=None):
        super().check(request)
        return get_object_or_404(SuspenseAllocation.objects.select_related("inflow", "sub_account__account"), pk=pk)

    def extra(self, obj) -> dict:
        return {"allocation": obj}

    def done(self, request, data, allocation):
        services.allocation_reverse(allocation_id=allocation.pk, actor=request.user, reason=data["reason"])
        messages.success(request, gettext("Reversed: the money is back in suspense. / 已撤销，资金回到挂账。"))
        return HttpResponseRedirect(reverse("admin:custody_suspenseallocation_changelist"))


@admin.register(SuspenseAllocation)
class SuspenseAllocationAdmin(ViewOnlyAdmin):
    list_display = ("inflow", "sub_account", "amount", "state", "proposed_by", "reviewed_by", "created_at", "actions_link")
    list_filter = ("state", "inflow__platform")
    search_fields = ("inflow__reference", "sub_account__account__number", "sub_account__party__name")
    list_select_related = ("inflow", "sub_account__account", "proposed_by", "reviewed_by")

    @admin.display(description=_("actions / 操作"))
    def actions_link(self, allocation):
        if allocation.state == SuspenseAllocation.State.PROPOSED:
            url, text = reverse("admin:custody_suspenseallocation_review", args=[allocation.pk]), gettext("review / 复核")
        elif allocation.state == SuspenseAllocation.State.APPROVED:
            url, text = reverse("admin:custody_suspenseallocation_reverse", args=[allocation.pk]), gettext("reverse / 撤销")
        else:
            return "-"
        return format_html('<a href="{}">{}</a>', url, text)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/review/", wrap(AllocationReviewView.as_view(model_admin=self)), name="custody_suspenseallocation_review"
            ),
            path("<int:pk>/reverse/", wrap(ReverseView.as_view(model_admin=self)), name="custody_suspenseallocation_reverse"),
            *super().get_urls(),
        ]


# -- reports ---------------------------------------------------------------------------------------


class ReportForm(forms.Form):
    platform = forms.ModelChoiceField(label=_("platform / 平台"), queryset=LendingPlatform.objects.none())
    kind = forms.ChoiceField(label=_("report / 报告"), choices=CustodyReport.Kind.choices)
    date = forms.DateField(label=_("any day of the period / 报告期内任一日"))
    file_type = forms.ChoiceField(label=_("format / 格式"), choices=[("xlsx", "XLSX"), ("csv", "CSV")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["platform"].queryset = _platforms()


class ReportView(FormPageView):
    """Download a custody report: the stored one, or generated now (closed periods only)."""

    permission = "custody.view_custodyreport"
    form_class = ReportForm
    title = _("Custody reports / 存管报告")
    intro = _(
        "The daily custody file, the monthly and the annual report, from the ledger's entries; kept once generated. "
        "/ 日终存管文件、月度与年度存管报告，生成后留存。"
    )

    def get(self, request, **kwargs):
        self.check(request)
        initial = {"date": business_date(timezone.now()), **dict(request.GET.items())}
        return self.page(request, self.form_class(initial=initial))

    def done(self, request, data, obj):
        start, _end = reports.period_of(data["kind"], data["date"])
        report = CustodyReport.objects.filter(platform=data["platform"], kind=data["kind"], period_start=start).first()
        if report is None:
            if not request.user.has_perm(GENERATE_PERMISSION):
                raise PermissionDenied
            report = services.report_generate(platform=data["platform"], kind=data["kind"], day=data["date"], actor=request.user)
        content, content_type, name = reports.export(report, data["file_type"])
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


@admin.register(CustodyReport)
class CustodyReportAdmin(ViewOnlyAdmin):
    list_display = ("platform", "kind", "period_start", "period_end", "generated_by", "created_at", "download")
    list_filter = ("kind", "platform")
    search_fields = ("platform__code",)
    exclude = ("figures",)

    @admin.display(description=_("download / 下载"))
    def download(self, report):
        url = reverse("admin:custody_reconciliationday_reports")
        query = f"?platform={report.platform_id}&kind={report.kind}&date={report.period_start}"
        return format_html('<a href="{}{}">{}</a>', url, query, gettext("download / 下载"))
