"""Merchants in the operator console: onboarding (maker-checker), fee rates, the corporate
settlement account, life cycle; payments and refunds read-only (filters and search).

- The maker (``merchants.add_merchant`` / ``change_merchant``: the operator group) records an
  application, sets fee rates and submits it; the checker (``merchants.review_merchant``:
  supervisors) sees the credit-code check, the organisation's KYC state and who made the
  application, and approves or returns it with a reason. The decision starts empty; the service
  refuses the maker as checker.
- Nothing is edited in place: every change goes through a service (``merchants.onboarding``).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.cards import services as cards
from accounts.cards.models import BoundCard
from accounts.ledger.models import Account
from accounts.parties import identity
from backoffice.console import (
    ConsoleView,
    DecisionForm,
    DecisionView,
    NoDeleteMixin,
    ReasonForm,
    ViewOnlyAdmin,
    ViewOnlyInline,
    add_field_errors,
    refusal_text,
    render_confirmation,
)
from backoffice.errors import DomainError, FieldValidationError
from merchants import onboarding
from merchants.models import (
    Merchant,
    MerchantFeeRate,
    Payment,
    PaymentDiscount,
    PaymentMethod,
    Refund,
    SettlementAuthorisation,
)

ADD_PERMISSION = "merchants.add_merchant"
CHANGE_PERMISSION = "merchants.change_merchant"
REVIEW_PERMISSION = "merchants.review_merchant"

# action name → (service, label, reason required, states it applies from)
LIFE_CYCLE = {
    "suspend": (onboarding.merchant_suspend, _("Suspend / 暂停"), True, (Merchant.State.ACTIVE,)),
    "resume": (onboarding.merchant_resume, _("Resume / 恢复"), False, (Merchant.State.SUSPENDED,)),
    "close": (onboarding.merchant_close, _("Close / 关闭"), True, (Merchant.State.ACTIVE, Merchant.State.SUSPENDED)),
}


SCOPE_HELP = _(
    "Who signed the merchant's standing settlement authorisation. Its scope: payouts of settled funds to the "
    "merchant's own bound, verified corporate settlement account. / 签署结算授权的商户代表。授权范围：已结算资金划付至"
    "本商户已绑定并验证的对公结算账户。"
)


def _change_url(merchant: Merchant) -> str:
    return reverse("admin:merchants_merchant_change", args=[merchant.pk])


def _confirm_error(request, exc: DomainError) -> None:
    messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})


def _form_submit(view, request, merchant, form, service, success: str):
    """The POST of a form page about one merchant (fee rate, settlement account, authorisation):
    an invalid form, or a refusal naming its fields, shows the page again with the errors; any
    other refusal goes back to the merchant with a message; success says ``success``."""
    if not form.is_valid():
        return view.page(request, merchant, form)
    try:
        service(merchant_id=merchant.pk, actor=request.user, **form.cleaned_data)
    except FieldValidationError as exc:
        add_field_errors(form, exc)
        return view.page(request, merchant, form)
    except DomainError as exc:
        _confirm_error(request, exc)
    else:
        messages.success(request, success)
    return HttpResponseRedirect(_change_url(merchant))


# -- the maker -----------------------------------------------------------------------------------


class MerchantApplyForm(forms.Form):
    name = forms.CharField(label=_("name / 商户名称"), max_length=200)
    credit_code = forms.CharField(label=_("unified social credit code / 统一社会信用代码"), max_length=32)
    legal_representative = forms.CharField(label=_("legal representative / 法定代表人"), max_length=100, required=False)
    settlement_cycle_days = forms.IntegerField(
        label=_("settlement cycle T+N / 结算周期 T+N"), min_value=0, max_value=30, initial=1
    )
    reserve_rate = forms.DecimalField(label=_("rolling reserve rate / 保证金比例"), max_digits=5, decimal_places=4, initial=0)
    reserve_release_days = forms.IntegerField(
        label=_("reserve released after (days) / 保证金释放天数"), min_value=1, required=False
    )
    authorisation_reference = forms.CharField(
        label=_("settlement authorisation: agreement reference / 结算授权协议编号"), max_length=64
    )
    authorisation_signed_on = forms.DateField(
        label=_("settlement authorisation: signed on / 结算授权签署日期"), widget=forms.DateInput(attrs={"type": "date"})
    )
    authorisation_signatory = forms.CharField(
        label=_("settlement authorisation: signatory / 结算授权签署人"),
        max_length=100,
        help_text=SCOPE_HELP,
    )


class MerchantApplyView(ConsoleView):
    def check(self, request):
        if not request.user.has_perm(ADD_PERMISSION):
            raise PermissionDenied

    def page(self, request, form):
        return render_confirmation(
            self,
            request,
            title=gettext("Record a merchant application / 登记商户申请"),
            intro=gettext(
                "The application starts as applied; set its fee rates, then submit it for review. / 登记后设置费率并提交复核。"
            ),
            targets=[],
            form=form,
            cancel_url=reverse("admin:merchants_merchant_changelist"),
            submit_label=gettext("Record / 登记"),
        )

    def get(self, request):
        self.check(request)
        return self.page(request, MerchantApplyForm())

    def post(self, request):
        self.check(request)
        form = MerchantApplyForm(request.POST)
        if not form.is_valid():
            return self.page(request, form)
        try:
            merchant = onboarding.merchant_apply(actor=request.user, **form.cleaned_data)
        except FieldValidationError as exc:
            add_field_errors(form, exc)
            return self.page(request, form)
        except DomainError as exc:
            messages.error(request, refusal_text(exc))
            return self.page(request, form)
        messages.success(request, gettext("Merchant recorded. / 商户已登记。"))
        return HttpResponseRedirect(_change_url(merchant))


class FeeRateForm(forms.Form):
    method = forms.ChoiceField(label=_("payment method / 支付方式"), choices=PaymentMethod.choices)
    rate = forms.DecimalField(label=_("rate / 费率"), max_digits=7, decimal_places=6, help_text=_("0.006 is 0.6 %."))
    effective_from = forms.DateField(label=_("effective from / 生效日期"), required=False)


class FeeRateView(ConsoleView):
    def check(self, request, pk):
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(Merchant, pk=pk)

    def page(self, request, merchant, form):
        return render_confirmation(
            self,
            request,
            title=gettext("Set a fee rate / 设置费率"),
            intro=gettext("From the date given (today if empty). / 自指定日期起生效（留空为今日）。"),
            targets=[merchant.name],
            form=form,
            cancel_url=_change_url(merchant),
            submit_label=gettext("Save / 保存"),
        )

    def get(self, request, pk):
        return self.page(request, self.check(request, pk), FeeRateForm())

    def post(self, request, pk):
        merchant = self.check(request, pk)
        return _form_submit(
            self,
            request,
            merchant,
            FeeRateForm(request.POST),
            onboarding.merchant_fee_rate_set,
            gettext("Fee rate saved. / 费率已保存。"),
        )


class MerchantActionView(ConsoleView):
    """Submit for review, suspend, resume, close: confirm (with a reason), then the service."""

    action = ""

    def check(self, request, pk):
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(Merchant, pk=pk)

    def describe(self):
        if self.action == "submit":
            return gettext("Submit for review / 提交复核"), False
        _service, label, reason_required, _states = LIFE_CYCLE[self.action]
        return str(label), reason_required

    def page(self, request, merchant, form):
        label, _reason_required = self.describe()
        return render_confirmation(
            self,
            request,
            title=f"{label}: {merchant.name}",
            intro=gettext("Please confirm. / 请确认。"),
            targets=[f"{merchant.name} ({merchant.get_state_display()})"],
            form=form,
            cancel_url=_change_url(merchant),
            submit_label=label,
        )

    def get(self, request, pk):
        merchant = self.check(request, pk)
        return self.page(request, merchant, ReasonForm(reason_required=self.describe()[1]))

    def post(self, request, pk):
        merchant = self.check(request, pk)
        form = ReasonForm(request.POST, reason_required=self.describe()[1])
        if not form.is_valid():
            return self.page(request, merchant, form)
        try:
            if self.action == "submit":
                onboarding.merchant_submit_for_review(merchant_id=merchant.pk, actor=request.user)
            else:
                LIFE_CYCLE[self.action][0](merchant_id=merchant.pk, actor=request.user, note=form.cleaned_data["reason"])
        except DomainError as exc:
            _confirm_error(request, exc)
        else:
            messages.success(request, gettext("Done. / 已完成。"))
        return HttpResponseRedirect(_change_url(merchant))


class SettlementBindForm(forms.Form):
    account_number = forms.CharField(label=_("account number / 对公账号"), max_length=40)
    bank_name = forms.CharField(label=_("bank / 开户行"), max_length=100)
    verification = forms.ChoiceField(
        label=_("verified by / 验证方式"),
        choices=[("micro_deposit", _("Micro-deposit / 小额打款")), ("operator", _("An operator, from documents / 柜员核实"))],
    )


class SettlementBindView(ConsoleView):
    """Bind the merchant's corporate settlement account, in its own name and credit code."""

    def check(self, request, pk):
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(Merchant.objects.select_related("party"), pk=pk)

    def page(self, request, merchant, form):
        return render_confirmation(
            self,
            request,
            title=gettext("Bind the settlement account / 绑定对公结算账户"),
            intro=gettext(
                "In the merchant's own name and credit code; no Luhn or BIN check. / 须为商户同名同统一社会信用代码账户。"
            ),
            targets=[f"{merchant.party.name} {merchant.credit_code}"],
            form=form,
            cancel_url=_change_url(merchant),
            submit_label=gettext("Bind / 绑定"),
        )

    def get(self, request, pk):
        return self.page(request, self.check(request, pk), SettlementBindForm())

    def post(self, request, pk):
        merchant = self.check(request, pk)
        return _form_submit(
            self,
            request,
            merchant,
            SettlementBindForm(request.POST),
            onboarding.merchant_settlement_bind,
            gettext("Settlement account bound. / 对公结算账户已绑定。"),
        )


