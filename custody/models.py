"""The P2P depository (资金存管) records: lending platforms, their documents and their clients'
depository sub-accounts (存管子账户).

Data and invariants only; written by ``custody.services``. Money lives in ``accounts``' ledger:
a sub-account is an ``accounts.Account`` of tier ``depository`` in the platform's books
(``owner="platform:<code>"``); the platform's own funds (自有资金) are a corporate account of role
``platform_own`` in the same books, its margin (保证金) a hold (reason ``margin``) on them.
The special account (汇总账户) is an aggregate, not a posted account: Σ the platform's sub-accounts
+ its in-flight withdrawals (its own transit account) + its unidentified inflows (its own suspense).
"""

from __future__ import annotations

import os
import re
import uuid

from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import Q
from django.utils.deconstruct import deconstructible
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from backoffice.models import TimeStampedModel, operator_reference
from custody import conf

PLATFORM_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,19}$")
OWNER_PREFIX = "platform:"


def platform_owner(code: str) -> str:
    """The ``Account.owner`` (and API scope) of a platform's books: ``platform:<code>``."""
    return f"{OWNER_PREFIX}{code}"


@deconstructible
class PrivateDocumentStorage(FileSystemStorage):
    """A folder that no URL serves (``url()`` refuses): staff read the files through the console."""

    def __init__(self):
        super().__init__(base_url=None)

    @property
    def base_location(self):  # read at call time: tests and deployments point it elsewhere
        return conf.documents_root()

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    def url(self, name):
        raise ValueError("platform documents are private: no URL serves them")


def document_upload_to(instance: PlatformDocument, filename: str) -> str:
    """``<platform code>/<kind>/<random>.<ext>``: the client's file name is never used as a path."""
    ext = os.path.splitext(filename)[1].lower()[:10]
    ext = ext if re.fullmatch(r"\.[a-z0-9]{1,9}", ext or "") else ""
    return f"{instance.platform.code}/{instance.kind}/{uuid.uuid4().hex}{ext}"


