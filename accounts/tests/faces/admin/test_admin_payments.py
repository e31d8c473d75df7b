"""Money in and out in the console: the channel registry (write-only secret, through
channel_register), the read-only withdrawal/recharge/callback/alert/resolution pages, their
filters and exports, the operator's actions on a withdrawal (query now, manual resolution by
maker-checker), alert acknowledgement and the index dashboard with its invariants."""

from __future__ import annotations

import csv
import io
import itertools
import json
from decimal import Decimal

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.payments import withdrawals
from accounts.payments.models import Channel, ChannelCallback, PaymentAlert, Recharge, Withdrawal, WithdrawalResolution
from accounts.resources import RechargeResource, WithdrawalResource
from accounts.tests.admin_support import console_fixture, make_staff, sign_in_verified  # noqa: F401
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH, books, internal
from backoffice.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]

ZERO = Decimal("0.00")


def staff(group: str | None, username: str, *, superuser: bool = False) -> Client:
    """A separate browser session of a verified staff user (maker and checker side by side)."""
    return sign_in_verified(Client(), make_staff(username, group, superuser=superuser))


def messages_of(response, level: str) -> list[str]:
    return [str(m) for m in response.context["messages"] if m.level_tag == level]


def change_url(obj) -> str:
    return reverse(f"admin:accounts_{obj._meta.model_name}_change", args=[obj.pk])


def changelist(model) -> str:
    return reverse(f"admin:accounts_{model._meta.model_name}_changelist")


