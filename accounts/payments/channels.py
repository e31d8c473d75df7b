"""Payment channels: the adapter interface the withdrawal and recharge services talk to.

An adapter sends a payout (withdrawal) or a collection (recharge), asks for the status of a
request, and parses and verifies a callback. It never touches the database: the services call
it outside any transaction, with a request id derived from the business id (``WD…``/``RC…``),
so submitting the same request again can never pay twice. Adapters are chosen per channel row
(``Channel.adapter``) from ``ADAPTERS``.

Answers use the channel's status vocabulary mapped to ``ChannelStatus``: ``success`` and
``failure`` are definitive; ``processing`` and ``not_found`` are not (R-WD-03); ``returned`` is
a return (退票) after a success. A transport error or timeout raises ``ChannelUnavailableError``:
the outcome is unknown, never a failure.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from django.db import transaction
from django.utils.module_loading import import_string

__all__ = [
    "ADAPTERS",
    "CallbackEvent",
    "CallbackInvalidError",
    "ChannelAdapter",
    "ChannelAnswer",
    "ChannelStatus",
    "ChannelUnavailableError",
    "ClearingRow",
    "adapter_for",
    "assert_outside_transaction",
    "callback_signature",
]


class ChannelStatus(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    PROCESSING = "processing"
    NOT_FOUND = "not_found"
    RETURNED = "returned"


DEFINITIVE = frozenset({ChannelStatus.SUCCESS, ChannelStatus.FAILURE, ChannelStatus.RETURNED})


class ChannelUnavailableError(Exception):
    """The channel could not be reached or did not answer in time: the outcome is unknown."""


class CallbackInvalidError(Exception):
    """A callback whose signature does not verify, or which cannot be parsed."""


@dataclass(frozen=True)
class ChannelAnswer:
    status: ChannelStatus
    channel_txn_id: str = ""
    amount: Decimal | None = None
    message: str = ""
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CallbackEvent:
    request_id: str
    channel_txn_id: str
    status: ChannelStatus
    amount: Decimal
    timestamp: int
    payload: dict


class ChannelAdapter:
    """The interface. ``channel`` is the ``accounts.Channel`` row (code, base URL, secret, timeout)."""

    def __init__(self, channel):
        self.channel = channel

    def submit_payout(self, *, request_id: str, amount: Decimal, card_number: str, holder_name: str) -> ChannelAnswer:
        raise NotImplementedError

    def submit_collection(self, *, request_id: str, amount: Decimal, card_number: str, holder_name: str) -> ChannelAnswer:
        raise NotImplementedError

    def query(self, *, request_id: str) -> ChannelAnswer:
        raise NotImplementedError

    def parse_callback(self, *, body: bytes, headers: dict) -> CallbackEvent:
        """Parse and verify a callback (a payout's, a collection's, a payment's or a refund's: the
        request id's prefix tells which); raises CallbackInvalidError."""
        raise NotImplementedError

    # Merchant acquiring (merchants): a payer pays a merchant's order, and the merchant refunds it.

    def create_payment(self, *, request_id: str, amount: Decimal, method: str) -> ChannelAnswer:
        """Create (and, for the simulator, run) a payment order of ``amount`` (what the payer pays)."""
        raise NotImplementedError

    def query_payment(self, *, request_id: str) -> ChannelAnswer:
        raise NotImplementedError

    def refund(self, *, request_id: str, payment_request_id: str, amount: Decimal) -> ChannelAnswer:
        """Ask for ``amount`` of cash back to the payer of ``payment_request_id``. The answer means at
        most "accepted": success is recorded only from a query or a callback (R-REF-03)."""
        raise NotImplementedError

    def query_refund(self, *, request_id: str) -> ChannelAnswer:
        raise NotImplementedError

    def clearing_file(self, *, business_date: dt.date) -> list[ClearingRow]:
        """The channel's clearing file for ``business_date`` (its own 日切, ``Channel.cutoff_time``)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ClearingRow:
    """One line of a channel's clearing file (清算文件) for a business date: what the channel says it
    collected (``payment``) or gave back (``refund``) for a request id of ours."""

    channel_txn_id: str
    request_id: str
    kind: str  # payment | refund
    amount: Decimal
    business_date: dt.date


ADAPTERS = {
    "simulator": "accounts.payments.simulator.InProcessSimulatorAdapter",
    "http_simulator": "accounts.payments.simulator_http.HttpSimulatorAdapter",
}


def adapter_for(channel) -> ChannelAdapter:
    return import_string(ADAPTERS[channel.adapter])(channel)


class ChannelCallInTransactionError(RuntimeError):
    """A bug: a channel call inside a database transaction (a rollback would forget a payment)."""


def assert_outside_transaction() -> None:
    """Refuse to call a channel inside a database transaction. A test's own wrapping transaction
    (pytest-django / TestCase) does not count: only blocks the code itself opened."""
    blocks = transaction.get_connection().atomic_blocks
    if any(not getattr(block, "_from_testcase", False) for block in blocks):
        raise ChannelCallInTransactionError("a payment channel must not be called inside a database transaction")


def callback_signature(secret: str, *, request_id: str, channel_txn_id: str, status: str, amount: str, timestamp) -> str:
    """The simulator's callback signature: HMAC-SHA256 over the fields joined by ``|``, hex."""
    message = "|".join([request_id, channel_txn_id, status, amount, str(timestamp)])
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