class SettlementVerifyView(ConsoleView):
    """An operator other than the binder confirms the settlement account from documents."""

    def check(self, request, pk):
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        merchant = get_object_or_404(Merchant.objects.select_related("settlement_card"), pk=pk)
        if merchant.settlement_card is None:
            raise Http404
        return merchant

    def form(self, data=None):
        return ReasonForm(data, reason_label=_("Evidence / 核实依据"))

    def page(self, request, merchant, form):
        card = merchant.settlement_card
        return render_confirmation(
            self,
            request,
            title=gettext("Verify the settlement account / 核实对公结算账户"),
            intro=gettext("Only someone other than who bound it. / 须由绑定人以外的人员核实。"),
            targets=[f"{card.card_number_masked} {card.bank_name} {card.holder_name} ({card.get_state_display()})"],
            form=form,
            cancel_url=_change_url(merchant),
            submit_label=gettext("Verified / 核实通过"),
        )

    def get(self, request, pk):
        return self.page(request, self.check(request, pk), self.form())

    def post(self, request, pk):
        merchant = self.check(request, pk)
        form = self.form(request.POST)
        if not form.is_valid():
            return self.page(request, merchant, form)
        try:
            cards.corporate_account_verify(
                card_id=merchant.settlement_card_id, actor=request.user, evidence=form.cleaned_data["reason"]
            )
        except DomainError as exc:
            _confirm_error(request, exc)
        else:
            messages.success(request, gettext("Settlement account verified. / 对公结算账户已核实。"))
        return HttpResponseRedirect(_change_url(merchant))


