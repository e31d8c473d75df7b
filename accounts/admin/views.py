"""Console pages beyond the model admin: account statement, state changes, opening, trial balance
and the account's counter actions, among them the counter transfer (R-ACC-16).

Each view runs inside ``admin_site.admin_view`` (staff, and a verified TOTP device when
``ADMIN_OTP_REQUIRED``) and checks the model permission it needs. Writes go through services;
a ``DomainError`` from a service is shown with ``messages.error``.
"""

from __future__ import annotations

import re
import tempfile
from uuid import uuid4

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm import TransitionNotAllowed, can_proceed

from accounts import conf
from accounts.exports.models import ExportJob
from accounts.exports.responses import job_file_response, statement_response
from accounts.exports.services import export_job_create, export_job_for
from accounts.exports.statements import CONSOLE, StatementQuery
from accounts.exports.trial_balance import trial_balance_filename, write_trial_balance_xlsx
from accounts.exports.writers import XLSX_CONTENT_TYPE
from accounts.ledger.chart import CREDIT, DEBIT, ROLE_CHART, ROLE_CHOICES
from accounts.ledger.checks import ledger_report
from accounts.ledger.models import Account, Subject
from accounts.ledger.selectors import account_statement, statement_kinds, trial_balance
from accounts.parties.models import Party
from accounts.parties.services import account_open
from accounts.payments.counter import counter_transfer
from accounts.states.services import STATE_ACTIONS, account_change_state, account_close
from backoffice import dates
from backoffice.audit import audit_record
from backoffice.console import ConsoleView, ReasonForm, add_field_errors, parse_ids, refusal_text, render_confirmation
from backoffice.errors import DomainError, FieldValidationError
from backoffice.money import MoneyError, parse_amount

# Labels of the state actions, in the order they are offered.
STATE_ACTION_LABELS = {
    "activate": _("Activate / 激活"),
    "freeze": _("Freeze / 冻结"),
    "unfreeze": _("Unfreeze / 解冻"),
    "mark_dormant": _("Mark dormant / 转为睡眠户"),
    "reactivate": _("Reactivate / 重新激活"),
    "suspend_non_counter": _("Suspend non-counter / 暂停非柜面"),
    "restore_non_counter": _("Restore non-counter / 恢复非柜面"),
    "close": _("Close / 销户"),
}
assert set(STATE_ACTION_LABELS) == set(STATE_ACTIONS), "every account action needs a console label"


def available_state_actions(account: Account) -> list[tuple[str, str]]:
    """The (action, label) pairs the account's current state allows."""
    if account.is_internal:
        return []
    return [(name, label) for name, label in STATE_ACTION_LABELS.items() if can_proceed(getattr(account, STATE_ACTIONS[name]))]


STATEMENT_PAGE_SIZE = 50
MAX_BULK_ACCOUNTS = 200


# -- statement ---------------------------------------------------------------------------


