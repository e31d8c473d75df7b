"""The PBOC tier limits as data: dated rule sets, their rules, per-person counters and KYC tasks.

- ``LimitRuleSet`` / ``LimitRule`` (DOMAIN.md §1.3): a rule set is in force from its
  ``effective_from`` date until the next set starts; the one in force on a transaction's calendar
  day (Asia/Shanghai) applies (R-ACC-15). Both are edited in the console and keep their history.
- ``LimitCounter``: what one person has used of one bucket in one calendar day or year, across
  all their accounts of that tier at this bank. Written only by ``accounts.limits.services`` inside the
  posting's transaction, under the row lock.
- ``KycTask``: the Class III two-way cumulative reached the threshold (R-ACC-14): the bank must
  register the person's ID within the due days.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from backoffice.models import TimeStampedModel
from backoffice.money import MoneyField

__all__ = ["KycTask", "LimitCounter", "LimitRule", "LimitRuleSet"]


class LimitTier(models.TextChoices):
    CLASS_II = "II", _("Class II / 二类户")
    CLASS_III = "III", _("Class III / 三类户")


class LimitBucket(models.TextChoices):
    INFLOW = "inflow", _("Inflow: non-bound transfers in + cash deposits / 非绑定转入与存现")
    OUTFLOW = "outflow", _("Outflow: payments + transfers to non-bound + cash withdrawals / 消费缴费、向非绑定转出与取现")
    NON_BOUND_INFLOW = "non_bound_inflow", _("Non-bound inflow / 非绑定账户转入")
    BALANCE = "balance", _("Balance / 余额")
    TWO_WAY = "two_way", _("Two-way cumulative (KYC trigger) / 双向累计（身份核验触发）")


class LimitPeriod(models.TextChoices):
    DAY = "day", _("Calendar day / 自然日")
    YEAR = "year", _("Calendar year / 自然年")
    MOMENT = "moment", _("At any moment / 任一时点")
    TOTAL = "total", _("Cumulative / 累计")


COUNTED_BUCKETS = (LimitBucket.INFLOW, LimitBucket.OUTFLOW, LimitBucket.NON_BOUND_INFLOW)


class LimitRuleSet(TimeStampedModel):
    """A dated version of the tier limits (302号, 16号, ...), in force from ``effective_from``."""

    name = models.CharField(_("name / 名称"), max_length=100, unique=True)
    effective_from = models.DateField(_("effective from / 生效日期"), unique=True)
    note = models.TextField(_("note / 说明"), blank=True)
    class3_consent_enables_non_bound_inflow = models.BooleanField(
        _("Class III non-bound inflow by consent / 三类户经同意可接受非绑定转入"),
        default=False,
        help_text=_(
            "16号: a verifying inflow from the bound account plus the holder's consent enables non-bound inflows; "
            "302号: only face-to-face confirmation does."
        ),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-effective_from"]
        verbose_name = _("limit rule set / 限额规则集")
        verbose_name_plural = _("limit rule sets / 限额规则集")

    def __str__(self) -> str:
        return f"{self.name} ({self.effective_from:%Y-%m-%d})"


class LimitRule(TimeStampedModel):
    """One number of a rule set: a tier's bucket may reach ``amount`` per period.

    ``balance``/``moment`` is a cap at every moment (Class III); ``two_way``/``total`` is the KYC
    trigger threshold, not a refusal; the other buckets are per calendar day or year.
    """

    rule_set = models.ForeignKey(
        LimitRuleSet, on_delete=models.PROTECT, related_name="rules", verbose_name=_("rule set / 规则集")
    )
    tier = models.CharField(_("tier / 账户类别"), max_length=8, choices=LimitTier.choices)
    bucket = models.CharField(_("bucket / 额度类别"), max_length=32, choices=LimitBucket.choices)
    period = models.CharField(_("period / 周期"), max_length=8, choices=LimitPeriod.choices)
    amount = MoneyField(_("amount / 金额"))
    history = HistoricalRecords()

    class Meta:
        ordering = ["rule_set", "tier", "bucket", "period"]
        verbose_name = _("limit rule / 限额规则")
        verbose_name_plural = _("limit rules / 限额规则")
        constraints = [
            models.UniqueConstraint(fields=["rule_set", "tier", "bucket", "period"], name="limitrule_unique_per_set"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="limitrule_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(bucket="balance", period="moment")
                | Q(bucket="two_way", period="total")
                | Q(bucket__in=["inflow", "outflow", "non_bound_inflow"], period__in=["day", "year"]),
                name="limitrule_bucket_period_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier}_{self.bucket}_{self.period} ≤ {self.amount}"

    @property
    def code(self) -> str:
        """The limit's stable name in errors and the API: ``<tier>_<bucket>_<period>``."""
        return f"{self.tier}_{self.bucket}_{self.period}"


