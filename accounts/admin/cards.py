"""Card binding and verification status in the console, and the BIN table.

What is never shown: a card number or mobile unmasked, a micro-deposit's amount (the secret the
holder back-fills), a one-time code or its hash. The simulator's SMS texts hold codes, so their
text is shown to superusers only. Bound cards, micro-deposits, one-time codes and SMS are
read-only; the one write is "retry micro-deposit" (``accounts.cards.services.micro_deposit_retry``, needs
``accounts.add_microdeposit``). The BIN table is reference data, imported from CSV/XLSX through
``BinEntryResource`` with the dry-run-then-confirm step (needs add and change BIN entry).
"""

from __future__ import annotations

import json
import time

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from accounts.cards import services as cards
from accounts.cards.models import BinEntry, BoundCard, MicroDeposit, OneTimeCode, SmsMessage
from accounts.ledger.models import Account
from accounts.resources import BinEntryResource
from backoffice import crypto
from backoffice.audit import audit_record
from backoffice.console import ConsoleView, NoDeleteMixin, ViewOnlyAdmin, ViewOnlyInline, refusal_text
from backoffice.errors import DomainError, FieldValidationError

RETRY_PERMISSION = "accounts.add_microdeposit"
# Binding a card at the counter is a counter action on the account (as face-to-face verification).
BIND_PERMISSION = "accounts.change_account"
BIND_TIERS = (Account.Tier.CLASS_I, Account.Tier.CLASS_II, Account.Tier.CLASS_III)
BIND_SESSION_KEY = "console.card_bind"
BIND_MAX_AGE = 15 * 60
# Why the card's bank did not verify a card (BoundCard.failure_reason), as the operator reads it.
FAILURE_LABELS = {
    "elements_rejected": _("the card's bank did not confirm the elements / 发卡行未确认要素"),
    "third_party_verifier": _("confirmed by a third party, not the card's bank / 非发卡行确认，不予认可"),
    "verification_unknown": _("no answer from the card's bank / 发卡行未答复"),
    "bound_account_not_allowed": _("the bank says this kind of account cannot be bound / 发卡行答复该类账户不可绑定"),
    "bound_account_kind_mismatch": _("the card kind differs from the bank's answer / 卡种与发卡行答复不符"),
}

__all__ = ["card_bind_url", "BinEntryAdmin", "BoundCardAdmin", "MicroDepositAdmin", "OneTimeCodeAdmin", "SmsMessageAdmin"]


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


# -- counter card binding (柜面绑卡) ------------------------------------------------------------


def card_bind_url(request, account: Account) -> str:
    """The counter binding page of ``account``, if the user may bind and the account can take a
    card (a person's Class I/II/III account, not closed, no recharge card live); else ""."""
    if not (request.user.has_perm(BIND_PERMISSION) and request.user.has_perm("accounts.view_boundcard")):
        return ""
    party = account.party
    if account.is_internal or party is None or party.type != "person" or account.tier not in BIND_TIERS:
        return ""
    if account.state in (Account.State.CLOSED, Account.State.DEEMED_CLOSED):
        return ""
    live = BoundCard.objects.filter(
        account=account, purpose=BoundCard.Purpose.RECHARGE_WITHDRAWAL, state__in=BoundCard.LIVE_STATES
    ).exists()
    return "" if live else reverse("admin:accounts_boundcard_bind", args=[account.pk])


class CounterCardBindForm(forms.Form):
    holder_name = forms.CharField(label=_("Cardholder name / 持卡人姓名"), max_length=100)
    id_number = forms.CharField(label=_("ID number / 身份证号码"), max_length=30)
    card_number = forms.CharField(label=_("Card number / 卡号"), max_length=40)
    reserved_mobile = forms.CharField(label=_("Reserved mobile / 银行预留手机号"), max_length=20)
    bound_account_kind = forms.ChoiceField(
        label=_("Kind of card / 卡的种类"),
        choices=[
            ("", "---------"),
            (BoundCard.BoundAccountKind.CLASS_I, _("Debit card, Class I account / 借记卡（一类户）")),
            (BoundCard.BoundAccountKind.CREDIT_CARD, _("Credit card / 信用卡")),
        ],
    )


class CounterCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code the customer read out / 客户提供的短信验证码"),
        max_length=6,
        min_length=6,
        help_text=_("Six digits texted to the card's reserved mobile. / 发送至银行预留手机号的 6 位验证码。"),
    )


