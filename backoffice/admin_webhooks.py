"""The operator console for outbound webhooks: endpoints (created, rotated and deactivated only
through ``backoffice.webhooks``; the signing secret is shown once, on the page after creation or
rotation) and the delivery log (view only: filters by state, event and owner, the payload and every
attempt, and "resend" after a confirmation, audited by the service).

Permissions: ``view_*`` to look; ``add_webhookendpoint`` to create; ``change_webhookendpoint`` to
rotate a secret or deactivate; ``resend_webhookdelivery`` to resend (supervisors; operators resend).
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.console import (
    ConsoleView,
    NoDeleteMixin,
    ReasonForm,
    ViewOnlyAdmin,
    ViewOnlyInline,
    add_field_errors,
    parse_ids,
    refusal_text,
    render_confirmation,
)
from backoffice.errors import DomainError, FieldValidationError
from backoffice.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from backoffice.webhooks import (
    webhook_endpoint_create,
    webhook_endpoint_deactivate,
    webhook_endpoint_rotate_secret,
    webhook_resend,
)

RESEND_PERMISSION = "backoffice.resend_webhookdelivery"


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip()]


class WebhookEndpointCreateForm(forms.Form):
    owner = forms.CharField(
        label=_("owner / 所属方"),
        max_length=64,
        help_text=_("The key the emitting app uses, e.g. platform:P001 or merchant:12. / 例如 platform:P001。"),
    )
    url = forms.CharField(label=_("URL / 地址"), max_length=500, help_text=_("http:// or https:// only. / 仅限 http(s)。"))
    event_types = forms.CharField(
        label=_("event types / 订阅事件"),
        help_text=_("Comma-separated, e.g. loan.disbursed, loan.repaid; * for all. / 以逗号分隔，* 表示全部。"),
    )
    description = forms.CharField(label=_("description / 说明"), max_length=200, required=False)

    def clean_event_types(self):
        return _split(self.cleaned_data["event_types"])


def _secret_page(view_or_admin, request, endpoint, secret, *, title):
    messages.warning(request, gettext("Copy the secret now: it is shown only once. / 请立即复制密钥：它只显示这一次。"))
    model_admin = getattr(view_or_admin, "model_admin", view_or_admin)
    response = TemplateResponse(
        request,
        "admin/backoffice/webhookendpoint/secret_once.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": WebhookEndpoint._meta,
            "title": title,
            "endpoint": endpoint,
            "secret": secret,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = ("id", "owner", "url", "event_list", "is_active", "secret_hint_text", "created_at")
    list_filter = ("is_active",)
    search_fields = ("owner", "url", "description")
    fields = ("owner", "url", "description", "event_list", "is_active", "secret_hint_text", "created_at", "updated_at")
    readonly_fields = fields
    change_form_template = "admin/backoffice/webhookendpoint/change_form.html"

    @admin.display(description=_("event types / 订阅事件"))
    def event_list(self, obj):
        return ", ".join(obj.event_types)

    @admin.display(description=_("secret hint / 密钥指纹"))
    def secret_hint_text(self, obj):
        return f"sha256:{obj.secret_hint}…"

    def has_change_permission(self, request, obj=None):
        # Nothing is edited in a form: the page is read-only and its buttons call the services.
        return False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        view = wrap(WebhookEndpointActionView.as_view(model_admin=self))
        # One route per action: "<pk>/<action>/" would also catch the admin's own "<pk>/change/".
        return [
            path(f"<int:pk>/{name}/", view, {"action": name}, name=f"backoffice_webhookendpoint_{name}")
            for name in ENDPOINT_ACTIONS
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        endpoint = self.get_object(request, object_id)
        if endpoint is not None and endpoint.is_active and request.user.has_perm("backoffice.change_webhookendpoint"):
            extra_context["endpoint_actions"] = [
                (label, reverse(f"admin:backoffice_webhookendpoint_{name}", args=[endpoint.pk]))
                for name, (label, _intro) in ENDPOINT_ACTIONS.items()
            ]
        extra_context["deliveries_url"] = (
            reverse("admin:backoffice_webhookdelivery_changelist") + f"?endpoint__id__exact={object_id}"
        )
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        """Create through the service (not inside the admin's atomic block) and show the secret once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = WebhookEndpointCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                endpoint, secret = webhook_endpoint_create(
                    owner=data["owner"],
                    url=data["url"],
                    event_types=data["event_types"],
                    description=data["description"],
                    actor=request.user,
                )
            except FieldValidationError as exc:
                add_field_errors(form, exc)
            else:
                return _secret_page(self, request, endpoint, secret, title=gettext("Webhook endpoint created / 回调地址已创建"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Add webhook endpoint / 新增回调地址"),
            "form": form,
        }
        return TemplateResponse(request, "admin/backoffice/webhookendpoint/add_form.html", context)


ENDPOINT_ACTIONS = {
    "rotate": (
        _("Rotate secret / 更换密钥"),
        _(
            "A new signing secret is generated and shown once; the old one stops working at once, for retries "
            "too. / 生成新的签名密钥（仅显示一次），旧密钥立即失效。"
        ),
    ),
    "deactivate": (
        _("Deactivate / 停用"),
        _(
            "No event is sent to this endpoint any more; deliveries waiting for a retry are given up. "
            "/ 停用后不再向该地址发送，待重试的投递将放弃。"
        ),
    ),
}


class WebhookEndpointActionView(ConsoleView):
    """Confirmation page with a reason, then the rotate or deactivate service."""

    def check(self, request, pk, action):
        if action not in ENDPOINT_ACTIONS or not request.user.has_perm("backoffice.change_webhookendpoint"):
            raise PermissionDenied
        return get_object_or_404(WebhookEndpoint, pk=pk)

    def page(self, request, endpoint, action, form):
        label, intro = ENDPOINT_ACTIONS[action]
        return render_confirmation(
            self,
            request,
            title=gettext("Confirm: %(action)s / 确认操作") % {"action": label},
            intro=intro,
            targets=[str(endpoint)],
            form=form,
            cancel_url=reverse("admin:backoffice_webhookendpoint_change", args=[endpoint.pk]),
        )

    def get(self, request, pk, action):
        endpoint = self.check(request, pk, action)
        return self.page(request, endpoint, action, ReasonForm())

    def post(self, request, pk, action):
        endpoint = self.check(request, pk, action)
        form = ReasonForm(request.POST)
        if not form.is_valid():
            return self.page(request, endpoint, action, form)
        reason = form.cleaned_data["reason"]
        back = HttpResponseRedirect(reverse("admin:backoffice_webhookendpoint_change", args=[endpoint.pk]))
        try:
            if action == "rotate":
                endpoint, secret = webhook_endpoint_rotate_secret(endpoint_id=endpoint.pk, actor=request.user, reason=reason)
                return _secret_page(self, request, endpoint, secret, title=gettext("Secret rotated / 密钥已更换"))
            webhook_endpoint_deactivate(endpoint_id=endpoint.pk, actor=request.user, reason=reason)
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
            return back
        messages.success(request, gettext("The endpoint is deactivated. / 回调地址已停用。"))
        return back


class WebhookAttemptInline(ViewOnlyInline):
    model = WebhookAttempt
    fields = ("number", "at", "status", "duration_ms", "error")
    readonly_fields = fields
    verbose_name_plural = _("attempts / 投递尝试")


@admin.action(description=_("Resend selected deliveries / 重发所选投递"), permissions=["resend"])
def action_resend(modeladmin, request, queryset):
    ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
    return HttpResponseRedirect(reverse("admin:backoffice_webhookdelivery_resend") + f"?ids={ids}")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ViewOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "owner",
        "event",
        "endpoint_url",
        "state",
        "attempts",
        "last_status",
        "next_attempt_at",
    )
    list_filter = ("state", "event", "owner")
    search_fields = ("=event_id", "owner", "event", "endpoint__url")
    date_hierarchy = "created_at"
    list_select_related = ("endpoint",)
    actions = [action_resend]
    inlines = [WebhookAttemptInline]
    fields = (
        "endpoint",
        "owner",
        "event",
        "event_id",
        "state",
        "attempts",
        "last_attempt_at",
        "next_attempt_at",
        "last_status",
        "last_error",
        "delivered_at",
        "resend_of",
        "resends_list",
        "created_at",
        "payload_pretty",
    )
    readonly_fields = fields
    change_form_template = "admin/backoffice/webhookdelivery/change_form.html"

    @admin.display(description=_("endpoint / 回调地址"), ordering="endpoint__url")
    def endpoint_url(self, obj):
        return obj.endpoint.url

    @admin.display(description=_("payload / 报文"))
    def payload_pretty(self, obj):
        try:
            text = json.dumps(json.loads(obj.payload), ensure_ascii=False, indent=2, sort_keys=True)
        except ValueError:
            text = obj.payload
        return format_html("<pre class='webhook-payload'>{}</pre>", text)

    @admin.display(description=_("resent as / 重发为"))
    def resends_list(self, obj):
        return ", ".join(f"#{pk}" for pk in obj.resends.order_by("pk").values_list("pk", flat=True)) or "-"

    def has_resend_permission(self, request):
        return request.user.has_perm(RESEND_PERMISSION)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("resend/", wrap(WebhookResendView.as_view(model_admin=self)), name="backoffice_webhookdelivery_resend"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        delivery = self.get_object(request, object_id)
        if (
            delivery is not None
            and delivery.state in (WebhookDelivery.State.DELIVERED, WebhookDelivery.State.DEAD)
            and self.has_resend_permission(request)
        ):
            extra_context["resend_url"] = reverse("admin:backoffice_webhookdelivery_resend") + f"?ids={delivery.pk}"
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


class WebhookResendView(ConsoleView):
    """Confirmation page, then ``webhook_resend`` for each selected delivery (one message each)."""

    def check(self, request):
        if not request.user.has_perm(RESEND_PERMISSION):
            raise PermissionDenied

    def form(self, data=None, initial=None):
        return ReasonForm(data, initial=initial, reason_required=False, reason_label=_("Note (optional) / 备注（可选）"))

    def page(self, request, form, ids):
        deliveries = WebhookDelivery.objects.filter(pk__in=ids).select_related("endpoint").order_by("pk")
        targets = [f"#{d.pk} {d.event} {d.event_id} → {d.endpoint.url} ({d.get_state_display()})" for d in deliveries]
        return render_confirmation(
            self,
            request,
            title=gettext("Confirm: resend / 确认重发"),
            intro=gettext(
                "Each delivery below is sent again as a new delivery of the same bytes and event id; the resend is "
                "recorded in the audit log. / 以下投递将以相同报文和事件编号重新发送，并记入审计日志。"
            ),
            targets=targets,
            form=form,
            cancel_url=reverse("admin:backoffice_webhookdelivery_changelist"),
            submit_label=gettext("Resend / 重发"),
        )

    def get(self, request):
        self.check(request)
        ids = parse_ids(request.GET.get("ids", ""))
        if not ids:
            messages.error(request, gettext("No delivery selected. / 未选择投递。"))
            return HttpResponseRedirect(reverse("admin:backoffice_webhookdelivery_changelist"))
        return self.page(request, self.form(initial={"ids": ",".join(map(str, ids))}), ids)

    def post(self, request):
        self.check(request)
        form = self.form(request.POST)
        ids = parse_ids(request.POST.get("ids", ""))
        if not form.is_valid() or not ids:
            if not ids:
                messages.error(request, gettext("No delivery selected. / 未选择投递。"))
            return self.page(request, form, ids)
        resent = []
        for delivery_id in ids:
            try:
                delivery = webhook_resend(delivery_id=delivery_id, actor=request.user, reason=form.cleaned_data["reason"])
            except DomainError as exc:
                messages.error(
                    request,
                    gettext("#%(id)s: resend refused: %(error)s / 重发被拒绝") % {"id": delivery_id, "error": refusal_text(exc)},
                )
            else:
                resent.append(delivery)
                messages.success(
                    request, gettext("#%(id)s resent as #%(new)s. / 已重发。") % {"id": delivery_id, "new": delivery.pk}
                )
        if len(resent) == 1:
            return HttpResponseRedirect(reverse("admin:backoffice_webhookdelivery_change", args=[resent[0].pk]))
        return HttpResponseRedirect(reverse("admin:backoffice_webhookdelivery_changelist"))
