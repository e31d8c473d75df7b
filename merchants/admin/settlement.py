"""Settlement in the operator console: batches with their items (read-only), clearing files, and
merchant payouts; refund payouts past the refund window (代付) under maker-checker.

- The maker (``merchants.add_merchantpayout``: operators) proposes, from a payment's page, paying
  part of what the payer paid back to an account the payer supplies; nothing moves yet.
- The checker (``merchants.check_merchant_payout``: supervisors) approves or rejects it; the service
  refuses the maker as checker (403 ``maker_checker_violation``). Approval sets the money aside and
  submits the payout on the shared channel lifecycle.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.console import (
    ConsoleView,
    DecisionForm,
    DecisionView,
    ViewOnlyAdmin,
    ViewOnlyInline,
    add_field_errors,
    refusal_text,
    render_confirmation,
)
from backoffice.errors import DomainError, FieldValidationError
from merchants import payouts
from merchants.models import (
    ClearingFile,
    ClearingLine,
    MerchantPayout,
    Payment,
    SettlementAuthorisation,
    SettlementBatch,
    SettlementItem,
)

PROPOSE_PERMISSION = "merchants.add_merchantpayout"
CHECK_PERMISSION = "merchants.check_merchant_payout"


class SettlementItemInline(ViewOnlyInline):
    model = SettlementItem
    fields = ("kind", "request_id", "reference", "amount", "mdr_amount", "net_amount", "channel_amount", "match")
    readonly_fields = fields


@admin.register(SettlementBatch)
class SettlementBatchAdmin(ViewOnlyAdmin):
    """Read-only: batches come from the settlement job (清分 → 清算 → 结算)."""

    list_display = (
        "business_date",
        "merchant",
        "channel",
        "state",
        "payment_count",
        "net_amount",
        "held_amount",
        "reserve_amount",
        "receivable_netted",
        "available_amount",
        "settle_date",
    )
    list_filter = ("state", "channel", "business_date")
    search_fields = ("=merchant__id", "merchant__name")
    list_select_related = ("merchant", "channel")
    date_hierarchy = "business_date"
    inlines = [SettlementItemInline]
    readonly_fields = [f.name for f in SettlementBatch._meta.fields]


class ClearingLineInline(ViewOnlyInline):
    model = ClearingLine
    fields = ("request_id", "channel_txn_id", "kind", "amount", "business_date", "match")
    readonly_fields = fields


@admin.register(ClearingFile)
class ClearingFileAdmin(ViewOnlyAdmin):
    list_display = ("business_date", "channel", "line_count", "total_payments", "total_refunds", "sha256", "created_at")
    list_filter = ("channel",)
    inlines = [ClearingLineInline]
    readonly_fields = [f.name for f in ClearingFile._meta.fields]


class RefundPayoutForm(forms.Form):
    amount = forms.DecimalField(label=_("amount / 金额"), max_digits=14, decimal_places=2, min_value=0.01)
    payee_name = forms.CharField(label=_("payee name / 收款人"), max_length=200)
    payee_account = forms.CharField(label=_("payee account / 收款账号"), max_length=40)
    reason = forms.CharField(
        label=_("reason / 原因"), max_length=200, initial=_("Past the channel's refund window / 超过通道退款期限")
    )


def _payout_url(payout: MerchantPayout) -> str:
    return reverse("admin:merchants_merchantpayout_change", args=[payout.pk])


class RefundPayoutProposeView(ConsoleView):
    """The maker's page: a refund payout of a payment to an account the payer supplies."""

    def check(self, request, pk):
        if not request.user.has_perm(PROPOSE_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(Payment.objects.select_related("merchant"), pk=pk)

    def page(self, request, payment, form):
        return render_confirmation(
            self,
            request,
            title=gettext("Refund payout (代付) / 退款代付"),
            intro=gettext(
                "Past the refund window the payer's money goes back to an account the payer supplies. Another "
                "operator approves it before anything moves. / 超过退款期限时退至付款人提供的账户，须另一人复核后执行。"
            ),
            targets=[f"{payment.merchant.name} · {payment.out_trade_no} · {payment.paid_amount:.2f}"],
            form=form,
            cancel_url=reverse("admin:merchants_payment_change", args=[payment.pk]),
            submit_label=gettext("Propose / 提交复核"),
        )

    def get(self, request, pk):
        return self.page(request, self.check(request, pk), RefundPayoutForm())

    def post(self, request, pk):
        payment = self.check(request, pk)
        form = RefundPayoutForm(request.POST)
        if not form.is_valid():
            return self.page(request, payment, form)
        try:
            payout = payouts.refund_payout_propose(payment_id=payment.pk, maker=request.user, **form.cleaned_data)
        except FieldValidationError as exc:
            add_field_errors(form, exc)
            return self.page(request, payment, form)
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
            return self.page(request, payment, form)
        messages.success(request, gettext("Proposed: another operator approves it. / 已提交，待另一人复核。"))
        return HttpResponseRedirect(_payout_url(payout))


class PayoutCheckForm(DecisionForm):
    decision = forms.ChoiceField(
        label=_("decision / 复核结论"),
        choices=[("approve", _("Approve and pay / 同意并出款")), ("reject", _("Reject / 拒绝"))],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(label=_("Note / 复核意见"), max_length=200, required=False)
    note_field = "note"
    reason_needed = _("Rejecting needs a reason. / 拒绝必须填写原因。")


class RefundPayoutCheckView(DecisionView):
    template_name = "admin/merchants/merchantpayout/check.html"
    permission = CHECK_PERMISSION
    form_class = PayoutCheckForm
    url_name = "admin:merchants_merchantpayout_check"

    def get_object(self, pk):
        return get_object_or_404(MerchantPayout.objects.select_related("merchant", "payment", "maker"), pk=pk)

    def page(self, request, payout, form):
        return self.render(
            request,
            title=gettext("Check a refund payout / 复核退款代付"),
            original=payout,
            payout=payout,
            form=form,
            is_maker=request.user.pk == payout.maker_id,
        )

    def decide(self, request, payout, decision, note):
        if decision == "approve":
            payouts.refund_payout_approve(payout_id=payout.pk, checker=request.user)
        else:
            payouts.refund_payout_reject(payout_id=payout.pk, checker=request.user, note=note)

    def decided(self, request, payout, decision):
        messages.success(request, gettext("Decided. / 已复核。"))
        return HttpResponseRedirect(_payout_url(payout))


@admin.register(MerchantPayout)
class MerchantPayoutAdmin(ViewOnlyAdmin):
    list_display = (
        "request_id",
        "merchant",
        "kind",
        "amount",
        "state",
        "settles",
        "not_before",
        "maker",
        "checker",
        "created_at",
    )
    list_filter = ("kind", "state", "channel")
    search_fields = ("=request_id", "=out_request_no", "=merchant__id", "=payment__out_trade_no")
    list_select_related = ("merchant", "maker", "checker")
    readonly_fields = [f.name for f in MerchantPayout._meta.fields if f.name != "payee_account_encrypted"]
    exclude = ("payee_account_encrypted",)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "propose/<int:pk>/",
                wrap(RefundPayoutProposeView.as_view(model_admin=self)),
                name="merchants_merchantpayout_propose",
            ),
            path("<int:pk>/check/", wrap(RefundPayoutCheckView.as_view(model_admin=self)), name="merchants_merchantpayout_check"),
            *super().get_urls(),
        ]


@admin.register(SettlementAuthorisation)
class SettlementAuthorisationAdmin(ViewOnlyAdmin):
    list_display = ("merchant", "reference", "signed_on", "signatory", "recorded_by", "approved_by", "revoked_at", "created_at")
    search_fields = ("=merchant__id", "merchant__name", "=reference")
    readonly_fields = [f.name for f in SettlementAuthorisation._meta.fields]
