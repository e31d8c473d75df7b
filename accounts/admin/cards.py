"""Card binding and verification status in the console, and the BIN table.

What is never shown: a card number or mobile unmasked, a micro-deposit's amount (the secret the
holder back-fills), a one-time code or its hash. The simulator's SMS texts hold codes, so their
text is shown to superusers only. Bound cards, micro-deposits, one-time codes and SMS are
read-only; the one write is "retry micro-deposit" (``accounts.cards.services.micro_deposit_retry``, needs
``accounts.add_microdeposit``). The BIN table is reference data, imported from CSV/XLSX through
``BinEntryResource`` with the dry-run-then-confirm step (needs add and change BIN entry).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from accounts.cards import services as cards
from accounts.cards.models import BinEntry, BoundCard, MicroDeposit, OneTimeCode, SmsMessage
from accounts.resources import BinEntryResource
from backoffice.audit import audit_record
from backoffice.console import NoDeleteMixin, ViewOnlyAdmin, ViewOnlyInline, refusal_text
from backoffice.errors import DomainError

RETRY_PERMISSION = "accounts.add_microdeposit"

__all__ = ["BinEntryAdmin", "BoundCardAdmin", "MicroDepositAdmin", "OneTimeCodeAdmin", "SmsMessageAdmin"]


def _retry_cards(modeladmin, request, card_ids) -> None:
    for card_id in sorted(set(card_ids)):
        try:
            deposit = cards.micro_deposit_retry(card_id=card_id, actor=request.user)
        except DomainError as exc:
            modeladmin.message_user(
                request,
                gettext("Card #%(card)s: retry refused: %(error)s / 重新打款被拒绝")
                % {"card": card_id, "error": refusal_text(exc)},
                messages.ERROR,
            )
        else:
            modeladmin.message_user(
                request,
                gettext("Card #%(card)s: micro-deposit %(request)s queued. / 已重新发起小额鉴权。")
                % {"card": card_id, "request": deposit.request_id},
                messages.SUCCESS,
            )


class RetryPermissionMixin:
    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm(RETRY_PERMISSION)


class MicroDepositInline(ViewOnlyInline):
    model = MicroDeposit
    fk_name = "card"
    fields = ("request_id", "state", "attempts", "max_attempts", "sent_on", "expires_at", "created_at")
    readonly_fields = fields
    ordering = ("-pk",)


@admin.register(BoundCard)
class BoundCardAdmin(RetryPermissionMixin, ViewOnlyAdmin):
    list_display = ("id", "card_number_masked", "bank_name", "card_type", "state", "account", "warning_list", "created_at")
    list_filter = ("state", "card_type", "bound_account_kind", "purpose")
    search_fields = ("=account__number", "=last4", "bank_name", "holder_name")
    search_help_text = _("Account number, the card's last four digits, issuer or holder / 账号、卡号后四位、发卡行或持卡人")
    list_select_related = ("account",)
    ordering = ("-created_at", "-pk")
    fields = (
        "account",
        "card_number_masked",
        "bin_prefix",
        "bank_name",
        "card_type",
        "holder_name",
        "reserved_mobile_masked",
        "bound_account_kind",
        "purpose",
        "elements",
        "verifier",
        "verification_result",
        "warning_list",
        "failure_reason",
        "state",
        "verified_at",
        "created_at",
        "history",
    )
    readonly_fields = fields
    inlines = [MicroDepositInline]
    actions = ["retry_micro_deposit"]

    @admin.display(description=_("card number / 卡号"))
    def card_number_masked(self, obj):
        return obj.card_number_masked

    @admin.display(description=_("reserved mobile / 预留手机号"))
    def reserved_mobile_masked(self, obj):
        return obj.reserved_mobile_masked

    @admin.display(description=_("warnings / 提示"))
    def warning_list(self, obj):
        return ", ".join(str(w) for w in obj.warnings) or "-"

    @admin.display(description=_("history / 变更记录"))
    def history(self, obj):
        rows = cards.card_history(card=obj)
        if not rows:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} {} {} {}</li>",
                (
                    (
                        timezone.localtime(r.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                        r.actor_label,
                        r.action,
                        r.data.get("to", ""),
                    )
                    for r in rows
                ),
            ),
        )

    @admin.action(description=_("Retry micro-deposit / 重新发起小额鉴权"), permissions=["retry"])
    def retry_micro_deposit(self, request, queryset):
        _retry_cards(self, request, queryset.values_list("pk", flat=True))


@admin.register(MicroDeposit)
class MicroDepositAdmin(RetryPermissionMixin, ViewOnlyAdmin):
    """Never the amount: it is what the holder proves they received."""

    list_display = ("id", "request_id", "card_masked", "account", "state", "attempts", "max_attempts", "sent_on", "expires_at")
    list_filter = ("state", "sent_on")
    search_fields = ("=request_id", "=account__number")
    list_select_related = ("account", "card")
    ordering = ("-pk",)
    date_hierarchy = "expires_at"
    fields = (
        "card_masked",
        "account",
        "request_id",
        "state",
        "attempts",
        "max_attempts",
        "sent_on",
        "not_before",
        "submitted_at",
        "accepted_at",
        "expires_at",
        "query_attempts",
        "created_at",
    )
    readonly_fields = fields
    actions = ["retry_micro_deposit"]

    @admin.display(description=_("card / 卡"))
    def card_masked(self, obj):
        return obj.card.card_number_masked

    @admin.action(description=_("Retry micro-deposit of the card / 重新发起小额鉴权"), permissions=["retry"])
    def retry_micro_deposit(self, request, queryset):
        _retry_cards(self, request, queryset.values_list("card_id", flat=True))


@admin.register(OneTimeCode)
class OneTimeCodeAdmin(ViewOnlyAdmin):
    """State only: the code is never stored in clear, and its hash is not shown either."""

    list_display = ("id", "account", "purpose", "mobile_masked", "code_state", "attempts", "sent_at", "expires_at")
    list_filter = ("purpose",)
    search_fields = ("=account__number",)
    list_select_related = ("account",)
    ordering = ("-sent_at", "-pk")
    fields = ("account", "purpose", "mobile_masked", "code_state", "attempts", "sent_at", "expires_at", "used_at", "revoked_at")
    readonly_fields = fields

    @admin.display(description=_("state / 状态"))
    def code_state(self, obj):
        if obj.used_at:
            return gettext("Used / 已使用")
        if obj.revoked_at:
            return gettext("Superseded / 已作废")
        if obj.expires_at <= timezone.now():
            return gettext("Expired / 已过期")
        return gettext("Valid / 有效")


@admin.register(SmsMessage)
class SmsMessageAdmin(ViewOnlyAdmin):
    """The simulator's outbox. Texts carry one-time codes: only a superuser sees them."""

    list_display = ("created_at", "account", "mobile_masked", "purpose", "text_hidden")
    list_filter = ("purpose",)
    search_fields = ("=account__number", "purpose")
    list_select_related = ("account",)
    date_hierarchy = "created_at"
    fields = ("created_at", "account", "mobile_masked", "purpose", "text_hidden")
    readonly_fields = ("created_at", "account", "mobile_masked", "purpose", "text_hidden", "text")

    @admin.display(description=_("text / 内容"))
    def text_hidden(self, obj):
        return gettext("(hidden: it may hold a one-time code) / （已隐藏：可能含验证码）")

    def _text_column(self, request) -> str:
        return "text" if request.user.is_superuser else "text_hidden"

    def get_list_display(self, request):
        return ("created_at", "account", "mobile_masked", "purpose", self._text_column(request))

    def get_fields(self, request, obj=None):
        return ("created_at", "account", "mobile_masked", "purpose", self._text_column(request))


