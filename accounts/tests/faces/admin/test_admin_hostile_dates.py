"""Issue #9: the console statement's filter refuses a day without a next day (9999-12-31) or before the first
(0001-01-01) with a form error on the page, never a 500; an export with it exports nothing and audits nothing."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from backoffice.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


def _url(account, **params):
    return reverse("admin:accounts_account_statement", args=[account.pk]) + "?" + urlencode(params)


@pytest.mark.parametrize("query", [{"date_to": "9999-12-31"}, {"date_from": "9999-12-31"}, {"date_from": "0001-01-01"}])
def test_hostile_date_to_9999_12_31_on_the_console_statement_is_a_form_error(console, make_account, fund, query):
    account = fund(make_account(), "10.00")
    client = console("auditor")
    response = client.get(_url(account, **query))
    assert response.status_code == 200
    assert list(response.context["form"].errors) == list(query)
    assert b"errorlist" in response.content
    export = client.get(_url(account, export="csv", **query))
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/html")
    assert not AuditLog.objects.filter(action="account.statement_export").exists()


def test_the_widest_queryable_range_still_lists_the_console_statement(console, make_account, fund):
    account = fund(make_account(), "10.00")
    client = console("auditor")
    response = client.get(_url(account, date_from="0001-01-02", date_to="9999-12-30"))
    assert response.status_code == 200
    assert not response.context["form"].errors
    assert len(response.context["rows"]) == 1
