"""The merchants' records: merchants (onboarding, fee rates, settlement terms), their payments with
each discount and its funder, and refunds.

Data and invariants only; written by ``merchants.onboarding``, ``merchants.payments`` and
``merchants.refunds``. Money lives in ``accounts``' ledger, in the merchant's books
(``owner="merchant:<id>"``): pending settlement (待结算), available, reserve (liabilities,
corporate accounts of the merchant's organisation) and the receivable (the bank's advance when a
refund exceeds what the merchant holds: an internal asset account). There is no settlement of
funds belonging to other merchants (二清) and no split payment to other receivers: a payment is
owed to the one merchant that took it.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from backoffice.models import TimeStampedModel, operator_reference
from backoffice.money import MoneyField

__all__ = [
    "OWNER_PREFIX",
    "ClearingFile",
    "ClearingLine",
    "HeldAdjustment",
    "HeldItem",
    "LongLineNote",
    "Match",
    "Merchant",
    "MerchantPayout",
    "MerchantUser",
    "MerchantFeeRate",
    "Payment",
    "PaymentDiscount",
    "PaymentMethod",
    "Refund",
    "SettlementAuthorisation",
    "SettlementBatch",
    "SettlementItem",
    "merchant_owner",
]

OWNER_PREFIX = "merchant:"


def merchant_owner(merchant_id: int) -> str:
    """The ``Account.owner`` (and API scope) of a merchant's books: ``merchant:<id>``."""
    return f"{OWNER_PREFIX}{merchant_id}"


class PaymentMethod(models.TextChoices):
    WECHAT = "wechat", _("WeChat Pay / 微信支付")
    ALIPAY = "alipay", _("Alipay / 支付宝")
    UNIONPAY = "unionpay", _("UnionPay QuickPass / 云闪付")
    CARD = "card", _("Bank card / 银行卡")


class Merchant(FSMModelMixin, TimeStampedModel):
    """A merchant the bank acquires for (收单商户).

    Onboarding ``applied → kyc_review → active``, with ``kyc_review → applied`` when the checker
    returns it; ``active ⇄ suspended``; ``active | suspended → closed``. The checker is never the
    maker (``maker_checker_violation``). Activation opens the merchant's accounts. Transitions run
    only in ``merchants.onboarding`` (the state is protected), each audited."""

    class State(models.TextChoices):
        APPLIED = "applied", _("Applied / 已申请")
        KYC_REVIEW = "kyc_review", _("KYC review / 审核中")
        ACTIVE = "active", _("Active / 已开通")
        SUSPENDED = "suspended", _("Suspended / 已暂停")
        CLOSED = "closed", _("Closed / 已关闭")

    name = models.CharField(_("name / 商户名称"), max_length=200)
    credit_code = models.CharField(_("unified social credit code / 统一社会信用代码"), max_length=18, db_index=True)
    party = models.ForeignKey(
        "accounts.Party", on_delete=models.PROTECT, related_name="merchants", verbose_name=_("organisation / 商户机构")
    )
    state = FSMField(_("state / 状态"), default=State.APPLIED, choices=State.choices, protected=True, db_index=True)
    settlement_cycle_days = models.PositiveSmallIntegerField(
        _("settlement cycle T+N (working days) / 结算周期 T+N（工作日）"), default=1
    )
    reserve_rate = models.DecimalField(
        _("rolling reserve rate / 保证金比例"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0"),
        help_text=_("A share of each settlement held back, e.g. 0.0500 for 5 %. / 每次结算留存比例。"),
    )
    reserve_release_days = models.PositiveSmallIntegerField(
        _("reserve released after (days) / 保证金释放天数"), null=True, blank=True
    )
    pending_account = models.OneToOneField(
        "accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False,
        verbose_name=_("pending settlement account / 待结算账户"),
    )  # fmt: skip
    available_account = models.OneToOneField(
        "accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False,
        verbose_name=_("available account / 可用账户"),
    )  # fmt: skip
    reserve_account = models.OneToOneField(
        "accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False,
        verbose_name=_("reserve account / 保证金账户"),
    )  # fmt: skip
    receivable_account = models.OneToOneField(
        "accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False,
        verbose_name=_("receivable account / 应收款账户"),
    )  # fmt: skip
    settlement_card = models.ForeignKey(
        "accounts.BoundCard", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False,
        verbose_name=_("corporate settlement account / 对公结算账户"),
    )  # fmt: skip
    created_by = operator_reference(_("created by / 创建人"), editable=False)
    submitted_by = operator_reference(_("submitted by / 提交人"), editable=False)
    submitted_at = models.DateTimeField(_("submitted at / 提交时间"), null=True, blank=True, editable=False)
    reviewed_by = operator_reference(_("reviewed by / 复核人"), editable=False)
    reviewed_at = models.DateTimeField(_("reviewed at / 复核时间"), null=True, blank=True, editable=False)
    review_note = models.CharField(_("review note / 复核意见"), max_length=500, blank=True, editable=False)
    activated_at = models.DateTimeField(_("activated at / 开通时间"), null=True, blank=True, editable=False)
    # The standing settlement authorisation as the maker's application carries it (recorded as a
    # ``SettlementAuthorisation`` when the checker approves; a merchant never becomes active without one).
    authorisation_reference = models.CharField(
        _("settlement authorisation: agreement reference / 结算授权协议编号"), max_length=64, blank=True, editable=False
    )
    authorisation_signed_on = models.DateField(
        _("settlement authorisation: signed on / 结算授权签署日期"), null=True, blank=True, editable=False
    )
    authorisation_signatory = models.CharField(
        _("settlement authorisation: signatory / 结算授权签署人"), max_length=100, blank=True, editable=False
    )
    authorisation_entered_by = operator_reference(_("settlement authorisation: entered by / 结算授权登记人"), editable=False)

    class Meta:
        verbose_name = _("merchant / 商户")
        verbose_name_plural = _("merchants / 商户")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["applied", "kyc_review"]) | Q(pending_account__isnull=False),
                name="merchant_live_has_accounts",
            ),
            models.CheckConstraint(
                condition=Q(reviewed_by__isnull=True) | Q(submitted_by__isnull=True) | ~Q(reviewed_by=F("submitted_by")),
                name="merchant_maker_is_not_checker",
            ),
            models.CheckConstraint(condition=Q(reserve_rate__gte=0) & Q(reserve_rate__lt=1), name="merchant_reserve_rate_range"),
        ]
        permissions = [("review_merchant", "Can approve or return a merchant application (checker)")]

    def __str__(self) -> str:
        return self.name  # the name on pages and in list columns (the number is in the URL and the detail)

    @property
    def owner(self) -> str:
        return merchant_owner(self.pk)

    @transition(field=state, source=State.APPLIED, target=State.KYC_REVIEW)
    def submit(self):
        """The maker submits the application for KYC review."""

    @transition(field=state, source=State.KYC_REVIEW, target=State.APPLIED)
    def return_to_maker(self):
        """The checker returns it with a reason."""

    @transition(field=state, source=State.KYC_REVIEW, target=State.ACTIVE)
    def activate(self):
        """The checker approves it; the merchant's accounts are opened."""

    @transition(field=state, source=State.ACTIVE, target=State.SUSPENDED)
    def suspend(self):
        """No new payments; refunds of what was taken still work."""

    @transition(field=state, source=State.SUSPENDED, target=State.ACTIVE)
    def resume(self):
        """Back to business."""

    @transition(field=state, source=[State.ACTIVE, State.SUSPENDED], target=State.CLOSED)
    def close(self):
        """The relationship ends."""

    submit.alters_data = return_to_maker.alters_data = activate.alters_data = True
    suspend.alters_data = resume.alters_data = close.alters_data = True


