"""Tier-limit rule sets, KYC tasks, the holiday calendar and dormancy policies in the console.

- Limit rule sets and rules (DOMAIN.md §1.3) and dormancy policies are reference data with a
  history (django-simple-history: "History" on each page); only supervisors may edit them
  (``change_limitruleset`` / ``change_limitrule`` / ``change_dormancypolicy``), nobody deletes
  them, and every save is audited.
- KYC tasks (R-ACC-14) are read-only, ordered by due date; "complete" runs
  ``accounts.limits.services.kyc_task_complete`` (needs ``accounts.change_kyctask``).
- The holiday calendar (working days for micro-deposit expiry) is edited by operators; every
  save is audited.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.cards.models import Holiday
from accounts.ledger.models import Account
from accounts.limits import services as limits
from accounts.limits.models import KycTask, LimitRule, LimitRuleSet
from accounts.states.models import DormancyPolicy
from backoffice.audit import audit_record
from backoffice.console import NoDeleteMixin, ViewOnlyAdmin, refusal_text
from backoffice.errors import DomainError


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, str, list, dict)):
        return value
    return str(value)


def _audit_save(request, obj, form, change, action: str) -> None:
    audit_record(
        actor=request.user,
        action=f"{action}.change" if change else f"{action}.add",
        target=obj,
        data={
            "changed": list(form.changed_data),
            "values": {name: _jsonable(form.cleaned_data.get(name)) for name in form.changed_data},
        },
    )


class NoDeleteHistoryAdmin(NoDeleteMixin, SimpleHistoryAdmin):
    """Reference data with history: edited (with the model's change permission), never deleted."""

    audit_action = ""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        _audit_save(request, obj, form, change, self.audit_action)


class LimitRuleInline(admin.TabularInline):
    model = LimitRule
    extra = 0
    can_delete = False
    fields = ("tier", "bucket", "period", "amount")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LimitRuleSet)
class LimitRuleSetAdmin(NoDeleteHistoryAdmin):
    list_display = ("name", "effective_from", "class3_consent_enables_non_bound_inflow", "in_force", "updated_at")
    list_filter = ("class3_consent_enables_non_bound_inflow",)
    search_fields = ("name", "note")
    ordering = ("-effective_from",)
    fields = ("name", "effective_from", "class3_consent_enables_non_bound_inflow", "note")
    inlines = [LimitRuleInline]
    audit_action = "limit_rule_set"

    @admin.display(description=_("in force today / 当前生效"), boolean=True)
    def in_force(self, obj):
        current = limits.rule_set_in_force(limits.local_date(timezone.now()))
        return current is not None and current.pk == obj.pk

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for instance in instances:
            is_new = instance.pk is None
            instance._history_user = request.user
            instance.save()
            audit_record(
                actor=request.user,
                action="limit_rule.add" if is_new else "limit_rule.change",
                target=instance,
                data={"rule_set": instance.rule_set_id, "limit": instance.code, "amount": f"{instance.amount:.2f}"},
            )
        formset.save_m2m()


@admin.register(LimitRule)
class LimitRuleAdmin(NoDeleteHistoryAdmin):
    list_display = ("rule_set", "tier", "bucket", "period", "amount")
    list_filter = ("rule_set", "tier", "bucket", "period")
    list_select_related = ("rule_set",)
    fields = ("rule_set", "tier", "bucket", "period", "amount")
    audit_action = "limit_rule"


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue / 逾期")
    parameter_name = "overdue_now"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue / 已逾期")), ("no", _("Not overdue / 未逾期"))]

    def queryset(self, request, queryset):
        today = limits.local_date(timezone.now())
        overdue = queryset.filter(state=KycTask.State.OPEN, due_date__lt=today)
        if self.value() == "yes":
            return overdue
        if self.value() == "no":
            return queryset.exclude(pk__in=overdue.values("pk"))
        return queryset


