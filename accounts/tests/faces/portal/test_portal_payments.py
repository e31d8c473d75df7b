"""The portal's money in and out: the transaction password, a withdrawal to the bound card with
its confirmation step, a recharge from it, their lists and detail pages; own accounts only,
every refusal a message on the form (nothing created, never a 500), one withdrawal per
confirmation however often it is sent. Real services, the in-process channel simulator, Celery
eager."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.hashers import check_password
from django.urls import reverse
from django.utils import timezone

from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.payments import authorisation
from accounts.payments.models import Recharge, TransactionPassword, Withdrawal
from accounts.payments.selectors import withdrawal_list
from accounts.payments.simulator import Script
from accounts.portal import payments as payments_views
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD, PASSWORD_AUTH, assert_books_agree_with_channel, books

LOGIN_PASSWORD = "portal-test-pass-2026"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CARD = "6228 **** **** 0018"

# whitenoise warns when STATIC_ROOT (collectstatic output) is missing; tests never collect static files.
pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Sign-in and transaction passwords hashed with a cheap hasher: PBKDF2's million rounds per
    hash and per check would dominate these tests (what is stored and checked is the same)."""


@pytest.fixture
def portal_user(django_user_model):
    """A portal user linked to the given parties."""

    def make(*parties, username: str = "holder"):
        user = django_user_model.objects.create_user(username=username, password=LOGIN_PASSWORD)
        for party in parties:
            party.portal_users.add(user)
        return user

    return make


@pytest.fixture
def holder(customer, channel, fund, portal_user, client):
    """张三 signed in: an active account with 500.00, a verified card and a transaction password."""
    account = fund(customer(), "500.00")
    user = portal_user(account.party)
    client.force_login(user)
    return account


def _url(name: str, account: Account, *args) -> str:
    return reverse(f"portal:{name}", args=[account.number, *args])


def _html(response) -> str:
    return response.content.decode()


def _reload(account: Account) -> Account:
    return Account.objects.get(pk=account.pk)


def _step1(client, account: Account, amount: str):
    return client.post(_url("withdrawal_new", account), {"amount": amount})


def _token(response) -> str:
    form = response.context["form"]
    return form.data.get("token") if form.is_bound else form.initial["token"]


def _confirm(client, account: Account, token: str, password: str, capture):
    with capture(execute=True):
        return client.post(_url("withdrawal_confirm", account), {"token": token, "password": password})


def _withdraw(client, account: Account, amount: str, capture, password: str = PASSWORD):
    step2 = _step1(client, account, amount)
    assert step2.status_code == 200 and "portal/withdrawal_confirm.html" in [t.name for t in step2.templates], _html(step2)
    return _confirm(client, account, _token(step2), password, capture)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# -- transaction password -------------------------------------------------------------------------


@pytest.fixture
def no_password(make_party, make_account, portal_user, client):
    """李四 signed in, with an account and no transaction password yet."""
    party = make_party("李四")
    account = make_account(party=party, role=Role.LENDER)
    client.force_login(portal_user(party))
    return account


def test_set_transaction_password_then_it_authorises(client, no_password):
    page = client.get(_url("transaction_password", no_password))
    assert page.status_code == 200
    assert "login_password" not in page.context["form"].fields  # a first password needs no sign-in password
    response = client.post(_url("transaction_password", no_password), {"password": "258036", "password_again": "258036"})
    assert response.status_code == 302 and response["Location"] == _url("statement", no_password)
    record = TransactionPassword.objects.get(party=no_password.party)
    assert check_password("258036", record.password_hash)
    assert "258036" not in record.password_hash
    assert (
        authorisation.authorisation_verify(
            account=no_password, purpose="withdrawal", authorization={"method": "password", "password": "258036"}
        )
        == "password"
    )


def test_set_transaction_password_full_width_digits_are_the_same_password(client, no_password):
    client.post(_url("transaction_password", no_password), {"password": "２５８０３６", "password_again": "258036"})
    assert check_password("258036", TransactionPassword.objects.get(party=no_password.party).password_hash)