class AuthorisationForm(forms.Form):
    reference = forms.CharField(label=_("agreement reference / 协议编号"), max_length=64)
    signed_on = forms.DateField(label=_("signed on / 签署日期"), widget=forms.DateInput(attrs={"type": "date"}))
    signatory = forms.CharField(label=_("signatory / 签署人"), max_length=100, help_text=SCOPE_HELP)


def _authorisation_replaceable(merchant: Merchant) -> bool:
    """A live merchant whose standing settlement authorisation was revoked."""
    current = SettlementAuthorisation.objects.filter(merchant=merchant).first()
    return merchant.state in (Merchant.State.ACTIVE, Merchant.State.SUSPENDED) and (current is None or not current.in_force)


class AuthorisationView(ConsoleView):
    """The maker enters the signed standing settlement authorisation: on an application, or as the
    replacement of a revoked one (then another operator approves it)."""

    def check(self, request, pk):
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        merchant = get_object_or_404(Merchant, pk=pk)
        if merchant.state != Merchant.State.APPLIED and not _authorisation_replaceable(merchant):
            raise Http404
        return merchant

    def page(self, request, merchant, form):
        return render_confirmation(
            self,
            request,
            title=gettext("Standing settlement authorisation / 结算授权"),
            intro=gettext(
                "The merchant's signed authorisation to pay its settled funds to its own verified corporate settlement "
                "account without a per-payout authorisation. Recorded when a checker approves it. / 商户签署的结算授权："
                "已结算资金直接划付至其已验证的对公结算账户；经复核后登记生效。"
            ),
            targets=[merchant.name],
            form=form,
            cancel_url=_change_url(merchant),
            submit_label=gettext("Save / 保存"),
        )

    def get(self, request, pk):
        merchant = self.check(request, pk)
        initial = {}
        if merchant.state == Merchant.State.APPLIED and merchant.authorisation_reference:
            initial = {
                "reference": merchant.authorisation_reference,
                "signed_on": merchant.authorisation_signed_on,
                "signatory": merchant.authorisation_signatory,
            }
        return self.page(request, merchant, AuthorisationForm(initial=initial))

    def post(self, request, pk):
        merchant = self.check(request, pk)
        return _form_submit(
            self,
            request,
            merchant,
            AuthorisationForm(request.POST),
            onboarding.merchant_authorisation_set,
            gettext("Settlement authorisation saved. / 结算授权已保存。"),
        )