def listed(client, model, **query) -> list:
    response = client.get(changelist(model), query)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Staff passwords and transaction passwords hashed quickly: these tests are about the console."""


@pytest.fixture
def funded(customer, fund):
    return fund(customer(), "100.00")


@pytest.fixture
def withdraw(sim, django_capture_on_commit_callbacks):
    """``withdraw(account, "10.00", submit="timeout", then="success")``: a withdrawal through the
    service, the simulator scripted first, its submission run (on commit)."""
    from accounts.payments.simulator import simulator

    refs = itertools.count(1)

    def do(account, amount="10.00", *, channel_code="sim", **script):
        if script:
            simulator(channel_code).script_next(**script)
        with django_capture_on_commit_callbacks(execute=True):
            created = withdrawals.withdrawal_create(
                client="console-test",
                out_request_no=f"CONSOLE-{next(refs)}",
                account=account,
                amount=amount,
                authorization=PASSWORD_AUTH,
                channel_code=channel_code,
            )
        return Withdrawal.objects.get(pk=created.pk)

    return do


@pytest.fixture
def unknown(funded, withdraw):
    """A withdrawal of 10.00 (fee 1.00) whose submission timed out; the channel did pay it."""
    withdrawal = withdraw(funded, submit="timeout", then="success")
    assert withdrawal.state == Withdrawal.State.UNKNOWN
    return withdrawal


def resolve_url(withdrawal) -> str:
    return reverse("admin:accounts_withdrawal_resolve", args=[withdrawal.pk])


def query_url(withdrawal) -> str:
    return reverse("admin:accounts_withdrawal_query", args=[withdrawal.pk])


def decide_url(resolution) -> str:
    return reverse("admin:accounts_withdrawalresolution_decide", args=[resolution.pk])


EVIDENCE = "Channel statement 2026-12-01 line 17: request paid, txn SIM123."


def propose(client, withdrawal, outcome="succeeded", evidence=EVIDENCE, **extra):
    return client.post(resolve_url(withdrawal), {"outcome": outcome, "evidence": evidence, "channel_txn_id": "", **extra})


# -- permissions per group ----------------------------------------------------------------------


PAYMENT_MODELS = [Channel, Withdrawal, Recharge, ChannelCallback, PaymentAlert, WithdrawalResolution]


def test_admin_payments_auditor_sees_everything_and_changes_nothing(console, unknown, channel):
    client = console("auditor")
    for model in PAYMENT_MODELS:
        assert client.get(changelist(model)).status_code == 200, model
    page = client.get(change_url(unknown))
    assert page.status_code == 200 and unknown.request_id.encode() in page.content
    assert b"payment-action" not in page.content  # neither query nor proposal offered
    assert client.get(reverse("admin:accounts_channel_add")).status_code == 403
    assert client.post(change_url(channel), {"name": "renamed"}).status_code == 403
    assert client.get(query_url(unknown)).status_code == 403
    assert client.post(query_url(unknown), {"reason": ""}).status_code == 403
    assert client.get(resolve_url(unknown)).status_code == 403
    assert propose(client, unknown).status_code == 403
    assert not WithdrawalResolution.objects.exists()
    assert Withdrawal.objects.get(pk=unknown.pk).state == Withdrawal.State.UNKNOWN
    assert Channel.objects.get(pk=channel.pk).name == channel.name


@pytest.fixture
def payment_rows(unknown, sim, django_capture_on_commit_callbacks):
    """One row of each payment model: a pending proposal, a callback, a P1 alert, a recharge."""
    from accounts.payments import recharges
    from accounts.payments.callbacks import CallbackSignatureError, channel_callback_receive

    maker = make_staff("maker", "operator")
    withdrawals.withdrawal_resolution_propose(withdrawal_id=unknown.pk, outcome="succeeded", evidence=EVIDENCE, maker=maker)
    channel_callback_receive(channel_code="sim", body=json.dumps(sim.callback(unknown.request_id)).encode(), headers={})
    with pytest.raises(CallbackSignatureError):
        channel_callback_receive(
            channel_code="sim", body=json.dumps(sim.callback(unknown.request_id, forge=True)).encode(), headers={}
        )
    with django_capture_on_commit_callbacks(execute=True):
        recharges.recharge_create(
            client="console-test",
            out_request_no="RC-1",
            account=unknown.account,
            amount="20.00",
            authorization=PASSWORD_AUTH,
            channel_code="sim",
        )
    return unknown


@pytest.mark.parametrize("model", [Withdrawal, Recharge, ChannelCallback, PaymentAlert, WithdrawalResolution])
def test_admin_payment_records_have_no_add_change_or_delete(console, payment_rows, model):
    client = console(superuser=True)
    obj = model.objects.first()
    opts = model._meta
    assert client.get(changelist(model)).status_code == 200
    assert client.get(change_url(obj)).status_code == 200
    assert client.post(reverse(f"admin:accounts_{opts.model_name}_add"), {}).status_code == 403
    assert client.post(reverse(f"admin:accounts_{opts.model_name}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    assert client.post(change_url(obj), {}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()
    assert (
        client.post(reverse("admin:accounts_channel_delete", args=[Channel.objects.get().pk]), {"post": "yes"}).status_code == 403
    )


def test_admin_operator_proposes_but_cannot_approve_or_edit_channels(unknown, funded):
    before = books(funded)
    operator = staff("operator", "op-maker")
    page = operator.get(change_url(unknown))
    assert resolve_url(unknown).encode() in page.content and query_url(unknown).encode() in page.content
    form = operator.get(resolve_url(unknown))
    assert form.status_code == 200 and b'name="evidence"' in form.content
    assert books(funded) == before  # nothing happens before the proposal is sent

    response = propose(operator, unknown, channel_txn_id="SIM-TXN-1")
    assert response.status_code == 302
    resolution = WithdrawalResolution.objects.get(withdrawal=unknown)
    assert resolution.state == WithdrawalResolution.State.PENDING and resolution.maker.username == "op-maker"
    assert resolution.channel_txn_id == "SIM-TXN-1"
    assert AuditLog.objects.filter(action="withdrawal_resolution.propose", target_id=str(resolution.pk)).exists()

    assert operator.get(decide_url(resolution)).status_code == 403
    assert operator.post(decide_url(resolution), {"decision": "approve"}).status_code == 403
    assert operator.get(reverse("admin:accounts_channel_add")).status_code == 403
    assert WithdrawalResolution.objects.get(pk=resolution.pk).state == WithdrawalResolution.State.PENDING
    assert Withdrawal.objects.get(pk=unknown.pk).state == Withdrawal.State.UNKNOWN
    assert books(funded) == before
    # One proposal at a time: the page no longer offers another.
    assert resolve_url(unknown).encode() not in operator.get(change_url(unknown)).content


def test_admin_proposal_needs_evidence_and_an_unknown_withdrawal(unknown, funded, withdraw):
    operator = staff("operator", "op-maker")
    response = propose(operator, unknown, evidence="too short")
    assert response.status_code == 200 and "evidence" in response.context["form"].errors
    assert propose(operator, unknown, outcome="maybe").context["form"].errors["outcome"]
    assert not WithdrawalResolution.objects.exists()
    paid = withdraw(funded, "5.00")
    assert paid.state == Withdrawal.State.SUCCEEDED
    response = operator.post(resolve_url(paid), {"outcome": "failed", "evidence": EVIDENCE}, follow=True)
    assert response.status_code == 200 and messages_of(response, "error")
    assert not WithdrawalResolution.objects.exists()


# -- the channel registry -------------------------------------------------------------------------


def channel_data(**overrides) -> dict:
    data = {
        "code": "bank2",
        "name": "第二通道 Second channel",
        "adapter": "simulator",
        "base_url": "",
        "enabled": "on",
        "supports_recharge": "on",
        "supports_withdrawal": "on",
        "priority": "10",
        "withdrawal_strategy": "transit",
        "real_time_limit": "50000.00",
        "window_start": "09:00",
        "window_end": "16:30",
        "withdrawal_fee": "2.00",
        "timeout_seconds": "10",
        "not_found_grace_seconds": "600",
        "supports_payment": "on",
        "refund_count_limit": "50",
        "refund_window_days": "365",
        "cutoff_time": "00:00",
        "new_callback_secret": "s3cret-Callback-Key-2026",
    }
    data.update(overrides)
    return data


def test_admin_supervisor_adds_a_channel_through_the_form_secret_encrypted_and_audited():
    supervisor = staff("supervisor", "sup")
    assert supervisor.get(reverse("admin:accounts_channel_add")).status_code == 200
    response = supervisor.post(reverse("admin:accounts_channel_add"), channel_data())
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    channel = Channel.objects.get(code="bank2")
    assert channel.withdrawal_strategy == Channel.Strategy.TRANSIT and channel.withdrawal_fee == Decimal("2.00")
    assert channel.callback_secret == "s3cret-Callback-Key-2026"
    assert channel.callback_secret_encrypted and "s3cret" not in channel.callback_secret_encrypted
    row = AuditLog.objects.get(action="channel.register", target_id=str(channel.pk))
    assert row.actor.username == "sup" and "s3cret" not in json.dumps(row.data)

    listing = supervisor.get(changelist(Channel)).content.decode()
    assert "bank2" in listing and "09:00–16:30" in listing and "s3cret" not in listing
    page = supervisor.get(change_url(channel)).content.decode()
    assert "s3cret" not in page and channel.callback_secret_encrypted not in page
    assert 'name="new_callback_secret"' in page and 'type="password"' in page


def test_admin_channel_change_keeps_or_replaces_the_secret(channel):
    supervisor = staff("supervisor", "sup")
    old_secret = channel.callback_secret
    data = channel_data(code=channel.code, withdrawal_strategy="freeze", withdrawal_fee="1.50", new_callback_secret="")
    data.pop("code")
    response = supervisor.post(change_url(channel), data)
    assert response.status_code == 302
    channel = Channel.objects.get(pk=channel.pk)
    assert channel.withdrawal_fee == Decimal("1.50") and channel.callback_secret == old_secret
    update = AuditLog.objects.filter(action="channel.update", target_id=str(channel.pk)).latest("id")
    assert "withdrawal_fee" in update.data["fields"] and update.actor.username == "sup"

    supervisor.post(change_url(channel), {**data, "new_callback_secret": "rotated-Key-2027"})
    assert Channel.objects.get(pk=channel.pk).callback_secret == "rotated-Key-2027"
    page = supervisor.get(change_url(channel)).content.decode()
    assert "rotated-Key-2027" not in page and old_secret not in page


def test_admin_auditor_sees_a_channel_without_its_secret(console, channel):
    client = console("auditor")
    page = client.get(change_url(channel)).content.decode()
    assert channel.code in page and channel.callback_secret not in page
    assert 'name="new_callback_secret"' not in page


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"new_callback_secret": ""}, "new_callback_secret"),
        ({"withdrawal_fee": "-1.00"}, "withdrawal_fee"),
        ({"withdrawal_fee": "1.234"}, "withdrawal_fee"),
        ({"code": "Bad Code!"}, "code"),
        ({"code": "sim"}, "code"),  # already registered
        ({"window_start": "17:00", "window_end": "09:00"}, "window_end"),
    ],
)
def test_admin_channel_form_refuses_bad_input(channel, overrides, field):
    supervisor = staff("supervisor", "sup")
    response = supervisor.post(reverse("admin:accounts_channel_add"), channel_data(**overrides))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Channel.objects.count() == 1


# -- withdrawals: list, filters, export, detail -------------------------------------------------------


@pytest.fixture
def three(funded, withdraw):
    """A paid, an unknown and a declined withdrawal of one account."""
    paid = withdraw(funded, "10.00")
    pending = withdraw(funded, "20.00", submit="timeout", then="success")
    declined = withdraw(funded, "5.00", submit="failure")
    assert (paid.state, pending.state, declined.state) == ("succeeded", "unknown", "failed")
    return paid, pending, declined


def test_admin_withdrawal_list_filters_and_search(console, three, channel):
    paid, pending, declined = three
    client = console("auditor")
    page = client.get(changelist(Withdrawal)).content.decode()
    for w in three:
        assert w.request_id in page
    assert "20.00" in page and pending.account.number in page
    assert listed(client, Withdrawal, state__exact="unknown") == [pending]
    assert listed(client, Withdrawal, in_flight="yes") == [pending]
    assert set(listed(client, Withdrawal, in_flight="no")) == {paid, declined}
    assert listed(client, Withdrawal, strategy__exact="transit") == []
    assert len(listed(client, Withdrawal, strategy__exact="freeze", channel__id__exact=channel.pk)) == 3
    assert listed(client, Withdrawal, age="1d") == []
    assert listed(client, Withdrawal, q=pending.request_id) == [pending]
    assert listed(client, Withdrawal, q=declined.out_request_no) == [declined]
    assert len(listed(client, Withdrawal, q=paid.account.number)) == 3
    assert listed(client, Withdrawal, q="no-such-thing") == []


def test_admin_withdrawal_age_is_highlighted_past_the_alert_threshold(console, three, settings):
    client = console("auditor")
    assert b"payments-age-old" not in client.get(changelist(Withdrawal)).content
    settings.ACCOUNTS_PAYMENT_ALERT_SECONDS = 0
    page = client.get(changelist(Withdrawal)).content.decode()
    assert page.count('class="payments-age-old"') == 1  # only the one in flight
    assert len(listed(client, Withdrawal, age="alert")) == 3


def export_post(resource=WithdrawalResource, fmt="0") -> dict:
    data = {"format": fmt, "resource": "0"}
    data.update({f"{resource.__name__.lower()}_{name}": "on" for name in resource.Meta.fields})
    return data


def test_admin_withdrawal_export_csv_and_xlsx_follow_the_filters(console, three):
    paid, pending, declined = three
    client = console("auditor")
    url = reverse("admin:accounts_withdrawal_export") + "?in_flight=no"
    assert client.get(url).status_code == 200
    response = client.post(url, export_post(fmt="0"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert paid.request_id in text and declined.request_id in text and pending.request_id not in text
    cells = {cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row}
    assert {"10.00", "5.00"} <= cells and not cells & {"1000", "500"}  # yuan strings, not fen
    assert "request id / 通道请求号" in text

    response = client.post(reverse("admin:accounts_withdrawal_export") + "?state__exact=unknown", export_post(fmt="1"))
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == pending.request_id and "20.00" in rows[1]
    exports = AuditLog.objects.filter(action="withdrawal.export").order_by("id")
    assert [row.data["rows"] for row in exports] == [2, 1] and exports[0].actor.username == "auditor-user"


def test_admin_withdrawal_export_needs_the_view_permission(three):
    nobody = staff(None, "no-perms")
    assert nobody.get(reverse("admin:accounts_withdrawal_export")).status_code == 403
    assert nobody.post(reverse("admin:accounts_withdrawal_export"), export_post()).status_code == 403


@pytest.mark.parametrize("strategy", ["freeze", "transit"])
def test_admin_withdrawal_page_shows_vouchers_callbacks_and_audit_trail(console, funded, withdraw, make_channel, strategy):
    from accounts.payments.callbacks import channel_callback_receive
    from accounts.payments.simulator import simulator

    code = "sim" if strategy == "freeze" else "simt"
    if strategy == "transit":
        make_channel(code, strategy=Channel.Strategy.TRANSIT)
    withdrawal = withdraw(funded, "10.00", channel_code=code)
    assert withdrawal.state == Withdrawal.State.SUCCEEDED
    body = json.dumps(simulator(code).callback(withdrawal.request_id)).encode()
    for _ in range(2):
        channel_callback_receive(channel_code=code, body=body, headers={})
    client = console("auditor")
    page = client.get(change_url(withdrawal)).content.decode()
    assert 'id="payment-vouchers"' in page
    settle = reverse("admin:accounts_transfer_change", args=[withdrawal.settle_transfer_id])
    assert settle in page
    if strategy == "freeze":
        assert reverse("admin:accounts_hold_change", args=[withdrawal.hold_id]) in page
    else:
        assert reverse("admin:accounts_transfer_change", args=[withdrawal.hold_transfer_id]) in page
        assert internal(Role.TRANSIT_WITHDRAWAL).number in page
    assert page.count('class="payment-voucher"') == (1 if strategy == "freeze" else 2)
    callback = ChannelCallback.objects.get(withdrawal=withdrawal)
    assert callback.duplicates == 1 and reverse("admin:accounts_channelcallback_change", args=[callback.pk]) in page
    for action in ("withdrawal.create", "withdrawal.submit", "withdrawal.succeeded"):
        assert action in page
    assert withdrawal.card.card_number_masked in page and "6228480402564890018" not in page


# -- operator actions on a withdrawal ---------------------------------------------------------------


def test_admin_query_now_applies_the_channel_answer(unknown, funded):
    before = books(funded)
    operator = staff("operator", "op")
    confirm = operator.get(query_url(unknown))
    assert confirm.status_code == 200 and unknown.request_id.encode() in confirm.content
    assert Withdrawal.objects.get(pk=unknown.pk).state == Withdrawal.State.UNKNOWN  # nothing before confirmation
    response = operator.post(query_url(unknown), {"reason": "customer called"}, follow=True)
    assert response.status_code == 200 and messages_of(response, "success")
    withdrawal = Withdrawal.objects.get(pk=unknown.pk)
    assert withdrawal.state == Withdrawal.State.SUCCEEDED and withdrawal.resolved_by == Withdrawal.Source.QUERY
    after = books(funded)
    assert after["balance"] == Decimal("89.00") and after["frozen"] == ZERO and after["withdrawal_holds"] == ZERO
    assert after["fee_income"] == before["fee_income"] + Decimal("1.00")
    row = AuditLog.objects.get(action="withdrawal.console_query", target_id=str(unknown.pk))
    assert row.actor.username == "op" and row.data["note"] == "customer called" and row.data["state"] == "succeeded"
    # Asked again once it is final: nothing to ask, nothing moves.
    response = operator.post(query_url(unknown), {"reason": ""}, follow=True)
    assert messages_of(response, "info") and books(funded) == after


def test_admin_query_now_when_the_channel_errors_is_a_warning(funded, withdraw):
    withdrawal = withdraw(funded, submit="timeout", then="success", query_error=True)
    before = books(funded)
    operator = staff("operator", "op")
    response = operator.post(query_url(withdrawal), {"reason": ""}, follow=True)
    assert response.status_code == 200 and messages_of(response, "warning") and not messages_of(response, "error")
    withdrawal = Withdrawal.objects.get(pk=withdrawal.pk)
    assert withdrawal.state == Withdrawal.State.UNKNOWN and withdrawal.query_errors == 1
    assert books(funded) == before


@pytest.mark.parametrize("strategy", ["freeze", "transit"])
@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_r_wd_03_manual_resolution_end_to_end(funded, withdraw, make_channel, strategy, outcome):
    """Maker proposes, checker approves, the money follows; the channel later says the opposite:
    a P1 alert, and nothing moves."""
    from accounts.payments.callbacks import channel_callback_receive
    from accounts.payments.invariants import payment_invariants
    from accounts.payments.simulator import simulator

    code = "sim" if strategy == "freeze" else "simt"
    if strategy == "transit":
        make_channel(code, strategy=Channel.Strategy.TRANSIT)
    truth = "failure" if outcome == "succeeded" else "success"  # the channel will contradict the resolution
    withdrawal = withdraw(funded, "10.00", channel_code=code, submit="timeout", then=truth, query_error=True)
    assert withdrawal.state == Withdrawal.State.UNKNOWN
    before = books(funded)
    assert before["balance"] == (Decimal("100.00") if strategy == "freeze" else Decimal("89.00"))

    operator, supervisor = staff("operator", "op"), staff("supervisor", "sup")
    assert propose(operator, withdrawal, outcome=outcome).status_code == 302
    resolution = WithdrawalResolution.objects.get(withdrawal=withdrawal)
    review = supervisor.get(change_url(withdrawal)).content.decode()
    assert decide_url(resolution) in review
    page = supervisor.get(decide_url(resolution))
    assert page.status_code == 200 and not page.context["is_maker"] and EVIDENCE in page.content.decode()
    response = supervisor.post(decide_url(resolution), {"decision": "approve", "note": "matches the statement"}, follow=True)
    assert response.status_code == 200 and messages_of(response, "success")

    withdrawal = Withdrawal.objects.get(pk=withdrawal.pk)
    resolution = WithdrawalResolution.objects.get(pk=resolution.pk)
    assert resolution.state == WithdrawalResolution.State.APPROVED and resolution.checker.username == "sup"
    assert withdrawal.state == outcome and withdrawal.resolved_by == Withdrawal.Source.MANUAL
    after = books(funded)
    assert after["frozen"] == ZERO and after["transit"] == ZERO and after["withdrawal_holds"] == ZERO
    if outcome == "succeeded":
        assert after["balance"] == Decimal("89.00") and after["fee_income"] == before["fee_income"] + Decimal("1.00")
        assert abs(after["clearing"] - before["clearing"]) == Decimal("10.00")
    else:
        assert after["balance"] == Decimal("100.00") and after["fee_income"] == before["fee_income"]
        assert after["clearing"] == before["clearing"]
    assert all(inv.holds for inv in payment_invariants())
    assert AuditLog.objects.filter(action="withdrawal_resolution.approve", actor__username="sup").exists()

    body = json.dumps(simulator(code).callback(withdrawal.request_id)).encode()
    callback, _duplicate = channel_callback_receive(channel_code=code, body=body, headers={})
    assert callback.outcome == ChannelCallback.Outcome.CONTRADICTION
    assert Withdrawal.objects.get(pk=withdrawal.pk).state == outcome
    assert books(funded) == after
    alert = PaymentAlert.objects.get(withdrawal=withdrawal, kind=PaymentAlert.Kind.CONTRADICTION)
    assert alert.severity == PaymentAlert.Severity.P1
    page = supervisor.get(change_url(withdrawal)).content.decode()
    assert 'id="payment-alerts"' in page and escape(alert.text) in page  # in the page's language (Chinese)
    assert "通道现称" in alert.text and " / " not in alert.text
    assert "withdrawal_resolution.approve" in page  # the audit trail includes the resolution's rows


def test_admin_maker_cannot_approve_own_resolution(unknown, funded):
    before = books(funded)
    both = staff("supervisor", "sup-both")  # may propose (maker) and approve (checker), never both on one
    assert propose(both, unknown).status_code == 302
    resolution = WithdrawalResolution.objects.get()
    page = both.get(decide_url(resolution))
    assert page.status_code == 200 and page.context["is_maker"]
    response = both.post(decide_url(resolution), {"decision": "approve", "note": "self"}, follow=True)
    assert response.status_code == 200 and messages_of(response, "error")
    response = both.post(decide_url(resolution), {"decision": "reject", "note": "self"}, follow=True)
    assert messages_of(response, "error")
    assert WithdrawalResolution.objects.get().state == WithdrawalResolution.State.PENDING
    assert Withdrawal.objects.get(pk=unknown.pk).state == Withdrawal.State.UNKNOWN
    assert books(funded) == before


def test_admin_checker_rejects_with_a_reason_and_a_new_proposal_may_follow(unknown, funded):
    before = books(funded)
    operator, supervisor = staff("operator", "op"), staff("supervisor", "sup")
    propose(operator, unknown)
    resolution = WithdrawalResolution.objects.get()
    response = supervisor.post(decide_url(resolution), {"decision": "reject", "note": ""})
    assert response.status_code == 200 and response.context["form"].errors["note"]
    supervisor.post(decide_url(resolution), {"decision": "reject", "note": "statement does not show it"})
    resolution = WithdrawalResolution.objects.get(pk=resolution.pk)
    assert resolution.state == WithdrawalResolution.State.REJECTED and resolution.decision_note == "statement does not show it"
    assert Withdrawal.objects.get(pk=unknown.pk).state == Withdrawal.State.UNKNOWN and books(funded) == before
    assert listed(supervisor, WithdrawalResolution, state__exact="rejected") == [resolution]
    assert listed(supervisor, WithdrawalResolution, state__exact="pending") == []
    assert propose(operator, unknown, outcome="failed").status_code == 302
    assert WithdrawalResolution.objects.filter(state="pending").count() == 1


# -- alerts, callbacks, recharges -------------------------------------------------------------------


def test_admin_alerts_open_first_and_acknowledged_by_an_operator(console, payment_rows):
    from django.db import transaction

    with transaction.atomic():
        stuck = withdrawals.payment_alert(kind=PaymentAlert.Kind.STUCK, message="stuck for a while", withdrawal=payment_rows)
    forged = PaymentAlert.objects.get(kind=PaymentAlert.Kind.FORGED_CALLBACK)
    assert forged.severity == "P1" and stuck.severity == "P2"
    auditor = console("auditor")
    assert listed(auditor, PaymentAlert) == [forged, stuck]  # P1 first
    auditor.post(changelist(PaymentAlert), {"action": "acknowledge", "_selected_action": [forged.pk], "index": 0})
    assert PaymentAlert.objects.get(pk=forged.pk).acknowledged_at is None  # the auditor is not offered the action

    operator = staff("operator", "op")
    confirm = operator.post(
        changelist(PaymentAlert), {"action": "acknowledge", "_selected_action": [forged.pk], "index": 0}, follow=True
    )
    # A confirmation step that asks for a note: a P1 is not acknowledged without one.
    assert confirm.status_code == 200 and PaymentAlert.objects.get(pk=forged.pk).acknowledged_at is None
    ack_url = reverse("admin:accounts_paymentalert_acknowledge")
    refused = operator.post(ack_url, {"ids": str(forged.pk), "reason": ""})
    assert refused.status_code == 200 and refused.context["form"].errors["reason"]
    assert PaymentAlert.objects.get(pk=forged.pk).acknowledged_at is None
    response = operator.post(ack_url, {"ids": str(forged.pk), "reason": "callback source checked, blocked"}, follow=True)
    assert response.status_code == 200 and messages_of(response, "success")
    forged = PaymentAlert.objects.get(pk=forged.pk)
    assert forged.acknowledged_at is not None and forged.acknowledged_by.username == "op"
    row = AuditLog.objects.get(action="payment_alert.acknowledge", target_id=str(forged.pk), actor__username="op")
    assert row.data["note"] == "callback source checked, blocked"
    assert listed(operator, PaymentAlert) == [stuck, forged]  # unacknowledged first
    assert listed(operator, PaymentAlert, status="open") == [stuck]
    assert listed(operator, PaymentAlert, severity__exact="P1") == [forged]
    assert listed(operator, PaymentAlert, kind__exact="stuck") == [stuck]


def test_admin_callbacks_and_recharges_are_listed(console, payment_rows):
    recharge = Recharge.objects.get()
    assert recharge.state == Recharge.State.SUCCEEDED
    client = console("auditor")
    callbacks = client.get(changelist(ChannelCallback)).content.decode()
    callback = ChannelCallback.objects.get()
    assert callback.channel_txn_id in callbacks and payment_rows.request_id in callbacks
    assert callbacks.count('class="field-duplicates"') == 1
    assert listed(client, ChannelCallback, event__exact="success", outcome__exact="applied") == [callback]
    assert listed(client, ChannelCallback, q=payment_rows.request_id) == [callback]
    assert listed(client, Recharge, q=recharge.request_id) == [recharge]
    assert listed(client, Recharge, state__exact="succeeded") == [recharge]
    assert listed(client, Recharge, in_flight="yes") == []
    page = client.get(change_url(recharge)).content.decode()
    assert reverse("admin:accounts_transfer_change", args=[recharge.credit_transfer_id]) in page
    assert "20.00" in page and "recharge.create" in page and 'id="payment-callbacks"' in page
    response = client.post(reverse("admin:accounts_recharge_export"), export_post(RechargeResource))
    assert response["Content-Type"].startswith("text/csv")
    assert recharge.request_id in response.content.decode() and "20.00" in response.content.decode()
    assert AuditLog.objects.filter(action="recharge.export", actor__username="auditor-user").exists()


# -- the dashboard --------------------------------------------------------------------------------


def test_admin_dashboard_shows_in_flight_alerts_and_the_invariants(console, three, clearing):
    _paid, pending, _declined = three
    client = console("auditor")
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="payments-dashboard"' in page
    # One invariants table on the index: the dashboard's, which links each to its withdrawals.
    assert page.count("不变量校验") == 1 and "payments-invariant" not in page
    invariants = page.split('id="dashboard-invariants"')[1].split("</table>")[0]
    assert invariants.count("dashboard-invariant pass") == 3 and "dashboard-invariant fail" not in invariants
    assert "?in_flight=yes&amp;strategy__exact=transit" in invariants
    state_row = page.split('payments-state-unknown">')[1].split("</tr>")[0]
    assert ">1<" in state_row and "?state__exact=unknown" in state_row
    assert "21.00" in invariants  # the in-flight amount plus its fee, expected and held

    # Money put on the transit account behind the services' back: the invariant breaks.
    ledger.post_transfer(
        client="test",
        idempotency_key="break-transit",
        kind="test",
        legs=ledger.move(from_account_id=clearing.pk, to_account_id=internal(Role.TRANSIT_WITHDRAWAL).pk, amount=Decimal("5.00")),
    )
    page = client.get(reverse("admin:index")).content.decode()
    invariants = page.split('id="dashboard-invariants"')[1].split("</table>")[0]
    assert invariants.count("dashboard-invariant fail") == 1
    assert "差额 5.00" in invariants  # off by, in the default language


def test_admin_dashboard_counts_open_alerts_and_hides_from_users_without_view(console, payment_rows):
    client = console("operator")
    page = client.get(reverse("admin:index")).content.decode()
    alerts = page.split('id="payments-alerts"')[1].split("</tr>")[0]
    assert ">1<" in alerts and "payments-p1" in alerts
    nobody = staff(None, "plain-staff")
    response = nobody.get(reverse("admin:index"))
    assert response.status_code == 200 and b"payments-dashboard" not in response.content


def test_admin_withdrawal_list_totals_the_money_in_flight(console, unknown):
    response = console("auditor").get(changelist(Withdrawal))
    summary = response.context["in_flight_summary"]
    assert summary["count"] == 1 and summary["total"] == f"{unknown.amount:,.2f}"
    html = response.content.decode()
    assert 'id="in-flight-summary"' in html


def test_admin_resolution_review_link_hidden_from_its_maker(console, payment_rows):
    resolution = WithdrawalResolution.objects.get()
    maker = sign_in_verified(Client(), resolution.maker)
    review = decide_url(resolution).encode()
    assert review not in maker.get(changelist(WithdrawalResolution)).content
    assert review not in maker.get(reverse("admin:accounts_withdrawal_change", args=[payment_rows.pk])).content
    checker = staff("supervisor", "sup-links")
    assert review in checker.get(changelist(WithdrawalResolution)).content
    page = checker.get(review).content.decode()
    assert "/admin/auth/user/" not in page
