"""Settlement in the operator console: batches with their items (read-only), clearing files, and
merchant payouts; refund payouts past the refund window (代付) under maker-checker; held items
(R-REC-03/04) with their 调账 under maker-checker, and notes on long lines.

- The maker (``merchants.add_merchantpayout``: operators) proposes, from a payment's page, paying
  part of what the payer paid back to an account the payer supplies; nothing moves yet.
- The checker (``merchants.check_merchant_payout``: supervisors) approves or rejects it; the service
  refuses the maker as checker (403 ``maker_checker_violation``). Approval sets the money aside and
  submits the payout on the shared channel lifecycle.
- Held items: an operator (``merchants.add_heldadjustment``) proposes a 调账 of an item in suspense
  with a reason code; a supervisor (``merchants.check_helditem``) approves or rejects it on a page
  that shows the item, its batch, merchant, amounts and the clearing files seen (the maker is
  refused: 403 ``maker_checker_violation``). An operator (``merchants.add_longlinenote``) records
  what was found about a long line from its clearing file's page.
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
from merchants import held, payouts
from merchants.models import (
    ClearingFile,
    ClearingLine,
    HeldAdjustment,
    HeldItem,
    LongLineNote,
    Match,
    MerchantPayout,
    Payment,
    SettlementAuthorisation,
    SettlementBatch,
    SettlementItem,
)

PROPOSE_PERMISSION = "merchants.add_merchantpayout"
CHECK_PERMISSION = "merchants.check_merchant_payout"
ADJUST_PERMISSION = "merchants.add_heldadjustment"
ADJUST_CHECK_PERMISSION = "merchants.check_helditem"
LONG_NOTE_PERMISSION = "merchants.add_longlinenote"


def _amount(value) -> str:
    """An amount for people: thousands separators, two decimals."""
    return "-" if value is None else f"{value:,.2f}"


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
        "state",
        "net_amount",
        "reserve_amount",
        "available_amount",
        "settle_date",
    )  # channel, count, held and netted amounts are on the batch's page (the list fits 1366 px)
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
    change_form_template = "admin/merchants/clearingfile/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        file = self.get_object(request, object_id)
        if file is not None:
            may_note = request.user.has_perm(LONG_NOTE_PERMISSION)
            rows = []
            for line in file.lines.filter(match=Match.LONG).select_related("long_note", "long_note__recorded_by"):
                note = getattr(line, "long_note", None)
                url = reverse("admin:merchants_longlinenote_record", args=[line.pk]) if may_note and note is None else ""
                rows.append({"line": line, "amount": _amount(line.amount), "note": note, "url": url})
            extra_context["long_lines"] = rows
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


# -- held items (R-REC-03/04) --------------------------------------------------------------------------


def held_context(item: HeldItem) -> dict:
    """What a checker (and the maker) weighs: the item, its batch and merchant, the amounts, the
    files seen and the line that matched it."""
    si, batch = item.item, item.batch
    return {
        "held": item,
        "si": si,
        "batch": batch,
        "merchant": batch.merchant,
        "amounts": {
            "ours": _amount(si.amount),
            "file": _amount(si.channel_amount),
            "net": _amount(si.net_amount),
            "mdr": _amount(si.mdr_amount),
            "released": _amount(item.released_amount),
        },
        "files": [
            {
                "file": f,
                "lines": f.line_count,
                "payments": _amount(f.total_payments),
                "refunds": _amount(f.total_refunds),
                "own": f.pk == batch.clearing_file_id,
            }
            for f in [
                *([batch.clearing_file] if batch.clearing_file_id else []),
                *item.files_examined.exclude(pk=batch.clearing_file_id).order_by("business_date", "pk"),
            ]
        ],
        "adjustments": list(item.adjustments.select_related("maker", "checker").order_by("pk")),
    }


def _held_queryset():
    return HeldItem.objects.select_related(
        "item", "batch", "batch__merchant", "batch__channel", "batch__clearing_file", "matched_line__file"
    )


@admin.register(HeldItem)
class HeldItemAdmin(ViewOnlyAdmin):
    """Read-only: held items come from the settlement job; an item in suspense is adjusted (调账)
    from its page under maker-checker."""

    list_display = (
        "request_id",
        "merchant",
        "channel",
        "business_date",
        "kind",
        "match",
        "net",
        "state",
        "wait_until",
        "created_at",
    )
    list_filter = ("state", "item__match", "batch__channel")
    search_fields = ("=item__request_id", "=item__reference", "=batch__merchant__id", "batch__merchant__name")
    list_select_related = ("item", "batch", "batch__merchant", "batch__channel")
    readonly_fields = [f.name for f in HeldItem._meta.fields] + ["files_examined"]
    change_form_template = "admin/merchants/helditem/change_form.html"

    @admin.display(description=_("request id / 请求号"), ordering="item__request_id")
    def request_id(self, obj):
        return obj.item.request_id

    @admin.display(description=_("merchant / 商户"), ordering="batch__merchant__name")
    def merchant(self, obj):
        return obj.batch.merchant.name

    @admin.display(description=_("channel / 通道"))
    def channel(self, obj):
        return obj.batch.channel

    @admin.display(description=_("business date / 业务日期"), ordering="batch__business_date")
    def business_date(self, obj):
        return obj.batch.business_date

    @admin.display(description=_("kind / 类型"))
    def kind(self, obj):
        return obj.item.get_kind_display()

    @admin.display(description=_("match / 匹配结果"))
    def match(self, obj):
        return obj.item.get_match_display()

    @admin.display(description=_("effect on pending / 待结算影响"))
    def net(self, obj):
        return _amount(obj.item.net_amount)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        item = _held_queryset().filter(pk=object_id).first()
        if item is not None:
            extra_context.update(held_context(item))
            actions = []
            if item.state == HeldItem.State.SUSPENSE and request.user.has_perm(ADJUST_PERMISSION):
                actions.append((gettext("Propose an adjustment / 提出调账"), _url("propose", item.pk)))
            pending = item.adjustments.filter(state=HeldAdjustment.State.PROPOSED).first()
            if pending is not None and request.user.has_perm(ADJUST_CHECK_PERMISSION):
                actions.append((gettext("Check the adjustment / 复核调账"), _url("check", pending.pk)))
            extra_context["held_actions"] = actions
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/propose/", wrap(HeldProposeView.as_view(model_admin=self)), name="merchants_helditem_propose"),
            path(
                "adjustment/<int:pk>/check/",
                wrap(HeldCheckView.as_view(model_admin=self)),
                name="merchants_helditem_check",
            ),
            *super().get_urls(),
        ]


def _url(name: str, pk: int) -> str:
    return reverse(f"admin:merchants_helditem_{name}", args=[pk])


def _held_url(pk: int) -> str:
    return reverse("admin:merchants_helditem_change", args=[pk])


class HeldProposeForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("reason code / 调账原因"),
        choices=[("", "---------"), *HeldAdjustment.Reason.choices],  # starts empty: the maker chooses
    )
    note = forms.CharField(
        label=_("What was found / 核实情况"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("The channel's answer, its reference. Recorded in the audit log. / 通道答复及编号，记入审计日志。"),
    )


class HeldProposeView(ConsoleView):
    """The maker's page: the item with everything seen about it, then a reason code and a note."""

    template_name = "admin/merchants/helditem/decide.html"

    def check(self, request, pk):
        if not request.user.has_perm(ADJUST_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(_held_queryset(), pk=pk)

    def page(self, request, item, form):
        return self.render(
            request,
            title=gettext("Propose an adjustment / 提出调账"),
            original=item,
            form=form,
            mode="propose",
            open_form=item.state == HeldItem.State.SUSPENSE,
            submit_label=gettext("Propose / 提交复核"),
            **held_context(item),
        )

    def get(self, request, pk):
        return self.page(request, self.check(request, pk), HeldProposeForm())

    def post(self, request, pk):
        item = self.check(request, pk)
        form = HeldProposeForm(request.POST)
        if not form.is_valid():
            return self.page(request, item, form)
        try:
            held.adjustment_propose(held_id=item.pk, maker=request.user, **form.cleaned_data)
        except FieldValidationError as exc:
            add_field_errors(form, exc)
            return self.page(request, item, form)
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
            return self.page(request, item, form)
        messages.success(request, gettext("Proposed: another operator approves it. / 已提交，待另一人复核。"))
        return HttpResponseRedirect(_held_url(item.pk))


class HeldCheckForm(DecisionForm):
    decision = forms.ChoiceField(
        label=_("decision / 复核结论"),
        choices=[("", "---------"), ("approve", _("Approve and book / 同意并入账")), ("reject", _("Reject / 拒绝"))],
    )  # starts empty: the checker chooses
    note = forms.CharField(
        label=_("Note / 复核意见"),
        max_length=200,
        required=False,
        help_text=_("Required to reject; recorded in the audit log. / 拒绝时必填，记入审计日志。"),
    )
    note_field = "note"
    reason_needed = _("Rejecting needs a reason. / 拒绝必须填写原因。")


class HeldCheckView(DecisionView):
    template_name = "admin/merchants/helditem/decide.html"
    permission = ADJUST_CHECK_PERMISSION
    form_class = HeldCheckForm
    url_name = "admin:merchants_helditem_check"

    def get_object(self, pk):
        return get_object_or_404(HeldAdjustment.objects.select_related("maker"), pk=pk)

    def page(self, request, adjustment, form):
        item = _held_queryset().get(pk=adjustment.held_id)
        return self.render(
            request,
            title=gettext("Check an adjustment / 复核调账"),
            original=item,
            adjustment=adjustment,
            form=form,
            mode="check",
            open_form=adjustment.state == HeldAdjustment.State.PROPOSED,
            is_maker=request.user.pk == adjustment.maker_id,
            submit_label=gettext("Confirm decision / 确认复核"),
            **held_context(item),
        )

    def decide(self, request, adjustment, decision, note):
        if decision == "approve":
            held.adjustment_approve(adjustment_id=adjustment.pk, checker=request.user, note=note)
        else:
            held.adjustment_reject(adjustment_id=adjustment.pk, checker=request.user, note=note)

    def decided(self, request, adjustment, decision):
        messages.success(request, gettext("Decided. / 已复核。"))
        return HttpResponseRedirect(_held_url(adjustment.held_id))


@admin.register(HeldAdjustment)
class HeldAdjustmentAdmin(ViewOnlyAdmin):
    """The 调账 requests: what awaits a checker, what was decided."""

    list_display = ("held", "reason", "state", "maker", "created_at", "checker", "checked_at")
    list_filter = ("state", "reason")
    search_fields = ("=held__item__request_id",)
    list_select_related = ("held", "held__item", "maker", "checker")
    readonly_fields = [f.name for f in HeldAdjustment._meta.fields]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        adjustment = self.get_object(request, object_id)
        if adjustment is not None:
            return HttpResponseRedirect(_held_url(adjustment.held_id))
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


class LongLineNoteForm(forms.Form):
    reason = forms.ChoiceField(label=_("reason code / 处理原因"), choices=[("", "---------"), *LongLineNote.Reason.choices])
    note = forms.CharField(
        label=_("What was found / 核实情况"), max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 60})
    )


