"""Custody fee records (存管费): schedules and their bands, daily accruals, monthly invoices.

Data and invariants only; written by ``custody.fees.services``.

- ``FeeSchedule``: one version of a platform's fee contract. ``draft → pending_approval →
  approved`` (maker-checker: the checker is neither its maker nor its submitter; also a database
  check); a checker's rejection returns it to ``draft``. An approved schedule is never edited:
  a new version (a copy) supersedes it from its own ``effective_from``. The schedule in force on a
  date is the approved one with the latest ``effective_from`` on or before it (then the highest
  version).
- ``FeeAccrual``: one platform's fee for one business date, computed once (unique on platform and
  date). ``fee_exact`` is the unrounded daily fee kept to the **micro-yuan** (1/10 000 fen), as an
  integer of micro-yuan in the database (``MicroYuanField``); ``fee`` is the same rounded half-up
  to the fen. The schedule's rounding field says which one the invoice sums.
- ``FeeInvoice``: a platform's bill for a calendar month (unique on platform and month), with its
  lines; ``issued → paid`` when collected from the platform's own funds through the ledger
  (voucher kind ``custody_fee``), ``issued → arrears`` when the own funds cannot pay (never
  overdrawn), ``arrears → paid`` when a later collection succeeds.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from backoffice.models import TimeStampedModel, operator_reference
from backoffice.money import MoneyField
from custody.fees import tiers

MICRO_PER_YUAN = 1_000_000


class MicroYuanField(models.BigIntegerField):
    """A non-negative unrounded amount: Decimal yuan with six places in Python, integer micro-yuan
    (1/10 000 fen) in the database, exact on SQLite and PostgreSQL alike."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else Decimal(value).scaleb(-6)

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, float):
            raise TypeError("money must not be float")
        return tiers.micro(Decimal(str(value)))

    def get_prep_value(self, value):
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        if amount != tiers.micro(amount):
            raise ValueError(f"{amount} has more than six decimal places")
        return int(amount.scaleb(6))