class LendingPlatform(FSMModelMixin, TimeStampedModel):
    """A P2P lending platform the bank holds client money for (网贷平台).

    Onboarding: ``applied → under_review → active → winding_down → terminated``; ``under_review →
    applied`` when the checker returns it; ``active ⇄ suspended``; ``suspended → winding_down``.
    Transitions run only in ``custody.services`` (the state is protected), each audited.
    """

    class State(models.TextChoices):
        APPLIED = "applied", _("Applied / 已申请")
        UNDER_REVIEW = "under_review", _("Under review / 审核中")
        ACTIVE = "active", _("Active / 已上线")
        SUSPENDED = "suspended", _("Suspended / 已暂停")
        WINDING_DOWN = "winding_down", _("Winding down / 清退中")
        TERMINATED = "terminated", _("Terminated / 已终止")

    code = models.CharField(_("code / 平台编号"), max_length=20, unique=True)
    name = models.CharField(_("name / 平台名称"), max_length=200)
    credit_code = models.CharField(_("unified social credit code / 统一社会信用代码"), max_length=18, db_index=True)
    party = models.ForeignKey(
        "accounts.Party",
        on_delete=models.PROTECT,
        related_name="lending_platforms",
        verbose_name=_("organisation / 平台机构"),
    )
    state = FSMField(_("state / 状态"), default=State.APPLIED, choices=State.choices, protected=True, db_index=True)
    own_funds = models.OneToOneField(
        "accounts.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("own funds account / 自有资金账户"),
    )
    settlement_card = models.ForeignKey(
        "accounts.BoundCard",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("corporate settlement account / 对公结算账户"),
    )
    created_by = operator_reference(_("created by / 创建人"), editable=False)
    submitted_by = operator_reference(_("submitted by / 提交人"), editable=False)
    submitted_at = models.DateTimeField(_("submitted at / 提交时间"), null=True, blank=True, editable=False)
    reviewed_by = operator_reference(_("reviewed by / 复核人"), editable=False)
    reviewed_at = models.DateTimeField(_("reviewed at / 复核时间"), null=True, blank=True, editable=False)
    review_note = models.CharField(_("review note / 复核意见"), max_length=500, blank=True, editable=False)
    activated_at = models.DateTimeField(_("activated at / 上线时间"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("lending platform / 网贷平台")
        verbose_name_plural = _("lending platforms / 网贷平台")
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["applied", "under_review"]) | Q(own_funds__isnull=False),
                name="platform_live_has_own_funds",
            ),
            models.CheckConstraint(
                condition=Q(reviewed_by__isnull=True) | Q(submitted_by__isnull=True) | ~Q(reviewed_by=models.F("submitted_by")),
                name="platform_maker_is_not_checker",
            ),
        ]
        permissions = [("review_lendingplatform", "Can approve or return a platform application (checker)")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def owner(self) -> str:
        return platform_owner(self.code)

    @transition(field=state, source=State.APPLIED, target=State.UNDER_REVIEW)
    def submit(self):
        """The maker submits the application and its documents for review."""

    @transition(field=state, source=State.UNDER_REVIEW, target=State.APPLIED)
    def return_to_maker(self):
        """The checker returns the application with a reason (missing or wrong documents)."""

    @transition(field=state, source=State.UNDER_REVIEW, target=State.ACTIVE)
    def activate(self):
        """A checker other than the maker approved: the platform's accounts are opened."""

    @transition(field=state, source=State.ACTIVE, target=State.SUSPENDED)
    def suspend(self):
        """No new business (no sub-accounts, no instructions) until resumed."""

    @transition(field=state, source=State.SUSPENDED, target=State.ACTIVE)
    def resume(self):
        """Business resumes."""

    @transition(field=state, source=[State.ACTIVE, State.SUSPENDED], target=State.WINDING_DOWN)
    def wind_down(self):
        """清退: no new loans or borrowers; repayments and withdrawals keep working."""

    @transition(field=state, source=State.WINDING_DOWN, target=State.TERMINATED)
    def terminate(self):
        """Every client sub-account is empty: the relation ends."""

    for _method in (submit, return_to_maker, activate, suspend, resume, wind_down, terminate):
        _method.alters_data = True
    del _method


class PlatformDocument(TimeStampedModel):
    """A document the bank checks before a platform goes live: licence, regulator filing, ICP."""

    class Kind(models.TextChoices):
        LICENCE = "licence", _("Business licence / 营业执照")
        REGULATOR_FILING = "regulator_filing", _("Regulator filing / 备案")
        ICP = "icp", _("ICP licence / ICP许可")

    class Check(models.TextChoices):
        PENDING = "pending", _("Not checked / 待核验")
        ACCEPTED = "accepted", _("Accepted / 核验通过")
        REJECTED = "rejected", _("Rejected / 核验不通过")

    REQUIRED_KINDS = (Kind.LICENCE, Kind.REGULATOR_FILING, Kind.ICP)

    platform = models.ForeignKey(
        LendingPlatform, on_delete=models.PROTECT, related_name="documents", verbose_name=_("platform / 平台")
    )
    kind = models.CharField(_("kind / 类型"), max_length=20, choices=Kind.choices)
    number = models.CharField(_("number / 证照编号"), max_length=64)
    file = models.FileField(
        _("file / 文件"), upload_to=document_upload_to, storage=PrivateDocumentStorage(), blank=True, max_length=200
    )
    check_state = models.CharField(_("check / 核验"), max_length=16, choices=Check.choices, default=Check.PENDING, editable=False)
    checked_by = operator_reference(_("checked by / 核验人"), editable=False)
    checked_at = models.DateTimeField(_("checked at / 核验时间"), null=True, blank=True, editable=False)
    check_note = models.CharField(_("check note / 核验意见"), max_length=500, blank=True, editable=False)

    class Meta:
        verbose_name = _("platform document / 平台资料")
        verbose_name_plural = _("platform documents / 平台资料")
        ordering = ["platform", "kind", "-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number}"

    @cached_property
    def file_name(self) -> str:
        return os.path.basename(self.file.name) if self.file else ""


class SubAccount(TimeStampedModel):
    """A platform client's depository sub-account (存管子账户) in one role (R-DEP-01: one per
    platform, party and role). A person on two platforms has two; visibility is by sub-account."""

    class Role(models.TextChoices):
        LENDER = "lender", _("Lender / 出借人")
        BORROWER = "borrower", _("Borrower / 借款人")
        GUARANTOR = "guarantor", _("Guarantor / 担保人")
        COMPENSATION = "compensation", _("Compensation / 代偿")

    platform = models.ForeignKey(
        LendingPlatform, on_delete=models.PROTECT, related_name="sub_accounts", verbose_name=_("platform / 平台")
    )
    party = models.ForeignKey(
        "accounts.Party", on_delete=models.PROTECT, related_name="sub_accounts", verbose_name=_("client / 客户")
    )
    role = models.CharField(_("role / 角色"), max_length=16, choices=Role.choices)
    account = models.OneToOneField(
        "accounts.Account", on_delete=models.PROTECT, related_name="sub_account", verbose_name=_("account / 账户")
    )
    opened_by = models.CharField(_("opened by / 开立请求方"), max_length=100, blank=True, editable=False)

    class Meta:
        verbose_name = _("depository sub-account / 存管子账户")
        verbose_name_plural = _("depository sub-accounts / 存管子账户")
        constraints = [
            models.UniqueConstraint(fields=["platform", "party", "role"], name="subaccount_unique_platform_party_role"),
        ]

    def __str__(self) -> str:
        return f"{self.platform.code} {self.get_role_display()} {self.account_id}"


#: The sub-account roles by dotted path (the API schema's ``SubAccountRoleEnum``, settings.SPECTACULAR_SETTINGS).
SUBACCOUNT_ROLE_CHOICES = SubAccount.Role.values

from custody.fees.models import FeeAccrual, FeeBand, FeeInvoice, FeeInvoiceLine, FeeSchedule  # noqa: E402,F401  (custody fees)
from custody.loans.models import (  # noqa: E402,F401
    Bid,
    BorrowingCap,
    Confirmation,
    Loan,
    LoanInstalment,
    Repayment,
    RepaymentDebt,
    StandingAuthorisation,
)
from custody.platform_users.models import PlatformUser  # noqa: E402,F401
from custody.reconciliation.models import (  # noqa: E402,F401  (reconciliation)
    CustodyReport,
    ReconciliationAlert,
    ReconciliationDay,
    ReconciliationFile,
    ReconciliationItem,
    SuspenseAllocation,
    UnidentifiedInflow,
)
