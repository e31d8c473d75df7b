"""The KYC review queue (客户身份审核) and the audited reveal of personal data, in the console.

Rules:
- approve, reject (with a reason) and face-to-face verification go through
  ``accounts.parties.services.party_kyc_approve`` / ``party_kyc_reject`` / ``party_face_to_face_verify``
  after a confirmation page; they need ``accounts.change_party`` (operators and supervisors);
- personal data is masked everywhere (lists, the party page, exports); the unmasked values are
  shown once, on the reveal page, through ``accounts.parties.services.party_reveal_personal_data``, which
  needs ``accounts.view_personal_data`` and audits every reveal and every refused attempt;
- a refusal (a ``DomainError``) is shown with ``messages.error``, never a 500.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.ledger.models import Account
from accounts.parties.models import Party
from accounts.parties.services import (
    VIEW_PERSONAL_DATA,
    party_face_to_face_verify,
    party_is_maker,
    party_kyc_approve,
    party_kyc_reject,
    party_reveal_personal_data,
)
from backoffice.console import (
    ConsoleView,
    NoDeleteMixin,
    ReasonForm,
    ViewOnlyInline,
    parse_ids,
    refusal_text,
    render_confirmation,
)
from backoffice.errors import DomainError

VIEW_PERSONAL_DATA = VIEW_PERSONAL_DATA
MAKER_NOTE = _(
    "You created or edited this party: a different operator must approve its KYC. / 您录入或修改过该客户，须由其他操作员审核。"
)

# name → (label, reason required, the KYC states it applies to, the party types it applies to)
KYC_ACTIONS = {
    "approve": (_("Approve KYC / 审核通过"), False, (Party.KycState.PENDING_REVIEW,), None),
    "reject": (_("Reject KYC / 审核驳回"), True, (Party.KycState.PENDING_REVIEW,), None),
    "face_to_face": (
        _("Verified face to face / 面对面核实身份"),
        False,
        (Party.KycState.PENDING_REVIEW, Party.KycState.APPROVED),
        (Party.Type.PERSON,),
    ),
}


def _run(name: str, party_id: int, actor, reason: str) -> Party:
    if name == "approve":
        return party_kyc_approve(party_id=party_id, actor=actor, note=reason)
    if name == "reject":
        return party_kyc_reject(party_id=party_id, reason=reason, actor=actor)
    return party_face_to_face_verify(party_id=party_id, actor=actor, note=reason)


def kyc_actions_for(request, party: Party, model_admin) -> list[tuple[str, str]]:
    """The (label, url) of the KYC actions the user may take on this party now."""
    if not model_admin.has_kyc_review_permission(request):
        return []
    result = []
    maker = party_is_maker(party=party, user=request.user)
    for name, (label, _required, states, types) in KYC_ACTIONS.items():
        if name == "approve" and maker:
            continue  # the service would refuse the maker: no link that leads to a refusal
        if party.kyc_state in states and (types is None or party.type in types):
            result.append((label, reverse("admin:accounts_party_kyc", args=[name]) + f"?ids={party.pk}"))
    return result


def _target_line(p: Party) -> str:
    return f"{p.name} ({p.get_type_display()}, {p.id_number_masked or p.credit_code_masked}, {p.get_kyc_state_display()})"


def _username(user) -> str:
    return user.get_username() if user is not None else "-"


def _moment(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def kyc_dossier(party: Party, user) -> dict:
    """What the KYC checker weighs for one party: its identity documents (masked), who made it,
    the accounts it holds; a warning when the viewer is one of its makers."""
    rows = [
        (_("type / 类型"), party.get_type_display()),
        (_("name / 名称"), party.name),
    ]
    if party.type == Party.Type.PERSON:
        rows.append((_("resident ID number / 身份证号码"), party.id_number_masked or "-"))
    else:
        rows += [
            (_("unified social credit code / 统一社会信用代码"), party.credit_code_masked or "-"),
            (_("legal representative / 法定代表人"), party.legal_representative or "-"),
        ]
    rows += [
        (_("mobile / 手机号"), party.mobile_masked or "-"),
        (_("KYC state / 审核状态"), party.get_kyc_state_display()),
        (_("verified face to face / 已面签核实"), gettext("Yes / 是") if party.face_to_face_verified else gettext("No / 否")),
        (_("created by / 录入人"), f"{_username(party.created_by)}, {_moment(party.created_at)}"),
        (_("last edited by / 最后修改人"), _username(party.edited_by)),
    ]
    if party.kyc_rejection_reason:
        rows.append((_("previous rejection reason / 上次驳回原因"), party.kyc_rejection_reason))
    accounts = [f"{a.number} {a.get_tier_display()} {a.get_state_display()}" for a in party.accounts.order_by("pk")[:10]]
    rows.append((_("accounts / 账户"), "; ".join(accounts) or "-"))
    warning = ""
    if party_is_maker(party=party, user=user):
        warning = str(MAKER_NOTE)
    return {"pk": party.pk, "title": party.name, "rows": rows, "warning": warning}


def _list_action(name: str):
    label = KYC_ACTIONS[name][0]

    def action(modeladmin, request, queryset):
        ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
        return HttpResponseRedirect(reverse("admin:accounts_party_kyc", args=[name]) + f"?ids={ids}")

    action.__name__ = f"kyc_{name}"
    return admin.action(description=label, permissions=["kyc_review"])(action)


action_kyc_approve = _list_action("approve")
action_kyc_reject = _list_action("reject")
action_face_to_face = _list_action("face_to_face")


class PartyKycActionView(ConsoleView):
    """Confirmation page, then the KYC service for each selected party (one message each)."""

    def check(self, request, name):
        if name not in KYC_ACTIONS or not self.model_admin.has_kyc_review_permission(request):
            raise PermissionDenied
        return KYC_ACTIONS[name]

    def form(self, required, data=None, initial=None):
        label = _("Reason / 原因") if required else _("Note (optional) / 备注（可选）")
        return ReasonForm(data, initial=initial, reason_required=required, reason_label=label)

    def page(self, request, name, label, form, ids):
        parties = list(Party.objects.filter(pk__in=ids).order_by("pk").select_related("created_by", "edited_by"))
        if name == "approve":
            # The checker weighs the documents, party by party (the masked identity data, who made it).
            targets, dossiers = [], [kyc_dossier(p, request.user) for p in parties]
        else:
            targets, dossiers = [_target_line(p) for p in parties], []
        return render_confirmation(
            self,
            request,
            title=gettext("Confirm: %(action)s / 确认操作") % {"action": label},
            intro=gettext("The parties below; the decision is recorded in the audit log. / 以下客户，审核结果将记入审计日志。"),
            targets=targets,
            dossiers=dossiers,
            form=form,
            cancel_url=reverse("admin:accounts_party_changelist"),
        )

    def get(self, request, name):
        label, required, _states, _types = self.check(request, name)
        ids = parse_ids(request.GET.get("ids", ""))
        if not ids:
            messages.error(request, gettext("No party selected. / 未选择客户。"))
            return HttpResponseRedirect(reverse("admin:accounts_party_changelist"))
        return self.page(request, name, label, self.form(required, initial={"ids": ",".join(map(str, ids))}), ids)

    def post(self, request, name):
        label, required, _states, _types = self.check(request, name)
        form = self.form(required, request.POST)
        ids = parse_ids(request.POST.get("ids", ""))
        if not form.is_valid() or not ids:
            if not ids:
                messages.error(request, gettext("No party selected. / 未选择客户。"))
            return self.page(request, name, label, form, ids)
        for party_id in ids:
            party_name = Party.objects.filter(pk=party_id).values_list("name", flat=True).first() or f"#{party_id}"
            try:
                party = _run(name, party_id, request.user, form.cleaned_data["reason"])
            except DomainError as exc:
                messages.error(
                    request,
                    gettext("%(party)s: %(action)s refused: %(error)s / 操作被拒绝")
                    % {"party": party_name, "action": label, "error": refusal_text(exc)},
                )
            else:
                messages.success(
                    request,
                    gettext("%(party)s: %(action)s done, KYC now %(state)s. / 操作成功")
                    % {"party": party.name, "action": label, "state": party.get_kyc_state_display()},
                )
        if len(ids) == 1:
            return HttpResponseRedirect(reverse("admin:accounts_party_change", args=[ids[0]]))
        return HttpResponseRedirect(reverse("admin:accounts_party_changelist"))


class PartyRevealView(ConsoleView):
    """Show a party's unmasked personal data once, after a reason is given; audited by the service."""

    template_name = "admin/accounts/party/reveal.html"

    def get(self, request, pk):
        if not request.user.has_perm(VIEW_PERSONAL_DATA):
            raise PermissionDenied
        party = get_object_or_404(Party, pk=pk)
        form = ReasonForm(reason_required=True)
        return render_confirmation(
            self,
            request,
            title=gettext("Reveal personal data / 查看完整个人信息"),
            intro=gettext(
                "The unmasked values are shown once and the reveal is recorded in the audit log with your reason. "
                "/ 完整信息仅显示一次，查看行为及原因将记入审计日志。"
            ),
            targets=[f"{party.name} ({party.id_number_masked or party.credit_code_masked})"],
            form=form,
            cancel_url=reverse("admin:accounts_party_change", args=[party.pk]),
            submit_label=gettext("Reveal / 查看"),
            original=party,
        )

    def post(self, request, pk):
        party = get_object_or_404(Party, pk=pk)
        back = HttpResponseRedirect(reverse("admin:accounts_party_change", args=[party.pk]))
        form = ReasonForm(request.POST, reason_required=True)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        if not reason and request.user.has_perm(VIEW_PERSONAL_DATA):
            messages.error(request, gettext("A reason is required. / 必须填写原因。"))
            return back
        try:
            revealed = party_reveal_personal_data(party_id=party.pk, actor=request.user, reason=reason)
        except DomainError as exc:
            messages.error(request, gettext("Reveal refused: %(error)s / 查看被拒绝") % {"error": refusal_text(exc)})
            return back
        response = TemplateResponse(
            request,
            self.template_name,
            self.context(
                request,
                title=gettext("Personal data of %(name)s / 客户完整信息") % {"name": party.name},
                party=party,
                original=party,
                revealed=[
                    (_("resident ID number / 身份证号码"), revealed.get("id_number")),
                    (_("mobile / 手机号"), revealed.get("mobile")),
                    (_("unified social credit code / 统一社会信用代码"), revealed.get("credit_code")),
                    (_("legal representative / 法定代表人"), revealed.get("legal_representative")),
                ],
            ),
        )
        response["Cache-Control"] = "no-store"
        return response


