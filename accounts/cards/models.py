"""Card binding and verification records: BIN table, bound cards, micro-deposits, one-time codes,
the simulator's SMS outbox and the working-day calendar.

Data and invariants only; every write goes through ``accounts/cards/services.py`` (money through
``accounts/ledger/postings.py``). Card numbers and mobiles are stored encrypted beside a keyed hash
(backoffice.crypto) and shown masked; CVN2 and expiry are never stored.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from backoffice import crypto
from backoffice.models import TimeStampedModel, operator_reference
from backoffice.money import MoneyField

__all__ = ["BinEntry", "BoundCard", "Holiday", "MicroDeposit", "OneTimeCode", "SmsMessage"]


class Holiday(TimeStampedModel):
    """A date that differs from the default calendar (Mon-Fri working, Sat-Sun off).

    ``is_working_day=False``: a public holiday on a weekday (or a listed weekend day of a holiday);
    ``is_working_day=True``: a weekend day worked in exchange (调休上班).
    """

    date = models.DateField(_("date / 日期"), unique=True)
    name = models.CharField(_("name / 名称"), max_length=64)
    is_working_day = models.BooleanField(_("working day / 是否上班"), default=False)

    class Meta:
        ordering = ["date"]
        verbose_name = _("holiday / 节假日")
        verbose_name_plural = _("holiday calendar / 节假日安排")

    def __str__(self) -> str:
        return f"{self.date} {self.name}{' (调休上班)' if self.is_working_day else ''}"


class CardType(models.TextChoices):
    DEBIT = "DC", _("Debit card / 储蓄卡")
    CREDIT = "CC", _("Credit card / 信用卡")
    SEMI_CREDIT = "SCC", _("Semi-credit card / 准贷记卡")
    PREPAID = "PC", _("Prepaid card / 预付费卡")


class BinEntry(TimeStampedModel):
    """One row of the BIN table (发卡行识别码): issuer and card type of the numbers with this prefix.

    Lookups take the longest matching prefix (8, then 7, then 6 digits).
    """

    CardType = CardType

    prefix = models.CharField(
        _("BIN prefix / 卡BIN"),
        max_length=8,
        unique=True,
        validators=[RegexValidator(r"^\d{6,8}$", _("A BIN prefix has 6 to 8 digits."))],
    )
    bank_name = models.CharField(_("issuer / 发卡行"), max_length=100)
    card_type = models.CharField(_("card type / 卡种"), max_length=3, choices=CardType.choices)
    card_length = models.PositiveSmallIntegerField(
        _("card length / 卡号长度"), validators=[MinValueValidator(15), MaxValueValidator(19)]
    )

    class Meta:
        ordering = ["prefix"]
        verbose_name = _("BIN entry / 卡BIN")
        verbose_name_plural = _("BIN table / 卡BIN表")
        constraints = [
            models.CheckConstraint(condition=Q(card_type__in=["DC", "CC", "SCC", "PC"]), name="binentry_card_type_valid"),
            models.CheckConstraint(condition=Q(card_length__gte=15) & Q(card_length__lte=19), name="binentry_length_range"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix} {self.bank_name} {self.card_type}/{self.card_length}"


class BoundCard(FSMModelMixin, TimeStampedModel):
    """A same-name bank card bound to an account (绑定卡): verifying → awaiting_micro_deposit →
    verified | failed | expired. Every transition is recorded in the audit log by the service.

    Kind ``corporate_account`` (对公结算账户): an organisation's settlement account at another bank,
    bound to its corporate account (a platform's own funds). No Luhn and no BIN (R-VER-03: entity
    account numbers have neither), the same name and credit code as the organisation; verified by a
    micro-deposit (verifying → awaiting_micro_deposit → verified) or by an operator other than the
    one who bound it (verifying → verified)."""

    class Kind(models.TextChoices):
        CARD = "card", _("Bank card / 银行卡")
        CORPORATE_ACCOUNT = "corporate_account", _("Corporate settlement account / 对公结算账户")

    class State(models.TextChoices):
        VERIFYING = "verifying", _("Verifying elements / 要素验证中")
        AWAITING_MICRO_DEPOSIT = "awaiting_micro_deposit", _("Awaiting micro-deposit / 待小额鉴权")
        VERIFIED = "verified", _("Verified / 已验证")
        FAILED = "failed", _("Failed / 验证失败")
        EXPIRED = "expired", _("Expired / 已过期")

    class BoundAccountKind(models.TextChoices):
        CLASS_I = "class_i", _("Class I account / 一类户")
        CREDIT_CARD = "credit_card", _("Credit-card account / 信用卡账户")
        CLASS_II_III = "class_ii_iii", _("Class II/III account / 二三类户")
        PAYMENT_ACCOUNT = "payment_account", _("Payment-institution account / 支付账户")
        CORPORATE = "corporate", _("Corporate settlement account / 对公结算账户")
        OTHER = "other", _("Other / 其他")

    class Purpose(models.TextChoices):
        RECHARGE_WITHDRAWAL = "recharge_withdrawal", _("Recharge and withdrawal card / 充值提现卡")
        VERIFICATION_ONLY = "verification_only", _("Identity verification only / 仅身份验证")

    class Verifier(models.TextChoices):
        BOUND_BANK = "bound_bank", _("The bound account's bank / 绑定账户开户行")
        THIRD_PARTY = "third_party", _("A third party / 第三方机构")

    LIVE_STATES = (State.VERIFYING, State.AWAITING_MICRO_DEPOSIT, State.VERIFIED)

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="bound_cards", verbose_name=_("account / 账户")
    )
    kind = models.CharField(_("kind / 类型"), max_length=20, choices=Kind.choices, default=Kind.CARD, editable=False)
    card_number_encrypted = models.TextField(_("card number (encrypted) / 卡号（密文）"), editable=False)
    card_number_hash = models.CharField(max_length=64, db_index=True, editable=False)
    last4 = models.CharField(_("last four digits / 卡号后四位"), max_length=4, editable=False)
    first4 = models.CharField(max_length=4, editable=False)
    bin_prefix = models.CharField(_("BIN / 卡BIN"), max_length=8, blank=True, editable=False)
    bank_name = models.CharField(_("issuer / 发卡行"), max_length=100, blank=True)
    card_type = models.CharField(_("card type / 卡种"), max_length=3, choices=CardType.choices, blank=True)
    holder_name = models.CharField(_("holder name / 持卡人"), max_length=200)
    holder_id_hash = models.CharField(max_length=64, editable=False)
    reserved_mobile_encrypted = models.TextField(_("reserved mobile (encrypted) / 预留手机号（密文）"), editable=False)
    reserved_mobile_hash = models.CharField(max_length=64, db_index=True, editable=False)
    bound_account_kind = models.CharField(_("bound account kind / 绑定账户类型"), max_length=16, choices=BoundAccountKind.choices)
    purpose = models.CharField(_("purpose / 用途"), max_length=24, choices=Purpose.choices, default=Purpose.RECHARGE_WITHDRAWAL)
    elements = models.PositiveSmallIntegerField(_("verification elements / 验证要素数"), default=4)
    verifier = models.CharField(_("verified by / 验证方"), max_length=16, choices=Verifier.choices, blank=True)
    verification_result = models.CharField(_("element check result / 要素验证结果"), max_length=16, blank=True)
    warnings = models.JSONField(_("warnings / 提示"), default=list, blank=True)
    failure_reason = models.CharField(_("failure reason / 失败原因"), max_length=64, blank=True)
    state = FSMField(_("state / 状态"), default=State.VERIFYING, choices=State.choices, protected=True)
    verified_at = models.DateTimeField(_("verified at / 验证时间"), null=True, blank=True)
    # Corporate accounts (kind corporate_account): who bound it, and the operator who verified it.
    bound_by = operator_reference(_("bound by / 绑定经办"), editable=False)
    verified_by = operator_reference(_("verified by operator / 核实人"), editable=False)

    class Meta:
        verbose_name = _("bound card / 绑定卡")
        verbose_name_plural = _("bound cards / 绑定卡")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "card_number_hash"],
                condition=Q(state__in=["verifying", "awaiting_micro_deposit", "verified"]),
                name="boundcard_unique_live_card",
            ),
            models.CheckConstraint(condition=Q(elements__in=[4, 5]), name="boundcard_elements_4_or_5"),
        ]
        indexes = [models.Index(fields=["account", "state"], name="boundcard_account_state")]

    def __str__(self) -> str:
        return f"{self.card_number_masked} {self.bank_name} {self.get_state_display()}"

    # -- personal data: encrypted at rest, masked when shown --------------------------------
    @property
    def card_number(self) -> str:
        return crypto.decrypt(self.card_number_encrypted)

    @property
    def reserved_mobile(self) -> str:
        return crypto.decrypt(self.reserved_mobile_encrypted)

    @property
    def card_number_masked(self) -> str:
        """``6228 **** **** 0018``, built from the stored first and last four digits (no decryption)."""
        return f"{self.first4} **** **** {self.last4}"

    @property
    def reserved_mobile_masked(self) -> str:
        return crypto.mask_mobile(self.reserved_mobile)

    # -- transitions (state only; services save, post and audit) ------------------------------
    @transition(field=state, source=State.VERIFYING, target=State.AWAITING_MICRO_DEPOSIT)
    def elements_confirmed(self):
        """The bound account's bank confirmed the elements; a micro-deposit follows."""

    @transition(field=state, source=State.VERIFYING, target=State.FAILED)
    def elements_rejected(self):
        """The elements were refused, not confirmed by the bound bank, or the answer was unknown."""

    @transition(field=state, source=State.VERIFYING, target=State.AWAITING_MICRO_DEPOSIT)
    def corporate_details_checked(self):
        """A corporate account's name and credit code are the organisation's: a micro-deposit follows."""

    @transition(field=state, source=State.VERIFYING, target=State.VERIFIED)
    def operator_verified(self):
        """An operator (not the one who bound it) confirmed the corporate account from documents."""

    @transition(field=state, source=State.AWAITING_MICRO_DEPOSIT, target=State.VERIFIED)
    def micro_deposit_verified(self):
        """The holder back-filled the right amount: the card is verified."""

    @transition(field=state, source=State.AWAITING_MICRO_DEPOSIT, target=State.FAILED)
    def micro_deposit_failed(self):
        """The back-fill attempts are used up."""

    @transition(field=state, source=State.AWAITING_MICRO_DEPOSIT, target=State.EXPIRED)
    def micro_deposit_expired(self):
        """The back-fill window passed."""

    for _method in (
        elements_confirmed,
        elements_rejected,
        corporate_details_checked,
        operator_verified,
        micro_deposit_verified,
        micro_deposit_failed,
        micro_deposit_expired,
    ):
        _method.alters_data = True
    del _method