def test_set_transaction_password_mismatch_is_a_form_error(client, no_password):
    response = client.post(_url("transaction_password", no_password), {"password": "258036", "password_again": "258037"})
    assert response.status_code == 200
    assert response.context["form"].errors["password_again"]
    assert not TransactionPassword.objects.filter(party=no_password.party).exists()


@pytest.mark.parametrize("password", ["25803", "2580361", "25803a", "٢٥٨٠٣٦", " 258036", ""])
def test_set_transaction_password_bad_format_is_a_form_error(client, no_password, password):
    response = client.post(_url("transaction_password", no_password), {"password": password, "password_again": password})
    assert response.status_code == 200
    assert response.context["form"].errors["password"]
    assert not TransactionPassword.objects.filter(party=no_password.party).exists()


@pytest.mark.parametrize("password", ["123456", "888888", "987654"])
def test_set_transaction_password_weak_one_refused_by_the_service_on_the_field(client, no_password, password):
    response = client.post(_url("transaction_password", no_password), {"password": password, "password_again": password})
    assert response.status_code == 200
    assert response.context["form"].errors["password"]
    assert not TransactionPassword.objects.filter(party=no_password.party).exists()


def test_change_transaction_password_needs_the_sign_in_password(client, holder):
    form = client.get(_url("transaction_password", holder)).context["form"]
    assert "login_password" in form.fields
    data = {"password": "258036", "password_again": "258036"}
    missing = client.post(_url("transaction_password", holder), data)
    assert missing.context["form"].errors["login_password"]
    wrong = client.post(_url("transaction_password", holder), {**data, "login_password": "not-my-password"})
    assert wrong.status_code == 200 and wrong.context["form"].errors["login_password"]
    record = TransactionPassword.objects.get(party=holder.party)
    assert check_password(PASSWORD, record.password_hash)  # unchanged
    done = client.post(_url("transaction_password", holder), {**data, "login_password": LOGIN_PASSWORD})
    assert done.status_code == 302
    assert check_password("258036", TransactionPassword.objects.get(party=holder.party).password_hash)


def test_transaction_password_belongs_to_the_accounts_party(client, make_party, make_account, portal_user):
    first, second = make_party("王五"), make_party("王五公司", type="organisation")
    first_account = make_account(party=first, role=Role.LENDER)
    second_account = make_account(party=second, role=Role.BORROWER)
    client.force_login(portal_user(first, second))
    page = client.get(_url("transaction_password", second_account))
    assert "王五公司" in _html(page)
    client.post(_url("transaction_password", second_account), {"password": "258036", "password_again": "258036"})
    assert TransactionPassword.objects.filter(party=second).exists()
    assert not TransactionPassword.objects.filter(party=first).exists()
    assert client.get(_url("transaction_password", first_account)).context["changing"] is False


def test_transaction_password_next_goes_back_only_inside_the_site(client, no_password):
    data = {"password": "258036", "password_again": "258036", "next": "https://evil.example/steal"}
    response = client.post(_url("transaction_password", no_password), data)
    assert response["Location"] == _url("statement", no_password)


# -- withdrawals ----------------------------------------------------------------------------------


def test_withdrawal_step_1_shows_available_fee_card_and_settlement(client, holder):
    page = client.get(_url("withdrawal_new", holder))
    assert page.status_code == 200
    html = _html(page)
    assert 'id="withdrawal-available">500.00<' in html
    assert 'id="withdrawal-fee">1.00<' in html
    assert CARD in html
    assert "50,000.00" in html and "09:00" in html and "16:30" in html and "T+1" in html
    assert "提现" in html  # "Withdrawal", translated