def party_urls(model_admin) -> list:
    wrap = model_admin.admin_site.admin_view
    return [
        path("kyc/<str:name>/", wrap(PartyKycActionView.as_view(model_admin=model_admin)), name="accounts_party_kyc"),
        path("<int:pk>/reveal/", wrap(PartyRevealView.as_view(model_admin=model_admin)), name="accounts_party_reveal"),
    ]


# -- the party pages ------------------------------------------------------------------------
class AccountInline(ViewOnlyInline):
    model = Account
    fields = ("number", "name", "tier", "role", "state", "balance", "frozen")
    readonly_fields = fields
    show_change_link = True


class PartyAddForm(forms.ModelForm):
    """A new party: identity data is validated by the service's rules and stored only encrypted."""

    id_number = forms.CharField(label=_("resident ID number / 身份证号码"), required=False, max_length=18)
    mobile = forms.CharField(label=_("mobile / 手机号"), required=False, max_length=20)

    class Meta:
        model = Party
        fields = ("type", "name", "id_number", "mobile", "credit_code", "legal_representative", "portal_users")

    def clean(self):
        data = super().clean()
        from accounts.parties.services import party_input_errors

        errors = party_input_errors(
            type=data.get("type") or "",
            name=data.get("name") or "",
            id_number=data.get("id_number") or None,
            mobile=data.get("mobile") or None,
            credit_code=data.get("credit_code") or None,
            legal_representative=data.get("legal_representative") or None,
        )
        for field, messages_ in errors.items():
            self.add_error(field if field in self.fields else None, [str(m) for m in messages_])
        return data


