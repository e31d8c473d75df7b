"""Money in and out in the console: the channel registry, withdrawals, recharges, channel
callbacks, payment alerts, manual resolutions (maker-checker) and the index dashboard.

- Channels are edited by supervisors (``add_channel`` / ``change_channel``) through
  ``accounts.payments.services.channel_register``, which validates and audits; nobody deletes one. The
  callback secret is write-only: a password field "set a new secret", never displayed.
- Withdrawals, recharges, callbacks, alerts and resolutions are written by the services only:
  here they are read-only (no add, change or delete). Withdrawals and recharges export to
  CSV/XLSX (``accounts.resources``), audited.
- On a withdrawal's page: "query the channel now" (``withdrawal_query_status``, needs
  ``accounts.resolve_withdrawal``) and, for an unknown one, "propose a manual resolution"
  (``withdrawal_resolution_propose``, the maker, same permission). A checker with
  ``accounts.approve_withdrawal_resolution`` approves or rejects a pending proposal on its
  decision page; the service refuses the maker as checker. Each of these asks for confirmation.
- Alerts are acknowledged with the list action (``payment_alert_acknowledge``, needs
  ``accounts.change_paymentalert``); open ones come first, P1 before P2.
- ``payments_dashboard`` feeds the index module (``{% payments_dashboard %}``): withdrawals in
  flight by state and oldest age, open alerts and manual resolutions awaiting a checker. The
  invariants are the dashboard's (``{% console_dashboard %}``), one table for the whole ledger.

Every refusal (a ``DomainError``) is shown with ``messages.error``, never a 500.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import MinValueValidator
from django.db import transaction
from django.db.models import BooleanField, Case, Count, F, Min, Q, Sum, Value, When
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from accounts import conf
from accounts.display import channel_status_label
from accounts.exports.labels import kind_label
from accounts.ledger.models import Transfer
from accounts.payments import instructions, withdrawals
from accounts.payments.channels import ChannelUnavailableError
from accounts.payments.models import Channel, ChannelCallback, PaymentAlert, Recharge, Withdrawal, WithdrawalResolution
from accounts.payments.services import channel_register
from accounts.resources import RechargeResource, WithdrawalResource
from backoffice.audit import audit_record
from backoffice.console import (
    ConsoleView,
    DecisionForm,
    DecisionView,
    NoDeleteMixin,
    ReasonForm,
    ViewOnlyAdmin,
    add_field_errors,
    parse_ids,
    refusal_text,
    render_confirmation,
)
from backoffice.errors import DomainError, FieldValidationError, display_label
from backoffice.models import AuditLog

__all__ = [
    "ChannelAdmin",
    "ChannelCallbackAdmin",
    "PaymentAlertAdmin",
    "RechargeAdmin",
    "WithdrawalAdmin",
    "WithdrawalResolutionAdmin",
    "payments_dashboard",
]

VIEW_PERMISSION = "accounts.view_withdrawal"
RESOLVE_PERMISSION = "accounts.resolve_withdrawal"
APPROVE_PERMISSION = "accounts.approve_withdrawal_resolution"
ACKNOWLEDGE_PERMISSION = "accounts.change_paymentalert"


def _minutes(delta: dt.timedelta) -> int:
    return max(int(delta.total_seconds() // 60), 0)


def _changelist(model) -> str:
    return reverse(f"admin:accounts_{model._meta.model_name}_changelist")


def _audit_trail(*targets) -> list[AuditLog]:
    """The audit rows about ``targets`` (model instances), oldest first."""
    match = Q(pk__in=[])
    for target in targets:
        match |= Q(target_type=target._meta.label_lower, target_id=str(target.pk))
    return list(AuditLog.objects.filter(match).order_by("created_at", "id")[:200])


def _callbacks(queryset) -> list:
    """The callbacks with their event as a label (``paid``, not ``success``)."""
    rows = list(queryset)
    for row in rows:
        row.event_label = display_label("status", row.event)
    return rows


def _vouchers(pairs) -> list[dict]:
    """``[(label, transfer id or None), ...]`` → rows with the voucher and its entries."""
    ids = [pk for _label, pk in pairs if pk]
    found = {t.pk: t for t in Transfer.objects.filter(pk__in=ids).prefetch_related("entries__account")}
    return [
        {
            "label": label,
            "transfer": found[pk],
            "kind": kind_label(found[pk].kind),
            "entries": list(found[pk].entries.all()),
        }
        for label, pk in pairs
        if pk in found
    ]


def _link(obj, text=None):
    if obj is None:
        return "-"
    return format_html(
        '<a href="{}">{}</a>', reverse(f"admin:accounts_{obj._meta.model_name}_change", args=[obj.pk]), text or obj
    )


class PaymentLinksMixin:
    """Bilingual, linked columns for the relations that have no label of their own."""

    @admin.display(description=_("withdrawal / 提现"), ordering="withdrawal__request_id")
    def withdrawal_ref(self, obj):
        withdrawal = obj.withdrawal
        return _link(withdrawal, withdrawal.request_id if withdrawal else None)

    @admin.display(description=_("recharge / 充值"), ordering="recharge__request_id")
    def recharge_ref(self, obj):
        recharge = obj.recharge
        return _link(recharge, recharge.request_id if recharge else None)

    @admin.display(description=_("channel / 通道"), ordering="channel__code")
    def channel_ref(self, obj):
        channel = obj.channel
        return _link(channel, channel.code if channel else None)

    @admin.display(description=_("acknowledged by / 确认人"))
    def acknowledged_by_label(self, obj):
        return obj.acknowledged_by.get_username() if obj.acknowledged_by_id else "-"

    @admin.display(description=_("hold / 冻结"))
    def hold_ref(self, obj):
        hold = obj.hold
        if hold is None:
            return "-"
        return _link(hold, f"#{hold.pk} {hold.amount:.2f} {hold.get_state_display()}")

    @admin.display(description=_("last channel status / 通道最新状态"), ordering="channel_status")
    def channel_status_text(self, obj):
        return channel_status_label(obj.channel_status) if obj.channel_status else "-"

    @admin.display(description=_("created by operator / 创建操作员"))
    def created_by_label(self, obj):
        return obj.created_by.get_username() if obj.created_by_id else "-"


class ExportAuditMixin(ExportMixin):
    """CSV/XLSX export of the filtered list (view permission), each export audited."""

    export_formats = [CSV, XLSX]
    export_audit_action = ""

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_export_data(self, file_format, request, queryset, **kwargs):
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action=self.export_audit_action,
                target=None,
                data={
                    "format": file_format.get_title(),
                    "rows": queryset.count(),
                    "filters": {key: request.GET.getlist(key) for key in request.GET},
                },
            )
        return data

    def get_export_filename(self, request, queryset, file_format):
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        return f"{self.model._meta.model_name}s-{stamp}.{file_format.get_extension()}"


# -- channel registry ---------------------------------------------------------------------------


CHANNEL_FIELDS = (
    "code",
    "name",
    "adapter",
    "base_url",
    "enabled",
    "supports_recharge",
    "supports_withdrawal",
    "supports_payment",
    "priority",
    "withdrawal_strategy",
    "real_time_limit",
    "window_start",
    "window_end",
    "withdrawal_fee",
    "timeout_seconds",
    "not_found_grace_seconds",
    "not_found_final_seconds",
    "refund_count_limit",
    "refund_window_days",
    "cutoff_time",
)


class ChannelForm(forms.ModelForm):
    """The registry form. The callback secret is write-only: empty keeps the current one."""

    new_callback_secret = forms.CharField(
        label=_("Set a new callback secret / 设置新的回调密钥"),
        required=False,
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Write-only: stored encrypted, never shown. Required for a new channel; for a registered one, "
            "leave it empty to keep the current secret. / 仅可写入：加密保存，不会显示；新通道必填，已有通道留空则保留原密钥。"
        ),
    )

    base_url = forms.URLField(
        label=capfirst(_("base URL / 接口地址")),
        required=False,
        assume_scheme="https",
        help_text=_("For HTTP adapters. / HTTP 适配器使用。"),
    )

    class Meta:
        model = Channel
        fields = CHANNEL_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and "new_callback_secret" in self.fields:
            self.fields["new_callback_secret"].required = True
            self.fields["new_callback_secret"].error_messages["required"] = _(
                "A new channel needs a callback secret to verify its callbacks. / 新通道须设置回调密钥。"
            )
        for name in ("real_time_limit", "withdrawal_fee"):
            if name in self.fields:
                self.fields[name].validators.append(MinValueValidator(0))
                self.fields[name].widget.attrs["min"] = "0"

    def clean(self):
        data = super().clean()
        start, end = data.get("window_start"), data.get("window_end")
        if start is not None and end is not None and start >= end:
            self.add_error("window_end", _("The window must close after it opens. / 受理结束时间须晚于开始时间。"))
        return data


@admin.register(Channel)
class ChannelAdmin(NoDeleteMixin, admin.ModelAdmin):
    # Never deleted: withdrawals and recharges point at their channel; disable it instead.
    form = ChannelForm
    list_display = (
        "code",
        "name",
        "adapter",
        "enabled",
        "withdrawal_strategy",
        "withdrawal_fee",
        "real_time_limit",
        "window",
        "priority",
    )
    list_filter = ("enabled", "adapter", "withdrawal_strategy")
    search_fields = ("code", "name")
    ordering = ("priority", "code")

    @admin.display(description=_("window / 受理时段"))
    def window(self, obj):
        return f"{obj.window_start:%H:%M}–{obj.window_end:%H:%M}"

    @admin.display(description=_("callback secret / 回调密钥"))
    def secret_status(self, obj):
        if obj is not None and obj.callback_secret_encrypted:
            return gettext("Set (hidden) / 已设置（不显示）")
        return gettext("Not set / 未设置")

    def get_fields(self, request, obj=None):
        fields = CHANNEL_FIELDS + (("secret_status",) if obj is not None else ())
        if obj is None or self.has_change_permission(request, obj):
            fields += ("new_callback_secret",)
        return fields

    def get_readonly_fields(self, request, obj=None):
        # The code names the channel in callbacks and request ids: fixed once registered.
        return ("code", "secret_status") if obj is not None else ()

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # channel_register owns its (durable) transaction: no atomic block of the admin around it.
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        names = [name for name in CHANNEL_FIELDS if name != "code" and name in form.cleaned_data]
        secret = form.cleaned_data.get("new_callback_secret") or ""
        if change:
            names = [name for name in names if name in form.changed_data]
            if not names and not secret:
                return  # nothing changed: nothing to register or audit
        channel = channel_register(
            code=obj.code,
            actor=request.user,
            callback_secret=secret,
            **{name: form.cleaned_data[name] for name in names},
        )
        obj.pk, obj.created_at, obj.updated_at = channel.pk, channel.created_at, channel.updated_at
        obj.callback_secret_encrypted = channel.callback_secret_encrypted
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        # A channel has no relations edited here; form.save_m2m() would write nothing.
        return None


# -- list filters -------------------------------------------------------------------------------


class InFlightFilter(admin.SimpleListFilter):
    title = _("in flight / 在途")
    parameter_name = "in_flight"

    def lookups(self, request, model_admin):
        return [("yes", _("In flight / 在途")), ("no", _("Finished / 已结束"))]

    def queryset(self, request, queryset):
        states = queryset.model.IN_FLIGHT
        if self.value() == "yes":
            return queryset.filter(state__in=states)
        if self.value() == "no":
            return queryset.exclude(state__in=states)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    """Older than a threshold: the alert threshold (ACCOUNTS_PAYMENT_ALERT_SECONDS), an hour, a day."""

    title = _("age / 时长")
    parameter_name = "age"

    def thresholds(self) -> dict[str, dt.timedelta]:
        return {"alert": conf.alert_after(), "1h": dt.timedelta(hours=1), "1d": dt.timedelta(days=1)}

    def lookups(self, request, model_admin):
        minutes = _minutes(conf.alert_after())
        return [
            ("alert", gettext("Older than the alert threshold (%(minutes)s min) / 超过告警时长") % {"minutes": minutes}),
            ("1h", _("Older than 1 hour / 超过 1 小时")),
            ("1d", _("Older than 1 day / 超过 1 天")),
        ]

    def queryset(self, request, queryset):
        threshold = self.thresholds().get(self.value() or "")
        if threshold is None:
            return queryset
        return queryset.filter(created_at__lt=timezone.now() - threshold)


class AlertStatusFilter(admin.SimpleListFilter):
    title = _("status / 处理状态")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("open", _("Open / 未确认")), ("acknowledged", _("Acknowledged / 已确认"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(acknowledged_at__isnull=True)
        if self.value() == "acknowledged":
            return queryset.filter(acknowledged_at__isnull=False)
        return queryset


# -- withdrawals --------------------------------------------------------------------------------


def _age_cell(obj) -> str:
    age = timezone.now() - obj.created_at
    minutes = _minutes(age)
    if obj.state in obj.IN_FLIGHT and age > conf.alert_after():
        return format_html(
            '<span class="payments-age-old" style="color:#ba2121;font-weight:bold" title="{}">{}</span>',
            gettext("In flight longer than the alert threshold / 在途超过告警时长"),
            minutes,
        )
    return str(minutes)


WITHDRAWAL_FIELDS = (
    "request_id",
    "out_request_no",
    "client",
    "account",
    "card_masked",
    "channel",
    "amount",
    "fee",
    "strategy",
    "settles",
    "state",
    "age",
    "authorisation",
    "channel_txn_id",
    "channel_status_text",
    "failure_reason",
    "resolved_by",
    "submit_attempts",
    "query_attempts",
    "query_errors",
    "hold_ref",
    "submitted_at",
    "last_activity_at",
    "resolved_at",
    "returned_at",
    "created_by_label",
    "created_at",
    "updated_at",
)


class PaymentRecordAdmin(PaymentLinksMixin, ExportAuditMixin, ViewOnlyAdmin):
    """Withdrawals and recharges: read-only, exported (audited), searched and ordered alike."""

    search_fields = ("request_id", "=out_request_no", "=account__number", "=channel_txn_id")
    search_help_text = _(
        "Request id, business reference, account number or channel transaction id / 请求号、业务流水号、账号或通道流水号"
    )
    list_select_related = ("account", "channel")
    ordering = ("-created_at", "-pk")
    date_hierarchy = "created_at"


@admin.register(Withdrawal)
class WithdrawalAdmin(PaymentRecordAdmin):
    """In-flight and past withdrawals; the detail page holds the operator's actions."""

    resource_classes = [WithdrawalResource]
    export_audit_action = "withdrawal.export"
    change_list_template = "admin/accounts/withdrawal/change_list.html"  # the export buttons + the in-flight total
    list_display = (
        "request_id",
        "account",
        "amount",
        "fee",
        "channel",
        "state",
        "age",
        "channel_status_text",
    )
    list_filter = ("state", "channel", "strategy", InFlightFilter, AgeFilter)
    fields = WITHDRAWAL_FIELDS
    readonly_fields = WITHDRAWAL_FIELDS

    @admin.display(description=_("age (min) / 时长（分钟）"), ordering="created_at")
    def age(self, obj):
        return _age_cell(obj)

    @admin.display(description=_("to card / 收款卡"))
    def card_masked(self, obj):
        return f"{obj.card.card_number_masked} {obj.card.bank_name}"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/query/", wrap(WithdrawalQueryView.as_view(model_admin=self)), name="accounts_withdrawal_query"),
            path(
                "<int:pk>/resolve/",
                wrap(ResolutionProposeView.as_view(model_admin=self)),
                name="accounts_withdrawal_resolve",
            ),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        cl = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if cl is not None:
            # The money in flight among the rows the filters select (all pages, not just this one).
            in_flight = cl.queryset.filter(state__in=Withdrawal.IN_FLIGHT).aggregate(count=Count("pk"), total=Sum("amount"))
            oldest = cl.queryset.filter(state__in=Withdrawal.IN_FLIGHT).aggregate(oldest=Min("created_at"))["oldest"]
            response.context_data["in_flight_summary"] = {
                "count": in_flight["count"] or 0,
                "total": f"{(in_flight['total'] or Decimal('0')):,.2f}",
                "oldest_minutes": _minutes(timezone.now() - oldest) if oldest else None,
            }
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        withdrawal = self.get_object(request, object_id)
        if withdrawal is not None:
            extra_context.update(withdrawal_page_context(request, withdrawal))
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


