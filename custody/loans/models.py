"""Loans (标的), their stored schedules, bids, standing authorisations (业务授权), borrowing caps
and repayments on a P2P platform: data and invariants only; written by ``custody.loans.services``
and ``custody.loans.authorisations``.

Money lives in ``accounts``' ledger: a bid is a hold (reason ``bid``) on the lender's sub-account,
the disbursement one voucher (``loan_disbursement``) capturing every bid hold, each repayment one
voucher (``loan_repayment``). Rows here point at those holds and vouchers.

Models refer to custody's own models by string (``custody.LendingPlatform``): ``custody.models``
re-exports these, so this module must not import it back.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from backoffice.models import TimeStampedModel
from backoffice.money import MoneyField

RATE = {"max_digits": 8, "decimal_places": 6}


class Method(models.TextChoices):
    """Repayment methods (``custody.schedules``)."""

    EQUAL_INSTALMENT = "equal_instalment", _("Equal instalments / 等额本息")
    EQUAL_PRINCIPAL = "equal_principal", _("Equal principal / 等额本金")
    INTEREST_FIRST = "interest_first", _("Interest first / 先息后本")


class Loan(FSMModelMixin, TimeStampedModel):
    """A loan project (标的) a platform raises from its lenders for one borrower.

    ``open → full → disbursed → repaid``, or ``open | full → failed | cancelled``; ``full → open``
    when a bid is withdrawn (a lender's account frozen by a court after bidding). The state is
    protected: only ``custody.loans.services`` moves it, each move audited.
    """

    class State(models.TextChoices):
        OPEN = "open", _("Fundraising / 募集中")
        FULL = "full", _("Full / 已满标")
        DISBURSED = "disbursed", _("Disbursed / 已放款")
        REPAID = "repaid", _("Repaid / 已结清")
        FAILED = "failed", _("Failed / 流标")
        CANCELLED = "cancelled", _("Cancelled / 已撤标")

    LIVE_STATES = (State.OPEN, State.FULL, State.DISBURSED)

    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="loans", verbose_name=_("platform / 平台")
    )
    borrower = models.ForeignKey(
        "custody.SubAccount", on_delete=models.PROTECT, related_name="loans", verbose_name=_("borrower / 借款人")
    )
    out_request_no = models.CharField(_("platform reference / 平台请求号"), max_length=64)
    title = models.CharField(_("title / 标的名称"), max_length=200, blank=True)
    amount = MoneyField(_("amount / 借款金额"))
    annual_rate = models.DecimalField(_("annual rate / 年利率"), **RATE, help_text="0.120000 = 12 % a year")
    overdue_rate = models.DecimalField(
        _("overdue annual rate / 罚息年利率"), **RATE, help_text="on the overdue instalment, per day (360)"
    )
    term_months = models.PositiveSmallIntegerField(_("term (months) / 期限(月)"))
    method = models.CharField(_("repayment method / 还款方式"), max_length=20, choices=Method.choices)
    fundraising_deadline = models.DateTimeField(_("fundraising deadline / 募集截止"))
    service_fee_rate = models.DecimalField(_("service fee rate / 平台服务费率"), **RATE, help_text="of the principal")
    service_fee = MoneyField(_("service fee / 平台服务费"), editable=False)
    raised = MoneyField(_("raised / 已募集"), editable=False)
    principal_repaid = MoneyField(_("principal repaid / 已还本金"), editable=False)
    state = FSMField(_("state / 状态"), default=State.OPEN, choices=State.choices, protected=True, db_index=True)
    disbursed_at = models.DateTimeField(_("disbursed at / 放款时间"), null=True, blank=True, editable=False)
    disbursement = models.ForeignKey(
        "accounts.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("disbursement voucher / 放款凭证"),
    )
    fee_authorisation = models.ForeignKey(
        "custody.StandingAuthorisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("fee authorisation / 服务费授权"),
    )
    closed_at = models.DateTimeField(_("closed at / 结束时间"), null=True, blank=True, editable=False)
    close_reason = models.CharField(_("close reason / 结束原因"), max_length=500, blank=True, editable=False)
    requested_by = models.CharField(_("requested by / 请求方"), max_length=100, blank=True, editable=False)

    class Meta:
        verbose_name = _("loan / 借款标的")
        verbose_name_plural = _("loans / 借款标的")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "out_request_no"], name="loan_unique_platform_reference"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="loan_amount_positive"),
            models.CheckConstraint(condition=Q(raised__gte=0) & Q(raised__lte=F("amount")), name="loan_never_oversubscribed"),
            models.CheckConstraint(
                condition=Q(principal_repaid__gte=0) & Q(principal_repaid__lte=F("amount")), name="loan_repaid_within_amount"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform_id}/{self.out_request_no} {self.amount}"

    @property
    def remaining(self) -> Decimal:
        """What is still to be raised."""
        return self.amount - self.raised

    @property
    def outstanding_principal(self) -> Decimal:
        return self.amount - self.principal_repaid

    @transition(field=state, source=State.OPEN, target=State.FULL)
    def fill(self):
        """The last bid raised the whole amount."""

    @transition(field=state, source=State.FULL, target=State.OPEN)
    def reopen(self):
        """A bid was withdrawn (its lender's account frozen): fundraising resumes."""

    @transition(field=state, source=State.FULL, target=State.DISBURSED)
    def disburse(self):
        """Every bid hold captured to the borrower and the platform's fee, in one voucher."""

    @transition(field=state, source=State.DISBURSED, target=State.REPAID)
    def settle(self):
        """The last instalment was repaid."""

    @transition(field=state, source=[State.OPEN, State.FULL], target=State.FAILED)
    def fail(self):
        """流标: not raised by the deadline; every hold released."""

    @transition(field=state, source=[State.OPEN, State.FULL], target=State.CANCELLED)
    def cancel(self):
        """撤标: cancelled by the platform or an operator; every hold released."""

    for _method in (fill, reopen, disburse, settle, fail, cancel):
        _method.alters_data = True
    del _method


class LoanInstalment(models.Model):
    """One instalment (期) of a loan's stored schedule (``custody.schedules.schedule``)."""

    class State(models.TextChoices):
        DUE = "due", _("Due / 待还")
        OVERDUE = "overdue", _("Overdue / 逾期")
        PAID = "paid", _("Paid / 已还")

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="instalments", verbose_name=_("loan / 标的"))
    number = models.PositiveSmallIntegerField(_("number / 期数"))
    due_date = models.DateField(_("due date / 应还日"))
    principal = MoneyField(_("principal / 本金"))
    interest = MoneyField(_("interest / 利息"))
    state = models.CharField(_("state / 状态"), max_length=10, choices=State.choices, default=State.DUE, editable=False)
    paid_at = models.DateTimeField(_("paid at / 还款时间"), null=True, blank=True, editable=False)
    payer = models.ForeignKey(
        "custody.SubAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("paid by / 还款方"),
    )

    class Meta:
        verbose_name = _("instalment / 还款计划")
        verbose_name_plural = _("instalments / 还款计划")
        ordering = ["loan", "number"]
        constraints = [models.UniqueConstraint(fields=["loan", "number"], name="instalment_unique_loan_number")]

    def __str__(self) -> str:
        return f"{self.loan_id}#{self.number} {self.due_date}"

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest


class StandingAuthorisation(TimeStampedModel):
    """A business authorisation (业务授权) a client granted on the bank's pages (R-DEP-02): the
    platform may send instructions of these types from the grantor's sub-account without asking
    again, each at most ``per_instruction_max``, together at most ``cumulative_max``, until
    ``expires_at`` or the client's revocation. ``consumed`` only ever moves under a row lock."""

    class Type(models.TextChoices):
        BID = "bid", _("Bid, auto-bid / 投标、自动投标")
        AUTO_REPAY = "auto_repay", _("Auto-repay / 自动还款")
        FEE = "fee", _("Fee payment / 缴费")
        COMPENSATION = "compensation", _("Compensation / 代偿")

    grantor = models.ForeignKey(
        "custody.SubAccount",
        on_delete=models.PROTECT,
        related_name="standing_authorisations",
        verbose_name=_("grantor sub-account / 授权子账户"),
    )
    platform = models.ForeignKey(
        "custody.LendingPlatform",
        on_delete=models.PROTECT,
        related_name="standing_authorisations",
        verbose_name=_("platform / 平台"),
    )
    instruction_types = models.JSONField(_("instruction types / 授权业务类型"), default=list)
    per_instruction_max = MoneyField(_("per-instruction maximum / 单笔上限"))
    cumulative_max = MoneyField(_("cumulative maximum / 累计上限"))
    consumed = MoneyField(_("consumed / 已使用"), editable=False)
    expires_at = models.DateTimeField(_("expires at / 到期时间"))
    revoked_at = models.DateTimeField(_("revoked at / 撤销时间"), null=True, blank=True, editable=False)
    granted_via = models.CharField(_("granted via / 授权渠道"), max_length=100, blank=True, editable=False)

    class Meta:
        verbose_name = _("standing authorisation / 业务授权")
        verbose_name_plural = _("standing authorisations / 业务授权")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(consumed__gte=0) & Q(consumed__lte=F("cumulative_max")), name="authorisation_within_cumulative"
            ),
            models.CheckConstraint(
                condition=Q(per_instruction_max__gt=0) & Q(per_instruction_max__lte=F("cumulative_max")),
                name="authorisation_maxima_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {','.join(self.instruction_types)} ≤ {self.cumulative_max}"

    @property
    def remaining(self) -> Decimal:
        return self.cumulative_max - self.consumed


class Bid(FSMModelMixin, TimeStampedModel):
    """A lender's bid (投标): a hold of ``amount`` on the lender's sub-account (R-DEP-05) until the
    loan is disbursed (captured) or fails, is cancelled, or the bid is withdrawn (released)."""

    class State(models.TextChoices):
        HELD = "held", _("Held / 冻结中")
        CAPTURED = "captured", _("Captured / 已放款")
        RELEASED = "released", _("Released / 已解冻")

    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="bids", verbose_name=_("platform / 平台")
    )
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="bids", verbose_name=_("loan / 标的"))
    lender = models.ForeignKey(
        "custody.SubAccount", on_delete=models.PROTECT, related_name="bids", verbose_name=_("lender / 出借人")
    )
    amount = MoneyField(_("amount / 投标金额"))
    out_request_no = models.CharField(_("platform reference / 平台请求号"), max_length=64)
    hold = models.OneToOneField(
        "accounts.Hold", on_delete=models.PROTECT, related_name="+", editable=False, verbose_name=_("hold / 冻结")
    )
    authorisation = models.ForeignKey(
        StandingAuthorisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bids",
        editable=False,
        verbose_name=_("authorisation / 授权"),
    )
    state = FSMField(_("state / 状态"), default=State.HELD, choices=State.choices, protected=True, db_index=True)
    ended_at = models.DateTimeField(_("ended at / 结束时间"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("bid / 投标")
        verbose_name_plural = _("bids / 投标")
        ordering = ["loan", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "out_request_no"], name="bid_unique_platform_reference"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="bid_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.out_request_no} {self.amount}"

    @transition(field=state, source=State.HELD, target=State.CAPTURED)
    def capture(self):
        """The loan was disbursed."""

    @transition(field=state, source=State.HELD, target=State.RELEASED)
    def release(self):
        """The loan failed or was cancelled, or this bid was withdrawn."""

    for _method in (capture, release):
        _method.alters_data = True
    del _method


class BorrowingCap(TimeStampedModel):
    """R-DEP-06: the most principal one borrower may owe on one platform, by party kind, from
    ``effective_from`` on (data with history: a new row supersedes, nothing is edited)."""

    class PartyKind(models.TextChoices):
        PERSON = "person", _("Natural person / 自然人")
        ORGANISATION = "organisation", _("Organisation / 法人或其他组织")

    party_kind = models.CharField(_("borrower kind / 借款人类型"), max_length=16, choices=PartyKind.choices)
    amount = MoneyField(_("cap / 借款余额上限"))
    effective_from = models.DateField(_("effective from / 生效日期"))
    source = models.CharField(_("source / 依据"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("borrowing cap / 借款余额上限")
        verbose_name_plural = _("borrowing caps / 借款余额上限")
        ordering = ["party_kind", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["party_kind", "effective_from"], name="borrowing_cap_unique_kind_date"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="borrowing_cap_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.party_kind} ≤ {self.amount} from {self.effective_from}"


class Repayment(TimeStampedModel):
    """One instalment repaid, by the borrower or (overdue) by a guarantor or compensation
    sub-account: one voucher (``loan_repayment``) splitting principal and interest to the lenders."""

    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="repayments", verbose_name=_("platform / 平台")
    )
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="repayments", verbose_name=_("loan / 标的"))
    instalment = models.OneToOneField(
        LoanInstalment, on_delete=models.PROTECT, related_name="repayment", verbose_name=_("instalment / 期次")
    )
    payer = models.ForeignKey(
        "custody.SubAccount", on_delete=models.PROTECT, related_name="repayments", verbose_name=_("payer / 还款方")
    )
    out_request_no = models.CharField(_("platform reference / 平台请求号"), max_length=64)
    principal = MoneyField(_("principal / 本金"))
    interest = MoneyField(_("interest / 利息"))
    overdue_interest = MoneyField(_("overdue interest / 罚息"))
    overdue_days = models.PositiveIntegerField(_("days overdue / 逾期天数"), default=0)
    transfer = models.OneToOneField(
        "accounts.Transfer", on_delete=models.PROTECT, related_name="+", verbose_name=_("voucher / 凭证")
    )
    authorisation = models.ForeignKey(
        StandingAuthorisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="repayments",
        verbose_name=_("authorisation / 授权"),
    )

    class Meta:
        verbose_name = _("repayment / 还款")
        verbose_name_plural = _("repayments / 还款")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "out_request_no"], name="repayment_unique_platform_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id}#{self.instalment_id} {self.total}"

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.overdue_interest


class RepaymentDebt(TimeStampedModel):
    """The borrower's debt to the guarantor or compensation payer who repaid an instalment for
    them (代偿后的追偿债权)."""

    class State(models.TextChoices):
        OUTSTANDING = "outstanding", _("Outstanding / 未结清")
        SETTLED = "settled", _("Settled / 已结清")

    repayment = models.OneToOneField(
        Repayment, on_delete=models.PROTECT, related_name="debt", verbose_name=_("repayment / 代偿还款")
    )
    borrower = models.ForeignKey(
        "custody.SubAccount", on_delete=models.PROTECT, related_name="debts", verbose_name=_("borrower / 借款人")
    )
    creditor = models.ForeignKey(
        "custody.SubAccount", on_delete=models.PROTECT, related_name="claims", verbose_name=_("owed to / 债权人")
    )
    amount = MoneyField(_("amount / 金额"))
    state = models.CharField(_("state / 状态"), max_length=12, choices=State.choices, default=State.OUTSTANDING, editable=False)
    settled_at = models.DateTimeField(_("settled at / 结清时间"), null=True, blank=True, editable=False)
    settlement = models.OneToOneField(
        "accounts.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("settlement voucher / 结清凭证"),
    )

    class Meta:
        verbose_name = _("repayment debt / 代偿债务")
        verbose_name_plural = _("repayment debts / 代偿债务")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.borrower_id} owes {self.creditor_id} {self.amount}"


class Confirmation(TimeStampedModel):
    """One instruction a platform sent with ``{"method": "confirm"}``, waiting for the client to
    confirm it on the bank's portal (R-DEP-02, R-DEP-04): a bid, a repayment, a loan's disbursement
    fee (the borrower's payment), a recharge or a withdrawal (the transaction password), or the
    opening of a sub-account (the client's own signed-in session). ``pending → confirmed | declined
    | failed | expired``; the platform learns the outcome by webhook (``confirmation.<state>``).

    ``party`` is who must confirm (only a portal user of that party sees the page);
    ``sub_account`` the client's sub-account (for an opening: set once opened); ``data`` what the
    instruction needs besides (the instalment's number, the role to open)."""

    class Kind(models.TextChoices):
        BID = "bid", _("Bid / 投标")
        REPAYMENT = "repayment", _("Repayment / 还款")
        DISBURSEMENT_FEE = "disbursement_fee", _("Disbursement service fee / 放款服务费")
        RECHARGE = "recharge", _("Recharge / 充值")
        WITHDRAWAL = "withdrawal", _("Withdrawal / 提现")
        SUBACCOUNT_OPEN = "subaccount_open", _("Sub-account opening / 开立存管子账户")

    class State(models.TextChoices):
        PENDING = "pending", _("Awaiting the client / 待客户确认")
        CONFIRMED = "confirmed", _("Confirmed / 已确认")
        DECLINED = "declined", _("Declined / 已拒绝")
        FAILED = "failed", _("Refused on confirmation / 确认后被拒绝")
        EXPIRED = "expired", _("Expired / 已过期")

    platform = models.ForeignKey(
        "custody.LendingPlatform", on_delete=models.PROTECT, related_name="confirmations", verbose_name=_("platform / 平台")
    )
    kind = models.CharField(_("instruction / 指令类型"), max_length=16, choices=Kind.choices)
    party = models.ForeignKey(
        "accounts.Party",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("client / 客户"),
    )
    sub_account = models.ForeignKey(
        "custody.SubAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="confirmations",
        verbose_name=_("client sub-account / 客户子账户"),
    )
    loan = models.ForeignKey(
        Loan, null=True, blank=True, on_delete=models.PROTECT, related_name="confirmations", verbose_name=_("loan / 标的")
    )
    amount = MoneyField(_("amount / 金额"))
    out_request_no = models.CharField(_("platform reference / 平台请求号"), max_length=64)
    data = models.JSONField(_("instruction data / 指令内容"), default=dict, blank=True)
    token = models.CharField(_("token / 令牌"), max_length=64, unique=True, editable=False)
    state = models.CharField(_("state / 状态"), max_length=12, choices=State.choices, default=State.PENDING, editable=False)
    expires_at = models.DateTimeField(_("expires at / 失效时间"), db_index=True)
    decided_at = models.DateTimeField(_("decided at / 处理时间"), null=True, blank=True, editable=False)
    outcome_code = models.CharField(_("outcome code / 结果代码"), max_length=64, blank=True, editable=False)
    bid = models.OneToOneField(
        Bid, null=True, blank=True, on_delete=models.PROTECT, related_name="confirmation", verbose_name=_("bid / 投标")
    )
    repayment = models.OneToOneField(
        Repayment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="confirmation",
        verbose_name=_("repayment / 还款"),
    )
    withdrawal = models.OneToOneField(
        "accounts.Withdrawal",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("withdrawal / 提现"),
    )
    recharge = models.OneToOneField(
        "accounts.Recharge",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("recharge / 充值"),
    )

    class Meta:
        verbose_name = _("instruction confirmation / 指令确认")
        verbose_name_plural = _("instruction confirmations / 指令确认")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "out_request_no"], name="confirmation_unique_platform_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.out_request_no} {self.amount}"

    @property
    def holder_party_id(self) -> int | None:
        """Whose confirmation this is: only that party's portal users see the page."""
        return self.party_id or (self.sub_account.party_id if self.sub_account_id else None)
