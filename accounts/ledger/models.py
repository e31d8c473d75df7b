"""The double-entry ledger's records: the chart's subjects, accounts, vouchers, entries and holds.

Data and invariants only: every write of a balance goes through ``accounts.ledger.postings``;
accounts are created by ``accounts.ledger.services`` and moved between states by
``accounts.states.services``. The ledger tables are append-only: entries and vouchers are never
updated or deleted (``on_delete=PROTECT`` everywhere, no admin change).
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from accounts.ledger.chart import CREDIT, DEBIT, ROLE_CHART, ROLE_CHOICES
from backoffice.checkdigits import luhn_check_digit
from backoffice.models import TimeStampedModel
from backoffice.money import MoneyField

SIDE_CHOICES = [(DEBIT, _("Debit / 借")), (CREDIT, _("Credit / 贷"))]


def account_number_is_valid(number: str) -> bool:
    return number.isdigit() and len(number) == 16 and luhn_check_digit(number[:-1]) == number[-1]


def new_account_number(*, internal: bool) -> str:
    """16 digits: a 5-digit prefix (customer 62300, internal 99900), 10 random digits, a check digit."""
    body = ("99900" if internal else "62300") + f"{secrets.randbelow(10**10):010d}"
    return body + luhn_check_digit(body)


class Subject(models.Model):
    """An accounting subject (会计科目) of the bank's chart."""

    code = models.CharField(_("code / 科目代码"), max_length=16, primary_key=True)
    name_zh = models.CharField(_("Chinese name / 中文名称"), max_length=64)
    name_en = models.CharField(_("English name / 英文名称"), max_length=64)
    category = models.CharField(_("category / 类别"), max_length=16)
    normal_side = models.CharField(_("normal side / 余额方向"), max_length=1, choices=SIDE_CHOICES)

    class Meta:
        ordering = ["code"]
        verbose_name = _("accounting subject / 会计科目")
        verbose_name_plural = _("chart of accounts / 会计科目表")

    def __str__(self) -> str:
        return f"{self.code} {self.name_zh} / {self.name_en}"


