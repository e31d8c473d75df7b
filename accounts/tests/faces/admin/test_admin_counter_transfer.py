"""R-ACC-16 in the console: the counter transfer an operator posts for a holder present at the
counter. Counter channel on the voucher, allowed from a non-counter-suspended account, refused by
a judicial freeze, audited, one voucher per confirmation page, bilingual messages."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account, Transfer
from accounts.payments.counter import COUNTER_CLIENT, counter_transfer
from accounts.states.errors import CounterActorRequiredError
from accounts.states.services import account_change_state
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from accounts.tests.states_helpers import make_user, place
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db

D = Decimal


def url_of(account):
    return reverse("admin:accounts_account_counter_transfer", args=[account.pk])


def messages_of(response, level):
    return [str(m) for m in response.context["messages"] if m.level_tag == level]


def token_of(response) -> str:
    return re.search(r'name="token" value="([0-9a-f]{32})"', response.content.decode())[1]


@pytest.fixture
def suspended(make_account, fund):
    account = fund(make_account(), "100.00")
    account_change_state(account_id=account.pk, action="suspend_non_counter", reason="no transaction in 6 months")
    return account


def test_r_acc_16_console_counter_transfer_from_a_non_counter_suspended_account(console, suspended, make_account):
    # given an operator on the account page of a non-counter-suspended account
    payee = make_account()
    client = console("operator")
    page = client.get(reverse("admin:accounts_account_change", args=[suspended.pk])).content.decode()
    assert url_of(suspended) in page
    form = client.get(url_of(suspended))
    assert form.status_code == 200 and b'name="identity_note"' in form.content
    # when the holder's transfer is posted at the counter
    data = {"token": token_of(form), "to_account": payee.number, "amount": "12.50", "identity_note": "ID card 110105… checked"}
    response = client.post(url_of(suspended), data, follow=True)
    # then the money moved with the counter channel, the account stays suspended, it is audited
    assert response.status_code == 200
    transfer = Transfer.objects.get(client=COUNTER_CLIENT)
    # the console speaks Chinese by default: the bilingual message's Chinese side, with its data
    assert messages_of(response, "success") == [f"柜面转账已记账：凭证 #{transfer.pk}，12.50 元转入 {payee.number}。"]
    assert (transfer.kind, transfer.channel, transfer.amount) == ("counter_transfer", "counter", D("12.50"))
    assert transfer.metadata == {"operator": "operator-user", "identity_note": "ID card 110105… checked"}
    assert Account.objects.get(pk=suspended.pk).balance == D("87.50")
    assert Account.objects.get(pk=payee.pk).balance == D("12.50")
    assert Account.objects.get(pk=suspended.pk).state == Account.State.NON_COUNTER_SUSPENDED
    row = AuditLog.objects.get(action="transfer.counter", target_id=str(transfer.pk))
    assert row.actor.username == "operator-user"
    assert row.data == {
        "rule": "R-ACC-16",
        "channel": "counter",
        "from_account": suspended.number,
        "to_account": payee.number,
        "amount": "12.50",
        "identity_note": "ID card 110105… checked",
    }
    # and sending the same page again posts nothing more
    client.post(url_of(suspended), data)
    assert Transfer.objects.filter(client=COUNTER_CLIENT).count() == 1
    assert AuditLog.objects.filter(action="transfer.counter").count() == 1
    assert Account.objects.get(pk=payee.pk).balance == D("12.50")
    assert ledger_drift() == []


def test_r_acc_16_console_counter_transfer_requires_the_identity_note(console, suspended, make_account):
    client = console("operator")
    token = token_of(client.get(url_of(suspended)))
    response = client.post(
        url_of(suspended), {"token": token, "to_account": make_account().number, "amount": "1.00", "identity_note": " "}
    )
    assert response.status_code == 200 and response.context["form"].errors["identity_note"]
    assert not Transfer.objects.filter(client=COUNTER_CLIENT).exists()


@pytest.mark.parametrize("amount", ["0", "-1", "1.001", "abc", "1e3"])
def test_console_counter_transfer_refuses_a_bad_amount_on_the_form(console, suspended, make_account, amount):
    client = console("operator")
    token = token_of(client.get(url_of(suspended)))
    response = client.post(
        url_of(suspended), {"token": token, "to_account": make_account().number, "amount": amount, "identity_note": "ID"}
    )
    assert response.status_code == 200 and response.context["form"].errors["amount"]
    assert not Transfer.objects.filter(client=COUNTER_CLIENT).exists()


def test_r_acc_16_console_counter_transfer_refused_by_a_judicial_freeze(console, make_account, fund):
    maker = make_user("acc16-console-maker", "request_judicial_freeze")
    checker = make_user("acc16-console-checker", "approve_judicial_freeze")
    blocked = fund(make_account(), "20.00")
    place(maker, checker, blocked, "debit_blocked")
    client = console("operator")
    token = token_of(client.get(url_of(blocked)))
    response = client.post(
        url_of(blocked), {"token": token, "to_account": make_account().number, "amount": "1.00", "identity_note": "ID"}
    )
    assert response.status_code == 200
    errors = messages_of(response, "error")
    assert len(errors) == 1 and "judicial_freeze" in errors[0] and "操作被拒绝" in errors[0]
    assert Account.objects.get(pk=blocked.pk).balance == D("20.00")
    assert not AuditLog.objects.filter(action="transfer.counter").exists()


def test_console_counter_transfer_refuses_insufficient_funds_same_and_unknown_accounts(console, suspended, make_account):
    client = console("operator")
    token = token_of(client.get(url_of(suspended)))
    short = client.post(
        url_of(suspended), {"token": token, "to_account": make_account().number, "amount": "100.01", "identity_note": "ID"}
    )
    errors = messages_of(short, "error")
    assert len(errors) == 1 and "0.01" in errors[0], errors
    same = client.post(
        url_of(suspended), {"token": token, "to_account": suspended.number, "amount": "1.00", "identity_note": "ID"}
    )
    assert messages_of(same, "error")
    unknown = client.post(
        url_of(suspended), {"token": token, "to_account": "6230000000000000", "amount": "1.00", "identity_note": "ID"}
    )
    assert messages_of(unknown, "error")
    assert not Transfer.objects.filter(client=COUNTER_CLIENT).exists()


def test_console_counter_transfer_to_an_internal_account_is_a_posting_rule_violation(console, suspended, clearing):
    client = console("operator")
    token = token_of(client.get(url_of(suspended)))
    response = client.post(
        url_of(suspended), {"token": token, "to_account": clearing.number, "amount": "1.00", "identity_note": "ID"}
    )
    assert messages_of(response, "error") and not Transfer.objects.filter(client=COUNTER_CLIENT).exists()


def test_console_counter_transfer_needs_the_operator_permission(console, suspended):
    client = console("auditor")
    assert client.get(url_of(suspended)).status_code == 403
    page = client.get(reverse("admin:accounts_account_change", args=[suspended.pk])).content.decode()
    assert url_of(suspended) not in page


def test_console_counter_transfer_not_offered_on_a_frozen_account(console, make_account, fund):
    account = fund(make_account(), "5.00")
    account_change_state(account_id=account.pk, action="freeze", reason="test")
    page = console("operator").get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    assert url_of(account) not in page


def test_r_acc_16_counter_transfer_service_needs_an_operator(suspended, make_account):
    with pytest.raises(CounterActorRequiredError):
        counter_transfer(
            from_account_id=suspended.pk,
            to_account_number=make_account().number,
            amount="1.00",
            actor=None,
            identity_note="ID",
            idempotency_key="k",
        )
