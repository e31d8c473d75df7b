"""Withdrawals through the partner API: POST/GET /api/v1/withdrawals/, signed and idempotent,
both strategies, the refusals of R-WD-01, the holder's authorisation, visibility and the list."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.cards.models import Holiday, SmsMessage
from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.payments.models import Channel, Withdrawal
from accounts.payments.simulator import Script
from accounts.states.services import account_change_state
from accounts.tests.api_helpers import signed
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH, assert_books_agree_with_channel, books
from backoffice import dates

pytestmark = pytest.mark.django_db
URL = "/api/v1/withdrawals/"
D = Decimal


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Transaction passwords are hashed like user passwords: a fast hasher keeps these tests quick."""


@pytest.fixture
def account(customer, fund, channel):
    """张三's Class I account with 1000.00, a verified debit card and a transaction password; the
    simulator channel ``sim`` (freeze, fee 1.00) is registered."""
    return fund(customer(), "1000.00")


@pytest.fixture
def api(client, account):
    return signed(client, "withdrawals:write", "accounts:read", "accounts:write", f"party:{account.party_id}")


@pytest.fixture
def withdraw(api, account, django_capture_on_commit_callbacks):
    """POST a withdrawal and run what is enqueued after commit (the submission, eager Celery)."""
    refs = iter(range(1, 1000))

    def do(amount="100.00", *, using=None, key="auto", **overrides):
        body = {
            "account": account.number,
            "amount": amount,
            "out_request_no": f"WD-REF-{next(refs)}",
            "authorization": PASSWORD_AUTH,
            **overrides,
        }
        with django_capture_on_commit_callbacks(execute=True):
            return (using or api).post(URL, {k: v for k, v in body.items() if v is not None}, idempotency_key=key)

    return do


def _delta(before: dict, after: dict) -> dict:
    return {name: after[name] - before[name] for name in before}


def _otp_code(account, purpose: str) -> str:
    sms = SmsMessage.objects.filter(account=account, purpose=f"otp:{purpose}").order_by("-pk").first()
    return re.search(r"\b(\d{6})\b", sms.text).group(1)


def _today():
    return dates.business_date(timezone.now())


# -- the happy path, both strategies -------------------------------------------------------------


def test_withdrawal_freeze_strategy_pays_the_card_and_takes_the_fee(api, account, withdraw, sim):
    before = books(account)
    response = withdraw("100.00")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= {"id", "account", "amount", "fee", "state", "strategy", "channel", "settles", "created_at", "updated_at"}
    assert (body["account"], body["amount"], body["fee"]) == (account.number, "100.00", "1.00")
    assert (body["strategy"], body["channel"], body["settles"]) == ("freeze", "sim", "real_time")
    assert body["state"] == "funds_held"  # the submission runs after commit
    assert body["request_id"] == f"WD{int(body['id']):010d}"
    assert body["card_number"] == "6228 **** **** 0018"
    assert body["created_at"].endswith("+08:00")
    detail = api.get(f"{URL}{body['id']}/").json()
    assert detail["state"] == "succeeded" and detail["resolved_at"]
    assert _delta(before, books(account)) == {
        "balance": D("-101.00"),
        "frozen": D("0"),
        "transit": D("0"),
        "clearing": D("-100.00"),
        "fee_income": D("1.00"),
        "withdrawal_holds": D("0"),
    }
    assert Withdrawal.objects.get().client == f"api:{api.credentials.client_id}"
    assert_books_agree_with_channel(sim)


def test_withdrawal_transit_strategy_moves_through_the_transit_account(api, account, withdraw, make_channel, sim):
    transit = make_channel("transit-sim", strategy=Channel.Strategy.TRANSIT, withdrawal_fee=D("2.00"))
    before = books(account)
    response = withdraw("50.00", channel="transit-sim")
    assert response.status_code == 201, response.json()
    assert (response.json()["strategy"], response.json()["channel"], response.json()["fee"]) == ("transit", transit.code, "2.00")
    assert api.get(f"{URL}{response.json()['id']}/").json()["state"] == "succeeded"
    delta = _delta(before, books(account))
    assert (delta["balance"], delta["frozen"], delta["transit"], delta["fee_income"]) == (D("-52.00"), 0, 0, D("2.00"))