def withdrawal_page_context(request, withdrawal: Withdrawal) -> dict:
    """What the withdrawal's page shows below its fields, and the actions this user may take."""
    resolutions = list(withdrawal.resolutions.select_related("maker", "checker").order_by("created_at", "pk"))
    pending = next((r for r in resolutions if r.state == WithdrawalResolution.State.PENDING), None)
    user = request.user
    unknown = withdrawal.state == Withdrawal.State.UNKNOWN
    actions = []
    if unknown and user.has_perm(RESOLVE_PERMISSION):
        actions.append(
            (gettext("Query the channel now / 立即查询通道"), reverse("admin:accounts_withdrawal_query", args=[withdrawal.pk]))
        )
        if pending is None:
            actions.append(
                (
                    gettext("Propose a manual resolution / 发起人工处理"),
                    reverse("admin:accounts_withdrawal_resolve", args=[withdrawal.pk]),
                )
            )
    if pending is not None and user.has_perm(APPROVE_PERMISSION) and pending.maker_id != user.pk:
        actions.append(
            (
                gettext("Review resolution #%(id)s / 复核人工处理") % {"id": pending.pk},
                reverse("admin:accounts_withdrawalresolution_decide", args=[pending.pk]),
            )
        )
    return {
        "payment_actions": actions,
        "vouchers": _vouchers(
            [
                (_("Funds to transit / 转入过渡户"), withdrawal.hold_transfer_id),
                (_("Settlement / 成功结算"), withdrawal.settle_transfer_id),
                (_("Failure, money back / 失败退回"), withdrawal.failure_transfer_id),
                (_("Return / 退票退回"), withdrawal.return_transfer_id),
            ]
        ),
        "payment_hold": withdrawal.hold,
        "callbacks": _callbacks(withdrawal.callbacks.order_by("created_at", "pk")),
        "alerts": list(withdrawal.alerts.select_related("acknowledged_by").order_by("created_at", "pk")),
        "resolutions": resolutions,
        "may_decide": user.has_perm(APPROVE_PERMISSION),
        "audit_trail": _audit_trail(withdrawal, *resolutions),
    }


