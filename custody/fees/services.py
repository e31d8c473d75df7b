"""Custody fee use cases (存管费): schedules (maker-checker), daily accrual, monthly invoices and
their collection from the platform's own funds through the ledger.

Rules: DOMAIN.md §4, R-FEE-01..05. Every service is a top-level use case (``atomic(durable=True)``
unless called inside one), locks the platform (or invoice) row first, audits, and leaves money to
``accounts.ledger.postings`` (voucher kind ``custody_fee``: debit the platform's own funds
(``platform_own``), credit the bank's fee income; registered in ``CustodyConfig.ready``).

- ``fees_accrue``: one platform, one closed business date, **once**: the platform row is locked,
  an existing accrual is returned as it is, else the basis is derived from entries before the
  cut-off and the accrual inserted (unique on platform and date). A rerun gives the same row; a
  run killed midway left nothing (one transaction), so its rerun computes it afresh, and the same
  entries give the same figures.
- ``invoice_issue``: a closed month, once per platform (unique on platform and month); the days
  not yet accrued (found with one query for the month's accruals) are accrued first. Lines: the
  accrued fee (Σ of the rounded daily fees, or the unrounded ones rounded once: the schedule's
  rounding), per-item withdrawal fees when the platform pays them (R-FEE-04), the monthly minimum
  top-up (R-FEE-02), the onboarding fee on the platform's first invoice, the annual fixed fee on
  the first invoice of a calendar year, and on the December invoice the annual true-up to the
  annual minimum. Issued on the first working day of
  the next month, due by its fifth working day (R-FEE-05, ``accounts.workdays``).
- ``invoice_collect``: debit the total from the platform's own funds to the bank's fee income. When
  the available balance cannot pay (or the account refuses debits) the ledger refuses and nothing
  moves: the invoice is (or stays) in arrears, never overdrawn; a later collection retries it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import workdays
from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.errors import AccountNotActiveError, InsufficientFundsError
from accounts.ledger.selectors import internal_account
from backoffice.audit import audit_record
from backoffice.dates import business_date
from backoffice.errors import FieldValidationError, InvalidStateError, MakerCheckerError, NotFoundError
from custody.fees import selectors, tiers
from custody.fees.errors import DayNotClosedError, ScheduleInvalidError, ScheduleNotEditableError
from custody.fees.models import FeeAccrual, FeeBand, FeeInvoice, FeeInvoiceLine, FeeSchedule
from custody.models import LendingPlatform

__all__ = [
    "FEE_VOUCHER_KIND",
    "LEDGER_CLIENT",
    "fee_schedule_approve",
    "fee_schedule_create",
    "fee_schedule_import",
    "fee_schedule_new_version",
    "fee_schedule_reject",
    "fee_schedule_submit",
    "fee_schedule_update",
    "fees_accrue",
    "fees_accrue_all",
    "fees_daily",
    "invoice_collect",
    "invoice_issue",
]

LEDGER_CLIENT = "custody-fees"
FEE_VOUCHER_KIND = "custody_fee"
ZERO = Decimal("0.00")
SCHEDULE_FIELDS = (
    "basis",
    "mode",
    "day_count",
    "rounding",
    "monthly_minimum",
    "annual_minimum",
    "onboarding_fee",
    "annual_fixed_fee",
    "per_withdrawal_fee",
    "per_withdrawal_payer",
    "vat_inclusive",
    "effective_from",
)
BILLED_STATES = (LendingPlatform.State.ACTIVE, LendingPlatform.State.SUSPENDED, LendingPlatform.State.WINDING_DOWN)


def _atomic():
    return transaction.atomic(durable=not transaction.get_connection().in_atomic_block)


def _user(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _today() -> dt.date:
    return business_date(timezone.now())


def _locked_platform(platform_id: int) -> LendingPlatform:
    platform = LendingPlatform.objects.select_for_update().filter(pk=platform_id).first()
    if platform is None:
        raise NotFoundError(_("No such platform."))
    return platform


def _locked_schedule(schedule_id: int) -> FeeSchedule:
    schedule = FeeSchedule.objects.select_for_update().filter(pk=schedule_id).select_related("platform").first()
    if schedule is None:
        raise NotFoundError(_("No such fee schedule."))
    return schedule


def _audit_schedule(schedule: FeeSchedule, action: str, *, actor=None, **data) -> None:
    audit_record(
        actor=actor,
        action=f"custody.fee_schedule.{action}",
        target=schedule,
        data={"platform": schedule.platform.code, "version": schedule.version, **data},
    )


# -- schedules (maker-checker) ---------------------------------------------------------------------


def _bands_from(raw) -> list[tiers.Band]:
    bands = []
    for item in raw:
        lower, rate = (item.lower, item.rate) if isinstance(item, tiers.Band) else (item[0], item[1])
        bands.append(tiers.Band(Decimal(str(lower)), Decimal(str(rate))))
    return bands


def validate_schedule(schedule: FeeSchedule, bands: list[tiers.Band]) -> None:
    """What a schedule must say before it is submitted: a tier mode (R-FEE-03: there is no
    default), bands from 0 with distinct bounds and non-negative rates; rates fit the column."""
    if schedule.mode not in tiers.MODES:
        raise ScheduleInvalidError(reason="the tier mode (whole amount or marginal) is mandatory")
    if schedule.basis not in FeeSchedule.Basis.values:
        raise ScheduleInvalidError(reason="unknown basis")
    try:
        tiers.check_bands(bands)
    except (TypeError, ValueError) as exc:
        raise ScheduleInvalidError(reason=str(exc)) from None
    for band in bands:
        if band.rate != band.rate.quantize(Decimal("0.00001")) or band.rate >= Decimal("10000"):
            raise ScheduleInvalidError(reason=f"rate {band.rate} has more than 5 decimals or is too large")
        if band.lower != band.lower.quantize(Decimal("0.01")):
            raise ScheduleInvalidError(reason=f"lower bound {band.lower} has more than 2 decimals")


def _write_bands(schedule: FeeSchedule, bands: list[tiers.Band]) -> None:
    schedule.bands.all().delete()
    FeeBand.objects.bulk_create(FeeBand(schedule=schedule, lower_bound=b.lower, rate=b.rate) for b in bands)


def fee_schedule_create(*, platform: LendingPlatform, bands, actor=None, **fields) -> FeeSchedule:
    """A new draft version of the platform's schedule (version = the last + 1) with its bands."""
    unknown = set(fields) - set(SCHEDULE_FIELDS)
    if unknown:
        raise FieldValidationError(fields={name: [_("Unknown field.")] for name in unknown})
    bands = _bands_from(bands)
    with _atomic():
        platform = _locked_platform(platform.pk)
        last = FeeSchedule.objects.filter(platform=platform).order_by("-version").values_list("version", flat=True).first()
        schedule = FeeSchedule(platform=platform, version=(last or 0) + 1, created_by=_user(actor), **fields)
        validate_schedule(schedule, bands)
        schedule.save()
        _write_bands(schedule, bands)
        _audit_schedule(schedule, "create", actor=actor)
        return schedule