# A party's change page: everything but the name and the portal users is read-only.
PARTY_CHANGE_FIELDS = (
    "type",
    "name",
    "masked_identity",
    "masked_mobile",
    "masked_credit_code",
    "legal_representative",
    "kyc_state",
    "created_by_name",
    "edited_by_name",
    "kyc_reviewed_by_name",
    "kyc_reviewed_at",
    "kyc_rejection_reason",
    "face_to_face_verified",
    "face_to_face_verified_by_name",
    "face_to_face_verified_at",
    "portal_users",
)
PARTY_EDITABLE_FIELDS = ("name", "portal_users")


@admin.register(Party)
class PartyAdmin(NoDeleteMixin, admin.ModelAdmin):
    """Parties, and the KYC review queue (审核队列): pending reviews come first. A party owns accounts
    protected by the ledger; it is never deleted from the console."""

    list_display = ("name", "type", "kyc_state", "masked_identity", "face_to_face_verified", "created_at")
    list_filter = ("kyc_state", "type", "face_to_face_verified")
    search_fields = ("name", "credit_code")
    search_help_text = _("Name, credit code, or a full resident ID number or mobile / 名称、信用代码、完整身份证号或手机号")
    filter_horizontal = ("portal_users",)
    inlines = [AccountInline]
    add_form = PartyAddForm
    actions = [action_kyc_approve, action_kyc_reject, action_face_to_face]
    list_per_page = 50

    @admin.display(description=_("identity / 证件"))
    def masked_identity(self, obj):
        return obj.id_number_masked or obj.credit_code_masked

    @admin.display(description=_("unified social credit code / 统一社会信用代码"))
    def masked_credit_code(self, obj):
        return obj.credit_code_masked

    def get_ordering(self, request):
        # The KYC review queue: pending reviews first, oldest first (selectors.parties_awaiting_kyc).
        pending_first = Case(
            When(kyc_state=Party.KycState.PENDING_REVIEW, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        return (pending_first.asc(), "created_at", "pk")

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        from accounts.parties.selectors import party_search

        if search_term.strip():
            # Exact search by the ID number's or mobile's keyed hash: nothing is decrypted to search.
            queryset = queryset | self.model.objects.filter(pk__in=party_search(search_term).values("pk"))
        return queryset, may_have_duplicates

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return PartyAddForm.Meta.fields
        return PARTY_CHANGE_FIELDS

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # Identity data changes only through KYC resubmission (accounts.parties.services.party_kyc_resubmit).
        return tuple(name for name in PARTY_CHANGE_FIELDS if name not in PARTY_EDITABLE_FIELDS)

    # Operators as plain names: a link to the user page would be a 403 for most viewers.
    @admin.display(description=_("created by / 录入人"))
    def created_by_name(self, obj):
        return _username(obj.created_by)

    @admin.display(description=_("last edited by / 最后修改人"))
    def edited_by_name(self, obj):
        return _username(obj.edited_by)

    @admin.display(description=_("KYC reviewed by / 审核人"))
    def kyc_reviewed_by_name(self, obj):
        return _username(obj.kyc_reviewed_by)

    @admin.display(description=_("verified face to face by / 面签核实人"))
    def face_to_face_verified_by_name(self, obj):
        return _username(obj.face_to_face_verified_by)

    @admin.display(description=_("mobile / 手机号"))
    def masked_mobile(self, obj):
        return obj.mobile_masked

    def get_inlines(self, request, obj):
        # A new party has no accounts yet; they are opened afterwards through the service.
        return self.inlines if obj is not None else []

    def has_kyc_review_permission(self, request) -> bool:
        return request.user.has_perm("accounts.change_party")

    def get_urls(self):
        return party_urls(self) + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        party = self.get_object(request, object_id)
        if party is not None:
            extra_context["kyc_actions"] = kyc_actions_for(request, party, self)
            if party.kyc_state == Party.KycState.PENDING_REVIEW and party_is_maker(party=party, user=request.user):
                extra_context["kyc_maker_note"] = str(MAKER_NOTE)
            if request.user.has_perm(VIEW_PERSONAL_DATA):
                extra_context["reveal_url"] = reverse("admin:accounts_party_reveal", args=[party.pk])
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def save_model(self, request, obj, form, change):
        if change:
            # The service records the editor, who then may not approve the party's KYC (maker-checker).
            from accounts.parties.services import party_edit

            party = party_edit(party_id=obj.pk, name=obj.name, actor=request.user, changed=list(form.changed_data))
            obj.edited_by_id, obj.updated_at = party.edited_by_id, party.updated_at
            return
        from accounts.parties.services import party_create

        data = form.cleaned_data
        party = party_create(
            type=data["type"],
            name=data["name"],
            id_number=data.get("id_number") or None,
            mobile=data.get("mobile") or None,
            credit_code=data.get("credit_code") or None,
            legal_representative=data.get("legal_representative") or None,
            actor=request.user,
        )
        obj.pk, obj.created_at, obj.updated_at = party.pk, party.created_at, party.updated_at
        obj._state.adding = False