@admin.register(BinEntry)
class BinEntryAdmin(NoDeleteMixin, ImportExportModelAdmin):
    """The BIN table (卡BIN表): edited and imported by operators (a dry run, then the confirmation).
    Never deleted: a prefix that bound cards were checked against stays; correct it instead."""

    resource_classes = [BinEntryResource]
    list_display = ("prefix", "bank_name", "card_type", "card_length", "updated_at")
    list_filter = ("card_type", "card_length")
    search_fields = ("prefix", "bank_name")
    ordering = ("prefix",)
    fields = ("prefix", "bank_name", "card_type", "card_length")

    def has_import_permission(self, request):
        return request.user.has_perm("accounts.add_binentry") and request.user.has_perm("accounts.change_binentry")

    def has_export_permission(self, request):
        return request.user.has_perm("accounts.view_binentry")

    def save_model(self, request, obj, form, change):
        obj.save()
        audit_record(
            actor=request.user,
            action="bin_entry.change" if change else "bin_entry.add",
            target=obj,
            data={"prefix": obj.prefix, "bank_name": obj.bank_name, "card_type": obj.card_type, "card_length": obj.card_length},
        )

    def process_result(self, result, request):
        totals = {key: int(value) for key, value in result.totals.items()}
        audit_record(
            actor=request.user,
            action="bin_entry.import",
            target=None,
            data={"totals": totals, "rows": len(result.rows)},
        )
        return super().process_result(result, request)
