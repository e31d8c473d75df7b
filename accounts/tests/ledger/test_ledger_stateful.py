"""A Hypothesis state machine: random ledger operations against a tiny in-memory model.

After every step the database's balance and frozen amount per account equal the model's, and
``ledger_drift()`` is empty. Each example opens fresh accounts inside a savepoint that is rolled
back when it ends, so examples never see each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import CaptureAmountError, IdempotencyConflictError, InsufficientFundsError, InvalidStateError
from accounts.ledger.models import Account, Hold, Transfer
from accounts.ledger.selectors import internal_account
from accounts.parties.services import account_open, party_create, party_kyc_approve
from conftest import random_id_number

D = Decimal
CUSTOMERS = 3
CLIENT = "stateful"

fen = st.integers(min_value=1, max_value=15_000)  # 0.01 .. 150.00: often more than an account has


def money(cents: int) -> Decimal:
    return (D(cents) / 100).quantize(D("0.01"))


@dataclass
class Voucher:
    pk: int
    key: str
    src: int  # account index in the machine's list
    dst: int
    amount: Decimal
    reversible: bool = True


@dataclass
class ModelHold:
    pk: int
    key: str
    account: int
    amount: Decimal
    active: bool = True


@dataclass
class Model:
    balance: list[Decimal] = field(default_factory=list)
    frozen: list[Decimal] = field(default_factory=list)
    overdraw: list[bool] = field(default_factory=list)

    def available(self, index: int) -> Decimal:
        return self.balance[index] - self.frozen[index]

    def can_pay(self, index: int, amount: Decimal) -> bool:
        return self.overdraw[index] or self.available(index) >= amount

    def move(self, src: int, dst: int, amount: Decimal) -> None:
        # Customer accounts are credit-normal; the clearing account (index 0) is debit-normal.
        # Debiting the clearing account raises it, crediting lowers it: sign per normal side.
        self.balance[src] += amount if self.overdraw[src] else -amount
        self.balance[dst] += -amount if self.overdraw[dst] else amount


class LedgerMachine(RuleBasedStateMachine):
    """Index 0 is the bank's clearing account (may go negative); 1..3 are customer accounts."""

    customer_ids: list[int] = []

    def __init__(self):
        super().__init__()
        # Each example runs in its own savepoint, rolled back at teardown: no example sees another's
        # rows, so a failure replays (and shrinks) exactly.
        self._example = transaction.atomic()
        self._example.__enter__()

    def teardown(self):
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    @initialize()
    def open_accounts(self):
        self.model = Model()
        self.vouchers: list[Voucher] = []
        self.holds: list[ModelHold] = []
        clearing = internal_account(Role.CLEARING)
        self.accounts = [clearing]
        # The customer accounts are opened once per test (the services are durable); each example
        # starts them at zero again because its savepoint rolls back everything it posted.
        self.accounts.extend(Account.objects.get(pk=pk) for pk in self.customer_ids)
        self.model.balance = [Account.objects.get(pk=clearing.pk).balance] + [D("0.00")] * CUSTOMERS
        self.model.frozen = [Account.objects.get(pk=clearing.pk).frozen] + [D("0.00")] * CUSTOMERS
        self.model.overdraw = [True] + [False] * CUSTOMERS
        for index in range(1, CUSTOMERS + 1):
            self._transfer(0, index, D("100.00"))

    # -- helpers ---------------------------------------------------------------------
    def _transfer(self, src: int, dst: int, amount: Decimal) -> None:
        key = str(uuid4())
        expect_ok = self.model.can_pay(src, amount)
        try:
            transfer = ledger.post_transfer(
                client=CLIENT,
                idempotency_key=key,
                kind="stateful",
                legs=ledger.move(from_account_id=self.accounts[src].pk, to_account_id=self.accounts[dst].pk, amount=amount),
            )
        except InsufficientFundsError:
            assert not expect_ok, "the ledger refused a transfer the model allows"
            assert not Transfer.objects.filter(client=CLIENT, idempotency_key=key).exists()
            return
        assert expect_ok, "the ledger allowed a transfer the model refuses"
        self.model.move(src, dst, amount)
        self.vouchers.append(Voucher(transfer.pk, key, src, dst, amount))

    # -- rules -----------------------------------------------------------------------
    @rule(src=st.integers(0, CUSTOMERS), dst=st.integers(0, CUSTOMERS), cents=fen)
    def transfer(self, src, dst, cents):
        if src == dst:
            dst = (dst + 1) % (CUSTOMERS + 1)
        self._transfer(src, dst, money(cents))

    @rule(account=st.integers(1, CUSTOMERS), cents=fen)
    def hold_place(self, account, cents):
        amount, key = money(cents), str(uuid4())
        expect_ok = self.model.available(account) >= amount
        try:
            hold = ledger.hold_place(
                client=CLIENT, idempotency_key=key, account_id=self.accounts[account].pk, amount=amount, reason="bid"
            )
        except InsufficientFundsError:
            assert not expect_ok
            return
        assert expect_ok
        self.model.frozen[account] += amount
        self.holds.append(ModelHold(hold.pk, key, account, amount))

    def _active_holds(self) -> list[ModelHold]:
        return [h for h in self.holds if h.active]

    @precondition(lambda self: any(h.active for h in self.holds))
    @rule(pick=st.integers(0, 50))
    def hold_release(self, pick):
        held = self._active_holds()[pick % len(self._active_holds())]
        released = ledger.hold_release(client=CLIENT, idempotency_key=f"release-{held.pk}", hold_id=held.pk)
        assert released.state == Hold.State.RELEASED
        held.active = False
        self.model.frozen[held.account] -= held.amount
        # a second release with a new key is refused; with the same key it is answered again
        with pytest.raises(InvalidStateError):
            ledger.hold_release(client=CLIENT, idempotency_key=str(uuid4()), hold_id=held.pk)
        assert ledger.hold_release(client=CLIENT, idempotency_key=f"release-{held.pk}", hold_id=held.pk).pk == held.pk

    @precondition(lambda self: any(h.active for h in self.holds))
    @rule(pick=st.integers(0, 50), dst=st.integers(0, CUSTOMERS), part=st.one_of(st.none(), st.integers(1, 20_000)))
    def hold_capture(self, pick, dst, part):
        held = self._active_holds()[pick % len(self._active_holds())]
        if dst == held.account:
            dst = 0
        requested = None if part is None else money(part)
        key = f"capture-{held.pk}"
        if requested is not None and requested > held.amount:
            with pytest.raises(CaptureAmountError):
                ledger.hold_capture(
                    client=CLIENT,
                    idempotency_key=key,
                    hold_id=held.pk,
                    to_account_id=self.accounts[dst].pk,
                    amount=requested,
                    kind="stateful_capture",
                )
            return
        transfer = ledger.hold_capture(
            client=CLIENT,
            idempotency_key=key,
            hold_id=held.pk,
            to_account_id=self.accounts[dst].pk,
            amount=requested,
            kind="stateful_capture",
        )
        captured = held.amount if requested is None else requested
        assert transfer.amount == captured
        held.active = False
        self.model.frozen[held.account] -= held.amount
        self.model.move(held.account, dst, captured)
        self.vouchers.append(Voucher(transfer.pk, key, held.account, dst, captured))

    @precondition(lambda self: bool(self.vouchers))
    @rule(pick=st.integers(0, 200))
    def reverse(self, pick):
        voucher = self.vouchers[pick % len(self.vouchers)]
        key = f"reverse-{voucher.pk}"
        if not voucher.reversible:
            with pytest.raises(InvalidStateError):
                ledger.reverse_transfer(client=CLIENT, idempotency_key=str(uuid4()), transfer_id=voucher.pk)
            return
        # the reversal moves the money back: the original destination must still have it
        expect_ok = self.model.can_pay(voucher.dst, voucher.amount)
        try:
            reversal = ledger.reverse_transfer(client=CLIENT, idempotency_key=key, transfer_id=voucher.pk)
        except InsufficientFundsError:
            assert not expect_ok, "the ledger refused a reversal the model allows"
            return
        assert expect_ok, "the ledger allowed a reversal the model refuses"
        voucher.reversible = False
        self.model.move(voucher.dst, voucher.src, voucher.amount)
        # a reversal is never reversed again
        self.vouchers.append(Voucher(reversal.pk, key, voucher.dst, voucher.src, voucher.amount, reversible=False))

    @precondition(lambda self: bool(self.vouchers))
    @rule(pick=st.integers(0, 200))
    def replay_transfer(self, pick):
        voucher = self.vouchers[pick % len(self.vouchers)]
        count = Transfer.objects.count()
        original = Transfer.objects.get(pk=voucher.pk)
        if original.kind != "stateful":
            return
        again = ledger.post_transfer(
            client=CLIENT,
            idempotency_key=voucher.key,
            kind="stateful",
            legs=ledger.move(
                from_account_id=self.accounts[voucher.src].pk, to_account_id=self.accounts[voucher.dst].pk, amount=voucher.amount
            ),
        )
        assert again.pk == voucher.pk
        assert Transfer.objects.count() == count
        with pytest.raises(IdempotencyConflictError):
            ledger.post_transfer(
                client=CLIENT,
                idempotency_key=voucher.key,
                kind="stateful",
                legs=ledger.move(
                    from_account_id=self.accounts[voucher.src].pk,
                    to_account_id=self.accounts[voucher.dst].pk,
                    amount=voucher.amount + D("0.01"),
                ),
            )

    @precondition(lambda self: bool(self.holds))
    @rule(pick=st.integers(0, 50))
    def replay_hold(self, pick):
        held = self.holds[pick % len(self.holds)]
        again = ledger.hold_place(
            client=CLIENT, idempotency_key=held.key, account_id=self.accounts[held.account].pk, amount=held.amount, reason="bid"
        )
        assert again.pk == held.pk

    # -- invariants ------------------------------------------------------------------
    @invariant()
    def database_equals_model(self):
        for index, account in enumerate(self.accounts):
            fresh = Account.objects.get(pk=account.pk)
            assert (fresh.balance, fresh.frozen) == (self.model.balance[index], self.model.frozen[index]), index
            if not self.model.overdraw[index]:
                assert fresh.available >= 0

    @invariant()
    def no_drift(self):
        assert ledger_drift() == []


def test_ledger_matches_model_under_random_operations(db):
    ids = []
    for index in range(CUSTOMERS):
        party = party_create(type="person", name=f"P{index}", id_number=random_id_number())
        party_kyc_approve(party_id=party.pk, actor_label="test")
        ids.append(account_open(party=party, role=Role.LENDER, tier="I").pk)
    LedgerMachine.customer_ids = ids
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