class Account(FSMModelMixin, TimeStampedModel):
    """An account at the bank. ``balance`` is on the account's normal side; ``available = balance - frozen``.

    Both stored amounts are written only by ``accounts.ledger.postings`` and are re-derivable from entries
    and active holds (``manage.py ledger_check``).
    """

    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("Customer / 客户账户")
        INTERNAL = "internal", _("Internal / 内部账户")

    class Tier(models.TextChoices):
        CLASS_I = "I", _("Class I / 一类户")
        CLASS_II = "II", _("Class II / 二类户")
        CLASS_III = "III", _("Class III / 三类户")
        CORPORATE = "corporate", _("Corporate / 对公")
        DEPOSITORY = "depository", _("Depository sub-account / 存管子账户")
        INTERNAL = "internal", _("Internal / 内部")

    class State(models.TextChoices):
        PENDING_VERIFICATION = "pending_verification", _("Pending verification / 待验证")
        ACTIVE = "active", _("Active / 正常")
        NON_COUNTER_SUSPENDED = "non_counter_suspended", _("Non-counter suspended / 暂停非柜面")
        FROZEN = "frozen", _("Frozen / 冻结")
        DORMANT = "dormant", _("Dormant / 睡眠")
        CLOSED = "closed", _("Closed / 已销户")
        DEEMED_CLOSED = "deemed_closed", _("Deemed closed, funds to dormant unclaimed / 视同自愿销户")

    # Inflows (credits to a customer account) are accepted in these states, outflows only when active;
    # a counter outflow (the holder present at the counter, R-ACC-16) also from non_counter_suspended.
    INFLOW_STATES = (State.ACTIVE, State.NON_COUNTER_SUSPENDED, State.FROZEN, State.DORMANT)
    OUTFLOW_STATES = (State.ACTIVE,)
    COUNTER_OUTFLOW_STATES = (*OUTFLOW_STATES, State.NON_COUNTER_SUSPENDED)

    number = models.CharField(_("number / 账号"), max_length=16, unique=True, editable=False)
    name = models.CharField(_("name / 户名"), max_length=200)
    party = models.ForeignKey(
        "accounts.Party", null=True, blank=True, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("party / 客户")
    )
    kind = models.CharField(_("kind / 类型"), max_length=16, choices=Kind.choices, editable=False)
    tier = models.CharField(_("tier / 账户类别"), max_length=16, choices=Tier.choices, editable=False)
    role = models.CharField(_("role / 用途"), max_length=32, choices=ROLE_CHOICES, editable=False, db_index=True)
    # Whose books the account belongs to: "" the bank's; "platform:<code>" a P2P platform's own
    # accounts and its clients' depository sub-accounts (custody); later "merchant:<id>". A platform's
    # internal suspense and transit accounts carry its owner: internal accounts are unique on (role, owner).
    owner = models.CharField(_("owner / 归属"), max_length=40, blank=True, default="", editable=False, db_index=True)
    subject = models.ForeignKey(
        Subject, on_delete=models.PROTECT, related_name="accounts", editable=False, verbose_name=_("subject / 科目")
    )
    normal_side = models.CharField(_("normal side / 余额方向"), max_length=1, choices=SIDE_CHOICES, editable=False)
    currency = models.CharField(_("currency / 币种"), max_length=3, default="CNY", editable=False)
    state = FSMField(_("state / 状态"), default=State.ACTIVE, choices=State.choices, protected=True)
    balance = MoneyField(_("balance / 余额"), editable=False)
    frozen = MoneyField(_("frozen / 冻结金额"), editable=False)
    # Tier-limit capabilities (accounts.limits.services, R-ACC-09/12): recorded by services, read by the guard.
    face_to_face_verified = models.BooleanField(_("identity confirmed face to face / 已面对面核实身份"), default=False)
    face_to_face_verified_at = models.DateTimeField(_("face-to-face confirmed at / 面核时间"), null=True, blank=True)
    verifying_inflow_at = models.DateTimeField(
        _("verifying inflow from bound account at / 绑定账户验证入金时间"), null=True, blank=True
    )
    class3_non_bound_inflow_enabled = models.BooleanField(_("non-bound inflow consented / 已同意接受非绑定转入"), default=False)
    non_bound_inflow_consent_at = models.DateTimeField(_("non-bound inflow consent at / 同意时间"), null=True, blank=True)
    # Judicial freezes (accounts.states.freezes) in force that block outflows / inflows; maintained by
    # the freeze service under the account lock, read by accounts.ledger.postings._check_state.
    judicial_debit_blocks = models.PositiveIntegerField(_("judicial debit blocks / 司法止付数"), default=0, editable=False)
    judicial_credit_blocks = models.PositiveIntegerField(_("judicial credit blocks / 司法止收数"), default=0, editable=False)
    # Last identity re-verification or counter reactivation (accounts.states.dormancy): counts as activity.
    identity_reverified_at = models.DateTimeField(_("identity re-verified at / 重新核实身份时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("account / 账户")
        verbose_name_plural = _("accounts / 账户")
        constraints = [
            models.CheckConstraint(condition=Q(frozen__gte=0), name="account_frozen_not_negative"),
            models.CheckConstraint(
                condition=Q(kind="internal") | Q(balance__gte=F("frozen")), name="account_customer_available_not_negative"
            ),
            models.CheckConstraint(condition=Q(kind="internal") | Q(party__isnull=False), name="account_customer_has_party"),
            models.CheckConstraint(condition=Q(currency="CNY"), name="account_currency_cny"),
            models.UniqueConstraint(
                fields=["role", "owner"], condition=Q(kind="internal"), name="account_internal_unique_role_owner"
            ),
        ]
        permissions = [("change_account_state", "Can change an account's state through its actions")]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    @classmethod
    def outflow_states(cls, channel: str) -> tuple[str, ...]:
        """The states an outflow through ``channel`` (``Transfer.Channel``) may leave: R-ACC-16."""
        return cls.COUNTER_OUTFLOW_STATES if channel == Transfer.Channel.COUNTER else cls.OUTFLOW_STATES

    @property
    def available(self):
        return self.balance - self.frozen

    @property
    def may_overdraw(self) -> bool:
        return ROLE_CHART[self.role].may_overdraw

    @property
    def is_internal(self) -> bool:
        return self.kind == self.Kind.INTERNAL

    def apply(self, side: str, amount) -> None:
        """Move the stored balance by one leg, on the account's normal side. No save."""
        if side == self.normal_side:
            self.balance = self.balance + amount
        else:
            self.balance = self.balance - amount

    apply.alters_data = True

    # -- conditions --------------------------------------------------------------------
    def is_empty(self) -> bool:
        """Condition: no balance and nothing frozen."""
        return self.balance == 0 and self.frozen == 0

    # -- transitions (state only; services save, post and audit) -----------------------
    @transition(field=state, source=State.PENDING_VERIFICATION, target=State.ACTIVE)
    def activate(self):
        """Verification succeeded: the account may be used."""

    @transition(field=state, source=[State.ACTIVE, State.DORMANT, State.NON_COUNTER_SUSPENDED], target=State.FROZEN)
    def freeze(self):
        """Whole-account freeze (只收不付): inflows accepted, outflows refused."""

    @transition(field=state, source=State.FROZEN, target=State.ACTIVE)
    def unfreeze(self):
        """The whole-account freeze is lifted."""

    @transition(field=state, source=State.ACTIVE, target=State.DORMANT)
    def mark_dormant(self):
        """The dormancy policy found no customer activity."""

    @transition(field=state, source=State.DORMANT, target=State.ACTIVE)
    def reactivate(self):
        """The holder reactivated a dormant account at the counter."""

    @transition(field=state, source=State.ACTIVE, target=State.NON_COUNTER_SUSPENDED)
    def suspend_non_counter(self):
        """No transaction within the period after opening: non-counter channels refused."""

    @transition(field=state, source=State.NON_COUNTER_SUSPENDED, target=State.ACTIVE)
    def restore_non_counter(self):
        """Identity re-verified: non-counter channels allowed again."""

    @transition(
        field=state, source=[State.ACTIVE, State.DORMANT, State.NON_COUNTER_SUSPENDED], target=State.CLOSED, conditions=[is_empty]
    )
    def close(self):
        """Closed with zero balance and nothing frozen; a closed account never moves again."""

    @transition(
        field=state,
        source=[State.ACTIVE, State.DORMANT, State.NON_COUNTER_SUSPENDED],
        target=State.DEEMED_CLOSED,
        conditions=[is_empty],
    )
    def deem_closed(self):
        """Entity account 30 days past its dormancy notice: deemed closed once its money is swept to 久悬未取专户."""

    for _method in (
        activate,
        freeze,
        unfreeze,
        mark_dormant,
        reactivate,
        suspend_non_counter,
        restore_non_counter,
        close,
        deem_closed,
    ):
        _method.alters_data = True
    del _method


class Transfer(TimeStampedModel):
    """A voucher (记账凭证): one business event whose entries' debits equal its credits."""

    class Channel(models.TextChoices):
        """Where the holder instructed the movement (R-ACC-16): at the bank's counter, with the
        holder present and identified by an operator, or anywhere else (API, portal, automatic)."""

        COUNTER = "counter", _("Counter / 柜面")
        NON_COUNTER = "non_counter", _("Non-counter / 非柜面")

    kind = models.CharField(_("kind / 业务类型"), max_length=32, db_index=True)
    client = models.CharField(_("client / 请求方"), max_length=64)
    idempotency_key = models.CharField(_("idempotency key / 幂等键"), max_length=255)
    fingerprint = models.CharField(_("request fingerprint / 请求指纹"), max_length=64)
    amount = MoneyField(_("amount / 金额"))
    memo = models.CharField(_("memo / 摘要"), max_length=200, blank=True)
    metadata = models.JSONField(_("metadata / 附加信息"), default=dict, blank=True)
    # The database default keeps rows inserted by raw SQL (and every row before 0015) non-counter.
    channel = models.CharField(
        _("channel / 渠道"),
        max_length=16,
        choices=Channel.choices,
        default=Channel.NON_COUNTER,
        db_default=Channel.NON_COUNTER,
    )
    reversal_of = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversal",
        verbose_name=_("reversal of / 冲正原凭证"),
    )

    class Meta:
        verbose_name = _("voucher / 凭证")
        verbose_name_plural = _("vouchers / 凭证")
        constraints = [
            models.UniqueConstraint(fields=["client", "idempotency_key"], name="transfer_unique_idempotency_key"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.amount:,.2f}"


class Entry(models.Model):
    """One posting of a voucher. Append-only: never updated, never deleted."""

    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="entries", verbose_name=_("voucher / 凭证"))
    # No index of its own: entry_account_time (account, created_at) serves every lookup by account (one index fewer
    # to write per entry).
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", verbose_name=_("account / 账户"), db_index=False
    )
    side = models.CharField(_("side / 借贷"), max_length=1, choices=SIDE_CHOICES)
    amount = MoneyField(_("amount / 金额"))
    balance_after = MoneyField(_("balance after / 余额"))
    subject = models.CharField(_("subject / 科目"), max_length=16)
    created_at = models.DateTimeField(_("posted at / 记账时间"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("entry / 分录")
        verbose_name_plural = _("entries / 分录")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="entry_amount_positive"),
            models.CheckConstraint(condition=Q(side__in=[DEBIT, CREDIT]), name="entry_side_valid"),
        ]
        indexes = [models.Index(fields=["account", "created_at"], name="entry_account_time")]

    def __str__(self) -> str:
        return f"{self.get_side_display()} {self.amount}"