@admin.register(KycTask)
class KycTaskAdmin(ViewOnlyAdmin):
    """R-ACC-14: register the person's ID by the due date. Earliest due first."""

    list_display = ("id", "party", "trigger", "trigger_date", "due_date", "cumulative", "state", "is_overdue", "done_at")
    list_filter = ("state", OverdueFilter, "overdue", "trigger")
    search_fields = ("party__name",)
    list_select_related = ("party",)
    ordering = ("due_date", "pk")
    date_hierarchy = "due_date"
    fields = ("party", "trigger", "trigger_date", "due_date", "cumulative", "state", "overdue", "done_at", "note")
    readonly_fields = fields
    actions = ["complete_tasks"]

    @admin.display(description=_("overdue / 逾期"), boolean=True)
    def is_overdue(self, obj):
        return obj.state == KycTask.State.OPEN and (obj.overdue or obj.due_date < limits.local_date(timezone.now()))

    def has_complete_permission(self, request) -> bool:
        return request.user.has_perm("accounts.change_kyctask")

    @admin.action(description=_("Complete: ID checked and registered / 完成：已核验并登记证件"), permissions=["complete"])
    def complete_tasks(self, request, queryset):
        for task_id in queryset.order_by("due_date", "pk").values_list("pk", flat=True):
            try:
                limits.kyc_task_complete(task_id=task_id, actor=request.user)
            except DomainError as exc:
                self.message_user(
                    request,
                    gettext("KYC task #%(id)s: refused: %(error)s / 操作被拒绝") % {"id": task_id, "error": refusal_text(exc)},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request, gettext("KYC task #%(id)s completed. / 任务已完成。") % {"id": task_id}, messages.SUCCESS
                )


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    """Dates that differ from Mon-Fri working: public holidays and make-up working days (调休上班)."""

    list_display = ("date", "weekday", "name", "is_working_day")
    list_filter = ("is_working_day",)
    search_fields = ("name",)
    date_hierarchy = "date"
    ordering = ("date",)
    fields = ("date", "name", "is_working_day")

    @admin.display(description=_("weekday / 星期"))
    def weekday(self, obj):
        return ["一 Mon", "二 Tue", "三 Wed", "四 Thu", "五 Fri", "六 Sat", "日 Sun"][obj.date.weekday()]

    def save_model(self, request, obj, form, change):
        obj.save()
        _audit_save(request, obj, form, change, "holiday")


DORMANCY_TIERS = (Account.Tier.CLASS_I, Account.Tier.CLASS_II, Account.Tier.CLASS_III, Account.Tier.CORPORATE)


class DormancyPolicyForm(forms.ModelForm):
    tiers = forms.MultipleChoiceField(
        label=_("account tiers / 适用账户类别"),
        choices=[(t.value, t.label) for t in DORMANCY_TIERS],
        widget=forms.CheckboxSelectMultiple,
    )
    excluded_kinds = forms.CharField(
        label=_("voucher kinds not counted as activity / 不计为主动交易的业务类型"),
        required=False,
        help_text=_("Comma-separated, e.g. interest, judicial_deduction, fee / 以逗号分隔"),
    )

    class Meta:
        model = DormancyPolicy
        fields = ("name", "tiers", "inactive_days", "max_balance", "excluded_kinds", "action", "is_active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["excluded_kinds"] = ", ".join(self.instance.excluded_kinds or [])

    def clean_excluded_kinds(self):
        text = self.cleaned_data.get("excluded_kinds") or ""
        kinds = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
        for kind in kinds:
            if len(kind) > 32 or not kind.replace("_", "").isalnum():
                raise forms.ValidationError(_("%(kind)s is not a voucher kind. / 不是有效的业务类型。") % {"kind": kind})
        return kinds

    def clean_max_balance(self):
        value = self.cleaned_data.get("max_balance")
        if value is not None and value < 0:
            raise forms.ValidationError(_("The balance cap cannot be negative. / 余额上限不能为负。"))
        return value


@admin.register(DormancyPolicy)
class DormancyPolicyAdmin(NoDeleteHistoryAdmin):
    form = DormancyPolicyForm
    list_display = ("name", "tier_list", "inactive_days", "max_balance", "action", "is_active", "updated_at")
    list_filter = ("is_active", "action")
    search_fields = ("name",)
    audit_action = "dormancy_policy"

    @admin.display(description=_("account tiers / 适用账户类别"))
    def tier_list(self, obj):
        return ", ".join(obj.tiers or []) or "-"
