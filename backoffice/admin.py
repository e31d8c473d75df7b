"""The operator console for the shared kernel: the audit log (view only) and partner API clients.

An API client is created through ``backoffice.services.api_client_create``; its secret is shown
once, on the page that follows the creation, and never again (only a hint of it afterwards).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.audit import audit_record
from backoffice.console import ViewOnlyAdmin
from backoffice.models import ApiClient, AuditLog
from backoffice.services import api_client_create, validate_ips, validate_scopes

SCOPES_HELP = _(
    "Comma-separated: *, accounts:read, accounts:write, transfers:write, holds:write, parties:write, cards:write, "
    "party:<id>, account:<number>; a P2P platform's client: platform:<code> alone. / 以逗号分隔的权限范围。"
)


@admin.register(AuditLog)
class AuditLogAdmin(ViewOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "target_type", "target_id")
    list_filter = ("action", "target_type")
    search_fields = ("target_id", "actor_label", "action")
    date_hierarchy = "created_at"
    fields = ("created_at", "actor", "actor_label", "action", "target_type", "target_id", "data")
    readonly_fields = fields


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip()]


class ScopesFormMixin(forms.Form):
    scopes_text = forms.CharField(label=_("scopes / 权限范围"), help_text=SCOPES_HELP)
    ips_text = forms.CharField(
        label=_("IP allow-list / IP 白名单"),
        required=False,
        help_text=_("Comma-separated addresses or networks; empty: any. / 以逗号分隔，留空表示不限。"),
    )

    def clean_scopes_text(self):
        try:
            return validate_scopes(_split(self.cleaned_data["scopes_text"]))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean_ips_text(self):
        try:
            return validate_ips(_split(self.cleaned_data["ips_text"]))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class ApiClientCreateForm(ScopesFormMixin, forms.Form):
    name = forms.CharField(label=_("name / 名称"), max_length=100)

    field_order = ["name", "scopes_text", "ips_text"]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if ApiClient.objects.filter(name=name).exists():
            raise forms.ValidationError(_("An API client with this name exists. / 该名称已存在。"))
        return name


class ApiClientChangeForm(ScopesFormMixin, forms.ModelForm):
    class Meta:
        model = ApiClient
        fields = ("is_active",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.setdefault("scopes_text", ", ".join(self.instance.scopes))
            self.initial.setdefault("ips_text", ", ".join(self.instance.ip_allowlist))

    def save(self, commit=True):
        self.instance.scopes = self.cleaned_data["scopes_text"]
        self.instance.ip_allowlist = self.cleaned_data["ips_text"]
        return super().save(commit=commit)


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ("name", "client_id", "scope_list", "is_active", "secret_hint", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "client_id")
    form = ApiClientChangeForm
    readonly_fields = ("name", "client_id", "secret_hint", "created_at", "updated_at")
    fields = ("name", "client_id", "secret_hint", "scopes_text", "ips_text", "is_active", "created_at", "updated_at")

    @admin.display(description=_("scopes / 权限范围"))
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(description=_("secret hint / 密钥指纹"))
    def secret_hint(self, obj):
        return f"sha256:{obj.secret_hint}…"

    def has_delete_permission(self, request, obj=None):
        # Idempotency records keep a reference to their client: deactivate instead.
        return False

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if not self.has_change_permission(request, obj):
            # The view-only page shows the stored lists instead of the edit fields.
            fields = [f for f in fields if f not in ("scopes_text", "ips_text")] + ["scope_list", "ip_list"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not self.has_change_permission(request, obj):
            readonly += ["scope_list", "ip_list", "is_active"]
        return readonly

    @admin.display(description=_("IP allow-list / IP 白名单"))
    def ip_list(self, obj):
        return ", ".join(obj.ip_allowlist) or "-"

    def save_model(self, request, obj, form, change):
        obj.save()
        audit_record(
            actor=request.user,
            action="api_client.change",
            target=obj,
            data={"scopes": obj.scopes, "ip_allowlist": obj.ip_allowlist, "is_active": obj.is_active},
        )

    def add_view(self, request, form_url="", extra_context=None):
        """Create through the service (not inside the admin's atomic block) and show the secret once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Add API client / 新增接口客户端"),
        }
        form = ApiClientCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                client, secret = api_client_create(
                    name=data["name"], scopes=data["scopes_text"], ip_allowlist=data["ips_text"], actor=request.user
                )
            except ValueError as exc:
                messages.error(request, str(exc))
            else:
                messages.warning(
                    request,
                    gettext("Copy the secret now: it is shown only once. / 请立即复制密钥：它只显示这一次。"),
                )
                response = TemplateResponse(
                    request,
                    "admin/backoffice/apiclient/secret_once.html",
                    {**context, "title": gettext("API client created / 接口客户端已创建"), "client": client, "secret": secret},
                )
                response["Cache-Control"] = "no-store"
                return response
        return TemplateResponse(request, "admin/backoffice/apiclient/add_form.html", {**context, "form": form})


# django-celery-results: task results are written by the workers, never typed in the console.
def _read_only_results() -> None:
    from django_celery_results.admin import GroupResultAdmin, TaskResultAdmin
    from django_celery_results.models import GroupResult, TaskResult

    for model, base in ((TaskResult, TaskResultAdmin), (GroupResult, GroupResultAdmin)):
        read_only = type(
            f"ReadOnly{base.__name__}",
            (base,),
            {"has_add_permission": lambda self, request: False, "has_change_permission": lambda self, request, obj=None: False},
        )
        if admin.site.is_registered(model):
            admin.site.unregister(model)
        admin.site.register(model, read_only)


_read_only_results()


# Outbound webhooks: endpoints and the delivery log (backoffice/admin_webhooks.py).
from backoffice import admin_webhooks  # noqa: E402, F401
