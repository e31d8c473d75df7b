"""Judicial freezes (司法冻结) and their maker-checker requests in the console.

- Judicial freezes are read-only (filters by state and kind); the account page lists its open ones.
- A maker with ``accounts.request_judicial_freeze`` fills in a request form (place: kind, amount,
  authority, document number, expiry; release; deduct: amount and the court's account; renew:
  new expiry) that calls ``accounts.states.freezes.freeze_request_create``.
- A checker with ``accounts.approve_judicial_freeze`` approves or rejects a pending request on its
  decision page (``freeze_request_approve`` / ``freeze_request_reject``). The service refuses the
  maker as checker; the refusal, like every other, is shown with ``messages.error``.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Case, Value, When
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.ledger.models import Account
from accounts.states import freezes
from accounts.states.models import FreezeRequest, JudicialDeduction, JudicialFreeze, JudicialFreezeRenewal
from backoffice.console import (
    ConsoleView,
    DecisionForm,
    DecisionView,
    ViewOnlyAdmin,
    ViewOnlyInline,
    add_field_errors,
    refusal_text,
)
from backoffice.errors import DomainError, FieldValidationError

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


def _datetime_field(label):
    return forms.DateTimeField(
        label=label,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Asia/Shanghai time / 北京时间"),
    )


def _document_field():
    return forms.CharField(label=_("Document number / 文书编号"), max_length=100)


def _reason_field():
    return forms.CharField(
        label=_("note for the checker / 经办说明"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


class PlaceForm(forms.Form):
    account = forms.CharField(label=_("account number / 账号"), max_length=16)
    kind = forms.ChoiceField(label=_("Kind / 冻结方式"), choices=JudicialFreeze.Kind.choices)
    amount = forms.DecimalField(
        label=_("amount (partial only) / 冻结金额（仅部分冻结）"), required=False, max_digits=15, decimal_places=2
    )
    authority = forms.CharField(label=_("Authority / 有权机关"), max_length=200)
    document_number = _document_field()
    expires_at = _datetime_field(_("Expires at / 到期时间"))
    reason = _reason_field()

    def clean_account(self):
        number = self.cleaned_data["account"].strip()
        account = Account.objects.filter(number=number, kind=Account.Kind.CUSTOMER).first()
        if account is None:
            raise forms.ValidationError(_("No customer account with this number. / 无此客户账户。"))
        return account


class ReleaseForm(forms.Form):
    document_number = _document_field()
    reason = _reason_field()


class DeductForm(forms.Form):
    amount = forms.DecimalField(label=_("amount / 扣划金额"), max_digits=15, decimal_places=2)
    court_account_name = forms.CharField(label=_("Payee account name / 收款户名"), max_length=200)
    court_account_number = forms.CharField(label=_("Payee account number / 收款账号"), max_length=64)
    court_bank = forms.CharField(label=_("Payee bank / 收款行"), max_length=200, required=False)
    document_number = _document_field()
    reason = _reason_field()


class RenewForm(forms.Form):
    expires_at = _datetime_field(_("new expiry / 新到期时间"))
    document_number = _document_field()
    reason = _reason_field()


REQUEST_FORMS = {
    FreezeRequest.Action.PLACE: PlaceForm,
    FreezeRequest.Action.RELEASE: ReleaseForm,
    FreezeRequest.Action.DEDUCT: DeductForm,
    FreezeRequest.Action.RENEW: RenewForm,
}


def _payload(action: str, data: dict) -> dict:
    payload = {k: v for k, v in data.items() if k not in ("account", "reason")}
    if "amount" in payload:
        payload["amount"] = "" if payload["amount"] is None else f"{payload['amount']:.2f}"
    if action == FreezeRequest.Action.PLACE and not payload.get("amount"):
        payload.pop("amount", None)
    return payload


class FreezeRequestCreateView(ConsoleView):
    """The maker's form for one action; the service validates again and records the request."""

    template_name = "admin/accounts/judicialfreeze/request_form.html"

    def check(self, request, action):
        if action not in REQUEST_FORMS or not request.user.has_perm(freezes.REQUEST_PERMISSION):
            raise PermissionDenied
        return REQUEST_FORMS[action]

    def target(self, request, action):
        if action == FreezeRequest.Action.PLACE:
            return None
        raw = request.GET.get("freeze") or request.POST.get("freeze") or ""
        if not raw.isdigit():
            return None
        return JudicialFreeze.objects.select_related("account").filter(pk=int(raw)).first()

    def page(self, request, action, form, freeze, status=200):
        label = FreezeRequest.Action(action).label
        return self.render(
            request,
            status=status,
            title=gettext("Request a judicial freeze action: %(action)s / 司法冻结申请") % {"action": label},
            form=form,
            action=action,
            action_label=label,
            freeze=freeze,
        )

    def get(self, request, action):
        form_class = self.check(request, action)
        freeze = self.target(request, action)
        if action != FreezeRequest.Action.PLACE and freeze is None:
            messages.error(request, gettext("No such judicial freeze. / 司法冻结不存在。"))
            return HttpResponseRedirect(reverse("admin:accounts_judicialfreeze_changelist"))
        initial = {}
        if action == FreezeRequest.Action.PLACE and (request.GET.get("account") or "").isdigit():
            number = Account.objects.filter(pk=int(request.GET["account"])).values_list("number", flat=True).first()
            initial["account"] = number or ""
        return self.page(request, action, form_class(initial=initial), freeze)

    def post(self, request, action):
        form_class = self.check(request, action)
        freeze = self.target(request, action)
        if action != FreezeRequest.Action.PLACE and freeze is None:
            messages.error(request, gettext("No such judicial freeze. / 司法冻结不存在。"))
            return HttpResponseRedirect(reverse("admin:accounts_judicialfreeze_changelist"))
        form = form_class(request.POST)
        if not form.is_valid():
            return self.page(request, action, form, freeze)
        data = form.cleaned_data
        try:
            created = freezes.freeze_request_create(
                action=action,
                requested_by=request.user,
                payload=_payload(action, data),
                account_id=data["account"].pk if action == FreezeRequest.Action.PLACE else None,
                freeze_id=freeze.pk if freeze is not None else None,
                reason=data.get("reason") or "",
            )
        except FieldValidationError as exc:
            add_field_errors(form, exc)
            messages.error(request, gettext("The request was refused: %(error)s / 申请被拒绝") % {"error": refusal_text(exc)})
            return self.page(request, action, form, freeze)
        except DomainError as exc:
            messages.error(request, gettext("The request was refused: %(error)s / 申请被拒绝") % {"error": refusal_text(exc)})
            return self.page(request, action, form, freeze)
        messages.success(
            request,
            gettext("Request #%(id)s recorded: it waits for a different user to approve it. / 申请已提交，待他人复核。")
            % {"id": created.pk},
        )
        return HttpResponseRedirect(reverse("admin:accounts_freezerequest_change", args=[created.pk]))