def _withdrawal_summary(withdrawal: Withdrawal) -> str:
    return gettext(
        "Withdrawal / 提现 %(request)s: %(amount)s (fee / 手续费 %(fee)s) from %(account)s via %(channel)s, %(state)s"
    ) % {
        "request": withdrawal.request_id,
        "amount": f"{withdrawal.amount:.2f}",
        "fee": f"{withdrawal.fee:.2f}",
        "account": withdrawal.account.number,
        "channel": withdrawal.channel.code,
        "state": withdrawal.get_state_display(),
    }


class WithdrawalQueryView(ConsoleView):
    """Confirm, then ask the channel about an unknown withdrawal now (never re-submits)."""

    def check(self, request, pk) -> Withdrawal:
        if not request.user.has_perm(RESOLVE_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(Withdrawal.objects.select_related("account", "channel"), pk=pk)

    def page(self, request, withdrawal, form):
        return render_confirmation(
            self,
            request,
            title=gettext("Query the channel now / 立即查询通道"),
            intro=gettext(
                "The channel is asked for the status of this withdrawal; a definitive answer is applied with its money. "
                "Nothing is submitted again. / 将向通道查询该笔提现的状态，确定结果将入账；不会重复提交。"
            ),
            targets=[_withdrawal_summary(withdrawal)],
            form=form,
            cancel_url=reverse("admin:accounts_withdrawal_change", args=[withdrawal.pk]),
            submit_label=gettext("Query now / 立即查询"),
            original=withdrawal,
        )

    def get(self, request, pk):
        withdrawal = self.check(request, pk)
        return self.page(request, withdrawal, ReasonForm(reason_required=False, reason_label=_("Note (optional) / 备注（可选）")))

    def post(self, request, pk):
        withdrawal = self.check(request, pk)
        form = ReasonForm(request.POST, reason_required=False, reason_label=_("Note (optional) / 备注（可选）"))
        if not form.is_valid():
            return self.page(request, withdrawal, form)
        back = HttpResponseRedirect(reverse("admin:accounts_withdrawal_change", args=[withdrawal.pk]))
        if withdrawal.state != Withdrawal.State.UNKNOWN:
            messages.info(
                request,
                gettext("%(request)s is %(state)s: there is nothing to ask the channel. / 该笔提现非结果未知状态，无需查询。")
                % {"request": withdrawal.request_id, "state": withdrawal.get_state_display()},
            )
            return back
        error = ""
        try:
            result = withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk, actor=request.user)
        except ChannelUnavailableError as exc:
            error, result = str(exc), Withdrawal.objects.get(pk=withdrawal.pk)
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
            return back
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action="withdrawal.console_query",
                target=result,
                data={"note": form.cleaned_data["reason"], "state": result.state, "error": error[:200]},
            )
        if error:
            messages.warning(
                request,
                gettext("The channel did not answer (%(error)s); the withdrawal stays %(state)s. / 通道未应答，状态不变。")
                % {"error": error, "state": result.get_state_display()},
            )
        else:
            messages.success(
                request,
                gettext("The channel says %(status)s; the withdrawal is %(state)s. / 已查询通道。")
                % {"status": channel_status_label(result.channel_status), "state": result.get_state_display()},
            )
        return back


