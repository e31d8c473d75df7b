"""``manage.py ledger_check`` and the Celery tasks around it (eager here; tests/test_celery_integration.py
runs them through a real worker).

Drift can only be simulated by raw SQL: the ledger is the one writer and never produces it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO
from uuid import uuid4

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts import tasks
from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT
from accounts.ledger.checks import ledger_drift, ledger_report
from accounts.ledger.models import Account, Hold
from accounts.ledger.selectors import trial_balance

D = Decimal


def run_check() -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("ledger_check", stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def busy_ledger(make_account, fund, clearing):
    """A little of everything: funding, a transfer, an active hold, a capture, a reversal."""
    alice, bob = fund(make_account(), "100.00"), fund(make_account(), "50.00")
    move = ledger.post_transfer(
        client="t",
        idempotency_key="m",
        kind="t",
        legs=ledger.move(from_account_id=alice.pk, to_account_id=bob.pk, amount="20.00"),
    )
    ledger.hold_place(client="t", idempotency_key="h1", account_id=alice.pk, amount="10.00", reason="bid")
    h2 = ledger.hold_place(client="t", idempotency_key="h2", account_id=bob.pk, amount="30.00", reason="withdrawal")
    ledger.hold_capture(
        client="t", idempotency_key="c", hold_id=h2.pk, to_account_id=clearing.pk, amount="25.00", kind="withdrawal"
    )
    ledger.reverse_transfer(client="t", idempotency_key="r", transfer_id=move.pk)
    return alice, bob


def test_ledger_check_clean_prints_trial_balance_and_exits_zero(busy_ledger):
    code, out, err = run_check()
    assert code == 0
    assert err == ""
    assert "Trial balance / 试算平衡表" in out
    assert "100201" in out and "201101" in out
    assert "no drift" in out
    tb = trial_balance()
    assert tb.balanced
    assert f"{tb.total_debit:.2f}" in out
    assert ": True" in out


def test_ledger_check_corrupted_balance_prints_drift_and_exits_one(busy_ledger):
    alice, _bob = busy_ledger
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account SET balance = balance + 1 WHERE id = %s", [alice.pk])
    code, out, err = run_check()
    assert code == 1
    assert f"DRIFT balance: {alice.number}: expected 100.00, stored 100.01" in err
    assert "drift(s) found" in err
    assert "no drift" not in out


def test_ledger_check_corrupted_frozen_is_found(busy_ledger):
    alice, _bob = busy_ledger
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account SET frozen = 0 WHERE id = %s", [alice.pk])
    code, _out, err = run_check()
    assert code == 1
    assert f"DRIFT frozen: {alice.number}: expected 10.00, stored 0.00" in err


def _insert_voucher(key: str, amount_fen: int) -> int:
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_transfer (created_at, updated_at, kind, client, idempotency_key, fingerprint, amount, memo, "
            "metadata) VALUES (%s, %s, 'forged', 'raw-sql', %s, '', %s, '', '{}')",
            [now, now, key, amount_fen],
        )
        cursor.execute("SELECT id FROM accounts_transfer WHERE client = 'raw-sql' AND idempotency_key = %s", [key])
        return cursor.fetchone()[0]


def _insert_entry(transfer_id: int, account: Account, side: str, amount_fen: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_entry (transfer_id, account_id, side, amount, balance_after, subject, created_at) "
            "VALUES (%s, %s, %s, %s, 0, %s, %s)",
            [transfer_id, account.pk, side, amount_fen, account.subject_id, timezone.now()],
        )


def test_ledger_check_finds_an_unbalanced_voucher_inserted_by_raw_sql(busy_ledger, clearing):
    alice, _bob = busy_ledger
    voucher = _insert_voucher("forged-1", 500)
    _insert_entry(voucher, Account.objects.get(pk=alice.pk), CREDIT, 500)
    _insert_entry(voucher, clearing, DEBIT, 400)
    code, _out, err = run_check()
    assert code == 1
    assert f"DRIFT voucher: #{voucher}: expected debit = credit, >= 2 legs, stored 4.00 / 5.00 / 2 legs" in err
    kinds = {(d.kind, d.target) for d in ledger_drift()}
    assert ("voucher", f"#{voucher}") in kinds
    assert ("balance", alice.number) in kinds
    assert ("ledger", "total turnover") in kinds


def test_ledger_check_finds_a_one_legged_and_an_empty_voucher(db, clearing):
    one_leg = _insert_voucher("forged-2", 100)
    _insert_entry(one_leg, clearing, DEBIT, 100)
    empty = _insert_voucher("forged-3", 100)
    targets = {(d.kind, d.target) for d in ledger_drift()}
    assert ("voucher", f"#{one_leg}") in targets
    assert ("voucher", f"#{empty}") in targets
    assert run_check()[0] == 1


def test_ledger_check_finds_a_voucher_amount_that_differs_from_its_entries(busy_ledger):
    alice, bob = busy_ledger
    voucher = _insert_voucher("forged-4", 999)
    _insert_entry(voucher, Account.objects.get(pk=alice.pk), DEBIT, 100)
    _insert_entry(voucher, Account.objects.get(pk=bob.pk), CREDIT, 100)
    assert ("voucher amount", f"#{voucher}") in {(d.kind, d.target) for d in ledger_drift()}


def test_ledger_check_finds_negative_available_on_a_customer_account(busy_ledger):
    alice, _bob = busy_ledger
    with connection.cursor() as cursor:
        # Internal kind sidesteps the row's own CHECK, so only ledger_check can notice.
        cursor.execute("UPDATE accounts_account SET kind = 'internal', frozen = frozen + 100000 WHERE id = %s", [alice.pk])
    report = ledger_report()
    assert ("available", alice.number) in {(d.kind, d.target) for d in report.drifts}


# -- tasks (eager in unit tests) -------------------------------------------------------


def test_ledger_check_task_reports_counts_and_no_drift(busy_ledger):
    result = tasks.ledger_check.delay().get()
    report = ledger_report()
    assert result == {"drifts": [], "accounts": report.accounts_checked, "vouchers": report.transfers_checked}
    assert result["vouchers"] == 5
    assert tasks.ledger_check.name == "accounts.ledger_check"


def test_ledger_check_task_reports_drift(busy_ledger):
    alice, _bob = busy_ledger
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account SET balance = balance - 5 WHERE id = %s", [alice.pk])
    result = tasks.ledger_check.delay().get()
    assert {"kind": "balance", "target": alice.number, "expected": "100.00", "actual": "99.95"} in result["drifts"]


def test_hold_expire_due_task_expires_only_due_holds(make_account, fund):
    account = fund(make_account(), "100.00")
    now = timezone.now()

    def place(amount, expires_at):
        return ledger.hold_place(
            client="t", idempotency_key=str(uuid4()), account_id=account.pk, amount=amount, reason="bid", expires_at=expires_at
        )

    due1, due2 = place("10.00", now - dt.timedelta(minutes=5)), place("20.00", now - dt.timedelta(seconds=1))
    later, forever = place("30.00", now + dt.timedelta(hours=1)), place("5.00", None)
    released = place("1.00", now - dt.timedelta(days=1))
    ledger.hold_release(client="t", idempotency_key="rel", hold_id=released.pk)
    assert Account.objects.get(pk=account.pk).frozen == D("65.00")

    assert tasks.hold_expire_due.delay().get() == 2
    states = {h.pk: h.state for h in Hold.objects.filter(account=account)}
    assert states == {due1.pk: "expired", due2.pk: "expired", later.pk: "active", forever.pk: "active", released.pk: "released"}
    fresh = Account.objects.get(pk=account.pk)
    assert (fresh.balance, fresh.frozen, fresh.available) == (D("100.00"), D("35.00"), D("65.00"))
    # idempotent: nothing left to do
    assert tasks.hold_expire_due.delay().get() == 0
    assert tasks.hold_expire_due.name == "accounts.hold_expire_due"
    assert ledger_drift() == []