def fee_schedule_next_version(*, platform: LendingPlatform) -> int:
    """The version number a new draft of the platform gets (the console's add form)."""
    last = FeeSchedule.objects.filter(platform=platform).order_by("-version").values_list("version", flat=True).first()
    return (last or 0) + 1


def fee_schedule_update(*, schedule_id: int, bands=None, actor=None, **fields) -> FeeSchedule:
    """Edit a draft (only a draft: ScheduleNotEditableError otherwise)."""
    with _atomic():
        schedule = _locked_schedule(schedule_id)
        if schedule.state != FeeSchedule.State.DRAFT:
            raise ScheduleNotEditableError(schedule=str(schedule.pk), state=schedule.state)
        for name, value in fields.items():
            if name not in SCHEDULE_FIELDS:
                raise FieldValidationError(fields={name: [_("Unknown field.")]})
            setattr(schedule, name, value)
        new_bands = _bands_from(bands) if bands is not None else schedule.tier_bands()
        validate_schedule(schedule, new_bands)
        schedule.save()
        if bands is not None:
            _write_bands(schedule, new_bands)
        _audit_schedule(schedule, "update", actor=actor, fields=sorted(fields))
        return schedule


def fee_schedule_new_version(*, schedule_id: int, effective_from: dt.date, actor=None) -> FeeSchedule:
    """A draft copy of an approved schedule, to supersede it from ``effective_from``."""
    with _atomic():
        source = _locked_schedule(schedule_id)
        copy = fee_schedule_create(
            platform=source.platform,
            bands=source.tier_bands(),
            actor=actor,
            **{name: getattr(source, name) for name in SCHEDULE_FIELDS if name != "effective_from"},
            effective_from=effective_from,
        )
        copy.supersedes = source
        copy.save(update_fields=["supersedes", "updated_at"])
        return copy


