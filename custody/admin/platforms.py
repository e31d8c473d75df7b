"""Custody in the operator console: lending platforms (onboarding, maker-checker, life cycle), their
documents and their clients' sub-accounts (read-only).

- The platform list searches code, name and credit code and filters by state; a platform's page
  shows its documents, its books (own funds, margin, the special account as an aggregate) and the
  actions this user may take. Nothing is edited in place: every change goes through a service.
- The maker (``custody.add_lendingplatform`` / ``change_lendingplatform``: the operator group)
  records an application, attaches documents and submits it; the checker
  (``custody.review_lendingplatform``: supervisors) sees the documents, the credit-code check, the
  organisation's KYC state and who made the application, and approves or returns it with a
  reason. The decision starts empty; the service refuses the maker as checker.
- Documents are stored privately (``custody.models.PrivateDocumentStorage``): only staff with
  ``custody.view_platformdocument`` download them here, each download audited.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.cards import services as cards
from accounts.cards.models import BoundCard
from accounts.parties import identity
from backoffice.audit import audit_record
from backoffice.console import (
    ConsoleView,
    DecisionForm,
    DecisionView,
    NoDeleteMixin,
    ReasonForm,
    ViewOnlyAdmin,
    add_field_errors,
    refusal_text,
    render_confirmation,
)
from backoffice.errors import DomainError, FieldValidationError
from custody import selectors, services
from custody.models import LendingPlatform, PlatformDocument, SubAccount

ADD_PERMISSION = "custody.add_lendingplatform"
CHANGE_PERMISSION = "custody.change_lendingplatform"
REVIEW_PERMISSION = "custody.review_lendingplatform"
DOCUMENT_ADD_PERMISSION = "custody.add_platformdocument"
DOCUMENT_VIEW_PERMISSION = "custody.view_platformdocument"

# action name → (service, label, reason required, states it applies from)
LIFE_CYCLE = {
    "suspend": (services.platform_suspend, _("Suspend / 暂停"), True, (LendingPlatform.State.ACTIVE,)),
    "resume": (services.platform_resume, _("Resume / 恢复"), False, (LendingPlatform.State.SUSPENDED,)),
    "wind_down": (
        services.platform_wind_down,
        _("Wind down / 清退"),
        True,
        (LendingPlatform.State.ACTIVE, LendingPlatform.State.SUSPENDED),
    ),
    "terminate": (services.platform_terminate, _("Terminate / 终止"), True, (LendingPlatform.State.WINDING_DOWN,)),
}


def _change_url(platform: LendingPlatform) -> str:
    return reverse("admin:custody_lendingplatform_change", args=[platform.pk])


# -- the maker: application, documents, submission ---------------------------------------------


class PlatformApplyForm(forms.Form):
    code = forms.CharField(label=_("code / 平台编号"), max_length=20, help_text=_("e.g. P001 / 例如 P001"))
    name = forms.CharField(label=_("name / 平台名称"), max_length=200)
    credit_code = forms.CharField(label=_("unified social credit code / 统一社会信用代码"), max_length=32)
    legal_representative = forms.CharField(
        label=_("legal representative / 法定代表人"),
        max_length=100,
        required=False,
        help_text=_(
            "Needed only when the bank does not know the organisation yet (it is then created, KYC pending). "
            "/ 本行尚无该机构时必填。"
        ),
    )


class PlatformApplyView(ConsoleView):
    def check(self, request):
        if not request.user.has_perm(ADD_PERMISSION):
            raise PermissionDenied

    def page(self, request, form, status=200):
        return render_confirmation(
            self,
            request,
            title=gettext("Record a platform application / 登记平台申请"),
            intro=gettext(
                "The application starts as applied; attach its documents, then submit it for review. / 登记后上传资料并提交复核。"
            ),
            targets=[],
            form=form,
            cancel_url=reverse("admin:custody_lendingplatform_changelist"),
            submit_label=gettext("Record / 登记"),
            status=status,
        )

    def get(self, request):
        self.check(request)
        return self.page(request, PlatformApplyForm())

    def post(self, request):
        self.check(request)
        form = PlatformApplyForm(request.POST)
        if not form.is_valid():
            return self.page(request, form)
        try:
            platform = services.platform_apply(actor=request.user, **form.cleaned_data)
        except FieldValidationError as exc:
            add_field_errors(form, exc)
            return self.page(request, form)
        except DomainError as exc:
            messages.error(request, refusal_text(exc))
            return self.page(request, form)
        messages.success(request, gettext("Platform %(code)s recorded. / 平台已登记。") % {"code": platform.code})
        return HttpResponseRedirect(_change_url(platform))


class PlatformDocumentForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind / 类型"), choices=PlatformDocument.Kind.choices)
    number = forms.CharField(label=_("number / 证照编号"), max_length=64)
    file = forms.FileField(label=_("file / 文件"), required=False)


class PlatformDocumentAddView(ConsoleView):
    template_name = "admin/custody/lendingplatform/document_add.html"

    def check(self, request, pk):
        if not request.user.has_perm(DOCUMENT_ADD_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(LendingPlatform, pk=pk)

    def get(self, request, pk):
        platform = self.check(request, pk)
        return self.render(
            request, title=gettext("Attach a document / 上传平台资料"), original=platform, form=PlatformDocumentForm()
        )

    def post(self, request, pk):
        platform = self.check(request, pk)
        form = PlatformDocumentForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.platform_document_add(platform_id=platform.pk, actor=request.user, **form.cleaned_data)
            except FieldValidationError as exc:
                add_field_errors(form, exc)
            except DomainError as exc:
                messages.error(request, refusal_text(exc))
                return HttpResponseRedirect(_change_url(platform))
            else:
                messages.success(request, gettext("Document attached. / 资料已上传。"))
                return HttpResponseRedirect(_change_url(platform))
        return self.render(request, title=gettext("Attach a document / 上传平台资料"), original=platform, form=form)


class PlatformActionView(ConsoleView):
    """Submit for review, suspend, resume, wind down, terminate: confirm (with a reason), then the service."""

    action = ""

    def check(self, request, pk):
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(LendingPlatform, pk=pk)

    def describe(self):
        if self.action == "submit":
            return gettext("Submit for review / 提交复核"), False
        _service, label, reason_required, _states = LIFE_CYCLE[self.action]
        return str(label), reason_required

    def page(self, request, platform, form):
        label, _reason_required = self.describe()
        return render_confirmation(
            self,
            request,
            title=f"{label}: {platform.code}",
            intro=gettext("Please confirm. / 请确认。"),
            targets=[f"{platform.code} {platform.name} ({platform.get_state_display()})"],
            form=form,
            cancel_url=_change_url(platform),
            submit_label=label,
        )

    def get(self, request, pk):
        platform = self.check(request, pk)
        return self.page(request, platform, ReasonForm(reason_required=self.describe()[1]))

    def post(self, request, pk):
        platform = self.check(request, pk)
        form = ReasonForm(request.POST, reason_required=self.describe()[1])
        if not form.is_valid():
            return self.page(request, platform, form)
        try:
            if self.action == "submit":
                services.platform_submit_for_review(platform_id=platform.pk, actor=request.user)
            else:
                LIFE_CYCLE[self.action][0](platform_id=platform.pk, actor=request.user, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
        else:
            messages.success(request, gettext("Done. / 已完成。"))
        return HttpResponseRedirect(_change_url(platform))


# -- the corporate settlement account (对公结算账户) ------------------------------------------------


class SettlementBindForm(forms.Form):
    account_number = forms.CharField(label=_("account number / 对公账号"), max_length=40)
    bank_name = forms.CharField(label=_("bank / 开户行"), max_length=100)
    verification = forms.ChoiceField(
        label=_("verified by / 验证方式"),
        choices=[("micro_deposit", _("Micro-deposit / 小额打款")), ("operator", _("An operator, from documents / 柜员核实"))],
    )


class SettlementBindView(ConsoleView):
    """Bind the platform's corporate settlement account, in its own name and credit code."""

    def check(self, request, pk):
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(LendingPlatform.objects.select_related("party"), pk=pk)

    def page(self, request, platform, form):
        return render_confirmation(
            self,
            request,
            title=gettext("Bind the settlement account / 绑定对公结算账户"),
            intro=gettext(
                "In the platform's own name and credit code; no Luhn or BIN check. / 须为平台同名同统一社会信用代码账户。"
            ),
            targets=[f"{platform.code} {platform.party.name} {platform.credit_code}"],
            form=form,
            cancel_url=_change_url(platform),
            submit_label=gettext("Bind / 绑定"),
        )

    def get(self, request, pk):
        return self.page(request, self.check(request, pk), SettlementBindForm())

    def post(self, request, pk):
        platform = self.check(request, pk)
        form = SettlementBindForm(request.POST)
        if not form.is_valid():
            return self.page(request, platform, form)
        try:
            services.platform_settlement_bind(platform_id=platform.pk, actor=request.user, **form.cleaned_data)
        except FieldValidationError as exc:
            add_field_errors(form, exc)
            return self.page(request, platform, form)
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
        else:
            messages.success(request, gettext("Settlement account bound. / 对公结算账户已绑定。"))
        return HttpResponseRedirect(_change_url(platform))