class StatementFilterForm(forms.Form):
    date_from = forms.DateField(
        label=_("From / 起始日期"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=_("To / 截止日期"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    kind = forms.ChoiceField(label=_("Business kind / 业务类型"), required=False)

    def __init__(self, *args, kinds: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("All / 全部"))] + [(k, k) for k in kinds]

    def clean_date_from(self):
        return self._queryable_day(self.cleaned_data.get("date_from"))

    def clean_date_to(self):
        return self._queryable_day(self.cleaned_data.get("date_to"))

    @staticmethod
    def _queryable_day(day):
        # 9999-12-31 has no next day to end the range at: a form error, not an overflow.
        if day is not None and not dates.day_in_range(day):
            raise forms.ValidationError(forms.DateField.default_error_messages["invalid"], code="date_out_of_range")
        return day

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(_("The start date is after the end date. / 起始日期晚于截止日期。"), code="date_order")
        return cleaned


class AccountStatementView(ConsoleView):
    """An account's entries, filtered by date and business kind, 50 a page, exportable as CSV/XLSX."""

    template_name = "admin/accounts/account/statement.html"

    def get(self, request, pk):
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied
        account = get_object_or_404(Account.objects.select_related("party"), pk=pk)
        params = request.GET.copy()
        params.pop("page", None)
        export = params.pop("export", [None])[-1]
        form = StatementFilterForm(params or None, kinds=statement_kinds(account=account))
        filters_ok = form.is_valid() if form.is_bound else True
        data = form.cleaned_data if form.is_bound and filters_ok else {}
        entries = account_statement(
            account=account,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            kind=data.get("kind") or None,
        )
        if export in ("csv", "xlsx") and filters_ok:
            return self.export(request, account, entries, export, data)
        if export and filters_ok:
            messages.error(request, gettext("Unknown export format. / 不支持的导出格式。"))
        page = Paginator(entries, STATEMENT_PAGE_SIZE).get_page(request.GET.get("page")) if filters_ok else None
        rows = []
        if page is not None:
            for entry in page.object_list:
                rows.append(
                    {
                        "entry": entry,
                        "debit": entry.amount if entry.side == DEBIT else None,
                        "credit": entry.amount if entry.side == CREDIT else None,
                    }
                )
        return self.render(
            request,
            status=200,
            title=gettext("Statement of %(number)s / 账户对账单") % {"number": account.number},
            account=account,
            original=account,
            form=form,
            page=page,
            rows=rows,
            query=params.urlencode(),
        )

    def export(self, request, account, entries, fmt, data):
        query = StatementQuery(
            account_id=account.pk,
            audience=CONSOLE,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            kind=data.get("kind") or None,
        )
        background = entries.count() > conf.export_sync_max_rows()
        with transaction.atomic():
            # Exporting a customer's statement is a sensitive view: it is audited.
            audit_record(
                actor=request.user,
                action="account.statement_export",
                target=account,
                data={
                    "format": fmt,
                    "date_from": str(data.get("date_from") or ""),
                    "date_to": str(data.get("date_to") or ""),
                    "kind": data.get("kind") or "",
                    "background": background,
                },
            )
            if background:
                job = export_job_create(owner=request.user, query=query, fmt=fmt)
        if background:
            return HttpResponseRedirect(reverse("admin:accounts_account_export_job", args=[job.pk]))
        return statement_response(query, fmt)


class ExportJobView(ConsoleView):
    """A background export's progress (the page refreshes itself until it is finished), then its
    link. Only the operator who asked for it sees it (404 for anyone else)."""

    template_name = "admin/accounts/export_job.html"

    def job(self, request, pk):
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied
        job = export_job_for(job_id=pk, owner=request.user, audience=ExportJob.Audience.CONSOLE)
        if job is None:
            raise Http404(gettext("No such export. / 无此导出任务。"))
        return job

    def get(self, request, pk):
        job = self.job(request, pk)
        return self.render(request, title=gettext("Export / 导出"), job=job, account=job.account)


class ExportJobDownloadView(ExportJobView):
    def get(self, request, pk):
        job = self.job(request, pk)
        if job.state != ExportJob.State.DONE or not job.file:
            raise Http404(gettext("No such export. / 无此导出任务。"))
        return job_file_response(job)


# -- state changes -----------------------------------------------------------------------


class StateChangeForm(forms.Form):
    ids = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Reason / 原因"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Recorded in the audit log. / 将记入审计日志。"),
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("A reason is required. / 必须填写原因。"), code="required")
        return reason