def fee_schedule_import(*, platform: LendingPlatform, bands, actor=None, source: str = "", **fields) -> FeeSchedule:
    """A checked schedule file (``custody.fees.imports.read_schedule_file``) becomes a **new draft
    version** of the platform's schedule, in one transaction: never written into an approved or a
    submitted version. It supersedes the platform's latest approved version (if any) from its own
    effective date once approved, through the same submit → review as any draft."""
    with _atomic():
        platform = _locked_platform(platform.pk)
        draft = fee_schedule_create(platform=platform, bands=bands, actor=actor, **fields)
        latest = (
            FeeSchedule.objects.filter(platform=platform, state=FeeSchedule.State.APPROVED)
            .exclude(pk=draft.pk)
            .order_by("-version")
            .first()
        )
        if latest is not None:
            draft.supersedes = latest
            draft.save(update_fields=["supersedes", "updated_at"])
        _audit_schedule(draft, "import", actor=actor, source=source[:200], bands=len(draft.tier_bands()))
        return draft


def fee_schedule_submit(*, schedule_id: int, actor) -> FeeSchedule:
    """The maker submits a draft for approval (validated again with its bands)."""
    with _atomic():
        schedule = _locked_schedule(schedule_id)
        if schedule.state != FeeSchedule.State.DRAFT:
            raise InvalidStateError(state=schedule.state)
        validate_schedule(schedule, schedule.tier_bands())
        schedule.submit()
        schedule.submitted_by, schedule.submitted_at = _user(actor), timezone.now()
        schedule.save()
        _audit_schedule(schedule, "submit", actor=actor)
        return schedule


def _refuse_maker(schedule: FeeSchedule, actor) -> None:
    user = _user(actor)
    if user is None:
        raise MakerCheckerError(_("A fee schedule is approved or rejected by an identified checker."))
    if user.pk in (schedule.created_by_id, schedule.submitted_by_id):
        raise MakerCheckerError()


def fee_schedule_approve(*, schedule_id: int, actor, note: str = "") -> FeeSchedule:
    """The checker (neither its maker nor its submitter: ``maker_checker_violation``) approves; the
    version is frozen and is in force from its ``effective_from`` until a later one."""
    with _atomic():
        schedule = _locked_schedule(schedule_id)
        if schedule.state != FeeSchedule.State.PENDING_APPROVAL:
            raise InvalidStateError(state=schedule.state)
        _refuse_maker(schedule, actor)
        schedule.approve()
        schedule.reviewed_by, schedule.reviewed_at = _user(actor), timezone.now()
        schedule.review_note = (note or "").strip()[:500]
        schedule.save()
        _audit_schedule(
            schedule,
            "approve",
            actor=actor,
            note=schedule.review_note,
            bands=[[str(b.lower), str(b.rate)] for b in schedule.tier_bands()],
        )
        return schedule


def fee_schedule_reject(*, schedule_id: int, actor, note: str) -> FeeSchedule:
    """The checker returns it to the maker (pending_approval → draft) with a reason."""
    note = (note or "").strip()
    if not note:
        raise FieldValidationError(fields={"note": [_("A reason is required.")]})
    with _atomic():
        schedule = _locked_schedule(schedule_id)
        if schedule.state != FeeSchedule.State.PENDING_APPROVAL:
            raise InvalidStateError(state=schedule.state)
        _refuse_maker(schedule, actor)
        schedule.reject()
        schedule.reviewed_by, schedule.reviewed_at, schedule.review_note = _user(actor), timezone.now(), note[:500]
        schedule.save()
        _audit_schedule(schedule, "reject", actor=actor, note=note[:500])
        return schedule