def test_r_wd_01_withdrawal_happy_path_confirm_then_succeeded_with_balance(
    client, holder, django_capture_on_commit_callbacks, sim
):
    step2 = _step1(client, holder, "100")
    assert step2.status_code == 200
    html = _html(step2)
    assert 'id="confirm-amount">100.00<' in html
    assert 'id="confirm-fee">1.00<' in html
    assert "<strong>101.00</strong>" in html
    assert 'data-settles="real_time"' in html
    assert CARD in html
    assert Withdrawal.objects.count() == 0  # nothing before the confirmation

    done = _confirm(client, holder, _token(step2), PASSWORD, django_capture_on_commit_callbacks)
    withdrawal = Withdrawal.objects.get()
    assert done.status_code == 302 and done["Location"] == _url("withdrawal_detail", holder, withdrawal.pk)
    assert withdrawal.client == "portal" and withdrawal.out_request_no.startswith("P")
    assert withdrawal.state == Withdrawal.State.SUCCEEDED
    assert withdrawal.amount == Decimal("100.00") and withdrawal.fee == Decimal("1.00")
    assert withdrawal.created_by.username == "holder"

    detail = client.get(done["Location"])
    html = _html(detail)
    assert 'data-state="succeeded"' in html and "成功" in html
    assert 'id="withdrawal-amount">100.00<' in html and 'id="withdrawal-fee">1.00<' in html
    # One business reference, alike in the detail and the list (the portal's internal one is not shown).
    assert withdrawal.request_id in html and withdrawal.out_request_no not in html
    assert any("100.00" in text for text in _messages(detail))
    assert 'id="summary-balance">399.00<' in html

    statement = _html(client.get(_url("statement", holder)))
    assert "399.00" in statement
    assert books(holder)["balance"] == Decimal("399.00") and books(holder)["frozen"] == Decimal("0.00")
    assert_books_agree_with_channel(sim)

    listing = _html(client.get(_url("withdrawal_list", holder)))
    assert withdrawal.request_id in listing and 'data-state="succeeded"' in listing