class Hold(FSMModelMixin, TimeStampedModel):
    """A freeze of part of an account's money (冻结): active → released | captured | expired."""

    class Reason(models.TextChoices):
        WITHDRAWAL = "withdrawal", _("Withdrawal / 提现")
        BID = "bid", _("Bid / 投标")
        JUDICIAL = "judicial", _("Judicial / 司法冻结")
        RISK = "risk", _("Risk control / 风控")
        PARTNER = "partner", _("Partner instruction / 合作方指令")
        MARGIN = "margin", _("Platform margin / 保证金")
        OTHER = "other", _("Other / 其他")

    class State(models.TextChoices):
        ACTIVE = "active", _("Active / 冻结中")
        RELEASED = "released", _("Released / 已解冻")
        CAPTURED = "captured", _("Captured / 已扣划")
        EXPIRED = "expired", _("Expired / 已过期")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds", verbose_name=_("account / 账户"))
    amount = MoneyField(_("amount / 金额"))
    captured_amount = MoneyField(_("captured / 扣划金额"))
    reason = models.CharField(_("reason / 原因"), max_length=16, choices=Reason.choices)
    reference = models.CharField(_("reference / 业务参考号"), max_length=100, blank=True)
    client = models.CharField(_("client / 请求方"), max_length=64)
    idempotency_key = models.CharField(_("idempotency key / 幂等键"), max_length=255)
    fingerprint = models.CharField(max_length=64)
    end_client = models.CharField(_("ended by client / 解冻请求方"), max_length=64, blank=True)
    end_key = models.CharField(_("end idempotency key / 解冻幂等键"), max_length=255, blank=True)
    end_fingerprint = models.CharField(max_length=64, blank=True)
    state = FSMField(_("state / 状态"), default=State.ACTIVE, choices=State.choices, protected=True)
    expires_at = models.DateTimeField(_("expires at / 到期时间"), null=True, blank=True, db_index=True)
    ended_at = models.DateTimeField(_("ended at / 结束时间"), null=True, blank=True)
    capture_transfer = models.OneToOneField(
        Transfer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="captured_hold",
        verbose_name=_("capture voucher / 扣划凭证"),
    )

    class Meta:
        verbose_name = _("hold / 冻结")
        verbose_name_plural = _("holds / 冻结")
        constraints = [
            models.UniqueConstraint(fields=["client", "idempotency_key"], name="hold_unique_idempotency_key"),
            models.UniqueConstraint(fields=["end_client", "end_key"], condition=~Q(end_key=""), name="hold_unique_end_key"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=Q(captured_amount__gte=0) & Q(captured_amount__lte=F("amount")), name="hold_captured_within_amount"
            ),
        ]
        indexes = [models.Index(fields=["account", "state"], name="hold_account_state")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.amount:,.2f} {self.get_state_display()}"

    @transition(field=state, source=State.ACTIVE, target=State.RELEASED)
    def release(self):
        """The money is unfrozen and available again."""

    @transition(field=state, source=State.ACTIVE, target=State.CAPTURED)
    def capture(self):
        """The held money (all or part) is debited; any remainder is released."""

    @transition(field=state, source=State.ACTIVE, target=State.EXPIRED)
    def expire(self):
        """The hold reached its expiry and its money is unfrozen."""

    release.alters_data = capture.alters_data = expire.alters_data = True


