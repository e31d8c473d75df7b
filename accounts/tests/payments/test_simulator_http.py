"""The simulator channel over HTTP (accounts.simulator_http): the server, the bank's adapter and
the test client, on a real socket; then withdrawals paid through it (SQLite, eager Celery)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings

from accounts.payments import withdrawals
from accounts.payments.callbacks import CallbackSignatureError, channel_callback_receive
from accounts.payments.channels import CallbackInvalidError, ChannelStatus, ChannelUnavailableError, adapter_for
from accounts.payments.models import Channel, Withdrawal
from accounts.payments.simulator import Script
from accounts.payments.simulator_http import HttpSimulatorAdapter, RandomOutcomes, SimulatorClient, start_simulator_server
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from accounts.tests.payments_fixtures import PASSWORD_AUTH, assert_books_agree_with_channel, books

pytestmark = pytest.mark.django_db

CARD = "6228480402564890018"


@pytest.fixture
def server():
    server = start_simulator_server(code="sim", secret="secret-sim", hang_seconds=5)
    yield server
    server.stop()


@pytest.fixture
def remote(server):
    return SimulatorClient(server.url)


@pytest.fixture
def channel(make_channel, server):
    return make_channel(code="sim", adapter=Channel.Adapter.HTTP_SIMULATOR, base_url=server.url, timeout_seconds=1)


@pytest.fixture
def adapter(channel):
    return adapter_for(channel)


def pay(adapter, request_id="WD0000000001", amount="12.34"):
    return adapter.submit_payout(request_id=request_id, amount=Decimal(amount), card_number=CARD, holder_name="张三")


def raw(url: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(), method="POST" if body else "GET"
    )
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


# -- the server and the adapter ------------------------------------------------------------------


def test_the_registry_maps_http_simulator_to_the_http_adapter(adapter):
    assert isinstance(adapter, HttpSimulatorAdapter)


def test_a_payout_is_paid_and_logged_with_amounts_as_strings(adapter, remote, server):
    answer = pay(adapter)

    assert answer.status == ChannelStatus.SUCCESS
    assert answer.amount == Decimal("12.34") and answer.channel_txn_id.startswith("SIM")
    status, log = raw(server.url + "/log")
    assert status == 200
    assert [(e["event"], e["request_id"], e["amount"]) for e in log["entries"]] == [("paid", "WD0000000001", "12.34")]
    assert (log["net_paid"], log["paid"], log["returned"]) == ("12.34", "12.34", "0.00")
    assert remote.net_paid() == Decimal("12.34")
    assert adapter.query(request_id="WD0000000001").status == ChannelStatus.SUCCESS


def test_resubmitting_the_same_request_id_never_pays_twice(channel, remote):
    """The request id derives from the business id: sending it again, even ten times at once,
    answers the first order's status and pays once."""
    # Ten requests at once on a busy CI machine may take longer than the fixture's 1 s timeout;
    # a timeout here would only test the machine, not the de-duplication.
    channel.timeout_seconds = 30
    adapter = adapter_for(channel)
    remote.script("WD0000000007", submit="processing", then="success", delay=5)
    assert pay(adapter, "WD0000000007").status == ChannelStatus.PROCESSING
    answers, errors = [], []

    def resubmit() -> None:
        try:
            answers.append(pay(adapter, "WD0000000007").status)
        except Exception as exc:  # noqa: BLE001  (reported below, with what the channel said)
            errors.append(exc)

    threads = [threading.Thread(target=resubmit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert answers == [ChannelStatus.PROCESSING] * 10

    remote.advance(6)

    assert pay(adapter, "WD0000000007").status == ChannelStatus.SUCCESS
    assert [(e["event"], e["request_id"]) for e in remote.events()] == [("paid", "WD0000000007")]
    assert remote.net_paid() == Decimal("12.34")
    assert remote.orders()[0]["submissions"] == 12


def test_a_timeout_is_channel_unavailable_and_the_order_is_executed_anyway(adapter, remote):
    remote.script("WD0000000002", submit="timeout", then="success", delay=0)

    with pytest.raises(ChannelUnavailableError, match="HTTP 504"):
        pay(adapter, "WD0000000002")

    assert adapter.query(request_id="WD0000000002").status == ChannelStatus.SUCCESS
    assert remote.net_paid() == Decimal("12.34")


def test_a_hanging_channel_times_out_on_the_clients_clock(adapter, remote, server):
    server.timeout_mode = "hang"  # holds the call 5 s; the channel's timeout is 1 s
    remote.script("WD0000000003", submit="timeout", then="failure", delay=0)
    started = time.monotonic()

    with pytest.raises(ChannelUnavailableError, match="no answer"):
        pay(adapter, "WD0000000003")

    assert 0.9 < time.monotonic() - started < 3
    assert adapter.query(request_id="WD0000000003").status == ChannelStatus.FAILURE


def test_a_closed_connection_and_a_refused_one_are_channel_unavailable(adapter, remote, server, make_channel):
    server.timeout_mode = "close"
    remote.script("WD0000000004", submit="not_found", then="success", delay=None)
    with pytest.raises(ChannelUnavailableError, match="no answer"):
        pay(adapter, "WD0000000004")
    assert adapter.query(request_id="WD0000000004").status == ChannelStatus.NOT_FOUND

    down = make_channel(code="down", adapter=Channel.Adapter.HTTP_SIMULATOR, base_url="http://127.0.0.1:9", timeout_seconds=1)
    with pytest.raises(ChannelUnavailableError):
        pay(adapter_for(down))
    nowhere = make_channel(code="nowhere", adapter=Channel.Adapter.HTTP_SIMULATOR, base_url="")
    with pytest.raises(ChannelUnavailableError, match="no base URL"):
        pay(adapter_for(nowhere))


def test_scripted_outcomes_over_http(adapter, remote):
    remote.script("WD0000000010", submit="failure")
    remote.script("WD0000000011", submit="processing", then="failure", delay=30)
    remote.script("WD0000000012", submit="not_found", then="success", delay=20)
    remote.script("WD0000000013", submit="success", return_after=60)
    remote.script("WD0000000014", submit="timeout", then="success", delay=0, query_error=True)
    remote.script("WD0000000015", submit="error")

    assert pay(adapter, "WD0000000010").status == ChannelStatus.FAILURE
    assert pay(adapter, "WD0000000011").status == ChannelStatus.PROCESSING
    with pytest.raises(ChannelUnavailableError):
        pay(adapter, "WD0000000012")
    assert adapter.query(request_id="WD0000000012").status == ChannelStatus.NOT_FOUND
    assert pay(adapter, "WD0000000013").status == ChannelStatus.SUCCESS
    with pytest.raises(ChannelUnavailableError, match="HTTP 504"):
        pay(adapter, "WD0000000014")
    with pytest.raises(ChannelUnavailableError, match="HTTP 503"):
        adapter.query(request_id="WD0000000014")
    with pytest.raises(ChannelUnavailableError, match="HTTP 503"):
        pay(adapter, "WD0000000015")

    remote.advance(61)

    assert adapter.query(request_id="WD0000000011").status == ChannelStatus.FAILURE
    assert adapter.query(request_id="WD0000000012").status == ChannelStatus.SUCCESS
    assert adapter.query(request_id="WD0000000013").status == ChannelStatus.RETURNED
    log = remote.log()
    assert sorted((e["event"], e["request_id"]) for e in log["entries"]) == [
        ("paid", "WD0000000012"),
        ("paid", "WD0000000013"),
        ("paid", "WD0000000014"),
        ("returned", "WD0000000013"),
    ]
    assert (log["paid"], log["returned"], log["net_paid"]) == (Decimal("37.02"), Decimal("12.34"), Decimal("24.68"))


def test_next_scripts_apply_in_order_then_the_default(adapter, remote):
    remote.script_next(Script(submit="failure"), {"submit": "processing", "then": "success", "delay": 5})
    remote.script_default(submit="failure")

    assert [pay(adapter, f"WD00000000{n}").status for n in (20, 21, 22)] == [
        ChannelStatus.FAILURE,
        ChannelStatus.PROCESSING,
        ChannelStatus.FAILURE,
    ]
    remote.reset()
    assert remote.orders() == [] and pay(adapter, "WD0000000020").status == ChannelStatus.SUCCESS


def test_bad_requests_are_refused_with_400(server):
    assert raw(server.url + "/payouts", {"request_id": "WD1", "amount": 1.5})[0] == 400  # a float is not money
    assert raw(server.url + "/payouts", {"amount": "1.00"})[0] == 400
    assert raw(server.url + "/script", {"request_id": "WD1", "submit": "maybe"})[0] == 400
    assert raw(server.url + "/script", {"default": "random", "weights": {"sometimes": 1}})[0] == 400
    assert raw(server.url + "/callbacks/WD404", {"status": "success"})[0] == 404
    assert raw(server.url + "/nowhere")[0] == 404


def test_random_mode_gives_each_request_id_the_same_outcome_for_a_seed():
    weights = {"success": 1, "failure": 1, "timeout": 1, "processing": 1, "not_found": 1, "lost": 1, "returned": 1}
    one, two = RandomOutcomes(seed=42, weights=weights), RandomOutcomes(seed=42, weights=weights)
    ids = [f"WD{n:010d}" for n in range(200)]

    draws = [one.draw(i) for i in ids]

    assert draws == [two.draw(i) for i in reversed(ids)][::-1]
    assert {d.submit for d in draws} == {"success", "failure", "timeout", "processing", "not_found"}
    assert any(d.return_after is not None for d in draws) and any(d.delay is None for d in draws)
    assert all(d.delay is None or 0 <= d.delay <= 2 for d in draws)
    assert draws != [RandomOutcomes(seed=43, weights=weights).draw(i) for i in ids]


def test_random_default_over_http(adapter, remote):
    remote.random(seed=5, weights={"failure": 1})
    assert pay(adapter, "WD0000000030").status == ChannelStatus.FAILURE
    remote.script("WD0000000031", submit="success")  # an explicit script wins over the draw
    assert pay(adapter, "WD0000000031").status == ChannelStatus.SUCCESS


# -- callbacks ----------------------------------------------------------------------------------


def test_callback_payloads_verify_and_forged_ones_do_not(adapter, remote):
    pay(adapter, "WD0000000040")

    event = adapter.parse_callback(body=remote.callback_body("WD0000000040"), headers={})
    assert (event.request_id, event.status, event.amount) == ("WD0000000040", ChannelStatus.SUCCESS, Decimal("12.34"))
    assert adapter.parse_callback(body=remote.callback_body("WD0000000040", status="failure"), headers={}).status == "failure"
    with pytest.raises(CallbackInvalidError):
        adapter.parse_callback(body=remote.callback_body("WD0000000040", forge=True), headers={})


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_callbacks_are_delivered_to_the_bank_url_with_duplicates(make_channel):
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    receiver.bodies = []
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/callbacks"
    server = start_simulator_server(
        code="cb", secret="secret-cb", callback_url=url, callback_duplicates=2, callback_interval=0.05
    )
    try:
        channel = make_channel(code="cb", adapter=Channel.Adapter.HTTP_SIMULATOR, base_url=server.url, timeout_seconds=1)
        adapter, remote = adapter_for(channel), SimulatorClient(server.url)
        remote.script("WD0000000050", submit="success", return_after=0.3)
        pay(adapter, "WD0000000050")
        deadline = time.monotonic() + 5
        while len(receiver.bodies) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
        receiver.shutdown()
        receiver.server_close()

    events = [adapter.parse_callback(body=body, headers={}) for body in receiver.bodies]
    assert [e.status.value for e in events] == ["success", "success", "returned", "returned"]
    assert [d["http_statuses"] for d in server.deliveries()] == [[200, 200], [200, 200]]


# -- withdrawals through the HTTP channel (eager) ---------------------------------------------------


@pytest.fixture
def account(customer, fund):
    return fund(customer(), "500.00")


@pytest.fixture
def withdraw(account, channel, django_capture_on_commit_callbacks):
    def do(amount="100.00", ref="h1"):
        with django_capture_on_commit_callbacks(execute=True):
            created = withdrawals.withdrawal_create(
                client="test", out_request_no=ref, account=account, amount=amount, authorization=PASSWORD_AUTH
            )
        return Withdrawal.objects.get(pk=created.pk)

    return do


def test_a_withdrawal_is_paid_through_the_http_channel(withdraw, account, remote):
    withdrawal = withdraw()

    assert withdrawal.state == Withdrawal.State.SUCCEEDED and withdrawal.resolved_by == Withdrawal.Source.RESPONSE
    assert books(account)["balance"] == Decimal("399.00")
    assert_books_agree_with_channel(remote)


def test_a_timed_out_withdrawal_stays_unknown_until_the_query_or_the_callback(withdraw, account, remote, channel):
    remote.script_next(Script(submit="timeout", then="success", delay=10), Script(submit="timeout", then="failure", delay=0))
    first, second = withdraw(ref="t1"), withdraw(ref="t2")
    assert (first.state, second.state) == (Withdrawal.State.UNKNOWN, Withdrawal.State.UNKNOWN)

    assert withdrawals.withdrawal_query_status(withdrawal_id=first.pk).state == Withdrawal.State.UNKNOWN  # processing
    remote.advance(11)
    callback, duplicate = channel_callback_receive(channel_code="sim", body=remote.callback_body(first.request_id), headers={})
    assert not duplicate and Withdrawal.objects.get(pk=first.pk).state == Withdrawal.State.SUCCEEDED
    assert withdrawals.withdrawal_query_status(withdrawal_id=second.pk).state == Withdrawal.State.FAILED
    with pytest.raises(CallbackSignatureError):
        channel_callback_receive(channel_code="sim", body=remote.callback_body(second.request_id, forge=True), headers={})

    assert books(account)["balance"] == Decimal("399.00")
    assert_books_agree_with_channel(remote)


def test_a_channel_down_leaves_the_withdrawal_unknown_and_the_money_held(withdraw, account, remote, server):
    server.stop()

    withdrawal = withdraw()

    assert withdrawal.state == Withdrawal.State.UNKNOWN
    with pytest.raises(ChannelUnavailableError):
        withdrawals.withdrawal_query_status(withdrawal_id=withdrawal.pk)
    assert (books(account)["balance"], books(account)["frozen"]) == (Decimal("500.00"), Decimal("101.00"))


# -- the command ---------------------------------------------------------------------------------


def test_run_channel_simulator_serves_until_it_is_stopped():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings", "SECRET_KEY": "test-only-not-secret"}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "run_channel_simulator",
            "--port",
            "0",
            "--code",
            "cmd",
            "--default",
            "random",
            "--seed",
            "9",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = process.stdout.readline()
        assert "Channel simulator cmd ready on http://127.0.0.1:" in ready and "seed 9" in ready
        remote = SimulatorClient(ready.split(" on ")[1].split()[0])
        assert remote.health()["random"]["seed"] == "9"
        assert remote.log()["net_paid"] == Decimal("0")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0 and "stopped" in output