def test_withdrawal_wrong_password_message_and_nothing_created(client, holder, django_capture_on_commit_callbacks):
    step2 = _step1(client, holder, "100.00")
    response = _confirm(client, holder, _token(step2), "246801", django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert "portal/withdrawal_confirm.html" in [t.name for t in response.templates]
    errors = response.context["form"].errors["password"]
    assert errors and "4" in errors[0]  # attempts left before the lock
    assert Withdrawal.objects.count() == 0
    account = _reload(holder)
    assert account.balance == Decimal("500.00") and account.frozen == Decimal("0.00")
    # The same confirmation, with the right password now, makes the withdrawal.
    again = _confirm(client, holder, _token(response), PASSWORD, django_capture_on_commit_callbacks)
    assert again.status_code == 302
    assert Withdrawal.objects.get().state == Withdrawal.State.SUCCEEDED


def test_withdrawal_password_locked_after_too_many_wrong_attempts(client, holder, django_capture_on_commit_callbacks):
    token = _token(_step1(client, holder, "10.00"))
    for _attempt in range(5):
        response = _confirm(client, holder, token, "246801", django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert "locked" in response.context["form"].errors["password"][0] or "锁" in response.context["form"].errors["password"][0]
    locked = _confirm(client, holder, token, PASSWORD, django_capture_on_commit_callbacks)
    assert locked.status_code == 200 and locked.context["form"].non_field_errors()
    assert Withdrawal.objects.count() == 0


def test_withdrawal_insufficient_funds_message_at_step_1(client, holder):
    response = _step1(client, holder, "500.00")  # 500.00 + 1.00 fee > 500.00 available
    assert response.status_code == 200
    assert "portal/withdrawal_new.html" in [t.name for t in response.templates]
    errors = response.context["form"].non_field_errors()
    assert errors and "500.00" in errors[0] and "1.00" in errors[0]
    assert Withdrawal.objects.count() == 0


def test_withdrawal_insufficient_funds_at_confirmation_is_a_message_on_the_form(
    client, holder, django_capture_on_commit_callbacks
):
    first = _token(_step1(client, holder, "300.00"))
    second = _token(_step1(client, holder, "300.00"))  # both drawn while 500.00 was available
    assert _confirm(client, holder, first, PASSWORD, django_capture_on_commit_callbacks).status_code == 302
    response = _confirm(client, holder, second, PASSWORD, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert errors and "199.00" in errors[0]  # what is available now
    assert Withdrawal.objects.count() == 1
    assert _reload(holder).balance == Decimal("199.00")


@pytest.mark.parametrize("amount", ["", "abc", "-5", "0", "0.00", "10.001", "1e3"])
def test_withdrawal_bad_amount_is_a_field_error(client, holder, amount):
    response = _step1(client, holder, amount)
    assert response.status_code == 200
    assert response.context["form"].errors["amount"]
    assert Withdrawal.objects.count() == 0


def test_withdrawal_amount_with_thousands_separator(client, holder, fund):
    fund(holder, "2000.00")
    response = _step1(client, holder, "1,234.50")
    assert 'id="confirm-amount">1,234.50<' in _html(response)


def test_withdrawal_double_submit_of_one_confirmation_creates_one(client, holder, django_capture_on_commit_callbacks, sim):
    token = _token(_step1(client, holder, "100.00"))
    first = _confirm(client, holder, token, PASSWORD, django_capture_on_commit_callbacks)
    second = _confirm(client, holder, token, PASSWORD, django_capture_on_commit_callbacks)
    withdrawal = Withdrawal.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == _url("withdrawal_detail", holder, withdrawal.pk)
    shown = client.get(second["Location"])
    assert any("already" in text or "已" in text for text in _messages(shown))
    assert _reload(holder).balance == Decimal("399.00")
    assert len(sim.orders()) == 1
    assert_books_agree_with_channel(sim)


def test_withdrawal_tampered_or_foreign_token_is_refused(client, holder, customer, portal_user, fund):
    other = fund(customer("张三", party=holder.party, tier=Account.Tier.CLASS_II), "100.00")
    token = _token(_step1(client, holder, "10.00"))
    # The token of one account posted to another account of the same holder.
    response = client.post(_url("withdrawal_confirm", other), {"token": token, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == _url("withdrawal_new", other)
    # An edited token.
    edited = client.post(_url("withdrawal_confirm", holder), {"token": token[:-2] + "xx", "password": PASSWORD})
    assert edited.status_code == 302
    assert Withdrawal.objects.count() == 0


def test_withdrawal_expired_confirmation_starts_again(client, holder, monkeypatch):
    token = _token(_step1(client, holder, "10.00"))
    later = timezone.now() + dt.timedelta(minutes=16)
    monkeypatch.setattr("django.core.signing.time.time", lambda: later.timestamp())
    response = client.post(_url("withdrawal_confirm", holder), {"token": token, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == _url("withdrawal_new", holder)
    assert Withdrawal.objects.count() == 0


def test_withdrawal_confirm_refuses_get(client, holder):
    assert client.get(_url("withdrawal_confirm", holder)).status_code == 405


def test_withdrawal_failed_shows_reason_and_money_back(client, holder, django_capture_on_commit_callbacks, sim):
    sim.script_next(Script(submit="failure"))
    done = _withdraw(client, holder, "100.00", django_capture_on_commit_callbacks)
    html = _html(client.get(done["Location"]))
    assert 'data-state="failed"' in html and "失败" in html
    assert 'id="withdrawal-failure">declined by the simulator<' in html
    assert _reload(holder).balance == Decimal("500.00") and _reload(holder).frozen == Decimal("0.00")


def test_withdrawal_unknown_outcome_shows_in_flight_with_refresh(client, holder, django_capture_on_commit_callbacks, sim):
    sim.script_next(Script(submit="timeout", delay=None))
    done = _withdraw(client, holder, "100.00", django_capture_on_commit_callbacks)
    page = client.get(done["Location"])
    html = _html(page)
    assert Withdrawal.objects.get().state == Withdrawal.State.UNKNOWN
    assert 'data-state="unknown"' in html and 'http-equiv="refresh"' in html
    assert page.context["in_flight"] is True
    assert _reload(holder).frozen == Decimal("101.00")


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_r_wd_06_large_amount_is_t_plus_1_inside_the_window(client, holder, make_channel, fund, monkeypatch):
    make_channel(real_time_limit=Decimal("100.00"))
    monkeypatch.setattr(timezone, "now", lambda: _at("2026-03-11T10:00:00"))  # a Wednesday
    response = _step1(client, holder, "200.00")
    assert 'data-settles="next_working_day"' in _html(response)


def test_r_wd_06_large_amount_outside_the_window_is_refused_at_step_1(client, holder, make_channel, monkeypatch):
    make_channel(real_time_limit=Decimal("100.00"))
    monkeypatch.setattr(timezone, "now", lambda: _at("2026-03-15T10:00:00"))  # a Sunday
    response = _step1(client, holder, "200.00")
    errors = response.context["form"].non_field_errors()
    assert errors and "09:00" in errors[0]
    assert Withdrawal.objects.count() == 0


def test_withdrawal_fee_change_after_the_confirmation_was_drawn_starts_again(
    client, holder, make_channel, django_capture_on_commit_callbacks
):
    token = _token(_step1(client, holder, "100.00"))
    make_channel(withdrawal_fee=Decimal("2.00"))
    response = _confirm(client, holder, token, PASSWORD, django_capture_on_commit_callbacks)
    assert response.status_code == 302 and response["Location"] == _url("withdrawal_new", holder)
    assert Withdrawal.objects.count() == 0


def test_no_verified_card_no_buttons_and_an_explanation(client, make_party, make_account, channel, fund, portal_user):
    party = make_party("赵六")
    account = fund(make_account(party=party, role=Role.LENDER), "100.00")
    authorisation.transaction_password_set(party_id=party.pk, password=PASSWORD)
    client.force_login(portal_user(party))
    statement = _html(client.get(_url("statement", account)))
    assert f'id="withdraw-{account.number}"' not in statement
    assert f'id="recharge-{account.number}"' not in statement
    assert "no-money-actions" in statement
    dashboard = _html(client.get("/portal/"))
    assert f'id="withdraw-{account.number}"' not in dashboard and "no-money-actions" in dashboard
    page = client.get(_url("withdrawal_new", account))
    assert 'id="no-card"' in _html(page) and 'id="withdrawal-step-1"' not in _html(page)
    refused = _step1(client, account, "10.00")
    assert refused.status_code == 200 and refused.context["form"].non_field_errors()
    recharge = client.get(_url("recharge_new", account))
    assert 'id="no-card"' in _html(recharge) and 'id="recharge-form"' not in _html(recharge)
    assert Withdrawal.objects.count() == 0


def test_with_a_verified_card_the_statement_and_dashboard_show_the_buttons(client, holder):
    statement = _html(client.get(_url("statement", holder)))
    assert f'id="withdraw-{holder.number}"' in statement and f'id="recharge-{holder.number}"' in statement
    assert _url("withdrawal_list", holder) in statement and _url("recharge_list", holder) in statement
    dashboard = _html(client.get("/portal/"))
    assert f'id="withdraw-{holder.number}"' in dashboard


def test_no_enabled_channel_explains_and_refuses(client, holder, make_channel):
    make_channel(enabled=False)
    page = _html(client.get(_url("withdrawal_new", holder)))
    assert 'id="no-channel"' in page and 'id="withdrawal-step-1"' not in page
    assert 'id="no-channel"' in _html(client.get(_url("recharge_new", holder)))
    refused = _step1(client, holder, "10.00")
    assert refused.status_code == 200 and refused.context["form"].non_field_errors()
    assert Withdrawal.objects.count() == 0


def test_no_transaction_password_the_withdrawal_page_links_to_set_one(client, customer, channel, fund, portal_user):
    account = fund(customer("钱七"), "100.00")
    TransactionPassword.objects.filter(party=account.party).delete()  # as if the holder never set one
    client.force_login(portal_user(account.party))
    html = _html(client.get(_url("withdrawal_new", account)))
    assert 'id="no-password"' in html and _url("transaction_password", account) in html


def test_withdrawal_list_filters_by_state_and_paginates(client, holder, django_capture_on_commit_callbacks, sim, monkeypatch):
    monkeypatch.setattr(payments_views, "LIST_PAGE_SIZE", 2)
    sim.script_next(Script(submit="failure"))
    for amount in ("10.00", "11.00", "12.00"):
        _withdraw(client, holder, amount, django_capture_on_commit_callbacks)
    states = sorted(Withdrawal.objects.values_list("state", flat=True))
    assert states == ["failed", "succeeded", "succeeded"]
    first = client.get(_url("withdrawal_list", holder))
    assert len(first.context["rows"]) == 2 and first.context["page_obj"].paginator.num_pages == 2
    second = client.get(_url("withdrawal_list", holder) + "?page=2")
    assert len(second.context["rows"]) == 1
    failed = client.get(_url("withdrawal_list", holder) + "?state=failed")
    assert [row["withdrawal"].amount for row in failed.context["rows"]] == [Decimal("10.00")]
    bogus = client.get(_url("withdrawal_list", holder) + "?state=nonsense")
    assert bogus.status_code == 200 and len(bogus.context["rows"]) == 2


def test_withdrawal_detail_shows_english_labels_after_switching(client, holder, django_capture_on_commit_callbacks):
    done = _withdraw(client, holder, "100.00", django_capture_on_commit_callbacks)
    chinese = _html(client.get(done["Location"]))
    assert "成功" in chinese and "提现" in chinese and "手续费" in chinese
    client.post("/i18n/setlang/", {"language": "en", "next": "/portal/"})
    english = _html(client.get(done["Location"]))
    assert "Succeeded" in english and "Withdrawal" in english and "Fee" in english
    assert "手续费" not in english


# -- own accounts only ------------------------------------------------------------------------------


@pytest.fixture
def stranger(customer, fund, portal_user, django_capture_on_commit_callbacks):
    """李四's account with a withdrawal and a recharge of its own."""
    from accounts.payments import recharges, withdrawals

    account = fund(customer("李四"), "300.00")
    portal_user(account.party, username="lisi")
    with django_capture_on_commit_callbacks(execute=True):
        withdrawal = withdrawals.withdrawal_create(
            client="portal", out_request_no="P-other-1", account=account, amount="10.00", authorization=PASSWORD_AUTH
        )
        recharge = recharges.recharge_create(
            client="portal", out_request_no="P-other-2", account=account, amount="10.00", authorization=PASSWORD_AUTH
        )
    return account, withdrawal, recharge


@pytest.mark.parametrize(
    "name,extra",
    [
        ("transaction_password", None),
        ("withdrawal_new", None),
        ("withdrawal_list", None),
        ("withdrawal_detail", "withdrawal"),
        ("recharge_new", None),
        ("recharge_list", None),
        ("recharge_detail", "recharge"),
    ],
)
def test_another_users_account_answers_404(client, holder, stranger, name, extra):
    account, withdrawal, recharge = stranger
    args = {"withdrawal": [withdrawal.pk], "recharge": [recharge.pk], None: []}[extra]
    assert client.get(_url(name, account, *args)).status_code == 404


def test_another_users_account_refuses_posts_with_404(client, holder, stranger):
    account, _withdrawal, _recharge = stranger
    assert client.post(_url("withdrawal_new", account), {"amount": "10.00"}).status_code == 404
    assert client.post(_url("withdrawal_confirm", account), {"token": "x", "password": PASSWORD}).status_code == 404
    data = {"password": "258036", "password_again": "258036", "login_password": LOGIN_PASSWORD}
    assert client.post(_url("transaction_password", account), data).status_code == 404
    assert client.post(_url("recharge_new", account), {"amount": "1", "password": PASSWORD}).status_code == 404
    assert Withdrawal.objects.count() == 1 and Recharge.objects.count() == 1


def test_another_accounts_withdrawal_under_my_account_answers_404(client, holder, stranger):
    _account, withdrawal, recharge = stranger
    assert client.get(_url("withdrawal_detail", holder, withdrawal.pk)).status_code == 404
    assert client.get(_url("recharge_detail", holder, recharge.pk)).status_code == 404


@pytest.mark.parametrize("name", ["withdrawal_new", "withdrawal_list", "recharge_new", "transaction_password"])
def test_anonymous_user_is_sent_to_sign_in(client, customer, name):
    account = customer()
    response = client.get(_url(name, account))
    assert response.status_code == 302 and response["Location"].startswith("/portal/login/?next=")


# -- recharges ------------------------------------------------------------------------------------


def _recharge(client, account: Account, amount: str, capture, password: str = PASSWORD, token: str | None = None):
    if token is None:
        token = _token(client.get(_url("recharge_new", account)))
    with capture(execute=True):
        return client.post(_url("recharge_new", account), {"token": token, "amount": amount, "password": password})


def test_recharge_happy_path_credits_and_shows_succeeded(client, holder, django_capture_on_commit_callbacks, sim):
    page = client.get(_url("recharge_new", holder))
    assert page.status_code == 200 and CARD in _html(page)
    done = _recharge(client, holder, "50.00", django_capture_on_commit_callbacks)
    recharge = Recharge.objects.get()
    assert done.status_code == 302 and done["Location"] == _url("recharge_detail", holder, recharge.pk)
    assert recharge.state == Recharge.State.SUCCEEDED and recharge.client == "portal"
    assert recharge.out_request_no.startswith("P")
    html = _html(client.get(done["Location"]))
    assert 'data-state="succeeded"' in html and "成功" in html and "充值" in html
    assert 'id="recharge-amount">50.00<' in html and 'id="summary-balance">550.00<' in html
    assert _reload(holder).balance == Decimal("550.00")
    assert sim.collected() == Decimal("50.00")
    listing = client.get(_url("recharge_list", holder))
    assert [row["recharge"].pk for row in listing.context["rows"]] == [recharge.pk]
    assert not client.get(_url("recharge_list", holder) + "?state=failed").context["rows"]


def test_recharge_double_submit_creates_one(client, holder, django_capture_on_commit_callbacks):
    token = _token(client.get(_url("recharge_new", holder)))
    first = _recharge(client, holder, "50.00", django_capture_on_commit_callbacks, token=token)
    second = _recharge(client, holder, "50.00", django_capture_on_commit_callbacks, token=token)
    assert first["Location"] == second["Location"]
    assert Recharge.objects.count() == 1
    assert _reload(holder).balance == Decimal("550.00")


def test_recharge_wrong_password_message_and_nothing_created(client, holder, django_capture_on_commit_callbacks):
    response = _recharge(client, holder, "50.00", django_capture_on_commit_callbacks, password="246801")
    assert response.status_code == 200
    assert response.context["form"].errors["password"]
    assert Recharge.objects.count() == 0
    assert _reload(holder).balance == Decimal("500.00")


def test_recharge_over_the_class_iii_cap_is_a_message(client, customer, channel, fund, portal_user, make_party):
    party = make_party("孙八")
    customer("孙八", party=party)  # the Class I account first: one per person
    account = customer("孙八", party=party, tier=Account.Tier.CLASS_III)
    client.force_login(portal_user(party))
    token = _token(client.get(_url("recharge_new", account)))
    response = client.post(_url("recharge_new", account), {"token": token, "amount": "2000.01", "password": PASSWORD})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert Recharge.objects.count() == 0


def test_payments_selectors_see_portal_rows(holder, django_capture_on_commit_callbacks, client):
    _withdraw(client, holder, "10.00", django_capture_on_commit_callbacks)
    assert withdrawal_list(clients=["portal"]).count() == 1


def test_statement_shows_a_withdrawals_fee_as_its_own_line(client, holder, django_capture_on_commit_callbacks, sim):
    _withdraw(client, holder, "100", django_capture_on_commit_callbacks)
    html = _html(client.get(_url("statement", holder)))
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    lines = [line for line in body.split("<tr")[1:]]
    fee = next(line for line in lines if 'class="fee-line"' in line)
    assert "手续费" in fee and ">1.00<" in fee and ">399.00<" in fee  # newest first: the fee, then its amount
    principal = lines[lines.index(fee) + 1]
    assert "提现" in principal and ">100.00<" in principal and ">400.00<" in principal
    assert ">101.00<" not in body  # never the amount and its fee on one line
    english = _html(client.get(_url("statement", holder), HTTP_ACCEPT_LANGUAGE="en"))
    assert "Fee" in english.split('class="fee-line"')[1].split("</tr>")[0]