class AccountStateChangeView(ConsoleView):
    """Confirmation page (with a reason) for one state action on one or more accounts."""

    template_name = "admin/accounts/account/state_confirm.html"

    def check(self, request, action):
        if not self.model_admin.has_change_state_permission(request):
            raise PermissionDenied

        if action not in STATE_ACTION_LABELS:
            raise PermissionDenied
        return STATE_ACTION_LABELS[action]

    def page(self, request, action, label, form, ids, status=200):

        accounts = list(Account.objects.filter(pk__in=ids).select_related("party").order_by("number"))
        rows = [{"account": a, "allowed": action in dict(available_state_actions(a))} for a in accounts]
        return self.render(
            request,
            status=status,
            title=gettext("Confirm: %(action)s / 确认操作") % {"action": label},
            action=action,
            action_label=label,
            form=form,
            rows=rows,
        )

    def get(self, request, action):
        label = self.check(request, action)
        ids = parse_ids(request.GET.get("ids", ""))
        if not ids:
            messages.error(request, gettext("No account selected. / 未选择账户。"))
            return HttpResponseRedirect(reverse("admin:accounts_account_changelist"))
        form = StateChangeForm(initial={"ids": ",".join(map(str, ids))})
        return self.page(request, action, label, form, ids)

    def post(self, request, action):
        label = self.check(request, action)
        form = StateChangeForm(request.POST)
        ids = parse_ids(request.POST.get("ids", ""))
        if not form.is_valid() or not ids:
            return self.page(request, action, label, form, ids)
        done = 0
        for account_id in ids:
            try:
                account = account_change_state(
                    account_id=account_id, action=action, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except Account.DoesNotExist:
                messages.error(request, gettext("Account #%(id)s does not exist. / 账户不存在。") % {"id": account_id})
            except (DomainError, TransitionNotAllowed) as exc:
                number = Account.objects.filter(pk=account_id).values_list("number", flat=True).first() or account_id
                text = refusal_text(exc) if isinstance(exc, DomainError) else gettext("The object's state does not allow this.")
                messages.error(
                    request,
                    gettext("%(number)s: %(action)s refused: %(error)s / 操作被拒绝")
                    % {"number": number, "action": label, "error": text},
                )
            else:
                done += 1
                messages.success(
                    request,
                    gettext("%(number)s: %(action)s done, now %(state)s. / 操作成功")
                    % {"number": account.number, "action": label, "state": account.get_state_display()},
                )
        if len(ids) == 1:
            return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[ids[0]]))
        return HttpResponseRedirect(reverse("admin:accounts_account_changelist"))


# -- opening -----------------------------------------------------------------------------


class PartyChoiceField(forms.ModelChoiceField):
    """A party as the operator picks it: name, masked identity and KYC state."""

    def label_from_instance(self, obj):
        identity = obj.id_number_masked or obj.credit_code_masked
        return f"{obj.name} · {obj.get_type_display()} · {identity} · {obj.get_kyc_state_display()}"


#: At most this many parties in the opening form's list; a search narrows it.
OPEN_FORM_PARTIES = 200


def openable_parties(term: str = ""):
    """Parties an account may be opened for, matching ``term``: rejected ones are left out."""
    from accounts.parties.selectors import party_search

    return party_search(term).exclude(kyc_state=Party.KycState.REJECTED).order_by("name", "pk")


class AccountOpenForm(forms.Form):
    party = PartyChoiceField(
        label=_("party / 客户"),
        queryset=Party.objects.none(),
        help_text=_("Rejected parties are not listed. / 已驳回的客户不在列表中。"),
    )
    role = forms.ChoiceField(
        label=_("role / 用途"), choices=[(value, label) for value, label in ROLE_CHOICES if not ROLE_CHART[value].internal]
    )
    tier = forms.ChoiceField(
        label=_("tier / 账户类别"),
        choices=[c for c in Account.Tier.choices if c[0] not in (Account.Tier.INTERNAL, Account.Tier.DEPOSITORY)],
    )
    name = forms.CharField(
        label=_("name / 户名"), max_length=200, required=False, help_text=_("Empty: the party's name. / 留空则使用客户名称。")
    )

    def __init__(self, *args, term: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if self.is_bound:
            # A posted party is checked against every openable party, not just the listed ones.
            self.fields["party"].queryset = openable_parties()
        else:
            ids = list(openable_parties(term).values_list("pk", flat=True)[:OPEN_FORM_PARTIES])
            initial = self.initial.get("party")
            if initial and str(initial).isdigit():
                ids.append(int(initial))
            self.fields["party"].queryset = openable_parties().filter(pk__in=ids)


class AccountOpenView(ConsoleView):
    """Open a customer account through accounts.parties.services.account_open."""

    template_name = "admin/accounts/account/open.html"

    def check(self, request):
        if not self.model_admin.has_open_permission(request):
            raise PermissionDenied

    def get(self, request):
        self.check(request)
        initial = {"party": request.GET.get("party")} if request.GET.get("party") else None
        term = (request.GET.get("q") or "").strip()[:100]
        form = AccountOpenForm(initial=initial, term=term)
        found = form.fields["party"].queryset.count()
        return self.render(request, title=gettext("Open an account / 开立账户"), form=form, q=term, found=found)

    def post(self, request):
        self.check(request)
        form = AccountOpenForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = account_open(
                    party=data["party"], role=data["role"], tier=data["tier"], name=data["name"], actor=request.user
                )
            except DomainError as exc:
                messages.error(request, refusal_text(exc))
            else:
                messages.success(request, gettext("Account %(number)s opened. / 账户已开立。") % {"number": account.number})
                return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))
        found = form.fields["party"].queryset.count()
        return self.render(request, title=gettext("Open an account / 开立账户"), form=form, q="", found=found)


