"""Partner API: card binding, micro-deposit back-fill (小额鉴权) and one-time codes (thin views over
accounts.cards.services).

- ``POST /api/v1/accounts/{number}/cards/`` (``cards:write``): bind a same-name card and start its
  verification (elements, then a micro-deposit sent by a Celery task once the binding commits).
- ``GET /api/v1/cards/{id}/`` (``accounts:read``): the card and its micro-deposit's progress.
- ``POST /api/v1/cards/{id}/micro-deposit/confirm/`` (``cards:write``): the holder's back-filled
  amount; a match verifies the card and activates a pending Class II/III account.
- ``POST /api/v1/accounts/{number}/otp/`` (``accounts:write``): text a one-time code to the
  holder's bound mobile (the simulator's SMS outbox holds it).

A card is visible when its account is; anything else is 404. None of these moves a customer's
money, so ``Idempotency-Key`` is optional. Card numbers and mobiles are masked in every answer.
"""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.access import visible_account, visible_card
from accounts.api.serializers import CardSerializer, card_data
from accounts.cards import services as cards
from accounts.cards.models import BoundCard, OneTimeCode
from backoffice.api import (
    LocalDateTime,
    MoneyInput,
    component,
    detail_schema,
    idempotent_if_keyed,
    validated,
    write_schema,
)

OTP_PURPOSES = [OneTimeCode.Purpose.RECHARGE, OneTimeCode.Purpose.WITHDRAWAL, OneTimeCode.Purpose.INSTRUCTION]


