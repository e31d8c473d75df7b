"""/api/v1/: the partner API (signed), its OpenAPI schema and docs (open)."""

from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api import cards, parties, payments
from accounts.api.ledger import (
    AccountDetailApi,
    AccountEntryListApi,
    HoldCaptureApi,
    HoldCreateApi,
    HoldReleaseApi,
    TransferBatchApi,
    TransferCreateApi,
)
from backoffice.api import slash_optional

app_name = "api"


class SegmentConverter:
    """A path segment of printable characters: a NUL or another control character (``sim%00``) matches no route
    (a JSON 404) instead of reaching a query, which PostgreSQL would refuse with an error."""

    regex = r"[^/\x00-\x1f\x7f]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SegmentConverter, "segment")

urlpatterns = slash_optional(
    [
        path("schema/", SpectacularAPIView.as_view(), name="schema"),
        path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
        path("parties/", parties.PartyCreateApi.as_view(), name="party-create"),
        path("accounts/", parties.AccountOpenApi.as_view(), name="account-open"),
        path("accounts/<segment:number>/", AccountDetailApi.as_view(), name="account-detail"),
        path("accounts/<segment:number>/entries/", AccountEntryListApi.as_view(), name="account-entries"),
        path("accounts/<segment:number>/cards/", cards.CardBindApi.as_view(), name="card-bind"),
        path("accounts/<segment:number>/otp/", cards.OtpSendApi.as_view(), name="otp-send"),
        path("cards/<sid:card_id>/", cards.CardDetailApi.as_view(), name="card-detail"),
        path("cards/<sid:card_id>/micro-deposit/confirm/", cards.MicroDepositConfirmApi.as_view(), name="micro-deposit-confirm"),
        path("transfers/", TransferCreateApi.as_view(), name="transfer-create"),
        path("transfers/batch/", TransferBatchApi.as_view(), name="transfer-batch"),
        path("holds/", HoldCreateApi.as_view(), name="hold-create"),
        path("holds/<sid:hold_id>/release/", HoldReleaseApi.as_view(), name="hold-release"),
        path("holds/<sid:hold_id>/capture/", HoldCaptureApi.as_view(), name="hold-capture"),
        path("recharges/", payments.RechargeCreateApi.as_view(), name="recharge-create"),
        path("recharges/<sid:recharge_id>/", payments.RechargeDetailApi.as_view(), name="recharge-detail"),
        path("withdrawals/", payments.WithdrawalCollectionApi.as_view(), name="withdrawals"),
        path("withdrawals/<sid:withdrawal_id>/", payments.WithdrawalDetailApi.as_view(), name="withdrawal-detail"),
        path("channels/<segment:code>/callbacks/", payments.ChannelCallbackApi.as_view(), name="channel-callback"),
    ]
)
