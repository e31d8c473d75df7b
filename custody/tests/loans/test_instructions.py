"""R-DEP-02 and R-DEP-04 on the bank's page for every instruction: repayments, the disbursement's
service fee, a client's withdrawal and recharge (outcome by webhook through accounts.payments'
outcome listeners), a sub-account opening by a client with no portal access yet; the sweeps
(custody.tasks, beat); the borrower's debt to a compensation payer settled; the platform's
settlement account through its API; isolation and idempotent replays."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.cards.models import SmsMessage
from accounts.ledger.models import Account, Hold, Transfer
from accounts.parties.services import party_kyc_approve
from accounts.payments.authorisation import transaction_password_set
from accounts.payments.models import Recharge, Withdrawal
from accounts.payments.simulator import Script
from accounts.states.dormancy import outstanding_debt
from accounts.tests.api_helpers import signed
from backoffice.models import WebhookDelivery
from backoffice.webhooks import webhook_endpoint_create
from conftest import random_id_number
from custody import services, tasks
from custody.loans import confirmations
from custody.loans import services as loans
from custody.loans.models import Confirmation, Loan, Repayment, RepaymentDebt
from custody.models import SubAccount

pytestmark = pytest.mark.django_db

PASSWORD = "135790"


@pytest.fixture
def hook(platform):
    return webhook_endpoint_create(owner=platform.owner, url="https://p.example.com/h", event_types=["*"])


@pytest.fixture
def portal(django_user_model):
    """``portal(sub)``: the holder gets a transaction password and a signed-in portal session."""

    def make(sub):
        if sub.party.kyc_state != "approved":
            party_kyc_approve(party_id=sub.party_id)
        transaction_password_set(party_id=sub.party_id, password=PASSWORD)
        user = django_user_model.objects.create_user(username=f"u{sub.pk}", password="x-Long-password-1")
        sub.party.portal_users.add(user)
        session = Client()
        session.force_login(user)
        sub.session = session
        return sub

    return make


def _path(body: dict) -> str:
    url = body["confirmation_url"]
    return url[url.index("/portal/") :]


def _events(platform) -> list[str]:
    return list(WebhookDelivery.objects.filter(owner=platform.owner).order_by("pk").values_list("event", flat=True))


@pytest.fixture
def disbursed(new_loan, lender, bid, borrower):
    """A disbursed loan of 1,000.00 (fee 20.00), one lender; the borrower has 980.00."""
    loan = new_loan("1000.00")
    bid(loan, lender("1000.00"), "1000.00")
    loans.loan_disburse(loan_id=loan.pk, authorization={"method": "standing", "id": borrower.fee_auth.pk})
    return Loan.objects.get(pk=loan.pk)


# -- repayment and disbursement fee ------------------------------------------------------------------------


def test_r_dep_02_repayment_confirmed_by_the_borrower_on_the_banks_page(client, platform, hook, disbursed, borrower, portal):
    portal(borrower)
    api = signed(client, "platform:P001")
    body = {"payer": borrower.account.number, "out_request_no": "R1", "authorization": {"method": "confirm"}}
    response = api.post(f"/api/v1/loans/{disbursed.pk}/repayments/", body, idempotency_key="rep-1")
    assert response.status_code == 202, response.content
    pending = response.json()
    instalment = disbursed.instalments.get(number=1)
    assert (pending["kind"], pending["amount"]) == ("repayment", f"{instalment.total:.2f}")
    replay = api.post(f"/api/v1/loans/{disbursed.pk}/repayments/", body, idempotency_key="rep-1")
    assert replay.json() == pending and Confirmation.objects.filter(kind="repayment").count() == 1
    assert not Repayment.objects.exists()  # nothing moves before the borrower confirms

    page = borrower.session.get(_path(pending))
    assert page.status_code == 200 and f"{instalment.total:,.2f}" in page.text
    assert borrower.session.post(_path(pending), {"action": "confirm", "password": "000000"}).status_code == 200
    assert not Repayment.objects.exists()
    assert borrower.session.post(_path(pending), {"action": "confirm", "password": PASSWORD}).status_code == 302
    confirmation = Confirmation.objects.get(pk=pending["confirmation"])
    repayment = Repayment.objects.get()
    assert confirmation.state == "confirmed" and confirmation.repayment == repayment and repayment.authorisation is None
    assert repayment.transfer.metadata["confirmation"] == confirmation.pk
    assert _events(platform)[-2:] == ["instalment.repaid", "confirmation.confirmed"]
    assert api.get(f"/api/v1/platforms/P001/confirmations/{confirmation.pk}/").json()["state"] == "confirmed"


def test_r_dep_02_repayment_confirmation_refused_early_and_failed_when_the_money_is_gone(
    client, platform, disbursed, borrower, portal, make_account, fund
):
    portal(borrower)
    api = signed(client, "platform:P001")
    url = f"/api/v1/loans/{disbursed.pk}/repayments/"
    body = {"payer": borrower.account.number, "authorization": {"method": "confirm"}}
    early = api.post(url, {**body, "out_request_no": "R0", "instalment": 2})
    assert (early.status_code, early.json()["code"]) == (409, "repayment_refused")  # checked before asking the client
    pending = api.post(url, {**body, "out_request_no": "R1"}).json()
    # the borrower spends the money meanwhile (20.00 left)
    Transfer.objects.count()
    loans.ledger.post_transfer(
        client="test",
        idempotency_key="drain",
        kind="test",
        legs=loans.ledger.move(
            from_account_id=borrower.account_id, to_account_id=fund(make_account(), "0.01").pk, amount=Decimal("960.00")
        ),
    )
    borrower.session.post(_path(pending), {"action": "confirm", "password": PASSWORD})
    failed = Confirmation.objects.get(pk=pending["confirmation"])
    assert (failed.state, failed.outcome_code) == ("failed", "insufficient_funds")
    assert not Repayment.objects.exists()


def test_r_dep_02_disbursement_fee_confirmed_by_the_borrower(client, platform, hook, new_loan, lender, bid, borrower, portal):
    portal(borrower)
    loan = new_loan("1000.00")
    bid(loan, lender("1000.00"), "1000.00")
    api = signed(client, "platform:P001")
    response = api.post(f"/api/v1/loans/{loan.pk}/disburse/", {"authorization": {"method": "confirm"}})
    assert response.status_code == 202 and response.json()["amount"] == "20.00"
    again = api.post(f"/api/v1/loans/{loan.pk}/disburse/", {"authorization": {"method": "confirm"}})
    assert again.json()["confirmation"] == response.json()["confirmation"]  # one pending per loan
    assert Loan.objects.get(pk=loan.pk).state == "full"
    borrower.session.post(_path(response.json()), {"action": "confirm", "password": PASSWORD})
    loan = Loan.objects.get(pk=loan.pk)
    assert loan.state == "disbursed" and loan.fee_authorisation is None
    assert str(loan.disbursement.metadata["fee_confirmation"]) == response.json()["confirmation"]
    assert Account.objects.get(pk=borrower.account_id).balance == Decimal("980.00")
    assert _events(platform)[-2:] == ["loan.disbursed", "confirmation.confirmed"]


# -- withdrawals and recharges of the platform's clients -------------------------------------------------------


def test_r_dep_02_withdrawal_confirmed_by_the_holder_then_the_platform_told_by_webhook(
    client, platform, hook, lender, portal, channel, sim, django_capture_on_commit_callbacks
):
    holder = portal(lender("500.00"))
    api = signed(client, "platform:P001")
    url = f"/api/v1/platforms/P001/sub-accounts/{holder.account.number}/withdrawals/"
    refused = api.post(
        url, {"amount": "100.00", "out_request_no": "W1", "authorization": {"method": "password", "password": "x"}}
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "authorization_method_refused")
    too_much = api.post(url, {"amount": "900.00", "out_request_no": "W1"})
    assert (too_much.status_code, too_much.json()["code"]) == (409, "insufficient_funds")
    response = api.post(url, {"amount": "100.00", "out_request_no": "W1"}, idempotency_key="w-1")
    assert response.status_code == 202 and response.json()["kind"] == "withdrawal"
    assert api.post(url, {"amount": "100.00", "out_request_no": "W1"}, idempotency_key="w-1").json() == response.json()
    assert not Withdrawal.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        holder.session.post(_path(response.json()), {"action": "confirm", "password": PASSWORD})
    confirmation = Confirmation.objects.get(pk=response.json()["confirmation"])
    withdrawal = Withdrawal.objects.get()
    assert confirmation.state == "confirmed" and confirmation.withdrawal == withdrawal
    assert withdrawal.client == platform.owner and withdrawal.out_request_no == "W1"
    assert withdrawal.state == "succeeded"
    assert "confirmation.confirmed" in _events(platform) and _events(platform)[-1] == "withdrawal.succeeded"
    duplicate = api.post(url, {"amount": "100.00", "out_request_no": "W1"})
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "duplicate_reference")
    services.platform_suspend(platform_id=platform.pk, actor=None, reason="test")
    suspended = api.post(url, {"amount": "100.00", "out_request_no": "W9"})
    assert (suspended.status_code, suspended.json()["code"]) == (409, "platform_not_active")


def test_r_dep_02_withdrawal_failure_and_recharge_reach_the_platform(
    client, platform, hook, lender, portal, channel, sim, django_capture_on_commit_callbacks
):
    holder = portal(lender("500.00"))
    api = signed(client, "platform:P001")
    base = f"/api/v1/platforms/P001/sub-accounts/{holder.account.number}"
    sim.script_next(Script(submit="failure"))
    pending = api.post(f"{base}/withdrawals/", {"amount": "100.00", "out_request_no": "W2"}).json()
    with django_capture_on_commit_callbacks(execute=True):
        holder.session.post(_path(pending), {"action": "confirm", "password": PASSWORD})
    assert Withdrawal.objects.get().state == "failed" and _events(platform)[-1] == "withdrawal.failed"
    assert Account.objects.get(pk=holder.account_id).available == Decimal("500.00")

    pending = api.post(f"{base}/recharges/", {"amount": "50.00", "out_request_no": "C1"}).json()
    assert pending["kind"] == "recharge"
    with django_capture_on_commit_callbacks(execute=True):
        holder.session.post(_path(pending), {"action": "confirm", "password": PASSWORD})
    recharge = Recharge.objects.get()
    assert recharge.state == "succeeded" and Confirmation.objects.get(pk=pending["confirmation"]).recharge == recharge
    assert _events(platform)[-1] == "recharge.succeeded"
    assert Account.objects.get(pk=holder.account_id).balance == Decimal("550.00")


def test_isolation_platform_b_gets_404_on_a_s_client_instructions_confirmations_and_debts(
    client, make_platform, platform, lender, portal, disbursed
):
    make_platform("P002")
    holder = lender("100.00")
    a, b = signed(client, "platform:P001"), signed(client, "platform:P002")
    pending = a.post(
        f"/api/v1/platforms/P001/sub-accounts/{holder.account.number}/recharges/", {"amount": "1.00", "out_request_no": "X"}
    ).json()
    for response in (
        b.post(
            f"/api/v1/platforms/P002/sub-accounts/{holder.account.number}/withdrawals/", {"amount": "1.00", "out_request_no": "Y"}
        ),
        b.post(
            f"/api/v1/platforms/P001/sub-accounts/{holder.account.number}/recharges/", {"amount": "1.00", "out_request_no": "Y"}
        ),
        b.get(f"/api/v1/platforms/P002/confirmations/{pending['confirmation']}/"),
        b.post("/api/v1/platforms/P002/debts/1/settle/", {"authorization": {"method": "standing", "id": 1}}),
        b.post(
            f"/api/v1/loans/{disbursed.pk}/repayments/",
            {"payer": "x", "out_request_no": "Z", "authorization": {"method": "confirm"}},
        ),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), response.content
    # and a stranger's session never sees the page
    holder_b = portal(lender("1.00"))
    assert holder_b.session.get(_path(pending)).status_code == 404


# -- R-DEP-04: a sub-account opened by a client with no portal access yet ------------------------------------------


def test_r_dep_04_client_without_access_proves_identity_sets_credentials_and_opens(client, platform, hook):
    id_number = random_id_number()
    api = signed(client, "platform:P001")
    body = {"role": "lender", "type": "person", "name": "王五", "id_number": id_number, "mobile": "13700000001"}
    response = api.post("/api/v1/platforms/P001/sub-accounts/", body)
    assert response.status_code == 202
    path = _path(response.json())
    browser = Client()
    assert "Set up my access" in browser.get(path).text or "set_up" in browser.get(path).text
    browser.post(path, {"action": "send_code"})
    code = re.search(r"(\d{6})", SmsMessage.objects.filter(purpose="custody_access").latest("pk").text).group(1)
    form = {
        "action": "set_up",
        "id_number": id_number,
        "code": "000000" if code != "000000" else "111111",
        "username": "wangwu",
        "password": "x-Long-password-1",
        "transaction_password": "246801",
    }
    wrong = browser.post(path, form)
    assert wrong.status_code == 200 and not SubAccount.objects.exists()
    assert Confirmation.objects.get().data["access"]["attempts"] == 1
    done = browser.post(path, {**form, "code": code})
    assert done.status_code == 302  # signed in
    assert not SubAccount.objects.exists()  # access alone opens nothing
    confirm = browser.post(path, {"action": "confirm"})
    assert confirm.status_code == 302
    confirmation = Confirmation.objects.get()
    sub = confirmation.sub_account
    assert confirmation.state == "confirmed" and sub.role == "lender" and sub.account.state == "pending_verification"
    assert sub.party.portal_users.get().username == "wangwu"
    assert _events(platform)[-2:] == ["subaccount.opened", "confirmation.confirmed"]
    # the client now has access: a second opening's page asks them to sign in
    second = api.post("/api/v1/platforms/P001/sub-accounts/", {**body, "role": "borrower"}).json()
    page = Client().get(_path(second))
    assert page.status_code == 302 and "/portal/login/" in page["Location"]


def test_r_dep_04_declined_and_expired_openings_open_nothing(client, platform, hook, django_user_model):
    api = signed(client, "platform:P001")
    body = {"role": "lender", "type": "person", "name": "赵六", "id_number": random_id_number(), "mobile": "13700000002"}
    first = api.post("/api/v1/platforms/P001/sub-accounts/", body).json()
    confirmation = Confirmation.objects.get(pk=first["confirmation"])
    user = django_user_model.objects.create_user(username="zhaoliu", password="x-Long-password-1")
    confirmation.party.portal_users.add(user)
    confirmations.confirmation_decline(confirmation_id=confirmation.pk, actor=user)
    second = api.post("/api/v1/platforms/P001/sub-accounts/", body).json()
    assert second["confirmation"] != first["confirmation"]
    Confirmation.objects.filter(pk=second["confirmation"]).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert tasks.confirmations_expire() == [int(second["confirmation"])]
    assert tasks.confirmations_expire() == []  # idempotent
    assert not SubAccount.objects.exists()
    assert _events(platform) == ["confirmation.declined", "confirmation.expired"]


# -- schedules --------------------------------------------------------------------------------------------------


def test_beat_schedules_the_custody_sweeps():
    names = set(PeriodicTask.objects.filter(name__startswith="custody.").values_list("task", flat=True))
    assert {"custody.loans_fail_expired", "custody.instalments_mark_overdue", "custody.confirmations_expire"} <= names


def test_r_dep_05_sweep_tasks_fail_expired_loans_and_mark_overdue(new_loan, lender, bid, disbursed):
    loan = new_loan("500.00")
    bid(loan, lender("100.00"), "100.00")
    Loan.objects.filter(pk=loan.pk).update(fundraising_deadline=timezone.now() - dt.timedelta(minutes=1))
    assert tasks.loans_fail_expired() == [loan.pk]
    assert Loan.objects.get(pk=loan.pk).state == "failed" and not Hold.objects.filter(reason="bid", state="active").exists()
    disbursed.instalments.filter(number=1).update(due_date=timezone.localdate() - dt.timedelta(days=1))
    assert tasks.instalments_mark_overdue() == 1
    assert tasks.instalments_mark_overdue() == 0


# -- the borrower's debt to a compensation payer -------------------------------------------------------------------


def test_r_acc_18_debt_to_the_compensation_payer_settled_no_longer_counts(
    client, platform, new_loan, lender, bid, borrower, open_sub, grant, fund
):
    loan = new_loan("1000.00", term_months=1)
    bid(loan, lender("1000.00"), "1000.00")
    loans.loan_disburse(loan_id=loan.pk, authorization={"method": "standing", "id": borrower.fee_auth.pk})
    payer = open_sub(platform, "compensation")
    fund(payer.account, Decimal("5000.00"))
    payer_auth = grant(payer, "compensation")
    due = Loan.objects.get(pk=loan.pk).instalments.get().due_date
    repayment = loans.instalment_repay(
        loan_id=loan.pk,
        payer_number=payer.account.number,
        out_request_no="RC1",
        authorization={"method": "standing", "id": payer_auth.pk},
        today=due + dt.timedelta(days=3),
    )
    debt = RepaymentDebt.objects.get(repayment=repayment)
    assert Loan.objects.get(pk=loan.pk).state == "repaid"
    has_debt = outstanding_debt.get("custody.loans")
    assert has_debt(Account.objects.get(pk=borrower.account_id))
    fund(borrower.account, Decimal("100.00"))
    api = signed(client, "platform:P001")
    response = api.post(
        f"/api/v1/platforms/P001/debts/{debt.pk}/settle/", {"authorization": {"method": "standing", "id": borrower.fee_auth.pk}}
    )
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "settled"
    debt.refresh_from_db()
    entries = {e.account_id: (e.side, e.amount) for e in debt.settlement.entries.all()}
    assert entries == {borrower.account_id: ("D", debt.amount), payer.account_id: ("C", debt.amount)}
    assert not has_debt(Account.objects.get(pk=borrower.account_id))
    again = api.post(
        f"/api/v1/platforms/P001/debts/{debt.pk}/settle/", {"authorization": {"method": "standing", "id": borrower.fee_auth.pk}}
    )
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")


# -- the platform's corporate settlement account through its API -----------------------------------------------------


def test_settlement_account_bound_and_verified_by_micro_deposit_through_the_platform_api(
    client, platform, django_capture_on_commit_callbacks
):
    from accounts.cards import services as cards
    from accounts.cards.models import MicroDeposit

    api = signed(client, "platform:P001")
    assert api.get("/api/v1/platforms/P001/settlement-account/").status_code == 404
    response = api.post(
        "/api/v1/platforms/P001/settlement-account/", {"account_number": "110060149018000123456", "bank_name": "示例银行"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["account_number"] == "1100 **** **** 3456"  # masked
    deposit = MicroDeposit.objects.filter(card_id=response.json()["id"]).order_by("-pk").first()
    if deposit.state == MicroDeposit.State.INIT:  # sent by its task (after the API's commit) or the sweep
        deposit = cards.micro_deposit_send(micro_deposit_id=deposit.pk)
    assert deposit.state == MicroDeposit.State.AWAITING_BACKFILL
    wrong = api.post(
        "/api/v1/platforms/P001/settlement-account/micro-deposit/",
        {"amount": "0.99" if deposit.amount != Decimal("0.99") else "0.98"},
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "micro_deposit_mismatch")
    right = api.post("/api/v1/platforms/P001/settlement-account/micro-deposit/", {"amount": f"{deposit.amount:.2f}"})
    assert right.status_code == 200 and right.json()["state"] == "verified"
    assert api.get("/api/v1/platforms/P001/settlement-account/").json()["state"] == "verified"
    other = signed(client, "platform:P009")
    assert other.get("/api/v1/platforms/P001/settlement-account/").status_code == 404


def test_r_dep_02_the_client_finds_what_awaits_them_and_sees_no_one_elses(client, platform, lender, portal):
    holder, other = portal(lender("100.00")), portal(lender("100.00"))
    api = signed(client, "platform:P001")
    mine = api.post(
        f"/api/v1/platforms/P001/sub-accounts/{holder.account.number}/recharges/", {"amount": "12.34", "out_request_no": "M1"}
    ).json()
    api.post(
        f"/api/v1/platforms/P001/sub-accounts/{other.account.number}/recharges/", {"amount": "56.78", "out_request_no": "O1"}
    )
    page = holder.session.get("/portal/custody/confirmations/")
    assert page.status_code == 200 and "12.34" in page.text and "56.78" not in page.text
    assert _path(mine) in page.text
    assert Client().get("/portal/custody/confirmations/").status_code == 302  # signed out: sign in first