@pytest.mark.parametrize("strategy", [Channel.Strategy.FREEZE, Channel.Strategy.TRANSIT])
def test_withdrawal_in_flight_holds_amount_and_fee_and_a_failure_gives_both_back(
    api, account, withdraw, make_channel, strategy, django_capture_on_commit_callbacks
):
    make_channel("slow", strategy=strategy, priority=1)
    from accounts.payments.simulator import simulator

    simulator("slow").script_next(Script(submit="failure"))
    before = books(account)
    body = {"account": account.number, "amount": "100.00", "out_request_no": "HELD-1", "authorization": PASSWORD_AUTH}
    response = api.post(URL, body)  # its submission is left enqueued: in flight
    assert response.status_code == 201 and response.json()["strategy"] == strategy
    held = _delta(before, books(account))
    if strategy == Channel.Strategy.FREEZE:
        assert (held["balance"], held["frozen"], held["withdrawal_holds"], held["transit"]) == (0, D("101.00"), D("101.00"), 0)
    else:
        assert (held["balance"], held["frozen"], held["transit"]) == (D("-101.00"), 0, D("101.00"))
    from accounts.payments.withdrawals import withdrawal_submit

    withdrawal_submit(withdrawal_id=int(response.json()["id"]))
    failed = api.get(f"{URL}{response.json()['id']}/").json()
    assert failed["state"] == "failed" and failed["failure_reason"]
    assert books(account) == before


def test_withdrawal_with_a_one_time_code(api, account, withdraw):
    sent = api.post(f"/api/v1/accounts/{account.number}/otp/", {"purpose": "withdrawal"})
    assert sent.status_code == 202, sent.json()
    response = withdraw("10.00", authorization={"method": "otp", "code": _otp_code(account, "withdrawal")})
    assert response.status_code == 201, response.json()
    assert Withdrawal.objects.get().authorisation == "otp"


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [100.0, 100, "100.005", "0.00", "-5.00", "abc"])
def test_withdrawal_amount_must_be_a_positive_string_with_two_decimals(account, withdraw, amount):
    response = withdraw(amount)
    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["fields"])) == ("validation_error", ["amount"])
    assert not Withdrawal.objects.exists()
    assert Account.objects.get(pk=account.pk).balance == D("1000.00")


def test_withdrawal_missing_fields_are_listed(api):
    response = api.post(URL, {})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"account", "amount", "out_request_no", "authorization"}


def test_withdrawal_of_an_unknown_or_invisible_account_is_404(withdraw, make_account):
    assert withdraw(account="6230000000000000").status_code == 404
    stranger = make_account()
    response = withdraw(account=stranger.number)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert not Withdrawal.objects.exists()


def test_withdrawal_needs_an_idempotency_key_and_the_scope(client, api, account, withdraw):
    response = withdraw(key=None)
    assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_required")
    reader = signed(client, "accounts:read", f"party:{account.party_id}")
    response = withdraw(using=reader)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden_scope")
    assert not Withdrawal.objects.exists()


# -- the holder's authorisation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "135790", {}, {"method": "sms"}, {"method": "otp"}, {"method": "otp", "code": 123456}, {"method": "password"}],
)
def test_withdrawal_missing_or_malformed_authorisation_is_a_field_error(account, withdraw, authorization):
    response = withdraw(authorization=authorization)
    assert response.status_code == 400, response.json()
    assert list(response.json()["fields"]) == ["authorization"]
    assert not Withdrawal.objects.exists()


@pytest.mark.parametrize(
    "authorization", [{"method": "password", "password": "000000"}, {"method": "otp", "code": "000000"}], ids=["password", "otp"]
)
def test_withdrawal_wrong_authorisation_is_403_and_moves_nothing(api, account, withdraw, authorization):
    api.post(f"/api/v1/accounts/{account.number}/otp/", {"purpose": "withdrawal"})
    before = books(account)
    response = withdraw(authorization=authorization)
    assert (response.status_code, response.json()["code"]) == (403, "authorization_invalid")
    assert books(account) == before
    assert not Withdrawal.objects.exists()


def test_withdrawal_refuses_a_code_sent_for_a_recharge(api, account, withdraw):
    api.post(f"/api/v1/accounts/{account.number}/otp/", {"purpose": "recharge"})
    response = withdraw(authorization={"method": "otp", "code": _otp_code(account, "recharge")})
    assert (response.status_code, response.json()["code"]) == (403, "authorization_invalid")


# -- R-WD-01: the checks before acceptance -------------------------------------------------------


