"""The self-service portal: sign-in and lockout, own accounts only, statements, filters, exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.tests.export_support import body, statement_workbook

SHANGHAI = ZoneInfo("Asia/Shanghai")
PASSWORD = "portal-test-pass-2026"

# whitenoise warns when STATIC_ROOT (collectstatic output) is missing; tests never collect static files.
pytestmark = pytest.mark.filterwarnings("ignore:No directory at:UserWarning")


@pytest.fixture
def portal_user(django_user_model):
    """A portal user linked to the given parties."""

    def make(*parties, username: str = "holder"):
        user = django_user_model.objects.create_user(username=username, password=PASSWORD)
        for party in parties:
            party.portal_users.add(user)
        return user

    return make


@pytest.fixture
def post(clearing, monkeypatch):
    """Post a voucher through the real ledger, optionally as if at ``at`` (Asia/Shanghai)."""

    def do(account, amount, *, kind="funding", memo="", at: dt.datetime | None = None, out: bool = False):
        legs = (
            ledger.move(from_account_id=account.pk, to_account_id=clearing.pk, amount=Decimal(amount))
            if out
            else ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=Decimal(amount))
        )
        with monkeypatch.context() as patch:
            if at is not None:
                patch.setattr(timezone, "now", lambda: at.replace(tzinfo=SHANGHAI))
            return ledger.post_transfer(client="portal-test", idempotency_key=str(uuid4()), kind=kind, legs=legs, memo=memo)

    return do


@pytest.fixture
def holder(make_party, make_account, portal_user):
    """张三 with one lender account, signed-in-able as ``holder``; 李四 with an account of his own."""
    party = make_party("张三")
    account = make_account(party=party, role=Role.LENDER)
    other_party = make_party("李四")
    other = make_account(party=other_party, role=Role.BORROWER)
    user = portal_user(party)
    return {"party": party, "account": account, "other": other, "user": user}


def _statement_url(account, **query):
    url = reverse("portal:statement", args=[account.number])
    if query:
        from urllib.parse import urlencode

        url += "?" + urlencode(query)
    return url


def _export_url(account, **query):
    from urllib.parse import urlencode

    return reverse("portal:statement_export", args=[account.number]) + "?" + urlencode(query)


def _csv_rows(response):
    text = body(response).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


# -- sign-in, sign-out, lockout ---------------------------------------------------------


def test_login_valid_credentials_redirects_to_dashboard(client, holder):
    response = client.post(reverse("portal:login"), {"username": "holder", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert client.get("/portal/").status_code == 200


def test_login_wrong_password_is_refused(client, holder):
    response = client.post(reverse("portal:login"), {"username": "holder", "password": "wrong-password"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session
    assert client.get("/portal/").status_code == 302


def test_login_five_failures_show_lockout_page_even_for_the_right_password(client, holder):
    for _attempt in range(4):
        assert client.post(reverse("portal:login"), {"username": "holder", "password": "nope"}).status_code == 200
    locked = client.post(reverse("portal:login"), {"username": "holder", "password": "nope"})
    assert locked.status_code == 429
    assert "lockout.html" in [t.name for t in locked.templates]
    assert "登录已暂时锁定" in locked.content.decode()
    again = client.post(reverse("portal:login"), {"username": "holder", "password": PASSWORD})
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session


def test_lockout_page_renders_in_english_after_switching(client, holder):
    client.post("/i18n/setlang/", {"language": "en", "next": "/portal/login/"})
    for _attempt in range(5):
        response = client.post(reverse("portal:login"), {"username": "holder", "password": "nope"})
    assert response.status_code == 429
    assert "Sign-in temporarily locked" in response.content.decode()
    assert "30 minutes" in response.content.decode()


@pytest.mark.parametrize("name", ["portal:dashboard", "portal:statement", "portal:statement_export"])
def test_anonymous_user_is_redirected_to_login(client, holder, name):
    args = [] if name == "portal:dashboard" else [holder["account"].number]
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/?next=")


def test_logout_get_is_refused_and_post_signs_out(client, holder):
    client.force_login(holder["user"])
    assert client.get(reverse("portal:logout")).status_code == 405
    response = client.post(reverse("portal:logout"))
    assert response.status_code == 302
    assert response["Location"] == "/portal/login/"
    assert client.get("/portal/").status_code == 302


def test_logout_without_csrf_token_is_refused(holder):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(holder["user"])
    assert csrf_client.post(reverse("portal:logout")).status_code == 403
    assert csrf_client.get("/portal/").status_code == 200


# -- dashboard --------------------------------------------------------------------------


def test_dashboard_lists_only_own_accounts_with_exact_amounts(client, holder, fund, make_account):
    fund(holder["account"], "1234.56")
    fund(holder["other"], "999.99")
    second = make_account(party=holder["party"], role=Role.BORROWER)
    client.force_login(holder["user"])
    response = client.get("/portal/")
    html = response.content.decode()
    assert response.status_code == 200
    assert [row["account"].number for row in response.context["rows"]] == sorted([holder["account"].number, second.number])
    assert holder["account"].number in html and second.number in html
    assert holder["other"].number not in html
    assert "1,234.56" in html
    assert "999.99" not in html


def test_dashboard_shows_accounts_of_every_party_of_the_user(client, make_party, make_account, portal_user):
    first, second = make_party("甲公司", type="organisation"), make_party("乙公司", type="organisation")
    a = make_account(party=first, role=Role.MERCHANT, tier="corporate")
    b = make_account(party=second, role=Role.MERCHANT, tier="corporate")
    client.force_login(portal_user(first, second))
    numbers = {row["account"].number for row in client.get("/portal/").context["rows"]}
    assert numbers == {a.number, b.number}


def test_dashboard_shows_frozen_and_available(client, holder, fund):
    fund(holder["account"], "500.00")
    ledger.hold_place(
        client="portal-test", idempotency_key="h1", account_id=holder["account"].pk, amount=Decimal("120.25"), reason="risk"
    )
    client.force_login(holder["user"])
    row = client.get("/portal/").context["rows"][0]
    assert (row["balance"], row["available"], row["frozen"]) == ("500.00", "379.75", "120.25")


# -- statement --------------------------------------------------------------------------


def test_statement_of_own_account_shows_ledger_entries(client, holder, post):
    post(holder["account"], "1234.56", kind="recharge", memo="工资 salary")
    post(holder["account"], "34.50", kind="withdrawal", out=True)
    client.force_login(holder["user"])
    response = client.get(_statement_url(holder["account"]))
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [(r["entry"].side, r["amount"], r["balance_after"]) for r in rows] == [
        ("D", "34.50", "1,200.06"),
        ("C", "1,234.56", "1,234.56"),
    ]
    html = response.content.decode()
    assert "工资 salary" in html
    assert response.context["balance"] == "1,200.06"


@pytest.mark.parametrize("view", ["portal:statement", "portal:statement_export"])
def test_other_partys_account_answers_404(client, holder, fund, view):
    fund(holder["other"], "10.00")
    client.force_login(holder["user"])
    assert client.get(reverse(view, args=[holder["other"].number])).status_code == 404
    assert client.get(reverse(view, args=[holder["other"].number]) + "?format=xlsx").status_code == 404


@pytest.mark.parametrize("view", ["portal:statement", "portal:statement_export"])
def test_internal_and_unknown_accounts_answer_404(client, holder, clearing, view):
    client.force_login(holder["user"])
    assert client.get(reverse(view, args=[clearing.number])).status_code == 404
    assert client.get(reverse(view, args=["6230000000000000"])).status_code == 404


def test_statement_date_filter_uses_shanghai_business_days(client, holder, post):
    post(holder["account"], "10.00", at=dt.datetime(2026, 1, 5, 9, 0))
    post(holder["account"], "20.00", at=dt.datetime(2026, 2, 10, 0, 30))  # 2026-02-09 16:30 UTC
    post(holder["account"], "30.00", at=dt.datetime(2026, 3, 1, 23, 59))
    client.force_login(holder["user"])
    response = client.get(_statement_url(holder["account"], date_from="2026-02-10", date_to="2026-03-01"))
    assert [r["amount"] for r in response.context["rows"]] == ["30.00", "20.00"]
    response = client.get(_statement_url(holder["account"], date_to="2026-02-09"))
    assert [r["amount"] for r in response.context["rows"]] == ["10.00"]


def test_statement_kind_filter(client, holder, post):
    post(holder["account"], "10.00", kind="recharge")
    post(holder["account"], "20.00", kind="repayment")
    client.force_login(holder["user"])
    response = client.get(_statement_url(holder["account"], kind="repayment"))
    assert [r["amount"] for r in response.context["rows"]] == ["20.00"]
    assert ("repayment", "还款") in [(value, str(label)) for value, label in response.context["form"].fields["kind"].choices]


@pytest.mark.parametrize(
    "query",
    [{"date_from": "2026-13-45"}, {"date_to": "yesterday"}, {"date_from": "2026-03-02", "date_to": "2026-03-01"}, {"kind": "x"}],
)
def test_statement_bad_filter_shows_form_error_not_500(client, holder, post, query):
    post(holder["account"], "10.00")
    client.force_login(holder["user"])
    response = client.get(_statement_url(holder["account"], **query))
    assert response.status_code == 200
    assert response.context["form"].errors
    assert response.context["rows"] == []
    assert 'class="form-errors"' in response.content.decode() or 'class="error"' in response.content.decode()


def test_statement_pagination_keeps_filters(client, holder, post):
    for n in range(1, 56):
        post(holder["account"], f"{n}.00", kind="recharge")
    post(holder["account"], "1000.00", kind="bid")
    client.force_login(holder["user"])
    first = client.get(_statement_url(holder["account"], kind="recharge"))
    assert len(first.context["rows"]) == 50
    assert first.context["page_obj"].paginator.count == 55
    html = first.content.decode()
    assert "?kind=recharge&amp;page=2" in html
    second = client.get(_statement_url(holder["account"], kind="recharge", page=2))
    assert [r["amount"] for r in second.context["rows"]] == ["5.00", "4.00", "3.00", "2.00", "1.00"]
    assert "?kind=recharge&amp;page=1" in second.content.decode()
    # Export links carry the filters but not the page.
    assert "export/?kind=recharge&amp;format=csv" in second.content.decode()
    beyond = client.get(_statement_url(holder["account"], kind="recharge", page=99))
    assert beyond.status_code == 200 and beyond.context["page_obj"].number == 2


# -- export -----------------------------------------------------------------------------


def test_csv_export_has_the_filtered_entries_with_exact_amounts(client, holder, post):
    post(holder["account"], "1234.56", kind="recharge", memo="首笔 first", at=dt.datetime(2026, 1, 5, 10, 0))
    post(holder["account"], "0.10", kind="recharge", at=dt.datetime(2026, 1, 6, 10, 0))
    post(holder["account"], "200.00", kind="withdrawal", out=True, at=dt.datetime(2026, 1, 7, 10, 0))
    client.force_login(holder["user"])
    response = client.get(_export_url(holder["account"], format="csv", kind="recharge"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"statement-{holder['account'].number}-" in response["Content-Disposition"]
    header, *rows = _csv_rows(response)
    assert header[0] == "posted_at / 记账时间" and "amount / 金额" in header
    amount, balance, memo = header.index("amount / 金额"), header.index("balance / 余额"), header.index("memo / 摘要")
    assert [(r[amount], r[balance]) for r in rows] == [("0.10", "1234.66"), ("1234.56", "1234.56")]
    assert rows[1][memo] == "首笔 first"
    assert rows[1][0] == "2026-01-05 10:00:00"
    everything = _csv_rows(client.get(_export_url(holder["account"], format="csv")))
    assert len(everything) == 4
    assert everything[1][amount] == "200.00" and everything[1][balance] == "1034.66"


def test_xlsx_export_opens_with_openpyxl(client, holder, post):
    post(holder["account"], "88.80", kind="recharge")
    post(holder["account"], "8.08", kind="withdrawal", out=True)
    client.force_login(holder["user"])
    response = client.get(_export_url(holder["account"], format="xlsx", date_from="2000-01-01"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    _sheet, _block, header, rows = statement_workbook(body(response))
    amount = header.index("amount / 金额")
    assert [row[amount].value for row in rows] == [8.08, 88.8]  # numbers, not text
    assert all(row[amount].data_type == "n" for row in rows)


def test_export_with_bad_filter_goes_back_to_the_form(client, holder):
    client.force_login(holder["user"])
    response = client.get(_export_url(holder["account"], format="csv", date_from="2026-02-30"))
    assert response.status_code == 302
    assert response["Location"] == _statement_url(holder["account"], date_from="2026-02-30")
    follow = client.get(response["Location"])
    assert follow.status_code == 200 and follow.context["form"].errors


def test_export_unknown_format_is_400(client, holder):
    client.force_login(holder["user"])
    assert client.get(_export_url(holder["account"], format="pdf")).status_code == 400