class ResolutionProposeForm(forms.Form):
    outcome = forms.ChoiceField(label=_("outcome / 结论"), choices=WithdrawalResolution.Outcome.choices, widget=forms.RadioSelect)
    evidence = forms.CharField(
        label=_("evidence / 依据"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_(
            "What shows the outcome: the channel's statement line, a ticket number, a call record (at least 10 characters). "
            "/ 结果依据：通道对账单记录、工单号、电话记录等（至少 10 个字符）。"
        ),
    )
    channel_txn_id = forms.CharField(label=_("channel transaction id / 通道流水号"), max_length=64, required=False)


class ResolutionProposeView(ConsoleView):
    """The maker's form: propose that an unknown withdrawal succeeded or failed, with evidence."""

    def check(self, request, pk) -> Withdrawal:
        if not request.user.has_perm(RESOLVE_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(Withdrawal.objects.select_related("account", "channel"), pk=pk)

    def page(self, request, withdrawal, form, status=200):
        return render_confirmation(
            self,
            request,
            title=gettext("Propose a manual resolution / 发起人工处理"),
            intro=gettext(
                "Nothing moves until a different operator approves the proposal; if the channel later says otherwise, "
                "an alert is raised and nothing moves automatically. "
                "/ 须由他人复核后才入账；如通道事后结果不同，将告警且不自动调账。"
            ),
            targets=[_withdrawal_summary(withdrawal)],
            form=form,
            cancel_url=reverse("admin:accounts_withdrawal_change", args=[withdrawal.pk]),
            submit_label=gettext("Propose / 提交复核"),
            status=status,
            original=withdrawal,
        )

    def get(self, request, pk):
        withdrawal = self.check(request, pk)
        return self.page(request, withdrawal, ResolutionProposeForm())

    def post(self, request, pk):
        withdrawal = self.check(request, pk)
        form = ResolutionProposeForm(request.POST)
        if not form.is_valid():
            return self.page(request, withdrawal, form)
        data = form.cleaned_data
        try:
            resolution = withdrawals.withdrawal_resolution_propose(
                withdrawal_id=withdrawal.pk,
                outcome=data["outcome"],
                evidence=data["evidence"],
                channel_txn_id=data["channel_txn_id"],
                maker=request.user,
            )
        except FieldValidationError as exc:
            add_field_errors(form, exc)
            messages.error(request, gettext("The proposal was refused: %(error)s / 提交被拒绝") % {"error": refusal_text(exc)})
            return self.page(request, withdrawal, form)
        except DomainError as exc:
            messages.error(request, gettext("The proposal was refused: %(error)s / 提交被拒绝") % {"error": refusal_text(exc)})
            return HttpResponseRedirect(reverse("admin:accounts_withdrawal_change", args=[withdrawal.pk]))
        messages.success(
            request,
            gettext("Resolution #%(id)s recorded: it waits for a different user to approve it. / 已提交，待他人复核。")
            % {"id": resolution.pk},
        )
        return HttpResponseRedirect(reverse("admin:accounts_withdrawal_change", args=[withdrawal.pk]))


# -- manual resolutions -------------------------------------------------------------------------


class ResolutionDecisionForm(DecisionForm):
    decision = forms.ChoiceField(
        label=_("decision / 复核结论"), choices=[("approve", _("Approve / 同意")), ("reject", _("Reject / 驳回"))]
    )
    note = forms.CharField(
        label=_("Note / 复核意见"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Required to reject; recorded in the audit log. / 驳回时必填，记入审计日志。"),
    )

    note_field = "note"
    reason_needed = _("A rejection needs a reason. / 驳回必须填写原因。")


class ResolutionDecideView(DecisionView):
    """The checker's page: the withdrawal, the maker's evidence, then approve (applies it) or reject."""

    template_name = "admin/accounts/withdrawalresolution/decide.html"
    permission = APPROVE_PERMISSION
    form_class = ResolutionDecisionForm
    url_name = "admin:accounts_withdrawalresolution_decide"

    def get_object(self, pk):
        return get_object_or_404(
            WithdrawalResolution.objects.select_related("withdrawal__account", "withdrawal__channel", "maker", "checker"), pk=pk
        )

    def page(self, request, resolution, form):
        return self.render(
            request,
            title=gettext("Review manual resolution #%(id)s / 复核提现人工处理") % {"id": resolution.pk},
            resolution=resolution,
            withdrawal=resolution.withdrawal,
            channel_status=channel_status_label(resolution.withdrawal.channel_status),
            amount=f"{resolution.withdrawal.amount:,.2f}",
            fee=f"{resolution.withdrawal.fee:,.2f}",
            created_at=timezone.localtime(resolution.created_at).strftime("%Y-%m-%d %H:%M"),
            original=resolution,
            form=form,
            is_maker=resolution.maker_id == request.user.pk,
        )

    def decide(self, request, resolution, decision, note):
        if decision == "approve":
            withdrawals.withdrawal_resolution_approve(resolution_id=resolution.pk, checker=request.user, note=note)
        else:
            withdrawals.withdrawal_resolution_reject(resolution_id=resolution.pk, checker=request.user, note=note)

    def decided(self, request, resolution, decision):
        withdrawal = Withdrawal.objects.get(pk=resolution.withdrawal_id)
        if decision == "approve":
            messages.success(
                request,
                gettext("Resolution #%(id)s approved: the withdrawal is %(state)s. / 已复核通过并入账。")
                % {"id": resolution.pk, "state": withdrawal.get_state_display()},
            )
        else:
            messages.success(request, gettext("Resolution #%(id)s rejected. / 已驳回。") % {"id": resolution.pk})
        return HttpResponseRedirect(reverse("admin:accounts_withdrawal_change", args=[withdrawal.pk]))


@admin.register(WithdrawalResolution)
class WithdrawalResolutionAdmin(PaymentLinksMixin, ViewOnlyAdmin):
    list_display = ("id", "withdrawal_ref", "outcome", "state", "maker", "created_at", "checker", "decided_at", "review_link")
    list_filter = ("state", "outcome")
    search_fields = ("=withdrawal__request_id", "=withdrawal__account__number", "=channel_txn_id")
    list_select_related = ("withdrawal", "maker", "checker")
    ordering = ("-created_at", "-pk")
    fields = (
        "withdrawal_ref",
        "outcome",
        "evidence",
        "channel_txn_id",
        "state",
        "maker",
        "created_at",
        "checker",
        "decided_at",
        "decision_note",
    )
    readonly_fields = fields

    def get_list_display(self, request):
        # Only a checker sees the review column; a maker's own rows say why there is no link.
        columns = list(super().get_list_display(request))
        if not request.user.has_perm(APPROVE_PERMISSION):
            columns.remove("review_link")
        return columns

    def get_queryset(self, request):
        mine = Case(When(maker_id=request.user.pk, then=Value(True)), default=Value(False), output_field=BooleanField())
        return super().get_queryset(request).annotate(made_by_viewer=mine)

    @admin.display(description=_("review / 复核"))
    def review_link(self, obj):
        if obj.state != WithdrawalResolution.State.PENDING:
            return "-"
        if getattr(obj, "made_by_viewer", False):
            return gettext("Your proposal: another user reviews it / 本人经办，待他人复核")
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:accounts_withdrawalresolution_decide", args=[obj.pk]), gettext("Review / 复核")
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/decide/",
                wrap(ResolutionDecideView.as_view(model_admin=self)),
                name="accounts_withdrawalresolution_decide",
            ),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        resolution = self.get_object(request, object_id)
        if (
            resolution is not None
            and resolution.state == WithdrawalResolution.State.PENDING
            and request.user.has_perm(APPROVE_PERMISSION)
            and resolution.maker_id != request.user.pk
        ):
            extra_context["decide_url"] = reverse("admin:accounts_withdrawalresolution_decide", args=[resolution.pk])
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


# -- recharges, callbacks, alerts ----------------------------------------------------------------


RECHARGE_FIELDS = (
    "request_id",
    "out_request_no",
    "client",
    "account",
    "card_masked",
    "channel",
    "amount",
    "state",
    "authorisation",
    "credited_to_suspense",
    "channel_txn_id",
    "channel_status_text",
    "failure_reason",
    "resolved_by",
    "submit_attempts",
    "query_attempts",
    "submitted_at",
    "last_activity_at",
    "resolved_at",
    "created_by_label",
    "created_at",
    "updated_at",
)


@admin.register(Recharge)
class RechargeAdmin(PaymentRecordAdmin):
    resource_classes = [RechargeResource]
    export_audit_action = "recharge.export"
    list_display = (
        "request_id",
        "account",
        "amount",
        "state",
        "created_at",
    )  # channel (a filter), suspense and the channel's status text: the recharge's page (fits 1366 px)
    list_filter = ("state", "channel", "credited_to_suspense", InFlightFilter)
    fields = RECHARGE_FIELDS
    readonly_fields = RECHARGE_FIELDS

    @admin.display(description=_("from card / 付款卡"))
    def card_masked(self, obj):
        return f"{obj.card.card_number_masked} {obj.card.bank_name}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        recharge = self.get_object(request, object_id)
        if recharge is not None:
            extra_context.update(
                {
                    "vouchers": _vouchers([(_("Credit / 入账"), recharge.credit_transfer_id)]),
                    "callbacks": _callbacks(recharge.callbacks.order_by("created_at", "pk")),
                    "alerts": list(recharge.alerts.select_related("acknowledged_by").order_by("created_at", "pk")),
                    "audit_trail": _audit_trail(recharge),
                }
            )
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


@admin.register(ChannelCallback)
class ChannelCallbackAdmin(PaymentLinksMixin, ViewOnlyAdmin):
    list_display = ("channel", "channel_txn_id", "event", "request_id", "amount", "outcome", "duplicates", "received")
    list_filter = ("channel", "event", "outcome")
    search_fields = ("=request_id", "=channel_txn_id")
    list_select_related = ("channel",)
    ordering = ("-created_at", "-pk")
    date_hierarchy = "created_at"
    fields = (
        "channel",
        "channel_txn_id",
        "event",
        "request_id",
        "amount",
        "outcome",
        "duplicates",
        "withdrawal_ref",
        "recharge_ref",
        "payload",
        "received",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description=_("received / 收到时间"), ordering="created_at")
    def received(self, obj):
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M:%S")


class AlertAcknowledgeView(ConsoleView):
    """Acknowledging alerts is a confirmation step: the alerts shown, then a note (required when
    one of them is P1), then ``payment_alert_acknowledge`` for each."""

    def check(self, request):
        if not request.user.has_perm(ACKNOWLEDGE_PERMISSION):
            raise PermissionDenied

    def page(self, request, form, alerts):
        needs_note = any(a.severity == PaymentAlert.Severity.P1 for a in alerts)
        return render_confirmation(
            self,
            request,
            title=gettext("Acknowledge alerts / 确认告警"),
            intro=gettext(
                "Acknowledge the alerts below: say what you looked at and what was done (required for P1). "
                "/ 确认以下告警：请说明核查情况及处理措施（P1 告警必填）。"
            ),
            targets=[
                f"#{a.pk} {a.get_severity_display()} · {a.get_kind_display()} · "
                f"{timezone.localtime(a.created_at):%Y-%m-%d %H:%M} · {a.message}"
                for a in alerts
            ],
            form=form,
            cancel_url=_changelist(PaymentAlert),
            submit_label=gettext("Acknowledge / 确认告警"),
            needs_note=needs_note,
        )

    @staticmethod
    def _form(alerts, data=None, initial=None):
        needs_note = any(a.severity == PaymentAlert.Severity.P1 for a in alerts)
        label = _("Note / 处理说明") if needs_note else _("Note (optional) / 备注（可选）")
        return ReasonForm(data, initial=initial, reason_required=needs_note, reason_label=label)

    def get(self, request):
        self.check(request)
        ids = parse_ids(request.GET.get("ids", ""))
        alerts = list(PaymentAlert.objects.filter(pk__in=ids, acknowledged_at__isnull=True).order_by("severity", "pk"))
        if not alerts:
            messages.error(request, gettext("No open alert selected. / 未选择待确认的告警。"))
            return HttpResponseRedirect(_changelist(PaymentAlert))
        return self.page(request, self._form(alerts, initial={"ids": ",".join(str(a.pk) for a in alerts)}), alerts)

    def post(self, request):
        self.check(request)
        ids = parse_ids(request.POST.get("ids", ""))
        alerts = list(PaymentAlert.objects.filter(pk__in=ids, acknowledged_at__isnull=True).order_by("severity", "pk"))
        form = self._form(alerts, request.POST)
        if not alerts:
            messages.error(request, gettext("No open alert selected. / 未选择待确认的告警。"))
            return HttpResponseRedirect(_changelist(PaymentAlert))
        if not form.is_valid():
            return self.page(request, form, alerts)
        _acknowledge(self.model_admin, request, [a.pk for a in alerts], note=form.cleaned_data["reason"])
        return HttpResponseRedirect(_changelist(PaymentAlert))


def _acknowledge(modeladmin, request, alert_ids, note: str = "") -> None:
    done = 0
    for alert_id in sorted(set(alert_ids)):
        try:
            instructions.payment_alert_acknowledge(alert_id=alert_id, actor=request.user, note=note)
        except DomainError as exc:
            modeladmin.message_user(
                request,
                gettext("Alert #%(id)s: refused: %(error)s / 确认被拒绝") % {"id": alert_id, "error": refusal_text(exc)},
                messages.ERROR,
            )
        else:
            done += 1
    if done:
        modeladmin.message_user(
            request, gettext("%(count)s alert(s) acknowledged. / 告警已确认。") % {"count": done}, messages.SUCCESS
        )


@admin.register(PaymentAlert)
class PaymentAlertAdmin(PaymentLinksMixin, ViewOnlyAdmin):
    """Open alerts first (P1 before P2), newest first; acknowledging one records who and when."""

    list_display = (
        "id",
        "severity_badge",
        "kind",
        "text",
        "withdrawal_ref",
        "recharge_ref",
        "reference",
        "channel_ref",
        "created_at",
        "acknowledged_at",
        "acknowledged_by_label",
    )
    list_display_links = ("id", "text")
    list_filter = (AlertStatusFilter, "severity", "kind", "channel")
    search_fields = ("message", "=withdrawal__request_id", "=recharge__request_id", "=reference")
    list_select_related = ("withdrawal", "recharge", "channel", "acknowledged_by")
    fields = (
        "severity",
        "kind",
        "text",
        "message_record",
        "data",
        "withdrawal_ref",
        "recharge_ref",
        "reference",
        "channel_ref",
        "created_at",
        "acknowledged_at",
        "acknowledged_by_label",
    )
    readonly_fields = fields
    actions = ["acknowledge"]

    @admin.display(description=_("message / 说明"))
    def text(self, obj):
        """In the reader's language (``PaymentAlert.text``); the stored bilingual ``message`` is
        what the search matches, in either language."""
        return obj.text

    @admin.display(description=_("as recorded, both languages / 原始记录（中英文）"))
    def message_record(self, obj):
        return obj.message

    @admin.display(description=_("severity / 级别"), ordering="severity")
    def severity_badge(self, obj):
        if obj.severity == PaymentAlert.Severity.P1 and obj.acknowledged_at is None:
            return format_html('<strong class="payments-p1" style="color:#ba2121">{}</strong>', obj.severity)
        return obj.severity

    def get_ordering(self, request):
        return (F("acknowledged_at").asc(nulls_first=True), "severity", "-created_at", "-pk")

    def has_acknowledge_permission(self, request) -> bool:
        return request.user.has_perm(ACKNOWLEDGE_PERMISSION)

    @admin.action(description=_("Acknowledge / 确认告警"), permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:accounts_paymentalert_acknowledge") + f"?ids={ids}")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("acknowledge/", wrap(AlertAcknowledgeView.as_view(model_admin=self)), name="accounts_paymentalert_acknowledge"),
        ] + super().get_urls()


# -- the index dashboard -------------------------------------------------------------------------


def payments_dashboard(request) -> dict | None:
    """The index module's data, or None for a user who may not view withdrawals."""
    user = request.user
    if not user.has_perm(VIEW_PERMISSION):
        return None
    now = timezone.now()
    alert_after = conf.alert_after()
    changelist = _changelist(Withdrawal)
    grouped = {
        row["state"]: row
        for row in Withdrawal.objects.filter(state__in=Withdrawal.IN_FLIGHT)
        .values("state")
        .annotate(count=Count("pk"), oldest=Min("created_at"))
        .order_by()
    }
    states = []
    for state in Withdrawal.IN_FLIGHT:
        row = grouped.get(state)
        oldest = (now - row["oldest"]) if row else None
        states.append(
            {
                "state": state,
                "label": Withdrawal.State(state).label,
                "count": row["count"] if row else 0,
                "oldest_minutes": _minutes(oldest) if oldest is not None else None,
                "old": oldest is not None and oldest > alert_after,
                "url": f"{changelist}?state__exact={state}",
            }
        )
    context = {
        "states": states,
        "in_flight_total": sum(row["count"] for row in states),
        "in_flight_url": f"{changelist}?in_flight=yes",
        "old_url": f"{changelist}?in_flight=yes&age=alert",
        "alert_minutes": _minutes(alert_after),
        "alerts": None,
    }
    if user.has_perm("accounts.view_paymentalert"):
        counts = PaymentAlert.objects.filter(acknowledged_at__isnull=True).aggregate(
            open=Count("pk"), p1=Count("pk", filter=Q(severity=PaymentAlert.Severity.P1))
        )
        alerts_url = _changelist(PaymentAlert)
        context["alerts"] = {
            "open": counts["open"],
            "p1": counts["p1"],
            "url": f"{alerts_url}?status=open",
            "p1_url": f"{alerts_url}?status=open&severity__exact=P1",
        }
    if user.has_perm("accounts.view_withdrawalresolution"):
        context["pending_resolutions"] = WithdrawalResolution.objects.filter(state=WithdrawalResolution.State.PENDING).count()
        context["resolutions_url"] = f"{_changelist(WithdrawalResolution)}?state__exact=pending"
    return context
