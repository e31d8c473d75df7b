"""Loans in the console: the list (filter by state and platform, search), a loan's read-only page with
its schedule and bids, the standing authorisations list; nothing can be added, edited or deleted."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.admin_support import make_staff, sign_in_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(db):
    return sign_in_verified(Client(), make_staff("loans-auditor", "auditor"))


def test_console_loan_list_filters_and_searches(console, new_loan, lender, bid):
    open_loan = new_loan("1000.00", out_request_no="L-OPEN", title="甲项目")
    full = new_loan("500.00", out_request_no="L-FULL", title="乙项目")
    bid(full, lender(), "500.00")
    url = reverse("admin:custody_loan_changelist")
    page = console.get(url)
    assert page.status_code == 200 and "L-OPEN" in page.text and "L-FULL" in page.text
    page = console.get(url, {"state": "full"})
    assert "L-FULL" in page.text and "L-OPEN" not in page.text
    page = console.get(url, {"q": "L-OPEN"})
    assert "L-OPEN" in page.text and "L-FULL" not in page.text
    page = console.get(url, {"platform__id__exact": open_loan.platform_id})
    assert page.status_code == 200 and "L-OPEN" in page.text


def test_console_loan_page_is_read_only_with_schedule_and_bids(console, new_loan, lender, bid):
    loan = new_loan("1000.00", term_months=3, method="equal_principal")
    placed = bid(loan, lender(), "400.00")
    page = console.get(reverse("admin:custody_loan_change", args=[loan.pk]))
    assert page.status_code == 200
    assert placed.out_request_no in page.text and "333.33" in page.text  # a bid and an instalment's principal
    assert 'name="_save"' not in page.text
    assert console.get(reverse("admin:custody_loan_add")).status_code == 403
    assert console.post(reverse("admin:custody_loan_delete", args=[loan.pk])).status_code == 403


def test_console_standing_authorisations_list(console, lender):
    sub = lender()
    page = console.get(reverse("admin:custody_standingauthorisation_changelist"))
    assert page.status_code == 200 and sub.account.number in page.text
    assert console.get(reverse("admin:custody_borrowingcap_changelist")).status_code == 200


def test_console_confirmations_list_and_page_show_every_kind(console, platform, lender):
    from custody.loans import confirmations

    holder = lender("100.00")
    recharge = confirmations.money_confirmation_request(
        platform=platform, kind="recharge", number=holder.account.number, amount="10.00", out_request_no="CR-1"
    )
    opening = confirmations.subaccount_open_request(
        platform=platform,
        role="borrower",
        identity_data={"type": "person", "name": holder.party.name, "id_number": holder.party.id_number},
    )
    page = console.get(reverse("admin:custody_confirmation_changelist"), {"kind": "subaccount_open"})
    assert page.status_code == 200 and opening.out_request_no in page.text and "CR-1" not in page.text
    for item in (recharge, opening):
        detail = console.get(reverse("admin:custody_confirmation_change", args=[item.pk]))
        assert detail.status_code == 200 and item.out_request_no in detail.text