class MerchantFeeRate(TimeStampedModel):
    """The merchant discount rate (MDR, 手续费率) per payment method, in force from a business date:
    the latest row with ``effective_from`` ≤ the payment's business date applies."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="fee_rates", verbose_name=_("merchant / 商户"))
    method = models.CharField(_("payment method / 支付方式"), max_length=16, choices=PaymentMethod.choices)
    rate = models.DecimalField(_("rate / 费率"), max_digits=7, decimal_places=6, help_text=_("0.006000 is 0.6 %."))
    effective_from = models.DateField(_("effective from / 生效日期"))
    created_by = operator_reference(_("created by / 创建人"), editable=False)

    class Meta:
        verbose_name = _("merchant fee rate / 商户费率")
        verbose_name_plural = _("merchant fee rates / 商户费率")
        ordering = ["merchant", "method", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "method", "effective_from"], name="merchantfeerate_once_per_day"),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lt=1), name="merchantfeerate_rate_range"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.method} {self.rate} from {self.effective_from}"


class Source(models.TextChoices):
    """Where an outcome came from (the same values as accounts' withdrawals record)."""

    RESPONSE = "response", _("Submit response / 提交应答")
    QUERY = "query", _("Status query / 状态查询")
    CALLBACK = "callback", _("Callback / 回调通知")
    MANUAL = "manual", _("Manual resolution / 人工处理")
    RECONCILIATION = "reconciliation", _("Reconciliation / 对账")
    BOOKS = "books", _("In the books only (no cash) / 仅账务（无现金）")


class ChannelInstructionFields(models.Model):
    """The fields the shared channel-instruction lifecycle (accounts.payments.instructions) reads and writes."""

    request_id = models.CharField(_("channel request id / 通道请求号"), max_length=32, unique=True, null=True, editable=False)
    client = models.CharField(_("requested by / 请求方"), max_length=64)
    channel_txn_id = models.CharField(_("channel transaction id / 通道流水号"), max_length=64, blank=True, db_index=True)
    channel_status = models.CharField(_("last channel status / 通道最新状态"), max_length=32, blank=True)
    failure_reason = models.CharField(_("failure reason / 失败原因"), max_length=200, blank=True)
    resolved_by = models.CharField(_("resolved by / 结果来源"), max_length=16, choices=Source.choices, blank=True)
    submit_attempts = models.PositiveIntegerField(_("submissions / 提交次数"), default=0)
    query_attempts = models.PositiveIntegerField(_("queries / 查询次数"), default=0)
    submitted_at = models.DateTimeField(_("first submitted / 首次提交"), null=True, blank=True)
    last_submitted_at = models.DateTimeField(_("last submitted / 最近提交"), null=True, blank=True)
    last_activity_at = models.DateTimeField(_("last activity / 最近处理"), null=True, blank=True, db_index=True)
    resolved_at = models.DateTimeField(_("resolved / 结果时间"), null=True, blank=True)

    class Meta:
        abstract = True


class Payment(FSMModelMixin, ChannelInstructionFields, TimeStampedModel):
    """A payer's payment of a merchant's order through a channel.

    ``order_amount`` = ``paid_amount`` (实付, what the payer paid) + the discounts (each a
    ``PaymentDiscount`` with its funder). The MDR is charged on ``mdr_base`` = what the merchant is
    paid for (the order less the merchant's own discounts), ``mdr_amount`` = base × rate half-up to
    the fen. States ``created → submitted → succeeded | failed | unknown``; ``unknown`` ends only on
    a definitive channel answer. The refunded and in-flight (reserved) totals are kept here under
    the payment's row lock (R-REF-01)."""

    class State(models.TextChoices):
        CREATED = "created", _("Created / 已创建")
        SUBMITTED = "submitted", _("Submitted / 已提交通道")
        UNKNOWN = "unknown", _("Outcome unknown / 结果未知")
        SUCCEEDED = "succeeded", _("Succeeded / 支付成功")
        FAILED = "failed", _("Failed / 支付失败")

    IN_FLIGHT = (State.CREATED, State.SUBMITTED, State.UNKNOWN)

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payments", verbose_name=_("merchant / 商户"))
    out_trade_no = models.CharField(_("merchant order number / 商户订单号"), max_length=64)
    method = models.CharField(_("payment method / 支付方式"), max_length=16, choices=PaymentMethod.choices)
    channel = models.ForeignKey(
        "accounts.Channel", on_delete=models.PROTECT, related_name="merchant_payments", verbose_name=_("channel / 通道")
    )
    description = models.CharField(_("description / 商品描述"), max_length=200, blank=True)
    order_amount = MoneyField(_("order amount / 订单金额"))
    paid_amount = MoneyField(_("paid by the payer / 实付金额"))
    mdr_base = MoneyField(_("MDR base / 手续费计费基数"))
    mdr_rate = models.DecimalField(_("MDR rate / 手续费率"), max_digits=7, decimal_places=6)
    mdr_amount = MoneyField(_("MDR / 手续费"))
    business_date = models.DateField(_("business date / 业务日期"), db_index=True)
    state = FSMField(_("state / 状态"), default=State.CREATED, choices=State.choices, protected=True, db_index=True)
    success_transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    # Refund totals (R-REF-01): what succeeded, and what is in flight (reserved until it ends).
    refund_count = models.PositiveIntegerField(_("refunds / 退款次数"), default=0)
    refunded_amount = MoneyField(_("refunded / 已退款"))
    refunded_cash = MoneyField(_("cash refunded / 已退现金"))
    refunded_mdr = MoneyField(_("MDR refunded / 已退手续费"))
    reserved_amount = MoneyField(_("refunds in flight / 退款在途"))
    reserved_cash = MoneyField(_("cash in flight / 在途退现金"))
    reserved_mdr = MoneyField(_("MDR in flight / 在途退手续费"))

    class Meta:
        verbose_name = _("payment / 支付")
        verbose_name_plural = _("payments / 支付")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "out_trade_no"], name="payment_unique_out_trade_no"),
            models.CheckConstraint(condition=Q(order_amount__gt=0), name="payment_order_amount_positive"),
            models.CheckConstraint(
                condition=Q(paid_amount__gt=0) & Q(paid_amount__lte=F("order_amount")), name="payment_paid_within_order"
            ),
            models.CheckConstraint(condition=Q(mdr_amount__gte=0) & Q(mdr_amount__lte=F("mdr_base")), name="payment_mdr_range"),
            # R-REF-01, in the database too: refunds (succeeded + in flight) within the order, cash within what was paid.
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0)
                & Q(reserved_amount__gte=0)
                & Q(refunded_amount__lte=F("order_amount") - F("reserved_amount")),
                name="payment_refunds_within_order",
            ),
            models.CheckConstraint(
                condition=Q(refunded_cash__gte=0)
                & Q(reserved_cash__gte=0)
                & Q(refunded_cash__lte=F("paid_amount") - F("reserved_cash")),
                name="payment_refunded_cash_within_paid",
            ),
            models.CheckConstraint(
                condition=Q(refunded_mdr__gte=0)
                & Q(reserved_mdr__gte=0)
                & Q(refunded_mdr__lte=F("mdr_amount") - F("reserved_mdr")),
                name="payment_refunded_mdr_within_charged",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id or self.pk} {self.order_amount} {self.state}"

    @property
    def amount(self) -> Decimal:
        """What the channel collects from the payer (the lifecycle's ``amount``): the paid amount."""
        return self.paid_amount

    @transition(field=state, source=[State.CREATED, State.SUBMITTED], target=State.SUBMITTED)
    def mark_submitted(self):
        """A payment order is about to be sent to the channel (again: the same request id)."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.UNKNOWN)
    def mark_unknown(self):
        """No definitive answer yet."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.SUCCEEDED)
    def mark_succeeded(self):
        """The payer paid."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.FAILED)
    def mark_failed(self):
        """The channel definitively did not collect."""

    mark_submitted.alters_data = mark_unknown.alters_data = mark_succeeded.alters_data = mark_failed.alters_data = True


class PaymentDiscount(TimeStampedModel):
    """A discount on a payment and who funds it: the merchant (a price reduction: the merchant is
    simply paid less), the platform (a coupon paid from the bank's marketing account) or the
    channel (settled by the channel with the payment). ``refundable``: a refund may give it back
    to the payer (as a coupon, never as cash)."""

    class Funder(models.TextChoices):
        MERCHANT = "merchant", _("Merchant / 商户出资")
        PLATFORM_COUPON = "platform_coupon", _("Platform coupon (marketing) / 平台券（营销户出资）")
        CHANNEL = "channel", _("Channel / 通道出资")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="discounts", verbose_name=_("payment / 支付"))
    amount = MoneyField(_("amount / 金额"))
    funder = models.CharField(_("funded by / 出资方"), max_length=16, choices=Funder.choices)
    refundable = models.BooleanField(_("refundable / 可退回"), default=False)
    refunded = MoneyField(_("given back / 已退回"))
    reserved = MoneyField(_("being given back / 退回在途"))

    class Meta:
        verbose_name = _("payment discount / 支付优惠")
        verbose_name_plural = _("payment discounts / 支付优惠")
        ordering = ["payment", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="paymentdiscount_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded__gte=0) & Q(reserved__gte=0) & Q(refunded__lte=F("amount") - F("reserved")),
                name="paymentdiscount_refunds_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_id} {self.funder} {self.amount}"


class Refund(FSMModelMixin, ChannelInstructionFields, TimeStampedModel):
    """A refund of (part of) a succeeded payment.

    ``amount`` = ``cash_amount`` (back to the payer through the channel) + ``coupon_amount``
    (refundable discounts given back), cash first (R-REF-01). ``out_refund_no`` is unique per
    merchant: a retry with it never refunds twice (R-REF-02). States ``created → submitted →
    succeeded | failed | unknown``; success is recorded only from a status query or a callback,
    never from the apply response (R-REF-03), and ``unknown`` ends only by a query, a callback or
    reconciliation. A refund that gives back only coupons moves no cash and is settled in the books
    at once (``resolved_by`` = books)."""

    class State(models.TextChoices):
        CREATED = "created", _("Created / 已创建")
        SUBMITTED = "submitted", _("Submitted / 已提交通道")
        UNKNOWN = "unknown", _("Outcome unknown / 结果未知")
        SUCCEEDED = "succeeded", _("Succeeded / 退款成功")
        FAILED = "failed", _("Failed / 退款失败")

    IN_FLIGHT = (State.CREATED, State.SUBMITTED, State.UNKNOWN)

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("merchant / 商户"))
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("payment / 支付"))
    channel = models.ForeignKey(
        "accounts.Channel", on_delete=models.PROTECT, related_name="merchant_refunds", verbose_name=_("channel / 通道")
    )
    out_refund_no = models.CharField(_("merchant refund number / 商户退款单号"), max_length=64)
    reason = models.CharField(_("reason / 退款原因"), max_length=200, blank=True)
    amount = MoneyField(_("refund amount / 退款金额"))
    cash_amount = MoneyField(_("cash to the payer / 退还现金"))
    coupon_amount = MoneyField(_("coupons given back / 退回优惠"))
    platform_coupon_amount = MoneyField(_("of which platform coupons / 其中平台券"))
    channel_coupon_amount = MoneyField(_("of which channel discounts / 其中通道优惠"))
    coupon_breakdown = models.JSONField(_("coupons by discount / 各优惠退回"), default=dict, blank=True)
    mdr_refunded = MoneyField(_("MDR given back / 退还手续费"))
    receivable_amount = MoneyField(_("advanced by the bank / 银行垫付"))
    state = FSMField(_("state / 状态"), default=State.CREATED, choices=State.choices, protected=True, db_index=True)
    transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        verbose_name = _("refund / 退款")
        verbose_name_plural = _("refunds / 退款")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "out_refund_no"], name="refund_unique_out_refund_no"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(cash_amount__gte=0) & Q(coupon_amount__gte=0) & Q(amount=F("cash_amount") + F("coupon_amount")),
                name="refund_cash_plus_coupons",
            ),
            models.CheckConstraint(condition=Q(mdr_refunded__gte=0), name="refund_mdr_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id or self.pk} {self.amount} {self.state}"

    @property
    def in_flight(self) -> bool:
        return self.state in self.IN_FLIGHT

    @transition(field=state, source=[State.CREATED, State.SUBMITTED], target=State.SUBMITTED)
    def mark_submitted(self):
        """The refund is about to be sent to the channel (again: the same request id)."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.UNKNOWN)
    def mark_unknown(self):
        """Accepted or unanswered: the outcome comes from a query or a callback (R-REF-03)."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.SUCCEEDED)
    def mark_succeeded(self):
        """The channel paid the cash back (query or callback)."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.FAILED)
    def mark_failed(self):
        """The channel definitively refused it; what was reserved is released."""

    @transition(field=state, source=State.CREATED, target=State.SUCCEEDED)
    def settle_in_books(self):
        """Only coupons are given back: no cash, no channel call."""

    mark_submitted.alters_data = mark_unknown.alters_data = mark_succeeded.alters_data = True
    mark_failed.alters_data = settle_in_books.alters_data = True


# -- settlement (清分 → 清算 → 结算) --------------------------------------------------------------


class Match(models.TextChoices):
    """R-REC-02: every reconciled item ends as exactly one of these."""

    MATCHED = "matched", _("Matched / 已匹配")
    LONG = "long", _("Long: the channel's only / 长款")
    SHORT = "short", _("Short: ours only / 短款")
    MISMATCH = "mismatch", _("Amount mismatch / 金额不符")
    TIMING = "timing", _("Timing (other business date) / 日切差异")


class SettlementAuthorisation(TimeStampedModel):
    """The merchant's standing settlement authorisation (结算授权), signed at onboarding: settlement
    payouts of its available balance to its own verified corporate settlement account go without a
    per-payout authorisation. Recorded when the checker approves the application that carries it
    (``merchants.onboarding.merchant_approve``). Revoked: no payout (the batch still settles into
    available)."""

    class Scope(models.TextChoices):
        SETTLED_FUNDS_TO_VERIFIED_ACCOUNT = (
            "settled_funds_to_verified_account",
            _(
                "Payouts of settled funds to the merchant's own bound, verified corporate settlement account "
                "/ 已结算资金划付至本商户已绑定并验证的对公结算账户"
            ),
        )

    merchant = models.OneToOneField(
        Merchant, on_delete=models.PROTECT, related_name="settlement_authorisation", verbose_name=_("merchant / 商户")
    )
    reference = models.CharField(_("signed agreement reference / 协议编号"), max_length=64)
    signed_on = models.DateField(_("signed on / 签署日期"))
    signatory = models.CharField(_("signatory / 签署人"), max_length=100, blank=True)
    scope = models.CharField(
        _("scope / 授权范围"), max_length=40, choices=Scope.choices, default=Scope.SETTLED_FUNDS_TO_VERIFIED_ACCOUNT
    )
    recorded_by = operator_reference(_("recorded by / 登记人"), editable=False)
    approved_by = operator_reference(_("approved by / 复核人"), editable=False)
    revoked_at = models.DateTimeField(_("revoked at / 撤销时间"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("standing settlement authorisation / 结算授权")
        verbose_name_plural = _("standing settlement authorisations / 结算授权")

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.reference}"

    @property
    def in_force(self) -> bool:
        return self.revoked_at is None


class ClearingFile(TimeStampedModel):
    """A channel's clearing file (清算文件) for a business date, imported once per content
    (R-REC-01: idempotent by its SHA-256)."""

    channel = models.ForeignKey("accounts.Channel", on_delete=models.PROTECT, related_name="+", verbose_name=_("channel / 通道"))
    business_date = models.DateField(_("business date / 业务日期"))
    sha256 = models.CharField(_("file hash / 文件哈希"), max_length=64)
    line_count = models.PositiveIntegerField(_("lines / 行数"), default=0)
    total_payments = MoneyField(_("payments / 收款合计"))
    total_refunds = MoneyField(_("refunds / 退款合计"))

    class Meta:
        verbose_name = _("clearing file / 清算文件")
        verbose_name_plural = _("clearing files / 清算文件")
        ordering = ["-business_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "business_date", "sha256"], name="clearingfile_once_per_hash"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} {self.business_date} {self.sha256[:12]}"


class ClearingLine(models.Model):
    """One line of a clearing file; ``match`` is ``long`` when no payment or refund of ours has its
    request id (长款: never posted to a merchant, R-REC-02)."""

    file = models.ForeignKey(ClearingFile, on_delete=models.CASCADE, related_name="lines", verbose_name=_("file / 文件"))
    channel_txn_id = models.CharField(_("channel transaction id / 通道流水号"), max_length=64)
    request_id = models.CharField(_("request id / 请求号"), max_length=32, db_index=True)
    kind = models.CharField(_("kind / 类型"), max_length=16)
    amount = MoneyField(_("amount / 金额"))
    business_date = models.DateField(_("business date / 业务日期"))
    match = models.CharField(_("match / 匹配结果"), max_length=16, choices=Match.choices, blank=True)

    class Meta:
        verbose_name = _("clearing file line / 清算文件明细")
        verbose_name_plural = _("clearing file lines / 清算文件明细")
        ordering = ["file", "pk"]
        constraints = [models.UniqueConstraint(fields=["file", "request_id"], name="clearingline_once_per_file")]

    def __str__(self) -> str:
        return f"{self.request_id} {self.kind} {self.amount}"


class SettlementBatch(FSMModelMixin, TimeStampedModel):
    """One merchant's settlement for one channel and business date, once (unique on the three).

    ``created → cleared`` (清分: the totals from the vouchers of the day's payments and refunds)
    ``→ reconciled`` (清算: the channel's clearing file matched item by item, R-REC-02) ``→ settled``
    (结算: the matched net moved pending → reserve / receivable / available in one voucher, then the
    available balance paid out) or ``→ held`` (the same for the matched items while some item is
    unmatched: the unmatched ones are held, never paid). Each step runs under the batch's row lock in
    one transaction and moves money only with an idempotency key, so the job may run twice or die
    halfway: the next run goes on from the state it finds. Past batches are never edited: a refund
    after settlement is in the next batch (and a receivable is netted by it)."""

    class State(models.TextChoices):
        CREATED = "created", _("Created / 已创建")
        CLEARED = "cleared", _("Cleared / 已清分")
        RECONCILED = "reconciled", _("Reconciled / 已清算对账")
        SETTLED = "settled", _("Settled / 已结算")
        HELD = "held", _("Settled in part, items held / 部分结算，差错挂起")
        RESOLVED = "resolved", _("Settled, held items resolved / 已结算，差错已处理")

    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="settlements", verbose_name=_("merchant / 商户")
    )
    channel = models.ForeignKey("accounts.Channel", on_delete=models.PROTECT, related_name="+", verbose_name=_("channel / 通道"))
    business_date = models.DateField(_("business date / 业务日期"), db_index=True)
    settle_date = models.DateField(_("settlement date (T+N) / 结算日"), db_index=True)
    state = FSMField(_("state / 状态"), default=State.CREATED, choices=State.choices, protected=True, db_index=True)
    payment_count = models.PositiveIntegerField(_("payments / 收款笔数"), default=0)
    payment_amount = MoneyField(_("payments (MDR base) / 收款金额"))
    mdr_amount = MoneyField(_("MDR / 手续费"))
    refund_count = models.PositiveIntegerField(_("refunds / 退款笔数"), default=0)
    refund_amount = MoneyField(_("refunds from pending / 退款（待结算扣减）"))
    net_amount = MoneyField(_("net cleared / 清分净额"))
    held_amount = MoneyField(_("held (unmatched) / 差错挂起"))
    settled_amount = MoneyField(_("settled out of pending / 结算金额"))
    reserve_amount = MoneyField(_("to the reserve / 留存保证金"))
    receivable_netted = MoneyField(_("receivable netted / 冲抵应收"))
    available_amount = MoneyField(_("to available / 转入可用"))
    clearing_file = models.ForeignKey(
        ClearingFile, on_delete=models.PROTECT, null=True, blank=True, related_name="batches", editable=False,
        verbose_name=_("clearing file / 清算文件"),
    )  # fmt: skip
    transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    reserve_release_on = models.DateField(_("reserve released on / 保证金释放日"), null=True, blank=True, editable=False)
    reserve_released_at = models.DateTimeField(_("reserve released at / 保证金释放时间"), null=True, blank=True, editable=False)
    cleared_at = models.DateTimeField(_("cleared at / 清分时间"), null=True, blank=True, editable=False)
    reconciled_at = models.DateTimeField(_("reconciled at / 清算时间"), null=True, blank=True, editable=False)
    settled_at = models.DateTimeField(_("settled at / 结算时间"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("settlement batch / 结算批次")
        verbose_name_plural = _("settlement batches / 结算批次")
        ordering = ["-business_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "channel", "business_date"], name="settlementbatch_once_per_day"),
            models.CheckConstraint(
                condition=Q(settled_amount=F("reserve_amount") + F("receivable_netted") + F("available_amount")),
                name="settlementbatch_settled_parts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_id} {self.channel_id} {self.business_date} {self.state}"

    @transition(field=state, source=State.CREATED, target=State.CLEARED)
    def clear(self):
        """清分: the day's items and totals from the vouchers."""

    @transition(field=state, source=State.CLEARED, target=State.RECONCILED)
    def reconcile(self):
        """清算: every item matched against the channel's clearing file."""

    @transition(field=state, source=State.RECONCILED, target=State.SETTLED)
    def settle(self):
        """结算: everything matched and moved."""

    @transition(field=state, source=State.RECONCILED, target=State.HELD)
    def hold(self):
        """结算 of the matched items; the unmatched ones are held."""

    @transition(field=state, source=State.HELD, target=State.RESOLVED)
    def resolve(self):
        """Every held item is resolved (matched by a later file, or adjusted under maker-checker):
        each by its own follow-up record and voucher; the batch's own figures are never edited."""

    clear.alters_data = reconcile.alters_data = settle.alters_data = hold.alters_data = resolve.alters_data = True


class SettlementItem(models.Model):
    """One payment or refund of a batch: its effect on the merchant's pending settlement
    (``net_amount``: + a payment's credit, − a refund's debit), what the channel moved for it
    (``amount``: paid, or cash refunded) and what the clearing file says (R-REC-02 ``match``)."""

    class Kind(models.TextChoices):
        PAYMENT = "payment", _("Payment / 收款")
        REFUND = "refund", _("Refund / 退款")

    batch = models.ForeignKey(SettlementBatch, on_delete=models.CASCADE, related_name="items", verbose_name=_("batch / 批次"))
    kind = models.CharField(_("kind / 类型"), max_length=16, choices=Kind.choices)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="+", verbose_name=_("payment / 支付"))
    refund = models.ForeignKey(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("refund / 退款")
    )
    request_id = models.CharField(_("request id / 请求号"), max_length=32)
    reference = models.CharField(_("merchant reference / 商户单号"), max_length=64)
    amount = MoneyField(_("channel amount (ours) / 通道金额（本方）"))
    mdr_amount = MoneyField(_("MDR / 手续费"))
    net_amount = MoneyField(_("effect on pending / 待结算影响"))
    channel_amount = MoneyField(_("channel amount (file) / 通道金额（文件）"), null=True, blank=True, default=None)
    channel_txn_id = models.CharField(_("channel transaction id / 通道流水号"), max_length=64, blank=True)
    match = models.CharField(_("match / 匹配结果"), max_length=16, choices=Match.choices, blank=True)

    class Meta:
        verbose_name = _("settlement item / 结算明细")
        verbose_name_plural = _("settlement items / 结算明细")
        ordering = ["batch", "pk"]
        constraints = [models.UniqueConstraint(fields=["batch", "request_id"], name="settlementitem_once_per_batch")]

    def __str__(self) -> str:
        return f"{self.request_id} {self.net_amount} {self.match}"


class MerchantPayout(FSMModelMixin, ChannelInstructionFields, TimeStampedModel):
    """Money out of the bank to a merchant's or a payer's account, on the shared channel-instruction
    lifecycle (request ids ``MP…``).

    - ``settlement``: the merchant's available balance to its own verified corporate settlement
      account, under its standing settlement authorisation; an amount above the channel's real-time
      limit outside the channel's window is ``scheduled`` into the next window, never refused; the
      holders' daily withdrawal count does not apply.
    - ``refund``: past the channel's refund window, a payer's money back to an account the payer
      supplies (代付), proposed by a maker and approved by another operator (the checker).

    States ``awaiting_check → created`` (refund payouts), ``created → scheduled → created``,
    ``created → submitted → succeeded | failed | unknown``, ``awaiting_check → rejected``."""

    class Kind(models.TextChoices):
        SETTLEMENT = "settlement", _("Settlement payout / 结算出款")
        REFUND = "refund", _("Refund payout to the payer / 退款代付")

    class State(models.TextChoices):
        AWAITING_CHECK = "awaiting_check", _("Awaiting the checker / 待复核")
        REJECTED = "rejected", _("Rejected / 已拒绝")
        SCHEDULED = "scheduled", _("Scheduled into the window / 已排入受理时段")
        CREATED = "created", _("Created / 已创建")
        SUBMITTED = "submitted", _("Submitted / 已提交通道")
        UNKNOWN = "unknown", _("Outcome unknown / 结果未知")
        SUCCEEDED = "succeeded", _("Succeeded / 出款成功")
        FAILED = "failed", _("Failed / 出款失败")

    class Origin(models.TextChoices):
        CONSOLE = "console", _("Operator console / 运营后台")
        API = "api", _("Merchant API / 商户接口")
        PORTAL = "portal", _("Merchant portal / 商户门户")

    IN_FLIGHT = (State.CREATED, State.SCHEDULED, State.SUBMITTED, State.UNKNOWN)

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="payouts", verbose_name=_("merchant / 商户"))
    kind = models.CharField(_("kind / 类型"), max_length=16, choices=Kind.choices)
    channel = models.ForeignKey("accounts.Channel", on_delete=models.PROTECT, related_name="+", verbose_name=_("channel / 通道"))
    out_request_no = models.CharField(_("reference / 业务单号"), max_length=64)
    amount = MoneyField(_("amount / 金额"))
    batch = models.ForeignKey(
        SettlementBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="payouts", verbose_name=_("batch / 批次")
    )
    card = models.ForeignKey(
        "accounts.BoundCard", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("settlement account / 结算账户"),
    )  # fmt: skip
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="payouts", verbose_name=_("payment / 支付")
    )
    payee_name = models.CharField(_("payee name / 收款人"), max_length=200, blank=True)
    payee_account_encrypted = models.TextField(_("payee account (encrypted) / 收款账号（密文）"), blank=True, editable=False)
    payee_account_last4 = models.CharField(_("payee account last four / 收款账号后四位"), max_length=4, blank=True)
    reason = models.CharField(_("reason / 原因"), max_length=200, blank=True)
    origin = models.CharField(_("proposed through / 发起渠道"), max_length=16, choices=Origin.choices, default=Origin.CONSOLE)
    proposed_by_label = models.CharField(_("proposed by (API client or portal user) / 发起方"), max_length=150, blank=True)
    settles = models.CharField(_("settles / 到账"), max_length=24, default="real_time")
    not_before = models.DateTimeField(_("not before / 最早提交时间"), null=True, blank=True)
    state = FSMField(_("state / 状态"), default=State.CREATED, choices=State.choices, protected=True, db_index=True)
    maker = operator_reference(_("proposed by / 经办人"), editable=False)
    checker = operator_reference(_("approved by / 复核人"), editable=False)
    checked_at = models.DateTimeField(_("checked at / 复核时间"), null=True, blank=True, editable=False)
    # A refund payout's funding voucher (the merchant's funds moved into its available account).
    transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    # The money set aside on the merchant's available account until the channel answers.
    hold = models.ForeignKey("accounts.Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False)

    class Meta:
        verbose_name = _("merchant payout / 商户出款")
        verbose_name_plural = _("merchant payouts / 商户出款")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["client", "out_request_no"], name="merchantpayout_unique_reference"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="merchantpayout_amount_positive"),
            models.CheckConstraint(
                condition=Q(checker__isnull=True) | Q(maker__isnull=True) | ~Q(checker=F("maker")),
                name="merchantpayout_maker_is_not_checker",
            ),
        ]
        permissions = [("check_merchant_payout", "Can approve or reject a refund payout (checker)")]

    def __str__(self) -> str:
        return f"{self.request_id or self.pk} {self.kind} {self.amount} {self.state}"

    @transition(field=state, source=State.CREATED, target=State.AWAITING_CHECK)
    def propose(self):
        """A refund payout proposed (console, API or portal): it waits for the bank's checker."""

    @transition(field=state, source=State.AWAITING_CHECK, target=State.CREATED)
    def approve(self):
        """The checker approves a refund payout."""

    @transition(field=state, source=State.AWAITING_CHECK, target=State.REJECTED)
    def reject(self):
        """The checker rejects it; nothing moved."""

    @transition(field=state, source=State.CREATED, target=State.SCHEDULED)
    def schedule(self):
        """Above the real-time limit outside the window: waits for the window."""

    @transition(field=state, source=State.SCHEDULED, target=State.CREATED)
    def release(self):
        """The window opened."""

    @transition(field=state, source=[State.CREATED, State.SUBMITTED], target=State.SUBMITTED)
    def mark_submitted(self):
        """Sent to the channel (again: the same request id)."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.UNKNOWN)
    def mark_unknown(self):
        """No definitive answer yet."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.SUCCEEDED)
    def mark_succeeded(self):
        """The channel paid."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.FAILED)
    def mark_failed(self):
        """The channel definitively did not pay; the money goes back."""

    propose.alters_data = approve.alters_data = reject.alters_data = schedule.alters_data = release.alters_data = True
    mark_submitted.alters_data = mark_unknown.alters_data = mark_succeeded.alters_data = mark_failed.alters_data = True


class MerchantUser(TimeStampedModel):
    """A Django user acting for one merchant in the merchant portal, in one role, with their own
    TOTP second factor (django-otp): owner (everything, incl. API keys and webhooks), finance
    (refunds and payouts) or viewer (reads only)."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner / 管理员")
        FINANCE = "finance", _("Finance / 财务")
        VIEWER = "viewer", _("Viewer / 只读")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="merchant_user", verbose_name=_("user / 用户")
    )
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="users", verbose_name=_("merchant / 商户"))
    role = models.CharField(_("role / 角色"), max_length=10, choices=Role.choices)
    is_active = models.BooleanField(_("active / 启用"), default=True)

    class Meta:
        verbose_name = _("merchant user / 商户用户")
        verbose_name_plural = _("merchant users / 商户用户")
        ordering = ["merchant", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"

    @property
    def can_move_money(self) -> bool:
        """Refunds and payouts: owner and finance."""
        return self.role in (self.Role.OWNER, self.Role.FINANCE)

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


# -- held items: R-REC-03 (wait T+2 → suspense) and R-REC-04 (调账 under maker-checker) --------------


class HeldItem(FSMModelMixin, TimeStampedModel):
    """The follow-up of one unmatched item of a held batch (its ``SettlementItem.match`` is never
    edited: this record says what became of it).

    ``waiting`` (short or timing: re-examined against the channel's next files, R-REC-03)
    ``→ matched_late`` (a later file carries it with the same amount: ``matched_line``; its net is
    released by a follow-up settlement voucher of the batch) or ``→ suspense`` (挂账: still unmatched
    after the wait, or the amount differs; a P2 alert) ``→ proposed`` (an operator proposed a 调账
    with a reason code) ``→ adjusted`` (another operator approved it: new vouchers only, R-REC-04)
    or back ``→ suspense`` (rejected)."""

    class State(models.TextChoices):
        WAITING = "waiting", _("Waiting for the next files (T+2) / 等待后续对账文件")
        MATCHED_LATE = "matched_late", _("Matched by a later file, released / 后续文件已匹配，已放行")
        SUSPENSE = "suspense", _("Suspense, to be adjusted / 挂账待调账")
        PROPOSED = "proposed", _("Adjustment awaiting a checker / 调账待复核")
        ADJUSTED = "adjusted", _("Adjusted / 已调账")

    item = models.OneToOneField(
        SettlementItem, on_delete=models.PROTECT, related_name="held", verbose_name=_("settlement item / 结算明细")
    )
    batch = models.ForeignKey(
        SettlementBatch, on_delete=models.PROTECT, related_name="held_items", verbose_name=_("batch / 批次")
    )
    state = FSMField(_("state / 状态"), default=State.WAITING, choices=State.choices, protected=True, db_index=True)
    wait_until = models.DateField(_("waits for files up to / 等待文件至"))
    files_examined = models.ManyToManyField(
        ClearingFile, related_name="+", blank=True, verbose_name=_("clearing files examined / 已核对的清算文件")
    )
    matched_line = models.ForeignKey(
        ClearingLine, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False,
        verbose_name=_("matched by line / 匹配的文件明细"),
    )  # fmt: skip

    class SuspenseCause(models.TextChoices):
        AMOUNT_DIFFERS = "amount_differs", _("The channel's amount differs from ours / 通道金额与本方不符")
        LATER_AMOUNT_DIFFERS = "later_amount_differs", _("A later file carries it with another amount / 后续文件金额不符")
        NOT_IN_LATER_FILES = "not_in_later_files", _("Not in the channel's next files (T+2) / 后续对账文件中仍无此笔")

    suspense_cause = models.CharField(
        _("why in suspense / 挂账原因"), max_length=24, choices=SuspenseCause.choices, blank=True, editable=False
    )
    suspense_reason = models.CharField(_("details / 挂账详情"), max_length=200, blank=True)
    suspense_at = models.DateTimeField(_("in suspense since / 挂账时间"), null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(_("resolved at / 处理完成时间"), null=True, blank=True, editable=False)
    # The follow-up settlement of the released net (pending → reserve / receivable / available).
    released_amount = MoneyField(_("released out of pending / 放行结算金额"))
    reserve_amount = MoneyField(_("to the reserve / 留存保证金"))
    receivable_netted = MoneyField(_("receivable netted / 冲抵应收"))
    available_amount = MoneyField(_("to available / 转入可用"))
    transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False,
        verbose_name=_("voucher / 凭证"),
    )  # fmt: skip
    reserve_release_on = models.DateField(_("reserve released on / 保证金释放日"), null=True, blank=True, editable=False)
    reserve_released_at = models.DateTimeField(_("reserve released at / 保证金释放时间"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("held item / 差错挂起明细")
        verbose_name_plural = _("held items / 差错挂起明细")
        ordering = ["-pk"]
        permissions = [("check_helditem", "Can approve or reject an adjustment of a held item (checker)")]
        constraints = [
            models.CheckConstraint(
                condition=Q(released_amount=F("reserve_amount") + F("receivable_netted") + F("available_amount")),
                name="helditem_released_parts",
            ),
        ]

    def __str__(self) -> str:
        return self.item.request_id

    @transition(field=state, source=State.WAITING, target=State.MATCHED_LATE)
    def match_late(self):
        """A later clearing file carries it with the same amount."""

    @transition(field=state, source=State.WAITING, target=State.SUSPENSE)
    def suspend(self):
        """Still unmatched after the wait (or the amount differs): 挂账."""

    @transition(field=state, source=State.SUSPENSE, target=State.PROPOSED)
    def propose(self):
        """An operator proposed a 调账."""

    @transition(field=state, source=State.PROPOSED, target=State.SUSPENSE)
    def reject(self):
        """The checker rejected the proposal: back in suspense."""

    @transition(field=state, source=State.PROPOSED, target=State.ADJUSTED)
    def adjust(self):
        """The checker approved the 调账: new vouchers only."""

    match_late.alters_data = suspend.alters_data = propose.alters_data = reject.alters_data = adjust.alters_data = True

    @property
    def open(self) -> bool:
        return self.state not in (self.State.MATCHED_LATE, self.State.ADJUSTED)


class HeldAdjustment(FSMModelMixin, TimeStampedModel):
    """A 调账 of a held item in suspense (R-REC-04): proposed by one operator with a reason code,
    approved or rejected by another. Approval posts new vouchers only (a follow-up settlement of
    the item's net, or the reversal of the payment's voucher), never edits one."""

    class Reason(models.TextChoices):
        CHANNEL_CONFIRMED = "channel_confirmed", _("Channel confirmed it: release to the merchant / 通道确认已清算：放行结算")
        AMOUNT_CORRECTED = "amount_corrected", _("Amount corrected by the channel: release / 通道更正金额：放行结算")
        NOT_PAID = "not_paid", _("Channel never paid: write off (reverse the payment) / 通道未付款：冲销收款")

    class State(models.TextChoices):
        PROPOSED = "proposed", _("Awaiting a checker / 待复核")
        APPROVED = "approved", _("Approved, booked / 已复核入账")
        REJECTED = "rejected", _("Rejected / 已拒绝")

    held = models.ForeignKey(
        HeldItem, on_delete=models.PROTECT, related_name="adjustments", verbose_name=_("held item / 差错挂起明细")
    )
    reason = models.CharField(_("reason code / 调账原因"), max_length=24, choices=Reason.choices)
    note = models.CharField(_("note / 说明"), max_length=500)
    state = FSMField(_("state / 状态"), default=State.PROPOSED, choices=State.choices, protected=True, db_index=True)
    maker = operator_reference(_("proposed by / 经办人"), editable=False)
    checker = operator_reference(_("checked by / 复核人"), editable=False)
    checked_at = models.DateTimeField(_("checked at / 复核时间"), null=True, blank=True, editable=False)
    check_note = models.CharField(_("checker's note / 复核意见"), max_length=200, blank=True)
    transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False,
        verbose_name=_("voucher / 凭证"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("held item adjustment / 差错调账")
        verbose_name_plural = _("held item adjustments / 差错调账")
        ordering = ["-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(checker__isnull=True) | Q(maker__isnull=True) | ~Q(checker=F("maker")),
                name="heldadjustment_maker_is_not_checker",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.held} · {self.get_reason_display()}"

    @transition(field=state, source=State.PROPOSED, target=State.APPROVED)
    def approve(self):
        """The checker approved: booked."""

    @transition(field=state, source=State.PROPOSED, target=State.REJECTED)
    def reject(self):
        """The checker rejected it: nothing moved."""

    approve.alters_data = reject.alters_data = True


class LongLineNote(TimeStampedModel):
    """An operator's resolution of a long (长款) clearing line: money the channel reports that no
    payment or refund of ours carries. It never posts to a merchant (R-REC-02); the note says what
    was found and done outside these books."""

    class Reason(models.TextChoices):
        NOT_OURS = "not_ours", _("Not ours: the channel corrects its file / 非本行交易：通道更正文件")
        RETURN_TO_PAYER = "return_to_payer", _("Returned to the payer by the channel / 由通道退回付款人")
        ORDER_TO_COMPLETE = "order_to_complete", _("Our order is missing: to be completed / 本方漏单：待补单")
        OTHER = "other", _("Other (see the note) / 其他（见说明）")

    line = models.OneToOneField(
        ClearingLine, on_delete=models.PROTECT, related_name="long_note", verbose_name=_("clearing file line / 清算文件明细")
    )
    reason = models.CharField(_("reason code / 处理原因"), max_length=24, choices=Reason.choices)
    note = models.CharField(_("note / 说明"), max_length=500)
    recorded_by = operator_reference(_("recorded by / 登记人"), editable=False)

    class Meta:
        verbose_name = _("long item note / 长款处理")
        verbose_name_plural = _("long item notes / 长款处理")
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.line.request_id} · {self.get_reason_display()}"
