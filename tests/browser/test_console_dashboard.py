"""An operator opens the console home in Chromium: the dashboard's figures equal the ledger's, the
30-day charts are drawn (inline SVG), the navigation is grouped by work; a customer who mistypes a
portal address under DEBUG gets the branded page, not Django's URL list."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest

from accounts.ledger.models import Account
from accounts.ledger.selectors import account_get, internal_account
from accounts.parties.services import account_open, party_create, party_kyc_approve
from accounts.tests.admin_support import make_staff
from conftest import random_id_number
from tests.browser.signin import console_sign_in

SHOTS = Path("/tmp/shots-nav")


def _fund(account, amount: str) -> None:
    from accounts.ledger import postings as ledger
    from accounts.ledger.chart import Role

    clearing = internal_account(Role.CLEARING)
    ledger.post_transfer(
        client="browser-test",
        idempotency_key=str(uuid4()),
        kind="funding",
        legs=ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=Decimal(amount)),
    )


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_dashboard_figures_equal_the_ledger_in_the_browser(live_server, page, settings):
    from accounts.ledger.chart import Role

    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.ADMIN_OTP_REQUIRED = True
    for name, amount in (("仪表盘甲 Dash A", "1234567.89"), ("仪表盘乙 Dash B", "0.11")):
        party = party_create(type="person", name=name, id_number=random_id_number())
        party_kyc_approve(party_id=party.pk, actor_label="test")
        _fund(account_open(party=party, role=Role.LENDER, tier="I"), amount)
    user = make_staff("dash-auditor", "auditor")

    page.set_viewport_size({"width": 1366, "height": 900})
    console_sign_in(page, live_server, user)

    # the ledger's figures: every customer account read through the ledger selector
    numbers = Account.objects.filter(kind=Account.Kind.CUSTOMER).values_list("number", flat=True)
    total = sum((account_get(number=n).balance for n in numbers), Decimal("0.00"))
    assert total == Decimal("1234568.00")
    assert page.locator("#dashboard-deposits-total").inner_text() == f"{total:,.2f}" == "1,234,568.00"
    clearing = internal_account(Role.CLEARING).balance
    assert f"{clearing:,.2f}" in page.locator("#dashboard-internal tr.internal-clearing").inner_text()
    assert page.locator("#dashboard-invariants .dashboard-invariant.fail").count() == 0
    assert page.locator("svg.chart-pool circle").count() == 30
    assert page.locator("svg.chart-flows rect").count() == 60
    assert page.locator("svg.chart-pool").is_visible()
    # navigation grouped by work, the auditor's groups only
    groups = page.locator("#content-main [data-nav-group]")
    assert groups.first.get_attribute("data-nav-group") == "customers"
    assert page.locator('#content-main [data-nav-group="money"]').is_visible()
    # nothing sideways at 1366 px
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "browser-dashboard.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_portal_404_under_debug_is_branded_in_the_browser(live_server, page, settings):
    settings.DEBUG = True
    page.set_viewport_size({"width": 390, "height": 800})
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    response = page.goto(f"{live_server.url}/portal/no-such-page/")
    assert response.status == 404
    html = page.content()
    assert "Using the URLconf" not in html and "urlpatterns" not in html
    assert page.locator("#error-404 h1").inner_text() == "页面不存在"
    page.click("#error-back")
    page.wait_for_url("**/portal/**")
    SHOTS.mkdir(exist_ok=True)
    page.goto(f"{live_server.url}/portal/no-such-page/")
    page.screenshot(path=str(SHOTS / "browser-portal-404.png"), full_page=True)
