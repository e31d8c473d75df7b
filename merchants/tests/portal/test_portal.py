"""The merchant portal: TOTP sign-in, isolation (merchant A's users never reach B: 404), a viewer
cannot refund (no button, 403), a refund with its confirmation and a fresh code, settlement
statements as safe CSV/XLSX, payouts, API keys and webhook endpoints with secrets shown once."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse

from backoffice.dates import bank_tz
from backoffice.models import ApiClient, WebhookEndpoint
from merchants import settlement
from merchants.models import MerchantPayout, Refund, SettlementBatch
from merchants.tests.portal.conftest import PASSWORD, current_code, fresh_code
from merchants.tests.settlement.conftest import at, settle_day

pytestmark = pytest.mark.django_db
D = Decimal


def _settle(merchant, capture):
    day = dt.datetime.now(bank_tz()).date()
    with capture(execute=True):
        settlement.settlement_run(business_date=day, now=at(settle_day(day, merchant)))
    return SettlementBatch.objects.get(merchant=merchant)


def test_sign_in_needs_the_password_and_the_totp_code(client, settled_merchant, merchant_user):
    merchant = settled_merchant()
    owner = merchant_user(merchant, "owner")
    url = "/portal/merchants/login/"
    wrong = client.post(url, {"username": owner.user.username, "password": PASSWORD, "otp_token": "000000"})
    assert wrong.status_code == 200 and "动态验证码错误或已过期" in wrong.content.decode()
    assert client.get(f"/portal/merchants/{merchant.pk}/").status_code == 302  # not signed in
    ok = client.post(url, {"username": owner.user.username, "password": PASSWORD, "otp_token": fresh_code(owner.user)})
    assert ok.status_code == 302
    assert client.get(ok.url, follow=True).redirect_chain[-1][0] == f"/portal/merchants/{merchant.pk}/"
    page = client.get(f"/portal/merchants/{merchant.pk}/")
    assert page.status_code == 200 and b'data-figure="pending"' in page.content


def test_merchant_a_users_never_reach_merchant_b(
    settled_merchant, merchant_user, signed_in, pay, django_capture_on_commit_callbacks
):
    a, b = settled_merchant("商户甲有限公司"), settled_merchant("商户乙有限公司")
    payment_b = pay(b, "10.00")
    batch_b = _settle(b, django_capture_on_commit_callbacks)
    client = signed_in(merchant_user(a, "owner"))
    for path in (
        f"/portal/merchants/{b.pk}/",
        f"/portal/merchants/{b.pk}/payments/",
        f"/portal/merchants/{b.pk}/settlements/",
        f"/portal/merchants/{a.pk}/payments/{payment_b.pk}/",
        f"/portal/merchants/{a.pk}/payments/{payment_b.pk}/refund/",
        f"/portal/merchants/{a.pk}/settlements/{batch_b.pk}/",
        f"/portal/merchants/{a.pk}/settlements/{batch_b.pk}/statement/?format=csv",
    ):
        assert client.get(path).status_code == 404, path
    assert b"10.00" not in client.get(f"/portal/merchants/{a.pk}/payments/").content


def test_a_viewer_cannot_refund(settled_merchant, merchant_user, signed_in, pay):
    merchant = settled_merchant()
    payment = pay(merchant, "50.00")
    client = signed_in(merchant_user(merchant, "viewer"))
    detail = client.get(f"/portal/merchants/{merchant.pk}/payments/{payment.pk}/")
    assert detail.status_code == 200 and b"/refund/" not in detail.content  # no button
    assert client.get(f"/portal/merchants/{merchant.pk}/payments/{payment.pk}/refund/").status_code == 403
    refused = client.post(
        f"/portal/merchants/{merchant.pk}/payments/{payment.pk}/refund/confirm/",
        {"amount": "10.00", "reason": "", "out_refund_no": "PX1", "otp_token": current_code(merchant.users.get().user)},
    )
    assert refused.status_code == 403
    assert not Refund.objects.exists()


def test_a_refund_goes_through_its_confirmation_with_a_fresh_code(
    settled_merchant, merchant_user, signed_in, pay, django_capture_on_commit_callbacks
):
    merchant = settled_merchant()
    payment = pay(merchant, "80.00")
    finance = merchant_user(merchant, "finance")
    client = signed_in(finance)
    base = f"/portal/merchants/{merchant.pk}/payments/{payment.pk}"
    assert b"/refund/" in client.get(f"{base}/").content
    too_much = client.post(f"{base}/refund/", {"amount": "80.01", "reason": "x"})
    assert too_much.status_code == 200 and "可退余额" in too_much.content.decode()
    review = client.post(f"{base}/refund/", {"amount": "30.00", "reason": "damaged"})
    assert review.status_code == 200 and b'data-figure="refund-amount"' in review.content
    number = review.context["form"].initial["out_refund_no"]
    assert not Refund.objects.exists()  # nothing happens before the confirmation
    data = {"amount": "30.00", "reason": "damaged", "out_refund_no": number}
    wrong = client.post(f"{base}/refund/confirm/", {**data, "otp_token": "000000"})
    assert wrong.status_code == 200 and not Refund.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(f"{base}/refund/confirm/", {**data, "otp_token": fresh_code(finance.user)})
    assert done.status_code == 302
    refund = Refund.objects.get()
    assert (refund.amount, refund.state, refund.out_refund_no) == (D("30.00"), Refund.State.SUCCEEDED, number)
    # The same confirmation again (a double click) never refunds twice (R-REF-02).
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{base}/refund/confirm/", {**data, "otp_token": fresh_code(finance.user)})
    assert Refund.objects.count() == 1
    assert b'data-figure="remaining">50.00' in client.get(f"{base}/").content


def test_settlement_statement_exports_are_safe_with_amounts_as_numbers(
    settled_merchant, merchant_user, signed_in, pay, django_capture_on_commit_callbacks
):
    merchant = settled_merchant()
    pay(merchant, "100.00", out_trade_no="=HYPERLINK(1)")
    batch = _settle(merchant, django_capture_on_commit_callbacks)
    client = signed_in(merchant_user(merchant, "viewer"))
    listing = client.get(f"/portal/merchants/{merchant.pk}/settlements/")
    assert listing.status_code == 200 and f"/settlements/{batch.pk}/".encode() in listing.content
    csv = client.get(f"/portal/merchants/{merchant.pk}/settlements/{batch.pk}/statement/?format=csv")
    text = csv.content.decode("utf-8-sig")
    assert csv["Content-Type"].startswith("text/csv") and "'=HYPERLINK(1)" in text and ",99.40," in text
    xlsx = client.get(f"/portal/merchants/{merchant.pk}/settlements/{batch.pk}/statement/?format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][2] == "'=HYPERLINK(1)"
    assert isinstance(rows[1][5], (int, float)) and rows[1][5] == pytest.approx(99.40)  # a number cell
    assert all(not (isinstance(c, str) and c.startswith("=")) for r in rows for c in r)
    payments = client.get(f"/portal/merchants/{merchant.pk}/payments/export/?format=csv&q=HYPER")
    assert "'=HYPERLINK(1)" in payments.content.decode("utf-8-sig")


def test_dashboard_chart_is_server_drawn_svg(settled_merchant, merchant_user, signed_in, pay):
    merchant = settled_merchant()
    pay(merchant, "12.34")
    client = signed_in(merchant_user(merchant, "viewer"))
    page = client.get(f"/portal/merchants/{merchant.pk}/").content.decode()
    assert "12.34" in page and "<script" not in page and "cdn" not in page.lower()
    svg = client.get(f"/portal/merchants/{merchant.pk}/chart.svg")
    assert svg["Content-Type"].startswith("image/svg+xml") and b"<script" not in svg.content and b"<rect" in svg.content


def test_payout_of_the_available_balance_needs_a_fresh_code(
    settled_merchant, merchant_user, signed_in, pay, make_merchant, django_capture_on_commit_callbacks
):
    merchant = settled_merchant()
    pay(merchant, "40.00")
    settlement.settlement_authorisation_revoke(merchant_id=merchant.pk)
    _settle(merchant, django_capture_on_commit_callbacks)  # settles into available, no payout (revoked)
    assert not MerchantPayout.objects.exists()
    settlement.settlement_authorisation_record(merchant_id=merchant.pk, reference="SA-2", signed_on=dt.date(2026, 2, 1))
    viewer = signed_in(merchant_user(merchant, "viewer"))
    assert viewer.post(f"/portal/merchants/{merchant.pk}/payouts/", {"otp_token": "1"}).status_code == 403
    owner = merchant_user(merchant, "owner")
    client = signed_in(owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/portal/merchants/{merchant.pk}/payouts/", {"otp_token": fresh_code(owner.user)})
    payout = MerchantPayout.objects.get()
    assert payout.amount == D("39.76") and payout.state == MerchantPayout.State.SUCCEEDED


def test_api_keys_and_webhooks_in_the_portal(settled_merchant, merchant_user, signed_in):
    merchant = settled_merchant()
    finance = signed_in(merchant_user(merchant, "finance"))
    assert (
        finance.post(f"/portal/merchants/{merchant.pk}/developers/keys/", {"label": "k", "scopes": ["payments"]}).status_code
        == 403
    )
    owner = signed_in(merchant_user(merchant, "owner"))
    created = owner.post(
        f"/portal/merchants/{merchant.pk}/developers/keys/", {"label": "shop", "scopes": ["payments", "settlements"]}
    )
    assert created.status_code == 200
    key = ApiClient.objects.get(name=f"merchant-{merchant.pk}-shop")
    assert key.scopes == [f"merchant:{merchant.pk}:payments", f"merchant:{merchant.pk}:settlements"]
    assert key.secret.encode() in created.content  # shown once…
    page = owner.get(f"/portal/merchants/{merchant.pk}/developers/")
    assert key.secret.encode() not in page.content and key.client_id.encode() in page.content  # …never again
    owner.post(f"/portal/merchants/{merchant.pk}/developers/keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert not key.is_active
    hook = owner.post(
        f"/portal/merchants/{merchant.pk}/developers/endpoints/",
        {"url": "https://shop.example.com/hooks", "event_types": "payment.succeeded, refund.succeeded"},
    )
    endpoint = WebhookEndpoint.objects.get(owner=f"merchant:{merchant.pk}")
    assert hook.status_code == 200 and endpoint.secret.encode() in hook.content
    other = settled_merchant("别家商户有限公司")
    assert owner.post(f"/portal/merchants/{other.pk}/developers/keys/", {"label": "x", "scopes": ["payments"]}).status_code == 404


@pytest.fixture
def dead_delivery(settings, django_capture_on_commit_callbacks):
    """``dead_delivery(merchant)``: a delivery to a closed port, dead after its one allowed attempt."""
    from backoffice.models import WebhookDelivery
    from backoffice.webhooks import webhook_emit, webhook_endpoint_create

    settings.WEBHOOK_MAX_ATTEMPTS = 1

    def make(merchant) -> WebhookDelivery:
        owner = f"merchant:{merchant.pk}"
        if not WebhookEndpoint.objects.filter(owner=owner).exists():
            webhook_endpoint_create(owner=owner, url="http://127.0.0.1:9/hook", event_types=["*"])
        with django_capture_on_commit_callbacks(execute=True):
            [delivery] = webhook_emit(owner=owner, event="payment.succeeded", payload={"amount": "1.00"})
        delivery = WebhookDelivery.objects.get(pk=delivery.pk)
        assert delivery.state == WebhookDelivery.State.DEAD
        return delivery

    return make


def test_the_delivery_log_and_resend_by_role_and_merchant(settled_merchant, merchant_user, signed_in, dead_delivery):
    from backoffice.models import WebhookDelivery

    a, b = settled_merchant("商户甲有限公司"), settled_merchant("商户乙有限公司")
    mine, theirs = dead_delivery(a), dead_delivery(b)
    viewer = signed_in(merchant_user(a, "viewer"))
    log = viewer.get(f"/portal/merchants/{a.pk}/developers/").content.decode()
    assert "payment.succeeded" in log and f"/deliveries/{mine.pk}/resend/" not in log
    assert viewer.post(f"/portal/merchants/{a.pk}/developers/deliveries/{mine.pk}/resend/").status_code == 403
    finance = signed_in(merchant_user(a, "finance"))
    assert finance.post(f"/portal/merchants/{a.pk}/developers/deliveries/{theirs.pk}/resend/").status_code == 404
    assert finance.post(f"/portal/merchants/{a.pk}/developers/deliveries/{mine.pk}/resend/").status_code == 302
    assert WebhookDelivery.objects.filter(resend_of=mine).count() == 1
    assert WebhookDelivery.objects.filter(resend_of=theirs).count() == 0


def test_the_header_links_to_the_merchant_portals_home_not_the_customers_accounts(settled_merchant, merchant_user, signed_in):
    """Issue #13: the merchant portal's brand and header link lead to its own home."""
    merchant = settled_merchant()
    client = signed_in(merchant_user(merchant, "viewer"))
    page = client.get(reverse("merchants_portal:dashboard", args=[merchant.pk])).content.decode()
    header = page.split("</header>")[0]
    home = reverse("merchants_portal:home")
    assert f'class="brand" href="{home}"' in header
    assert f'href="{home}">商户首页</a>' in header
    assert f'href="{reverse("portal:dashboard")}"' not in header
