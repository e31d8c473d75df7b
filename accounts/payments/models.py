"""Money in and out: payment channels, recharges (充值), withdrawals (提现), channel callbacks,
alerts, manual resolutions and transaction passwords.

Data and invariants only. Every write goes through ``accounts/payments/withdrawals.py`` and
``accounts/payments/recharges.py`` (money through ``accounts/ledger/postings.py``); state fields are django-fsm
fields, protected, moved only by the transitions below, each of which the service audits.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from backoffice import crypto
from backoffice.dates import business_date_with_cutoff
from backoffice.models import TimeStampedModel
from backoffice.money import MoneyField
from backoffice.texts import text_render

__all__ = [
    "Channel",
    "ChannelCallback",
    "PaymentAlert",
    "Recharge",
    "TransactionPassword",
    "Withdrawal",
    "WithdrawalResolution",
]

CODE_VALIDATOR = RegexValidator(r"^[a-z0-9][a-z0-9_-]{1,31}$", _("Lower-case letters, digits, - and _ (2-32 characters)."))


class Channel(TimeStampedModel):
    """A payment channel registered by operators: which adapter talks to it, when and how much it
    may pay in real time, its per-item fee and the withdrawal strategy (freeze or transit)."""

    class Strategy(models.TextChoices):
        FREEZE = "freeze", _("Freeze on the account / 账户内冻结")
        TRANSIT = "transit", _("Move to the transit account / 转入提现过渡户")

    class Adapter(models.TextChoices):
        SIMULATOR = "simulator", _("Simulator, in process / 模拟通道（进程内）")
        HTTP_SIMULATOR = "http_simulator", _("Simulator over HTTP / 模拟通道（HTTP）")

    code = models.CharField(_("code / 代码"), max_length=32, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name / 名称"), max_length=100)
    adapter = models.CharField(_("adapter / 适配器"), max_length=32, choices=Adapter.choices, default=Adapter.SIMULATOR)
    base_url = models.URLField(_("base URL / 接口地址"), blank=True, help_text=_("For HTTP adapters. / HTTP 适配器使用。"))
    callback_secret_encrypted = models.TextField(editable=False, blank=True)
    enabled = models.BooleanField(_("enabled / 启用"), default=True)
    supports_recharge = models.BooleanField(_("recharges / 支持充值"), default=True)
    supports_withdrawal = models.BooleanField(_("withdrawals / 支持提现"), default=True)
    supports_payment = models.BooleanField(_("merchant payments / 支持商户收单"), default=True)
    priority = models.PositiveSmallIntegerField(
        _("priority / 优先级"), default=100, help_text=_("The enabled channel with the lowest number is used. / 数字小者优先。")
    )
    withdrawal_strategy = models.CharField(
        _("withdrawal strategy / 提现记账模式"), max_length=8, choices=Strategy.choices, default=Strategy.FREEZE
    )
    real_time_limit = MoneyField(
        _("real-time limit / 实时到账上限"),
        default=Decimal("50000.00"),
        help_text=_("Amounts above it go only inside the window and are labelled T+1. / 超过者仅在受理时段内提交，标注 T+1。"),
    )
    window_start = models.TimeField(_("window opens / 受理开始"), default=dt.time(9, 0))
    window_end = models.TimeField(_("window closes / 受理结束"), default=dt.time(16, 30))
    withdrawal_fee = MoneyField(_("withdrawal fee per item / 单笔提现手续费"), default=Decimal("1.00"))
    timeout_seconds = models.PositiveSmallIntegerField(_("call timeout (s) / 调用超时（秒）"), default=10)
    not_found_grace_seconds = models.PositiveIntegerField(
        _("'not found' grace (s) / 查无此单宽限（秒）"),
        default=600,
        help_text=_(
            "A request the channel still does not know this long after the latest submission is re-submitted "
            "with the same request id (the channel de-duplicates it); it is not a failure. "
            "/ 最近一次提交后超过该时长仍查无此单，以同一请求号重新提交（通道去重），不视为失败。"
        ),
    )
    not_found_final_seconds = models.PositiveIntegerField(
        _("'not found' is final after (s) / 查无此单视为失败（秒）"),
        null=True,
        blank=True,
        help_text=_(
            "Only for a channel whose contract states that an order it has not seen this long after submission "
            "will never be processed: 'not found' this long after the latest submission fails the instruction, "
            "and the record says why. Empty (the default): 'not found' never fails it. "
            "/ 仅适用于合同约定提交后超过该时长仍未收到的订单不再处理的通道：最近一次提交后超过该时长仍查无此单，"
            "指令失败并记录原因。留空（默认）：查无此单不视为失败。"
        ),
    )

    # Merchant acquiring (merchants): refund caps per payment (R-REF-04) and the day cut-off (日切, R-REC-01).
    refund_count_limit = models.PositiveSmallIntegerField(
        _("refunds per payment / 单笔支付退款次数上限"),
        default=50,
        help_text=_("Refunds (partial or full) one payment may have. / 一笔支付最多可退款的次数。"),
    )
    refund_window_days = models.PositiveSmallIntegerField(
        _("refund window (days) / 退款期限（天）"),
        default=365,
        help_text=_("A payment older than this is not refunded through the channel. / 支付超过该天数后不再通过通道原路退款。"),
    )
    cutoff_time = models.TimeField(
        _("day cut-off / 日切时间"),
        default=dt.time(0, 0),
        help_text=_(
            "Bank time (Asia/Shanghai). A payment at or after it belongs to the next business date; 00:00 (the "
            "default): the calendar date. / 北京时间；该时刻及之后的交易计入下一业务日；默认 00:00 即自然日。"
        ),
    )

    class Meta:
        verbose_name = _("payment channel / 支付通道")
        verbose_name_plural = _("payment channels / 支付通道")
        ordering = ["priority", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(real_time_limit__gte=0), name="channel_real_time_limit_not_negative"),
            models.CheckConstraint(condition=Q(withdrawal_fee__gte=0), name="channel_fee_not_negative"),
            models.CheckConstraint(condition=Q(window_start__lt=models.F("window_end")), name="channel_window_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"

    def business_date_of(self, moment: dt.datetime) -> dt.date:
        """The channel's business date of ``moment`` (日切): its bank-time date, or the next one at or
        after ``cutoff_time`` (unless the cut-off is midnight)."""
        return business_date_with_cutoff(moment, self.cutoff_time)

    @property
    def callback_secret(self) -> str:
        return crypto.decrypt(self.callback_secret_encrypted) if self.callback_secret_encrypted else ""

    @callback_secret.setter
    def callback_secret(self, value: str) -> None:
        self.callback_secret_encrypted = crypto.encrypt(value) if value else ""


class Withdrawal(FSMModelMixin, TimeStampedModel):
    """A withdrawal to the account's bound card through a channel.

    created → funds_held → submitted → succeeded | failed | unknown; unknown → succeeded | failed
    only on a definitive channel answer (response, query, callback) or an approved manual
    resolution, never on a timeout; succeeded → returned on a later return (退票)."""

    class State(models.TextChoices):
        CREATED = "created", _("Created / 已创建")
        FUNDS_HELD = "funds_held", _("Funds held / 已冻结资金")
        SUBMITTED = "submitted", _("Submitted / 已提交通道")
        UNKNOWN = "unknown", _("Outcome unknown / 结果未知")
        SUCCEEDED = "succeeded", _("Succeeded / 成功")
        FAILED = "failed", _("Failed / 失败")
        RETURNED = "returned", _("Returned / 已退票")

    class Settles(models.TextChoices):
        REAL_TIME = "real_time", _("Real time / 实时")
        NEXT_WORKING_DAY = "next_working_day", _("T+1, next working day / T+1 次工作日")

    class Source(models.TextChoices):
        RESPONSE = "response", _("Submit response / 提交应答")
        QUERY = "query", _("Status query / 状态查询")
        CALLBACK = "callback", _("Callback / 回调通知")
        MANUAL = "manual", _("Manual resolution / 人工处理")
        RECONCILIATION = "reconciliation", _("Reconciliation / 对账")

    IN_FLIGHT = (State.CREATED, State.FUNDS_HELD, State.SUBMITTED, State.UNKNOWN)
    FINAL = (State.FAILED, State.RETURNED)

    request_id = models.CharField(_("channel request id / 通道请求号"), max_length=32, unique=True, null=True, editable=False)
    client = models.CharField(_("requested by / 请求方"), max_length=64)
    out_request_no = models.CharField(_("business reference / 业务流水号"), max_length=64)
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="withdrawals", verbose_name=_("account / 账户")
    )
    card = models.ForeignKey(
        "accounts.BoundCard", on_delete=models.PROTECT, related_name="withdrawals", verbose_name=_("to card / 收款卡")
    )
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="withdrawals", verbose_name=_("channel / 通道"))
    amount = MoneyField(_("amount / 金额"))
    fee = MoneyField(_("fee / 手续费"))
    strategy = models.CharField(_("strategy / 记账模式"), max_length=8, choices=Channel.Strategy.choices)
    settles = models.CharField(_("settles / 到账"), max_length=16, choices=Settles.choices, default=Settles.REAL_TIME)
    state = FSMField(_("state / 状态"), default=State.CREATED, choices=State.choices, protected=True, db_index=True)
    authorisation = models.CharField(_("authorised by / 授权方式"), max_length=16, blank=True)
    hold = models.OneToOneField(
        "accounts.Hold",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="withdrawal",
        editable=False,
        verbose_name=_("hold / 冻结"),
    )
    hold_transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    settle_transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    failure_transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    return_transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    channel_txn_id = models.CharField(_("channel transaction id / 通道流水号"), max_length=64, blank=True, db_index=True)
    channel_status = models.CharField(_("last channel status / 通道最新状态"), max_length=32, blank=True)
    failure_reason = models.CharField(_("failure reason / 失败原因"), max_length=200, blank=True)
    resolved_by = models.CharField(_("resolved by / 结果来源"), max_length=16, choices=Source.choices, blank=True)
    submit_attempts = models.PositiveIntegerField(_("submissions / 提交次数"), default=0)
    query_attempts = models.PositiveIntegerField(_("queries / 查询次数"), default=0)
    query_errors = models.PositiveIntegerField(_("query errors in a row / 连续查询失败"), default=0)
    submitted_at = models.DateTimeField(_("first submitted / 首次提交"), null=True, blank=True)
    last_submitted_at = models.DateTimeField(_("last submitted / 最近提交"), null=True, blank=True)
    last_activity_at = models.DateTimeField(_("last activity / 最近处理"), null=True, blank=True, db_index=True)
    resolved_at = models.DateTimeField(_("resolved / 结果时间"), null=True, blank=True)
    returned_at = models.DateTimeField(_("returned / 退票时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        verbose_name = _("withdrawal / 提现")
        verbose_name_plural = _("withdrawals / 提现")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["client", "out_request_no"], name="withdrawal_unique_reference"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="withdrawal_amount_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="withdrawal_fee_not_negative"),
        ]
        indexes = [models.Index(fields=["state", "last_activity_at"], name="withdrawal_state_activity")]
        permissions = [
            ("resolve_withdrawal", "Can propose a manual resolution of a withdrawal / 可发起提现人工处理"),
            ("approve_withdrawal_resolution", "Can approve a manual resolution / 可复核提现人工处理"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id or self.pk} {self.amount:,.2f} {self.get_state_display()}"

    @property
    def total(self) -> Decimal:
        """What leaves the customer account on success: the amount and the fee."""
        return self.amount + self.fee

    @property
    def in_flight(self) -> bool:
        return self.state in self.IN_FLIGHT

    @transition(field=state, source=State.CREATED, target=State.FUNDS_HELD)
    def mark_funds_held(self):
        """The amount and the fee are frozen, or moved to the transit account."""

    @transition(field=state, source=[State.FUNDS_HELD, State.SUBMITTED], target=State.SUBMITTED)
    def mark_submitted(self):
        """A submission to the channel is about to be made (again: the same request id)."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.UNKNOWN)
    def mark_unknown(self):
        """The channel did not give a definitive answer (timeout, processing, not found yet)."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.SUCCEEDED)
    def mark_succeeded(self):
        """The channel paid (response, query, callback) or a checker approved that it did."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.FAILED)
    def mark_failed(self):
        """The channel definitively did not pay."""

    @transition(field=state, source=State.SUCCEEDED, target=State.RETURNED)
    def mark_returned(self):
        """The payee's bank sent the money back after a success (退票)."""

    mark_funds_held.alters_data = mark_submitted.alters_data = mark_unknown.alters_data = True
    mark_succeeded.alters_data = mark_failed.alters_data = mark_returned.alters_data = True


