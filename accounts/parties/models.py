"""Parties (customers: persons and organisations) and the records of the account-opening rules.

Data and invariants only; written by ``accounts.parties.services``. Personal data is stored
encrypted beside a keyed search hash (``backoffice.crypto``) and shown masked.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from backoffice import crypto
from backoffice.models import TimeStampedModel, operator_reference


class Party(FSMModelMixin, TimeStampedModel):
    """A customer of the bank: a person or an organisation.

    Personal data (resident ID number, mobile) is stored only encrypted, beside a keyed hash for
    exact search (backoffice.crypto); read it through the properties, show it masked.
    KYC review: pending_review → approved | rejected, rejected → pending_review on resubmission
    (what each state allows: accounts.parties.services.account_open).
    """

    class Type(models.TextChoices):
        PERSON = "person", _("Person / 个人")
        ORGANISATION = "organisation", _("Organisation / 机构")

    class KycState(models.TextChoices):
        PENDING_REVIEW = "pending_review", _("Pending review / 待审核")
        APPROVED = "approved", _("Approved / 已通过")
        REJECTED = "rejected", _("Rejected / 已驳回")

    type = models.CharField(_("type / 类型"), max_length=16, choices=Type.choices)
    name = models.CharField(_("name / 名称"), max_length=200, db_index=True)
    id_number_encrypted = models.TextField(_("ID number (encrypted) / 证件号码（密文）"), blank=True, editable=False)
    id_number_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    mobile_encrypted = models.TextField(_("mobile (encrypted) / 手机号（密文）"), blank=True, editable=False)
    mobile_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    credit_code = models.CharField(_("unified social credit code / 统一社会信用代码"), max_length=18, blank=True, db_index=True)
    legal_representative = models.CharField(_("legal representative / 法定代表人"), max_length=100, blank=True)
    portal_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="parties", verbose_name=_("portal users / 门户用户")
    )
    kyc_state = FSMField(
        _("KYC state / 审核状态"), default=KycState.PENDING_REVIEW, choices=KycState.choices, protected=True, db_index=True
    )
    # Maker-checker on KYC: whoever created or edited the party may not approve it.
    created_by = operator_reference(_("created by / 录入人"), editable=False)
    edited_by = operator_reference(_("last edited by / 最后修改人"), editable=False)
    kyc_reviewed_by = operator_reference(_("KYC reviewed by / 审核人"), editable=False)
    kyc_reviewed_at = models.DateTimeField(_("KYC reviewed at / 审核时间"), null=True, blank=True, editable=False)
    kyc_rejection_reason = models.CharField(_("KYC rejection reason / 驳回原因"), max_length=500, blank=True, editable=False)
    face_to_face_verified = models.BooleanField(_("verified face to face / 已面签核实"), default=False, editable=False)
    face_to_face_verified_by = operator_reference(_("verified face to face by / 面签核实人"), editable=False)
    face_to_face_verified_at = models.DateTimeField(
        _("verified face to face at / 面签核实时间"), null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("party / 客户")
        verbose_name_plural = _("parties / 客户")
        constraints = [
            models.UniqueConstraint(fields=["id_number_hash"], condition=~Q(id_number_hash=""), name="party_unique_id_number"),
            models.UniqueConstraint(fields=["credit_code"], condition=~Q(credit_code=""), name="party_unique_credit_code"),
        ]
        permissions = [("view_personal_data", "Can view unmasked personal data (audited)")]

    def __str__(self) -> str:
        return self.name

    # -- personal data: encrypted at rest, masked when shown --------------------------------
    @property
    def id_number(self) -> str:
        return crypto.decrypt(self.id_number_encrypted)

    @property
    def mobile(self) -> str:
        return crypto.decrypt(self.mobile_encrypted)

    @property
    def id_number_masked(self) -> str:
        return crypto.mask_id_number(self.id_number)

    @property
    def mobile_masked(self) -> str:
        return crypto.mask_mobile(self.mobile)

    def set_id_number(self, normalised: str) -> None:
        """Store an already-validated 18-character ID number (accounts.parties.identity.normalise_id_number)."""
        self.id_number_encrypted = crypto.encrypt(normalised)
        self.id_number_hash = id_number_hash(normalised)

    def set_mobile(self, normalised: str) -> None:
        self.mobile_encrypted = crypto.encrypt(normalised)
        self.mobile_hash = crypto.blind_index(normalised, purpose="mobile")

    set_id_number.alters_data = set_mobile.alters_data = True

    @property
    def credit_code_masked(self) -> str:
        return crypto.mask_credit_code(self.credit_code)

    # -- KYC transitions (state only; services lock, save and audit) ---------------------------
    @transition(field=kyc_state, source=KycState.PENDING_REVIEW, target=KycState.APPROVED)
    def kyc_approve(self, *, by=None):
        """An operator reviewed the identity documents and approved the party."""
        self.kyc_reviewed_by, self.kyc_reviewed_at, self.kyc_rejection_reason = by, timezone.now(), ""

    @transition(field=kyc_state, source=KycState.PENDING_REVIEW, target=KycState.REJECTED)
    def kyc_reject(self, *, by=None, reason: str):
        """An operator rejected the party's documents, with a reason."""
        self.kyc_reviewed_by, self.kyc_reviewed_at, self.kyc_rejection_reason = by, timezone.now(), reason

    @transition(field=kyc_state, source=KycState.REJECTED, target=KycState.PENDING_REVIEW)
    def kyc_resubmit(self):
        """The party resubmitted (corrected) documents: back in the review queue."""

    kyc_approve.alters_data = kyc_reject.alters_data = kyc_resubmit.alters_data = True


def id_number_hash(normalised: str) -> str:
    """The search hash of a normalised ID number (the same for a party and a card holder)."""
    return crypto.blind_index(normalised, purpose="id_number")


class AccountOpeningOverride(models.Model):
    """An account opened beyond the per-person count limit of its class (R-ACC-02, "原则上"), with the reason.

    One row per overriding opening; append-only. ``held_before`` is how many non-closed accounts of the
    class the party held when the account was opened, ``maximum`` the configured limit then.
    """

    account = models.OneToOneField(
        "accounts.Account",
        on_delete=models.PROTECT,
        related_name="opening_override",
        editable=False,
        verbose_name=_("account / 账户"),
    )
    party = models.ForeignKey(
        "accounts.Party",
        on_delete=models.PROTECT,
        related_name="opening_overrides",
        editable=False,
        verbose_name=_("party / 客户"),
    )
    tier = models.CharField(_("tier / 账户类别"), max_length=16, editable=False)
    held_before = models.PositiveIntegerField(_("accounts held before / 开户前已持有"), editable=False)
    maximum = models.PositiveIntegerField(_("configured maximum / 上限"), editable=False)
    reason = models.CharField(_("reason / 理由"), max_length=500, editable=False)
    actor = operator_reference(_("by / 操作人"), editable=False)
    actor_label = models.CharField(_("by (label) / 操作方"), max_length=100, blank=True, editable=False)
    created_at = models.DateTimeField(_("at / 时间"), default=timezone.now, db_index=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("account-opening override / 超限开户记录")
        verbose_name_plural = _("account-opening overrides / 超限开户记录")
        constraints = [
            models.CheckConstraint(condition=~models.Q(reason=""), name="accountopeningoverride_reason_required"),
        ]

    def __str__(self) -> str:
        return f"override #{self.pk} {self.tier} ({self.held_before} held, max {self.maximum})"