class SettlementVerifyView(ConsoleView):
    """An operator other than the binder confirms the settlement account from documents."""

    def check(self, request, pk):
        if not request.user.has_perm(CHANGE_PERMISSION):
            raise PermissionDenied
        platform = get_object_or_404(LendingPlatform.objects.select_related("settlement_card"), pk=pk)
        if platform.settlement_card is None:
            raise Http404
        return platform

    def page(self, request, platform, form):
        card = platform.settlement_card
        return render_confirmation(
            self,
            request,
            title=gettext("Verify the settlement account / 核实对公结算账户"),
            intro=gettext("Only someone other than who bound it. / 须由绑定人以外的人员核实。"),
            targets=[f"{card.card_number_masked} {card.bank_name} {card.holder_name} ({card.get_state_display()})"],
            form=form,
            cancel_url=_change_url(platform),
            submit_label=gettext("Verified / 核实通过"),
        )

    def form(self, data=None):
        return ReasonForm(data, reason_label=_("Evidence / 核实依据"))

    def get(self, request, pk):
        return self.page(request, self.check(request, pk), self.form())

    def post(self, request, pk):
        platform = self.check(request, pk)
        form = self.form(request.POST)
        if not form.is_valid():
            return self.page(request, platform, form)
        try:
            cards.corporate_account_verify(
                card_id=platform.settlement_card_id, actor=request.user, evidence=form.cleaned_data["reason"]
            )
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 操作被拒绝") % {"error": refusal_text(exc)})
        else:
            messages.success(request, gettext("Settlement account verified. / 对公结算账户已核实。"))
        return HttpResponseRedirect(_change_url(platform))


