"""The simulator channel over HTTP: a small JSON server around one ``ChannelSimulator``, the
adapter the bank uses to talk to it, and a client tests use to script it.

The engine (``accounts.payments.simulator``) decides every outcome; this module only carries it over
HTTP, so a Celery worker in another process pays through the same simulator the test scripts
and reads. Run it with ``manage.py run_channel_simulator --port P``.

Endpoints (JSON in and out, amounts as strings ``"12.34"``):

==========================  =====================================================================
``POST /payouts``           submit a payout ``{request_id, amount, card_number, holder_name}``
``POST /collections``       submit a collection (same body)
``GET /orders/<id>``        status query; ``GET /orders``: every order
``POST /script``            ``{"request_id": ..., <Script fields>}`` for one request,
                            ``{"next": [{...}, ...]}`` for the next new requests in order,
                            ``{"default": {...}}``, ``{"default": "failure"}`` or
                            ``{"default": "random", "seed": 7, "weights": {...}}``
``POST /advance``           ``{"seconds": 30}``: move the simulator's clock
``POST /reset``             forget every order, script and log entry; back to the startup default
``GET /log``                the channel's own books: paid / collected / returned entries, net_paid
``POST /callbacks/<id>``    the signed callback payload for that order (``{"status", "forge",
                            "amount"}`` optional), for a test to post to the bank
``GET /deliveries``         callbacks sent to ``callback_url`` (auto-delivery), with HTTP statuses
``GET /health``             ``{"ok": true, "code": ...}``
==========================  =====================================================================

Answers: ``200 {"status", "channel_txn_id", "amount", "message"}``. A submission scripted
``timeout`` or ``not_found`` gets no answer: by default ``504`` at once (``timeout_mode="504"``),
or the connection is closed without a response (``"close"``), or the server waits
``hang_seconds`` before closing (``"hang"``: a real client-side timeout). A channel that is down
(``error``, ``query_error``) answers ``503``. ``HttpSimulatorAdapter`` turns all of these, and
any connection error, into ``ChannelUnavailableError``: the outcome is unknown, never a failure.

Random mode (load runs): each new request id draws its script from ``weights`` with a generator
seeded by ``(seed, request_id)``, so one seed gives every request the same outcome on every run,
whatever the order in which requests arrive. Kinds: ``success``, ``failure``, ``timeout``,
``processing``, ``not_found`` (the eventual outcome ``success`` with probability
``success_ratio``, after up to ``max_delay`` seconds), ``lost`` (never found: the bank fails it
after the channel's grace period), ``returned`` (paid, returned up to ``max_delay`` seconds
later), ``error`` and ``query_error`` (stay unknown forever: not in the default weights).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

from accounts.payments.channels import (
    DEFINITIVE,
    CallbackEvent,
    ChannelAdapter,
    ChannelAnswer,
    ChannelStatus,
    ChannelUnavailableError,
    ClearingRow,
)
from accounts.payments.simulator import (
    COLLECTION,
    PAYMENT,
    PAYOUT,
    REFUND,
    ChannelSimulator,
    Script,
    clearing_rows,
    parse_simulator_callback,
)
from backoffice.money import MoneyError, to_money

__all__ = [
    "HttpSimulatorAdapter",
    "RandomOutcomes",
    "SimulatorClient",
    "SimulatorServer",
    "start_simulator_server",
]

TIMEOUT_MODES = ("504", "close", "hang")
RANDOM_KINDS = ("success", "failure", "timeout", "processing", "not_found", "lost", "returned", "error", "query_error")
DEFAULT_WEIGHTS = {"success": 5, "failure": 2, "timeout": 2, "processing": 2, "not_found": 1, "lost": 1, "returned": 1}

# Direct connections only: a proxy from the environment must not sit between the bank and a
# simulator on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _money_text(value) -> str | None:
    return None if value is None else f"{to_money(value):.2f}"


def _answer_json(answer: ChannelAnswer) -> dict:
    return {
        "status": answer.status.value,
        "channel_txn_id": answer.channel_txn_id,
        "amount": _money_text(answer.amount),
        "message": answer.message,
    }


@dataclass
class RandomOutcomes:
    """Draws a script per request id, deterministically from ``(seed, request_id)``."""

    seed: int | str | None = None
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    max_delay: float = 2.0
    success_ratio: float = 0.7

    def __post_init__(self):
        unknown = set(self.weights) - set(RANDOM_KINDS)
        if unknown:
            raise ValueError(f"unknown random outcome kinds {sorted(unknown)}; choose from {', '.join(RANDOM_KINDS)}")
        if not any(float(w) > 0 for w in self.weights.values()) or any(float(w) < 0 for w in self.weights.values()):
            raise ValueError("weights must be non-negative, at least one positive")
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(2**32)
        self.max_delay = float(self.max_delay)
        self.success_ratio = float(self.success_ratio)

    def draw(self, request_id: str) -> Script:
        rng = random.Random(f"{self.seed}:{request_id}")
        kinds = [k for k in RANDOM_KINDS if float(self.weights.get(k, 0)) > 0]
        kind = rng.choices(kinds, weights=[float(self.weights[k]) for k in kinds])[0]
        then = "success" if rng.random() < self.success_ratio else "failure"
        delay = round(rng.uniform(0, self.max_delay), 3)
        if kind in ("success", "failure"):
            return Script(submit=kind)
        if kind in ("timeout", "processing", "not_found"):
            return Script(submit=kind, then=then, delay=delay)
        if kind == "lost":
            return Script(submit="not_found", delay=None)
        if kind == "returned":
            return Script(submit="success", return_after=delay)
        if kind == "error":
            return Script(submit="error")
        return Script(submit="timeout", then=then, delay=delay, query_error=True)  # only a callback can tell

    def describe(self) -> dict:
        return {"seed": self.seed, "weights": self.weights, "max_delay": self.max_delay, "success_ratio": self.success_ratio}


class _RefusedError(Exception):
    """A request the simulator cannot read: answered 400 (or 404) with a message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class SimulatorServer(ThreadingHTTPServer):
    """The HTTP face of one ``ChannelSimulator``. ``serve_forever()`` in a thread or a command."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        code: str = "sim",
        secret: str = "",
        default: Script | str | None = None,
        random_outcomes: RandomOutcomes | None = None,
        timeout_mode: str = "504",
        hang_seconds: float = 30.0,
        latency: float = 0.0,
        callback_url: str = "",
        callback_duplicates: int = 1,
        callback_interval: float = 0.2,
        quiet: bool = True,
    ):
        if timeout_mode not in TIMEOUT_MODES:
            raise ValueError(f"timeout_mode must be one of {TIMEOUT_MODES}")
        super().__init__(address, _Handler)
        self.sim = ChannelSimulator(code=code, secret=secret)
        self.timeout_mode, self.hang_seconds, self.latency, self.quiet = timeout_mode, float(hang_seconds), float(latency), quiet
        self._startup = (self._script_or_none(default), random_outcomes)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.callback_url = callback_url
        self.callback_duplicates = max(1, int(callback_duplicates))
        self.callback_interval = float(callback_interval)
        self._deliveries: list[dict] = []
        self._delivered: set[tuple[str, str]] = set()
        self._delivery_thread: threading.Thread | None = None
        self._serve_thread: threading.Thread | None = None
        self._apply_startup()

    # -- configuration ------------------------------------------------------------------------

    @staticmethod
    def _script_or_none(default) -> Script | None:
        if default is None or isinstance(default, Script):
            return default
        if isinstance(default, str):
            return Script(submit=default)
        return Script.from_dict(default)

    def _apply_startup(self) -> None:
        default, random_outcomes = self._startup
        with self._lock:
            self.sim.default = default or Script()
            self.random = random_outcomes
            self._next: deque[Script] = deque()
            self._explicit: set[str] = set()
            self._seen: set[str] = set()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        self.sim.reset()
        self._apply_startup()
        with self._lock:
            self._deliveries.clear()
            self._delivered.clear()

    def set_script(self, request_id: str, script: Script) -> None:
        with self._lock:
            self._explicit.add(request_id)
        self.sim.script(request_id, script)

    def set_next(self, scripts: list[Script]) -> None:
        with self._lock:
            self._next.extend(scripts)

    def set_default(self, script: Script | None = None, random_outcomes: RandomOutcomes | None = None) -> None:
        with self._lock:
            self.random = random_outcomes
            if script is not None:
                self.sim.default = script

    def _assign_script(self, request_id: str) -> None:
        """On a request id's first submission: the next queued script, else a random draw."""
        with self._lock:
            if request_id in self._seen:
                return
            self._seen.add(request_id)
            if request_id in self._explicit:
                return
            script = self._next.popleft() if self._next else (self.random.draw(request_id) if self.random else None)
        if script is not None:
            self.sim.script(request_id, script)

    # -- the channel's side -------------------------------------------------------------------

    def submit(self, kind: str, body: dict) -> ChannelAnswer:
        request_id = str(body.get("request_id") or "").strip()
        if not request_id:
            raise _RefusedError("request_id is required")
        try:
            amount = to_money(body.get("amount"))
            if not isinstance(body.get("amount"), str):
                raise MoneyError('amount must be a string such as "12.34"')
        except MoneyError as exc:
            raise _RefusedError(f"amount: {exc}") from exc
        if amount <= 0:
            raise _RefusedError("amount must be positive")
        self._assign_script(request_id)
        return self.sim.submit(
            request_id=request_id,
            kind=kind,
            amount=amount,
            card_number=str(body.get("card_number", "")),
            parent=str(body.get("payment_request_id") or ""),
        )

    def settle_clock(self) -> None:
        """Let every order reach the state its script gives it by now (the engine decides lazily,
        when asked), so the log shows everything the channel has paid or had returned."""
        for order in self.sim.orders():
            self.sim.callback(order["request_id"])

    def log_json(self) -> dict:
        self.settle_clock()
        entries = [
            {"event": e.event, "request_id": e.request_id, "txn_id": e.txn_id, "amount": f"{e.amount:.2f}", "at": e.at}
            for e in self.sim.events()
        ]

        def total(event: str) -> Decimal:
            return sum((e.amount for e in self.sim.events() if e.event == event), Decimal("0"))

        return {
            "code": self.sim.code,
            "entries": entries,
            "paid": f"{total('paid'):.2f}",
            "returned": f"{total('returned'):.2f}",
            "collected": f"{self.sim.collected():.2f}",
            "net_paid": f"{self.sim.net_paid():.2f}",
        }

    def orders_json(self) -> list[dict]:
        rows = []
        for order in self.sim.orders():
            script = order.pop("script")
            order["amount"] = f"{order['amount']:.2f}"
            order["script"] = script
            if order["visible_from"] == float("inf"):
                order["visible_from"] = None
            rows.append(order)
        return rows

    # -- callbacks ----------------------------------------------------------------------------

    def deliveries(self) -> list[dict]:
        with self._lock:
            return [dict(d) for d in self._deliveries]

    def _post_callback(self, payload: dict) -> int:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            self.callback_url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "X-Simulator-Code": self.sim.code},
        )
        try:
            with _OPENER.open(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (OSError, http.client.HTTPException):
            return 0

    def _deliver_once(self, pool: ThreadPoolExecutor) -> None:
        due = []
        for order in self.sim.orders():
            payload = self.sim.callback(order["request_id"])
            key = (payload["request_id"], payload["status"])
            if ChannelStatus(payload["status"]) in DEFINITIVE and key not in self._delivered:
                due.append((key, payload))
        for key, payload in due:
            # The duplicates go out together, concurrently: the bank must apply the event once.
            statuses = list(pool.map(self._post_callback, [payload] * self.callback_duplicates))
            ok = any(200 <= s < 300 for s in statuses)
            with self._lock:
                if ok:
                    self._delivered.add(key)
                self._deliveries.append({"request_id": key[0], "status": key[1], "http_statuses": statuses})

    def _deliver_loop(self) -> None:
        with ThreadPoolExecutor(max_workers=max(2, self.callback_duplicates), thread_name_prefix="sim-callback") as pool:
            while not self._stopping.wait(self.callback_interval):
                try:
                    self._deliver_once(pool)
                except Exception as exc:  # noqa: BLE001 - keep delivering; a test reads /deliveries
                    with self._lock:
                        self._deliveries.append({"error": repr(exc)})

    # -- running ------------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        if self.callback_url and self._delivery_thread is None:
            self._delivery_thread = threading.Thread(target=self._deliver_loop, name="sim-deliveries", daemon=True)
            self._delivery_thread.start()
        super().serve_forever(poll_interval)

    def start(self) -> SimulatorServer:
        """Serve in a daemon thread (tests); ``stop()`` ends it."""
        self._serve_thread = threading.Thread(target=self.serve_forever, name=f"sim-{self.sim.code}", daemon=True)
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.shutdown()
        self.server_close()
        if self._delivery_thread is not None:
            self._delivery_thread.join(timeout=5)

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops (a hanging request must not outlive it)."""
        self._stopping.wait(seconds)


def start_simulator_server(host: str = "127.0.0.1", port: int = 0, **options) -> SimulatorServer:
    return SimulatorServer((host, port), **options).start()


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    server_version = "ChannelSimulator/1"

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        if not self.server.quiet:
            super().log_message(format, *args)

    # -- plumbing -----------------------------------------------------------------------------

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            data = json.loads(raw.decode())  # the simulator's own side: it refuses a number as an amount
        except (ValueError, UnicodeDecodeError) as exc:
            raise _RefusedError(f"the body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise _RefusedError("the body must be a JSON object")
        return data

    def _send(self, status: int, data) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _no_answer(self, exc: ChannelUnavailableError) -> None:
        message = str(exc)
        if "error" in message:  # the channel is down: it says so at once
            self._send(503, {"error": "unavailable", "message": message})
            return
        mode = self.server.timeout_mode
        if mode == "hang":
            self.server.wait(self.server.hang_seconds)
        if mode in ("hang", "close"):
            self.close_connection = True
            return  # nothing written: the client sees the connection closed (or times out first)
        self._send(504, {"error": "timeout", "message": message})

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if self.server.latency and parts[0] in ("payouts", "collections", "orders"):
            self.server.wait(self.server.latency)
        try:
            data = self._dispatch(method, parts)
        except _RefusedError as exc:
            self._send(exc.status, {"error": "refused", "message": str(exc)})
        except ChannelUnavailableError as exc:
            self._no_answer(exc)
        else:
            self._send(200, data)

    def do_GET(self):  # noqa: N802 - the stdlib's name
        self._route("GET")

    def do_POST(self):  # noqa: N802 - the stdlib's name
        self._route("POST")

    # -- the routes ---------------------------------------------------------------------------

    def _dispatch(self, method: str, parts: list[str]):
        server, sim = self.server, self.server.sim
        match method, parts:
            case "GET", ["health"]:
                return {"ok": True, "code": sim.code, "random": server.random.describe() if server.random else None}
            case "POST", ["payouts"]:
                return _answer_json(server.submit(PAYOUT, self._body()))
            case "POST", ["collections"]:
                return _answer_json(server.submit(COLLECTION, self._body()))
            case "POST", ["payments"]:
                return _answer_json(server.submit(PAYMENT, self._body()))
            case "POST", ["refunds"]:
                return _answer_json(server.submit(REFUND, self._body()))
            case "GET", ["clearing-files", day]:
                try:
                    business_date = dt.date.fromisoformat(day)
                    cutoff = dt.time.fromisoformat(parse_qs(urlsplit(self.path).query).get("cutoff", ["00:00"])[0])
                except ValueError as exc:
                    raise _RefusedError(f"clearing file: {exc}") from exc
                return {"rows": sim.clearing_file(business_date, cutoff=cutoff)}
            case "GET", ["orders"]:
                return {"orders": server.orders_json()}
            case "GET", ["orders", request_id]:
                return _answer_json(sim.query(request_id=request_id))
            case "POST", ["script"]:
                return self._script(self._body())
            case "POST", ["advance"]:
                try:
                    seconds = float(self._body().get("seconds", 0))
                except (TypeError, ValueError) as exc:
                    raise _RefusedError("seconds must be a number") from exc
                sim.advance(seconds)
                return {"ok": True, "now": sim.now()}
            case "POST", ["reset"]:
                server.reset()
                return {"ok": True}
            case "GET", ["log"]:
                return server.log_json()
            case "GET", ["deliveries"]:
                return {"deliveries": server.deliveries()}
            case "POST", ["callbacks", request_id]:
                body = self._body()
                try:
                    return sim.callback(
                        request_id, status=body.get("status"), forge=bool(body.get("forge")), amount=body.get("amount")
                    )
                except KeyError as exc:
                    raise _RefusedError(f"no order {request_id}", status=404) from exc
                except MoneyError as exc:
                    raise _RefusedError(f"amount: {exc}") from exc
        raise _RefusedError(f"no route {method} /{'/'.join(parts)}", status=404)

    def _script(self, body: dict) -> dict:
        server = self.server
        try:
            if "request_id" in body:
                server.set_script(str(body["request_id"]), Script.from_dict(body))
            elif "next" in body:
                items = body["next"] if isinstance(body["next"], list) else [body["next"]]
                server.set_next([Script.from_dict(item) for item in items])
            elif "default" in body:
                default = body["default"]
                if default == "random":
                    params = {k: body[k] for k in ("seed", "weights", "max_delay", "success_ratio") if k in body}
                    server.set_default(random_outcomes=RandomOutcomes(**params))
                elif isinstance(default, str):
                    server.set_default(Script(submit=default))
                else:
                    server.set_default(Script.from_dict(default))
            else:
                raise _RefusedError("give request_id, next or default")
        except (TypeError, ValueError, AttributeError) as exc:
            raise _RefusedError(str(exc)) from exc
        return {"ok": True}


# -- the bank's side ------------------------------------------------------------------------------


class HttpSimulatorAdapter(ChannelAdapter):
    """Talks to a simulator server at ``channel.base_url`` with ``channel.timeout_seconds``.

    Any transport problem, timeout, non-200 answer or unreadable body raises
    ChannelUnavailableError: the outcome is unknown, never a failure."""

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        base = (self.channel.base_url or "").rstrip("/")
        if not base:
            raise ChannelUnavailableError(f"channel {self.channel.code} has no base URL")
        request = urllib.request.Request(
            base + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=self.channel.timeout_seconds or 10) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ChannelUnavailableError(f"{self.channel.code}: HTTP {exc.code} on {method} {path}") from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise ChannelUnavailableError(f"{self.channel.code}: no answer on {method} {path} ({exc!r})") from exc
        try:
            payload = json.loads(raw.decode(), parse_float=str)  # a number stays its exact text, never a float
            amount = payload.get("amount")
            return {
                "status": ChannelStatus(payload["status"]),
                "channel_txn_id": str(payload.get("channel_txn_id") or ""),
                "amount": to_money(str(amount)) if amount not in (None, "") else None,
                "message": str(payload.get("message") or ""),
                "raw": payload,
            }
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise ChannelUnavailableError(f"{self.channel.code}: unreadable answer to {method} {path}: {exc}") from exc

    def _submit(self, path: str, *, request_id, amount, card_number, holder_name) -> ChannelAnswer:
        body = {"request_id": request_id, "amount": _money_text(amount), "card_number": card_number, "holder_name": holder_name}
        return ChannelAnswer(**self._call("POST", path, body))

    def submit_payout(self, *, request_id, amount, card_number, holder_name) -> ChannelAnswer:
        return self._submit("/payouts", request_id=request_id, amount=amount, card_number=card_number, holder_name=holder_name)

    def submit_collection(self, *, request_id, amount, card_number, holder_name) -> ChannelAnswer:
        return self._submit(
            "/collections", request_id=request_id, amount=amount, card_number=card_number, holder_name=holder_name
        )

    def query(self, *, request_id) -> ChannelAnswer:
        return ChannelAnswer(**self._call("GET", f"/orders/{quote(request_id, safe='')}"))

    def parse_callback(self, *, body: bytes, headers: dict) -> CallbackEvent:
        return parse_simulator_callback(self.channel, body)

    def create_payment(self, *, request_id, amount, method) -> ChannelAnswer:
        body = {"request_id": request_id, "amount": _money_text(amount), "method": method}
        return ChannelAnswer(**self._call("POST", "/payments", body))

    def query_payment(self, *, request_id) -> ChannelAnswer:
        return self.query(request_id=request_id)

    def refund(self, *, request_id, payment_request_id, amount) -> ChannelAnswer:
        body = {"request_id": request_id, "amount": _money_text(amount), "payment_request_id": payment_request_id}
        return ChannelAnswer(**self._call("POST", "/refunds", body))

    def query_refund(self, *, request_id) -> ChannelAnswer:
        return self.query(request_id=request_id)

    def clearing_file(self, *, business_date) -> list[ClearingRow]:
        base = (self.channel.base_url or "").rstrip("/")
        if not base:
            raise ChannelUnavailableError(f"channel {self.channel.code} has no base URL")
        cutoff = self.channel.cutoff_time.strftime("%H:%M")
        url = f"{base}/clearing-files/{business_date.isoformat()}?cutoff={quote(cutoff)}"
        try:
            with _OPENER.open(urllib.request.Request(url, method="GET"), timeout=self.channel.timeout_seconds or 10) as response:
                payload = json.loads(response.read().decode(), parse_float=str)
            return clearing_rows(payload["rows"])
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
            raise ChannelUnavailableError(f"{self.channel.code}: no clearing file for {business_date} ({exc!r})") from exc


# -- the test's side ------------------------------------------------------------------------------


class SimulatorClient:
    """Scripts, reads and drives a simulator server (tests, load runs)."""

    def __init__(self, base_url: str, *, timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body if body is not None else {}).encode() if method == "POST" else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise RuntimeError(f"simulator {method} {path}: HTTP {exc.code} {detail}") from exc

    @staticmethod
    def _script_dict(script: Script | dict | None, fields: dict) -> dict:
        if isinstance(script, Script):
            return {k: getattr(script, k) for k in ("submit", "then", "delay", "query_error", "return_after")}
        return {**(script or {}), **fields}

    def health(self) -> dict:
        return self._call("GET", "/health")

    def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.health()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def script(self, request_id: str, script: Script | dict | None = None, **fields) -> None:
        self._call("POST", "/script", {"request_id": request_id, **self._script_dict(script, fields)})

    def script_next(self, *scripts: Script | dict, **fields) -> None:
        items = [self._script_dict(s, {}) for s in scripts] or [fields]
        self._call("POST", "/script", {"next": items})

    def script_default(self, script: Script | dict | None = None, **fields) -> None:
        self._call("POST", "/script", {"default": self._script_dict(script, fields)})

    def random(self, *, seed=None, weights: dict | None = None, max_delay: float | None = None, success_ratio=None) -> None:
        body = {"default": "random", "seed": seed, "weights": weights, "max_delay": max_delay, "success_ratio": success_ratio}
        self._call("POST", "/script", {k: v for k, v in body.items() if v is not None})

    def advance(self, seconds: float) -> None:
        self._call("POST", "/advance", {"seconds": seconds})

    def reset(self) -> None:
        self._call("POST", "/reset")

    def order(self, request_id: str) -> dict:
        return self._call("GET", f"/orders/{quote(request_id, safe='')}")

    def orders(self) -> list[dict]:
        return self._call("GET", "/orders")["orders"]

    def log(self) -> dict:
        """The channel's books, amounts as Decimal."""
        data = self._call("GET", "/log")
        for entry in data["entries"]:
            entry["amount"] = Decimal(entry["amount"])
        for key in ("paid", "returned", "collected", "net_paid"):
            data[key] = Decimal(data[key])
        return data

    def net_paid(self) -> Decimal:
        return self.log()["net_paid"]

    def events(self, request_id: str | None = None) -> list[dict]:
        return [e for e in self.log()["entries"] if request_id is None or e["request_id"] == request_id]

    def callback(self, request_id: str, *, status: str | None = None, forge: bool = False, amount=None) -> dict:
        body = {"status": status, "forge": forge, "amount": _money_text(amount)}
        return self._call("POST", f"/callbacks/{quote(request_id, safe='')}", {k: v for k, v in body.items() if v})

    def callback_body(self, request_id: str, **options) -> bytes:
        return json.dumps(self.callback(request_id, **options)).encode()

    def deliveries(self) -> list[dict]:
        return self._call("GET", "/deliveries")["deliveries"]