class FeeSchedule(FSMModelMixin, TimeStampedModel):
    """One version of a platform's custody fee contract (存管费方案)."""

    class Basis(models.TextChoices):
        DAILY_POOL_BALANCE = "daily_pool_balance", _("Daily pool balance / 日终资金池余额")
        MONTHLY_AVERAGE = "monthly_average", _("Month's average pool balance / 月日均余额")
        RECHARGE_AMOUNT = "recharge_amount", _("Recharge amount / 充值金额")
        CREDITED_AMOUNT = "credited_amount", _("Credited amount / 入账金额")
        TRANSACTION_VOLUME = "transaction_volume", _("Transaction volume / 交易金额")
        TRANSACTION_COUNT = "transaction_count", _("Transaction count / 交易笔数")

    BALANCE_BASES = (Basis.DAILY_POOL_BALANCE, Basis.MONTHLY_AVERAGE)

    class Mode(models.TextChoices):
        WHOLE_AMOUNT = tiers.WHOLE_AMOUNT, _("Whole amount at the band's rate / 全额累进")
        MARGINAL = tiers.MARGINAL, _("Marginal, each slice at its band's rate / 超额累进")

    class DayCount(models.TextChoices):
        DAYS_365 = tiers.DAYS_365, _("365 days / 按365天")
        ACTUAL = tiers.DAYS_ACTUAL, _("Actual days of the year / 按当年实际天数")

    class Rounding(models.TextChoices):
        DAILY = "daily", _("Round each day / 逐日四舍五入")
        AT_INVOICE = "at_invoice", _("Accrue unrounded, round at invoice / 按月汇总后四舍五入")

    class Payer(models.TextChoices):
        PLATFORM = "platform", _("The platform, on the invoice / 平台（账单）")
        USER = "user", _("The user, through the channel fee / 用户（通道手续费）")

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft / 草稿")
        PENDING_APPROVAL = "pending_approval", _("Pending approval / 待复核")
        APPROVED = "approved", _("Approved / 已生效")

    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="fee_schedules", verbose_name=_("platform / 平台")
    )
    version = models.PositiveIntegerField(_("version / 版本"), editable=False)
    basis = models.CharField(_("basis / 计费基数"), max_length=24, choices=Basis.choices)
    mode = models.CharField(_("tier mode / 分档方式"), max_length=16, choices=Mode.choices)  # R-FEE-03: no default
    day_count = models.CharField(_("day count / 计息天数"), max_length=8, choices=DayCount.choices, default=DayCount.DAYS_365)
    rounding = models.CharField(_("rounding / 舍入"), max_length=16, choices=Rounding.choices, default=Rounding.AT_INVOICE)
    monthly_minimum = MoneyField(_("monthly minimum / 月最低收费"), default=Decimal("0.00"))
    annual_minimum = MoneyField(_("annual minimum / 年最低收费"), default=Decimal("0.00"))
    onboarding_fee = MoneyField(_("onboarding fee (one-off) / 系统接入费（一次性）"), default=Decimal("0.00"))
    annual_fixed_fee = MoneyField(_("annual fixed fee / 年费（系统维护费）"), default=Decimal("0.00"))
    per_withdrawal_fee = MoneyField(_("fee per withdrawal / 每笔提现费"), default=Decimal("0.00"))
    per_withdrawal_payer = models.CharField(
        _("per-withdrawal fee paid by / 提现费承担方"), max_length=16, choices=Payer.choices, default=Payer.PLATFORM
    )
    vat_inclusive = models.BooleanField(_("VAT inclusive (6 %) / 含增值税（6%）"), default=True)
    effective_from = models.DateField(_("effective from / 生效日期"))
    state = FSMField(_("state / 状态"), default=State.DRAFT, choices=State.choices, protected=True, db_index=True)
    supersedes = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("supersedes / 替代版本"),
    )
    created_by = operator_reference(_("created by / 创建人"), editable=False)
    submitted_by = operator_reference(_("submitted by / 提交人"), editable=False)
    submitted_at = models.DateTimeField(_("submitted at / 提交时间"), null=True, blank=True, editable=False)
    reviewed_by = operator_reference(_("reviewed by / 复核人"), editable=False)
    reviewed_at = models.DateTimeField(_("reviewed at / 复核时间"), null=True, blank=True, editable=False)
    review_note = models.CharField(_("review note / 复核意见"), max_length=500, blank=True, editable=False)

    class Meta:
        verbose_name = _("custody fee schedule / 存管费方案")
        verbose_name_plural = _("custody fee schedules / 存管费方案")
        ordering = ["platform", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "version"], name="feeschedule_unique_version"),
            models.CheckConstraint(
                condition=Q(reviewed_by__isnull=True)
                | (~Q(reviewed_by=models.F("submitted_by")) | Q(submitted_by__isnull=True))
                & (~Q(reviewed_by=models.F("created_by")) | Q(created_by__isnull=True)),
                name="feeschedule_maker_is_not_checker",
            ),
            models.CheckConstraint(
                condition=Q(monthly_minimum__gte=0)
                & Q(annual_minimum__gte=0)
                & Q(onboarding_fee__gte=0)
                & Q(annual_fixed_fee__gte=0)
                & Q(per_withdrawal_fee__gte=0),
                name="feeschedule_amounts_not_negative",
            ),
        ]
        permissions = [("review_feeschedule", "Can approve or reject a fee schedule (checker)")]

    def __str__(self) -> str:
        return f"{self.platform.code} v{self.version} ({self.get_state_display()})"

    @property
    def is_balance_basis(self) -> bool:
        return self.basis in self.BALANCE_BASES

    @property
    def unit(self) -> str:
        return tiers.PER_ITEM if self.basis == self.Basis.TRANSACTION_COUNT else tiers.PERCENT

    @property
    def round_daily(self) -> bool:
        return self.rounding == self.Rounding.DAILY

    def tier_bands(self) -> list[tiers.Band]:
        return [tiers.Band(band.lower_bound, band.rate) for band in self.bands.all()]

    @transition(field=state, source=State.DRAFT, target=State.PENDING_APPROVAL)
    def submit(self):
        """The maker submits the draft for approval."""

    @transition(field=state, source=State.PENDING_APPROVAL, target=State.APPROVED)
    def approve(self):
        """A checker other than the maker approves: the version is frozen for ever."""

    @transition(field=state, source=State.PENDING_APPROVAL, target=State.DRAFT)
    def reject(self):
        """The checker returns it to the maker with a reason."""

    for _method in (submit, approve, reject):
        _method.alters_data = True
    del _method


class FeeBand(models.Model):
    """A tier of a schedule: from ``lower_bound`` (inclusive) at ``rate``."""

    schedule = models.ForeignKey(FeeSchedule, on_delete=models.CASCADE, related_name="bands", verbose_name=_("schedule / 方案"))
    lower_bound = MoneyField(_("lower bound (inclusive) / 下限（含）"))
    rate = models.DecimalField(
        _("rate / 费率"),
        max_digits=9,
        decimal_places=5,
        help_text=_(
            "Annual % for a balance basis (0.025 = 0.025 %), % of the amount for a flow basis, yuan per item for a count. "
            "/ 余额基数为年费率（%），流量基数为金额百分比，笔数基数为每笔元。"
        ),
    )

    class Meta:
        verbose_name = _("fee band / 费率档")
        verbose_name_plural = _("fee bands / 费率档")
        ordering = ["schedule", "lower_bound"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "lower_bound"], name="feeband_unique_lower_bound"),
            models.CheckConstraint(condition=Q(lower_bound__gte=0) & Q(rate__gte=0), name="feeband_not_negative"),
        ]

    def __str__(self) -> str:
        return f"≥ {self.lower_bound}: {self.rate}"


