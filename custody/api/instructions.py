"""Partner API for P2P platforms: instructions its clients confirm on the bank's page (R-DEP-02,
R-DEP-04), the platform's corporate settlement account and the borrowers' debts to compensation
payers (thin views over ``custody.loans.confirmations``, ``custody.services`` and
``custody.loans.services``).

- ``POST /platforms/{code}/sub-accounts/{number}/withdrawals/`` and ``.../recharges/``: 202 with a
  ``confirmation_url``: the holder confirms with the transaction password on the bank's portal;
  the withdrawal or recharge then runs (``accounts.payments``) and the platform learns the outcome
  by webhook (``confirmation.*``, then ``withdrawal.succeeded | failed | returned``,
  ``recharge.succeeded | failed``).
- ``GET /platforms/{code}/confirmations/{id}/``: one confirmation's state (another platform's: 404).
- ``GET | POST /platforms/{code}/settlement-account/``, ``POST .../settlement-account/micro-deposit/``:
  the platform's corporate settlement account (对公结算账户), bound in its own name and credit code;
  verified by the micro-deposit the platform back-fills, or by a bank operator (console).
- ``POST /platforms/{code}/debts/{id}/settle/``: the borrower repays the payer who repaid an
  instalment for them, with their standing ``auto_repay`` authorisation.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.cards import services as cards
from accounts.cards.models import BoundCard
from backoffice.api import (
    LocalDateTime,
    MoneyInput,
    MoneyOutput,
    StrIdField,
    component,
    detail_schema,
    found_or_404,
    validated,
    write_schema,
)
from backoffice.idempotency import idempotent
from custody import services
from custody.api.pending import PendingConfirmationSerializer, accepted
from custody.api.subaccounts import PlatformApiView, client_label
from custody.loans import confirmations
from custody.loans import services as loans
from custody.loans.errors import AuthorisationMethodRefusedError
from custody.loans.models import Confirmation, RepaymentDebt

TAG = "custody: confirmations"
SETTLEMENT_TAG = "custody: platforms"


@extend_schema_field(
    {
        "type": "object",
        "properties": {"method": {"type": "string", "enum": ["confirm"]}},
        "required": ["method"],
        "example": {"method": "confirm"},
    }
)
class ConfirmInput(serializers.Field):
    """``{"method": "confirm"}`` (the default): the only method for a client's withdrawal or recharge."""

    def to_internal_value(self, data) -> dict:
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            raise serializers.ValidationError(_('Send {"method": "confirm"}.'))
        if data["method"] in ("password", "otp"):
            raise AuthorisationMethodRefusedError(method=data["method"])
        if data["method"] != "confirm":
            raise serializers.ValidationError(_('Only {"method": "confirm"}: the client confirms on the bank\'s page.'))
        return dict(data)

    def to_representation(self, value):  # write-only
        return None


class MoneyInstructionApi(PlatformApiView):
    kind: str = ""

    class InputSerializer(serializers.Serializer):
        amount = MoneyInput()
        out_request_no = serializers.CharField(max_length=64)
        authorization = ConfirmInput(required=False, default={"method": "confirm"}, help_text='{"method": "confirm"}')

        class Meta:
            ref_name = "ClientMoneyInstructionInput"

    @idempotent
    def post(self, request, code: str, number: str):
        platform = self.platform(request, code)
        data = validated(self.InputSerializer, request.data)
        confirmation = confirmations.money_confirmation_request(
            platform=platform,
            kind=self.kind,
            number=number,
            amount=data["amount"],
            out_request_no=data["out_request_no"],
            actor_label=client_label(request.auth),
        )
        return accepted(confirmation, request)


_MONEY_TEXTS = {
    400: "validation_error (amount, out_request_no, authorization), idempotency_key_required",
    403: "authorization_method_refused (password, otp), platform_scope_refused, forbidden_scope",
    404: "not_found: no such platform or sub-account, or not this client's",
    409: "duplicate_reference (data.id), idempotency_key_in_use",
    422: "idempotency_key_mismatch",
}