def test_r_wd_01_insufficient_funds_counts_the_fee(account, withdraw, sim):
    response = withdraw("999.50")  # + 1.00 fee > 1000.00
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_funds"
    assert (body["data"]["available"], body["data"]["shortfall"]) == ("1000.00", "0.50")
    assert withdraw("999.00").status_code == 201  # exactly the balance with the fee


def test_r_wd_01_no_verified_card_is_refused(client, make_party, make_account, fund, channel):
    party = make_party()
    account = fund(make_account(party=party, role=Role.PERSONAL, tier=Account.Tier.CLASS_I), "100.00")
    api = signed(client, "withdrawals:write", f"party:{party.pk}")
    body = {"account": account.number, "amount": "10.00", "out_request_no": "NC-1", "authorization": PASSWORD_AUTH}
    response = api.post(URL, body)
    assert (response.status_code, response.json()["code"]) == (409, "no_withdrawal_card")


def test_r_wd_01_an_account_pending_verification_is_refused(client, make_party, make_account, channel):
    party = make_party()
    make_account(party=party, role=Role.PERSONAL, tier=Account.Tier.CLASS_I)
    pending = make_account(party=party, role=Role.PERSONAL, tier=Account.Tier.CLASS_II)
    api = signed(client, "withdrawals:write", f"party:{party.pk}")
    body = {"account": pending.number, "amount": "10.00", "out_request_no": "PV-1", "authorization": PASSWORD_AUTH}
    response = api.post(URL, body)
    assert (response.status_code, response.json()["code"]) == (409, "withdrawal_not_allowed")


def test_r_wd_01_a_frozen_account_is_refused(account, withdraw, channel):
    account_change_state(account_id=account.pk, action="freeze", reason="court order")
    before = books(account)
    response = withdraw()
    assert (response.status_code, response.json()["code"]) == (409, "account_not_active")
    assert books(account) == before


def test_r_wd_01_daily_count(settings, account, withdraw, channel):
    settings.ACCOUNTS_WITHDRAWAL_DAILY_COUNT = 2
    assert withdraw("1.00").status_code == 201
    assert withdraw("1.00").status_code == 201
    third = withdraw("1.00")
    assert third.status_code == 409
    assert third.json()["code"] == "daily_count_exceeded"
    assert (third.json()["data"]["count"], third.json()["data"]["limit"]) == (2, 2)
    assert Withdrawal.objects.count() == 2


def _window_channel(make_channel, *, covers_now: bool) -> Channel:
    """A channel paying at most 100.00 in real time, whose window covers the current time or not;
    today is made a working day, so only the window decides."""
    Holiday.objects.update_or_create(date=_today(), defaults={"name": "test working day", "is_working_day": True})
    now = timezone.localtime(timezone.now(), dates.bank_tz()).time()
    if covers_now:
        start, end = dt.time(0, 0), dt.time(23, 59, 59)
    elif now >= dt.time(1, 0):
        start, end = dt.time(0, 0), dt.time(0, 30)
    else:
        start, end = dt.time(23, 0), dt.time(23, 30)
    return make_channel("big", real_time_limit=D("100.00"), window_start=start, window_end=end, priority=1)


def test_r_wd_01_over_the_real_time_limit_outside_the_window_is_refused(account, withdraw, make_channel):
    _window_channel(make_channel, covers_now=False)
    response = withdraw("100.01")
    assert (response.status_code, response.json()["code"]) == (409, "outside_submission_window")
    assert response.json()["data"]["next_window"]
    assert not Withdrawal.objects.exists()
    assert withdraw("100.00").json()["settles"] == "real_time"  # at the limit: real time, any time


def test_r_wd_01_over_the_real_time_limit_inside_the_window_settles_next_working_day(api, account, withdraw, make_channel):
    _window_channel(make_channel, covers_now=True)
    response = withdraw("500.00")
    assert response.status_code == 201, response.json()
    assert (response.json()["settles"], response.json()["channel"]) == ("next_working_day", "big")


# -- idempotency and the business reference ------------------------------------------------------


