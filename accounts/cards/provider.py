"""The verification provider: element checks (四要素 / 五要素) and micro-deposits (小额鉴权).

``get_provider()`` returns the provider named by ``ACCOUNTS_VERIFICATION_PROVIDER`` (a dotted
path). Services call it **outside** any database transaction; a provider never touches the
database. Every call is keyed so that repeating it is safe: ``send_micro_deposit`` by a request
id derived from the business id, which the channel de-duplicates.

The shipped ``SimulatorProvider`` is deterministic. Its answers are scripted by the four digits
before a card number's check digit (``card_number[-5:-1]``), or per card number / request id in
``simulator`` (an in-memory script that tests set and ``simulator.reset()`` clears):

=========  =====================================================================
digits     answer
=========  =====================================================================
``4040``   elements rejected by the bound bank
``4041``   elements "confirmed", but by a third party, not the bound bank
``4042``   confirmed; the bank says the account is a Class II/III account
``5050``   element check outcome unknown (timeout)
``7070``   micro-deposit send refused (failed)
``8080``   send outcome unknown; a query then finds it sent
``8081``   send outcome unknown; a query then finds it failed
``8082``   send outcome unknown; queries keep answering unknown
``8083``   send outcome unknown; queries answer not found
other      confirmed by the bound bank; send accepted; query answers sent
=========  =====================================================================
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from django.utils.module_loading import import_string

from accounts import conf

__all__ = [
    "ElementsResult",
    "QueryResult",
    "SendResult",
    "SimulatorProvider",
    "VerificationProvider",
    "get_provider",
    "simulator",
]

# Outcomes
CONFIRMED, REJECTED, UNKNOWN = "confirmed", "rejected", "unknown"
BOUND_BANK, THIRD_PARTY = "bound_bank", "third_party"
ACCEPTED, FAILED = "accepted", "failed"
SENT, NOT_FOUND = "sent", "not_found"


@dataclass(frozen=True)
class ElementsResult:
    """The answer to an element check. ``bound_account_kind`` is what the bank says the bound
    account is (class_i, credit_card, class_ii_iii, ...), when it says."""

    outcome: str  # confirmed | rejected | unknown
    verifier: str = BOUND_BANK  # bound_bank | third_party
    bound_account_kind: str = ""
    reason: str = ""


@dataclass(frozen=True)
class SendResult:
    outcome: str  # accepted | failed | unknown
    channel_ref: str = ""
    reason: str = ""


@dataclass(frozen=True)
class QueryResult:
    outcome: str  # sent | failed | not_found | unknown
    channel_ref: str = ""
    reason: str = ""


@dataclass(frozen=True)
class CardRef:
    """What a provider needs to pay a card: number, holder name, bank."""

    card_number: str
    holder_name: str
    bank_name: str = ""


class VerificationProvider(Protocol):
    def verify_elements(
        self,
        *,
        name: str,
        id_number: str,
        card_number: str,
        reserved_mobile: str,
        bound_account_kind: str,
        elements: int,
    ) -> ElementsResult:
        """Check 4 elements (name, ID, card, reserved mobile) or 5 (+ the bound account's kind)."""
        ...

    def send_micro_deposit(self, *, request_id: str, card: CardRef, amount: Decimal) -> SendResult:
        """Pay ``amount`` to the card. The same ``request_id`` is never paid twice by the channel."""
        ...

    def query_micro_deposit(self, *, request_id: str) -> QueryResult:
        """What became of the send with ``request_id``."""
        ...


@functools.cache
def _provider_class(path: str):
    return import_string(path)


def get_provider() -> VerificationProvider:
    return _provider_class(conf.provider_path())()


# -- the simulator ---------------------------------------------------------------------------


@dataclass
class _Script:
    """The simulator's in-memory state: scripted answers and a record of every call."""

    elements: dict[str, ElementsResult] = field(default_factory=dict)  # by card number
    sends: dict[str, SendResult] = field(default_factory=dict)  # by card number
    queries: dict[str, list[QueryResult]] = field(default_factory=dict)  # by request id, consumed in order
    calls: list[tuple] = field(default_factory=list)
    submitted: dict[str, tuple[str, Decimal, str]] = field(default_factory=dict)  # request id → (card, amount, outcome)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.elements.clear()
            self.sends.clear()
            self.queries.clear()
            self.calls.clear()
            self.submitted.clear()

    def script_elements(self, card_number: str, result: ElementsResult) -> None:
        self.elements[card_number] = result

    def script_send(self, card_number: str, result: SendResult) -> None:
        self.sends[card_number] = result

    def script_queries(self, request_id: str, *results: QueryResult) -> None:
        self.queries[request_id] = list(results)

    def calls_of(self, method: str) -> list[tuple]:
        return [call for call in self.calls if call[0] == method]


simulator = _Script()


def _digits(card_number: str) -> str:
    return card_number[-5:-1]


_QUERY_AFTER_UNKNOWN = {"8080": SENT, "8081": FAILED, "8082": UNKNOWN, "8083": NOT_FOUND}


class SimulatorProvider:
    """A deterministic stand-in for the bound bank and the payment channel (tests and the demo)."""

    def verify_elements(
        self,
        *,
        name: str,
        id_number: str,
        card_number: str,
        reserved_mobile: str,
        bound_account_kind: str,
        elements: int,
    ) -> ElementsResult:
        simulator.calls.append(("verify_elements", card_number, elements, bound_account_kind))
        scripted = simulator.elements.get(card_number)
        if scripted is not None:
            return scripted
        digits = _digits(card_number)
        if digits == "4040":
            return ElementsResult(REJECTED, BOUND_BANK, reason="elements_mismatch")
        if digits == "4041":
            return ElementsResult(CONFIRMED, THIRD_PARTY, bound_account_kind=bound_account_kind)
        if digits == "4042":
            return ElementsResult(CONFIRMED, BOUND_BANK, bound_account_kind="class_ii_iii")
        if digits == "5050":
            return ElementsResult(UNKNOWN, BOUND_BANK, reason="timeout")
        return ElementsResult(CONFIRMED, BOUND_BANK, bound_account_kind=bound_account_kind)

    def send_micro_deposit(self, *, request_id: str, card: CardRef, amount: Decimal) -> SendResult:
        simulator.calls.append(("send_micro_deposit", request_id, card.card_number, amount))
        with simulator.lock:
            previous = simulator.submitted.get(request_id)
            if previous is not None:  # the channel de-duplicates by request id
                return SendResult(previous[2], channel_ref=f"SIM{request_id}")
            scripted = simulator.sends.get(card.card_number)
            if scripted is not None:
                result = scripted
            elif _digits(card.card_number) == "7070":
                result = SendResult(FAILED, reason="card_not_accepting")
            elif _digits(card.card_number) in _QUERY_AFTER_UNKNOWN:
                result = SendResult(UNKNOWN, reason="timeout")
            else:
                result = SendResult(ACCEPTED, channel_ref=f"SIM{request_id}")
            simulator.submitted[request_id] = (card.card_number, amount, result.outcome)
            return result

    def query_micro_deposit(self, *, request_id: str) -> QueryResult:
        simulator.calls.append(("query_micro_deposit", request_id))
        with simulator.lock:
            scripted = simulator.queries.get(request_id)
            if scripted:
                return scripted.pop(0) if len(scripted) > 1 else scripted[0]
            submitted = simulator.submitted.get(request_id)
        if submitted is None:
            return QueryResult(NOT_FOUND)
        card_number, _amount, outcome = submitted
        if outcome == ACCEPTED:
            return QueryResult(SENT, channel_ref=f"SIM{request_id}")
        if outcome == FAILED:
            return QueryResult(FAILED)
        return QueryResult(_QUERY_AFTER_UNKNOWN.get(_digits(card_number), SENT), channel_ref=f"SIM{request_id}")
