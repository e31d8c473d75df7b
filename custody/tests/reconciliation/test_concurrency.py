"""Exactly once under concurrency (PostgreSQL: SQLite ignores SELECT ... FOR UPDATE): the same
daily file uploaded by four workers is imported once; an allocation approved by four checkers at
once moves the money once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections

from accounts.ledger.models import Transfer
from backoffice.errors import DomainError
from conftest import needs_postgres
from custody.reconciliation import services as recon
from custody.reconciliation.models import ReconciliationDay, ReconciliationFile, ReconciliationItem
from custody.tests.reconciliation.conftest import at, csv_file, entries_to


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_r_rec_01_four_workers_uploading_the_same_file_import_it_once(platform, lender, day):
    a = lender("5000.00")
    entries_to(at(day, 9), a.account)
    content = csv_file(day, balances=[(a.account.number, "5000.00")])

    def upload(_):
        try:
            file, created = recon.reconciliation_file_import(platform=platform, content=content, source="api")
            return file.pk, created
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(upload, range(4)))
    assert len({pk for pk, _created in outcomes}) == 1
    assert sorted(created for _pk, created in outcomes) == [False, False, False, True]
    assert ReconciliationFile.objects.count() == 1 and ReconciliationItem.objects.count() == 1
    assert ReconciliationDay.objects.get().state == "reconciled"


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_r_dep_10_four_checkers_approving_at_once_allocate_once(platform, open_sub, maker, checker):
    from accounts.tests.admin_support import make_staff

    checkers = [checker, *(make_staff(f"checker-{n}", "supervisor") for n in range(3))]
    target = open_sub(platform, "lender")
    inflow = recon.inflow_register(platform=platform, amount="800.00", reference="IN-1")
    proposal = recon.allocation_propose(inflow_id=inflow.pk, sub_account_number=target.account.number, reason="回单", actor=maker)

    def approve(user):
        try:
            return recon.allocation_approve(allocation_id=proposal.pk, actor=user).state
        except DomainError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(approve, checkers))
    assert outcomes == ["approved", "invalid_state", "invalid_state", "invalid_state"]
    assert Transfer.objects.filter(kind=recon.ALLOCATION_KIND).count() == 1
    target.account.refresh_from_db()
    assert target.account.balance == Decimal("800.00")
