"""/api/v1/platforms/...: the P2P platforms' endpoints (signed; scope ``platform:<code>``)."""

from django.urls import path, register_converter

from custody.api import fees, loans, reconciliation, subaccounts

app_name = "custody_api"


class PlatformSegmentConverter:
    """A path segment of printable characters (a control character matches no route: a JSON 404)."""

    regex = r"[^/\x00-\x1f\x7f]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PlatformSegmentConverter, "platform_segment")

urlpatterns = [
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
    *loans.urlpatterns,
    *fees.urls(),
    *reconciliation.urls(),
]
