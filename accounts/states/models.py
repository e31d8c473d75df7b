"""Account-state records: judicial freezes (司法冻结) with their maker-checker requests, and dormancy.

Data and invariants only. Every write goes through ``accounts.states.freezes`` (freezes and requests)
or ``accounts.states.dormancy`` (policies, notices); money moves only through ``accounts.ledger.postings``.

Judicial freeze invariants
- A freeze moves ``queued (轮候) → active → released | expired | deducted``; a queued freeze may
  also be released (the authority lifts it before it takes effect).
- While a ``full`` or ``partial`` freeze is active it owns exactly one active Hold with reason
  ``judicial`` for ``frozen_amount`` (none when nothing was available); ``shortfall`` records
  what the order asked for and could not be frozen.
- While a ``full`` or ``debit_blocked`` freeze is active it counts once in
  ``Account.judicial_debit_blocks``; a ``credit_blocked`` one once in ``judicial_credit_blocks``.
- At most one money freeze (full or partial) is active per account; later ones wait in the
  queue and take effect, earliest queued first, when the active one ends.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from backoffice.models import TimeStampedModel, operator_reference
from backoffice.money import MoneyField

__all__ = [
    "DormancyNotice",
    "DormancyPolicy",
    "FreezeRequest",
    "JudicialDeduction",
    "JudicialFreeze",
    "JudicialFreezeRenewal",
]


class JudicialFreeze(FSMModelMixin, TimeStampedModel):
    """A freeze ordered by a court or another competent authority (司法冻结), as its own record."""

    class Kind(models.TextChoices):
        FULL = "full", _("Full: whole balance frozen, no outflow / 全额冻结")
        PARTIAL = "partial", _("Partial amount / 部分冻结")
        DEBIT_BLOCKED = "debit_blocked", _("Debit blocked: no outflow / 只收不付")
        CREDIT_BLOCKED = "credit_blocked", _("Credit blocked: no inflow / 只付不收")

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued / 轮候")
        ACTIVE = "active", _("Active / 冻结中")
        RELEASED = "released", _("Released / 已解冻")
        EXPIRED = "expired", _("Expired / 已到期")
        DEDUCTED = "deducted", _("Deducted / 已扣划")

    MONEY_KINDS = (Kind.FULL, Kind.PARTIAL)
    DEBIT_BLOCKING_KINDS = (Kind.FULL, Kind.DEBIT_BLOCKED)
    CREDIT_BLOCKING_KINDS = (Kind.CREDIT_BLOCKED,)
    OPEN_STATES = (State.QUEUED, State.ACTIVE)

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="judicial_freezes", verbose_name=_("account / 账户")
    )
    kind = models.CharField(_("kind / 冻结方式"), max_length=16, choices=Kind.choices)
    amount = MoneyField(_("ordered amount / 冻结金额"), null=True, blank=True, default=None)
    frozen_amount = MoneyField(_("amount frozen / 实冻金额"))
    shortfall = MoneyField(_("shortfall / 未冻足金额"))
    deducted_amount = MoneyField(_("deducted / 已扣划金额"))
    authority = models.CharField(_("authority / 有权机关"), max_length=200)
    document_number = models.CharField(_("document number / 文书编号"), max_length=100)
    effective_at = models.DateTimeField(_("effective at / 生效时间"))
    expires_at = models.DateTimeField(_("expires at / 到期时间"), db_index=True)
    state = FSMField(_("state / 状态"), default=State.QUEUED, choices=State.choices, protected=True)
    activated_at = models.DateTimeField(_("took effect at / 正式冻结时间"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at / 结束时间"), null=True, blank=True)
    hold = models.OneToOneField(
        "accounts.Hold",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="judicial_freeze",
        verbose_name=_("current hold / 当前冻结记录"),
    )

    class Meta:
        verbose_name = _("judicial freeze / 司法冻结")
        verbose_name_plural = _("judicial freezes / 司法冻结")
        constraints = [
            models.UniqueConstraint(fields=["authority", "document_number"], name="judicialfreeze_unique_document"),
            models.CheckConstraint(condition=~Q(kind="partial") | Q(amount__gt=0), name="judicialfreeze_partial_has_amount"),
            models.CheckConstraint(condition=Q(frozen_amount__gte=0), name="judicialfreeze_frozen_not_negative"),
            models.CheckConstraint(condition=Q(shortfall__gte=0), name="judicialfreeze_shortfall_not_negative"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("effective_at")), name="judicialfreeze_expiry_after_effect"
            ),
        ]
        indexes = [models.Index(fields=["account", "state"], name="judicialfreeze_account_state")]

    def __str__(self) -> str:
        return f"{self.authority} {self.document_number} ({self.get_kind_display()}, {self.get_state_display()})"

    @property
    def blocks_debit(self) -> bool:
        return self.kind in self.DEBIT_BLOCKING_KINDS

    @property
    def blocks_credit(self) -> bool:
        return self.kind in self.CREDIT_BLOCKING_KINDS

    @property
    def holds_money(self) -> bool:
        return self.kind in self.MONEY_KINDS

    @transition(field=state, source=State.QUEUED, target=State.ACTIVE)
    def activate(self):
        """The freeze takes effect (at once, or when the earlier one on the account ends)."""

    @transition(field=state, source=[State.QUEUED, State.ACTIVE], target=State.RELEASED)
    def release(self):
        """The authority lifted the freeze (解除冻结)."""

    @transition(field=state, source=State.ACTIVE, target=State.EXPIRED)
    def expire(self):
        """The freeze reached its expiry without renewal and ends by itself."""

    @transition(field=state, source=State.ACTIVE, target=State.DEDUCTED)
    def mark_deducted(self):
        """The whole frozen amount was deducted (扣划) to the authority: the freeze ends."""

    activate.alters_data = release.alters_data = expire.alters_data = mark_deducted.alters_data = True


class JudicialFreezeRenewal(models.Model):
    """One renewal (续冻) of a judicial freeze: the expiry before and after, append-only."""

    freeze = models.ForeignKey(JudicialFreeze, on_delete=models.PROTECT, related_name="renewals")
    previous_expires_at = models.DateTimeField(_("previous expiry / 原到期时间"))
    new_expires_at = models.DateTimeField(_("new expiry / 新到期时间"))
    document_number = models.CharField(_("document number / 文书编号"), max_length=100)
    request = models.OneToOneField("accounts.FreezeRequest", on_delete=models.PROTECT, related_name="renewal")
    created_at = models.DateTimeField(_("renewed at / 续冻时间"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("judicial freeze renewal / 续冻记录")
        verbose_name_plural = _("judicial freeze renewals / 续冻记录")
        ordering = ["created_at", "pk"]


class JudicialDeduction(models.Model):
    """One forced deduction (扣划) from a frozen account to the authority's named account."""

    freeze = models.ForeignKey(JudicialFreeze, on_delete=models.PROTECT, related_name="deductions")
    amount = MoneyField(_("amount / 扣划金额"))
    court_account_name = models.CharField(_("payee account name / 收款户名"), max_length=200)
    court_account_number = models.CharField(_("payee account number / 收款账号"), max_length=64)
    court_bank = models.CharField(_("payee bank / 收款行"), max_length=200, blank=True)
    document_number = models.CharField(_("document number / 文书编号"), max_length=100)
    transfer = models.OneToOneField("accounts.Transfer", on_delete=models.PROTECT, related_name="judicial_deduction")
    request = models.OneToOneField("accounts.FreezeRequest", on_delete=models.PROTECT, related_name="deduction")
    created_at = models.DateTimeField(_("deducted at / 扣划时间"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("judicial deduction / 司法扣划")
        verbose_name_plural = _("judicial deductions / 司法扣划")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="judicialdeduction_amount_positive")]


