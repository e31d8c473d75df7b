"""Partner API for P2P platforms: loans, bids, disbursement and repayments (thin views over
``custody.loans.services`` and ``custody.loans.selectors``).

A platform's client (scope ``platform:<code>``) creates loans under ``/platforms/{code}/loans/``
and acts on them under ``/loans/{id}/...``: a loan of another platform answers 404 ``not_found``,
exactly like one that does not exist; a bank's client is refused 403 ``forbidden_scope``.

Every instruction that moves a client's money carries the client's ``authorization`` (R-DEP-02):
``{"method": "standing", "id": "N"}``, a standing authorisation the client granted on the bank's
pages. ``password`` and ``otp`` are refused (403 ``authorization_method_refused``: a platform never
sees them). ``{"method": "confirm"}`` on a bid answers 202 with a ``confirmation_url`` on the bank's
portal where the client confirms with the transaction password (outcome by webhook); so does it on a
repayment (the payer confirms the total due) and on a disbursement (the borrower confirms the service
fee). ``out_request_no`` is unique per platform for loans, bids and repayments each (409
``duplicate_reference`` with ``data.id``). Money-moving POSTs need an ``Idempotency-Key``; a retry with
the same key and body replays the first answer.
"""

from __future__ import annotations

from decimal import Decimal

from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from backoffice.api import (
    MALFORMED_TEXT,
    WRITE_ERRORS,
    LocalDateTime,
    MoneyInput,
    MoneyOutput,
    StrIdField,
    component,
    detail_schema,
    error_responses,
    found_or_404,
    idempotent_if_keyed,
    list_schema,
    paginated,
    validated,
    write_parameters,
    write_schema,
)
from backoffice.idempotency import idempotent
from backoffice.signing import ForbiddenScopeError, client_platform_codes
from custody.api.pending import PendingConfirmationSerializer, accepted
from custody.api.subaccounts import PlatformApiView, client_label
from custody.loans import confirmations, selectors, services
from custody.loans.models import Bid, Confirmation, Loan, LoanInstalment, Method

TAG = "custody: loans"

AUTHORIZATION_SCHEMA = {
    "type": "object",
    "properties": {
        "method": {"type": "string", "enum": ["standing", "confirm", "password", "otp"]},
        "id": {
            "type": "string",
            "pattern": "^[0-9]{1,18}$",
            "description": "The standing authorisation's id (method standing); an integer is also accepted.",
        },
    },
    "required": ["method"],
    "example": {"method": "standing", "id": "42"},
}
AUTHORIZATION_HELP = (
    'The client\'s authorisation (R-DEP-02): {"method": "standing", "id": "N"}. "password" and "otp" are refused (403 '
    'authorization_method_refused); "confirm" answers 202 with a confirmation_url '
    "on the bank's portal, where the client confirms with the transaction password (outcome by webhook)."
)
_AUTH_403 = (
    "authorization_method_refused (password, otp), authorization_not_in_force (unknown, expired, revoked), "
    "authorization_out_of_scope (another grantor, platform or type), platform_scope_refused, forbidden_scope"
)


@extend_schema_field(AUTHORIZATION_SCHEMA)
class AuthorizationInput(serializers.Field):
    """The shape of ``authorization``; whether it holds is for custody.loans.authorisations to say."""

    def to_internal_value(self, data) -> dict:
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            raise serializers.ValidationError(_('Send the authorisation as an object with a method: "standing".'))
        return dict(data)

    def to_representation(self, value):  # write-only
        return None


