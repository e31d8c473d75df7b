"""The platform portal (/portal/custody/platform/): TOTP sign-in, isolation between platforms (404,
including for one person who is a client of both), roles (a viewer cannot resend), dashboard
figures equal to the ledger, the SVG chart, safe exports, the demo seed run twice."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.ledger.chart import Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account, Entry, Transfer
from accounts.payments.models import Recharge
from backoffice.models import AuditLog, WebhookDelivery, WebhookEndpoint
from backoffice.money import sum_to_money
from backoffice.webhooks import webhook_emit, webhook_endpoint_create
from custody import services
from custody.models import Bid, Loan, PlatformUser, Repayment, SubAccount
from custody.platform_users import reports
from custody.tests.platform_portal.conftest import PASSWORD, current_code

pytestmark = pytest.mark.django_db


def url(name: str, platform, *args) -> str:
    return reverse(f"custody_portal:platform:{name}", args=[platform.code, *args])


def owner(platform) -> PlatformUser:
    return PlatformUser.objects.get(platform=platform, role="owner")


# -- sign-in: password and TOTP ----------------------------------------------------------------


def test_sign_in_needs_the_password_and_the_current_totp_code(demo, client):
    login = reverse("custody_portal:platform:login")
    user = owner(demo).user
    assert client.get(url("dashboard", demo)).status_code == 302  # not signed in: to the sign-in page

    answer = client.post(login, {"username": user.username, "password": "platform-demo-pass-2026", "otp_token": ""})
    assert answer.status_code == 200 and "_auth_user_id" not in client.session
    wrong = f"{(int(current_code(user)) + 1) % 1_000_000:06d}"
    answer = client.post(login, {"username": user.username, "password": "platform-demo-pass-2026", "otp_token": wrong})
    assert answer.status_code == 200 and "_auth_user_id" not in client.session
    assert "动态验证码错误" in answer.content.decode()
    device = TOTPDevice.objects.get(user=user)
    assert device.throttling_failure_count == 1  # the device's own throttle counted the wrong code
    device.throttle_reset()  # instead of waiting out its delay

    answer = client.post(
        login, {"username": user.username, "password": "platform-demo-pass-2026", "otp_token": current_code(user)}
    )
    assert answer.status_code == 302 and answer["Location"] == reverse("custody_portal:platform:home")
    assert client.get(answer["Location"])["Location"] == url("dashboard", demo)
    assert client.get(url("dashboard", demo)).status_code == 200


def test_a_session_without_the_second_factor_is_sent_to_the_sign_in_page(demo, client):
    client.force_login(owner(demo).user)  # password only: no verified device in the session
    answer = client.get(url("dashboard", demo))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("custody_portal:platform:login"))


def test_a_portal_user_who_is_not_a_platform_user_cannot_sign_in_here(demo, client, django_user_model):
    django_user_model.objects.create_user(username="holder", password=PASSWORD)
    answer = client.post(
        reverse("custody_portal:platform:login"), {"username": "holder", "password": PASSWORD, "otp_token": "123456"}
    )
    assert answer.status_code == 200 and "_auth_user_id" not in client.session


def test_add_platform_user_command_creates_the_user_and_prints_the_provisioning_uri_once(demo):
    out = io.StringIO()
    call_command("add_platform_user", username="demo-fin", platform="DEMO", role="finance", password=PASSWORD, stdout=out)
    created = PlatformUser.objects.get(user__username="demo-fin")
    assert (created.platform, created.role) == (demo, "finance")
    device = TOTPDevice.objects.get(user=created.user, confirmed=True)
    assert device.config_url in out.getvalue()
    assert AuditLog.objects.filter(action="platform_user.create", target_id=str(created.pk)).exists()


# -- isolation ---------------------------------------------------------------------------------


@pytest.fixture
def other(demo, make_platform):
    """Platform P002, with a sub-account of a person who is also a lender on DEMO."""
    platform = make_platform("P002")
    shared = SubAccount.objects.filter(platform=demo, role="lender").order_by("pk").first()
    platform.shared = services.subaccount_open(platform=platform, role="lender", party=shared.party)
    platform.shared_on_demo = shared
    return platform


def test_isolation_a_platform_user_gets_404_on_another_platforms_pages(demo, other, platform_user, signed_in):
    client = signed_in(owner(demo))
    loan = Loan.objects.filter(platform=demo).first()
    for path in (
        url("dashboard", other),
        url("pool_chart", other),
        url("sub_accounts", other),
        url("sub_accounts_export", other),
        url("loans", other),
        url("loan_detail", other, loan.pk),
        url("deliveries", other),
        url("endpoints", other),
    ):
        assert client.get(path).status_code == 404, path
    assert client.post(url("delivery_resend", other, 1)).status_code == 404

    client = signed_in(platform_user(other, "owner"))
    assert client.get(url("dashboard", demo)).status_code == 404
    assert client.get(url("loan_detail", other, loan.pk)).status_code == 404  # DEMO's loan under P002's code


def test_isolation_a_client_of_both_platforms_shows_only_this_platforms_sub_account(demo, other, platform_user, signed_in):
    client = signed_in(platform_user(other, "viewer"))
    page = client.get(url("sub_accounts", other), {"q": other.shared.party.name}).content.decode()
    assert other.shared.account.number in page
    assert other.shared_on_demo.account.number not in page
    assert client.get(url("sub_accounts", other), {"q": other.shared_on_demo.account.number}).context["rows"] == []
    exported = client.get(url("sub_accounts_export", other), {"format": "csv"}).content.decode("utf-8-sig")
    assert other.shared.account.number in exported and other.shared_on_demo.account.number not in exported
    dashboard = client.get(url("dashboard", other)).content.decode()
    assert "0.00" in dashboard and "P2P Demo" not in dashboard


def test_isolation_a_delivery_of_another_platform_cannot_be_resent(demo, other, platform_user, signed_in, dead_delivery):
    delivery = dead_delivery(demo)
    client = signed_in(platform_user(other, "owner"))
    assert client.post(url("delivery_resend", other, delivery.pk)).status_code == 404
    assert WebhookDelivery.objects.filter(resend_of=delivery).count() == 0


# -- webhooks: the log, resend by role, endpoints ----------------------------------------------


@pytest.fixture
def dead_delivery(settings, django_capture_on_commit_callbacks):
    """``dead_delivery(platform)``: a delivery to a closed port, dead after its one allowed attempt."""
    settings.WEBHOOK_MAX_ATTEMPTS = 1

    def make(platform) -> WebhookDelivery:
        endpoint = WebhookEndpoint.objects.filter(owner=platform.owner).first()
        if endpoint is None:
            endpoint, _secret = webhook_endpoint_create(owner=platform.owner, url="http://127.0.0.1:9/hook", event_types=["*"])
        with django_capture_on_commit_callbacks(execute=True):
            [delivery] = webhook_emit(owner=platform.owner, event="loan.test", payload={"amount": "1.00"})
        delivery = WebhookDelivery.objects.get(pk=delivery.pk)
        assert delivery.state == WebhookDelivery.State.DEAD
        return delivery

    return make


def test_viewer_cannot_resend_a_delivery(demo, platform_user, signed_in, dead_delivery):
    delivery = dead_delivery(demo)
    client = signed_in(platform_user(demo, "viewer"))
    log = client.get(url("deliveries", demo)).content.decode()
    assert "loan.test" in log and url("delivery_resend", demo, delivery.pk) not in log

    answer = client.post(url("delivery_resend", demo, delivery.pk))
    assert answer.status_code == 403
    page = answer.content.decode()
    assert "resend" not in page  # no button, and the language switch returns to the dashboard
    assert url("endpoints", demo) not in page  # nor the endpoint form the viewer may not use
    assert WebhookDelivery.objects.filter(resend_of=delivery).count() == 0
    assert client.post(url("endpoints", demo), {"url": "https://x.example/h", "event_types": "*"}).status_code == 403
    assert not WebhookEndpoint.objects.filter(url="https://x.example/h").exists()


@pytest.mark.parametrize("role", ["finance", "owner"])
def test_finance_and_owner_resend_a_dead_delivery(role, demo, platform_user, signed_in, dead_delivery):
    delivery = dead_delivery(demo)
    client = signed_in(owner(demo) if role == "owner" else platform_user(demo, role))
    assert url("delivery_resend", demo, delivery.pk) in client.get(url("deliveries", demo)).content.decode()
    answer = client.post(url("delivery_resend", demo, delivery.pk))
    assert answer.status_code == 302
    resent = WebhookDelivery.objects.get(resend_of=delivery)
    assert (resent.owner, resent.event_id) == (demo.owner, delivery.event_id)
    assert AuditLog.objects.filter(action="webhook.resend", target_id=str(resent.pk)).exists()


def test_owner_creates_an_endpoint_and_sees_its_secret_once(demo, platform_user, signed_in):
    client = signed_in(owner(demo))
    answer = client.post(
        url("endpoints", demo), {"url": "https://hooks.example.com/custody", "event_types": "loan.disbursed, bid.placed"}
    )
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.get(owner=demo.owner, url="https://hooks.example.com/custody")
    assert endpoint.event_types == ["bid.placed", "loan.disbursed"]
    assert endpoint.secret in answer.content.decode()
    assert endpoint.secret not in client.get(url("endpoints", demo)).content.decode()
    finance = signed_in(platform_user(demo, "finance"))
    assert 'name="url"' not in finance.get(url("endpoints", demo)).content.decode()  # only the owner creates


# -- the dashboard equals the ledger -------------------------------------------------------------


def test_dashboard_pool_and_flows_equal_the_ledger(demo, signed_in):
    books = Account.objects.filter(owner=demo.owner)
    subs = books.filter(tier=Account.Tier.DEPOSITORY)
    expected_total = sum(
        (a.balance for a in books.filter(pk__in=subs) | books.filter(role__in=[Role.TRANSIT_WITHDRAWAL, Role.SUSPENSE])),
        Decimal("0.00"),
    )
    pool = reports.pool_now(platform=demo)
    assert pool["total"] == expected_total > 0
    for role in SubAccount.Role.values:
        role_total = sum((s.account.balance for s in SubAccount.objects.filter(platform=demo, role=role)), Decimal("0.00"))
        assert pool[role] == role_total
    history = reports.pool_history(platform=demo)
    assert len(history) == 30 and history[-1].total == pool["total"] and history[0].total == 0  # seeded today

    page = signed_in(owner(demo)).get(url("dashboard", demo)).content.decode()
    assert f'data-testid="pool-total">{pool["total"]:,.2f}<' in page

    flows = {f.key: f for f in reports.today_flows(platform=demo)}
    recharged = Recharge.objects.filter(account__sub_account__platform=demo, state="succeeded")
    assert (flows["recharges"].count, flows["recharges"].amount) == (4, sum(r.amount for r in recharged))
    assert (flows["disbursements"].count, flows["disbursements"].amount) == (1, Decimal("60000.00"))
    repayment = Repayment.objects.get(platform=demo)
    assert flows["repayments"].amount == repayment.principal + repayment.interest + repayment.overdue_interest
    repaid_voucher = Transfer.objects.get(pk=repayment.transfer_id)
    credited = Entry.objects.filter(transfer=repaid_voucher, side="C").aggregate(total=Sum("amount"))["total"]
    assert flows["repayments"].amount == sum_to_money(credited)
    assert (flows["withdrawals"].count, flows["withdrawals"].amount) == (0, Decimal("0.00"))
    assert f"{flows['recharges'].amount:,.2f}" in page
    assert ledger_drift() == []


def test_pool_history_uses_the_balance_at_each_days_end(demo):
    import datetime as dt

    from django.utils import timezone

    from backoffice.dates import business_date

    today = business_date(timezone.now())
    tomorrow = reports.pool_history(platform=demo, days=3, today=today + dt.timedelta(days=1))
    assert [d.day for d in tomorrow] == [today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)]
    assert tomorrow[0].total == 0 and tomorrow[1].total == tomorrow[2].total == reports.pool_now(platform=demo)["total"]


def test_chart_is_served_as_svg_without_script_or_external_url(demo, signed_in):
    client = signed_in(owner(demo))
    answer = client.get(url("pool_chart", demo))
    assert answer.status_code == 200 and answer["Content-Type"].startswith("image/svg+xml")
    svg = answer.content.decode()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script" not in svg and "href" not in svg and "style=" not in svg
    assert svg.replace('xmlns="http://www.w3.org/2000/svg"', "").count("http") == 0
    assert svg.count("<circle") == 30
    page = client.get(url("dashboard", demo)).content.decode()
    assert f'src="{url("pool_chart", demo)}"' in page and "<script" not in page


# -- sub-accounts, loans ----------------------------------------------------------------------------


def test_sub_accounts_search_filter_and_page(demo, signed_in):
    client = signed_in(owner(demo))
    lenders = client.get(url("sub_accounts", demo), {"role": "lender"})
    assert lenders.context["page_obj"].paginator.count == 3
    borrower = SubAccount.objects.get(platform=demo, role="borrower")
    found = client.get(url("sub_accounts", demo), {"q": borrower.account.number[-6:]})
    assert [r["number"] for r in found.context["rows"]] == [borrower.account.number]
    assert client.get(url("sub_accounts", demo), {"role": "nobody"}).context["page_obj"] is None


def test_exports_neutralise_formula_cells(demo, signed_in):
    sub = SubAccount.objects.get(platform=demo, role="borrower")
    sub.party.__class__.objects.filter(pk=sub.party_id).update(name='=HYPERLINK("http://evil","x")')
    client = signed_in(owner(demo))
    rows = list(
        csv.reader(io.StringIO(client.get(url("sub_accounts_export", demo), {"format": "csv"}).content.decode("utf-8-sig")))
    )
    names = [row[1] for row in rows[1:]]
    assert '\'=HYPERLINK("http://evil","x")' in names and not any(n.startswith("=") for n in names)
    balance = {row[0]: row[4] for row in rows[1:]}[sub.account.number]
    assert balance == f"{Account.objects.get(pk=sub.account_id).balance:.2f}"

    answer = client.get(url("sub_accounts_export", demo), {"format": "xlsx"})
    assert answer["Content-Disposition"].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    assert all(not str(cell.value or "").startswith("=") for cell in cells)
    assert client.get(url("sub_accounts_export", demo), {"format": "pdf"}).status_code == 400


def test_loans_by_state_and_detail_with_schedule_and_bids(demo, signed_in):
    client = signed_in(platform_user_viewer := owner(demo))
    assert platform_user_viewer.role == "owner"
    page = client.get(url("loans", demo), {"state": "open"})
    assert [r["reference"] for r in page.context["rows"]] == ["DEMO-L2"]
    counts = {s["key"]: s["count"] for s in page.context["states"]}
    assert (counts["open"], counts["disbursed"]) == (1, 1)

    disbursed = Loan.objects.get(platform=demo, out_request_no="DEMO-L1")
    detail = client.get(url("loan_detail", demo, disbursed.pk))
    schedule = detail.context["schedule"]
    assert len(schedule) == 6 and schedule[0]["state_key"] == "paid" and schedule[1]["state_key"] == "due"
    assert len(detail.context["bids"]) == Bid.objects.filter(loan=disbursed).count() == 3
    assert "60,000.00" in detail.content.decode()
    fundraising = Loan.objects.get(platform=demo, out_request_no="DEMO-L2")
    assert fundraising.raised == Decimal("25000.00") < fundraising.amount


# -- the demo seed ------------------------------------------------------------------------------


def test_seed_custody_demo_twice_is_idempotent_and_leaves_the_ledger_clean(seed):
    out = seed()
    assert "platform-demo" in out and "otpauth://totp/" in out

    def counts():
        return [
            m.objects.count()
            for m in (Transfer, SubAccount, Loan, Bid, Repayment, Recharge, PlatformUser, TOTPDevice, WebhookDelivery)
        ]

    first = counts()
    again = seed()
    assert counts() == first
    assert again.split("otpauth://")[1].split()[0] == out.split("otpauth://")[1].split()[0]  # the same device
    assert ledger_drift() == []
    call_command("ledger_check", stdout=io.StringIO())  # exits non-zero on any drift


def test_the_header_links_to_the_platform_portals_home_not_the_customers_accounts(demo, signed_in):
    """Issue #13: the platform portal's brand and header link lead to its own home."""
    client = signed_in(owner(demo))
    page = client.get(url("dashboard", demo)).content.decode()
    header = page.split("</header>")[0]
    home = reverse("custody_portal:platform:home")
    assert f'class="brand" href="{home}"' in header
    assert f'href="{home}">平台首页</a>' in header
    assert f'href="{reverse("portal:dashboard")}"' not in header