class FeeAccrual(TimeStampedModel):
    """One platform's custody fee for one business date (计提), computed once from the ledger."""

    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="fee_accruals", verbose_name=_("platform / 平台")
    )
    business_date = models.DateField(_("business date / 业务日期"))
    schedule = models.ForeignKey(
        FeeSchedule, on_delete=models.PROTECT, related_name="accruals", verbose_name=_("schedule / 方案")
    )
    basis_amount = models.DecimalField(
        _("basis / 计费基数"), max_digits=17, decimal_places=2, help_text=_("Yuan, or a count. / 元或笔数。")
    )
    days_in_year = models.PositiveSmallIntegerField(_("days in year / 年天数"))
    fee_exact = MicroYuanField(_("fee, unrounded / 计提（未舍入）"))
    fee = MoneyField(_("fee / 计提"))

    class Meta:
        verbose_name = _("fee accrual / 存管费计提")
        verbose_name_plural = _("fee accruals / 存管费计提")
        ordering = ["platform", "-business_date"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "business_date"], name="feeaccrual_unique_platform_date"),
            models.CheckConstraint(condition=Q(fee__gte=0) & Q(fee_exact__gte=0), name="feeaccrual_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.platform.code} {self.business_date} {self.fee}"


class FeeInvoice(FSMModelMixin, TimeStampedModel):
    """A platform's custody fee bill for one month (存管费账单)."""

    class State(models.TextChoices):
        ISSUED = "issued", _("Issued / 已出账")
        PAID = "paid", _("Paid / 已扣收")
        ARREARS = "arrears", _("Arrears / 欠费")

    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="fee_invoices", verbose_name=_("platform / 平台")
    )
    month = models.DateField(_("month / 账期"), help_text=_("The first day of the billed month. / 账期月的第一天。"))
    number = models.CharField(_("number / 账单号"), max_length=32, unique=True, editable=False)
    schedule = models.ForeignKey(
        FeeSchedule, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("schedule / 方案")
    )
    issued_on = models.DateField(_("issued on / 出账日"))
    due_on = models.DateField(_("due by / 扣收截止日"))
    accrued = MoneyField(_("accrued / 计提合计"))
    minimum_top_up = MoneyField(_("minimum top-up / 最低收费补足"))
    total = MoneyField(_("total / 合计"))
    vat_inclusive = models.BooleanField(_("VAT inclusive / 含税"), default=True)
    state = FSMField(_("state / 状态"), default=State.ISSUED, choices=State.choices, protected=True, db_index=True)
    voucher = models.OneToOneField(
        "accounts.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("voucher / 凭证"),
    )
    paid_at = models.DateTimeField(_("paid at / 扣收时间"), null=True, blank=True, editable=False)
    collect_attempts = models.PositiveIntegerField(_("collection attempts / 扣收次数"), default=0, editable=False)
    last_refusal = models.CharField(_("last refusal / 最近扣收失败原因"), max_length=200, blank=True, editable=False)

    class Meta:
        verbose_name = _("fee invoice / 存管费账单")
        verbose_name_plural = _("fee invoices / 存管费账单")
        ordering = ["-month", "platform"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "month"], name="feeinvoice_unique_platform_month"),
            models.CheckConstraint(condition=Q(total__gte=0) & Q(minimum_top_up__gte=0), name="feeinvoice_not_negative"),
            models.CheckConstraint(
                condition=~Q(state="paid") | Q(voucher__isnull=False) | Q(total=0), name="feeinvoice_paid_has_voucher"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @transition(field=state, source=[State.ISSUED, State.ARREARS], target=State.PAID)
    def mark_paid(self):
        """Collected from the platform's own funds (or nothing was due)."""

    @transition(field=state, source=[State.ISSUED, State.ARREARS], target=State.ARREARS)
    def mark_arrears(self):
        """The own funds could not pay: nothing was debited; collection is tried again."""

    for _method in (mark_paid, mark_arrears):
        _method.alters_data = True
    del _method


class FeeInvoiceLine(models.Model):
    """One line of an invoice."""

    class Kind(models.TextChoices):
        ACCRUED = "accrued", _("Custody fee accrued / 存管服务费")
        PER_WITHDRAWAL = "per_withdrawal", _("Withdrawal fees / 提现手续费")
        MINIMUM_TOP_UP = "minimum_top_up", _("Monthly minimum top-up / 月最低收费补足")
        ONBOARDING = "onboarding", _("Onboarding fee / 系统接入费")
        ANNUAL_FIXED = "annual_fixed", _("Annual fixed fee / 年费")
        ANNUAL_TRUE_UP = "annual_true_up", _("Annual minimum true-up / 年度最低收费补足")

    invoice = models.ForeignKey(FeeInvoice, on_delete=models.PROTECT, related_name="lines", verbose_name=_("invoice / 账单"))
    position = models.PositiveSmallIntegerField(_("position / 序号"))
    kind = models.CharField(_("kind / 项目"), max_length=16, choices=Kind.choices)
    description = models.CharField(_("description / 说明"), max_length=200)
    quantity = models.DecimalField(_("quantity / 数量"), max_digits=17, decimal_places=2)
    amount = MoneyField(_("amount / 金额"))

    class Meta:
        verbose_name = _("invoice line / 账单明细")
        verbose_name_plural = _("invoice lines / 账单明细")
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="feeinvoiceline_unique_position"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="feeinvoiceline_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"
