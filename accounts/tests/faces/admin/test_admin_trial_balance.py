"""The console's trial balance (试算平衡表) after postings through the real ledger."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from django.urls import reverse

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.selectors import internal_account
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

URL = "/admin/accounts/subject/trial-balance/"


def test_admin_trial_balance_url_is_stable():
    assert reverse("admin:accounts_trial_balance") == URL


def test_admin_trial_balance_balances_after_postings(console, make_account, make_party, fund, clearing):
    lender = fund(make_account(), "1000.00")
    merchant = fund(make_account(party=make_party("商户 M", "organisation"), role=Role.MERCHANT, tier="corporate"), "250.50")
    fee = internal_account(Role.FEE_INCOME)
    ledger.post_transfer(
        client="test",
        idempotency_key=str(uuid4()),
        kind="fee",
        legs=ledger.move(from_account_id=merchant.pk, to_account_id=fee.pk, amount=Decimal("0.50")),
    )
    ledger.hold_place(client="test", idempotency_key="hold-1", account_id=lender.pk, amount=Decimal("10.00"), reason="bid")

    client = console("auditor")
    response = client.get(URL)
    assert response.status_code == 200
    report = response.context["report"]
    tb = report.trial_balance
    assert tb.balanced
    assert report.drifts == []
    assert tb.total_debit == tb.total_credit == Decimal("1251.00")
    rows = {row.subject.code: row for row in tb.rows}
    assert rows["100201"].balance == Decimal("1250.50")  # clearing funds (asset, debit side) received the deposits
    assert rows["201101"].balance == Decimal("1000.00")
    assert rows["201201"].balance == Decimal("250.00")
    assert rows["602101"].balance == Decimal("0.50")
    content = response.content.decode()
    assert 'id="total-debit">1251.00<' in content and 'id="total-credit">1251.00<' in content
    assert 'class="tb-ok"' in content and 'id="no-drifts"' in content
    assert "试算平衡表" in content or "Trial balance" in content


def test_admin_trial_balance_lists_drifts(console, make_account, fund):
    from accounts.ledger.models import Account

    account = fund(make_account(), "10.00")
    Account.objects.filter(pk=account.pk).update(balance=Decimal("11.00"))  # simulated corruption, bypassing the ledger
    client = console("auditor")
    response = client.get(URL)
    drifts = response.context["report"].drifts
    assert [(d.kind, d.target) for d in drifts] == [("balance", account.number)]
    assert account.number.encode() in response.content
    assert b'id="drifts"' in response.content


def test_admin_index_links_to_the_trial_balance(console):
    client = console("auditor")
    index = client.get("/admin/")
    assert index.status_code == 200
    assert URL.encode() in index.content


def test_admin_trial_balance_needs_view_permission(client):
    from accounts.tests.admin_support import make_staff, sign_in_verified

    sign_in_verified(client, make_staff("nobody-special"))
    assert client.get(URL).status_code == 403
    assert URL.encode() not in client.get("/admin/").content