class LongLineNoteView(ConsoleView):
    """An operator records what was found about a long line (长款): no money moves."""

    def check(self, request, pk):
        if not request.user.has_perm(LONG_NOTE_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(ClearingLine.objects.select_related("file", "file__channel"), pk=pk, match=Match.LONG)

    def page(self, request, line, form):
        return render_confirmation(
            self,
            request,
            title=gettext("Long item / 长款处理"),
            intro=gettext(
                "The channel reports money that no payment or refund of ours carries. It is never posted to a "
                "merchant; record what was found. / 通道有、本方无的款项不入商户账，请登记核实与处理情况。"
            ),
            targets=[
                f"{line.file.channel} · {line.file.business_date:%Y-%m-%d} · {line.request_id} · "
                f"{line.channel_txn_id} · {_amount(line.amount)}"
            ],
            form=form,
            cancel_url=reverse("admin:merchants_clearingfile_change", args=[line.file_id]),
            submit_label=gettext("Record / 登记"),
        )

    def get(self, request, pk):
        return self.page(request, self.check(request, pk), LongLineNoteForm())

    def post(self, request, pk):
        line = self.check(request, pk)
        form = LongLineNoteForm(request.POST)
        if not form.is_valid():
            return self.page(request, line, form)
        try:
            held.long_line_note(line_id=line.pk, actor=request.user, **form.cleaned_data)
        except FieldValidationError as exc:
            add_field_errors(form, exc)
            return self.page(request, line, form)
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
            return self.page(request, line, form)
        messages.success(request, gettext("Recorded. / 已登记。"))
        return HttpResponseRedirect(reverse("admin:merchants_clearingfile_change", args=[line.file_id]))


@admin.register(LongLineNote)
class LongLineNoteAdmin(ViewOnlyAdmin):
    list_display = ("line", "reason", "note", "recorded_by", "created_at")
    list_filter = ("reason",)
    search_fields = ("=line__request_id", "=line__channel_txn_id")
    list_select_related = ("line", "recorded_by")
    readonly_fields = [f.name for f in LongLineNote._meta.fields]

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "record/<int:pk>/",
                wrap(LongLineNoteView.as_view(model_admin=self)),
                name="merchants_longlinenote_record",
            ),
            *super().get_urls(),
        ]


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
            title=gettext("Refund payout / 退款代付"),
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
