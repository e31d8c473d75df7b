"""Custody fee services on a real database: schedules (maker-checker, versions), accrual from the
ledger's entries (once per platform and date), invoices (minimum, true-up, per-item fees) and their
collection through the ledger (paid, or arrears without overdraft)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Transfer
from accounts.ledger.selectors import internal_account
from accounts.payments.models import Withdrawal
from backoffice.errors import MakerCheckerError
from custody.fees import selectors
from custody.fees import services as fees
from custody.fees.errors import DayNotClosedError, ScheduleInvalidError, ScheduleNotEditableError
from custody.fees.models import FeeAccrual, FeeInvoice, FeeSchedule

pytestmark = pytest.mark.django_db


def _next_month(day: dt.date) -> dt.date:
    return selectors.next_month(day.replace(day=1))


# -- schedules ------------------------------------------------------------------------------------


def test_maker_is_not_checker_on_schedules(make_platform, maker, checker):
    platform = make_platform("P001")
    schedule = fees.fee_schedule_create(
        platform=platform,
        bands=[(Decimal("0"), Decimal("0.05"))],
        mode="marginal",
        basis="daily_pool_balance",
        effective_from=dt.date(2026, 1, 1),
        actor=maker,
    )
    fees.fee_schedule_submit(schedule_id=schedule.pk, actor=maker)
    with pytest.raises(MakerCheckerError):
        fees.fee_schedule_approve(schedule_id=schedule.pk, actor=maker)
    assert FeeSchedule.objects.get(pk=schedule.pk).state == "pending_approval"
    fees.fee_schedule_approve(schedule_id=schedule.pk, actor=checker)
    schedule = FeeSchedule.objects.get(pk=schedule.pk)
    assert (schedule.state, schedule.reviewed_by) == ("approved", checker)


def test_r_fee_03_a_schedule_without_a_mode_is_refused(make_platform, maker):
    platform = make_platform("P001")
    with pytest.raises(ScheduleInvalidError):
        fees.fee_schedule_create(
            platform=platform,
            bands=[(Decimal("0"), Decimal("0.05"))],
            mode="",
            basis="daily_pool_balance",
            effective_from=dt.date(2026, 1, 1),
            actor=maker,
        )


def test_an_approved_schedule_is_never_edited_a_new_version_supersedes(make_platform, approved_schedule, checker, maker):
    platform = make_platform("P001")
    v1 = approved_schedule(platform, effective_from=dt.date(2026, 1, 1))
    with pytest.raises(ScheduleNotEditableError):
        fees.fee_schedule_update(schedule_id=v1.pk, monthly_minimum=Decimal("1.00"), actor=maker)
    v2 = fees.fee_schedule_new_version(schedule_id=v1.pk, effective_from=dt.date(2026, 7, 1), actor=maker)
    fees.fee_schedule_update(schedule_id=v2.pk, bands=[(Decimal("0"), Decimal("0.04"))], actor=maker)
    fees.fee_schedule_submit(schedule_id=v2.pk, actor=maker)
    fees.fee_schedule_approve(schedule_id=v2.pk, actor=checker)
    assert (v2.version, v2.supersedes_id) == (2, v1.pk)
    assert selectors.schedule_in_force(platform=platform, day=dt.date(2026, 6, 30)).pk == v1.pk
    assert selectors.schedule_in_force(platform=platform, day=dt.date(2026, 7, 1)).pk == v2.pk
    assert [b.rate for b in FeeSchedule.objects.get(pk=v1.pk).bands.all()] == [Decimal("0.05000")]


# -- accrual --------------------------------------------------------------------------------------


def test_r_fee_01_accrual_uses_the_day_end_pool_from_entries(make_platform, lender, fund, approved_schedule, today):
    platform = make_platform("P001")
    sub = lender(platform)
    approved_schedule(platform, bands=[("0", "0.05")], day_count="365")
    fund(sub.account, "25000000.00")
    tomorrow = today + dt.timedelta(days=1)
    # yesterday's pool came from entries before yesterday's cut-off: none, whatever the balance is now
    before = fees.fees_accrue(platform=platform, business_date=today - dt.timedelta(days=1), as_of=tomorrow)
    assert (before.basis_amount, before.fee) == (Decimal("0.00"), Decimal("0.00"))
    # today: 25,000,000 × 0.05 % / 365 = 34.246575… → 34.25 (exact kept: 34.246575)
    accrual = fees.fees_accrue(platform=platform, business_date=today, as_of=tomorrow)
    assert (accrual.basis_amount, accrual.fee_exact, accrual.fee, accrual.days_in_year) == (
        Decimal("25000000.00"),
        Decimal("34.246575"),
        Decimal("34.25"),
        365,
    )


def test_a_day_not_closed_is_not_accrued(make_platform, approved_schedule, today):
    platform = make_platform("P001")
    approved_schedule(platform)
    with pytest.raises(DayNotClosedError):
        fees.fees_accrue(platform=platform, business_date=today)


def test_accrual_run_twice_gives_identical_figures_and_one_row(make_platform, lender, fund, approved_schedule, today):
    platform = make_platform("P001")
    fund(lender(platform).account, "1234567.89")
    approved_schedule(platform, bands=[("0", "0.1"), ("1000000", "0.08")], mode="whole_amount")
    tomorrow = today + dt.timedelta(days=1)
    first = fees.fees_accrue(platform=platform, business_date=today, as_of=tomorrow)
    # money arriving after the accrual changes nothing for that day
    fund(Account.objects.get(pk=first.platform.sub_accounts.get().account_id), "1000.00")
    second = fees.fees_accrue(platform=platform, business_date=today, as_of=tomorrow)
    assert second.pk == first.pk
    assert FeeAccrual.objects.filter(platform=platform, business_date=today).count() == 1
    # 1,234,567.89 × 0.08 % / 365 = 2.705902… → 2.71
    assert (second.fee_exact, second.fee) == (Decimal("2.705902"), Decimal("2.71"))


def test_accrual_killed_midway_then_rerun_is_identical(make_platform, lender, fund, approved_schedule, today):
    platform = make_platform("P001")
    fund(lender(platform).account, "500000.00")
    approved_schedule(platform, bands=[("0", "0.05")])
    tomorrow = today + dt.timedelta(days=1)
    seen = {}
    with pytest.raises(RuntimeError), transaction.atomic():
        accrual = fees.fees_accrue(platform=platform, business_date=today, as_of=tomorrow)
        seen = {"fee_exact": accrual.fee_exact, "basis": accrual.basis_amount}
        raise RuntimeError("worker killed before commit")
    assert not FeeAccrual.objects.filter(platform=platform).exists()  # nothing half-written
    again = fees.fees_accrue(platform=platform, business_date=today, as_of=tomorrow)
    # 500,000 × 0.05 % / 365 = 0.684931…
    assert (
        {"fee_exact": again.fee_exact, "basis": again.basis_amount}
        == seen
        == {"fee_exact": Decimal("0.684932"), "basis": Decimal("500000.00")}
    )


def test_beat_accrues_yesterday_for_every_active_platform(make_platform, approved_schedule, today):
    a, b = make_platform("P001"), make_platform("P002")
    approved_schedule(a)
    approved_schedule(b)
    result = fees.fees_daily(today=today + dt.timedelta(days=1))
    again = fees.fees_daily(today=today + dt.timedelta(days=1))
    assert result["accrued"] == again["accrued"] == 2
    assert FeeAccrual.objects.filter(business_date=today).count() == 2


# -- invoices -------------------------------------------------------------------------------------


def test_r_fee_02_a_month_under_the_minimum(make_platform, lender, fund, approved_schedule, today):
    platform = make_platform("P001")
    fund(lender(platform).account, "10000000.00")
    approved_schedule(platform, bands=[("0", "0.05")], day_count="365", rounding="daily", monthly_minimum=Decimal("8000.00"))
    month = today.replace(day=1)
    as_of = _next_month(today) + dt.timedelta(days=9)
    invoice = fees.invoice_issue(platform=platform, month=month, as_of=as_of)
    # the pool is 10,000,000 from today to the month's end, 0 before: 10,000,000 × 0.05 % / 365
    # = 13.698630… → 13.70 a day (rounded daily)
    funded_days = (_next_month(today) - today).days
    accrued = Decimal("13.70") * funded_days
    assert invoice.accrued == accrued
    assert invoice.minimum_top_up == Decimal("8000.00") - accrued  # e.g. 25 days: 342.50 → top-up 7,657.50
    assert invoice.total == Decimal("8000.00")
    assert [line.kind for line in invoice.lines.all()] == ["accrued", "minimum_top_up"]
    assert FeeAccrual.objects.filter(platform=platform, business_date__month=month.month).count() == len(
        selectors.month_days(month)
    )
    assert fees.invoice_issue(platform=platform, month=month, as_of=as_of).pk == invoice.pk  # once


def test_r_fee_02_annual_true_up_on_the_december_invoice(make_platform, approved_schedule, today):
    platform = make_platform("P001")
    approved_schedule(
        platform,
        monthly_minimum=Decimal("8000.00"),
        annual_minimum=Decimal("800000.00"),
        annual_fixed_fee=Decimal("100000.00"),
        onboarding_fee=Decimal("200000.00"),
    )
    as_of = dt.date(today.year + 1, 1, 10)
    nov = fees.invoice_issue(platform=platform, month=dt.date(today.year, 11, 1), as_of=as_of)
    dec = fees.invoice_issue(platform=platform, month=dt.date(today.year, 12, 1), as_of=as_of)
    # November: no pool → 0.00 accrued, topped up to 8,000.00; the first invoice carries the
    # onboarding fee (200,000.00) and the year's fixed fee (100,000.00): 308,000.00
    assert [(line.kind, line.amount) for line in nov.lines.all()] == [
        ("accrued", Decimal("0.00")),
        ("minimum_top_up", Decimal("8000.00")),
        ("onboarding", Decimal("200000.00")),
        ("annual_fixed", Decimal("100000.00")),
    ]
    # December: 8,000.00 again; the year's bills 8,000 + 8,000 = 16,000 < 800,000 → true-up 784,000.00
    assert [(line.kind, line.amount) for line in dec.lines.all()] == [
        ("accrued", Decimal("0.00")),
        ("minimum_top_up", Decimal("8000.00")),
        ("annual_true_up", Decimal("784000.00")),
    ]
    assert dec.total == Decimal("792000.00")


def test_invoice_issue_checks_the_month_in_one_query_and_accrues_only_missing_days(
    make_platform, lender, fund, approved_schedule, today
):
    """Two platforms, same pool and schedule: A's month accrued beforehand except its last day, B's
    not at all. Both invoices carry the same figures; A's issue accrues only the missing day (one
    new row, statements well under one round per day of the month), and a rerun adds nothing."""
    month = today.replace(day=1)
    days = selectors.month_days(month)
    as_of = _next_month(today) + dt.timedelta(days=9)
    platforms = []
    for code in ("P001", "P002"):
        platform = make_platform(code)
        fund(lender(platform).account, "12000000.00")
        approved_schedule(platform, bands=[("0", "0.10"), ("10000000", "0.08")], day_count="actual")
        platforms.append(platform)
    a, b = platforms
    for day in days[:-1]:
        fees.fees_accrue(platform=a, business_date=day, as_of=as_of)
    assert FeeAccrual.objects.filter(platform=a).count() == len(days) - 1
    with CaptureQueriesContext(connection) as issued:
        invoice_a = fees.invoice_issue(platform=a, month=month, as_of=as_of)
    invoice_b = fees.invoice_issue(platform=b, month=month, as_of=as_of)
    assert FeeAccrual.objects.filter(platform=a).count() == FeeAccrual.objects.filter(platform=b).count() == len(days)
    # before: one savepoint + lock + lookup + release per day of the month (about 4 × 31 statements)
    assert len(issued) < 40, [q["sql"] for q in issued]
    assert (invoice_a.accrued, invoice_a.minimum_top_up, invoice_a.total) == (
        invoice_b.accrued,
        invoice_b.minimum_top_up,
        invoice_b.total,
    )
    assert [(line.kind, line.quantity, line.amount) for line in invoice_a.lines.all()] == [
        (line.kind, line.quantity, line.amount) for line in invoice_b.lines.all()
    ]
    assert fees.invoice_issue(platform=a, month=month, as_of=as_of).pk == invoice_a.pk
    assert FeeAccrual.objects.filter(platform=a).count() == len(days)


def test_r_fee_04_per_item_fees_on_succeeded_unreturned_withdrawals_only(
    make_platform, lender, approved_schedule, make_channel, today
):
    platform = make_platform("P001")
    sub = lender(platform)
    approved_schedule(platform, per_withdrawal_fee=Decimal("2.00"))
    channel = make_channel()
    card = sub.account.bound_cards.get()
    resolved = timezone.now()
    # Withdrawal records in their final states (their own life cycle is tested in accounts):
    # 3 succeeded, 1 failed, 1 returned (退票) → 3 × 2.00 = 6.00
    for n, state in enumerate(["succeeded", "succeeded", "succeeded", "failed", "returned"]):
        Withdrawal.objects.create(
            client="t",
            out_request_no=f"w{n}",
            account=sub.account,
            card=card,
            channel=channel,
            amount=Decimal("100.00"),
            fee=Decimal("0.00"),
            strategy=channel.withdrawal_strategy,
            state=state,
            resolved_at=resolved,
        )
    invoice = fees.invoice_issue(platform=platform, month=today, as_of=_next_month(today) + dt.timedelta(days=9))
    line = invoice.lines.get(kind="per_withdrawal")
    assert (line.quantity, line.amount) == (Decimal("3"), Decimal("6.00"))


def test_r_fee_04_per_item_fees_paid_by_the_user_are_not_invoiced(make_platform, approved_schedule, today):
    platform = make_platform("P001")
    approved_schedule(platform, per_withdrawal_fee=Decimal("2.00"), per_withdrawal_payer="user")
    invoice = fees.invoice_issue(platform=platform, month=today, as_of=_next_month(today) + dt.timedelta(days=9))
    assert not invoice.lines.filter(kind="per_withdrawal").exists()


def test_r_fee_05_invoice_is_due_by_the_fifth_working_day(make_platform, approved_schedule):
    platform = make_platform("P001")
    approved_schedule(platform, monthly_minimum=Decimal("1.00"))
    # 2026: 1 October is National Day (holidays to 7 October; 10 October is a make-up working day)
    invoice = fees.invoice_issue(platform=platform, month=dt.date(2026, 9, 1), as_of=dt.date(2026, 10, 8))
    assert invoice.due_on > invoice.issued_on >= dt.date(2026, 10, 8)


def test_invoice_collected_from_own_funds_through_the_ledger(make_platform, approved_schedule, fund, today):
    platform = make_platform("P001")
    approved_schedule(platform, monthly_minimum=Decimal("8000.00"))
    fund(platform.own_funds, "10000.00")
    income = internal_account(Role.FEE_INCOME)
    income_before = income.balance
    invoice = fees.invoice_issue(platform=platform, month=today, as_of=_next_month(today) + dt.timedelta(days=9))
    invoice = fees.invoice_collect(invoice_id=invoice.pk)
    assert invoice.state == "paid"
    assert invoice.voucher.kind == "custody_fee"
    assert Account.objects.get(pk=platform.own_funds_id).balance == Decimal("2000.00")
    assert Account.objects.get(pk=income.pk).balance == income_before + Decimal("8000.00")
    assert fees.invoice_collect(invoice_id=invoice.pk).voucher_id == invoice.voucher_id  # once


def test_an_invoice_that_cannot_be_paid_stays_in_arrears_and_never_overdraws(make_platform, approved_schedule, fund, today):
    platform = make_platform("P001")
    approved_schedule(platform, monthly_minimum=Decimal("8000.00"))
    fund(platform.own_funds, "7999.99")
    invoice = fees.invoice_issue(platform=platform, month=today, as_of=_next_month(today) + dt.timedelta(days=9))
    invoice = fees.invoice_collect(invoice_id=invoice.pk)
    assert (invoice.state, invoice.voucher) == ("arrears", None)
    assert "7999.99" in invoice.last_refusal
    assert Account.objects.get(pk=platform.own_funds_id).balance == Decimal("7999.99")  # untouched
    assert not Transfer.objects.filter(kind="custody_fee").exists()
    invoice = fees.invoice_collect(invoice_id=invoice.pk)  # retried: still short
    assert (invoice.state, invoice.collect_attempts) == ("arrears", 2)
    fund(platform.own_funds, "0.01")
    invoice = fees.invoice_collect(invoice_id=invoice.pk)
    assert invoice.state == "paid"
    assert Account.objects.get(pk=platform.own_funds_id).balance == Decimal("0.00")
    assert FeeInvoice.objects.filter(platform=platform).count() == 1


def test_r_fee_05_an_invoice_issued_after_the_fifth_working_day_is_never_due_before_its_issue(make_platform, approved_schedule):
    platform = make_platform("P001")
    approved_schedule(platform, monthly_minimum=Decimal("1.00"))
    # December 2026: the 1st is a Tuesday, the fifth working day Monday the 7th; issued on the 8th.
    invoice = fees.invoice_issue(platform=platform, month=dt.date(2026, 11, 1), as_of=dt.date(2026, 12, 8))
    assert invoice.issued_on == dt.date(2026, 12, 8)
    assert invoice.due_on == invoice.issued_on
