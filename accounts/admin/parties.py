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

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.parties.models import Party
from accounts.parties.services import (
    VIEW_PERSONAL_DATA,
    party_face_to_face_verify,
    party_kyc_approve,
    party_kyc_reject,
    party_reveal_personal_data,
)
from backoffice.console import ConsoleView, ReasonForm, parse_ids, refusal_text, render_confirmation
from backoffice.errors import DomainError

VIEW_PERSONAL_DATA = VIEW_PERSONAL_DATA

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
    for name, (label, _required, states, types) in KYC_ACTIONS.items():
        if party.kyc_state in states and (types is None or party.type in types):
            result.append((label, reverse("admin:accounts_party_kyc", args=[name]) + f"?ids={party.pk}"))
    return result


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
        parties = Party.objects.filter(pk__in=ids).order_by("pk")
        targets = [
            f"{p.name} ({p.get_type_display()}, {p.id_number_masked or p.credit_code_masked}, {p.get_kyc_state_display()})"
            for p in parties
        ]
        return render_confirmation(
            self,
            request,
            title=gettext("Confirm: %(action)s / 确认操作") % {"action": label},
            intro=gettext("The parties below; the decision is recorded in the audit log. / 以下客户，审核结果将记入审计日志。"),
            targets=targets,
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