# -- trial balance -----------------------------------------------------------------------


class TrialBalanceForm(forms.Form):
    as_of = forms.DateField(
        label=_("As of business date / 截至营业日"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean_as_of(self):
        day = self.cleaned_data.get("as_of")
        if day is not None and not dates.day_in_range(day):
            raise forms.ValidationError(forms.DateField.default_error_messages["invalid"], code="date_out_of_range")
        return day


#: What a drift found by ``ledger_check`` is about (its ``kind``, or the area of a registered invariant).
DRIFT_LABELS = {
    "balance": _("Account balance / 账户余额"),
    "frozen": _("Frozen amount / 冻结金额"),
    "available": _("Available balance below zero / 可用余额为负"),
    "voucher": _("Voucher debit = credit / 凭证借贷平衡"),
    "voucher amount": _("Voucher amount / 凭证金额"),
    "posting rule": _("Posting rule / 记账规则"),
    "ledger": _("Ledger totals / 总账合计"),
    "withdrawals": _("Withdrawals in flight / 在途提现"),
    "custody": _("Custody (platform pools) / 资金存管"),
}


class TrialBalanceView(ConsoleView):
    """试算平衡表: per subject turnover and balance, the totals, and every drift ledger_check finds;
    as of a past business date (entries posted up to the end of that day, no drift check: drifts
    are about the stored balances of now), and as XLSX (numbers)."""

    template_name = "admin/accounts/trial_balance.html"

    def get(self, request):
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied
        params = request.GET.copy()
        export = params.pop("export", [None])[-1]
        form = TrialBalanceForm(params or None)
        as_of = form.cleaned_data.get("as_of") if form.is_bound and form.is_valid() else None
        today = dates.business_date(timezone.now())
        if as_of is not None and as_of < today:
            report, tb = None, trial_balance(as_of=as_of)
        else:
            as_of = None
            report = ledger_report()
            tb = report.trial_balance
        if export == "xlsx" and not form.errors:
            handle = tempfile.TemporaryFile()
            day = as_of or today
            write_trial_balance_xlsx(handle, tb, as_of=day)
            handle.seek(0)
            response = FileResponse(
                handle, as_attachment=True, filename=trial_balance_filename(day), content_type=XLSX_CONTENT_TYPE
            )
            response["Cache-Control"] = "no-store"
            return response
        return self.render(
            request,
            title=gettext("Trial balance / 试算平衡表"),
            report=report,
            drifts=[
                {"label": DRIFT_LABELS.get(d.kind, d.kind), "target": d.target, "expected": d.expected, "actual": d.actual}
                for d in (report.drifts if report else [])
            ],
            tb=tb,
            form=form,
            as_of=as_of,
            query=params.urlencode(),
            opts=Subject._meta,
        )


# -- counter actions on one account --------------------------------------------------------


def _counter_actions():
    """name → (label, permission, reason required, applies(account), service(account_id, actor, reason))."""
    from accounts.limits import services as limits
    from accounts.states import dormancy

    tiers_ii_iii = (Account.Tier.CLASS_II, Account.Tier.CLASS_III)
    return {
        "face_to_face": (
            _("Record face-to-face verification / 登记面对面核实身份"),
            "accounts.change_account",
            False,
            lambda a: a.tier in tiers_ii_iii and not a.face_to_face_verified,
            lambda pk, actor, reason: limits.account_record_face_to_face(account_id=pk, actor=actor, note=reason),
        ),
        "consent": (
            _("Record non-bound inflow consent / 登记同意接受非绑定转入"),
            "accounts.change_account",
            False,
            lambda a: a.tier == Account.Tier.CLASS_III and not a.class3_non_bound_inflow_enabled,
            lambda pk, actor, reason: limits.account_record_non_bound_inflow_consent(account_id=pk, consented=True, actor=actor),
        ),
        "withdraw_consent": (
            _("Withdraw non-bound inflow consent / 撤销非绑定转入同意"),
            "accounts.change_account",
            False,
            lambda a: a.tier == Account.Tier.CLASS_III and a.class3_non_bound_inflow_enabled,
            lambda pk, actor, reason: limits.account_record_non_bound_inflow_consent(account_id=pk, consented=False, actor=actor),
        ),
        "reverify": (
            _("Identity re-verified at the counter / 柜面重新核实身份"),
            "accounts.change_account",
            True,
            lambda a: a.state == Account.State.NON_COUNTER_SUSPENDED,
            lambda pk, actor, reason: dormancy.account_reverify_identity(
                account_id=pk, actor=actor, method="counter", reason=reason
            ),
        ),
        "counter_reactivate": (
            _("Reactivate at the counter / 柜面激活睡眠户"),
            "accounts.change_account",
            True,
            lambda a: a.state == Account.State.DORMANT,
            lambda pk, actor, reason: dormancy.account_reactivate(account_id=pk, actor=actor, reason=reason),
        ),
        "close": (
            _("Close the account / 销户"),
            "accounts.change_account_state",
            True,
            lambda a: a.state in (Account.State.ACTIVE, Account.State.DORMANT, Account.State.NON_COUNTER_SUSPENDED),
            lambda pk, actor, reason: account_close(account_id=pk, actor=actor, reason=reason),
        ),
    }


def counter_actions_for(request, account: Account) -> list[tuple[str, str]]:
    """The (label, url) of the counter actions this user may take on this account now."""
    if account.is_internal:
        return []
    actions = [
        (label, reverse("admin:accounts_account_counter", args=[account.pk, name]))
        for name, (label, permission, _required, applies, _service) in _counter_actions().items()
        if request.user.has_perm(permission) and applies(account)
    ]
    if request.user.has_perm(COUNTER_TRANSFER_PERMISSION) and account.state in Account.COUNTER_OUTFLOW_STATES:
        actions.append((COUNTER_TRANSFER_LABEL, reverse("admin:accounts_account_counter_transfer", args=[account.pk])))
    return actions


class AccountCounterActionView(ConsoleView):
    """Confirm, then run one counter action (face to face, consent, re-verification, counter
    reactivation, close) through its service; a refusal is shown as an error."""

    def spec(self, request, name):
        actions = _counter_actions()
        if name not in actions:
            raise PermissionDenied
        label, permission, required, _applies, service = actions[name]
        if not request.user.has_perm(permission):
            raise PermissionDenied
        return label, required, service

    def page(self, request, account, label, form, status=200):
        return render_confirmation(
            self,
            request,
            title=gettext("Confirm: %(action)s / 确认操作") % {"action": label},
            intro=gettext(
                "You are about to do this on the account below; it is recorded in the audit log. / 操作将记入审计日志。"
            ),
            targets=[f"{account.number} {account.name} ({account.get_tier_display()}, {account.get_state_display()})"],
            form=form,
            cancel_url=reverse("admin:accounts_account_change", args=[account.pk]),
            status=status,
            original=account,
        )

    def form(self, request, required, data=None):
        label = _("Reason / 原因") if required else _("Note (optional) / 备注（可选）")
        return ReasonForm(data, reason_required=required, reason_label=label)

    def get(self, request, pk, name):
        label, required, _service = self.spec(request, name)
        account = get_object_or_404(Account, pk=pk)
        return self.page(request, account, label, self.form(request, required))

    def post(self, request, pk, name):
        label, required, service = self.spec(request, name)
        account = get_object_or_404(Account, pk=pk)
        form = self.form(request, required, request.POST)
        if not form.is_valid():
            return self.page(request, account, label, form)
        try:
            service(account.pk, request.user, form.cleaned_data["reason"])
        except (DomainError, TransitionNotAllowed) as exc:
            messages.error(
                request, gettext("%(action)s refused: %(error)s / 操作被拒绝") % {"action": label, "error": refusal_text(exc)}
            )
        else:
            messages.success(request, gettext("%(action)s: done. / 操作成功。") % {"action": label})
        return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))


