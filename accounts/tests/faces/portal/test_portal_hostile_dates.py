"""Issue #9: a statement filter naming a day without a next day (9999-12-31) or before the first (0001-01-01) is
a form error on the page (and the export goes back to it), never a 500."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from accounts.ledger.chart import Role

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


@pytest.fixture
def holder(make_party, make_account, fund, django_user_model):
    party = make_party("张三")
    account = fund(make_account(party=party, role=Role.LENDER), "10.00")
    user = django_user_model.objects.create_user(username="holder", password="portal-test-pass-2026")
    party.portal_users.add(user)
    return user, account


def _url(view, account, **query):
    return reverse(view, args=[account.number]) + "?" + urlencode(query)


@pytest.mark.parametrize("query", [{"date_to": "9999-12-31"}, {"date_from": "9999-12-31"}, {"date_from": "0001-01-01"}])
def test_hostile_date_to_9999_12_31_on_the_portal_statement_is_a_form_error(client, holder, query):
    user, account = holder
    client.force_login(user)
    response = client.get(_url("portal:statement", account, **query))
    assert response.status_code == 200
    assert list(response.context["form"].errors) == list(query)
    assert response.context["rows"] == []
    assert "输入一个有效的日期。" in response.content.decode()  # Django's own message, in the page's language


def test_hostile_date_to_9999_12_31_on_the_portal_export_goes_back_to_the_form(client, holder):
    user, account = holder
    client.force_login(user)
    for fmt in ("csv", "xlsx"):
        response = client.get(_url("portal:statement_export", account, date_to="9999-12-31", format=fmt))
        assert response.status_code == 302
        assert response["Location"] == _url("portal:statement", account, date_to="9999-12-31")
        follow = client.get(response["Location"])
        assert follow.status_code == 200 and list(follow.context["form"].errors) == ["date_to"]


def test_the_widest_queryable_range_still_lists_the_statement(client, holder):
    user, account = holder
    client.force_login(user)
    response = client.get(_url("portal:statement", account, date_from="0001-01-02", date_to="9999-12-30"))
    assert response.status_code == 200
    assert not response.context["form"].errors
    assert [row["amount"] for row in response.context["rows"]] == ["10.00"]