class MicroDeposit(FSMModelMixin, TimeStampedModel):
    """One micro-deposit (小额鉴权, DOMAIN.md §2.2) sent to a card being bound.

    init ─submit─► send_unknown ─accepted─► sent ─ack─► awaiting_backfill ─► verified | failed | expired
                        └─ failed ─► send_failed

    ``send_unknown`` is entered *before* the channel is called: a submission whose answer never
    arrived (a timeout, a crash) is therefore never re-sent, only queried (R-VER-07). ``sent_on``
    is the business date of the submission; one per account per day (a unique constraint).
    """

    class State(models.TextChoices):
        INIT = "init", _("Created / 已创建")
        SEND_UNKNOWN = "send_unknown", _("Send outcome unknown / 发送结果未知")
        SENT = "sent", _("Sent / 已打款")
        AWAITING_BACKFILL = "awaiting_backfill", _("Awaiting back-fill / 待回填")
        VERIFIED = "verified", _("Verified / 验证成功")
        FAILED = "failed", _("Failed / 验证失败")
        EXPIRED = "expired", _("Expired / 已过期")
        SEND_FAILED = "send_failed", _("Send failed / 打款失败")

    LIVE_STATES = (State.INIT, State.SEND_UNKNOWN, State.SENT, State.AWAITING_BACKFILL)

    card = models.ForeignKey(BoundCard, on_delete=models.PROTECT, related_name="micro_deposits", verbose_name=_("card / 卡"))
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="micro_deposits", verbose_name=_("account / 账户")
    )
    amount = MoneyField(_("amount / 金额"))
    request_id = models.CharField(_("request id / 请求流水号"), max_length=32, blank=True)
    state = FSMField(_("state / 状态"), default=State.INIT, choices=State.choices, protected=True)
    attempts = models.PositiveSmallIntegerField(_("back-fill attempts / 回填次数"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("allowed attempts / 允许回填次数"), default=3)
    sent_on = models.DateField(_("sent on / 打款日期"), null=True, blank=True)
    not_before = models.DateField(_("not before / 最早打款日期"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted at / 提交时间"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at / 渠道受理时间"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at / 到期时间"), db_index=True)
    query_attempts = models.PositiveSmallIntegerField(_("status queries / 查询次数"), default=0)
    transfer = models.OneToOneField(
        "accounts.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="micro_deposit",
        verbose_name=_("voucher / 凭证"),
    )

    class Meta:
        verbose_name = _("micro-deposit / 小额鉴权")
        verbose_name_plural = _("micro-deposits / 小额鉴权")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="microdeposit_amount_positive"),
            models.UniqueConstraint(fields=["request_id"], condition=~Q(request_id=""), name="microdeposit_unique_request_id"),
            models.UniqueConstraint(
                fields=["account", "sent_on"], condition=Q(sent_on__isnull=False), name="microdeposit_one_send_per_account_day"
            ),
            models.UniqueConstraint(
                fields=["card"],
                condition=Q(state__in=["init", "send_unknown", "sent", "awaiting_backfill"]),
                name="microdeposit_one_live_per_card",
            ),
        ]
        indexes = [models.Index(fields=["state", "expires_at"], name="microdeposit_state_expiry")]

    def __str__(self) -> str:
        return f"{self.request_id or self.pk} {self.get_state_display()}"

    @property
    def attempts_left(self) -> int:
        return max(self.max_attempts - self.attempts, 0)

    @transition(field=state, source=State.INIT, target=State.SEND_UNKNOWN)
    def submit(self):
        """The send is recorded before the channel is called; until an answer it is unknown."""

    @transition(field=state, source=State.SEND_UNKNOWN, target=State.SENT)
    def accept(self):
        """The channel accepted the payment (by its response or a status query)."""

    @transition(field=state, source=State.SENT, target=State.AWAITING_BACKFILL)
    def acknowledge(self):
        """The holder was told; the back-fill window runs."""

    @transition(field=state, source=State.SEND_UNKNOWN, target=State.SEND_FAILED)
    def send_fail(self):
        """The channel refused the payment, or a query found it failed: no money moved."""

    @transition(field=state, source=State.AWAITING_BACKFILL, target=State.VERIFIED)
    def verify(self):
        """The back-filled amount matched."""

    @transition(field=state, source=State.AWAITING_BACKFILL, target=State.FAILED)
    def fail(self):
        """The last allowed back-fill attempt was wrong."""

    @transition(field=state, source=[State.INIT, State.SENT, State.AWAITING_BACKFILL], target=State.EXPIRED)
    def expire(self):
        """The window passed without a correct back-fill."""

    for _method in (submit, accept, acknowledge, send_fail, verify, fail, expire):
        _method.alters_data = True
    del _method


class OneTimeCode(TimeStampedModel):
    """A one-time code (短信验证码) sent to a holder's mobile; works once, until ``expires_at``.

    Only a keyed hash of the code is kept (backoffice.crypto.blind_index over a per-code salt).
    """

    class Purpose(models.TextChoices):
        CARD_BIND = "card_bind", _("Card binding / 绑卡")
        RECHARGE = "recharge", _("Recharge / 充值")
        WITHDRAWAL = "withdrawal", _("Withdrawal / 提现")
        INSTRUCTION = "instruction", _("Instruction / 交易指令")

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.PROTECT, related_name="one_time_codes", verbose_name=_("account / 账户")
    )
    purpose = models.CharField(_("purpose / 用途"), max_length=16, choices=Purpose.choices)
    salt = models.CharField(max_length=32, editable=False)
    code_hash = models.CharField(max_length=64, editable=False)
    mobile_masked = models.CharField(_("mobile / 手机号"), max_length=20)
    sent_at = models.DateTimeField(_("sent at / 发送时间"))
    expires_at = models.DateTimeField(_("expires at / 到期时间"))
    used_at = models.DateTimeField(_("used at / 使用时间"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("superseded at / 作废时间"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("wrong attempts / 错误次数"), default=0)

    class Meta:
        verbose_name = _("one-time code / 短信验证码")
        verbose_name_plural = _("one-time codes / 短信验证码")
        indexes = [models.Index(fields=["account", "purpose", "sent_at"], name="otp_account_purpose_sent")]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("sent_at")), name="onetimecode_expiry_after_send")
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.mobile_masked} {self.sent_at:%Y-%m-%d %H:%M:%S}"


class SmsMessage(models.Model):
    """The simulator's SMS outbox: what would have been texted, to a masked mobile.

    It stands in for an SMS gateway in tests and the demo (the console shows it). The text of a
    one-time-code message holds the code, as the real SMS would.
    """

    created_at = models.DateTimeField(_("sent at / 发送时间"), db_index=True)
    account = models.ForeignKey(
        "accounts.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sms_messages",
        verbose_name=_("account / 账户"),
    )
    mobile_masked = models.CharField(_("mobile / 手机号"), max_length=20)
    mobile_hash = models.CharField(max_length=64, db_index=True, editable=False)
    purpose = models.CharField(_("purpose / 用途"), max_length=24)
    text = models.TextField(_("text / 内容"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("SMS (simulator) / 短信（模拟）")
        verbose_name_plural = _("SMS outbox (simulator) / 短信发件箱（模拟）")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.mobile_masked} {self.purpose}"
