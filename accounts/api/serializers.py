"""Shapes shared by several partner API operations: accounts, parties, cards, vouchers, holds, errors.

Each view keeps its own nested ``InputSerializer``/``OutputSerializer``; what two operations
return alike (a hold, a voucher) lives here. Money fields are declared explicitly (never
``ModelSerializer``, which would expose integer fen).
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.cards import services as cards
from accounts.cards.models import BoundCard, MicroDeposit
from accounts.ledger.chart import DEBIT, ROLE_CHOICES
from accounts.ledger.models import Account, Hold, Transfer
from accounts.ledger.rules import POSTING_RULES, REVERSAL_KIND
from accounts.limits.models import LimitPeriod
from accounts.limits.services import limits_remaining
from accounts.parties.models import Party
from backoffice.api import (
    ErrorSerializer,  # noqa: F401  (re-exported for the API modules)
    LocalDateTime,
    MoneyOutput,
    StrIdField,
)

CARD_TYPES = ["debit", "credit", "prepaid", "unknown"]


@extend_schema_field({"type": "string", "enum": MicroDeposit.State.values, "example": "awaiting_backfill"})
class MicroDepositStateField(serializers.CharField):
    """A micro-deposit's state: ``MicroDepositStateEnum`` (named in settings' ENUM_NAME_OVERRIDES, apart from the
    card's ``CardBindingStateEnum``)."""


SIDE_NAMES = {"D": "debit", "C": "credit"}

#: The reasons a partner may give a hold (a platform's margin is placed only by custody's service): the choices of
#: ``HoldCreateApi``'s input, named ``HoldCreateReasonEnum`` in the schema.
HOLD_CREATE_REASONS = [(value, label) for value, label in Hold.Reason.choices if value != Hold.Reason.MARGIN]


def transfer_kinds() -> list[str]:
    """Every voucher kind there is: each has a posting rule (a kind without one is refused), plus the reversal's.
    The schema's ``TransferKindEnum`` (settings' ENUM_NAME_OVERRIDES), read when the schema is generated: the apps
    register their kinds in ``AppConfig.ready()``."""
    return sorted({*POSTING_RULES, REVERSAL_KIND})


class TransferKindField(serializers.CharField):
    """A voucher's kind (``transfer``, ``withdrawal``, ``recharge``, ...): one of ``transfer_kinds()``."""


class TransferKindFieldSchema(OpenApiSerializerFieldExtension):
    """``TransferKindField`` in the schema: an enum of ``transfer_kinds()`` at generation time."""

    target_class = TransferKindField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": transfer_kinds()}


class LimitSerializer(serializers.Serializer):
    """One tier limit of the account's person (accounts.limits.services.limits_remaining)."""

    limit = serializers.CharField(help_text="The rule's code <tier>_<bucket>_<period>, e.g. II_outflow_day.")
    period = serializers.ChoiceField(choices=LimitPeriod.values, help_text="day, year, or moment (a balance cap).")
    amount = MoneyOutput(help_text="The limit itself.")
    used = MoneyOutput(help_text="Counted so far in the period (for a balance cap: the balance).")
    remaining = MoneyOutput()

    class Meta:
        ref_name = "AccountLimit"


class BoundCardBriefSerializer(serializers.Serializer):
    """The account's recharge/withdrawal card: the verified one, else the one being verified."""

    id = serializers.CharField()
    card_number = serializers.CharField(help_text='Masked: "6228 **** **** 0018".')
    bank = serializers.CharField(allow_blank=True)
    card_type = serializers.ChoiceField(choices=CARD_TYPES)
    state = serializers.ChoiceField(choices=BoundCard.State.choices)

    class Meta:
        ref_name = "BoundCardBrief"


def account_bound_card(account: Account) -> BoundCard | None:
    """The verified recharge/withdrawal card, else the newest one still being verified."""
    card = cards.card_withdrawal_card(account=account)
    if card is None:
        card = (
            cards.card_list(account=account)
            .filter(
                purpose=BoundCard.Purpose.RECHARGE_WITHDRAWAL,
                state__in=[BoundCard.State.VERIFYING, BoundCard.State.AWAITING_MICRO_DEPOSIT],
            )
            .first()
        )
    return card


class AccountSerializer(serializers.Serializer):
    """An account: balances, the person's remaining tier limits and the bound card (if any)."""

    number = serializers.CharField()
    party = StrIdField(source="party_id", allow_null=True)
    tier = serializers.ChoiceField(choices=Account.Tier.values, read_only=True)
    role = serializers.ChoiceField(choices=ROLE_CHOICES, read_only=True)
    state = serializers.ChoiceField(choices=Account.State.choices, read_only=True)
    currency = serializers.CharField()
    balance = MoneyOutput()
    available = MoneyOutput()
    frozen = MoneyOutput()
    limits = LimitSerializer(
        many=True, read_only=True, help_text="Today's and this year's limits (Class II/III); empty for Class I and corporate."
    )
    bound_card = BoundCardBriefSerializer(required=False, help_text="Absent while the account has no such card.")

    class Meta:
        ref_name = "Account"

    def to_representation(self, account: Account) -> dict:
        data = super().to_representation(account)  # limits and bound_card are not attributes: skipped there
        data["limits"] = LimitSerializer(limits_remaining(account=account), many=True).data
        card = account_bound_card(account)
        if card is not None:
            summary = cards.card_summary(card)
            data["bound_card"] = BoundCardBriefSerializer({key: summary[key] for key in BoundCardBriefSerializer().fields}).data
        return data


