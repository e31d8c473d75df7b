"""Partner API: creating parties and opening accounts for them (thin views over accounts.services).

- ``POST /api/v1/parties/`` (scope ``parties:write``): the party is created in KYC
  ``pending_review`` and the creating client is granted ``party:<id>`` in the same transaction
  (``accounts.parties.partner.partner_party_create``).
- ``POST /api/v1/accounts/`` (scope ``accounts:write``): an account for a visible party, under
  the R-ACC-01/02 counting rules of ``accounts.parties.services.account_open``; the new account is
  visible through the party's scope.

Both accept an optional ``Idempotency-Key`` (they move no money). Personal data is masked.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.access import client_sees_party, visible_party
from accounts.api.serializers import AccountSerializer, PartySerializer, party_data
from accounts.ledger.chart import ROLE_CHART, Role
from accounts.ledger.models import Account
from accounts.parties.models import Party
from accounts.parties.partner import partner_account_open, partner_party_create
from backoffice.api import (
    StrIdField,
    component,
    idempotent_if_keyed,
    validated,
    write_schema,
)

CUSTOMER_ROLES = sorted(role for role, rule in ROLE_CHART.items() if not rule.internal)
API_TIERS = [Account.Tier.CLASS_I, Account.Tier.CLASS_II, Account.Tier.CLASS_III, Account.Tier.CORPORATE]


class PartyCreateApi(APIView):
    required_scope = "parties:write"

    class InputSerializer(serializers.Serializer):
        type = serializers.ChoiceField(choices=Party.Type.values)
        name = serializers.CharField(max_length=400)
        id_number = serializers.CharField(
            required=False, allow_blank=True, max_length=32, help_text="A person's resident ID number (GB 11643)."
        )
        mobile = serializers.CharField(required=False, allow_blank=True, max_length=20, help_text="A mainland mobile number.")
        credit_code = serializers.CharField(
            required=False, allow_blank=True, max_length=32, help_text="An organisation's unified social credit code."
        )
        legal_representative = serializers.CharField(
            required=False, allow_blank=True, max_length=200, help_text="An organisation's legal representative."
        )

        class Meta:
            ref_name = "PartyCreateInput"

    OutputSerializer = component(PartySerializer, "PartyCreated")

    @write_schema(
        "party_create",
        tag="parties",
        summary="Create a person or an organisation (KYC pending review); the client may then see it",
        description=(
            "Registers a customer: a person (name, ID number, mobile) or an organisation (name, unified social credit "
            "code, legal representative). The party starts with KYC pending_review; an operator approves it before "
            "any account can be opened for it. Personal data is masked in the answer. The Idempotency-Key is optional "
            "(nothing moves); a second party with the same ID number or credit code is 409 duplicate_party."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        key_required=False,
        errors=(400, 401, 403, 409, 422),
        texts={
            400: "validation_error: fields names each bad field (ID number, credit code, mobile, missing data)",
            409: "duplicate_party: data.party is the existing party's id, only if this client may see it; idempotency_key_in_use",
        },
        examples=[
            OpenApiExample(
                "person",
                request_only=True,
                value={"type": "person", "name": "张三", "id_number": "11010519491231002X", "mobile": "13800000000"},
            ),
            OpenApiExample(
                "organisation",
                request_only=True,
                value={
                    "type": "organisation",
                    "name": "示例科技有限公司",
                    "credit_code": "91110105MA01ABCD2X",
                    "legal_representative": "李四",
                },
            ),
        ],
    )
    @idempotent_if_keyed
    def post(self, request):
        data = validated(self.InputSerializer, request.data)
        party = partner_party_create(
            client=request.auth,
            sees_party=lambda party_id: party_id is not None and client_sees_party(request.auth, party_id),
            type=data["type"],
            name=data["name"],
            id_number=data.get("id_number") or None,
            mobile=data.get("mobile") or None,
            credit_code=data.get("credit_code") or None,
            legal_representative=data.get("legal_representative") or None,
        )
        return Response(self.OutputSerializer(party_data(party)).data, status=status.HTTP_201_CREATED)


class AccountOpenApi(APIView):
    required_scope = "accounts:write"

    class InputSerializer(serializers.Serializer):
        party = StrIdField(help_text="A party this client sees (a string; an integer is also accepted).")
        tier = serializers.ChoiceField(choices=API_TIERS, help_text="I, II or III for a person; corporate for an organisation.")
        role = serializers.ChoiceField(
            choices=CUSTOMER_ROLES, required=False, help_text="Default: personal for a person, corporate for an organisation."
        )
        override_reason = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=500,
            help_text="R-ACC-02: opening a Class II/III account beyond the per-person count needs a recorded reason. "
            "Never overrides R-ACC-01 (one Class I).",
        )

        class Meta:
            ref_name = "AccountOpenInput"

    OutputSerializer = component(AccountSerializer, "AccountOpened")

    @write_schema(
        "account_open",
        tag="accounts",
        summary="Open an account for a visible party (Class II/III start in pending_verification)",
        description=(
            "Opens a customer account for a party this client may see and whose KYC is approved: a person's Class I, "
            "II or III account, an organisation's corporate account. Class II and III accounts start in "
            "pending_verification and become active once a card bound to them is verified (POST "
            "/accounts/{number}/cards). Per-person tier counts apply (R-ACC-01/02: 409 limit_exceeded)."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        key_required=False,
        texts={
            400: "validation_error: e.g. a tier the party's type does not allow (fields.tier)",
            404: "not_found: no such party, or not visible to this client",
            409: "limit_exceeded (R-ACC-01/02: data.limit, data.maximum, data.held, data.remaining), "
            "kyc_not_approved (data.state, data.tier), idempotency_key_in_use",
        },
    )
    @idempotent_if_keyed
    def post(self, request):
        data = validated(self.InputSerializer, request.data)
        party = visible_party(request.auth, data["party"])
        role = data.get("role") or (Role.CORPORATE if party.type == Party.Type.ORGANISATION else Role.PERSONAL)
        account = partner_account_open(
            client=request.auth,
            party=party,
            tier=data["tier"],
            role=role,
            override_reason=data.get("override_reason", ""),
        )
        account = Account.objects.get(pk=account.pk)
        return Response(self.OutputSerializer(account).data, status=status.HTTP_201_CREATED)
