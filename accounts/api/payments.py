"""Partner API: money in and out (thin views over accounts.payments.recharges, accounts.payments.withdrawals,
accounts.payments.callbacks and the read side in accounts.payments).

- ``POST /api/v1/recharges/`` (``recharges:write``): pull money from the account's bound card
  through a channel, with the holder's authorisation; ``GET /api/v1/recharges/{id}/``
  (``accounts:read``).
- ``POST /api/v1/withdrawals/`` (``withdrawals:write``): pay money out to the account's bound
  same-name debit card (R-WD-01); ``GET /api/v1/withdrawals/{id}/`` and ``GET /api/v1/withdrawals/``
  (``accounts:read``), filtered by state, account and creation date, paginated.
- ``POST /api/v1/channels/{code}/callbacks/``: the channel's own notification, signed with the
  channel's key, NOT by an API client: no client authentication, no scope, no CSRF check.

Both POSTs are signed and idempotent on ``Idempotency-Key`` (a retry replays the first answer).
The business reference ``out_request_no`` is unique per client forever: a second use under
another key answers 409 ``duplicate_reference`` with the first object's id in ``data.id``.
Recharges and withdrawals are created under the client name ``api:<client_id>``
(``backoffice.signing.ledger_client``); a client sees only the ones it created, on accounts its
scopes still show (``*``, ``party:<id>``, ``account:<number>``); anything else is 404.

The holder's authorisation travels in ``authorization``: ``{"method": "otp", "code": "123456"}``
(a code from ``POST /api/v1/accounts/{number}/otp/`` with the purpose ``recharge`` or
``withdrawal``) or ``{"method": "password", "password": "......"}`` (the transaction password).
A missing or malformed one is 400 on the field ``authorization``; a wrong one 403
``authorization_invalid``.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.access import visible_account
from accounts.ledger.models import Account
from accounts.payments import callbacks, recharges, withdrawals
from accounts.payments.models import Channel, ChannelCallback, Recharge, Withdrawal
from accounts.payments.selectors import recharge_list, withdrawal_list
from backoffice.api import (
    DateRangeFilterSerializer,
    ErrorSerializer,
    KeysetPagination,
    LocalDateTime,
    MoneyInput,
    MoneyOutput,
    component,
    detail_schema,
    found_or_404,
    list_schema,
    paginated,
    validated,
    write_schema,
)
from backoffice.errors import DomainError
from backoffice.idempotency import idempotent
from backoffice.models import ApiClient
from backoffice.signing import client_ip, ledger_client

# -- fields --------------------------------------------------------------------------------------

AUTHORIZATION_HELP = (
    "The holder's authorisation (purpose {purpose}): "
    '{{"method": "otp", "code": "123456"}}, a one-time code sent by POST /accounts/{{number}}/otp/ for this purpose '
    '(it works once, for 120 s), or {{"method": "password", "password": "......"}}, the 6-digit transaction password '
    "the holder set in the portal."
)
AUTHORIZATION_SCHEMA = {
    "type": "object",
    "properties": {
        "method": {"type": "string", "enum": ["otp", "password"]},
        "code": {"type": "string", "pattern": r"^[0-9]{6}$", "description": "With otp: the code, as a string."},
        "password": {"type": "string", "description": "With password: the transaction password, as a string."},
    },
    "required": ["method"],
    "example": {"method": "otp", "code": "123456"},
}


@extend_schema_field(AUTHORIZATION_SCHEMA)
class AuthorizationInput(serializers.Field):
    """The shape of ``authorization``; whether it is right is for accounts.payments.authorisation to say."""

    default_error_messages = {
        "not_an_object": _('Send the authorisation as an object: {"method": "otp", "code": "123456"}.'),
        "method": _("Unknown authorisation method: use otp or password."),
        "code": _('With the method otp, send the one-time code as a string: "123456".'),
        "password": _("With the method password, send the transaction password as a string."),
    }

    def to_internal_value(self, data) -> dict:
        if not isinstance(data, dict):
            self._refuse("not_an_object")
        method = data.get("method")
        if method not in ("otp", "password", "standing"):  # standing: refused by the service with its reason
            self._refuse("method")
        if method == "otp" and not (isinstance(data.get("code"), str) and data["code"].strip()):
            self._refuse("code")
        if method == "password" and not (isinstance(data.get("password"), str) and data["password"]):
            self._refuse("password")
        return dict(data)

    def _refuse(self, key: str):
        # Not self.fail(): it would str.format() the messages, whose JSON examples hold braces.
        raise serializers.ValidationError(self.error_messages[key], code=key)

    def to_representation(self, value):  # write-only: never echoed
        return None


def money_request_input(name: str, *, purpose: str, amount_help: str | None = None) -> type[serializers.Serializer]:
    """What a recharge or a withdrawal request carries (``purpose``: the one-time code's), as the component ``name``."""

    class MoneyRequestInput(serializers.Serializer):
        account = serializers.CharField(max_length=16, help_text="A visible, active customer account with a verified card.")
        amount = MoneyInput(help_text=amount_help)
        out_request_no = serializers.CharField(max_length=64, help_text="Your business reference, unique per client forever.")
        authorization = AuthorizationInput(help_text=AUTHORIZATION_HELP.format(purpose=purpose))
        channel = serializers.CharField(
            max_length=32, required=False, allow_blank=True, help_text="A channel code; default: the enabled one of top priority."
        )

        class Meta:
            ref_name = name

    return MoneyRequestInput


def _state_field(states, example: str, **kwargs) -> serializers.CharField:
    """A state as an enum of ``states``: each choice set has its own name in settings' ENUM_NAME_OVERRIDES
    (``WithdrawalStateEnum``, ``ChannelRequestStateEnum``), so that sets named ``state`` never collide."""

    @extend_schema_field({"type": "string", "enum": list(states), "example": example})
    class StateField(serializers.CharField):
        pass

    return StateField(help_text="One of: " + ", ".join(states) + ".", **kwargs)


class WithdrawalSerializer(serializers.Serializer):
    """A withdrawal as a partner sees it: amounts as strings, the card masked."""

    id = serializers.CharField()
    request_id = serializers.CharField(help_text="The id sent to the channel: WD and 10 digits.")
    out_request_no = serializers.CharField(help_text="The client's business reference.")
    account = serializers.CharField(source="account.number")
    card_number = serializers.CharField(
        source="card.card_number_masked", help_text='The payee card, masked: "6228 **** **** 0018".'
    )
    amount = MoneyOutput(help_text="What reaches the card.")
    fee = MoneyOutput(help_text="The channel's per-item fee, held with the amount and taken only on success (R-FEE-04).")
    state = _state_field(
        Withdrawal.State.values,
        "succeeded",
        read_only=True,
    )
    strategy = serializers.ChoiceField(
        choices=Channel.Strategy.values,
        help_text="freeze: a hold on the account; transit: moved to the withdrawal transit account.",
    )
    channel = serializers.CharField(source="channel.code")
    settles = serializers.ChoiceField(
        choices=Withdrawal.Settles.values, help_text="next_working_day (T+1) for an amount above the channel's real-time limit."
    )
    failure_reason = serializers.CharField(allow_blank=True, help_text="Why a failed withdrawal failed; empty otherwise.")
    created_at = LocalDateTime()
    updated_at = LocalDateTime()
    resolved_at = LocalDateTime(allow_null=True, help_text="When the outcome became known; null while in flight.")

    class Meta:
        ref_name = "Withdrawal"


class RechargeSerializer(serializers.Serializer):
    """A recharge as a partner sees it."""

    id = serializers.CharField()
    request_id = serializers.CharField(help_text="The id sent to the channel: RC and 10 digits.")
    out_request_no = serializers.CharField(help_text="The client's business reference.")
    account = serializers.CharField(source="account.number")
    amount = MoneyOutput()
    state = _state_field(Recharge.State.values, "succeeded", read_only=True)
    channel = serializers.CharField(source="channel.code")
    failure_reason = serializers.CharField(allow_blank=True, help_text="Why a failed recharge failed; empty otherwise.")
    created_at = LocalDateTime()
    updated_at = LocalDateTime()
    resolved_at = LocalDateTime(allow_null=True, help_text="When the outcome became known; null while in flight.")

    class Meta:
        ref_name = "Recharge"


# -- helpers -------------------------------------------------------------------------------------


def client_visible_accounts(client: ApiClient) -> QuerySet[Account] | None:
    """The accounts the client's scopes show (``None``: all of them, scope ``*``)."""
    scopes = set(client.scopes)
    if "*" in scopes:
        return None
    numbers = [scope.split(":", 1)[1] for scope in scopes if scope.startswith("account:")]
    parties = [int(p) for p in (scope.split(":", 1)[1] for scope in scopes if scope.startswith("party:")) if p.isdigit()]
    return Account.objects.filter(Q(number__in=numbers) | Q(party_id__in=parties))


def _own_withdrawals(client: ApiClient, **filters) -> QuerySet[Withdrawal]:
    return withdrawal_list(clients=[ledger_client(client)], accounts=client_visible_accounts(client), **filters)


def _own_recharges(client: ApiClient, **filters) -> QuerySet[Recharge]:
    return recharge_list(clients=[ledger_client(client)], accounts=client_visible_accounts(client), **filters)


def _own(rows: QuerySet, pk: int, message):
    return found_or_404(rows.filter(pk=pk).first(), message)


class ListFilterSerializer(DateRangeFilterSerializer):
    """The filters of the recharge and withdrawal lists (each adds its own ``state`` choices)."""

    account = serializers.CharField(max_length=16, required=False, help_text="An account number.")
    date_from = serializers.DateField(required=False, help_text="First creation day (Asia/Shanghai), YYYY-MM-DD.")
    date_to = serializers.DateField(required=False, help_text="Last creation day, inclusive.")


_HOLDER_403 = (
    "authorization_invalid (wrong or used one-time code, wrong transaction password), transaction_password_locked, "
    "forbidden_scope, ip_not_allowed"
)
_HOLDER_422 = "otp_expired (request a new code), idempotency_key_mismatch"
_HOLDER_400 = "validation_error (fields says which: amount, out_request_no, authorization, ...), idempotency_key_required"


class MoneyCollectionApi(APIView):
    """``/recharges/`` and ``/withdrawals/``: GET lists this client's own (``accounts:read``), POST creates one
    (``write_scope``); each method names its serializers."""

    pagination_class = KeysetPagination
    write_scope: str

    @property
    def required_scope(self) -> str | None:
        return {"GET": "accounts:read", "HEAD": "accounts:read", "POST": self.write_scope}.get(self.request.method)

    def own_page(self, request, own_rows) -> Response:
        """A filtered, paginated list of this client's own rows (``own_rows(client, **filters)``)."""
        filters = validated(self.FilterSerializer, request.query_params)
        rows = own_rows(
            request.auth,
            state=filters.get("state"),
            account_number=filters.get("account"),
            date_from=filters.get("date_from"),
            date_to=filters.get("date_to"),
        )
        return paginated(self, request, rows, self.ListOutputSerializer)

    def create(self, request, input_serializer, output_serializer, service_create, rows_of) -> Response:
        """Validate, create with ``service_create`` under the client's ledger name and answer 201 with the state
        reached by now (re-read through ``rows_of(clients=...)``, the selector)."""
        data = validated(input_serializer, request.data)
        account = visible_account(request.auth, data["account"])
        client = ledger_client(request.auth)
        created = service_create(
            client=client,
            out_request_no=data["out_request_no"],
            account=account,
            amount=data["amount"],
            authorization=data["authorization"],
            channel_code=data.get("channel") or None,
        )
        created = rows_of(clients=[client]).get(pk=created.pk)  # the state reached by now
        return Response(output_serializer(created).data, status=status.HTTP_201_CREATED)


# -- recharges -----------------------------------------------------------------------------------


class RechargeCreateApi(MoneyCollectionApi):
    """``/recharges/``: GET lists this client's recharges, POST creates one (as /withdrawals/)."""

    write_scope = "recharges:write"

    class FilterSerializer(ListFilterSerializer):
        state = serializers.ChoiceField(choices=Recharge.State.values, required=False)

        class Meta:
            ref_name = "RechargeFilter"

    ListOutputSerializer = component(RechargeSerializer, "RechargeListItem")

    @list_schema(
        "recharge_list",
        tag="money in and out",
        summary="This client's recharges, newest first, paginated",
        filters=FilterSerializer,
        output=ListOutputSerializer,
        items="Recharges",
    )
    def get(self, request):
        return self.own_page(request, _own_recharges)

    InputSerializer = money_request_input("RechargeCreateInput", purpose="recharge")
    OutputSerializer = component(RechargeSerializer, "RechargeCreated")

    @write_schema(
        "recharge_create",
        tag="money in and out",
        summary="Recharge (充值) a customer account from its bound card, with the holder's authorisation",
        description=(
            "The account must be active with a verified card, and the tier limits must admit the credit (checked now and "
            "again when the money arrives). The collection is sent to the channel after the recharge is stored; the "
            "answer shows the state reached by then (created, or already succeeded/failed). On success the account is "
            "credited from the clearing account. Poll GET /recharges/{id}/ for the outcome."
        ),
        request=InputSerializer,
        output=OutputSerializer,
        texts={
            400: _HOLDER_400,
            403: _HOLDER_403,
            409: "duplicate_reference (data.id: the first recharge), account_not_active, no_withdrawal_card (no "
            "verified card), withdrawal_not_allowed (identity not verified), limit_exceeded, tier_flow_not_allowed, "
            "no_channel, idempotency_key_in_use",
            422: _HOLDER_422,
        },
    )
    @idempotent
    def post(self, request):
        return self.create(request, self.InputSerializer, self.OutputSerializer, recharges.recharge_create, recharge_list)


class RechargeDetailApi(APIView):
    required_scope = "accounts:read"
    OutputSerializer = component(RechargeSerializer, "RechargeDetail")

    @detail_schema(
        "recharge_detail",
        tag="money in and out",
        summary="One of this client's recharges",
        output=OutputSerializer,
        description=(
            "A recharge this client asked for, with its state (created, submitted, unknown, succeeded, failed), "
            "the channel and the channel's request id. Poll it, or wait for the webhook, until it is final."
        ),
    )
    def get(self, request, recharge_id: int):
        recharge = _own(_own_recharges(request.auth), recharge_id, _("No such recharge."))
        return Response(self.OutputSerializer(recharge).data)


# -- withdrawals ---------------------------------------------------------------------------------


class WithdrawalCollectionApi(MoneyCollectionApi):
    """``/withdrawals/``: GET lists this client's withdrawals, POST creates one. Two operations on
    one path, so one view, each method with its own serializers and scope."""

    write_scope = "withdrawals:write"
    CreateInputSerializer = money_request_input(
        "WithdrawalCreateInput",
        purpose="withdrawal",
        amount_help='What reaches the card, e.g. "100.00"; the fee is held on top of it.',
    )
    CreateOutputSerializer = component(WithdrawalSerializer, "WithdrawalCreated")

    class FilterSerializer(ListFilterSerializer):
        state = serializers.ChoiceField(choices=Withdrawal.State.values, required=False)

        class Meta:
            ref_name = "WithdrawalFilter"

    ListOutputSerializer = component(WithdrawalSerializer, "WithdrawalListItem")

    @list_schema(
        "withdrawal_list",
        tag="money in and out",
        summary="This client's withdrawals, newest first, paginated",
        filters=FilterSerializer,
        output=ListOutputSerializer,
        items="Withdrawals",
    )
    def get(self, request):
        return self.own_page(request, _own_withdrawals)

    @write_schema(
        "withdrawal_create",
        tag="money in and out",
        summary="Withdraw (提现) from a customer account to its bound debit card, with the holder's authorisation",
        description=(
            "Checked before acceptance (R-WD-01): the account is active and verified and not frozen against debits; the "
            "payee is its verified same-name debit card; amount + fee <= available; the holder's daily count and tier "
            "limits; an amount above the channel's real-time limit only inside its working-day window, and then labelled "
            "settles = next_working_day (T+1). The amount and the fee are held at once (strategy freeze: a hold; "
            "transit: moved to the withdrawal transit account) and submitted to the channel after commit; the answer "
            "shows the state reached by then. The fee is taken only on success. Poll GET /withdrawals/{id}/."
        ),
        request=CreateInputSerializer,
        output=CreateOutputSerializer,
        texts={
            400: _HOLDER_400,
            403: _HOLDER_403,
            409: "duplicate_reference (data.id: the first withdrawal), insufficient_funds (data.available, "
            "data.shortfall; the fee counts), account_not_active, withdrawal_not_allowed, no_withdrawal_card, "
            "daily_count_exceeded (data.count, data.limit), outside_submission_window (data.next_window), "
            "limit_exceeded, tier_flow_not_allowed, no_channel, idempotency_key_in_use",
            422: _HOLDER_422,
        },
    )
    @idempotent
    def post(self, request):
        return self.create(
            request, self.CreateInputSerializer, self.CreateOutputSerializer, withdrawals.withdrawal_create, withdrawal_list
        )


class WithdrawalDetailApi(APIView):
    required_scope = "accounts:read"
    OutputSerializer = component(WithdrawalSerializer, "WithdrawalDetail")

    @detail_schema(
        "withdrawal_detail",
        tag="money in and out",
        summary="One of this client's withdrawals",
        output=OutputSerializer,
        description=(
            "A withdrawal this client asked for: amount and fee, state (created, funds_held, submitted, unknown, "
            "succeeded, failed, returned), strategy, channel and settlement (real_time or next_working_day). An "
            "unknown outcome is queried with the channel until it is final."
        ),
    )
    def get(self, request, withdrawal_id: int):
        withdrawal = _own(_own_withdrawals(request.auth), withdrawal_id, _("No such withdrawal."))
        return Response(self.OutputSerializer(withdrawal).data)


# -- channel callbacks ---------------------------------------------------------------------------


class CallbackAmountMismatchError(DomainError):
    code, http_status = "amount_mismatch", 422
    message = _("The callback's amount differs from the instruction's; it was recorded, not applied, and an alert raised.")


class ChannelCallbackApi(APIView):
    """Signed by the channel with its own key (verified by its adapter), not by an API client."""

    authentication_classes: list = []
    permission_classes: list = []

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField(help_text='Always "ok".')
        duplicate = serializers.BooleanField(help_text="True when this event was received before: nothing happened again.")
        outcome = serializers.ChoiceField(
            choices=ChannelCallback.Outcome.values,
            help_text="applied, no_change (already known), contradiction (contradicts a final state: alert, nothing "
            "moved), unknown_request (not one of ours: alert).",
        )

        class Meta:
            ref_name = "ChannelCallbackReceived"

    @extend_schema(
        operation_id="channel_callback",
        tags=["channels"],
        summary="A payment channel's result notification (the channel's own format, signed with its key)",
        description=(
            "Not signed by an API client: the channel's adapter verifies the body's own signature with the channel's "
            "key. The simulator's format is a JSON object {request_id, channel_txn_id, status: success | failure | "
            "returned, amount, timestamp, signature}. Stored once per channel transaction and event; a duplicate "
            "answers 200 with duplicate = true and has no effect; a final state never regresses."
        ),
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: OutputSerializer,
            401: OpenApiResponse(ErrorSerializer, description="invalid_signature: forged or unreadable; recorded, nothing moved"),
            404: OpenApiResponse(ErrorSerializer, description="not_found: no such channel"),
            422: OpenApiResponse(
                ErrorSerializer, description="amount_mismatch: the amount differs (data.duplicate); recorded, not applied"
            ),
        },
    )
    def post(self, request, code: str):
        callback, duplicate = callbacks.channel_callback_receive(
            channel_code=code, body=request.body, headers=dict(request.headers), remote_addr=client_ip(request)
        )
        if callback.outcome == ChannelCallback.Outcome.AMOUNT_MISMATCH:
            raise CallbackAmountMismatchError(duplicate=duplicate)
        return Response(self.OutputSerializer({"code": "ok", "duplicate": duplicate, "outcome": callback.outcome}).data)
