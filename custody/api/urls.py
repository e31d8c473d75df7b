"""/api/v1/platforms/...: the P2P platforms' endpoints (signed; scope ``platform:<code>``)."""

from django.urls import path, register_converter

from backoffice.api import slash_optional
from custody.api import fees, instructions, loans, reconciliation, subaccounts

app_name = "custody_api"


class PlatformSegmentConverter:
    """A path segment of printable characters (a control character matches no route: a JSON 404)."""

    regex = r"[^/\x00-\x1f\x7f]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PlatformSegmentConverter, "platform_segment")

urlpatterns = slash_optional(
    [
        path(
            "platforms/<platform_segment:code>/sub-accounts/",
            subaccounts.SubAccountCollectionApi.as_view(),
            name="subaccounts",
        ),
        path(
            "platforms/<platform_segment:code>/sub-accounts/<platform_segment:number>/",
            subaccounts.SubAccountDetailApi.as_view(),
            name="subaccount-detail",
        ),
        path(
            "platforms/<platform_segment:code>/sub-accounts/<platform_segment:number>/withdrawals/",
            instructions.WithdrawalRequestApi.as_view(),
            name="subaccount-withdrawals",
        ),
        path(
            "platforms/<platform_segment:code>/sub-accounts/<platform_segment:number>/recharges/",
            instructions.RechargeRequestApi.as_view(),
            name="subaccount-recharges",
        ),
        path(
            "platforms/<platform_segment:code>/confirmations/<sid:confirmation_id>/",
            instructions.ConfirmationDetailApi.as_view(),
            name="confirmation-detail",
        ),
        path(
            "platforms/<platform_segment:code>/settlement-account/",
            instructions.SettlementAccountApi.as_view(),
            name="settlement-account",
        ),
        path(
            "platforms/<platform_segment:code>/settlement-account/micro-deposit/",
            instructions.SettlementMicroDepositApi.as_view(),
            name="settlement-account-micro-deposit",
        ),
        path(
            "platforms/<platform_segment:code>/debts/<sid:debt_id>/settle/",
            instructions.DebtSettleApi.as_view(),
            name="debt-settle",
        ),
        *loans.urlpatterns,
        *fees.urls(),
        *reconciliation.urls(),
    ]
)