class CounterCardBindView(ConsoleView):
    """Bind a card for a party's account at the counter: the four elements (checked at once), a
    one-time code to the card's reserved mobile that the customer reads out, then
    ``cards.card_bind`` (element check by the card's bank; the micro-deposit starts once it
    confirms). The operator is the actor of every step; then the card's page follows it."""

    template_name = "admin/accounts/boundcard/bind.html"

    def _account(self, request, account_id: int) -> Account:
        if not (request.user.has_perm(BIND_PERMISSION) and request.user.has_perm("accounts.view_boundcard")):
            raise PermissionDenied
        return get_object_or_404(Account.objects.select_related("party"), pk=account_id)

    def _page(self, request, account, *, step: int, form, pending=None, status=200):
        return self.render(
            request,
            status=status,
            title=gettext("Bind a card / 柜面绑卡"),
            account=account,
            step=step,
            form=form,
            pending=pending,
            can_bind=bool(card_bind_url(request, account)),
            opts=BoundCard._meta,
        )

    def get(self, request, account_id: int):
        account = self._account(request, account_id)
        request.session.pop(BIND_SESSION_KEY, None)
        return self._page(request, account, step=1, form=CounterCardBindForm(initial={"holder_name": account.party.name}))

    def post(self, request, account_id: int):
        account = self._account(request, account_id)
        if not card_bind_url(request, account):
            messages.error(request, gettext("This account cannot take a card now. / 该账户当前不能绑卡。"))
            return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))
        if request.POST.get("step") == "code":
            return self._code(request, account)
        form = CounterCardBindForm(request.POST)
        if not form.is_valid():
            return self._page(request, account, step=1, form=form)
        data = form.cleaned_data
        try:
            checked = cards.card_bind_check(
                account=account,
                card_number=data["card_number"],
                holder_name=data["holder_name"],
                id_number=data["id_number"],
                reserved_mobile=data["reserved_mobile"],
                bound_account_kind=data["bound_account_kind"],
            )
            otp = cards.otp_send(
                account=account, purpose=OneTimeCode.Purpose.CARD_BIND, mobile=checked["reserved_mobile"], actor=request.user
            )
        except FieldValidationError as exc:
            for name, errors in exc.fields.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, str(error))
            return self._page(request, account, step=1, form=form)
        except DomainError as exc:
            form.add_error(None, refusal_text(exc))
            return self._page(request, account, step=1, form=form)
        elements = {key: checked[key] for key in ("card_number", "id_number", "reserved_mobile", "holder_name")}
        pending = {
            "account": account.pk,
            "user": request.user.pk,
            "at": time.time(),
            "elements": crypto.encrypt(json.dumps({**elements, "bound_account_kind": data["bound_account_kind"]})),
            "card": crypto.mask_card_number(checked["card_number"]),
            "mobile": otp.mobile_masked,
            "warnings": checked["warnings"],
        }
        request.session[BIND_SESSION_KEY] = pending
        return self._page(request, account, step=2, form=CounterCodeForm(), pending=pending)

    def _code(self, request, account):
        pending = request.session.get(BIND_SESSION_KEY)
        if (
            not pending
            or pending.get("account") != account.pk
            or pending.get("user") != request.user.pk
            or time.time() - pending.get("at", 0) > BIND_MAX_AGE
        ):
            messages.warning(request, gettext("Enter the card details again. / 请重新录入银行卡信息。"))
            return HttpResponseRedirect(reverse("admin:accounts_boundcard_bind", args=[account.pk]))
        form = CounterCodeForm(request.POST)
        if not form.is_valid():
            return self._page(request, account, step=2, form=form, pending=pending)
        try:
            cards.otp_verify(
                account=account, purpose=OneTimeCode.Purpose.CARD_BIND, code=form.cleaned_data["code"], actor=request.user
            )
        except DomainError as exc:
            form.add_error("code", refusal_text(exc))
            return self._page(request, account, step=2, form=form, pending=pending)
        elements = json.loads(crypto.decrypt(pending["elements"]))
        request.session.pop(BIND_SESSION_KEY, None)
        try:
            card = cards.card_bind(account=account, actor=request.user, **elements)
        except DomainError as exc:
            messages.error(request, refusal_text(exc))
            return HttpResponseRedirect(reverse("admin:accounts_boundcard_bind", args=[account.pk]))
        if card.state == BoundCard.State.FAILED:
            messages.error(
                request,
                gettext("Card %(card)s was not verified by its bank: %(reason)s / 发卡行未通过核验。")
                % {"card": card.card_number_masked, "reason": FAILURE_LABELS.get(card.failure_reason, card.failure_reason)},
            )
        else:
            messages.success(
                request,
                gettext("Card %(card)s bound: %(state)s. / 已绑卡，等待小额鉴权回填。")
                % {"card": card.card_number_masked, "state": card.get_state_display()},
            )
        return HttpResponseRedirect(reverse("admin:accounts_boundcard_change", args=[card.pk]))


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

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("bind/<int:account_id>/", wrap(CounterCardBindView.as_view(model_admin=self)), name="accounts_boundcard_bind"),
            *super().get_urls(),
        ]


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