class AuthorisationApproveView(ConsoleView):
    """Another operator approves the replacement of a revoked standing settlement authorisation."""

    def check(self, request, pk):
        if not request.user.has_perm(REVIEW_PERMISSION):
            raise PermissionDenied
        merchant = get_object_or_404(Merchant, pk=pk)
        if not (_authorisation_replaceable(merchant) and merchant.authorisation_entered_by_id):
            raise Http404
        return merchant

    def page(self, request, merchant, form):
        return render_confirmation(
            self,
            request,
            title=gettext("Approve the settlement authorisation / 复核结算授权"),
            intro=gettext("Settlement payouts resume with the next batch. / 复核通过后，下一批次起恢复结算出款。"),
            targets=[
                merchant.name,
                gettext("Agreement %(reference)s signed on %(date)s by %(signatory)s, entered by %(maker)s")
                % {
                    "reference": merchant.authorisation_reference,
                    "date": merchant.authorisation_signed_on,
                    "signatory": merchant.authorisation_signatory,
                    "maker": merchant.authorisation_entered_by,
                },
            ],
            form=form,
            cancel_url=_change_url(merchant),
            submit_label=gettext("Approve / 复核通过"),
        )

    def get(self, request, pk):
        return self.page(request, self.check(request, pk), ReasonForm(reason_required=False))

    def post(self, request, pk):
        merchant = self.check(request, pk)
        try:
            onboarding.merchant_authorisation_replace_approve(merchant_id=merchant.pk, actor=request.user)
        except DomainError as exc:
            _confirm_error(request, exc)
        else:
            messages.success(request, gettext("Settlement authorisation recorded. / 结算授权已登记。"))
        return HttpResponseRedirect(_change_url(merchant))


# -- the checker ---------------------------------------------------------------------------------