class WithdrawalRequestApi(MoneyInstructionApi):
    kind = Confirmation.Kind.WITHDRAWAL

    @write_schema(
        "platform_client_withdrawal",
        tag=TAG,
        summary="A client's withdrawal to their bound card, confirmed by the client on the bank's page",
        description=(
            "R-DEP-02: 202 with a confirmation_url; the holder confirms with the transaction password on the bank's "
            "portal within 15 minutes; the withdrawal is then accepted (accounts.payments: in-flight money in the "
            "platform's own transit account) and its outcome comes by webhook (confirmation.confirmed | failed | "
            "declined | expired, then withdrawal.succeeded | failed | returned). The acceptance rules are checked now "
            "too (409 insufficient_funds, account_not_active, 422 no_withdrawal_card ...)."
        ),
        request=MoneyInstructionApi.InputSerializer,
        output=PendingConfirmationSerializer,
        success=202,
        texts={**_MONEY_TEXTS, 409: _MONEY_TEXTS[409] + ", insufficient_funds, account_not_active, limit_exceeded"},
    )
    def post(self, request, code: str, number: str):
        return super().post(request, code, number)


class RechargeRequestApi(MoneyInstructionApi):
    kind = Confirmation.Kind.RECHARGE

    @write_schema(
        "platform_client_recharge",
        tag=TAG,
        summary="A client's recharge from their bound card, confirmed by the client on the bank's page",
        description=(
            "R-DEP-02: 202 with a confirmation_url; the holder confirms with the transaction password on the bank's "
            "portal; the recharge is then sent to the channel and its outcome comes by webhook (confirmation.*, then "
            "recharge.succeeded | failed)."
        ),
        request=MoneyInstructionApi.InputSerializer,
        output=PendingConfirmationSerializer,
        success=202,
        texts=_MONEY_TEXTS,
    )
    def post(self, request, code: str, number: str):
        return super().post(request, code, number)


class ConfirmationDetailApi(PlatformApiView):
    OutputSerializer = component(PendingConfirmationSerializer, "InstructionConfirmationDetail")

    @detail_schema("platform_confirmation_detail", tag=TAG, summary="One confirmation and its outcome", output=OutputSerializer)
    def get(self, request, code: str, confirmation_id: int):
        platform = self.platform(request, code)
        item = Confirmation.objects.select_related("sub_account__account").filter(platform=platform, pk=confirmation_id).first()
        item = found_or_404(item, _("No such confirmation."))
        return Response(self.OutputSerializer(item, context={"request": request}).data)


# -- the platform's corporate settlement account ---------------------------------------------------------


class SettlementAccountSerializer(serializers.Serializer):
    id = StrIdField()
    account_number = serializers.CharField(source="card_number_masked", help_text="Masked.")
    bank_name = serializers.CharField()
    holder_name = serializers.CharField()
    state = serializers.ChoiceField(
        choices=BoundCard.State.choices,
        read_only=True,
        help_text="verifying, awaiting_micro_deposit, verified, failed or expired.",
    )
    verification = serializers.SerializerMethodField(help_text="micro_deposit or operator.")
    micro_deposit = serializers.SerializerMethodField()
    created_at = LocalDateTime()

    class Meta:
        ref_name = "PlatformSettlementAccount"

    def get_verification(self, card) -> str:
        return "operator" if card.state != "awaiting_micro_deposit" and not card.micro_deposits.exists() else "micro_deposit"

    def get_micro_deposit(self, card) -> dict | None:
        deposit = card.micro_deposits.order_by("-pk").first()
        if deposit is None:
            return None
        return {"state": deposit.state, "attempts_left": deposit.attempts_left}


