"""Reconciliation records (对账), unidentified inflows (不明来账) and their allocations (登记挂账),
custody reports (存管报告) and reconciliation alerts.

Data and invariants only; written by ``custody.reconciliation.services``.

- ``ReconciliationFile``: one daily file a platform uploaded (API or console on its behalf), kept
  verbatim with its SHA-256; unique on (platform, hash): the same file twice is imported once
  (R-REC-01). A later, different file for the same day supersedes the earlier one for that day;
  both stay.
- ``ReconciliationItem``: one compared item of a file, instruction or balance, with exactly one
  result (R-REC-02): ``matched``, ``long`` (长款: in the platform's file, not in the bank's books),
  ``short`` (短款: in the bank's books, not in the file), ``mismatch`` (amount or state differ) or
  ``timing`` (both have it, on different sides of the 日切). Items never post money.
- ``ReconciliationDay``: a platform's business day, ``reconciled`` when its current file left no
  long, short or mismatch item, else ``unreconciled`` (``missing`` while no file came).
- ``UnidentifiedInflow`` and ``SuspenseAllocation``: an inbound credit booked to the platform's
  suspense (挂账子账户) and its allocation to a sub-account, maker-checker (R-DEP-10).
- ``CustodyReport``: a generated daily file or monthly / annual report, its figures frozen.
- ``ReconciliationAlert``: a P2 (unreconciled or missing day) the operators acknowledge.

Retention (R-DEP-08): every model here refuses ``delete()`` and queryset deletes
(``RetainedRecordError``); foreign keys are ``PROTECT``; the console offers no delete.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from backoffice.models import TimeStampedModel, operator_reference
from backoffice.money import MoneyField
from backoffice.texts import text_render
from custody.reconciliation.errors import RetainedRecordError


class RetainedQuerySet(models.QuerySet):
    def delete(self):
        raise RetainedRecordError()

    delete.alters_data = True
    delete.queryset_only = True


class RetainedModel(TimeStampedModel):
    """R-DEP-08: never deleted (nor soft-deleted: there is no such flag)."""

    objects = RetainedQuerySet.as_manager()

    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):
        raise RetainedRecordError()

    delete.alters_data = True


class InstructionType(models.TextChoices):
    RECHARGE = "recharge", _("Recharge / 充值")
    WITHDRAWAL = "withdrawal", _("Withdrawal / 提现")
    BID = "bid", _("Bid / 投标")
    DISBURSEMENT = "disbursement", _("Disbursement / 放款")
    REPAYMENT = "repayment", _("Repayment / 还款")


class ReconciliationFile(RetainedModel):
    """A platform's daily reconciliation file (对账文件), verbatim."""

    class Source(models.TextChoices):
        API = "api", _("Platform API / 平台接口")
        CONSOLE = "console", _("Console, on the platform's behalf / 柜面代传")
        PORTAL = "portal", _("Platform portal / 平台端上传")

    platform = models.ForeignKey(
        "custody.LendingPlatform",
        on_delete=models.PROTECT,
        related_name="reconciliation_files",
        verbose_name=_("platform / 平台"),
    )
    business_date = models.DateField(_("business date / 对账日期"))
    sha256 = models.CharField(_("SHA-256 / 文件摘要"), max_length=64, editable=False)
    content = models.TextField(_("content / 文件内容"), editable=False)
    lines = models.PositiveIntegerField(_("lines / 行数"), default=0, editable=False)
    source = models.CharField(_("source / 来源"), max_length=8, choices=Source.choices, editable=False)
    uploaded_by = operator_reference(_("uploaded by / 上传人"), editable=False)
    client = models.CharField(_("API client / 接口客户端"), max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = _("reconciliation file / 对账文件")
        verbose_name_plural = _("reconciliation files / 对账文件")
        ordering = ["-business_date", "-pk"]
        constraints = [models.UniqueConstraint(fields=["platform", "sha256"], name="reconfile_unique_platform_hash")]

    def __str__(self) -> str:
        return f"{self.platform_id} {self.business_date} {self.sha256[:12]}"


class ReconciliationDay(FSMModelMixin, RetainedModel):
    """A platform's business day of reconciliation (R-DEP-07)."""

    class State(models.TextChoices):
        MISSING = "missing", _("No file yet / 未收到对账文件")
        RECONCILED = "reconciled", _("Reconciled / 已平")
        UNRECONCILED = "unreconciled", _("Unreconciled / 不平")

    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="reconciliation_days", verbose_name=_("platform / 平台")
    )
    business_date = models.DateField(_("business date / 对账日期"))
    state = FSMField(_("state / 状态"), default=State.MISSING, choices=State.choices, protected=True, db_index=True)
    file = models.ForeignKey(
        ReconciliationFile, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("file / 对账文件")
    )
    matched = models.PositiveIntegerField(_("matched / 相符"), default=0)
    long = models.PositiveIntegerField(_("long / 长款"), default=0)
    short = models.PositiveIntegerField(_("short / 短款"), default=0)
    mismatch = models.PositiveIntegerField(_("mismatch / 金额或状态不符"), default=0)
    timing = models.PositiveIntegerField(_("timing / 日切时差"), default=0)
    reconciled_at = models.DateTimeField(_("compared at / 核对时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("reconciliation day / 对账结果")
        verbose_name_plural = _("reconciliation days / 对账结果")
        ordering = ["-business_date", "platform"]
        constraints = [models.UniqueConstraint(fields=["platform", "business_date"], name="reconday_unique_platform_date")]

    def __str__(self) -> str:
        return f"{self.platform_id} {self.business_date} {self.state}"

    @property
    def differences(self) -> int:
        return self.long + self.short + self.mismatch

    @transition(field=state, source="*", target=State.RECONCILED)
    def mark_reconciled(self):
        """The current file left no long, short or mismatch item."""

    @transition(field=state, source="*", target=State.UNRECONCILED)
    def mark_unreconciled(self):
        """The current file left a difference (or none came: see ``missing``)."""

    mark_reconciled.alters_data = mark_unreconciled.alters_data = True


class ReconciliationItem(RetainedModel):
    """One compared item: an instruction (by type and ``out_request_no``) or a sub-account's day-end balance."""

    class Kind(models.TextChoices):
        INSTRUCTION = "instruction", _("Instruction / 交易")
        BALANCE = "balance", _("Balance / 余额")

    class Result(models.TextChoices):
        MATCHED = "matched", _("Matched / 相符")
        LONG = "long", _("Long: in the platform's file only / 长款（仅平台有）")
        SHORT = "short", _("Short: in the bank's books only / 短款（仅银行有）")
        MISMATCH = "mismatch", _("Mismatch / 不符")
        TIMING = "timing", _("Timing, across the cut-off / 日切时差")

    DIFFERENCES = (Result.LONG, Result.SHORT, Result.MISMATCH)

    file = models.ForeignKey(
        ReconciliationFile, on_delete=models.PROTECT, related_name="items", verbose_name=_("file / 对账文件")
    )
    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="+", verbose_name=_("platform / 平台")
    )
    business_date = models.DateField(_("business date / 对账日期"), db_index=True)
    line = models.PositiveIntegerField(_("line / 行号"), null=True, blank=True, help_text=_("None: the bank's side only."))
    kind = models.CharField(_("kind / 类别"), max_length=12, choices=Kind.choices)
    instruction_type = models.CharField(_("type / 交易类型"), max_length=16, choices=InstructionType.choices, blank=True)
    out_request_no = models.CharField(_("platform reference / 平台请求号"), max_length=64, blank=True, db_index=True)
    sub_account = models.CharField(_("sub-account / 子账户"), max_length=16, blank=True, db_index=True)
    platform_amount = MoneyField(_("platform's amount / 平台金额"), null=True, blank=True, default=None)
    bank_amount = MoneyField(_("bank's amount / 银行金额"), null=True, blank=True, default=None)
    platform_state = models.CharField(_("platform's state / 平台状态"), max_length=16, blank=True)
    bank_state = models.CharField(_("bank's state / 银行状态"), max_length=16, blank=True)
    bank_date = models.DateField(_("bank's date / 银行记账日"), null=True, blank=True)
    result = models.CharField(_("result / 结果"), max_length=10, choices=Result.choices, db_index=True)
    note = models.CharField(_("note / 说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("reconciliation item / 对账明细")
        verbose_name_plural = _("reconciliation items / 对账明细")
        ordering = ["file", "kind", "line", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.instruction_type} {self.out_request_no or self.sub_account} {self.result}"

    @property
    def difference(self):
        if self.platform_amount is None or self.bank_amount is None:
            return None
        return self.platform_amount - self.bank_amount


class ReconciliationAlert(RetainedModel):
    """R-DEP-07: a day not reconciled (or without a file) raises a P2 alert, once per platform, day and kind."""

    class Kind(models.TextChoices):
        UNRECONCILED = "unreconciled", _("Day not reconciled / 对账不平")
        MISSING = "missing", _("No file for the day / 未收到对账文件")

    class Severity(models.TextChoices):
        P1 = "P1", _("P1, now / 紧急")
        P2 = "P2", _("P2, today / 当日处理")

    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="+", verbose_name=_("platform / 平台")
    )
    business_date = models.DateField(_("business date / 对账日期"))
    kind = models.CharField(_("kind / 类型"), max_length=16, choices=Kind.choices)
    severity = models.CharField(_("severity / 级别"), max_length=2, choices=Severity.choices, default=Severity.P2)
    message = models.CharField(_("message / 说明"), max_length=500)
    # The message as a ``backoffice.texts`` spec (template and params), shown in the reader's
    # language; ``message`` is its bilingual rendering, kept for search and audit.
    text_spec = models.JSONField(_("message template / 说明模板"), default=dict, blank=True, editable=False)
    acknowledged_at = models.DateTimeField(_("acknowledged / 确认时间"), null=True, blank=True, editable=False)
    acknowledged_by = operator_reference(_("acknowledged by / 确认人"), editable=False)

    class Meta:
        verbose_name = _("reconciliation alert / 对账告警")
        verbose_name_plural = _("reconciliation alerts / 对账告警")
        ordering = ["acknowledged_at", "-business_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "business_date", "kind"], name="reconalert_unique_platform_day_kind")
        ]

    def __str__(self) -> str:
        return f"{self.severity} {self.kind} {self.business_date}"

    @property
    def text(self) -> str:
        """The message in the reader's language (``message`` for an alert written before specs were kept)."""
        return text_render(self.text_spec) if self.text_spec else self.message


class UnidentifiedInflow(FSMModelMixin, RetainedModel):
    """An inbound credit (来账) to a platform that could not be identified: booked to the platform's
    suspense (挂账子账户), never directly to a client (R-DEP-10).

    ``unallocated → proposed`` (a maker proposes an allocation) ``→ allocated`` (another user
    approves: the money moves) or back to ``unallocated`` (rejected); ``allocated → unallocated``
    when the allocation is reversed (撤销挂账) while unspent."""

    class State(models.TextChoices):
        UNALLOCATED = "unallocated", _("Unallocated / 待登记")
        PROPOSED = "proposed", _("Allocation proposed / 待复核")
        ALLOCATED = "allocated", _("Allocated / 已登记挂账")

    platform = models.ForeignKey(
        "custody.LendingPlatform",
        on_delete=models.PROTECT,
        related_name="unidentified_inflows",
        verbose_name=_("platform / 平台"),
    )
    amount = MoneyField(_("amount / 金额"))
    value_date = models.DateField(_("value date / 来账日期"))
    payer_name = models.CharField(_("payer name / 付款人户名"), max_length=200, blank=True)
    payer_account = models.CharField(_("payer account / 付款账号"), max_length=40, blank=True)
    reference = models.CharField(_("bank reference / 来账流水号"), max_length=64)
    memo = models.CharField(_("memo / 附言"), max_length=200, blank=True)
    state = FSMField(_("state / 状态"), default=State.UNALLOCATED, choices=State.choices, protected=True, db_index=True)
    voucher = models.OneToOneField(
        "accounts.Transfer", on_delete=models.PROTECT, related_name="+", editable=False, verbose_name=_("voucher / 凭证")
    )
    recorded_by = operator_reference(_("recorded by / 录入人"), editable=False)

    class Meta:
        verbose_name = _("unidentified inflow / 不明来账")
        verbose_name_plural = _("unidentified inflows / 不明来账（挂账）")
        ordering = ["state", "-value_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "reference"], name="inflow_unique_platform_reference"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="inflow_amount_positive"),
        ]
        permissions = [("review_suspenseallocation", "Can approve or reject a suspense allocation (checker)")]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount}"

    @transition(field=state, source=State.UNALLOCATED, target=State.PROPOSED)
    def propose(self):
        """A maker proposes the sub-account."""

    @transition(field=state, source=State.PROPOSED, target=State.ALLOCATED)
    def allocate(self):
        """A checker other than the maker approved: suspense → the sub-account."""

    @transition(field=state, source=State.PROPOSED, target=State.UNALLOCATED)
    def reject(self):
        """The checker rejected the proposal."""

    @transition(field=state, source=State.ALLOCATED, target=State.UNALLOCATED)
    def unallocate(self):
        """撤销挂账: the allocation was reversed while unspent; the money is back in suspense."""

    for _method in (propose, allocate, reject, unallocate):
        _method.alters_data = True
    del _method


class SuspenseAllocation(FSMModelMixin, RetainedModel):
    """One proposal to allocate an inflow (its whole amount) to a sub-account (登记挂账)."""

    class State(models.TextChoices):
        PROPOSED = "proposed", _("Proposed / 待复核")
        APPROVED = "approved", _("Approved, allocated / 已复核入账")
        REJECTED = "rejected", _("Rejected / 已驳回")
        REVERSED = "reversed", _("Reversed / 已撤销")

    inflow = models.ForeignKey(
        UnidentifiedInflow, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("inflow / 来账")
    )
    sub_account = models.ForeignKey(
        "custody.SubAccount", on_delete=models.PROTECT, related_name="+", verbose_name=_("sub-account / 子账户")
    )
    amount = MoneyField(_("amount / 金额"))
    reason = models.CharField(_("evidence / 依据"), max_length=500)
    state = FSMField(_("state / 状态"), default=State.PROPOSED, choices=State.choices, protected=True, db_index=True)
    proposed_by = operator_reference(_("proposed by / 经办人"), editable=False)
    reviewed_by = operator_reference(_("reviewed by / 复核人"), editable=False)
    reviewed_at = models.DateTimeField(_("reviewed at / 复核时间"), null=True, blank=True, editable=False)
    review_note = models.CharField(_("review note / 复核意见"), max_length=500, blank=True, editable=False)
    voucher = models.OneToOneField(
        "accounts.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    reversal = models.OneToOneField(
        "accounts.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    reversed_by = operator_reference(_("reversed by / 撤销人"), editable=False)
    reversal_reason = models.CharField(_("reversal reason / 撤销原因"), max_length=500, blank=True, editable=False)

    class Meta:
        verbose_name = _("suspense allocation / 登记挂账")
        verbose_name_plural = _("suspense allocations / 登记挂账")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reviewed_by__isnull=True) | Q(proposed_by__isnull=True) | ~Q(reviewed_by=F("proposed_by")),
                name="allocation_maker_is_not_checker",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.inflow_id} → {self.sub_account_id} {self.amount} {self.state}"

    @transition(field=state, source=State.PROPOSED, target=State.APPROVED)
    def approve(self):
        """The checker approved; the voucher moves the money."""

    @transition(field=state, source=State.PROPOSED, target=State.REJECTED)
    def reject(self):
        """The checker rejected, with a reason."""

    @transition(field=state, source=State.APPROVED, target=State.REVERSED)
    def reverse(self):
        """撤销挂账 while unspent: the voucher's mirror posted."""

    for _method in (approve, reject, reverse):
        _method.alters_data = True
    del _method


class CustodyReport(RetainedModel):
    """A generated custody report (存管报告) with its figures frozen (R-DEP-09), retained (R-DEP-08).
    Unique on (platform, kind, period_start): generating it again returns the stored one."""

    class Kind(models.TextChoices):
        DAILY = "daily", _("Daily custody file / 日终存管文件")
        MONTHLY = "monthly", _("Monthly report / 月度存管报告")
        ANNUAL = "annual", _("Annual report / 年度存管报告")

    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="custody_reports", verbose_name=_("platform / 平台")
    )
    kind = models.CharField(_("kind / 类型"), max_length=8, choices=Kind.choices)
    period_start = models.DateField(_("from / 起始日"))
    period_end = models.DateField(_("to / 截止日"))
    figures = models.JSONField(_("figures / 数据"), default=dict, editable=False)
    generated_by = operator_reference(_("generated by / 生成人"), editable=False)

    class Meta:
        verbose_name = _("custody report / 存管报告")
        verbose_name_plural = _("custody reports / 存管报告")
        ordering = ["-period_start", "platform", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "kind", "period_start"], name="custodyreport_unique_period"),
        ]

    def __str__(self) -> str:
        return f"{self.platform_id} {self.kind} {self.period_start}"