# -- accrual ---------------------------------------------------------------------------------------


def _compute(platform: LendingPlatform, day: dt.date, schedule: FeeSchedule) -> dict:
    basis = selectors.basis_on(platform=platform, day=day, schedule=schedule)
    bands = schedule.tier_bands()
    n = tiers.days_in_year(day, schedule.day_count)
    if schedule.is_balance_basis:
        exact = tiers.daily_fee_exact(basis, bands, schedule.mode, day=day, day_count=schedule.day_count)
        rounded = tiers.daily_fee(basis, bands, schedule.mode, day=day, day_count=schedule.day_count)
    else:  # a flow or count: the day's charge itself, no day count
        raw = tiers.charge(basis, bands, schedule.mode, unit=schedule.unit)
        exact, rounded = tiers.micro(raw), tiers.fen(raw)
    return {"basis_amount": basis, "days_in_year": n, "fee_exact": exact, "fee": rounded}


def fees_accrue(*, platform: LendingPlatform, business_date: dt.date, as_of: dt.date | None = None) -> FeeAccrual | None:
    """Accrue the platform's custody fee for a closed ``business_date``, exactly once.

    Returns the accrual (the existing one on a rerun: identical figures, one row), or None when no
    approved schedule is in force that day. Raises DayNotClosedError for ``as_of`` (the bank's
    today by default) or a later date."""
    if business_date >= (as_of or _today()):
        raise DayNotClosedError(day=business_date.isoformat())
    with _atomic():
        platform = _locked_platform(platform.pk)  # serializes accruals of one platform
        existing = FeeAccrual.objects.filter(platform=platform, business_date=business_date).first()
        if existing is not None:
            return existing
        schedule = selectors.schedule_in_force(platform=platform, day=business_date)
        if schedule is None:
            return None
        accrual = FeeAccrual.objects.create(
            platform=platform, business_date=business_date, schedule=schedule, **_compute(platform, business_date, schedule)
        )
        audit_record(
            action="custody.fee.accrue",
            target=accrual,
            data={"platform": platform.code, "date": business_date.isoformat(), "fee_exact": str(accrual.fee_exact)},
        )
        return accrual


def fees_accrue_all(*, business_date: dt.date, as_of: dt.date | None = None) -> int:
    """Accrue ``business_date`` for every billed platform (active, suspended, winding down), one
    transaction per platform: a crash leaves the platforms done so far done, and a rerun skips them."""
    done = 0
    for platform in LendingPlatform.objects.filter(state__in=BILLED_STATES).order_by("pk"):
        if fees_accrue(platform=platform, business_date=business_date, as_of=as_of) is not None:
            done += 1
    return done


# -- invoices --------------------------------------------------------------------------------------


def _line(invoice, position, kind, amount, *, quantity=Decimal("1"), description=""):
    return FeeInvoiceLine(
        invoice=invoice,
        position=position,
        kind=kind,
        description=(description or str(FeeInvoiceLine.Kind(kind).label))[:200],
        quantity=quantity,
        amount=amount,
    )


def _billable_lines(invoice: FeeInvoice) -> Decimal:
    """What counts towards the annual minimum: the usage lines and their monthly top-ups (not the
    one-off onboarding fee, the annual fixed fee, nor a true-up)."""
    kinds = (FeeInvoiceLine.Kind.ACCRUED, FeeInvoiceLine.Kind.PER_WITHDRAWAL, FeeInvoiceLine.Kind.MINIMUM_TOP_UP)
    return sum((line.amount for line in invoice.lines.all() if line.kind in kinds), ZERO)