# -- counter transfer (R-ACC-16) -------------------------------------------------------------

COUNTER_TRANSFER_PERMISSION = "accounts.change_account"
COUNTER_TRANSFER_LABEL = _("Counter transfer / 柜面转账")
_TOKEN = re.compile(r"[0-9a-f]{32}")


class CounterTransferForm(forms.Form):
    """A transfer the holder makes in person at the counter. ``token`` is drawn once per page and
    is the posting's idempotency key: sending the same page twice posts once."""

    token = forms.CharField(widget=forms.HiddenInput)
    to_account = forms.CharField(label=_("To account / 收款账号"), max_length=16)
    amount = forms.CharField(
        label=_("Amount (yuan) / 金额（元）"), max_length=24, help_text=_("For example 123.45 / 例如 123.45")
    )
    identity_note = forms.CharField(
        label=_("Identity re-verified at the counter / 柜面身份核验"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_(
            "How the holder's identity was checked (document, number, face check); recorded on the voucher and in "
            "the audit log. / 核验方式（证件、号码、人脸比对），记入凭证和审计日志。"
        ),
    )

    def clean_token(self):
        token = self.cleaned_data["token"]
        if not _TOKEN.fullmatch(token):
            raise forms.ValidationError(_("The page has expired: open it again. / 页面已失效，请重新打开。"), code="token")
        return token

    def clean_to_account(self):
        number = self.cleaned_data["to_account"].strip()
        if not (number.isdigit() and len(number) == 16):
            raise forms.ValidationError(_("Enter a 16-digit account number. / 请输入16位账号。"), code="number")
        return number

    def clean_amount(self):
        try:
            amount = parse_amount(self.cleaned_data["amount"], typed=True, thousands=True)
        except MoneyError:
            amount = None
        if amount is None or amount <= 0:
            raise forms.ValidationError(
                _("Enter a positive amount with at most two decimals. / 请输入大于零、最多两位小数的金额。"), code="amount"
            )
        return amount

    def clean_identity_note(self):
        note = self.cleaned_data["identity_note"].strip()
        if not note:
            raise forms.ValidationError(_("A reason is required. / 必须填写原因。"), code="required")
        return note


class AccountCounterTransferView(ConsoleView):
    """R-ACC-16: the holder, present at the counter and re-identified by the operator, moves money
    to another account at the bank. Posted with the ledger's counter channel, so it is allowed
    from a non-counter-suspended account; audited; a refusal is shown on the page."""

    def check(self, request, pk) -> Account:
        if not request.user.has_perm(COUNTER_TRANSFER_PERMISSION):
            raise PermissionDenied
        account = get_object_or_404(Account, pk=pk)
        if account.is_internal:
            raise PermissionDenied
        return account

    def page(self, request, account, form, status=200):
        return render_confirmation(
            self,
            request,
            title=gettext("Counter transfer from %(number)s / 柜面转账") % {"number": account.number},
            intro=gettext(
                "Only with the holder present at the counter, after re-verifying their identity. The transfer is "
                "posted as a counter transaction and recorded in the audit log. / 仅限客户本人临柜、重新核验身份后办理；"
                "按柜面交易记账并记入审计日志。"
            ),
            targets=[
                f"{account.number} {account.name} ({account.get_tier_display()}, {account.get_state_display()}), "
                + gettext("available %(available)s / 可用余额") % {"available": f"{account.available:.2f}"}
            ],
            form=form,
            cancel_url=reverse("admin:accounts_account_change", args=[account.pk]),
            submit_label=gettext("Post the counter transfer / 确认柜面转账"),
            status=status,
            original=account,
        )

    def get(self, request, pk):
        account = self.check(request, pk)
        return self.page(request, account, CounterTransferForm(initial={"token": uuid4().hex}))

    def post(self, request, pk):
        account = self.check(request, pk)
        form = CounterTransferForm(request.POST)
        if not form.is_valid():
            return self.page(request, account, form)
        data = form.cleaned_data
        try:
            transfer = counter_transfer(
                from_account_id=account.pk,
                to_account_number=data["to_account"],
                amount=data["amount"],
                actor=request.user,
                identity_note=data["identity_note"],
                idempotency_key=f"counter:{data['token']}",
            )
        except FieldValidationError as exc:
            add_field_errors(form, exc)
            return self.page(request, account, form)
        except DomainError as exc:
            messages.error(
                request,
                gettext("%(action)s refused: %(error)s / 操作被拒绝")
                % {"action": COUNTER_TRANSFER_LABEL, "error": refusal_text(exc)},
            )
            return self.page(request, account, form)
        messages.success(
            request,
            gettext("Counter transfer posted: voucher #%(voucher)s, %(amount)s to %(to)s. / 柜面转账已记账。")
            % {"voucher": transfer.pk, "amount": f"{transfer.amount:.2f}", "to": data["to_account"]},
        )
        return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))