class CardBindApi(APIView):
    required_scope = "cards:write"

    class InputSerializer(serializers.Serializer):
        card_number = serializers.CharField(max_length=32, help_text="15-19 digits; spaces and dashes are ignored.")
        holder_name = serializers.CharField(max_length=200, help_text="Must be the account holder's name.")
        id_number = serializers.CharField(max_length=32, help_text="Must be the account holder's resident ID number.")
        reserved_mobile = serializers.CharField(max_length=20, help_text="The mobile the card's bank holds.")
        bound_account_kind = serializers.ChoiceField(
            choices=BoundCard.BoundAccountKind.values,
            required=False,
            default=BoundCard.BoundAccountKind.CLASS_I,
            help_text="What the card's account is. A Class II/III account may bind only class_i or credit_card.",
        )

        class Meta:
            ref_name = "CardBindInput"

    OutputSerializer = component(CardSerializer, "CardBound")

    @write_schema(
        "card_bind",
        tag="cards",
        summary="Bind a same-name card to a visible account and start its verification",
        description=(
            "The card is checked locally (same name and ID, R-VER-05; bound-account kind, R-ACC-03; debit card only for "
            "Class II/III and depository accounts, R-VER-04), then its elements are verified by the bound bank "
            "(R-ACC-04). A confirmed card is awaiting_micro_deposit: a micro-deposit is sent once the binding has "
            "committed (poll GET /cards/{id}/ for micro_deposit.state awaiting_backfill); a refused one is failed "
            "(failure_reason). A failed Luhn check only adds a warning (R-VER-03)."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        key_required=False,
        texts={
            400: "validation_error: malformed card number, ID number or mobile (fields says which)",
            409: "card_already_bound (this card is live on the account), account_not_active (closed), "
            "invalid_state (an internal account), idempotency_key_in_use",
            422: "card_holder_mismatch (not the holder's own name and ID), card_type_not_allowed (not a debit "
            "card), card_bin_unknown (issuer unknown: cannot be shown to be a debit card), "
            "bound_account_not_allowed (R-ACC-03), idempotency_key_mismatch",
        },
    )
    @idempotent_if_keyed
    def post(self, request, number: str):
        account = visible_account(request.auth, number)
        data = validated(self.InputSerializer, request.data)
        card = cards.card_bind(
            account=account,
            card_number=data["card_number"],
            holder_name=data["holder_name"],
            id_number=data["id_number"],
            reserved_mobile=data["reserved_mobile"],
            bound_account_kind=data["bound_account_kind"],
        )
        card = BoundCard.objects.select_related("account").get(pk=card.pk)
        return Response(self.OutputSerializer(card_data(card)).data, status=status.HTTP_201_CREATED)


class CardDetailApi(APIView):
    required_scope = "accounts:read"

    OutputSerializer = component(CardSerializer, "CardDetail")

    @detail_schema(
        "card_detail",
        tag="cards",
        summary="A bound card and its micro-deposit's progress",
        output=OutputSerializer,
        description=(
            "A card bound to one of this client's visible accounts, masked: its bank and type, its binding state "
            "(verifying, awaiting_micro_deposit, verified, failed, expired) and, while a micro-deposit is running, "
            "its state, expiry and attempts left."
        ),
    )
    def get(self, request, card_id: int):
        card = visible_card(request.auth, card_id)
        return Response(self.OutputSerializer(card_data(card)).data)


class MicroDepositConfirmApi(APIView):
    required_scope = "cards:write"

    class InputSerializer(serializers.Serializer):
        amount = MoneyInput(help_text='The amount the holder saw arrive on the card, e.g. "0.37".')

        class Meta:
            ref_name = "MicroDepositConfirmInput"

    OutputSerializer = component(CardSerializer, "CardConfirmed")

    @write_schema(
        "micro_deposit_confirm",
        tag="cards",
        summary="Back-fill the micro-deposit amount: verifies the card and activates a pending account",
        description=(
            "The holder reads the small amount the bank sent to the card and the partner sends it back here. A match "
            "verifies the card and, for a Class II/III account pending verification, activates the account; a "
            "mismatch answers 422 micro_deposit_mismatch with the attempts left (at 0 the card fails)."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        success=200,
        key_required=False,
        texts={
            409: "micro_deposit_expired (bind the card again), invalid_state (the card is not awaiting a "
            "back-fill, or its micro-deposit is not sent yet: data.state), idempotency_key_in_use",
            422: "micro_deposit_mismatch (data.attempts_left; at 0 the card is failed), idempotency_key_mismatch",
        },
    )
    @idempotent_if_keyed
    def post(self, request, card_id: int):
        card = visible_card(request.auth, card_id)
        data = validated(self.InputSerializer, request.data)
        cards.micro_deposit_confirm(card_id=card.pk, amount=data["amount"], actor=None)
        card = BoundCard.objects.select_related("account").get(pk=card.pk)
        return Response(self.OutputSerializer(card_data(card)).data)


class OtpSendApi(APIView):
    required_scope = "accounts:write"

    class InputSerializer(serializers.Serializer):
        purpose = serializers.ChoiceField(choices=OTP_PURPOSES, help_text="What the code will authorise.")

        class Meta:
            ref_name = "OtpSendInput"

    class OutputSerializer(serializers.Serializer):
        purpose = serializers.ChoiceField(choices=OTP_PURPOSES)
        mobile = serializers.CharField(source="mobile_masked", help_text='Where the code went, masked: "138****0000".')
        expires_at = LocalDateTime(help_text="The code works once, until this moment (120 s after sending).")

        class Meta:
            ref_name = "OtpSent"

    @write_schema(
        "otp_send",
        tag="authorisation",
        summary="Text a one-time code to the holder's bound mobile",
        description=(
            "The code goes to the reserved mobile of the account's verified card (else of the card being verified, "
            'else the party\'s mobile) and is carried by the instruction as {"method": "otp", "code": "..."}. A new '
            "code supersedes the earlier unused ones of the same purpose."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        success=202,
        key_required=False,
        texts={409: "mobile_unknown: no mobile is known for the account; idempotency_key_in_use"},
    )
    @idempotent_if_keyed
    def post(self, request, number: str):
        account = visible_account(request.auth, number)
        data = validated(self.InputSerializer, request.data)
        otp = cards.otp_send(account=account, purpose=data["purpose"])
        return Response(self.OutputSerializer(otp).data, status=status.HTTP_202_ACCEPTED)