def invoice_issue(*, platform: LendingPlatform, month: dt.date, actor=None, as_of: dt.date | None = None) -> FeeInvoice | None:
    """Issue the platform's invoice for ``month`` (any day of it), once. None when no schedule was
    in force in the month. Raises DayNotClosedError while the month has not ended."""
    month = selectors.month_start(month)
    days = selectors.month_days(month)
    today = as_of or _today()
    if days[-1] >= today:
        raise DayNotClosedError(day=month.strftime("%Y-%m"))
    with _atomic():
        platform = _locked_platform(platform.pk)
        existing = FeeInvoice.objects.filter(platform=platform, month=month).first()
        if existing is not None:
            return existing
        # One query for the month's existing accruals, then only the missing days are accrued (each
        # once, through fees_accrue); the platform row is locked, so none appears in between.
        by_day = {a.business_date: a for a in FeeAccrual.objects.filter(platform=platform, business_date__in=days)}
        for day in days:
            if day not in by_day:
                accrual = fees_accrue(platform=platform, business_date=day, as_of=today)
                if accrual is not None:
                    by_day[day] = accrual
        schedule = selectors.schedule_in_force(platform=platform, day=days[-1])
        if schedule is None:
            return None
        month_accruals = [by_day[day] for day in days if day in by_day]
        accrued = tiers.month_total(
            [a.fee_exact for a in month_accruals], [a.fee for a in month_accruals], round_daily=schedule.round_daily
        )
        per_item = ZERO
        withdrawals = 0
        if schedule.per_withdrawal_fee > 0 and schedule.per_withdrawal_payer == FeeSchedule.Payer.PLATFORM:
            withdrawals = selectors.succeeded_withdrawals(platform=platform, month=month).count()
            per_item = schedule.per_withdrawal_fee * withdrawals
        subtotal, top_up = tiers.monthly_bill(accrued, per_item, schedule.monthly_minimum)
        first_working = workdays.next_working_day(selectors.next_month(month))
        issued_on = max(today, first_working)
        # R-FEE-05: due by the fifth working day; an invoice issued later is due on its issue day,
        # never before it.
        due_on = max(workdays.add_working_days(first_working, 4), issued_on)
        invoice = FeeInvoice.objects.create(
            platform=platform,
            month=month,
            number=f"FEE-{platform.code}-{month:%Y%m}",
            schedule=schedule,
            issued_on=issued_on,
            due_on=due_on,
            accrued=accrued,
            minimum_top_up=top_up,
            total=ZERO,
            vat_inclusive=schedule.vat_inclusive,
        )
        lines = [
            _line(
                invoice,
                1,
                FeeInvoiceLine.Kind.ACCRUED,
                accrued,
                quantity=Decimal(len(month_accruals)),
                description=f"存管服务费 / custody fee {month:%Y-%m}, {len(month_accruals)} days",
            )
        ]
        if per_item > 0:
            lines.append(_line(invoice, 0, FeeInvoiceLine.Kind.PER_WITHDRAWAL, per_item, quantity=Decimal(withdrawals)))
        if top_up > 0:
            lines.append(_line(invoice, 0, FeeInvoiceLine.Kind.MINIMUM_TOP_UP, top_up))
        earlier = FeeInvoice.objects.filter(platform=platform, month__lt=month)
        if schedule.onboarding_fee > 0 and not earlier.filter(lines__kind=FeeInvoiceLine.Kind.ONBOARDING).exists():
            lines.append(_line(invoice, 0, FeeInvoiceLine.Kind.ONBOARDING, schedule.onboarding_fee))
        same_year = earlier.filter(month__year=month.year)
        if schedule.annual_fixed_fee > 0 and not same_year.filter(lines__kind=FeeInvoiceLine.Kind.ANNUAL_FIXED).exists():
            lines.append(_line(invoice, 0, FeeInvoiceLine.Kind.ANNUAL_FIXED, schedule.annual_fixed_fee))
        if month.month == 12 and schedule.annual_minimum > 0:
            bills = [_billable_lines(other) for other in same_year.prefetch_related("lines")] + [subtotal]
            true_up = tiers.annual_true_up(bills, schedule.annual_minimum)
            if true_up > 0:
                lines.append(
                    _line(
                        invoice,
                        0,
                        FeeInvoiceLine.Kind.ANNUAL_TRUE_UP,
                        true_up,
                        description=f"年度最低收费补足 / annual minimum true-up {month.year}",
                    )
                )
        for position, line in enumerate(lines, start=1):
            line.position = position
        FeeInvoiceLine.objects.bulk_create(lines)
        invoice.total = sum((line.amount for line in lines), ZERO)
        invoice.save(update_fields=["total", "updated_at"])
        audit_record(
            actor=actor,
            action="custody.fee_invoice.issue",
            target=invoice,
            data={"platform": platform.code, "month": f"{month:%Y-%m}", "total": str(invoice.total)},
        )
        return invoice


