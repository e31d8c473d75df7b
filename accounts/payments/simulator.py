"""The simulator channel: a scriptable stand-in for a real payment channel, for tests and the demo.

``ChannelSimulator`` is the channel's side: it receives payouts (withdrawals) and collections
(recharges) by request id, answers them according to a script, answers status queries, builds
signed callbacks, and keeps its own log of what it paid, collected and had returned, so a test
can compare the bank's books with the channel's. The same request id submitted twice is the same
order: it is paid at most once, and answered with its current status.

Scripts (``Script``), per request id (``script``) or for the next new requests in order
(``script_next``); unscripted requests follow ``default``:

- ``success`` / ``failure``: a definitive answer to the submission;
- ``timeout``: the submission gets no answer (``ChannelUnavailableError``), the order is
  executed anyway with the outcome ``then`` (after ``delay`` seconds);
- ``processing``: answered "processing" until ``delay`` seconds have passed, then ``then``;
- ``not_found``: no answer, and queries say "not found" for ``delay`` seconds (``None``:
  forever); then the order appears with the outcome ``then``;
- ``error``: the channel is down for this request: no order, every submission raises;
- ``query_error=True``: every status query raises (the channel erroring on every query);
- ``return_after=N``: N seconds after paying, the money comes back (退票): status ``returned``.

Time is the simulator's clock (``time.time`` plus ``advance()``), so tests are deterministic.

``InProcessSimulatorAdapter`` talks to a process-wide simulator per channel code (eager tests,
the embedded demo); ``accounts.simulator_http`` serves the same simulator over HTTP
(``manage.py run_channel_simulator``) for the worker-process integration run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal

from accounts.payments.channels import (
    CallbackEvent,
    CallbackInvalidError,
    ChannelAdapter,
    ChannelAnswer,
    ChannelStatus,
    ChannelUnavailableError,
    ClearingRow,
    callback_signature,
)
from backoffice.dates import business_date_with_cutoff
from backoffice.money import MoneyError, to_money
from backoffice.parsers import json_loads_strict

__all__ = [
    "ChannelSimulator",
    "InProcessSimulatorAdapter",
    "Script",
    "clearing_rows",
    "parse_simulator_callback",
    "reset_simulators",
    "simulator",
]

SUBMIT_OUTCOMES = ("success", "failure", "timeout", "processing", "not_found", "error")
PAYOUT, COLLECTION = "payout", "collection"
# Merchant acquiring: a payer's payment to a merchant, and a refund of part or all of it.
PAYMENT, REFUND = "payment", "refund"
# What the channel's log calls a success of each kind.
LOG_EVENT = {PAYOUT: "paid", COLLECTION: "collected", PAYMENT: "payment", REFUND: "refund"}


@dataclass(frozen=True)
class Script:
    submit: str = "success"
    then: str = "success"
    delay: float | None = 0
    query_error: bool = False
    return_after: float | None = None

    def __post_init__(self):
        if self.submit not in SUBMIT_OUTCOMES:
            raise ValueError(f"unknown submit outcome {self.submit!r}")
        if self.then not in ("success", "failure"):
            raise ValueError(f"unknown eventual outcome {self.then!r}")

    @classmethod
    def from_dict(cls, data: dict) -> Script:
        known = {k: data[k] for k in ("submit", "then", "delay", "query_error", "return_after") if k in data}
        return cls(**known)


@dataclass
class Order:
    request_id: str
    kind: str
    amount: Decimal
    card_last4: str
    script: Script
    received_at: float
    txn_id: str
    outcome: str | None = None  # success | failure, once decided
    decided_at: float | None = None
    returned_at: float | None = None
    visible_from: float = 0.0
    submissions: int = 1
    parent: str = ""  # a refund's payment request id


@dataclass
class LogEntry:
    event: str  # paid | collected | returned
    request_id: str
    txn_id: str
    amount: Decimal
    at: float


@dataclass
class ChannelSimulator:
    code: str
    secret: str = ""
    default: Script = field(default_factory=Script)
    clock_offset: float = 0.0

    def __post_init__(self):
        self._lock = threading.RLock()
        self._orders: dict[str, Order] = {}
        self._scripts: dict[str, Script] = {}
        self._next: deque[Script] = deque()
        self.log: list[LogEntry] = []

    # -- scripting and time ------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.clock_offset += seconds

    def script(self, request_id: str, script: Script | None = None, **kwargs) -> None:
        with self._lock:
            self._scripts[request_id] = script or Script(**kwargs)

    def script_next(self, *scripts: Script, **kwargs) -> None:
        """Queue scripts for the next new requests, in order (one ``Script(**kwargs)`` if none given)."""
        with self._lock:
            self._next.extend(scripts or (Script(**kwargs),))

    def reset(self) -> None:
        with self._lock:
            self._orders.clear()
            self._scripts.clear()
            self._next.clear()
            self.log.clear()
            self.clock_offset = 0.0
            self.default = Script()

    # -- the channel's side -------------------------------------------------------------------

    def _txn_id(self, request_id: str) -> str:
        return "SIM" + hashlib.sha256(f"{self.code}:{request_id}".encode()).hexdigest()[:17].upper()

    def _decide(self, order: Order, outcome: str, at: float) -> None:
        if order.outcome is not None:
            return
        order.outcome, order.decided_at = outcome, at
        if outcome == "success" and order.kind == REFUND and not self._refundable(order):
            outcome = order.outcome = "failure"  # the channel's own cap: never more than was paid
        if outcome == "success":
            self.log.append(LogEntry(LOG_EVENT[order.kind], order.request_id, order.txn_id, order.amount, at))

    def _refundable(self, order: Order) -> bool:
        """A refund fits in what its payment collected, less the refunds already made."""
        payment = self._orders.get(order.parent)
        if payment is None or payment.kind != PAYMENT or payment.outcome != "success":
            return False
        refunded = sum(
            (
                o.amount
                for o in self._orders.values()
                if o is not order and o.kind == REFUND and o.parent == order.parent and o.outcome == "success"
            ),
            Decimal("0"),
        )
        return refunded + order.amount <= payment.amount

    def _advance(self, order: Order, now: float) -> None:
        script = order.script
        if order.outcome is None and script.submit in ("timeout", "processing", "not_found"):
            if script.delay is not None and now >= order.received_at + (script.delay or 0):
                self._decide(order, script.then, order.received_at + (script.delay or 0))
        if (
            order.outcome == "success"
            and order.kind == PAYOUT
            and script.return_after is not None
            and order.returned_at is None
            and now >= (order.decided_at or 0) + script.return_after
        ):
            order.returned_at = (order.decided_at or 0) + script.return_after
            self.log.append(LogEntry("returned", order.request_id, order.txn_id, order.amount, order.returned_at))

    def _answer(self, order: Order, now: float) -> ChannelAnswer:
        self._advance(order, now)
        if now < order.visible_from:
            return ChannelAnswer(ChannelStatus.NOT_FOUND, message="order not found")
        if order.outcome is None:
            return ChannelAnswer(ChannelStatus.PROCESSING, order.txn_id, order.amount, "processing")
        if order.returned_at is not None:
            return ChannelAnswer(ChannelStatus.RETURNED, order.txn_id, order.amount, "returned by the payee's bank")
        if order.outcome == "success":
            return ChannelAnswer(ChannelStatus.SUCCESS, order.txn_id, order.amount, "paid")
        return ChannelAnswer(ChannelStatus.FAILURE, order.txn_id, order.amount, "declined by the simulator")

    def submit(self, *, request_id: str, kind: str, amount, card_number: str = "", parent: str = "") -> ChannelAnswer:
        amount = to_money(amount)
        with self._lock:
            now = self.now()
            order = self._orders.get(request_id)
            if order is not None:
                order.submissions += 1
                if order.amount != amount:
                    return ChannelAnswer(ChannelStatus.FAILURE, message="request id reused with another amount")
                if now < order.visible_from:
                    raise ChannelUnavailableError("simulated timeout")
                return self._answer(order, now)
            script = self._scripts.get(request_id) or (self._next.popleft() if self._next else self.default)
            if script.submit == "error":
                self._scripts[request_id] = script
                raise ChannelUnavailableError("simulated channel error")
            order = Order(request_id, kind, amount, card_number[-4:], script, now, self._txn_id(request_id), parent=parent)
            self._orders[request_id] = order
            if script.submit in ("success", "failure"):
                self._decide(order, script.submit, now)
                return self._answer(order, now)
            if script.submit == "processing":
                return self._answer(order, now)
            if script.submit == "not_found":
                order.visible_from = float("inf") if script.delay is None else now + script.delay
            raise ChannelUnavailableError("simulated timeout")

    def query(self, *, request_id: str) -> ChannelAnswer:
        with self._lock:
            now = self.now()
            order = self._orders.get(request_id)
            script = order.script if order is not None else self._scripts.get(request_id)
            if script is not None and script.query_error:
                raise ChannelUnavailableError("simulated query error")
            if order is None:
                return ChannelAnswer(ChannelStatus.NOT_FOUND, message="order not found")
            return self._answer(order, now)

    # -- callbacks ----------------------------------------------------------------------------

    def callback(self, request_id: str, *, status: str | None = None, forge: bool = False, amount=None) -> dict:
        """The signed callback the channel would send for ``request_id`` (its current status, or
        ``status``); ``forge`` signs it with a wrong key. Tests post it (twice, out of order...)."""
        with self._lock:
            order = self._orders[request_id]
            if status is None:
                status = self._answer(order, self.now()).status.value
            payload = {
                "request_id": request_id,
                "channel_txn_id": order.txn_id,
                "status": status,
                "amount": f"{to_money(amount) if amount is not None else order.amount:.2f}",
                "timestamp": int(self.now()),
            }
        secret = ("forged:" + self.secret) if forge else self.secret
        payload["signature"] = callback_signature(secret, **{k: str(v) for k, v in payload.items()})
        return payload

    # -- the channel's books ------------------------------------------------------------------

    def settle(self) -> None:
        """Decide every order whose time has come (outcomes are otherwise decided when asked)."""
        with self._lock:
            now = self.now()
            for order in self._orders.values():
                self._advance(order, now)

    def net_paid(self) -> Decimal:
        """What the channel paid out and kept paid: payouts minus returns."""
        self.settle()
        with self._lock:
            paid = sum((e.amount for e in self.log if e.event == "paid"), Decimal("0"))
            returned = sum((e.amount for e in self.log if e.event == "returned"), Decimal("0"))
        return paid - returned

    def collected(self) -> Decimal:
        self.settle()
        with self._lock:
            return sum((e.amount for e in self.log if e.event == "collected"), Decimal("0"))

    def events(self, request_id: str | None = None) -> list[LogEntry]:
        self.settle()
        with self._lock:
            return [replace(e) for e in self.log if request_id is None or e.request_id == request_id]

    def clearing_file(self, business_date, *, cutoff) -> list[dict]:
        """The clearing file (清算文件) of ``business_date`` under the cut-off ``cutoff`` (a bank-time
        ``datetime.time``): every payment and refund the channel completed that business day."""
        self.settle()
        with self._lock:
            rows = []
            for entry in self.log:
                if entry.event not in (PAYMENT, REFUND):
                    continue
                day = business_date_with_cutoff(dt.datetime.fromtimestamp(entry.at, dt.UTC), cutoff)
                if day == business_date:
                    rows.append(
                        {
                            "channel_txn_id": entry.txn_id,
                            "request_id": entry.request_id,
                            "kind": entry.event,
                            "amount": f"{entry.amount:.2f}",
                            "business_date": day.isoformat(),
                        }
                    )
            return rows

    def orders(self) -> list[dict]:
        with self._lock:
            return [asdict(order) for order in self._orders.values()]


_SIMULATORS: dict[str, ChannelSimulator] = {}
_REGISTRY_LOCK = threading.Lock()


def simulator(code: str, *, secret: str | None = None) -> ChannelSimulator:
    """The process-wide simulator of channel ``code``."""
    with _REGISTRY_LOCK:
        sim = _SIMULATORS.get(code)
        if sim is None:
            sim = _SIMULATORS[code] = ChannelSimulator(code=code)
        if secret is not None:
            sim.secret = secret
        return sim


def reset_simulators() -> None:
    with _REGISTRY_LOCK:
        for sim in _SIMULATORS.values():
            sim.reset()


def parse_simulator_callback(channel, body: bytes) -> CallbackEvent:
    """Parse the simulator's JSON callback and verify its signature with the channel's key."""
    try:
        # The strict reader (duplicate keys, lone surrogates, NaN, deep nesting refused); a number stays its exact
        # text, never a float.
        payload = json_loads_strict(body or b"{}", parse_float=str)
        fields = {name: str(payload[name]) for name in ("request_id", "channel_txn_id", "status", "amount", "timestamp")}
        signature = str(payload["signature"])
        status = ChannelStatus(fields["status"])
        amount = to_money(fields["amount"])
        timestamp = int(fields["timestamp"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, MoneyError, AttributeError) as exc:
        raise CallbackInvalidError(f"unreadable callback: {exc}") from exc
    secret = channel.callback_secret
    expected = callback_signature(secret, **fields) if secret else ""
    if not secret or not _equal(expected, signature):
        raise CallbackInvalidError("bad signature")
    return CallbackEvent(fields["request_id"], fields["channel_txn_id"], status, amount, timestamp, payload)


def _equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


class InProcessSimulatorAdapter(ChannelAdapter):
    """The simulator in this process (eager Celery, the embedded demo)."""

    def __init__(self, channel):
        super().__init__(channel)
        self.sim = simulator(channel.code, secret=channel.callback_secret)

    def submit_payout(self, *, request_id, amount, card_number, holder_name) -> ChannelAnswer:
        return self.sim.submit(request_id=request_id, kind=PAYOUT, amount=amount, card_number=card_number)

    def submit_collection(self, *, request_id, amount, card_number, holder_name) -> ChannelAnswer:
        return self.sim.submit(request_id=request_id, kind=COLLECTION, amount=amount, card_number=card_number)

    def query(self, *, request_id) -> ChannelAnswer:
        return self.sim.query(request_id=request_id)

    def parse_callback(self, *, body: bytes, headers: dict) -> CallbackEvent:
        return parse_simulator_callback(self.channel, body)

    def create_payment(self, *, request_id, amount, method) -> ChannelAnswer:
        return self.sim.submit(request_id=request_id, kind=PAYMENT, amount=amount)

    def query_payment(self, *, request_id) -> ChannelAnswer:
        return self.sim.query(request_id=request_id)

    def refund(self, *, request_id, payment_request_id, amount) -> ChannelAnswer:
        return self.sim.submit(request_id=request_id, kind=REFUND, amount=amount, parent=payment_request_id)

    def query_refund(self, *, request_id) -> ChannelAnswer:
        return self.sim.query(request_id=request_id)

    def clearing_file(self, *, business_date) -> list[ClearingRow]:
        return clearing_rows(self.sim.clearing_file(business_date, cutoff=self.channel.cutoff_time))


def clearing_rows(rows: list[dict]) -> list[ClearingRow]:
    """The simulator's clearing-file lines as ``ClearingRow`` (the HTTP adapter reads the same JSON)."""
    return [
        ClearingRow(
            channel_txn_id=str(row["channel_txn_id"]),
            request_id=str(row["request_id"]),
            kind=str(row["kind"]),
            amount=to_money(str(row["amount"])),
            business_date=dt.date.fromisoformat(str(row["business_date"])),
        )
        for row in rows
    ]
