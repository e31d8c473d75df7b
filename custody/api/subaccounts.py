"""Partner API for P2P platforms: their clients' depository sub-accounts (thin views over
``custody.services`` and ``custody.selectors``).

A platform's server calls with a client holding exactly one scope, ``platform:<code>``
(``backoffice.signing``): it reaches only ``/api/v1/platforms/<code>/...`` of its own platform and is
refused (403 ``platform_scope_refused``) on every generic endpoint (accounts, transfers, holds,
parties, cards, recharges, withdrawals: R-DEP-03/04). Another platform's code, or a sub-account
of another platform (even of a person who is a client of both), answers 404 ``not_found``, exactly
like one that does not exist. A bank's client without a platform scope is refused 403
``forbidden_scope``.

- ``POST /api/v1/platforms/{code}/sub-accounts/``: ask for a sub-account for a client in one role
  (R-DEP-01: one per platform, client and role): 202 with a confirmation URL where the client opens
  it (R-DEP-04, ``custody.loans.confirmations``). Moves no money: ``Idempotency-Key`` optional and,
  when sent, replayed like the money-moving POSTs.
- ``GET /api/v1/platforms/{code}/sub-accounts/?role=``: the platform's sub-accounts, paginated.
- ``GET /api/v1/platforms/{code}/sub-accounts/{number}/``: one, with balance, available, frozen.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.ledger.models import Account
from accounts.parties.models import Party
from backoffice.api import (
    KeysetPagination,
    LocalDateTime,
    MoneyOutput,
    component,
    detail_schema,
    found_or_404,
    idempotent_if_keyed,
    list_schema,
    paginated,
    validated,
    write_schema,
)
from backoffice.models import ApiClient
from backoffice.signing import ForbiddenScopeError, client_platform_codes
from custody import selectors
from custody.api.pending import PendingConfirmationSerializer
from custody.loans import confirmations
from custody.models import LendingPlatform, SubAccount

TAG = "custody: platforms"


def client_label(client: ApiClient) -> str:
    return f"api:{client.client_id}"


class PlatformApiView(APIView):
    """Base of the platform endpoints: only a client holding ``platform:<code>`` of the path's code."""

    platform_endpoint = True  # backoffice.signing.HasScope: platform clients pass here, and only here
    pagination_class = KeysetPagination

    def platform(self, request, code: str) -> LendingPlatform:
        codes = client_platform_codes(request.auth)
        if not codes:
            raise ForbiddenScopeError()
        platform = selectors.platform_get(code=code) if code in codes else None
        return found_or_404(platform, _("No such platform."))


# -- serializers -----------------------------------------------------------------------------


class HolderSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=Party.Type.values)
    name = serializers.CharField()
    id_number = serializers.CharField(required=False, help_text='A person\'s, masked: "110105********002X".')
    credit_code = serializers.CharField(required=False, help_text="An organisation's, masked.")
    mobile = serializers.CharField(allow_null=True, help_text='Masked: "138****0000"; null when none is known.')

    class Meta:
        ref_name = "SubAccountHolder"


def holder_data(party: Party) -> dict:
    data = {"type": party.type, "name": party.name, "mobile": party.mobile_masked if party.mobile_encrypted else None}
    if party.type == Party.Type.PERSON:
        data["id_number"] = party.id_number_masked
    else:
        data["credit_code"] = party.credit_code_masked
    return data


@extend_schema_field(HolderSerializer)
class HolderField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value) -> dict:
        return holder_data(value)


class SubAccountSerializer(serializers.Serializer):
    """A sub-account as its platform sees it: personal data masked, no other account of the holder."""

    number = serializers.CharField(source="account.number", help_text="The sub-account's account number.")
    role = serializers.ChoiceField(choices=SubAccount.Role.values)
    state = serializers.ChoiceField(
        choices=Account.State.choices,
        read_only=True,
        source="account.state",
        help_text="The account's state (" + ", ".join(Account.State.values) + "): pending_verification until the holder's "
        "own same-name debit card is verified; then active.",
    )
    holder = HolderField(source="party")
    currency = serializers.CharField(source="account.currency")
    balance = MoneyOutput(source="account.balance")
    available = MoneyOutput(source="account.available", help_text="balance - frozen")
    frozen = MoneyOutput(source="account.frozen")
    created_at = LocalDateTime()

    class Meta:
        ref_name = "SubAccount"


# -- views ---------------------------------------------------------------------------------------