class FreezeRequest(FSMModelMixin, TimeStampedModel):
    """A maker-checker request on a judicial freeze: one operator asks, a different one approves.

    ``payload`` holds the validated arguments of the action (amounts as strings, times ISO 8601).
    Approving executes the action in the same transaction; rejecting changes nothing else.
    """

    class Action(models.TextChoices):
        PLACE = "place", _("Place / 冻结")
        RELEASE = "release", _("Release / 解冻")
        DEDUCT = "deduct", _("Deduct / 扣划")
        RENEW = "renew", _("Renew / 续冻")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending approval / 待复核")
        APPROVED = "approved", _("Approved / 已复核")
        REJECTED = "rejected", _("Rejected / 已拒绝")

    action = models.CharField(_("action / 操作"), max_length=16, choices=Action.choices)
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="freeze_requests", verbose_name=_("account / 账户")
    )
    freeze = models.ForeignKey(
        JudicialFreeze,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requests",
        verbose_name=_("freeze / 司法冻结"),
    )
    payload = models.JSONField(_("payload / 内容"), default=dict)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by / 经办")
    )
    requested_at = models.DateTimeField(_("requested at / 申请时间"), default=timezone.now)
    state = FSMField(_("state / 状态"), default=State.PENDING, choices=State.choices, protected=True)
    decided_by = operator_reference(_("decided by / 复核"))
    decided_at = models.DateTimeField(_("decided at / 复核时间"), null=True, blank=True)
    reason = models.CharField(_("reason / 说明"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("judicial freeze request / 司法冻结申请")
        verbose_name_plural = _("judicial freeze requests / 司法冻结申请")
        permissions = [
            ("request_judicial_freeze", "Can request placing, releasing, deducting or renewing a judicial freeze"),
            ("approve_judicial_freeze", "Can approve or reject a judicial freeze request (checker)"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="pending") | Q(decided_by__isnull=False), name="freezerequest_decided_has_checker"
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                name="freezerequest_checker_not_maker",
            ),
        ]
        indexes = [models.Index(fields=["state", "requested_at"], name="freezerequest_state_time")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} #{self.pk} ({self.get_state_display()})"

    @transition(field=state, source=State.PENDING, target=State.APPROVED)
    def approve(self, *, by, at, reason: str = ""):
        """A different user with the approve permission accepted it (the service executes it)."""
        self.decided_by, self.decided_at, self.reason = by, at, reason or self.reason

    @transition(field=state, source=State.PENDING, target=State.REJECTED)
    def reject(self, *, by, at, reason: str = ""):
        """The checker refused it; nothing is executed."""
        self.decided_by, self.decided_at, self.reason = by, at, reason or self.reason

    approve.alters_data = reject.alters_data = True


class DormancyPolicy(TimeStampedModel):
    """A data-driven dormancy rule (睡眠户/长期不动户 policy) for personal accounts, with history.

    An active customer account of one of ``tiers`` qualifies when no entry of a voucher kind
    outside ``excluded_kinds`` was posted for ``inactive_days`` days (counted from the later of
    the last such entry, the opening and the last identity re-verification) and, if
    ``max_balance`` is set, its balance is at most ``max_balance``.
    """

    class Action(models.TextChoices):
        MARK_DORMANT = "mark_dormant", _("Mark dormant (counter reactivation needed) / 转睡眠户")

    name = models.CharField(_("name / 名称"), max_length=100, unique=True)
    tiers = models.JSONField(_("account tiers / 适用账户类别"), default=list)
    inactive_days = models.PositiveIntegerField(_("inactive days / 不动天数"))
    max_balance = MoneyField(_("balance at most / 余额不超过"), null=True, blank=True, default=None)
    excluded_kinds = models.JSONField(_("voucher kinds not counted as activity / 不计为主动交易的业务类型"), default=list)
    action = models.CharField(_("action / 处理方式"), max_length=32, choices=Action.choices, default=Action.MARK_DORMANT)
    is_active = models.BooleanField(_("active / 启用"), default=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("dormancy policy / 睡眠户规则")
        verbose_name_plural = _("dormancy policies / 睡眠户规则")
        constraints = [models.CheckConstraint(condition=Q(inactive_days__gt=0), name="dormancypolicy_days_positive")]

    def __str__(self) -> str:
        return self.name


class DormancyNotice(FSMModelMixin, TimeStampedModel):
    """R-ACC-18: the notice to an entity whose settlement account had no receipts or payments for a year.

    ``notified_at + ACCOUNTS_ENTITY_DORMANCY_NOTICE_DAYS`` without closure → the account is
    deemed closed and its balance swept to the 久悬未取专户 by ``sweep_transfer``.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Notified, awaiting closure / 已通知")
        CLOSED_BY_HOLDER = "closed_by_holder", _("Closed by the holder / 已自行销户")
        WITHDRAWN = "withdrawn", _("Withdrawn: activity resumed / 已撤销")
        DEEMED_CLOSED = "deemed_closed", _("Deemed closed / 视同自愿销户")

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="dormancy_notices", verbose_name=_("account / 账户")
    )
    notified_at = models.DateTimeField(_("notified at / 通知时间"))
    due_at = models.DateTimeField(_("deemed closed from / 视同销户时间"), db_index=True)
    last_activity_at = models.DateTimeField(_("last receipt or payment / 最后收付时间"))
    state = FSMField(_("state / 状态"), default=State.PENDING, choices=State.choices, protected=True)
    ended_at = models.DateTimeField(_("ended at / 结束时间"), null=True, blank=True)
    sweep_transfer = models.OneToOneField(
        "accounts.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dormancy_notice",
        verbose_name=_("sweep voucher / 转久悬凭证"),
    )

    class Meta:
        verbose_name = _("dormancy notice / 久悬通知")
        verbose_name_plural = _("dormancy notices / 久悬通知")
        constraints = [
            models.UniqueConstraint(fields=["account"], condition=Q(state="pending"), name="dormancynotice_one_pending"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.notified_at:%Y-%m-%d} ({self.get_state_display()})"

    @transition(field=state, source=State.PENDING, target=State.DEEMED_CLOSED)
    def mark_deemed_closed(self):
        """30 days passed without closure: the account is deemed closed."""

    @transition(field=state, source=State.PENDING, target=State.CLOSED_BY_HOLDER)
    def mark_closed_by_holder(self):
        """The holder closed the account within the notice period."""

    @transition(field=state, source=State.PENDING, target=State.WITHDRAWN)
    def withdraw(self):
        """Receipts or payments resumed after the notice: the notice no longer applies."""

    mark_deemed_closed.alters_data = mark_closed_by_holder.alters_data = withdraw.alters_data = True