class RateInput(serializers.DecimalField):
    """A yearly rate as a string fraction: ``"0.12"`` is 12 %."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=8, decimal_places=6, min_value=Decimal(0), max_value=Decimal(1), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(_('Send the rate as a JSON string, for example "0.12".'))
        return super().to_internal_value(data)


# -- output ------------------------------------------------------------------------------------------


class InstalmentSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    due_date = serializers.DateField()
    principal = MoneyOutput()
    interest = MoneyOutput()
    total = MoneyOutput()
    state = serializers.ChoiceField(choices=LoanInstalment.State.choices, read_only=True, help_text="due, overdue or paid.")
    paid_at = LocalDateTime()

    class Meta:
        ref_name = "LoanInstalment"


class BidSerializer(serializers.Serializer):
    id = StrIdField()
    loan = StrIdField(source="loan_id")
    lender = serializers.CharField(source="lender.account.number", help_text="The lender's sub-account number.")
    amount = MoneyOutput()
    out_request_no = serializers.CharField()
    state = serializers.ChoiceField(
        choices=Bid.State.choices, read_only=True, help_text="held, captured (disbursed) or released."
    )
    authorisation = StrIdField(source="authorisation_id", allow_null=True)
    created_at = LocalDateTime()

    class Meta:
        ref_name = "LoanBid"


class LoanSerializer(serializers.Serializer):
    id = StrIdField()
    platform = serializers.CharField(source="platform.code")
    out_request_no = serializers.CharField()
    title = serializers.CharField()
    borrower = serializers.CharField(source="borrower.account.number", help_text="The borrower's sub-account number.")
    amount = MoneyOutput()
    raised = MoneyOutput()
    remaining = MoneyOutput()
    annual_rate = serializers.DecimalField(max_digits=8, decimal_places=6)
    overdue_rate = serializers.DecimalField(max_digits=8, decimal_places=6)
    term_months = serializers.IntegerField()
    method = serializers.ChoiceField(choices=Method.choices)
    fundraising_deadline = LocalDateTime()
    service_fee_rate = serializers.DecimalField(max_digits=8, decimal_places=6)
    service_fee = MoneyOutput()
    principal_repaid = MoneyOutput()
    state = serializers.ChoiceField(
        choices=Loan.State.choices, read_only=True, help_text="open, full, disbursed, repaid, failed or cancelled."
    )
    disbursed_at = LocalDateTime()
    disbursement = StrIdField(source="disbursement_id", allow_null=True, help_text="The voucher's id.")
    created_at = LocalDateTime()

    class Meta:
        ref_name = "Loan"


class LoanDetailSerializer(LoanSerializer):
    schedule = InstalmentSerializer(source="instalments.all", many=True)
    bids = BidSerializer(source="bids.all", many=True)

    class Meta:
        ref_name = "LoanDetailBody"


class RepaymentSerializer(serializers.Serializer):
    id = StrIdField()
    loan = StrIdField(source="loan_id")
    instalment = serializers.IntegerField(source="instalment.number")
    payer = serializers.CharField(source="payer.account.number")
    out_request_no = serializers.CharField()
    principal = MoneyOutput()
    interest = MoneyOutput()
    overdue_interest = MoneyOutput()
    overdue_days = serializers.IntegerField()
    total = MoneyOutput()
    transfer = StrIdField(source="transfer_id")
    authorisation = StrIdField(source="authorisation_id", allow_null=True)
    created_at = LocalDateTime()

    class Meta:
        ref_name = "LoanRepayment"


class ConfirmationSerializer(serializers.Serializer):
    """A bid waiting for the client's confirmation on the bank's portal."""

    confirmation = StrIdField(source="pk")
    state = serializers.ChoiceField(
        choices=Confirmation.State.choices, read_only=True, help_text="pending, confirmed, declined, failed or expired."
    )
    loan = StrIdField(source="loan_id")
    out_request_no = serializers.CharField()
    amount = MoneyOutput()
    confirmation_url = serializers.SerializerMethodField(
        help_text="The bank's page where the client confirms with the transaction password; send the client there."
    )
    expires_at = LocalDateTime()

    class Meta:
        ref_name = "BidConfirmationPending"

    def get_confirmation_url(self, obj) -> str:
        path = reverse("custody_portal:confirmation", args=[obj.token])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


# -- views ---------------------------------------------------------------------------------------------


class LoanApiView(PlatformApiView):
    """``/loans/{id}/...``: only the loan's platform's client sees it (others: 404)."""

    def loan(self, request, loan_id: int) -> Loan:
        codes = client_platform_codes(request.auth)
        if not codes:
            raise ForbiddenScopeError()
        return found_or_404(selectors.platform_loan(codes=codes, loan_id=loan_id), _("No such loan."))


class LoanCollectionApi(PlatformApiView):
    class InputSerializer(serializers.Serializer):
        borrower = serializers.CharField(max_length=16, help_text="The borrower's sub-account number on this platform.")
        amount = MoneyInput()
        annual_rate = RateInput(help_text='"0.12" = 12 % a year; interest per month = outstanding × rate / 12.')
        term_months = serializers.IntegerField(min_value=1, max_value=360)
        method = serializers.ChoiceField(choices=Method.choices)
        fundraising_deadline = serializers.DateTimeField()
        service_fee_rate = RateInput(required=False, default="0", help_text="Of the principal, taken at disbursement.")
        overdue_rate = RateInput(required=False, help_text="Yearly overdue interest rate (default 1.5 × annual_rate).")
        out_request_no = serializers.CharField(max_length=64)
        title = serializers.CharField(max_length=200, required=False, allow_blank=True)

        class Meta:
            ref_name = "LoanCreateInput"

    class FilterSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=Loan.State.values, required=False)

        class Meta:
            ref_name = "LoanFilter"

    CreatedSerializer = component(LoanDetailSerializer, "LoanCreated")
    ListItemSerializer = component(LoanSerializer, "LoanListItem")

    @list_schema(
        "platform_loan_list",
        tag=TAG,
        summary="The platform's loans, newest first, paginated",
        filters=FilterSerializer,
        output=ListItemSerializer,
        items="Loans",
        errors=(400, 401, 403, 404),
    )
    def get(self, request, code: str):
        platform = self.platform(request, code)
        filters = validated(self.FilterSerializer, request.query_params)
        return paginated(
            self, request, selectors.platform_loans(platform=platform, state=filters.get("state")), self.ListItemSerializer
        )

    @write_schema(
        "platform_loan_create",
        tag=TAG,
        summary="Create a loan (标的) for a borrower sub-account, with its repayment schedule",
        description=(
            "The schedule is computed and stored (custody.schedules: monthly rate = annual / 12, half-up to the fen, the "
            "last instalment absorbs the residue); due dates are re-set from the disbursement day. R-DEP-06: the "
            "borrower's outstanding principal on this platform (live loans included) plus this amount must stay within "
            "the cap (person 200,000.00, organisation 1,000,000.00): else 409 limit_exceeded with data.limit and "
            "data.remaining. Only an active platform takes new loans (winding down: 409 platform_not_active)."
        ),
        request=InputSerializer,
        output=CreatedSerializer,
        key_required=False,
        texts={
            400: "validation_error (fields says which; borrower: not a borrower sub-account of this platform)",
            403: "platform_scope_refused, forbidden_scope",
            404: "not_found: no such platform, or not this client's",
            409: "duplicate_reference (data.id), limit_exceeded (data.limit, data.remaining), platform_not_active, "
            "idempotency_key_in_use",
            422: "idempotency_key_mismatch",
        },
        examples=[
            OpenApiExample(
                "loan",
                request_only=True,
                value={
                    "borrower": "6200000000000012",
                    "amount": "10000.00",
                    "annual_rate": "0.12",
                    "term_months": 3,
                    "method": "equal_instalment",
                    "fundraising_deadline": "2026-12-08T18:00:00+08:00",
                    "service_fee_rate": "0.02",
                    "out_request_no": "L20261201-001",
                },
            )
        ],
    )
    @idempotent_if_keyed
    def post(self, request, code: str):
        platform = self.platform(request, code)
        data = validated(self.InputSerializer, request.data)
        loan = services.loan_create(
            platform=platform,
            borrower_number=data["borrower"],
            amount=data["amount"],
            annual_rate=data["annual_rate"],
            term_months=data["term_months"],
            method=data["method"],
            fundraising_deadline=data["fundraising_deadline"],
            service_fee_rate=data["service_fee_rate"],
            overdue_rate=data.get("overdue_rate"),
            out_request_no=data["out_request_no"],
            title=data.get("title", ""),
            actor_label=client_label(request.auth),
        )
        loan = selectors.platform_loan(codes={platform.code}, loan_id=loan.pk)
        return Response(self.CreatedSerializer(loan).data, status=status.HTTP_201_CREATED)


class LoanDetailApi(LoanApiView):
    OutputSerializer = component(LoanDetailSerializer, "LoanDetail")

    @detail_schema("loan_detail", tag=TAG, summary="One loan with its schedule and bids", output=OutputSerializer)
    def get(self, request, loan_id: int):
        return Response(self.OutputSerializer(self.loan(request, loan_id)).data)


class BidCollectionApi(LoanApiView):
    class InputSerializer(serializers.Serializer):
        lender = serializers.CharField(max_length=16, help_text="The lender's sub-account number on this platform.")
        amount = MoneyInput()
        out_request_no = serializers.CharField(max_length=64)
        authorization = AuthorizationInput(help_text=AUTHORIZATION_HELP)

        class Meta:
            ref_name = "BidInput"

    OutputSerializer = component(BidSerializer, "BidPlaced")

    @extend_schema(
        operation_id="loan_bid_place",
        tags=[TAG],
        summary="A lender bids: the amount is frozen on their sub-account (R-DEP-05)",
        description=(
            "The loan is locked: bids are serialized and a loan is never oversubscribed (409 bid_exceeds_remaining with "
            "data.remaining). With a standing authorisation of type bid, consumed under its own lock (per instruction and "
            'cumulative maxima), the bid is placed: 201. With {"method": "confirm"} nothing is held yet: 202 with a '
            "confirmation_url on the bank's portal, where the client confirms with the transaction password within "
            "15 minutes; the outcome comes by webhook (confirmation.confirmed with bid.placed, confirmation.failed with "
            "its code, confirmation.declined, confirmation.expired). A refused bid freezes nothing. The last bid makes "
            "the loan full."
        ),
        parameters=write_parameters(201),
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            202: ConfirmationSerializer,
            **error_responses(
                *WRITE_ERRORS,
                415,
                texts={
                    400: "validation_error (lender: not a lender sub-account of this platform; authorization), "
                    "idempotency_key_required; " + MALFORMED_TEXT,
                    403: _AUTH_403,
                    409: "duplicate_reference (data.id), invalid_state (the loan is not open), fundraising_closed, "
                    "bid_exceeds_remaining (data.remaining), self_lending, authorization_limit_exceeded (data.limit, "
                    "data.remaining), insufficient_funds, account_not_active, idempotency_key_in_use",
                    422: "idempotency_key_mismatch",
                },
            ),
        },
    )
    @idempotent
    def post(self, request, loan_id: int):
        loan = self.loan(request, loan_id)
        data = validated(self.InputSerializer, request.data)
        if data["authorization"].get("method") == "confirm":
            confirmation = services.bid_confirmation_request(
                loan_id=loan.pk,
                platform=loan.platform,
                lender_number=data["lender"],
                amount=data["amount"],
                out_request_no=data["out_request_no"],
                actor_label=client_label(request.auth),
            )
            body = ConfirmationSerializer(confirmation, context={"request": request}).data
            return Response(body, status=status.HTTP_202_ACCEPTED)
        bid = services.bid_place(
            loan_id=loan.pk,
            platform=loan.platform,
            lender_number=data["lender"],
            amount=data["amount"],
            out_request_no=data["out_request_no"],
            authorization=data["authorization"],
            actor_label=client_label(request.auth),
        )
        return Response(self.OutputSerializer(bid).data, status=status.HTTP_201_CREATED)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)

    class Meta:
        ref_name = "LoanReasonInput"


class BidWithdrawApi(LoanApiView):
    OutputSerializer = component(BidSerializer, "BidWithdrawn")

    @write_schema(
        "loan_bid_withdraw",
        tag=TAG,
        summary="Withdraw a bid whose lender's account a court froze after bidding; the loan reopens",
        request=ReasonInput,
        output=OutputSerializer,
        success=200,
        texts={409: "invalid_state (data.state: not_frozen, or the loan or bid state), idempotency_key_in_use"},
    )
    @idempotent
    def post(self, request, loan_id: int, bid_id: int):
        loan = self.loan(request, loan_id)
        data = validated(ReasonInput, request.data)
        bid = services.bid_withdraw(
            loan_id=loan.pk,
            bid_id=bid_id,
            platform=loan.platform,
            reason=data.get("reason", ""),
            actor_label=client_label(request.auth),
        )
        return Response(self.OutputSerializer(Bid.objects.select_related("lender__account").get(pk=bid.pk)).data)


class LoanCancelApi(LoanApiView):
    OutputSerializer = component(LoanDetailSerializer, "LoanCancelled")

    @write_schema(
        "loan_cancel",
        tag=TAG,
        summary="Cancel an open or full loan (撤标): every bid hold is released",
        request=ReasonInput,
        output=OutputSerializer,
        success=200,
        texts={409: "invalid_state (data.state: disbursed, repaid, failed, cancelled), idempotency_key_in_use"},
    )
    @idempotent
    def post(self, request, loan_id: int):
        loan = self.loan(request, loan_id)
        data = validated(ReasonInput, request.data)
        services.loan_cancel(
            loan_id=loan.pk, platform=loan.platform, reason=data.get("reason", ""), actor_label=client_label(request.auth)
        )
        return Response(self.OutputSerializer(selectors.platform_loan(codes={loan.platform.code}, loan_id=loan.pk)).data)


class LoanDisburseApi(LoanApiView):
    class InputSerializer(serializers.Serializer):
        authorization = AuthorizationInput(
            required=False, help_text="The borrower's standing authorisation of type fee (needed when the service fee > 0)."
        )

        class Meta:
            ref_name = "LoanDisburseInput"

    OutputSerializer = component(LoanDetailSerializer, "LoanDisbursed")

    @extend_schema(
        operation_id="loan_disburse",
        tags=[TAG],
        summary="Disburse a full loan in one voucher: every bid hold to the borrower, the service fee to own funds",
        description=(
            "One balanced voucher (kind loan_disbursement) captures every lender's bid hold, credits the borrower the "
            "amount less the service fee and the platform's own-funds account the fee. R-DEP-06 is checked again under "
            "the borrower's lock (409 limit_exceeded). A lender's account frozen by a court after bidding refuses the "
            "whole disbursement (409 lender_account_frozen, data.account and data.bid; nothing moves): withdraw that bid "
            '(POST /loans/{id}/bids/{bid}/withdraw/) and raise the rest. With {"method": "confirm"}: 202 with a '
            "confirmation_url where the borrower confirms the service fee; the loan is then disbursed."
        ),
        parameters=write_parameters(200),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            202: PendingConfirmationSerializer,
            **error_responses(
                *WRITE_ERRORS,
                415,
                texts={
                    400: "validation_error, idempotency_key_required; " + MALFORMED_TEXT,
                    403: _AUTH_403,
                    409: "invalid_state (the loan is not full), limit_exceeded (data.limit, data.remaining), "
                    "lender_account_frozen (data.account, data.bid), authorization_limit_exceeded, idempotency_key_in_use",
                    422: "idempotency_key_mismatch",
                },
            ),
        },
    )
    @idempotent
    def post(self, request, loan_id: int):
        loan = self.loan(request, loan_id)
        data = validated(self.InputSerializer, request.data)
        if (data.get("authorization") or {}).get("method") == "confirm":
            confirmation = confirmations.disbursement_confirmation_request(
                loan_id=loan.pk, platform=loan.platform, actor_label=client_label(request.auth)
            )
            return accepted(confirmation, request)
        services.loan_disburse(
            loan_id=loan.pk,
            platform=loan.platform,
            authorization=data.get("authorization"),
            actor_label=client_label(request.auth),
        )
        return Response(self.OutputSerializer(selectors.platform_loan(codes={loan.platform.code}, loan_id=loan.pk)).data)


class RepaymentCollectionApi(LoanApiView):
    class InputSerializer(serializers.Serializer):
        payer = serializers.CharField(
            max_length=16, help_text="The borrower's sub-account, or (overdue only) a guarantor or compensation sub-account."
        )
        out_request_no = serializers.CharField(max_length=64)
        authorization = AuthorizationInput(help_text=AUTHORIZATION_HELP + " Type auto_repay (borrower) or compensation.")
        instalment = serializers.IntegerField(required=False, min_value=1, help_text="If given, must be the next unpaid one.")
        amount = MoneyInput(required=False, help_text="If given, must be the instalment's whole total (no partial repayment).")

        class Meta:
            ref_name = "RepaymentInput"

    OutputSerializer = component(RepaymentSerializer, "RepaymentCreated")

    @extend_schema(
        operation_id="loan_repayment_create",
        tags=[TAG],
        summary="Repay the next instalment in one voucher, split to the lenders pro rata",
        description=(
            "One voucher (kind loan_repayment) debits the payer principal + interest + overdue interest and credits each "
            "lender their share pro rata to their bid, by largest remainder, principal and interest apart (no fen "
            "unassigned). Instalments are repaid in order, whole, and not before the instalment's month begins (409 "
            "repayment_refused). After the due date, overdue interest = total × overdue_rate × days / 360. A guarantor or "
            "compensation sub-account may pay an overdue instalment only (409 payer_not_allowed); the borrower then owes "
            'it the amount. The last instalment settles the loan. With {"method": "confirm"}: 202 with a '
            "confirmation_url where the payer confirms the total due with the transaction password (outcome by webhook)."
        ),
        parameters=write_parameters(201),
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            202: PendingConfirmationSerializer,
            **error_responses(
                *WRITE_ERRORS,
                415,
                texts={
                    400: "validation_error, idempotency_key_required; " + MALFORMED_TEXT,
                    403: _AUTH_403,
                    409: "duplicate_reference (data.id), invalid_state (not disbursed), repayment_refused, payer_not_allowed, "
                    "authorization_limit_exceeded, insufficient_funds, account_not_active, idempotency_key_in_use",
                    422: "idempotency_key_mismatch",
                },
            ),
        },
    )
    @idempotent
    def post(self, request, loan_id: int):
        loan = self.loan(request, loan_id)
        data = validated(self.InputSerializer, request.data)
        if data["authorization"].get("method") == "confirm":
            confirmation = confirmations.repayment_confirmation_request(
                loan_id=loan.pk,
                platform=loan.platform,
                payer_number=data["payer"],
                out_request_no=data["out_request_no"],
                number=data.get("instalment"),
                amount=data.get("amount"),
                actor_label=client_label(request.auth),
            )
            return accepted(confirmation, request)
        repayment = services.instalment_repay(
            loan_id=loan.pk,
            platform=loan.platform,
            payer_number=data["payer"],
            out_request_no=data["out_request_no"],
            authorization=data["authorization"],
            number=data.get("instalment"),
            amount=data.get("amount"),
            actor_label=client_label(request.auth),
        )
        return Response(self.OutputSerializer(repayment).data, status=status.HTTP_201_CREATED)


#: Included by custody.api.urls (namespace ``custody_api``). A platform code containing a control
#: character reaches the view and answers 404 like any code that is not the client's.
urlpatterns = [
    path("platforms/<str:code>/loans/", LoanCollectionApi.as_view(), name="loans"),
    path("loans/<sid:loan_id>/", LoanDetailApi.as_view(), name="loan-detail"),
    path("loans/<sid:loan_id>/bids/", BidCollectionApi.as_view(), name="loan-bids"),
    path("loans/<sid:loan_id>/bids/<sid:bid_id>/withdraw/", BidWithdrawApi.as_view(), name="loan-bid-withdraw"),
    path("loans/<sid:loan_id>/cancel/", LoanCancelApi.as_view(), name="loan-cancel"),
    path("loans/<sid:loan_id>/disburse/", LoanDisburseApi.as_view(), name="loan-disburse"),
    path("loans/<sid:loan_id>/repayments/", RepaymentCollectionApi.as_view(), name="loan-repayments"),
]