#: The request's data, in the order and with the labels the checker reads them.
PAYLOAD_LABELS = {
    "kind": _("Kind / 冻结方式"),
    "amount": _("Amount / 金额"),
    "authority": _("Authority / 有权机关"),
    "document_number": _("Document number / 文书编号"),
    "effective_at": _("Effective at / 生效时间"),
    "expires_at": _("Expires at / 到期时间"),
    "court_account_name": _("Payee account name / 收款户名"),
    "court_account_number": _("Payee account number / 收款账号"),
    "court_bank": _("Payee bank / 收款行"),
}


def _local_time(value) -> str:
    """An aware moment (or its ISO text) as Asia/Shanghai wall time, ``2026-12-07 07:31``."""
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        return str(value or "-")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def payload_rows(payload: dict) -> list[tuple[str, str]]:
    """A freeze request's payload as (label, shown value): kinds as labels, amounts grouped,
    moments in Asia/Shanghai; keys without a label are left out (never a raw field name)."""
    rows = []
    for key, label in PAYLOAD_LABELS.items():
        if key not in payload:
            continue
        value = payload[key]
        if value in (None, ""):
            shown = "-"
        elif key == "kind":
            shown = str(JudicialFreeze.Kind(value).label) if value in JudicialFreeze.Kind.values else str(value)
        elif key == "amount":
            shown = f"{Decimal(str(value)):,.2f}"
        elif key.endswith("_at"):
            shown = _local_time(value)
        else:
            shown = str(value)
        rows.append((str(label), shown))
    return rows