class MerchantReviewForm(DecisionForm):
    decision = forms.ChoiceField(
        label=_("decision / 复核结论"),
        choices=[
            ("approve", _("Approve and open the merchant's accounts / 同意并开立商户账户")),
            ("reject", _("Return to the maker / 退回")),
        ],
        widget=forms.RadioSelect,  # starts empty: the checker chooses
    )
    note = forms.CharField(
        label=_("Note / 复核意见"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Required to return; recorded in the audit log. / 退回时必填，记入审计日志。"),
    )

    note_field = "note"
    reason_needed = _("Returning the application needs a reason. / 退回必须填写原因。")


def credit_code_check(merchant: Merchant) -> dict:
    try:
        valid = identity.normalise_credit_code(merchant.credit_code) == merchant.credit_code
    except identity.IdentityError:
        valid = False
    return {
        "valid": valid,
        "matches_party": merchant.party.credit_code == merchant.credit_code,
        "party": merchant.party,
        "kyc_state": merchant.party.get_kyc_state_display(),
        "kyc_approved": merchant.party.kyc_state == "approved",
    }


class MerchantReviewView(DecisionView):
    """The checker's page: the application and its checks, then approve or return."""

    template_name = "admin/merchants/merchant/review.html"
    permission = REVIEW_PERMISSION
    form_class = MerchantReviewForm
    url_name = "admin:merchants_merchant_review"

    def get_object(self, pk):
        return get_object_or_404(Merchant.objects.select_related("party", "created_by", "submitted_by"), pk=pk)

    def page(self, request, merchant, form):
        return self.render(
            request,
            title=gettext("Review merchant application / 复核商户申请"),
            original=merchant,
            merchant=merchant,
            credit=credit_code_check(merchant),
            authorisation_scope=SettlementAuthorisation.Scope.SETTLED_FUNDS_TO_VERIFIED_ACCOUNT.label,
            form=form,
            is_maker=request.user.pk in (merchant.submitted_by_id, merchant.created_by_id, merchant.authorisation_entered_by_id),
        )

    def decide(self, request, merchant, decision, note):
        if decision == "approve":
            onboarding.merchant_approve(merchant_id=merchant.pk, actor=request.user, note=note)
        else:
            onboarding.merchant_return(merchant_id=merchant.pk, actor=request.user, note=note)

    def decided(self, request, merchant, decision):
        if decision == "approve":
            messages.success(request, gettext("Merchant approved: its accounts are open. / 商户已复核开通，账户已开立。"))
        else:
            messages.success(request, gettext("Application returned to the maker. / 申请已退回。"))
        return HttpResponseRedirect(_change_url(merchant))


# -- model admins ----------------------------------------------------------------------------------


@admin.register(Merchant)
class MerchantAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = ("id", "name", "credit_code", "state", "settlement_cycle_days", "created_at")
    list_filter = ("state",)
    search_fields = ("name", "=credit_code", "=id")
    ordering = ("-created_at",)
    change_form_template = "admin/merchants/merchant/change_form.html"
    fields = (
        "name",
        "credit_code",
        "party",
        "state",
        "settlement_cycle_days",
        "reserve_rate",
        "reserve_release_days",
        "pending_account",
        "available_account",
        "reserve_account",
        "receivable_account",
        "settlement_card",
        "created_by",
        "created_at",
        "submitted_by",
        "submitted_at",
        "reviewed_by",
        "reviewed_at",
        "review_note",
        "activated_at",
        "authorisation_reference",
        "authorisation_signed_on",
        "authorisation_signatory",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return request.user.has_perm(ADD_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return False  # nothing is edited in place; the page's actions call the services

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:merchants_merchant_apply"))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        urls = [
            path("apply/", wrap(MerchantApplyView.as_view(model_admin=self)), name="merchants_merchant_apply"),
            path("<int:pk>/review/", wrap(MerchantReviewView.as_view(model_admin=self)), name="merchants_merchant_review"),
            path(
                "<int:pk>/submit/",
                wrap(MerchantActionView.as_view(model_admin=self, action="submit")),
                name="merchants_merchant_submit",
            ),
            path("<int:pk>/fee-rate/", wrap(FeeRateView.as_view(model_admin=self)), name="merchants_merchant_fee_rate"),
            path(
                "<int:pk>/authorisation/",
                wrap(AuthorisationView.as_view(model_admin=self)),
                name="merchants_merchant_authorisation",
            ),
            path(
                "<int:pk>/authorisation/approve/",
                wrap(AuthorisationApproveView.as_view(model_admin=self)),
                name="merchants_merchant_authorisation_approve",
            ),
            path(
                "<int:pk>/settlement/", wrap(SettlementBindView.as_view(model_admin=self)), name="merchants_merchant_settlement"
            ),
            path(
                "<int:pk>/settlement/verify/",
                wrap(SettlementVerifyView.as_view(model_admin=self)),
                name="merchants_merchant_settlement_verify",
            ),
        ]
        for action in LIFE_CYCLE:
            urls.append(
                path(
                    f"<int:pk>/{action}/",
                    wrap(MerchantActionView.as_view(model_admin=self, action=action)),
                    name=f"merchants_merchant_{action}",
                )
            )
        return urls + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        merchant = self.get_object(request, object_id)
        if merchant is not None:
            extra_context.update(merchant_page_context(request, merchant))
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


def merchant_page_context(request, merchant: Merchant) -> dict:
    """What a merchant's page shows below its fields, and the actions this user may take."""
    user, state, actions = request.user, merchant.state, []

    def url(name: str) -> str:
        return reverse(f"admin:merchants_merchant_{name}", args=[merchant.pk])

    if state == Merchant.State.APPLIED and user.has_perm(CHANGE_PERMISSION):
        actions.append((gettext("Submit for review / 提交复核"), url("submit")))
    if state == Merchant.State.KYC_REVIEW and user.has_perm(REVIEW_PERMISSION):
        actions.append((gettext("Review / 复核"), url("review")))
    replaceable = _authorisation_replaceable(merchant)
    if user.has_perm(CHANGE_PERMISSION) and (state == Merchant.State.APPLIED or replaceable):
        actions.append((gettext("Standing settlement authorisation / 结算授权"), url("authorisation")))
    if (
        replaceable
        and merchant.authorisation_entered_by_id
        and merchant.authorisation_entered_by_id != user.pk
        and user.has_perm(REVIEW_PERMISSION)
        and not SettlementAuthorisation.objects.filter(merchant=merchant, reference=merchant.authorisation_reference).exists()
    ):
        actions.append((gettext("Approve the settlement authorisation / 复核结算授权"), url("authorisation_approve")))
    if state != Merchant.State.CLOSED and user.has_perm(CHANGE_PERMISSION):
        actions.append((gettext("Set a fee rate / 设置费率"), url("fee_rate")))
    card = merchant.settlement_card
    if user.has_perm(CHANGE_PERMISSION) and state in (Merchant.State.ACTIVE, Merchant.State.SUSPENDED):
        if card is None or card.state in (BoundCard.State.FAILED, BoundCard.State.EXPIRED):
            actions.append((gettext("Bind the settlement account / 绑定对公结算账户"), url("settlement")))
        elif card.state == BoundCard.State.VERIFYING and card.bound_by_id != user.pk:
            actions.append((gettext("Verify the settlement account / 核实对公结算账户"), url("settlement_verify")))
    if user.has_perm(CHANGE_PERMISSION):
        for action, (_service, label, _reason, states) in LIFE_CYCLE.items():
            if state in states:
                actions.append((str(label), url(action)))
    ids = [
        merchant.pending_account_id,
        merchant.available_account_id,
        merchant.reserve_account_id,
        merchant.receivable_account_id,
    ]
    return {
        "merchant_actions": actions,
        "authorisation": SettlementAuthorisation.objects.filter(merchant=merchant).select_related("approved_by").first(),
        "fee_rates": list(MerchantFeeRate.objects.filter(merchant=merchant).order_by("method", "-effective_from")),
        "books": list(Account.objects.filter(pk__in=[i for i in ids if i]).order_by("pk")),
    }


class PaymentDiscountInline(ViewOnlyInline):
    model = PaymentDiscount
    fields = ("amount", "funder", "refundable", "refunded", "reserved")
    readonly_fields = fields


class RefundInline(ViewOnlyInline):
    model = Refund
    fk_name = "payment"
    fields = ("request_id", "out_refund_no", "state", "amount", "cash_amount", "coupon_amount", "mdr_refunded", "created_at")
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(ViewOnlyAdmin):
    """Read-only: payments come from the merchants' API through the service."""

    list_display = (
        "request_id",
        "merchant",
        "out_trade_no",
        "paid_amount",
        "refunded_amount",
        "state",
        "created_at",
    )  # method, order amount, MDR and business date are on the payment's page (the list fits 1366 px)
    list_filter = ("state", "method", "channel", "business_date")
    search_fields = ("=request_id", "=out_trade_no", "=channel_txn_id", "=merchant__id", "merchant__name")
    list_select_related = ("merchant", "channel")
    date_hierarchy = "created_at"
    inlines = [PaymentDiscountInline, RefundInline]
    readonly_fields = [f.name for f in Payment._meta.fields]


@admin.register(Refund)
class RefundAdmin(ViewOnlyAdmin):
    """Read-only: refunds come from the merchants' API through the service."""

    list_display = (
        "request_id",
        "merchant",
        "payment",
        "out_refund_no",
        "amount",
        "cash_amount",
        "coupon_amount",
        "receivable_amount",
        "state",
        "resolved_by",
        "created_at",
    )
    list_filter = ("state", "resolved_by", "channel")
    search_fields = ("=request_id", "=out_refund_no", "=channel_txn_id", "=payment__out_trade_no", "=merchant__id")
    list_select_related = ("merchant", "payment", "channel")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Refund._meta.fields]
