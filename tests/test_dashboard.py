"""The console dashboard's figures equal the ledger's: deposits by tier and role and internal
accounts summed from the accounts the ledger selectors return, money in flight from the
withdrawals themselves, the fund pool and flows of the last 30 days from the postings; the page
shows them with thousands separators, in Beijing time, with inline SVG charts and no script."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.ledger.selectors import account_get, internal_account, trial_balance
from accounts.payments import withdrawals
from accounts.payments.dashboard import dashboard
from accounts.payments.models import Withdrawal
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH
from backoffice.charts import bar_chart, line_chart
from backoffice.dates import business_date

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


@pytest.fixture
def books(make_party, make_account, fund):
    """Customers of three tiers and roles, funded through the clearing account."""
    lender = fund(make_account(role=Role.LENDER, tier=Account.Tier.CLASS_I), "1234567.89")
    fund(make_account(role=Role.LENDER, tier=Account.Tier.CLASS_I), "10.00")
    borrower = fund(make_account(role=Role.BORROWER, tier=Account.Tier.CLASS_I), "0.11")
    corporate = fund(make_account(role=Role.CORPORATE, tier=Account.Tier.CORPORATE), "5000.00")
    return [lender, borrower, corporate]


def _ledger_deposits() -> dict[tuple[str, str], Decimal]:
    """Every customer account's balance as the ledger's selector reads it, summed per (tier, role)."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: Decimal("0.00"))
    for number in Account.objects.filter(kind=Account.Kind.CUSTOMER).values_list("number", flat=True):
        account = account_get(number=number)
        totals[(account.tier, account.role)] += account.balance
    return dict(totals)


def test_dashboard_deposits_and_internal_accounts_equal_the_ledger(books):
    data = dashboard()
    assert {(row.tier, row.role): row.balance for row in data.deposits} == _ledger_deposits()
    assert data.deposits_total == sum(_ledger_deposits().values()) == Decimal("1239578.00")
    internal = {row.role: row.balance for row in data.internal}
    assert internal[Role.CLEARING] == internal_account(Role.CLEARING).balance == Decimal("1239578.00")
    assert [row.role for row in data.internal[:4]] == [Role.CLEARING, Role.TRANSIT_WITHDRAWAL, Role.FEE_INCOME, Role.SUSPENSE]
    # the ledger balances: the trial balance's totals, as the dashboard reports them
    tb = trial_balance()
    assert (data.ledger_balanced, data.total_debit, data.total_credit) == (True, tb.total_debit, tb.total_credit)
    assert data.all_hold


def test_dashboard_pool_and_flows_of_the_last_30_days_follow_the_postings(books, fund):
    data = dashboard()
    assert len(data.days) == 30
    today = business_date(dt.datetime.now(dt.UTC))
    assert data.days[-1].day == today and data.days[0].day == today - dt.timedelta(days=29)
    # the pool at today's end is the deposits now; before today's postings it was zero
    assert data.days[-1].pool == data.deposits_total
    assert data.days[-2].pool == Decimal("0.00")
    # money in through the clearing account today: the four fundings
    assert data.days[-1].money_in == Decimal("1239578.00") and data.days[-1].money_out == Decimal("0.00")
    assert all(day.money_in == 0 for day in data.days[:-1])


def test_dashboard_money_in_flight_with_amount_and_age(books, customer, fund, channel):
    account = fund(customer(), "1000.00")
    withdrawals.withdrawal_create(
        client="test", out_request_no="d1", account=account, amount="300.00", authorization=PASSWORD_AUTH
    )
    in_flight = {item.code: item for item in dashboard().in_flight}
    rows = Withdrawal.objects.filter(state__in=Withdrawal.IN_FLIGHT)
    assert in_flight["withdrawals"].count == rows.count() == 1
    assert in_flight["withdrawals"].amount == sum((w.amount + w.fee for w in rows), Decimal("0.00"))
    assert in_flight["withdrawals"].oldest == rows.get().created_at
    assert in_flight["recharges"].count == 0
    assert "merchant_payouts" in in_flight  # merchants registers its payouts


def test_dashboard_reads_with_a_bounded_number_of_queries(books, make_account, fund):
    with CaptureQueriesContext(connection) as before:
        dashboard()
    for _ in range(5):
        fund(make_account(role=Role.LENDER, tier=Account.Tier.CLASS_I), "1.00")
    with CaptureQueriesContext(connection) as after:
        dashboard()
    assert len(after) == len(before)  # aggregate queries: no query per account


def test_console_index_shows_the_dashboard_with_separators_and_svg(books, console):
    client = console("auditor")
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="console-dashboard"' in html
    assert '<td class="num" id="dashboard-deposits-total">1,239,578.00</td>' in html
    assert "1,234,577.89" in html  # Class I lenders: 1,234,567.89 + 10.00
    assert "客户存款" in html and "在途资金" in html and "不变量校验" in html
    assert html.count('<svg class="dashboard-chart') == 2
    dashboard_html = html[html.index('id="console-dashboard"') : html.index('id="payments-dashboard"')]
    assert "<script" not in dashboard_html and "http" not in dashboard_html.replace("http://www.w3.org/2000/svg", "")
    # a link only to lists the user may open
    assert reverse("admin:accounts_withdrawal_changelist") + "?in_flight=yes" in dashboard_html


def test_console_index_in_english(books, console):
    client = console("auditor")
    html = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Customer deposits by tier and role" in html and "客户存款" not in html
    assert "(Beijing time)" in html


def test_dashboard_not_shown_without_the_view_account_permission(books, console):
    client = console("auditor", username="no-accounts")
    from django.contrib.auth.models import Permission, User

    user = User.objects.get(username="no-accounts")
    user.groups.clear()
    user.user_permissions.add(Permission.objects.get(codename="view_holiday"))
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="console-dashboard"' not in html


def test_charts_escape_their_labels_and_draw_flat_series():
    line = line_chart(title="<b>", values=[Decimal("5.00")] * 3, x_labels=["a", "b", "c"], tips=["x", "y", "<z>"], fmt=str)
    assert "<b>" not in line and "&lt;z&gt;" in line and line.count("<circle") == 3
    bars = bar_chart(
        title="t", series=[("in", "#000", [Decimal(0), Decimal("2.50")])], x_labels=["a", "b"], tips=["a", "b"], fmt=str
    )
    assert bars.count("<rect") == 2 and "script" not in bars


def test_console_index_says_money_in_flight_once(books, console):
    """The "Money in and out" panel breaks the withdrawals down by state; their in-flight total is
    the "Money in flight" panel's alone."""
    client = console("auditor")
    for language, in_flight in (("zh-hans", "在途"), ("en", "in flight")):
        html = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
        panel = html[html.index('id="payments-dashboard"') :].split("</table>")[0]
        assert in_flight not in panel.lower() and "payments-in-flight-total" not in panel
        assert "?in_flight=yes&amp;age=alert" in panel  # the "older than" link stays