class SubAccountCollectionApi(PlatformApiView):
    """``/platforms/{code}/sub-accounts/``: GET lists the platform's sub-accounts, POST opens one."""

    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=SubAccount.Role.values)
        type = serializers.ChoiceField(choices=Party.Type.values, default=Party.Type.PERSON)
        name = serializers.CharField(max_length=200)
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
        out_request_no = serializers.CharField(
            required=False, allow_blank=True, max_length=64, help_text="The platform's reference (unique per platform)."
        )

        class Meta:
            ref_name = "SubAccountOpenInput"

    class FilterSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=SubAccount.Role.values, required=False)

        class Meta:
            ref_name = "SubAccountFilter"

    class OpeningSerializer(PendingConfirmationSerializer):
        """The opening waits for the client on the bank's page (R-DEP-04)."""

        role = serializers.ChoiceField(source="data.role", choices=SubAccount.Role.values, read_only=True)
        holder = HolderField(source="party")

        class Meta:
            ref_name = "SubAccountOpeningPending"

    ListItemSerializer = component(SubAccountSerializer, "SubAccountListItem")

    @list_schema(
        "platform_subaccount_list",
        tag=TAG,
        summary="The platform's depository sub-accounts, oldest first, paginated",
        filters=FilterSerializer,
        output=ListItemSerializer,
        items="Sub-accounts",
        errors=(400, 401, 403, 404),
    )
    def get(self, request, code: str):
        platform = self.platform(request, code)
        filters = validated(self.FilterSerializer, request.query_params)
        rows = selectors.platform_subaccounts(platform=platform, role=filters.get("role"))
        return paginated(self, request, rows, self.ListItemSerializer)

    @write_schema(
        "platform_subaccount_open",
        tag=TAG,
        summary="Ask for a client's depository sub-account (存管子账户); the client opens it on the bank's page",
        description=(
            "R-DEP-04: a platform never opens a client's account: 202 with a confirmation_url (15 minutes) where the "
            "client, signed in to the bank's portal (or setting up their access there, proven by a one-time code texted "
            "to their mobile), confirms; only then is the sub-account opened, in pending_verification until the "
            "holder's own same-name debit card is verified. The platform learns it by webhook (subaccount.opened with "
            "the number, confirmation.confirmed; or confirmation.declined | expired | failed). R-DEP-01: one "
            "sub-account per platform, client and role (a second: 409 duplicate_sub_account with data.account); the "
            "same request for a client and role still pending answers the same confirmation. A person the bank already "
            "knows (same ID number; same credit code for an organisation) is reused, never duplicated, and must carry "
            "the same name (422 identity_mismatch); an unknown one is recorded (KYC pending review). An active platform "
            "asks for every role; a winding-down one only compensation (409 platform_not_active)."
        ),
        request=InputSerializer,
        output=OpeningSerializer,
        success=202,
        key_required=False,
        texts={
            400: "validation_error: fields names each bad field (role, ID number, credit code, mobile)",
            403: "platform_scope_refused, forbidden_scope, ip_not_allowed",
            404: "not_found: no such platform, or not this client's",
            409: "duplicate_sub_account (data.account), platform_not_active (data.state), kyc_not_approved, "
            "duplicate_reference, idempotency_key_in_use",
            422: "identity_mismatch, idempotency_key_mismatch",
        },
        examples=[
            OpenApiExample(
                "lender",
                request_only=True,
                value={
                    "role": "lender",
                    "type": "person",
                    "name": "张三",
                    "id_number": "11010519491231002X",
                    "mobile": "13800000000",
                },
            )
        ],
    )
    @idempotent_if_keyed
    def post(self, request, code: str):
        platform = self.platform(request, code)
        data = validated(self.InputSerializer, request.data)
        role = data.pop("role")
        out_request_no = data.pop("out_request_no", "")
        identity = {key: value for key, value in data.items() if value not in ("", None)}
        confirmation = confirmations.subaccount_open_request(
            platform=platform,
            role=role,
            identity_data=identity,
            out_request_no=out_request_no,
            actor_label=client_label(request.auth),
        )
        body = self.OpeningSerializer(confirmation, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class SubAccountDetailApi(PlatformApiView):
    OutputSerializer = component(SubAccountSerializer, "SubAccountDetail")

    @detail_schema(
        "platform_subaccount_detail",
        tag=TAG,
        summary="One of the platform's sub-accounts, with balance, available and frozen",
        output=OutputSerializer,
    )
    def get(self, request, code: str, number: str):
        platform = self.platform(request, code)
        sub_account = selectors.platform_subaccount(platform=platform, number=number)
        return Response(self.OutputSerializer(found_or_404(sub_account, _("No such sub-account."))).data)