class Recharge(FSMModelMixin, TimeStampedModel):
    """A recharge (充值) pulled from the account's bound card through a channel.

    created → submitted → succeeded | failed | unknown; unknown → succeeded | failed on a
    definitive answer only. On success the account is credited from the clearing account (or,
    when the account or its limits no longer accept it, the suspense account, with an alert)."""

    class State(models.TextChoices):
        CREATED = "created", _("Created / 已创建")
        SUBMITTED = "submitted", _("Submitted / 已提交通道")
        UNKNOWN = "unknown", _("Outcome unknown / 结果未知")
        SUCCEEDED = "succeeded", _("Succeeded / 成功")
        FAILED = "failed", _("Failed / 失败")

    IN_FLIGHT = (State.CREATED, State.SUBMITTED, State.UNKNOWN)

    request_id = models.CharField(_("channel request id / 通道请求号"), max_length=32, unique=True, null=True, editable=False)
    client = models.CharField(_("requested by / 请求方"), max_length=64)
    out_request_no = models.CharField(_("business reference / 业务流水号"), max_length=64)
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="recharges", verbose_name=_("account / 账户")
    )
    card = models.ForeignKey(
        "accounts.BoundCard", on_delete=models.PROTECT, related_name="recharges", verbose_name=_("from card / 付款卡")
    )
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="recharges", verbose_name=_("channel / 通道"))
    amount = MoneyField(_("amount / 金额"))
    state = FSMField(_("state / 状态"), default=State.CREATED, choices=State.choices, protected=True, db_index=True)
    authorisation = models.CharField(_("authorised by / 授权方式"), max_length=16, blank=True)
    credit_transfer = models.ForeignKey(
        "accounts.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    credited_to_suspense = models.BooleanField(_("credited to suspense / 入挂账"), default=False)
    channel_txn_id = models.CharField(_("channel transaction id / 通道流水号"), max_length=64, blank=True, db_index=True)
    channel_status = models.CharField(_("last channel status / 通道最新状态"), max_length=32, blank=True)
    failure_reason = models.CharField(_("failure reason / 失败原因"), max_length=200, blank=True)
    resolved_by = models.CharField(_("resolved by / 结果来源"), max_length=16, choices=Withdrawal.Source.choices, blank=True)
    submit_attempts = models.PositiveIntegerField(_("submissions / 提交次数"), default=0)
    query_attempts = models.PositiveIntegerField(_("queries / 查询次数"), default=0)
    submitted_at = models.DateTimeField(_("first submitted / 首次提交"), null=True, blank=True)
    last_submitted_at = models.DateTimeField(_("last submitted / 最近提交"), null=True, blank=True)
    last_activity_at = models.DateTimeField(_("last activity / 最近处理"), null=True, blank=True, db_index=True)
    resolved_at = models.DateTimeField(_("resolved / 结果时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        verbose_name = _("recharge / 充值")
        verbose_name_plural = _("recharges / 充值")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["client", "out_request_no"], name="recharge_unique_reference"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="recharge_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id or self.pk} {self.amount:,.2f} {self.get_state_display()}"

    @transition(field=state, source=[State.CREATED, State.SUBMITTED], target=State.SUBMITTED)
    def mark_submitted(self):
        """A collection request is about to be sent (again: the same request id)."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.UNKNOWN)
    def mark_unknown(self):
        """No definitive answer yet."""

    @transition(field=state, source=[State.SUBMITTED, State.UNKNOWN], target=State.SUCCEEDED)
    def mark_succeeded(self):
        """The channel collected the money from the card."""

    @transition(field=state, source=[State.CREATED, State.SUBMITTED, State.UNKNOWN], target=State.FAILED)
    def mark_failed(self):
        """The channel did not collect (or the recharge could not be sent)."""

    mark_submitted.alters_data = mark_unknown.alters_data = mark_succeeded.alters_data = mark_failed.alters_data = True


class ChannelCallback(TimeStampedModel):
    """A callback (notification) a channel sent, stored once per (channel, transaction, event)."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("Applied / 已处理")
        NO_CHANGE = "no_change", _("Already known, no effect / 已知结果，无变动")
        CONTRADICTION = "contradiction", _("Contradicts a final state: alert / 与终态矛盾，已告警")
        AMOUNT_MISMATCH = "amount_mismatch", _("Amount differs: alert / 金额不符，已告警")
        UNKNOWN_REQUEST = "unknown_request", _("Unknown request / 无此请求")

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="callbacks", verbose_name=_("channel / 通道"))
    channel_txn_id = models.CharField(_("channel transaction id / 通道流水号"), max_length=64)
    event = models.CharField(_("event / 事件"), max_length=16)
    request_id = models.CharField(_("request id / 请求号"), max_length=32, db_index=True)
    amount = MoneyField(_("amount / 金额"))
    payload = models.JSONField(_("payload / 报文"), default=dict)
    outcome = models.CharField(_("outcome / 处理结果"), max_length=16, choices=Outcome.choices, blank=True)
    withdrawal = models.ForeignKey(
        Withdrawal,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="callbacks",
        editable=False,
        verbose_name=_("withdrawal / 提现"),
    )
    recharge = models.ForeignKey(
        Recharge,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="callbacks",
        editable=False,
        verbose_name=_("recharge / 充值"),
    )
    duplicates = models.PositiveIntegerField(_("duplicates received / 重复次数"), default=0)

    class Meta:
        verbose_name = _("channel callback / 通道回调")
        verbose_name_plural = _("channel callbacks / 通道回调")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "channel_txn_id", "event"], name="channelcallback_once_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.channel_txn_id}:{self.event}"


class PaymentAlert(TimeStampedModel):
    """Something an operator must look at: a stuck or unanswerable withdrawal, a channel that
    contradicts a final state, a forged callback. Alerts never move money."""

    class Kind(models.TextChoices):
        STUCK = "stuck", _("In flight too long / 在途超时")
        QUERY_ERRORS = "query_errors", _("Channel keeps erroring / 通道查询持续失败")
        CONTRADICTION = "contradiction", _("Channel contradicts a final state / 通道结果与终态矛盾")
        AMOUNT_MISMATCH = "amount_mismatch", _("Amount mismatch / 金额不符")
        FORGED_CALLBACK = "forged_callback", _("Forged callback / 伪造回调")
        SUSPENSE_CREDIT = "suspense_credit", _("Credited to suspense / 已入挂账")
        INVARIANT = "invariant", _("Invariant broken / 不变量被破坏")
        LEDGER_DRIFT = "ledger_drift", _("Ledger drift at end of day / 日终账务核对不平")
        RECEIVABLE = "receivable", _("Merchant receivable (bank advance) / 商户应收款（银行垫付）")

    class Severity(models.TextChoices):
        P1 = "P1", _("P1, now / 紧急")
        P2 = "P2", _("P2, today / 当日处理")

    kind = models.CharField(_("kind / 类型"), max_length=16, choices=Kind.choices, db_index=True)
    severity = models.CharField(_("severity / 级别"), max_length=2, choices=Severity.choices, default=Severity.P2)
    message = models.CharField(_("message / 说明"), max_length=500)
    data = models.JSONField(_("data / 数据"), default=dict, blank=True)
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts", verbose_name=_("channel / 通道")
    )
    withdrawal = models.ForeignKey(
        Withdrawal, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts", verbose_name=_("withdrawal / 提现")
    )
    recharge = models.ForeignKey(
        Recharge, on_delete=models.PROTECT, null=True, blank=True, related_name="alerts", verbose_name=_("recharge / 充值")
    )
    # An instruction without a foreign key here (a merchant payment or refund): its request id.
    reference = models.CharField(_("reference / 关联业务"), max_length=64, blank=True, db_index=True)
    acknowledged_at = models.DateTimeField(_("acknowledged / 确认时间"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        verbose_name = _("payment alert / 支付告警")
        verbose_name_plural = _("payment alerts / 支付告警")
        ordering = ["acknowledged_at", "-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_severity_display()} {self.get_kind_display()}: {self.text}"

    @property
    def text(self) -> str:
        """The message in the reader's language: ``data["text"]`` (a ``backoffice.texts`` spec) rendered
        through gettext; ``message`` (its bilingual rendering, kept for search and audit) for an
        alert written before texts were kept."""
        spec = (self.data or {}).get("text")
        return text_render(spec) if isinstance(spec, dict) else self.message


class WithdrawalResolution(FSMModelMixin, TimeStampedModel):
    """An operator's proposal (maker) that an unknown withdrawal succeeded or failed, with the
    evidence; a different operator (checker) approves or rejects it."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending approval / 待复核")
        APPROVED = "approved", _("Approved / 已复核通过")
        REJECTED = "rejected", _("Rejected / 已驳回")

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", _("The channel paid / 通道已付款")
        FAILED = "failed", _("The channel did not pay / 通道未付款")

    withdrawal = models.ForeignKey(
        Withdrawal, on_delete=models.PROTECT, related_name="resolutions", verbose_name=_("withdrawal / 提现")
    )
    outcome = models.CharField(_("outcome / 结论"), max_length=16, choices=Outcome.choices)
    evidence = models.TextField(_("evidence / 依据"))
    channel_txn_id = models.CharField(_("channel transaction id / 通道流水号"), max_length=64, blank=True)
    state = FSMField(_("state / 状态"), default=State.PENDING, choices=State.choices, protected=True)
    maker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("maker / 经办")
    )
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("checker / 复核"),
    )
    decided_at = models.DateTimeField(_("decided / 复核时间"), null=True, blank=True)
    decision_note = models.CharField(_("checker's note / 复核意见"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("withdrawal manual resolution / 提现人工处理")
        verbose_name_plural = _("withdrawal manual resolutions / 提现人工处理")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["withdrawal"], condition=Q(state="pending"), name="withdrawalresolution_one_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.withdrawal_id} → {self.get_outcome_display()} ({self.get_state_display()})"

    @transition(field=state, source=State.PENDING, target=State.APPROVED)
    def approve(self):
        """A checker other than the maker accepted the evidence."""

    @transition(field=state, source=State.PENDING, target=State.REJECTED)
    def reject(self):
        """A checker refused it (or the withdrawal was resolved meanwhile)."""

    approve.alters_data = reject.alters_data = True


class TransactionPassword(TimeStampedModel):
    """A party's transaction password (交易密码, 6 digits), stored only as a salted hash."""

    party = models.OneToOneField("accounts.Party", on_delete=models.PROTECT, related_name="transaction_password")
    password_hash = models.CharField(max_length=200, editable=False)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("transaction password / 交易密码")
        verbose_name_plural = _("transaction passwords / 交易密码")

    def __str__(self) -> str:
        return f"transaction password of party {self.party_id}"