def freeze_rows(freezes_qs) -> list[dict]:
    """The account's open and past judicial freezes as the checker reads them."""
    return [
        {
            "pk": f.pk,
            "kind": f.get_kind_display(),
            "state": f.get_state_display(),
            "amount": "-" if f.amount is None else f"{f.amount:,.2f}",
            "frozen_amount": f"{f.frozen_amount:,.2f}",
            "authority": f.authority,
            "document_number": f.document_number,
            "expires_at": _local_time(f.expires_at),
        }
        for f in freezes_qs
    ]


class FreezeDecisionForm(DecisionForm):
    decision = forms.ChoiceField(
        label=_("Decision / 复核结论"), choices=[("approve", _("Approve / 同意")), ("reject", _("Reject / 拒绝"))]
    )
    reason = forms.CharField(
        label=_("Reason / 原因"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Required to reject; recorded in the audit log. / 拒绝时必填，记入审计日志。"),
    )

    note_field = "reason"
    reason_needed = _("A rejection needs a reason. / 拒绝必须填写原因。")


class FreezeRequestDecideView(DecisionView):
    """The checker's page: the request, then approve (executes it) or reject."""

    template_name = "admin/accounts/freezerequest/decide.html"
    permission = freezes.APPROVE_PERMISSION
    form_class = FreezeDecisionForm
    url_name = "admin:accounts_freezerequest_decide"

    def get_object(self, pk):
        return get_object_or_404(FreezeRequest.objects.select_related("account", "freeze", "requested_by"), pk=pk)

    def page(self, request, req, form):
        account = req.account
        party = account.party
        open_freezes = JudicialFreeze.objects.filter(account=account, state__in=JudicialFreeze.OPEN_STATES).order_by(
            "created_at", "pk"
        )
        return self.render(
            request,
            title=gettext("Review freeze request #%(id)s / 复核司法冻结申请") % {"id": req.pk},
            req=req,
            original=req,
            payload=payload_rows(req.payload),
            requested_at=_local_time(req.requested_at),
            holder=party,
            holder_identity=(party.id_number_masked or party.credit_code_masked) if party else "",
            balance=f"{account.balance:,.2f}",
            available=f"{account.available:,.2f}",
            frozen=f"{account.frozen:,.2f}",
            account_state=account.get_state_display(),
            existing_freezes=freeze_rows(open_freezes),
            form=form,
            is_maker=req.requested_by_id == request.user.pk,
        )

    def decide(self, request, req, decision, note):
        if decision == "approve":
            freezes.freeze_request_approve(request_id=req.pk, approved_by=request.user, reason=note)
        else:
            freezes.freeze_request_reject(request_id=req.pk, rejected_by=request.user, reason=note)

    def decided(self, request, req, decision):
        if decision == "approve":
            messages.success(request, gettext("Request #%(id)s approved and executed. / 申请已复核并执行。") % {"id": req.pk})
        else:
            messages.success(request, gettext("Request #%(id)s rejected. / 申请已拒绝。") % {"id": req.pk})
        return HttpResponseRedirect(reverse("admin:accounts_freezerequest_change", args=[req.pk]))


class RenewalInline(ViewOnlyInline):
    model = JudicialFreezeRenewal
    fields = ("previous_expires_at", "new_expires_at", "document_number", "created_at")
    readonly_fields = fields


class DeductionInline(ViewOnlyInline):
    model = JudicialDeduction
    fields = ("amount", "court_account_name", "court_account_number", "court_bank", "document_number", "transfer", "created_at")
    readonly_fields = fields


class RequestInline(ViewOnlyInline):
    model = FreezeRequest
    fields = ("action", "state", "requested_by", "requested_at", "decided_by", "decided_at", "reason")
    readonly_fields = fields
    show_change_link = True


@admin.register(JudicialFreeze)
class JudicialFreezeAdmin(ViewOnlyAdmin):
    list_display = (
        "id",
        "account",
        "kind",
        "state",
        "amount",
        "frozen_amount",
        "shortfall",
        "deducted_amount",
        "authority",
        "document_number",
        "expires_at",
    )
    list_filter = ("state", "kind")
    search_fields = ("=account__number", "document_number", "authority")
    list_select_related = ("account",)
    ordering = ("-created_at", "-pk")
    date_hierarchy = "expires_at"
    fields = (
        "account",
        "kind",
        "state",
        "amount",
        "frozen_amount",
        "shortfall",
        "deducted_amount",
        "authority",
        "document_number",
        "effective_at",
        "activated_at",
        "expires_at",
        "ended_at",
        "hold",
    )
    readonly_fields = fields
    inlines = [RenewalInline, DeductionInline, RequestInline]

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "request/<str:action>/",
                wrap(FreezeRequestCreateView.as_view(model_admin=self)),
                name="accounts_judicialfreeze_request",
            ),
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = dict(extra_context or {})
        if request.user.has_perm(freezes.REQUEST_PERMISSION):
            extra_context["request_place_url"] = reverse("admin:accounts_judicialfreeze_request", args=["place"])
        return super().changelist_view(request, extra_context=extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        freeze = self.get_object(request, object_id)
        if freeze is not None and request.user.has_perm(freezes.REQUEST_PERMISSION):
            actions = []
            if freeze.state in JudicialFreeze.OPEN_STATES:
                actions.append((FreezeRequest.Action.RELEASE.label, "release"))
            if freeze.state == JudicialFreeze.State.ACTIVE:
                if freeze.holds_money:
                    actions.append((FreezeRequest.Action.DEDUCT.label, "deduct"))
                actions.append((FreezeRequest.Action.RENEW.label, "renew"))
            extra_context["freeze_actions"] = [
                (label, reverse("admin:accounts_judicialfreeze_request", args=[name]) + f"?freeze={freeze.pk}")
                for label, name in actions
            ]
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


class PendingFirstFilter(admin.SimpleListFilter):
    """Defaults to the checker's queue (pending); "all" shows the decided ones too."""

    title = _("state / 状态")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [*FreezeRequest.State.choices, ("all", _("All / 全部"))]

    def choices(self, changelist):
        value = self.value() or FreezeRequest.State.PENDING
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or FreezeRequest.State.PENDING
        if value == "all":
            return queryset
        if value not in FreezeRequest.State.values:
            return queryset.none()
        return queryset.filter(state=value)


@admin.register(FreezeRequest)
class FreezeRequestAdmin(ViewOnlyAdmin):
    list_display = ("id", "action", "account", "freeze", "state", "requested_by", "requested_at", "decided_by", "review_link")
    list_filter = (PendingFirstFilter, "action")
    search_fields = ("=account__number", "freeze__document_number")
    list_select_related = ("account", "freeze", "requested_by", "decided_by")
    ordering = ("requested_at", "pk")
    fields = (
        "action",
        "account",
        "freeze",
        "payload_text",
        "state",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "reason",
    )
    readonly_fields = fields

    @admin.display(description=_("content / 内容"))
    def payload_text(self, obj):
        return format_html_join(mark_safe("<br>"), "{}: {}", payload_rows(obj.payload))

    def get_list_display(self, request):
        # Only a checker sees the review column (a maker's own rows show why not, never a 403 link).
        columns = list(super().get_list_display(request))
        if not request.user.has_perm(freezes.APPROVE_PERMISSION):
            columns.remove("review_link")
        return columns

    def get_queryset(self, request):
        mine = Case(When(requested_by_id=request.user.pk, then=Value(True)), default=Value(False), output_field=BooleanField())
        return super().get_queryset(request).annotate(made_by_viewer=mine)

    @admin.display(description=_("review / 复核"))
    def review_link(self, obj):
        if obj.state != FreezeRequest.State.PENDING:
            return "-"
        if getattr(obj, "made_by_viewer", False):
            return gettext("Your request: another user reviews it / 本人经办，待他人复核")
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:accounts_freezerequest_decide", args=[obj.pk]), gettext("Review / 复核")
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/decide/",
                wrap(FreezeRequestDecideView.as_view(model_admin=self)),
                name="accounts_freezerequest_decide",
            ),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        req = self.get_object(request, object_id)
        if (
            req is not None
            and req.state == FreezeRequest.State.PENDING
            and request.user.has_perm(freezes.APPROVE_PERMISSION)
            and req.requested_by_id != request.user.pk
        ):
            extra_context["decide_url"] = reverse("admin:accounts_freezerequest_decide", args=[req.pk])
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


__all__ = ["FreezeRequestAdmin", "JudicialFreezeAdmin"]