class SettlementAccountApi(PlatformApiView):
    class InputSerializer(serializers.Serializer):
        account_number = serializers.CharField(max_length=32, help_text="6 to 32 digits (no Luhn, no BIN).")
        bank_name = serializers.CharField(max_length=100)
        verification = serializers.ChoiceField(choices=["micro_deposit", "operator"], default="micro_deposit")

        class Meta:
            ref_name = "PlatformSettlementBindInput"

    OutputSerializer = component(SettlementAccountSerializer, "PlatformSettlementAccountDetail")
    BoundSerializer = component(SettlementAccountSerializer, "PlatformSettlementAccountBound")

    @detail_schema(
        "platform_settlement_account",
        tag=SETTLEMENT_TAG,
        summary="The platform's corporate settlement account (对公结算账户) and its verification",
        output=OutputSerializer,
    )
    def get(self, request, code: str):
        platform = self.platform(request, code)
        card = found_or_404(platform.settlement_card, _("No settlement account is bound."))
        return Response(self.OutputSerializer(card).data)

    @write_schema(
        "platform_settlement_account_bind",
        tag=SETTLEMENT_TAG,
        summary="Bind the platform's corporate settlement account, in its own name and credit code",
        description=(
            "R-VER-03: 6 to 32 digits, no Luhn and no BIN; in the platform's own name and credit code. Verified by a "
            "micro-deposit the platform back-fills (POST .../settlement-account/micro-deposit/) or, with verification "
            "operator, by a bank operator from documents (never by the platform)."
        ),
        request=InputSerializer,
        output=BoundSerializer,
        texts={409: "platform_not_active, idempotency_key_in_use", 422: "card_holder_mismatch, idempotency_key_mismatch"},
    )
    @idempotent
    def post(self, request, code: str):
        platform = self.platform(request, code)
        data = validated(self.InputSerializer, request.data)
        card = services.platform_settlement_bind(
            platform_id=platform.pk,
            account_number=data["account_number"],
            bank_name=data["bank_name"],
            verification=data["verification"],
            actor_label=client_label(request.auth),
        )
        return Response(self.BoundSerializer(card).data, status=status.HTTP_201_CREATED)


class SettlementMicroDepositApi(PlatformApiView):
    class InputSerializer(serializers.Serializer):
        amount = MoneyInput(help_text='The amount received on the settlement account, e.g. "0.37".')

        class Meta:
            ref_name = "PlatformSettlementMicroDepositInput"

    OutputSerializer = component(SettlementAccountSerializer, "PlatformSettlementAccountVerified")

    @write_schema(
        "platform_settlement_micro_deposit",
        tag=SETTLEMENT_TAG,
        summary="Back-fill the micro-deposit received on the settlement account",
        request=InputSerializer,
        output=OutputSerializer,
        success=200,
        texts={
            404: "not_found: no settlement account bound",
            409: "invalid_state, idempotency_key_in_use",
            422: "micro_deposit_mismatch (data.attempts_left), idempotency_key_mismatch",
        },
    )
    @idempotent
    def post(self, request, code: str):
        platform = self.platform(request, code)
        data = validated(self.InputSerializer, request.data)
        card = found_or_404(platform.settlement_card, _("No settlement account is bound."))
        card = cards.micro_deposit_confirm(card_id=card.pk, amount=str(data["amount"]))
        return Response(self.OutputSerializer(card).data)


# -- a borrower's debt to a compensation payer -------------------------------------------------------------


class DebtSerializer(serializers.Serializer):
    id = StrIdField()
    repayment = StrIdField(source="repayment_id")
    borrower = serializers.CharField(source="borrower.account.number")
    creditor = serializers.CharField(source="creditor.account.number")
    amount = MoneyOutput()
    state = serializers.ChoiceField(choices=RepaymentDebt.State.choices, read_only=True, help_text="outstanding or settled.")
    settlement = StrIdField(source="settlement_id", allow_null=True, help_text="The voucher's id.")
    settled_at = LocalDateTime()

    class Meta:
        ref_name = "RepaymentDebt"


class DebtSettleApi(PlatformApiView):
    class InputSerializer(serializers.Serializer):
        authorization = serializers.JSONField(
            help_text='The borrower\'s standing auto_repay authorisation: {"method": "standing", "id": "N"}.'
        )

        class Meta:
            ref_name = "RepaymentDebtSettleInput"

    OutputSerializer = component(DebtSerializer, "RepaymentDebtSettled")

    @write_schema(
        "platform_debt_settle",
        tag=TAG,
        summary="The borrower repays the guarantor or compensation payer (追偿), in one voucher",
        request=InputSerializer,
        output=OutputSerializer,
        success=200,
        texts={
            403: "authorization_method_refused, authorization_not_in_force, authorization_out_of_scope",
            404: "not_found: no such debt, or another platform's",
            409: "invalid_state (settled), insufficient_funds, authorization_limit_exceeded, idempotency_key_in_use",
        },
    )
    @idempotent
    def post(self, request, code: str, debt_id: int):
        platform = self.platform(request, code)
        data = validated(self.InputSerializer, request.data)
        debt = loans.repayment_debt_settle(
            debt_id=debt_id, platform=platform, authorization=data["authorization"], actor_label=client_label(request.auth)
        )
        debt = RepaymentDebt.objects.select_related("borrower__account", "creditor__account").get(pk=debt.pk)
        return Response(self.OutputSerializer(debt).data)