def invoice_collect(*, invoice_id: int, actor=None) -> FeeInvoice:
    """Debit the invoice's total from the platform's own funds to the bank's fee income (voucher
    ``custody_fee``, idempotent on the invoice number). A paid invoice is returned as it is. When
    the ledger refuses (available short, account not paying) nothing moves and the invoice is in
    arrears, the refusal recorded; it is never overdrawn."""
    with _atomic():
        invoice = FeeInvoice.objects.select_for_update().filter(pk=invoice_id).first()
        if invoice is None:
            raise NotFoundError(_("No such invoice."))
        if invoice.state == FeeInvoice.State.PAID:
            return invoice
        platform = LendingPlatform.objects.get(pk=invoice.platform_id)
        invoice.collect_attempts += 1
        if invoice.total == 0:
            invoice.mark_paid()
            invoice.paid_at = timezone.now()
            invoice.save()
            return invoice
        try:
            voucher = ledger.post_transfer(
                client=LEDGER_CLIENT,
                idempotency_key=f"custody_fee:{invoice.number}",
                kind=FEE_VOUCHER_KIND,
                legs=ledger.move(
                    from_account_id=platform.own_funds_id,
                    to_account_id=internal_account(Role.FEE_INCOME).pk,
                    amount=invoice.total,
                ),
                memo=f"存管费 {invoice.number}"[:200],
                metadata={"invoice": invoice.number, "platform": platform.code},
            )
        except (InsufficientFundsError, AccountNotActiveError) as exc:
            invoice.mark_arrears()
            invoice.last_refusal = str(exc)[:200]
            invoice.save()
            audit_record(
                actor=actor,
                action="custody.fee_invoice.arrears",
                target=invoice,
                data={"platform": platform.code, "code": exc.code, **{k: str(v) for k, v in exc.data.items()}},
            )
            return invoice
        invoice.mark_paid()
        invoice.voucher, invoice.paid_at, invoice.last_refusal = voucher, timezone.now(), ""
        invoice.save()
        audit_record(
            actor=actor,
            action="custody.fee_invoice.paid",
            target=invoice,
            data={"platform": platform.code, "voucher": voucher.pk, "total": str(invoice.total)},
        )
        return invoice


def fees_daily(*, today: dt.date | None = None) -> dict:
    """The beat's day (``custody.fees_daily``): accrue yesterday for every billed platform; on the
    first working day of a month issue last month's invoices; on a working day collect every
    invoice issued or in arrears (R-FEE-05: by the fifth working day; arrears are retried)."""
    today = today or _today()
    yesterday = today - dt.timedelta(days=1)
    result = {"accrued": fees_accrue_all(business_date=yesterday, as_of=today), "issued": 0, "paid": 0, "arrears": 0}
    if not workdays.is_working_day(today):
        return result
    month = selectors.month_start(today)
    if today == workdays.next_working_day(month):
        last_month = selectors.month_start(month - dt.timedelta(days=1))
        for platform in LendingPlatform.objects.filter(state__in=BILLED_STATES).order_by("pk"):
            if invoice_issue(platform=platform, month=last_month, as_of=today) is not None:
                result["issued"] += 1
    open_states = (FeeInvoice.State.ISSUED, FeeInvoice.State.ARREARS)
    for invoice_id in FeeInvoice.objects.filter(state__in=open_states, issued_on__lte=today).values_list("pk", flat=True):
        invoice = invoice_collect(invoice_id=invoice_id)
        result["paid" if invoice.state == FeeInvoice.State.PAID else "arrears"] += 1
    return result