class LedgerCheckpoint(models.Model):
    """A checkpointed daily trial balance (日终试算检查点): the cumulative debit and credit turnover
    of every account over the entries posted before ``cut_at`` (the start of the business day
    after ``business_date``, Asia/Shanghai), one ``CheckpointBalance`` row per account and subject.

    Written by the end-of-day run only after a clean check (``accounts.ledger.checks``), from the
    previous checkpoint plus the entries between the two cuts; never updated. ``ledger_check``
    verifies the entries after the last checkpoint and the checkpoint's own consistency;
    ``ledger_check --full`` re-derives everything from the entries, as without checkpoints.
    """

    business_date = models.DateField(_("business date / 会计日期"), unique=True)
    cut_at = models.DateTimeField(_("entries before / 截止时间"))
    entries = models.PositiveBigIntegerField(_("entries / 分录数"), default=0)
    last_transfer_id = models.BigIntegerField(_("last voucher / 最后凭证"), default=0)
    total_debit = MoneyField(_("total debit / 借方发生额合计"))
    total_credit = MoneyField(_("total credit / 贷方发生额合计"))
    created_at = models.DateTimeField(_("written at / 生成时间"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-business_date"]
        verbose_name = _("ledger checkpoint / 日终试算检查点")
        verbose_name_plural = _("ledger checkpoints / 日终试算检查点")

    def __str__(self) -> str:
        return f"{self.business_date.isoformat()} ({self.entries:,})"


class CheckpointBalance(models.Model):
    """One account's cumulative turnover on one subject up to a checkpoint's cut (its closing
    balance is the difference, on the account's normal side)."""

    checkpoint = models.ForeignKey(
        LedgerCheckpoint, on_delete=models.CASCADE, related_name="balances", verbose_name=_("checkpoint / 检查点")
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("account / 账户"))
    subject = models.CharField(_("subject / 科目"), max_length=16)
    debit = MoneyField(_("debit turnover / 借方累计发生额"))
    credit = MoneyField(_("credit turnover / 贷方累计发生额"))
    entries = models.PositiveBigIntegerField(_("entries / 分录数"), default=0)

    class Meta:
        verbose_name = _("checkpoint balance / 检查点余额")
        verbose_name_plural = _("checkpoint balances / 检查点余额")
        constraints = [
            models.UniqueConstraint(fields=["checkpoint", "account", "subject"], name="checkpoint_balance_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.checkpoint_id} {self.account_id} {self.subject}"