# -- the checker ---------------------------------------------------------------------------------


class PlatformReviewForm(DecisionForm):
    decision = forms.ChoiceField(
        label=_("decision / 复核结论"),
        choices=[
            ("approve", _("Approve and open the platform's accounts / 同意并开立平台账户")),
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


def credit_code_check(platform: LendingPlatform) -> dict:
    """What the checker weighs about the credit code: valid per GB 32100, and the organisation's."""
    try:
        valid = identity.normalise_credit_code(platform.credit_code) == platform.credit_code
    except identity.IdentityError:
        valid = False
    return {
        "valid": valid,
        "matches_party": platform.party.credit_code == platform.credit_code,
        "party": platform.party,
        "kyc_state": platform.party.get_kyc_state_display(),
        "kyc_approved": platform.party.kyc_state == "approved",
    }


class PlatformReviewView(DecisionView):
    """The checker's page: the application, its documents and checks, then approve or return."""

    template_name = "admin/custody/lendingplatform/review.html"
    permission = REVIEW_PERMISSION
    form_class = PlatformReviewForm
    url_name = "admin:custody_lendingplatform_review"

    def get_object(self, pk):
        return get_object_or_404(LendingPlatform.objects.select_related("party", "created_by", "submitted_by"), pk=pk)

    def page(self, request, platform, form):
        return self.render(
            request,
            title=gettext("Review platform application %(code)s / 复核平台申请") % {"code": platform.code},
            original=platform,
            platform=platform,
            documents=list(platform.documents.select_related("checked_by").order_by("kind", "-created_at")),
            credit=credit_code_check(platform),
            form=form,
            is_maker=request.user.pk in (platform.submitted_by_id, platform.created_by_id),
            may_download=request.user.has_perm(DOCUMENT_VIEW_PERMISSION),
        )

    def decide(self, request, platform, decision, note):
        if decision == "approve":
            services.platform_approve(platform_id=platform.pk, actor=request.user, note=note)
        else:
            services.platform_return(platform_id=platform.pk, actor=request.user, note=note)

    def decided(self, request, platform, decision):
        if decision == "approve":
            messages.success(request, gettext("Platform approved: its accounts are open. / 平台已复核上线，账户已开立。"))
        else:
            messages.success(request, gettext("Application returned to the maker. / 申请已退回。"))
        return HttpResponseRedirect(_change_url(platform))


class PlatformDocumentDownloadView(ConsoleView):
    """A document's file, for staff only (the storage has no URL); every download is audited."""

    def get(self, request, pk):
        if not request.user.has_perm(DOCUMENT_VIEW_PERMISSION):
            raise PermissionDenied
        document = get_object_or_404(PlatformDocument.objects.select_related("platform"), pk=pk)
        if not document.file:
            raise Http404
        audit_record(
            actor=request.user,
            action="custody.document.download",
            target=document,
            data={"platform": document.platform.code, "kind": document.kind},
        )
        return FileResponse(document.file.open("rb"), as_attachment=True, filename=document.file_name)


# -- model admins ----------------------------------------------------------------------------------


@admin.register(LendingPlatform)
class LendingPlatformAdmin(NoDeleteMixin, admin.ModelAdmin):
    list_display = ("code", "name", "state", "own_funds", "created_at")  # credit code: the page
    list_filter = ("state",)
    search_fields = ("=code", "name", "=credit_code")
    ordering = ("code",)
    list_select_related = ("own_funds",)
    change_form_template = "admin/custody/lendingplatform/change_form.html"
    fields = (
        "code",
        "name",
        "credit_code",
        "party",
        "state",
        "own_funds",
        "settlement_card",
        "created_by",
        "created_at",
        "submitted_by",
        "submitted_at",
        "reviewed_by",
        "reviewed_at",
        "review_note",
        "activated_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return request.user.has_perm(ADD_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return False  # nothing is edited in place; the page's actions call the services

    def add_view(self, request, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:custody_lendingplatform_apply"))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        urls = [
            path("apply/", wrap(PlatformApplyView.as_view(model_admin=self)), name="custody_lendingplatform_apply"),
            path(
                "<int:pk>/documents/add/",
                wrap(PlatformDocumentAddView.as_view(model_admin=self)),
                name="custody_lendingplatform_document_add",
            ),
            path(
                "documents/<int:pk>/download/",
                wrap(PlatformDocumentDownloadView.as_view(model_admin=self)),
                name="custody_platformdocument_download",
            ),
            path("<int:pk>/review/", wrap(PlatformReviewView.as_view(model_admin=self)), name="custody_lendingplatform_review"),
            path(
                "<int:pk>/submit/",
                wrap(PlatformActionView.as_view(model_admin=self, action="submit")),
                name="custody_lendingplatform_submit",
            ),
        ]
        urls += [
            path(
                "<int:pk>/settlement/",
                wrap(SettlementBindView.as_view(model_admin=self)),
                name="custody_lendingplatform_settlement",
            ),
            path(
                "<int:pk>/settlement/verify/",
                wrap(SettlementVerifyView.as_view(model_admin=self)),
                name="custody_lendingplatform_settlement_verify",
            ),
        ]
        for action in LIFE_CYCLE:
            urls.append(
                path(
                    f"<int:pk>/{action.replace('_', '-')}/",
                    wrap(PlatformActionView.as_view(model_admin=self, action=action)),
                    name=f"custody_lendingplatform_{action}",
                )
            )
        return urls + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        platform = self.get_object(request, object_id)
        if platform is not None:
            extra_context.update(platform_page_context(request, platform))
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


def platform_page_context(request, platform: LendingPlatform) -> dict:
    """What a platform's page shows below its fields, and the actions this user may take."""
    user = request.user
    state = platform.state
    actions = []

    def url(name: str) -> str:
        return reverse(f"admin:custody_lendingplatform_{name}", args=[platform.pk])

    if state == LendingPlatform.State.APPLIED and user.has_perm(DOCUMENT_ADD_PERMISSION):
        actions.append((gettext("Attach a document / 上传资料"), url("document_add")))
    if state == LendingPlatform.State.APPLIED and user.has_perm(CHANGE_PERMISSION):
        actions.append((gettext("Submit for review / 提交复核"), url("submit")))
    if state == LendingPlatform.State.UNDER_REVIEW and user.has_perm(REVIEW_PERMISSION):
        actions.append((gettext("Review / 复核"), url("review")))
    card = platform.settlement_card
    live_states = (LendingPlatform.State.ACTIVE, LendingPlatform.State.SUSPENDED, LendingPlatform.State.WINDING_DOWN)
    if user.has_perm(CHANGE_PERMISSION) and state in live_states:
        if card is None or card.state in (BoundCard.State.FAILED, BoundCard.State.EXPIRED):
            actions.append((gettext("Bind the settlement account / 绑定对公结算账户"), url("settlement")))
        elif card.state == BoundCard.State.VERIFYING and card.bound_by_id != user.pk:
            actions.append((gettext("Verify the settlement account / 核实对公结算账户"), url("settlement_verify")))
    if user.has_perm(CHANGE_PERMISSION):
        for action, (_service, label, _reason, states) in LIFE_CYCLE.items():
            if state in states:
                actions.append((str(label), url(action)))
    live = platform.own_funds_id is not None
    return {
        "platform_actions": actions,
        "documents": list(platform.documents.select_related("checked_by").order_by("kind", "-created_at")),
        "may_download": user.has_perm(DOCUMENT_VIEW_PERMISSION),
        "special_account": selectors.platform_special_account(platform=platform) if live else None,
        "margin": selectors.platform_margin(platform=platform) if live else None,
        "books": list(selectors.platform_books(platform=platform)) if live else [],
        "sub_account_count": platform.sub_accounts.count(),
        "settlement_card": card,
    }


@admin.register(SubAccount)
class SubAccountAdmin(ViewOnlyAdmin):
    """Read-only: sub-accounts are opened by the platform's API through the service."""

    list_display = ("account", "platform", "role", "holder", "state", "balance", "frozen", "created_at")
    list_filter = ("platform", "role")
    search_fields = ("=account__number", "=platform__code")
    list_select_related = ("account", "platform", "party")
    ordering = ("platform", "created_at", "pk")
    fields = ("platform", "party", "role", "account", "opened_by", "created_at")
    readonly_fields = fields

    @admin.display(description=_("holder / 户名"))
    def holder(self, obj):
        return obj.party.name

    @admin.display(description=_("state / 状态"))
    def state(self, obj):
        return obj.account.get_state_display()

    @admin.display(description=_("balance / 余额"))
    def balance(self, obj):
        return f"{obj.account.balance:.2f}"

    @admin.display(description=_("frozen / 冻结金额"))
    def frozen(self, obj):
        return f"{obj.account.frozen:.2f}"