class LimitCounter(models.Model):
    """What a person used of one tier's bucket in one period (``2026-12-01``, ``2026``, ``all``)."""

    party = models.ForeignKey("accounts.Party", on_delete=models.PROTECT, related_name="limit_counters")
    tier = models.CharField(_("tier / 账户类别"), max_length=8, choices=LimitTier.choices)
    bucket = models.CharField(_("bucket / 额度类别"), max_length=32, choices=LimitBucket.choices)
    period = models.CharField(_("period / 周期"), max_length=8, choices=LimitPeriod.choices)
    period_key = models.CharField(_("period key / 周期标识"), max_length=10)
    used = MoneyField(_("used / 已用"))
    updated_at = models.DateTimeField(_("updated at / 更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("limit counter / 限额累计")
        verbose_name_plural = _("limit counters / 限额累计")
        constraints = [
            models.UniqueConstraint(fields=["party", "tier", "bucket", "period", "period_key"], name="limitcounter_unique_key"),
            models.CheckConstraint(condition=Q(used__gte=0), name="limitcounter_used_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.party_id} {self.tier}_{self.bucket}_{self.period} {self.period_key}: {self.used}"


class KycTask(FSMModelMixin, TimeStampedModel):
    """The bank must ask for a valid ID and register it by ``due_date`` (R-ACC-14): open → done."""

    class Trigger(models.TextChoices):
        CLASS3_TWO_WAY = "class3_two_way", _("Class III two-way cumulative / 三类户双向累计")

    class State(models.TextChoices):
        OPEN = "open", _("Open / 待处理")
        DONE = "done", _("Done / 已完成")

    party = models.ForeignKey(
        "accounts.Party", on_delete=models.PROTECT, related_name="kyc_tasks", verbose_name=_("party / 客户")
    )
    trigger = models.CharField(_("trigger / 触发原因"), max_length=32, choices=Trigger.choices)
    trigger_date = models.DateField(_("trigger date / 触发日期"))
    due_date = models.DateField(_("due date / 到期日"), db_index=True)
    cumulative = MoneyField(_("cumulative at trigger / 触发时累计"))
    state = FSMField(_("state / 状态"), default=State.OPEN, choices=State.choices, protected=True)
    overdue = models.BooleanField(_("overdue / 已逾期"), default=False, db_index=True)
    done_at = models.DateTimeField(_("done at / 完成时间"), null=True, blank=True)
    note = models.TextField(_("note / 备注"), blank=True)

    class Meta:
        ordering = ["due_date", "pk"]
        verbose_name = _("KYC task / 身份核验任务")
        verbose_name_plural = _("KYC tasks / 身份核验任务")
        constraints = [
            models.UniqueConstraint(fields=["party", "trigger"], name="kyctask_once_per_trigger"),
            models.CheckConstraint(condition=Q(due_date__gte=models.F("trigger_date")), name="kyctask_due_after_trigger"),
        ]

    def __str__(self) -> str:
        return f"KYC #{self.pk} {self.party_id} {self.due_date:%Y-%m-%d} {self.get_state_display()}"

    @transition(field=state, source=State.OPEN, target=State.DONE)
    def complete(self):
        """The person's valid ID was checked and registered."""
        self.done_at = timezone.now()

    complete.alters_data = True
