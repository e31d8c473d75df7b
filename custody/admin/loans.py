"""Loans in the console, read-only (loans are created, funded, disbursed and repaid by the
platform's API through ``custody.loans.services``): the loan list (filter by state and platform,
search by reference, borrower account or title), a loan's page with its schedule, bids and
repayments; bids, repayments, debts, standing authorisations and the borrowing caps."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.console import ViewOnlyAdmin, ViewOnlyInline
from custody.models import Bid, BorrowingCap, Confirmation, Loan, LoanInstalment, Repayment, RepaymentDebt, StandingAuthorisation


def _money(value) -> str:
    return f"{value:.2f}"


class InstalmentInline(ViewOnlyInline):
    model = LoanInstalment
    fields = ("number", "due_date", "principal", "interest", "state", "paid_at", "payer")
    readonly_fields = fields
    ordering = ("number",)
    verbose_name_plural = _("schedule / 还款计划")


class BidInline(ViewOnlyInline):
    model = Bid
    fk_name = "loan"
    fields = ("out_request_no", "lender", "amount", "state", "hold", "authorisation", "created_at", "ended_at")
    readonly_fields = fields
    ordering = ("pk",)


class RepaymentInline(ViewOnlyInline):
    model = Repayment
    fk_name = "loan"
    fields = ("out_request_no", "instalment", "payer", "principal", "interest", "overdue_interest", "transfer", "authorisation")
    readonly_fields = fields
    ordering = ("pk",)


@admin.register(Loan)
class LoanAdmin(ViewOnlyAdmin):
    list_display = (
        "platform",
        "out_request_no",
        "title",
        "borrower",
        "amount_shown",
        "raised_shown",
        "state",
        "created_at",
    )
    list_filter = ("state", "platform", "method")
    search_fields = ("=out_request_no", "=borrower__account__number", "title", "=platform__code")
    list_select_related = ("platform", "borrower__account")
    ordering = ("-created_at", "-pk")
    fields = (
        "platform",
        "out_request_no",
        "title",
        "borrower",
        "amount",
        "raised",
        "annual_rate",
        "overdue_rate",
        "term_months",
        "method",
        "fundraising_deadline",
        "service_fee_rate",
        "service_fee",
        "principal_repaid",
        "state",
        "disbursed_at",
        "disbursement",
        "fee_authorisation",
        "closed_at",
        "close_reason",
        "requested_by",
        "created_at",
    )
    readonly_fields = fields
    inlines = (InstalmentInline, BidInline, RepaymentInline)

    @admin.display(description=_("borrower account / 借款人账户"), ordering="borrower__account__number")
    def borrower_account(self, obj):
        return obj.borrower.account.number

    @admin.display(description=_("amount / 借款金额"), ordering="amount")
    def amount_shown(self, obj):
        return _money(obj.amount)

    @admin.display(description=_("raised / 已募集"), ordering="raised")
    def raised_shown(self, obj):
        return _money(obj.raised)


@admin.register(Bid)
class BidAdmin(ViewOnlyAdmin):
    list_display = ("id", "platform", "loan", "out_request_no", "lender", "amount", "state", "authorisation", "created_at")
    list_filter = ("state", "platform")
    search_fields = ("=out_request_no", "=lender__account__number")
    list_select_related = ("platform", "loan", "lender__account")
    fields = (
        "platform",
        "loan",
        "lender",
        "amount",
        "out_request_no",
        "hold",
        "authorisation",
        "state",
        "created_at",
        "ended_at",
    )
    readonly_fields = fields


@admin.register(Repayment)
class RepaymentAdmin(ViewOnlyAdmin):
    list_display = ("id", "platform", "loan", "instalment", "payer", "principal", "interest", "overdue_interest", "created_at")
    list_filter = ("platform",)
    search_fields = ("=out_request_no", "=payer__account__number")
    list_select_related = ("platform", "loan", "instalment", "payer__account")
    fields = (
        "platform",
        "loan",
        "instalment",
        "payer",
        "out_request_no",
        "principal",
        "interest",
        "overdue_interest",
        "overdue_days",
        "transfer",
        "authorisation",
        "created_at",
    )
    readonly_fields = fields


@admin.register(RepaymentDebt)
class RepaymentDebtAdmin(ViewOnlyAdmin):
    list_display = ("id", "borrower", "creditor", "amount", "state", "created_at")
    list_filter = ("state",)
    search_fields = ("=borrower__account__number", "=creditor__account__number")
    fields = ("repayment", "borrower", "creditor", "amount", "state", "settled_at", "created_at")
    readonly_fields = fields


@admin.register(StandingAuthorisation)
class StandingAuthorisationAdmin(ViewOnlyAdmin):
    """The clients' standing authorisations (业务授权): granted and revoked by the clients only."""

    list_display = (
        "id",
        "platform",
        "grantor_account",
        "types",
        "per_instruction_max",
        "cumulative_max",
        "consumed",
        "expires_at",
        "revoked_at",
        "in_force",
    )
    list_filter = ("platform",)
    search_fields = ("=grantor__account__number",)
    list_select_related = ("platform", "grantor__account")
    fields = (
        "platform",
        "grantor",
        "instruction_types",
        "per_instruction_max",
        "cumulative_max",
        "consumed",
        "expires_at",
        "revoked_at",
        "granted_via",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description=_("grantor account / 授权账户"))
    def grantor_account(self, obj):
        return obj.grantor.account.number

    @admin.display(description=_("types / 业务类型"))
    def types(self, obj):
        return ", ".join(obj.instruction_types)

    @admin.display(description=_("in force / 有效"), boolean=True)
    def in_force(self, obj):
        return obj.revoked_at is None and obj.expires_at > timezone.now()


@admin.register(BorrowingCap)
class BorrowingCapAdmin(ViewOnlyAdmin):
    """R-DEP-06 caps with their history (a new cap is a data migration: rules change by release)."""

    list_display = ("party_kind", "amount", "effective_from", "source")
    list_filter = ("party_kind",)
    fields = ("party_kind", "amount", "effective_from", "source", "created_at")
    readonly_fields = fields


@admin.register(Confirmation)
class ConfirmationAdmin(ViewOnlyAdmin):
    """Instructions sent with method "confirm" (bids, repayments, disbursement fees, withdrawals,
    recharges) and sub-account openings, waiting for or decided by the client on the portal."""

    list_display = ("id", "platform", "kind", "loan", "amount", "out_request_no", "state", "outcome_code", "expires_at")
    list_filter = ("state", "platform", "kind")
    search_fields = ("=out_request_no", "=sub_account__account__number")
    list_select_related = ("platform", "loan")
    fields = (
        "platform",
        "kind",
        "party",
        "sub_account",
        "loan",
        "amount",
        "out_request_no",
        "data",
        "state",
        "outcome_code",
        "expires_at",
        "decided_at",
        "bid",
        "repayment",
        "withdrawal",
        "recharge",
        "created_at",
    )
    readonly_fields = fields