def test_withdrawal_replayed_with_the_same_key_answers_the_same_and_pays_once(api, account, withdraw, sim):
    first = withdraw("20.00", key="wd-key-1", out_request_no="R-1")
    again = withdraw("20.00", key="wd-key-1", out_request_no="R-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert Withdrawal.objects.count() == 1
    assert Account.objects.get(pk=account.pk).balance == D("979.00")
    assert_books_agree_with_channel(sim)


def test_withdrawal_reference_reused_under_another_key_is_409_duplicate_reference(account, withdraw):
    first = withdraw("20.00", out_request_no="R-2")
    again = withdraw("30.00", out_request_no="R-2")
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_reference"
    assert again.json()["data"]["id"] == first.json()["id"]
    assert Withdrawal.objects.count() == 1


def test_withdrawal_same_key_with_another_body_is_422(account, withdraw):
    withdraw("20.00", key="wd-key-2")
    response = withdraw("21.00", key="wd-key-2")
    assert (response.status_code, response.json()["code"]) == (422, "idempotency_key_mismatch")


# -- reading: detail, list, filters, visibility --------------------------------------------------


@pytest.fixture
def three(api, account, withdraw, sim):
    """Three withdrawals: succeeded, failed, unknown (the channel times out)."""
    sim.script_next(Script(submit="success"), Script(submit="failure"), Script(submit="timeout", delay=3600))
    ids = [withdraw(amount).json()["id"] for amount in ("1.00", "2.00", "3.00")]
    return ids


def _list(api, query: str = "") -> dict:
    response = api.get(f"{URL}{query}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_withdrawal_list_newest_first_with_state_filter(api, three):
    body = _list(api)
    assert len(body["results"]) == 3
    assert [row["id"] for row in body["results"]] == list(reversed(three))
    assert [row["state"] for row in body["results"]] == ["unknown", "failed", "succeeded"]
    assert [row["id"] for row in _list(api, "?state=failed")["results"]] == [three[1]]
    assert len(_list(api, "?state=returned")["results"]) == 0


def test_withdrawal_list_pagination(api, three):
    page1 = _list(api, "?page_size=2&page=1")
    assert (page1["count"], len(page1["results"])) == (3, 2)
    assert page1["previous"] is None and "page=2" in page1["next"]
    page2 = _list(api, "?page_size=2&page=2")
    assert [row["id"] for row in page2["results"]] == [three[0]] and page2["next"] is None


def test_withdrawal_list_date_and_account_filters(api, account, three):
    today, one_day = _today(), dt.timedelta(days=1)
    assert len(_list(api, f"?date_from={today}&date_to={today}")["results"]) == 3
    assert len(_list(api, f"?date_from={today + one_day}")["results"]) == 0
    assert len(_list(api, f"?date_to={today - one_day}")["results"]) == 0
    assert len(_list(api, f"?account={account.number}")["results"]) == 3
    assert len(_list(api, "?account=6230000000000000")["results"]) == 0


@pytest.mark.parametrize(
    "query, field",
    [("?state=lost", "state"), ("?date_from=2026-13-01", "date_from"), ("?date_to=yesterday", "date_to")],
)
def test_withdrawal_list_bad_filters_are_field_errors(api, query, field):
    response = api.get(f"{URL}{query}")
    assert response.status_code == 400
    assert (response.json()["code"], list(response.json()["fields"])) == ("validation_error", [field])


def test_withdrawal_list_date_from_after_date_to_is_refused(api):
    response = api.get(f"{URL}?date_from=2026-12-02&date_to=2026-12-01")
    assert (response.status_code, list(response.json()["fields"])) == (400, ["date_to"])


def test_another_clients_withdrawal_is_404_and_not_listed(client, api, account, three):
    other = signed(client, "*")
    response = other.get(f"{URL}{three[0]}/")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert len(_list(other)["results"]) == 0
    assert api.get(f"{URL}999999/").status_code == 404


def test_a_withdrawal_on_an_account_the_client_no_longer_sees_is_404(client, api, account, three):
    from backoffice.models import ApiClient

    ApiClient.objects.filter(pk=api.credentials.client.pk).update(scopes=["withdrawals:write", "accounts:read"])
    assert api.get(f"{URL}{three[0]}/").status_code == 404
    assert len(_list(api)["results"]) == 0


def test_a_client_with_an_account_scope_withdraws_and_reads_its_withdrawal(client, account, withdraw):
    api = signed(client, "withdrawals:write", "accounts:read", f"account:{account.number}")
    response = withdraw("5.00", using=api)
    assert response.status_code == 201, response.json()
    assert api.get(f"{URL}{response.json()['id']}/").json()["state"] == "succeeded"
    assert [row["id"] for row in _list(api)["results"]] == [response.json()["id"]]


def test_withdrawal_reads_need_the_accounts_read_scope(client, account, three, api):
    writer = signed(client, "withdrawals:write", f"party:{account.party_id}")
    assert writer.get(URL).status_code == 403
    assert writer.get(f"{URL}{three[0]}/").json()["code"] == "forbidden_scope"
