"""The checkpointed daily trial balance (R-WD-07 at scale, issue #14): a clean end of day writes
the previous business day's checkpoint; ``ledger_check`` then verifies the checkpoint and only the
entries after it; ``ledger_check --full`` re-derives everything and finds what a checkpoint hides.

Entries are moved back in time with an ORM update (drift and history can only be simulated: the
ledger is the one writer and always posts "now").
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.checks import checkpoint_write, ledger_report
from accounts.ledger.models import CheckpointBalance, Entry, LedgerCheckpoint, Transfer
from accounts.ledger.selectors import trial_balance
from accounts.payments.end_of_day import end_of_day_run
from backoffice import dates

D = Decimal


def _move(src, dst, amount, key):
    return ledger.post_transfer(
        client="t",
        idempotency_key=key,
        kind="transfer",
        legs=ledger.move(from_account_id=src.pk, to_account_id=dst.pk, amount=amount),
    )


def run_check(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("ledger_check", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def checkpointed(make_account, fund):
    """Money posted three days ago, yesterday's end of day (clean: it wrote the checkpoint of the
    day before, cut at the start of yesterday), then a transfer posted now, after the checkpoint."""
    alice, bob = fund(make_account(), "100.00"), fund(make_account(), "50.00")
    _move(alice, bob, "20.00", "old")
    Entry.objects.update(created_at=F("created_at") - dt.timedelta(days=3))
    Transfer.objects.update(created_at=F("created_at") - dt.timedelta(days=3))
    result = end_of_day_run(now=timezone.now() - dt.timedelta(days=1))
    assert result.clean and result.checkpoint is not None
    new = _move(bob, alice, "5.00", "new")
    alice.refresh_from_db()
    bob.refresh_from_db()
    return alice, bob, result.checkpoint, new


def test_r_wd_07_a_clean_end_of_day_writes_the_previous_days_checkpoint(checkpointed):
    alice, bob, checkpoint, _new = checkpointed
    yesterday = dates.business_date(timezone.now()) - dt.timedelta(days=1)
    assert checkpoint.business_date == yesterday - dt.timedelta(days=1)
    assert checkpoint.cut_at == dates.start_of_day(yesterday)
    rows = {b.account_id: b for b in CheckpointBalance.objects.filter(checkpoint=checkpoint)}
    # alice: funded 100, paid 20 before the cut (credit-normal: credit - debit).
    assert rows[alice.pk].credit - rows[alice.pk].debit == D("80.00")
    assert rows[bob.pk].credit - rows[bob.pk].debit == D("70.00")
    assert checkpoint.entries == Entry.objects.filter(created_at__lt=checkpoint.cut_at).count() == 6
    assert checkpoint.total_debit == checkpoint.total_credit == D("170.00")


def test_r_wd_07_ledger_check_starts_from_the_checkpoint_and_agrees_with_the_full_check(checkpointed):
    report = ledger_report()
    assert report.checkpoint is not None and report.drifts == []
    full = ledger_report(full=True)
    assert full.checkpoint is None and full.drifts == []
    assert [(r.subject.code, r.debit, r.credit) for r in report.trial_balance.rows] == [
        (r.subject.code, r.debit, r.credit) for r in trial_balance().rows
    ]
    code, out, _err = run_check()
    assert code == 0 and "Incremental check from the checkpoint" in out and "no drift" in out
    code, out, _err = run_check("--full")
    assert code == 0 and "Full check" in out


def test_r_wd_07_a_drift_after_the_checkpoint_is_found_by_the_incremental_check(checkpointed):
    alice, bob, checkpoint, new = checkpointed
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account SET balance = balance + 1 WHERE id = %s", [bob.pk])
        cursor.execute("UPDATE accounts_entry SET amount = amount + 100 WHERE transfer_id = %s AND side = 'D'", [new.pk])
    drifts = ledger_report().drifts
    kinds = {(d.kind, d.target) for d in drifts}
    assert ("balance", bob.number) in kinds
    assert ("voucher", f"#{new.pk}") in kinds
    assert ("voucher amount", f"#{new.pk}") in kinds
    code, _out, err = run_check()
    assert code == 1 and f"DRIFT balance: {bob.number}" in err


def test_r_wd_07_a_wrong_balance_after_an_entry_after_the_checkpoint_is_found(checkpointed):
    alice, _bob, _checkpoint, new = checkpointed
    entry = Entry.objects.get(transfer=new, account=alice)
    Entry.objects.filter(pk=entry.pk).update(balance_after=F("balance_after") + 1)
    drifts = ledger_report().drifts
    assert [(d.kind, d.target, d.expected, d.actual) for d in drifts] == [
        ("balance after", f"entry #{entry.pk}", "85.00", "85.01")
    ]


def test_r_wd_07_a_drift_hidden_before_the_checkpoint_is_found_by_the_full_check(checkpointed):
    alice, _bob, checkpoint, _new = checkpointed
    old = Transfer.objects.get(idempotency_key="old")
    # An entry before the cut changed after the checkpoint was written: the checkpoint still says
    # what the entries said when it was checked, so the incremental check cannot see it ...
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_entry SET amount = amount + 100 WHERE transfer_id = %s AND side = 'D'", [old.pk])
    assert ledger_report().drifts == []
    # ... the full check re-derives every entry and finds it.
    kinds = {(d.kind, d.target) for d in ledger_report(full=True).drifts}
    assert ("voucher", f"#{old.pk}") in kinds
    assert ("balance", alice.number) in kinds
    code, _out, err = run_check("--full")
    assert code == 1 and f"DRIFT balance: {alice.number}" in err


def test_r_wd_07_a_tampered_checkpoint_is_found(checkpointed):
    alice, _bob, checkpoint, _new = checkpointed
    CheckpointBalance.objects.filter(checkpoint=checkpoint, account=alice).update(credit=F("credit") + 100)
    kinds = {(d.kind, d.target) for d in ledger_report().drifts}
    assert ("checkpoint", f"checkpoint {checkpoint.business_date.isoformat()}") in kinds  # its rows ≠ its totals
    first_after = Entry.objects.filter(account=alice, created_at__gte=checkpoint.cut_at).order_by("pk").first()
    assert ("balance after", f"entry #{first_after.pk}") in kinds  # the chain after the cut starts elsewhere
    assert ("balance", alice.number) in kinds  # checkpoint + entries after it ≠ the stored balance


def test_r_wd_07_an_end_of_day_with_drift_writes_no_checkpoint(checkpointed):
    _alice, bob, checkpoint, _new = checkpointed
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_account SET balance = balance + 1 WHERE id = %s", [bob.pk])
    result = end_of_day_run()
    assert not result.clean and result.checkpoint is None
    assert list(LedgerCheckpoint.objects.values_list("pk", flat=True)) == [checkpoint.pk]


def test_r_wd_07_the_next_checkpoint_from_the_previous_one_equals_one_written_from_every_entry(checkpointed):
    _alice, _bob, checkpoint, _new = checkpointed
    today = dates.business_date(timezone.now())
    # Move the "new" transfer into yesterday, so the next checkpoint has something to add.
    Entry.objects.filter(created_at__gte=checkpoint.cut_at).update(created_at=F("created_at") - dt.timedelta(days=1))
    following = end_of_day_run().checkpoint
    assert following is not None and following.business_date == today - dt.timedelta(days=1)
    incremental = sorted(following.balances.values_list("account_id", "subject", "debit", "credit", "entries"))
    LedgerCheckpoint.objects.all().delete()
    scratch = checkpoint_write(business_date=today - dt.timedelta(days=1))
    assert sorted(scratch.balances.values_list("account_id", "subject", "debit", "credit", "entries")) == incremental
    assert (scratch.entries, scratch.total_debit, scratch.last_transfer_id) == (
        following.entries,
        following.total_debit,
        following.last_transfer_id,
    )
    assert checkpoint_write(business_date=today - dt.timedelta(days=2)) is None  # never goes back