class PartySerializer(serializers.Serializer):
    """A party as a partner sees it: personal data masked, only the identity field of its type."""

    id = StrIdField()
    type = serializers.ChoiceField(choices=Party.Type.values)
    name = serializers.CharField()
    id_number = serializers.CharField(required=False, help_text='A person\'s, masked: "110105********002X".')
    credit_code = serializers.CharField(required=False, help_text="An organisation's, masked.")
    mobile = serializers.CharField(allow_null=True, help_text='Masked: "138****0000"; null when none was given.')
    kyc_state = serializers.ChoiceField(choices=Party.KycState.values)
    created_at = LocalDateTime()

    class Meta:
        ref_name = "Party"


def party_data(party: Party) -> dict:
    data = {
        "id": party.pk,
        "type": party.type,
        "name": party.name,
        "mobile": party.mobile_masked if party.mobile_encrypted else None,
        "kyc_state": party.kyc_state,
        "created_at": party.created_at,
    }
    if party.type == Party.Type.PERSON:
        data["id_number"] = party.id_number_masked
    else:
        data["credit_code"] = party.credit_code_masked
    return data


class MicroDepositProgressSerializer(serializers.Serializer):
    state = MicroDepositStateField(
        help_text="One of: " + ", ".join(MicroDeposit.State.values) + " (awaiting_backfill once sent)."
    )
    expires_at = serializers.CharField(help_text="ISO 8601 with offset: the end of the back-fill window.")
    attempts_left = serializers.IntegerField()

    class Meta:
        ref_name = "MicroDepositProgress"


class CardSerializer(serializers.Serializer):
    """A bound card: masked, with its micro-deposit's progress once one exists."""

    id = serializers.CharField()
    account = serializers.CharField(help_text="The account number the card is bound to.")
    card_number = serializers.CharField(help_text='Masked: "6228 **** **** 0018".')
    bank = serializers.CharField(allow_blank=True)
    card_type = serializers.ChoiceField(choices=CARD_TYPES)
    state = serializers.ChoiceField(choices=BoundCard.State.choices)
    failure_reason = serializers.CharField(
        allow_blank=True,
        help_text="Why a failed or expired card failed (elements_rejected, third_party_verifier, verification_unknown, "
        "bound_account_not_allowed, bound_account_kind_mismatch, micro_deposit_attempts_exhausted, "
        "micro_deposit_expired); empty otherwise.",
    )
    warnings = serializers.ListField(child=serializers.CharField(), help_text="E.g. a failed Luhn check (never blocks).")
    micro_deposit = MicroDepositProgressSerializer(required=False)

    class Meta:
        ref_name = "Card"


def card_data(card: BoundCard) -> dict:
    return {**cards.card_summary(card), "account": card.account.number, "failure_reason": card.failure_reason}


class TransferSerializer(serializers.Serializer):
    """A voucher moving money from one account to another."""

    id = StrIdField()
    kind = TransferKindField()
    amount = MoneyOutput()
    from_account = serializers.CharField()
    to_account = serializers.CharField()
    memo = serializers.CharField(allow_blank=True)
    created_at = LocalDateTime()

    class Meta:
        ref_name = "Transfer"


class HoldSerializer(serializers.Serializer):
    id = StrIdField()
    account = serializers.CharField(source="account.number")
    amount = MoneyOutput()
    captured_amount = MoneyOutput()
    reason = serializers.ChoiceField(choices=Hold.Reason.choices, read_only=True)
    state = serializers.ChoiceField(choices=Hold.State.choices, read_only=True)
    expires_at = LocalDateTime(allow_null=True)
    created_at = LocalDateTime()

    class Meta:
        ref_name = "Hold"


def transfer_data(transfer: Transfer) -> dict:
    """A two-legged voucher as the API shows it: the debited account is ``from``, the credited ``to``."""
    entries = list(transfer.entries.select_related("account").order_by("pk"))
    debit = next(e for e in entries if e.side == DEBIT)
    credit = next(e for e in entries if e.side != DEBIT)
    return {
        "id": transfer.pk,
        "kind": transfer.kind,
        "amount": transfer.amount,
        "from_account": debit.account.number,
        "to_account": credit.account.number,
        "memo": transfer.memo,
        "created_at": transfer.created_at,
    }
