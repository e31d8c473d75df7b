"""The operator console for accounts and the ledger.

Rules the console keeps:
- ledger records (vouchers, entries, holds, the chart of accounts) are view-only: no add,
  change or delete, whatever the user's permissions (ledger tables are append-only);
- accounts are opened through ``accounts.parties.services.account_open`` and change state only through
  ``accounts.states.services.account_change_state``, after a confirmation page that asks for a reason;
  that needs the permission ``accounts.change_account_state``;
- a refused request (a ``DomainError``) becomes ``messages.error``, never a 500.

The statement and trial-balance pages live in ``accounts.admin.views``; parties, the KYC review
queue and the audited reveal of personal data in ``accounts.admin.parties``; card binding and the BIN table in
``accounts.admin.cards``; limit rules, KYC tasks, the holiday calendar and dormancy policies in
``accounts.admin.limits``; judicial freezes and their maker-checker requests in
``accounts.admin.states``. Personal data is shown masked everywhere but on the reveal page.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin.views import (
    STATE_ACTION_LABELS,
    AccountCounterActionView,
    AccountCounterTransferView,
    AccountOpenView,
    AccountStateChangeView,
    AccountStatementView,
    ExportJobDownloadView,
    ExportJobView,
    TrialBalanceView,
    available_state_actions,
    counter_actions_for,
)
from accounts.ledger.models import Account, Entry, Hold, Subject, Transfer
from backoffice.console import ViewOnlyAdmin, ViewOnlyInline
from backoffice.portal import money


@admin.register(Subject)
class SubjectAdmin(ViewOnlyAdmin):
    list_display = ("code", "name_zh", "name_en", "category", "normal_side")
    list_filter = ("category", "normal_side")
    search_fields = ("code", "name_zh", "name_en")

    def get_urls(self):
        urls = [
            path(
                "trial-balance/",
                self.admin_site.admin_view(TrialBalanceView.as_view(model_admin=self)),
                name="accounts_trial_balance",
            ),
        ]
        return urls + super().get_urls()


@admin.register(Account)
class AccountAdmin(ViewOnlyAdmin):
    """Opened through accounts.parties.services.account_open (the "open account" page), never edited
    or deleted here; states change through the confirmation pages."""

    # The list fits 1366 px: the holder (party) and the frozen amount are on the account page.
    list_display = ("number", "name", "tier", "role", "state", "balance", "available")
    list_filter = ("kind", "tier", "role", "state")
    search_fields = ("number", "name")
    search_help_text = _(
        "Account number, account or holder name, or the holder's full resident ID number or mobile "
        "/ 账号、户名或客户名称、完整身份证号或手机号"
    )
    list_select_related = ("party",)
    ordering = ("number",)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        from accounts.parties.selectors import party_search

        if search_term.strip():
            # The holder by name, or exactly by ID number or mobile through their keyed hashes.
            queryset = queryset | self.model.objects.filter(party__in=party_search(search_term).values("pk"))
        return queryset, may_have_duplicates

    fields = (
        "number",
        "name",
        "party",
        "kind",
        "tier",
        "role",
        "subject",
        "normal_side",
        "currency",
        "state",
        "balance",
        "available",
        "frozen",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description=_("available / 可用余额"))
    def available(self, obj):
        return money(obj.available)

    def has_open_permission(self, request) -> bool:
        return request.user.has_perm("accounts.add_account")

    def has_change_state_permission(self, request) -> bool:
        return request.user.has_perm("accounts.change_account_state")

    actions = []  # filled in below, one per state action

    def get_urls(self):
        wrap = self.admin_site.admin_view
        urls = [
            path("open/", wrap(AccountOpenView.as_view(model_admin=self)), name="accounts_account_open"),
            path(
                "state/<str:action>/",
                wrap(AccountStateChangeView.as_view(model_admin=self)),
                name="accounts_account_change_state",
            ),
            path(
                "<int:pk>/statement/",
                wrap(AccountStatementView.as_view(model_admin=self)),
                name="accounts_account_statement",
            ),
            path("exports/<int:pk>/", wrap(ExportJobView.as_view(model_admin=self)), name="accounts_account_export_job"),
            path(
                "exports/<int:pk>/download/",
                wrap(ExportJobDownloadView.as_view(model_admin=self)),
                name="accounts_account_export_download",
            ),
            path(
                "<int:pk>/counter/<str:name>/",
                wrap(AccountCounterActionView.as_view(model_admin=self)),
                name="accounts_account_counter",
            ),
            path(
                "<int:pk>/counter-transfer/",
                wrap(AccountCounterTransferView.as_view(model_admin=self)),
                name="accounts_account_counter_transfer",
            ),
        ]
        return urls + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_open_account": self.has_open_permission(request)}
        return super().changelist_view(request, extra_context=extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        account = self.get_object(request, object_id)
        if account is not None:
            extra_context["statement_url"] = reverse("admin:accounts_account_statement", args=[account.pk])
            if self.has_change_state_permission(request):
                extra_context["state_actions"] = [
                    (label, reverse("admin:accounts_account_change_state", args=[name]) + f"?ids={account.pk}")
                    for name, label in available_state_actions(account)
                ]
            extra_context.update(account_page_context(request, account))
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


def account_page_context(request, account: Account) -> dict:
    """What the account page shows beside its fields: limits used and remaining, bound cards,
    open judicial freezes, pending freeze requests, and the counter actions the user may take."""
    from accounts.admin.cards import card_bind_url
    from accounts.cards import services as cards
    from accounts.limits import services as limits
    from accounts.states import freezes

    context = {
        "counter_actions": counter_actions_for(request, account),
        "limits": limits.limits_remaining(account=account) if not account.is_internal else [],
        "show_tier_sections": not account.is_internal,
    }
    if request.user.has_perm("accounts.view_boundcard"):
        context["bound_cards"] = list(cards.card_list(account=account)[:20])
        context["bind_card_url"] = card_bind_url(request, account)
    if request.user.has_perm("accounts.view_judicialfreeze"):
        context["open_freezes"] = list(freezes.account_freezes(account_id=account.pk, open_only=True))
        context["pending_freeze_requests"] = list(
            freezes.freeze_requests_pending().filter(account_id=account.pk).select_related("requested_by")
        )
    if request.user.has_perm(freezes.REQUEST_PERMISSION) and not account.is_internal:
        context["request_freeze_url"] = (
            reverse("admin:accounts_judicialfreeze_request", args=["place"]) + f"?account={account.pk}"
        )
    return context


def _state_action(name: str, label):
    def action(modeladmin, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:accounts_account_change_state", args=[name]) + f"?ids={ids}")

    action.__name__ = f"state_{name}"
    return admin.action(description=label, permissions=["change_state"])(action)


AccountAdmin.actions = [_state_action(name, label) for name, label in STATE_ACTION_LABELS.items()]


class EntryInline(ViewOnlyInline):
    model = Entry
    fields = ("account", "side", "amount", "balance_after", "subject", "created_at")
    readonly_fields = fields


@admin.register(Transfer)
class TransferAdmin(ViewOnlyAdmin):
    list_display = ("id", "kind", "amount", "channel", "client", "idempotency_key", "memo", "created_at")
    list_filter = ("kind", "channel")
    search_fields = ("idempotency_key", "memo")
    search_help_text = _("Voucher number, idempotency key or memo / 凭证号、幂等键或摘要")
    date_hierarchy = "created_at"
    fields = (
        "kind",
        "amount",
        "channel",
        "client",
        "idempotency_key",
        "fingerprint",
        "memo",
        "metadata",
        "reversal_of",
        "created_at",
    )
    readonly_fields = fields
    inlines = [EntryInline]

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().lstrip("#")
        if term.isdigit():
            # Searching by voucher number: the id is an integer, so it is matched exactly.
            queryset = queryset | self.model.objects.filter(pk=int(term))
        return queryset, may_have_duplicates


@admin.register(Entry)
class EntryAdmin(ViewOnlyAdmin):
    list_display = ("id", "transfer_link", "account", "side", "amount", "balance_after", "subject", "created_at")
    list_filter = ("side", "subject")
    search_fields = ("account__number", "=transfer__idempotency_key")
    list_select_related = ("account", "transfer")
    date_hierarchy = "created_at"

    @admin.display(description=_("voucher / 凭证"), ordering="transfer_id")
    def transfer_link(self, obj):
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:accounts_transfer_change", args=[obj.transfer_id]), obj.transfer_id
        )


@admin.register(Hold)
class HoldAdmin(ViewOnlyAdmin):
    list_display = ("id", "account", "amount", "captured_amount", "reason", "state", "reference", "expires_at", "created_at")
    list_filter = ("state", "reason")
    search_fields = ("account__number", "reference", "idempotency_key")
    list_select_related = ("account",)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip().isdigit() and len(search_term.strip()) < 16:
            queryset = queryset | self.model.objects.filter(Q(pk=int(search_term.strip())))
        return queryset, may_have_duplicates
