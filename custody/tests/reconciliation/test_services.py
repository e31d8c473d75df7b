"""Reconciliation on a real database: the platform's daily file matched against the bank's
vouchers and day-end balances (R-REC-01/02, R-DEP-07), I1 per platform (R-WD-07), unidentified
inflows allocated maker-checker and reversed while unspent (R-DEP-10), retention (R-DEP-08) and
reports that sum to the ledger (R-DEP-09)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.ledger.chart import Role
from accounts.ledger.checks import ledger_report
from accounts.ledger.models import Account
from accounts.ledger.selectors import internal_account
from backoffice.errors import MakerCheckerError
from custody.reconciliation import reports, selectors
from custody.reconciliation import services as recon
from custody.reconciliation.errors import (
    AllocationNotReversibleError,
    ReconciliationFileInvalidError,
    RetainedRecordError,
)
from custody.reconciliation.models import (
    CustodyReport,
    ReconciliationAlert,
    ReconciliationDay,
    ReconciliationFile,
    ReconciliationItem,
    SuspenseAllocation,
    UnidentifiedInflow,
)
from custody.tests.reconciliation.conftest import at, csv_file, entries_to, move_to

pytestmark = pytest.mark.django_db


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


@pytest.fixture
def books(platform, lender, new_loan, bid, day):
    """On ``day``: lender A funded 5,000.00 and B 3,000.00, A bid X 1,000.00 and B bid Y 500.00."""
    a, b = lender("5000.00"), lender("3000.00")
    loan = new_loan("10000.00")
    x = bid(loan, a, "1000.00", out_request_no="X")
    y = bid(loan, b, "500.00", out_request_no="Y")
    entries_to(at(day, 9), a.account, b.account)
    move_to(at(day, 12), x, y)
    return {"a": a, "b": b, "loan": loan, "x": x, "y": y}


def results(file: ReconciliationFile) -> dict[str, str]:
    return {(item.out_request_no or item.sub_account): item.result for item in file.items.all()}


def test_r_rec_02_a_file_matching_exactly_reconciles_the_day(platform, books, day):
    a, b = books["a"].account.number, books["b"].account.number
    content = csv_file(
        day,
        instructions=[("bid", "X", a, "1000.00", "succeeded"), ("bid", "Y", b, "500.00", "succeeded")],
        balances=[(a, "5000.00"), (b, "3000.00")],
    )
    file, created = recon.reconciliation_file_import(platform=platform, content=content, source="api")
    assert created
    assert set(results(file).values()) == {"matched"}
    assert len(results(file)) == 4
    result = ReconciliationDay.objects.get(platform=platform, business_date=day)
    assert (result.state, result.file_id, result.matched, result.differences) == ("reconciled", file.pk, 4, 0)
    assert not ReconciliationAlert.objects.exists()


def test_r_rec_02_long_short_mismatch_and_timing_each_classified(platform, books, lender, new_loan, bid, day, today):
    a, b = books["a"], books["b"]
    late = bid(books["loan"], a, "200.00", out_request_no="Z")  # placed today: after the day's cut-off (日切)
    content = csv_file(
        day,
        instructions=[
            ("bid", "X", a.account.number, "999.00", "succeeded"),  # the bank has 1,000.00
            ("bid", "Z", a.account.number, "200.00", "succeeded"),  # the platform counted it yesterday
            ("bid", "GHOST", a.account.number, "100.00", "succeeded"),  # unknown to the bank
        ],  # Y (500.00, booked by the bank yesterday) is missing
        balances=[(a.account.number, "5000.00"), (b.account.number, "3000.00")],
    )
    file, _created = recon.reconciliation_file_import(platform=platform, content=content, source="api")
    found = results(file)
    assert found == {
        "X": "mismatch",
        "Z": "timing",
        "GHOST": "long",
        "Y": "short",
        a.account.number: "matched",
        b.account.number: "matched",
    }
    items = {item.out_request_no: item for item in file.items.filter(kind="instruction")}
    assert (items["X"].platform_amount, items["X"].bank_amount, items["X"].difference) == (
        Decimal("999.00"),
        Decimal("1000.00"),
        Decimal("-1.00"),
    )
    assert (items["Z"].bank_date, items["Y"].line, items["GHOST"].bank_amount) == (today, None, None)
    assert late.amount == Decimal("200.00")
    result = ReconciliationDay.objects.get(platform=platform, business_date=day)
    assert (result.state, result.long, result.short, result.mismatch, result.timing) == ("unreconciled", 1, 1, 1, 1)
    # R-DEP-07: an unreconciled day raises one P2 alert; nothing posts (R-REC-02: LONG/SHORT never auto-post).
    alert = ReconciliationAlert.objects.get()
    assert (alert.kind, alert.severity, alert.business_date) == ("unreconciled", "P2", day)
    assert fresh(a.account).balance == Decimal("5000.00")


def test_r_rec_02_balances_mismatch_unknown_and_omitted_accounts(platform, books, day):
    a, b = books["a"].account.number, books["b"].account.number
    content = csv_file(
        day,
        instructions=[("bid", "X", a, "1000.00", "succeeded"), ("bid", "Y", b, "500.00", "succeeded")],
        balances=[(a, "5000.01"), ("6230000000000001", "1.00")],
    )
    file, _created = recon.reconciliation_file_import(platform=platform, content=content, source="api")
    assert results(file) == {"X": "matched", "Y": "matched", a: "mismatch", "6230000000000001": "long", b: "short"}


def test_r_rec_01_the_same_file_again_is_imported_once(platform, books, day):
    content = csv_file(day, balances=[(books["a"].account.number, "5000.00")])
    first, created = recon.reconciliation_file_import(platform=platform, content=content, source="api")
    again, created_again = recon.reconciliation_file_import(platform=platform, content=content, source="console")
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert ReconciliationFile.objects.count() == 1
    assert ReconciliationItem.objects.filter(file=first).count() == first.items.count()
    assert ReconciliationDay.objects.filter(platform=platform).count() == 1
    # A corrected file supersedes the day's result; both files are kept.
    corrected = csv_file(
        day,
        instructions=[
            ("bid", "X", books["a"].account.number, "1000.00", "succeeded"),
            ("bid", "Y", books["b"].account.number, "500.00", "succeeded"),
        ],
        balances=[(books["a"].account.number, "5000.00"), (books["b"].account.number, "3000.00")],
    )
    second, created = recon.reconciliation_file_import(platform=platform, content=corrected, source="api")
    assert created and ReconciliationFile.objects.count() == 2
    assert ReconciliationDay.objects.get(platform=platform, business_date=day).file_id == second.pk


def test_r_rec_01_a_malformed_file_is_refused_with_line_numbers_and_nothing_stored(platform, books, day):
    a = books["a"].account.number
    content = (
        csv_file(day, instructions=[("bid", "X", a, "1000.00", "succeeded")], balances=[(a, "5000.00")]).decode()
        + f"instruction,{day},bid,Q1,{a},12.345,succeeded\n"  # line 4: three decimals
        + f"instruction,{day},loan,Q2,{a},1.00,succeeded\n"  # line 5: unknown type
        + f"balance,{day - dt.timedelta(days=1)},,,{a},1.00,\n"  # line 6: another day, the same account twice
        + "instruction,2026-13-01,bid\n"  # line 7: too few fields
        + f"instruction,{day},bid,X,{a},1.00,done\n"  # line 8: X twice, unknown state
    ).encode()
    with pytest.raises(ReconciliationFileInvalidError) as refused:
        recon.reconciliation_file_import(platform=platform, content=content, source="api")
    errors = {(e["line"], e["field"]) for e in refused.value.data["errors"]}
    assert {
        (4, "amount"),
        (5, "type"),
        (6, "business_date"),
        (6, "sub_account"),
        (7, "line"),
        (8, "out_request_no"),
        (8, "state"),
    } <= errors
    assert all(e["line"] >= 4 for e in refused.value.data["errors"])
    assert not ReconciliationFile.objects.exists()
    assert not ReconciliationItem.objects.exists()
    assert not ReconciliationDay.objects.exists()
    with pytest.raises(ReconciliationFileInvalidError) as header:
        recon.reconciliation_file_import(platform=platform, content=b"a,b\n", source="api")
    assert header.value.data["errors"][0]["line"] == 1


def test_r_dep_07_a_day_without_a_file_raises_an_alert_once(platform, today):
    recon.reconciliation_daily(today=today)
    recon.reconciliation_daily(today=today)
    alert = ReconciliationAlert.objects.get()
    assert (alert.kind, alert.severity, alert.business_date) == ("missing", "P2", today - dt.timedelta(days=1))
    assert ReconciliationDay.objects.get(platform=platform).state == "missing"


# -- I1 (R-WD-07) ---------------------------------------------------------------------------------


def test_r_wd_07_i1_holds_per_platform_and_detects_a_planted_drift(platform, books, make_platform):
    other = make_platform("P002")
    recon.inflow_register(platform=platform, amount="800.00", reference="IN-1")
    i1 = selectors.platform_i1(platform=platform)
    assert i1.holds and i1.actual == Decimal("8800.00")
    assert selectors.boundary_flows(platform=platform) == {Role.CLEARING: Decimal("8800.00")}
    assert selectors.platform_i1(platform=other).holds
    assert not [d for d in ledger_report().drifts if d.kind == "custody"]
    # A stored balance written around the ledger: I1 of that platform breaks, the other's holds.
    Account.objects.filter(pk=books["a"].account_id).update(balance=Decimal("5000.01"))  # around the ledger
    broken = selectors.platform_i1(platform=platform)
    assert (broken.holds, broken.expected, broken.actual) == (False, Decimal("8800.00"), Decimal("8800.01"))
    assert selectors.platform_i1(platform=other).holds
    drifts = [d for d in ledger_report().drifts if d.kind == "custody"]
    assert [d.target for d in drifts] == [broken.name]


# -- unidentified inflows (R-DEP-10) ----------------------------------------------------------------


@pytest.fixture
def inflow(platform):
    return recon.inflow_register(platform=platform, amount="800.00", reference="IN-1", payer_name="某某公司")


def test_r_dep_10_an_unidentified_inflow_goes_to_the_platform_suspense(platform, inflow):
    suspense = internal_account(Role.SUSPENSE, owner=platform.owner)
    assert suspense.balance == Decimal("800.00")
    assert inflow.voucher.kind == recon.INFLOW_KIND and inflow.state == "unallocated"
    again = recon.inflow_register(platform=platform, amount="800.00", reference="IN-1")
    assert again.pk == inflow.pk and fresh(suspense).balance == Decimal("800.00")


def test_r_dep_10_allocation_is_maker_checker(platform, inflow, open_sub, maker, checker):
    target = open_sub(platform, "lender")
    proposal = recon.allocation_propose(inflow_id=inflow.pk, sub_account_number=target.account.number, reason="回单", actor=maker)
    assert fresh(target.account).balance == 0 and fresh(inflow).state == "proposed"
    with pytest.raises(MakerCheckerError):
        recon.allocation_approve(allocation_id=proposal.pk, actor=maker)
    assert fresh(proposal).state == "proposed"
    approved = recon.allocation_approve(allocation_id=proposal.pk, actor=checker)
    assert (approved.state, approved.reviewed_by, approved.voucher.kind) == ("approved", checker, recon.ALLOCATION_KIND)
    assert fresh(target.account).balance == Decimal("800.00")
    assert internal_account(Role.SUSPENSE, owner=platform.owner).balance == 0
    assert fresh(inflow).state == "allocated"
    assert selectors.platform_i1(platform=platform).holds


def test_r_dep_10_a_rejected_proposal_returns_the_inflow_to_the_queue(platform, inflow, open_sub, maker, checker):
    target = open_sub(platform, "lender")
    proposal = recon.allocation_propose(inflow_id=inflow.pk, sub_account_number=target.account.number, reason="回单", actor=maker)
    recon.allocation_reject(allocation_id=proposal.pk, actor=checker, note="wrong client")
    assert (fresh(proposal).state, fresh(inflow).state, fresh(target.account).balance) == ("rejected", "unallocated", 0)


def test_r_dep_10_a_wrong_allocation_is_reversed_while_unspent(platform, inflow, open_sub, maker, checker):
    wrong = open_sub(platform, "lender")
    proposal = recon.allocation_propose(inflow_id=inflow.pk, sub_account_number=wrong.account.number, reason="回单", actor=maker)
    recon.allocation_approve(allocation_id=proposal.pk, actor=checker)
    reversed_ = recon.allocation_reverse(allocation_id=proposal.pk, actor=checker, reason="wrong client")
    assert reversed_.state == "reversed" and reversed_.reversal.reversal_of_id == reversed_.voucher_id
    assert fresh(wrong.account).balance == 0
    assert internal_account(Role.SUSPENSE, owner=platform.owner).balance == Decimal("800.00")
    assert fresh(inflow).state == "unallocated"
    assert not [d for d in ledger_report().drifts if d.kind in ("custody", "posting rule")]


def test_r_dep_10_reversal_refused_once_the_money_is_spent(platform, inflow, open_sub, grant, new_loan, bid, maker, checker):
    target = open_sub(platform, "lender")
    target.auth = grant(target, "bid")
    proposal = recon.allocation_propose(inflow_id=inflow.pk, sub_account_number=target.account.number, reason="回单", actor=maker)
    recon.allocation_approve(allocation_id=proposal.pk, actor=checker)
    bid(new_loan("1000.00"), target, "500.00")  # 500.00 of the 800.00 frozen for a bid
    with pytest.raises(AllocationNotReversibleError) as refused:
        recon.allocation_reverse(allocation_id=proposal.pk, actor=checker, reason="wrong client")
    assert refused.value.data["shortfall"] == "500.00"
    assert fresh(proposal).state == "approved" and fresh(inflow).state == "allocated"
    assert fresh(target.account).balance == Decimal("800.00")
    assert internal_account(Role.SUSPENSE, owner=platform.owner).balance == 0


# -- retention (R-DEP-08) and reports (R-DEP-09) ------------------------------------------------------


def test_r_dep_08_reconciliation_records_and_reports_cannot_be_deleted(platform, books, day, inflow):
    file, _created = recon.reconciliation_file_import(
        platform=platform, content=csv_file(day, balances=[(books["a"].account.number, "5000.00")]), source="api"
    )
    report = recon.report_generate(platform=platform, kind="daily", day=day)
    for row in (file, file.items.first(), ReconciliationDay.objects.get(), inflow, report, ReconciliationAlert.objects.first()):
        with pytest.raises(RetainedRecordError):
            row.delete()
    for model in (
        ReconciliationFile,
        ReconciliationItem,
        ReconciliationDay,
        UnidentifiedInflow,
        CustodyReport,
        SuspenseAllocation,
    ):
        with pytest.raises(RetainedRecordError):
            model.objects.all().delete()
    assert ReconciliationFile.objects.count() == 1 and CustodyReport.objects.count() == 1


def test_r_dep_09_reports_sum_to_the_ledger(platform, books, day, today, inflow, open_sub, maker, checker):
    target = open_sub(platform, "borrower")
    proposal = recon.allocation_propose(inflow_id=inflow.pk, sub_account_number=target.account.number, reason="回单", actor=maker)
    recon.allocation_approve(allocation_id=proposal.pk, actor=checker)
    entries_to(at(day, 15), target.account, internal_account(Role.SUSPENSE, owner=platform.owner))
    daily = recon.report_generate(platform=platform, kind="daily", day=day)
    assert recon.report_generate(platform=platform, kind="daily", day=day).pk == daily.pk
    f = daily.figures
    # Pool: 5,000 + 3,000 + the 800 allocated to the borrower; suspense back to 0; no transit.
    assert f["closing"] == {"sub_accounts": "8800.00", "transit": "0.00", "suspense": "0.00", "total": "8800.00"}
    assert {row["role"]: row["total"] for row in f["sub_accounts_by_role"]} == {"lender": "8000.00", "borrower": "800.00"}
    assert sum(Decimal(row["total"]) for row in f["sub_accounts_by_role"]) == Decimal(f["closing"]["sub_accounts"])
    ledger_pool = selectors.day_end_balances(accounts=selectors.pool_accounts(platform=platform), day=day)
    assert sum(ledger_pool.values()) == Decimal(f["closing"]["total"])
    assert f["net_flows_by_counterpart"] == {"clearing": "8800.00"}
    assert f["i1"] == {"opening_plus_net_flows": "8800.00", "closing": "8800.00", "holds": True}
    kinds = {row["kind"]: row for row in f["flows_by_kind"]}
    assert kinds["funding"]["credits"] == "8000.00"
    assert kinds["suspense_allocation"] == {"kind": "suspense_allocation", "vouchers": 1, "credits": "800.00", "debits": "800.00"}
    assert kinds["unidentified_inflow"]["credits"] == "800.00"
    assert len(f["entries"]) == 5
    monthly = recon.report_generate(
        platform=platform, kind="monthly", day=day, as_of=reports.period_of("monthly", day)[1] + dt.timedelta(days=1)
    )
    assert monthly.figures["closing"]["total"] == "8800.00" and monthly.period_start == day.replace(day=1)
    content, content_type, name = reports.export(monthly, "xlsx")
    assert content[:2] == b"PK" and name.endswith(".xlsx")
    csv_text = reports.export(daily, "csv")[0].decode("utf-8-sig")
    assert "8800.00" in csv_text and csv_text.splitlines()[0].startswith("section")


def test_r_wd_07_a_broken_i1_raises_the_p1_invariant_alert_at_end_of_day(platform, books):
    from accounts.payments.end_of_day import end_of_day_run
    from accounts.payments.models import PaymentAlert

    assert end_of_day_run().clean
    Account.objects.filter(pk=books["b"].account_id).update(balance=Decimal("2999.99"))  # around the ledger
    result = end_of_day_run()
    assert [d.kind for d in result.invariant_drifts] == ["custody"]
    assert PaymentAlert.objects.filter(kind="invariant", severity="P1").count() == 1


def test_r_dep_10_no_inflow_before_the_platform_has_books(apply_platform):
    from custody.errors import PlatformNotActiveError

    with pytest.raises(PlatformNotActiveError):
        recon.inflow_register(platform=apply_platform("P009"), amount="1.00", reference="IN-0")
    assert not UnidentifiedInflow.objects.exists()
