"""The answer of an instruction waiting for the client on the bank's page (202 with a
``confirmation_url``), shared by the platform endpoints."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.response import Response

from backoffice.api import LocalDateTime, MoneyOutput, StrIdField
from custody.loans.models import Confirmation


class PendingConfirmationSerializer(serializers.Serializer):
    """An instruction waiting for the client on the bank's portal (send the client to the URL)."""

    confirmation = StrIdField(source="pk")
    kind = serializers.ChoiceField(choices=Confirmation.Kind.choices)
    state = serializers.ChoiceField(
        choices=Confirmation.State.choices, read_only=True, help_text="pending, confirmed, declined, failed or expired."
    )
    code = serializers.CharField(source="outcome_code", allow_blank=True, help_text="A failed one's refusal code.")
    out_request_no = serializers.CharField()
    amount = MoneyOutput()
    sub_account = serializers.SerializerMethodField(help_text="The client's sub-account (an opening's once opened).")
    loan = StrIdField(source="loan_id", allow_null=True)
    confirmation_url = serializers.SerializerMethodField(
        help_text="The bank's page where the client confirms; the platform never sees the password."
    )
    expires_at = LocalDateTime()

    class Meta:
        ref_name = "InstructionConfirmation"

    def get_sub_account(self, obj) -> str | None:
        return obj.sub_account.account.number if obj.sub_account_id else None

    def get_confirmation_url(self, obj) -> str:
        path = reverse("custody_portal:confirmation", args=[obj.token])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


def accepted(confirmation: Confirmation, request) -> Response:
    body = PendingConfirmationSerializer(confirmation, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED)
