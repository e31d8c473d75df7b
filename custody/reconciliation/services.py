"""Reconciliation use cases: import a platform's daily file and reconcile its day (R-DEP-07,
R-REC-01/02), the alerts of unreconciled or missing days, unidentified inflows to the platform's
suspense and their maker-checker allocation and reversal (R-DEP-10), custody reports (R-DEP-09).

Every service is a top-level use case (``atomic(durable=True)`` unless called inside one), locks
the platform (or inflow) row first, audits, and leaves money to ``accounts.ledger.postings``:

- voucher kind ``unidentified_inflow``: debit the bank's clearing account, credit the platform's
  suspense (挂账子账户); never a client directly;
- voucher kind ``suspense_allocation``: debit the platform's suspense, credit a client sub-account;
- 撤销挂账 posts ``reverse_transfer`` of the allocation voucher: the ledger refuses it
  (``insufficient_funds``) when the sub-account's available balance no longer covers it (spent),
  which is exactly R-DEP-10's "while unspent".

**Classification** (one result per item, R-REC-02; LONG and SHORT never post money):

- an instruction line whose (type, out_request_no) the bank has: ``mismatch`` if the amount or the
  state differ, else ``timing`` if the bank moved the money on another business day (across the
  日切), else ``matched``; unknown to the bank: ``long`` (长款);
- a record the bank moved on the day that the file does not list: ``timing`` if another file of
  the platform (another day) lists it, else ``short`` (短款);
- a balance line: ``matched`` when it equals the sub-account's day-end balance from entries;
  ``timing`` when the difference is exactly explained by the day's timing items of that
  sub-account (recharges +, withdrawals −); else ``mismatch``; an account that is not the
  platform's sub-account: ``long``; a sub-account with a non-zero day-end balance the file omits:
  ``short``.

The day is ``reconciled`` when no ``long``, ``short`` or ``mismatch`` is left, else
``unreconciled`` with a P2 alert (once per platform and day).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.errors import AccountNotActiveError, InsufficientFundsError
from accounts.ledger.selectors import internal_account
from backoffice.audit import audit_record
from backoffice.dates import business_date
from backoffice.errors import FieldValidationError, InvalidStateError, MakerCheckerError, NotFoundError
from backoffice.money import to_money
from backoffice.texts import text_render, text_spec
from custody.errors import PlatformNotActiveError
from custody.models import LendingPlatform, SubAccount
from custody.reconciliation import files, reports, selectors
from custody.reconciliation.errors import (
    AllocationNotReversibleError,
    InflowNotAllocatableError,
    PeriodNotClosedError,
    ReconciliationFileInvalidError,
)
from custody.reconciliation.models import (
    CustodyReport,
    InstructionType,
    ReconciliationAlert,
    ReconciliationDay,
    ReconciliationFile,
    ReconciliationItem,
    SuspenseAllocation,
    UnidentifiedInflow,
)

__all__ = [
    "ALLOCATION_KIND",
    "INFLOW_KIND",
    "LEDGER_CLIENT",
    "allocation_approve",
    "allocation_propose",
    "allocation_reject",
    "allocation_reverse",
    "inflow_register",
    "reconciliation_alert_acknowledge",
    "reconciliation_daily",
    "reconciliation_file_import",
    "register_posting_rules",
    "report_generate",
]

LEDGER_CLIENT = "custody-reconciliation"
INFLOW_KIND = "unidentified_inflow"
ALLOCATION_KIND = "suspense_allocation"
ZERO = Decimal("0.00")
CLIENT_ROLES = (Role.LENDER, Role.BORROWER, Role.GUARANTOR, Role.COMPENSATION)
RECONCILED_STATES = (LendingPlatform.State.ACTIVE, LendingPlatform.State.SUSPENDED, LendingPlatform.State.WINDING_DOWN)
R = ReconciliationItem.Result


def register_posting_rules() -> None:
    """The two voucher kinds of unidentified inflows (``CustodyConfig.ready``)."""
    from accounts.ledger.rules import POSTING_RULES, register_posting_rule

    if INFLOW_KIND not in POSTING_RULES:
        register_posting_rule(
            INFLOW_KIND,
            debit=[Role.CLEARING],
            credit=[Role.SUSPENSE],
            purpose="an unidentified inbound credit (不明来账): clearing → the platform's suspense (挂账子账户)",
        )
    if ALLOCATION_KIND not in POSTING_RULES:
        register_posting_rule(
            ALLOCATION_KIND,
            debit=[Role.SUSPENSE],
            credit=CLIENT_ROLES,
            purpose="登记挂账 approved by a checker: the platform's suspense → a client sub-account",
        )


def _atomic():
    return transaction.atomic(durable=not transaction.get_connection().in_atomic_block)


def _user(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _locked_platform(platform_id: int) -> LendingPlatform:
    platform = LendingPlatform.objects.select_for_update().filter(pk=platform_id).first()
    if platform is None:
        raise NotFoundError(_("No such platform."))
    return platform


# -- the daily file -------------------------------------------------------------------------------

SIGN = {InstructionType.RECHARGE: 1, InstructionType.WITHDRAWAL: -1}


def _classify(platform: LendingPlatform, file: ReconciliationFile, parsed: files.ParsedFile) -> list[ReconciliationItem]:
    day = parsed.business_date
    items: list[ReconciliationItem] = []

    def item(**fields) -> ReconciliationItem:
        row = ReconciliationItem(file=file, platform=platform, business_date=day, **fields)
        items.append(row)
        return row

    keys = [(line.type, line.out_request_no) for line in parsed.instructions]
    known = selectors.bank_records_lookup(platform=platform, keys=keys)
    timing_effect: dict[str, Decimal] = {}
    for line in parsed.instructions:
        record = known.get((line.type, line.out_request_no))
        common = {
            "line": line.line,
            "kind": ReconciliationItem.Kind.INSTRUCTION,
            "instruction_type": line.type,
            "out_request_no": line.out_request_no,
            "sub_account": line.sub_account,
            "platform_amount": line.amount,
            "platform_state": line.state,
        }
        if record is None:
            item(**common, result=R.LONG, note="not in the bank's books / 银行无此交易")
            continue
        common.update(bank_amount=record.amount, bank_state=record.state, bank_date=record.date)
        common["sub_account"] = line.sub_account or record.sub_account
        if record.amount != line.amount:
            item(**common, result=R.MISMATCH, note="amounts differ / 金额不符")
        elif record.state != line.state:
            item(**common, result=R.MISMATCH, note="states differ / 状态不符")
        elif record.date is not None and record.date != day:
            item(**common, result=R.TIMING, note=f"booked by the bank on {record.date.isoformat()} / 跨日切")
            if record.date > day and line.state == "succeeded":
                # The platform counted it on ``day``, the bank on a later day: the platform's day-end
                # balance includes it, the bank's does not yet.
                number = common["sub_account"]
                timing_effect[number] = timing_effect.get(number, ZERO) + SIGN.get(line.type, 0) * line.amount
        else:
            item(**common, result=R.MATCHED)
    in_file = set(keys)
    moved = selectors.bank_records_on(platform=platform, day=day)
    missing = [key for key in moved if key not in in_file]
    elsewhere = set()
    if missing:
        references = [reference for _kind, reference in missing]
        others = ReconciliationItem.objects.filter(
            platform=platform,
            kind=ReconciliationItem.Kind.INSTRUCTION,
            out_request_no__in=references,
            line__isnull=False,
        ).exclude(business_date=day)
        elsewhere = set(others.values_list("instruction_type", "out_request_no"))
    for key in missing:
        record = moved[key]
        common = {
            "line": None,
            "kind": ReconciliationItem.Kind.INSTRUCTION,
            "instruction_type": record.type,
            "out_request_no": record.out_request_no,
            "sub_account": record.sub_account,
            "bank_amount": record.amount,
            "bank_state": record.state,
            "bank_date": record.date,
        }
        if key in elsewhere:
            item(**common, result=R.TIMING, note="in the platform's file of another day / 平台在其他日期记账")
            if record.state == "succeeded":
                number = record.sub_account
                timing_effect[number] = timing_effect.get(number, ZERO) - SIGN.get(record.type, 0) * record.amount
        else:
            item(**common, result=R.SHORT, note="not in the platform's file / 平台文件无此交易")
    balances = selectors.day_end_balances(accounts=selectors.subaccount_numbers(platform=platform), day=day)
    listed = set()
    for line in parsed.balances:
        listed.add(line.sub_account)
        common = {
            "line": line.line,
            "kind": ReconciliationItem.Kind.BALANCE,
            "sub_account": line.sub_account,
            "platform_amount": line.amount,
        }
        if line.sub_account not in balances:
            item(**common, result=R.LONG, note="not a sub-account of this platform / 非本平台子账户")
            continue
        bank = balances[line.sub_account]
        common["bank_amount"] = bank
        if bank == line.amount:
            item(**common, result=R.MATCHED)
        elif line.amount - bank == timing_effect.get(line.sub_account, ZERO):
            item(**common, result=R.TIMING, note="explained by the day's timing items / 日切时差可解释")
        else:
            item(**common, result=R.MISMATCH, note="day-end balances differ / 日终余额不符")
    for number, bank in sorted(balances.items()):
        if number not in listed and bank != 0:
            item(
                line=None,
                kind=ReconciliationItem.Kind.BALANCE,
                sub_account=number,
                bank_amount=bank,
                result=R.SHORT,
                note="balance not in the platform's file / 平台文件无此子账户余额",
            )
    return items


def _alert(platform: LendingPlatform, day: dt.date, kind: str, spec: dict) -> ReconciliationAlert:
    message = text_render(spec, bilingual=True)
    alert, created = ReconciliationAlert.objects.get_or_create(
        platform=platform, business_date=day, kind=kind, defaults={"message": message[:500], "text_spec": spec}
    )
    if created:
        audit_record(
            action=f"custody.reconciliation.alert.{kind}",
            target=alert,
            data={"platform": platform.code, "date": day.isoformat(), "severity": alert.severity, "message": message[:200]},
        )
    return alert


def reconciliation_file_import(
    *, platform: LendingPlatform, content: bytes, source: str, actor=None, client: str = ""
) -> tuple[ReconciliationFile, bool]:
    """Import a platform's daily file and reconcile its day. Returns ``(file, created)``: the same
    bytes again return the first import (``created`` False; R-REC-01, by SHA-256). A file with any
    bad line raises ReconciliationFileInvalidError with every error and stores nothing. A
    different file for a day already reconciled supersedes it (both kept)."""
    parsed = files.parse(content)
    if parsed.errors:
        raise ReconciliationFileInvalidError(count=len(parsed.errors), errors=parsed.errors)
    digest = hashlib.sha256(content).hexdigest()
    today = business_date(timezone.now())
    if parsed.business_date > today:
        raise ReconciliationFileInvalidError(
            count=1, errors=[{"line": 2, "field": "business_date", "message": "a day in the future"}]
        )
    with _atomic():
        platform = _locked_platform(platform.pk)  # serializes a platform's imports
        existing = ReconciliationFile.objects.filter(platform=platform, sha256=digest).first()
        if existing is not None:
            return existing, False
        file = ReconciliationFile.objects.create(
            platform=platform,
            business_date=parsed.business_date,
            sha256=digest,
            content=content.decode("utf-8-sig"),
            lines=parsed.lines,
            source=source,
            uploaded_by=_user(actor),
            client=client[:64],
        )
        items = _classify(platform, file, parsed)
        ReconciliationItem.objects.bulk_create(items)
        counts = {result: 0 for result in R.values}
        for row in items:
            counts[row.result] += 1
        day, _created = ReconciliationDay.objects.get_or_create(platform=platform, business_date=parsed.business_date)
        day = ReconciliationDay.objects.select_for_update().get(pk=day.pk)
        day.file = file
        day.matched, day.long, day.short = counts[R.MATCHED], counts[R.LONG], counts[R.SHORT]
        day.mismatch, day.timing = counts[R.MISMATCH], counts[R.TIMING]
        day.reconciled_at = timezone.now()
        if day.differences:
            day.mark_unreconciled()
        else:
            day.mark_reconciled()
        day.save()
        audit_record(
            actor=actor,
            actor_label="" if _user(actor) else (client or "api"),
            action="custody.reconciliation.import",
            target=file,
            data={"platform": platform.code, "date": parsed.business_date.isoformat(), "state": day.state, **counts},
        )
        if day.state == ReconciliationDay.State.UNRECONCILED:
            _alert(
                platform,
                day.business_date,
                ReconciliationAlert.Kind.UNRECONCILED,
                text_spec(
                    _(
                        "{platform} {day}: not reconciled: {long} long, {short} short, {mismatch} mismatch "
                        "/ {platform} {day} 对账不平：长款 {long} 笔，短款 {short} 笔，不符 {mismatch} 笔"
                    ),
                    platform=platform.code,
                    day=day.business_date.isoformat(),
                    long=day.long,
                    short=day.short,
                    mismatch=day.mismatch,
                ),
            )
        return file, True


def reconciliation_daily(*, today: dt.date | None = None) -> dict:
    """R-DEP-07, the beat's day (``custody.reconciliation_daily``): for every reconciled platform,
    yesterday's day is recorded (``missing`` if no file came) and a day not reconciled raises its
    P2 alert (once). It never blocks anything."""
    today = today or business_date(timezone.now())
    yesterday = today - dt.timedelta(days=1)
    result = {"missing": 0, "unreconciled": 0, "reconciled": 0}
    for platform in LendingPlatform.objects.filter(state__in=RECONCILED_STATES).order_by("pk"):
        with _atomic():
            day, _created = ReconciliationDay.objects.get_or_create(platform=platform, business_date=yesterday)
            result[day.state] += 1
            if day.state == ReconciliationDay.State.MISSING:
                _alert(
                    platform,
                    yesterday,
                    ReconciliationAlert.Kind.MISSING,
                    text_spec(
                        _("{platform} {day}: no reconciliation file / {platform} {day} 未收到对账文件"),
                        platform=platform.code,
                        day=yesterday.isoformat(),
                    ),
                )
            elif day.state == ReconciliationDay.State.UNRECONCILED:
                _alert(
                    platform,
                    yesterday,
                    ReconciliationAlert.Kind.UNRECONCILED,
                    text_spec(
                        _("{platform} {day}: not reconciled / {platform} {day} 对账不平"),
                        platform=platform.code,
                        day=yesterday.isoformat(),
                    ),
                )
    return result


def reconciliation_alert_acknowledge(*, alert_id: int, actor) -> ReconciliationAlert:
    with _atomic():
        alert = ReconciliationAlert.objects.select_for_update().get(pk=alert_id)
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = timezone.now(), _user(actor)
            alert.save(update_fields=["acknowledged_at", "acknowledged_by", "updated_at"])
            audit_record(actor=actor, action="custody.reconciliation.alert.acknowledge", target=alert)
        return alert


# -- unidentified inflows (R-DEP-10) ---------------------------------------------------------------


def inflow_register(
    *,
    platform: LendingPlatform,
    amount,
    reference: str,
    value_date: dt.date | None = None,
    payer_name: str = "",
    payer_account: str = "",
    memo: str = "",
    actor=None,
) -> UnidentifiedInflow:
    """Book an inbound credit that cannot be identified to the platform's suspense (clearing →
    suspense, voucher ``unidentified_inflow``), idempotent on (platform, bank reference): the same
    reference returns the first inflow."""
    amount = to_money(amount)
    reference = (reference or "").strip()
    if amount <= 0:
        raise FieldValidationError(fields={"amount": [_("A positive amount is required.")]})
    if not reference or len(reference) > 64:
        raise FieldValidationError(fields={"reference": [_("A bank reference of 1 to 64 characters is required.")]})
    with _atomic():
        platform = _locked_platform(platform.pk)
        if platform.own_funds_id is None:  # not approved yet: its books (and suspense) do not exist
            raise PlatformNotActiveError(platform=platform.code, state=platform.state)
        existing = UnidentifiedInflow.objects.filter(platform=platform, reference=reference).first()
        if existing is not None:
            return existing
        suspense = internal_account(Role.SUSPENSE, owner=platform.owner)
        voucher = ledger.post_transfer(
            client=LEDGER_CLIENT,
            idempotency_key=f"inflow:{platform.code}:{reference}",
            kind=INFLOW_KIND,
            legs=ledger.move(from_account_id=internal_account(Role.CLEARING).pk, to_account_id=suspense.pk, amount=amount),
            memo=f"不明来账 {reference}"[:200],
            metadata={"platform": platform.code, "reference": reference, "payer_name": payer_name[:200]},
        )
        inflow = UnidentifiedInflow.objects.create(
            platform=platform,
            amount=amount,
            value_date=value_date or business_date(timezone.now()),
            payer_name=payer_name[:200],
            payer_account=payer_account[:40],
            reference=reference,
            memo=memo[:200],
            voucher=voucher,
            recorded_by=_user(actor),
        )
        audit_record(
            actor=actor,
            action="custody.inflow.register",
            target=inflow,
            data={"platform": platform.code, "amount": str(amount), "reference": reference, "voucher": voucher.pk},
        )
        return inflow


def _locked_inflow(inflow_id: int) -> UnidentifiedInflow:
    inflow = UnidentifiedInflow.objects.select_for_update().filter(pk=inflow_id).select_related("platform").first()
    if inflow is None:
        raise NotFoundError(_("No such inflow."))
    return inflow


def allocation_propose(*, inflow_id: int, sub_account_number: str, reason: str, actor) -> SuspenseAllocation:
    """The maker proposes the client sub-account of the platform the inflow belongs to (its whole
    amount), with the evidence. Nothing moves until a checker approves."""
    reason = (reason or "").strip()
    if not reason:
        raise FieldValidationError(fields={"reason": [_("The evidence is required.")]})
    if _user(actor) is None:
        raise MakerCheckerError(_("An allocation is proposed by an identified operator."))
    with _atomic():
        inflow = _locked_inflow(inflow_id)
        if inflow.state != UnidentifiedInflow.State.UNALLOCATED:
            raise InflowNotAllocatableError(inflow=inflow.reference, state=inflow.state)
        sub = SubAccount.objects.filter(platform=inflow.platform, account__number=(sub_account_number or "").strip()).first()
        if sub is None:
            raise FieldValidationError(fields={"sub_account": [_("Not a sub-account of this platform.")]})
        allocation = SuspenseAllocation.objects.create(
            inflow=inflow, sub_account=sub, amount=inflow.amount, reason=reason[:500], proposed_by=_user(actor)
        )
        inflow.propose()
        inflow.save()
        audit_record(
            actor=actor,
            action="custody.allocation.propose",
            target=allocation,
            data={"inflow": inflow.reference, "sub_account": sub.account.number, "amount": str(inflow.amount)},
        )
        return allocation


def _locked_allocation(allocation_id: int) -> tuple[SuspenseAllocation, UnidentifiedInflow]:
    allocation = SuspenseAllocation.objects.filter(pk=allocation_id).first()
    if allocation is None:
        raise NotFoundError(_("No such allocation."))
    inflow = _locked_inflow(allocation.inflow_id)  # the inflow first, then its allocation
    allocation = SuspenseAllocation.objects.select_for_update().select_related("sub_account__account").get(pk=allocation_id)
    return allocation, inflow


def _refuse_maker(allocation: SuspenseAllocation, actor) -> None:
    user = _user(actor)
    if user is None:
        raise MakerCheckerError(_("An allocation is approved or rejected by an identified checker."))
    if user.pk == allocation.proposed_by_id:
        raise MakerCheckerError()


def allocation_approve(*, allocation_id: int, actor, note: str = "") -> SuspenseAllocation:
    """The checker (never the maker: ``maker_checker_violation``) approves: suspense → the
    sub-account, voucher ``suspense_allocation``."""
    with _atomic():
        allocation, inflow = _locked_allocation(allocation_id)
        if allocation.state != SuspenseAllocation.State.PROPOSED:
            raise InvalidStateError(state=allocation.state)
        _refuse_maker(allocation, actor)
        suspense = internal_account(Role.SUSPENSE, owner=inflow.platform.owner)
        voucher = ledger.post_transfer(
            client=LEDGER_CLIENT,
            idempotency_key=f"allocation:{allocation.pk}",
            kind=ALLOCATION_KIND,
            legs=ledger.move(
                from_account_id=suspense.pk, to_account_id=allocation.sub_account.account_id, amount=allocation.amount
            ),
            memo=f"登记挂账 {inflow.reference}"[:200],
            metadata={"platform": inflow.platform.code, "inflow": inflow.reference, "allocation": allocation.pk},
        )
        allocation.approve()
        allocation.voucher = voucher
        allocation.reviewed_by, allocation.reviewed_at = _user(actor), timezone.now()
        allocation.review_note = (note or "").strip()[:500]
        allocation.save()
        inflow.allocate()
        inflow.save()
        audit_record(
            actor=actor,
            action="custody.allocation.approve",
            target=allocation,
            data={"inflow": inflow.reference, "voucher": voucher.pk, "amount": str(allocation.amount)},
        )
        return allocation


def allocation_reject(*, allocation_id: int, actor, note: str) -> SuspenseAllocation:
    note = (note or "").strip()
    if not note:
        raise FieldValidationError(fields={"note": [_("A reason is required.")]})
    with _atomic():
        allocation, inflow = _locked_allocation(allocation_id)
        if allocation.state != SuspenseAllocation.State.PROPOSED:
            raise InvalidStateError(state=allocation.state)
        _refuse_maker(allocation, actor)
        allocation.reject()
        allocation.reviewed_by, allocation.reviewed_at, allocation.review_note = _user(actor), timezone.now(), note[:500]
        allocation.save()
        inflow.reject()
        inflow.save()
        audit_record(actor=actor, action="custody.allocation.reject", target=allocation, data={"note": note[:200]})
        return allocation


def allocation_reverse(*, allocation_id: int, actor, reason: str) -> SuspenseAllocation:
    """撤销挂账 (R-DEP-10): the allocation voucher's mirror (sub-account → suspense) while the
    money is unspent. The ledger decides under the account lock: when the sub-account's available
    balance no longer covers the amount, AllocationNotReversibleError and nothing moves."""
    reason = (reason or "").strip()
    if not reason:
        raise FieldValidationError(fields={"reason": [_("A reason is required.")]})
    if _user(actor) is None:
        raise MakerCheckerError(_("A reversal is made by an identified operator."))
    with _atomic():
        allocation, inflow = _locked_allocation(allocation_id)
        if allocation.state != SuspenseAllocation.State.APPROVED:
            raise AllocationNotReversibleError(allocation=allocation.pk, reason=f"it is {allocation.state}")
        try:
            with transaction.atomic():
                reversal = ledger.reverse_transfer(
                    client=LEDGER_CLIENT,
                    idempotency_key=f"allocation:{allocation.pk}:reverse",
                    transfer_id=allocation.voucher_id,
                    memo=f"撤销挂账 {inflow.reference}"[:200],
                )
        except (InsufficientFundsError, AccountNotActiveError) as exc:
            raise AllocationNotReversibleError(
                allocation=allocation.pk, reason="the money is no longer available on the sub-account", **exc.data
            ) from None
        allocation.reverse()
        allocation.reversal, allocation.reversed_by, allocation.reversal_reason = reversal, _user(actor), reason[:500]
        allocation.save()
        inflow.unallocate()
        inflow.save()
        audit_record(
            actor=actor,
            action="custody.allocation.reverse",
            target=allocation,
            data={"inflow": inflow.reference, "voucher": reversal.pk, "reason": reason[:200]},
        )
        return allocation


# -- reports (R-DEP-09) ------------------------------------------------------------------------------


def report_generate(
    *, platform: LendingPlatform, kind: str, day: dt.date, actor=None, as_of: dt.date | None = None
) -> CustodyReport:
    """The platform's daily file, monthly or annual report of the period containing ``day``, once:
    generated from entries for a closed period and kept (R-DEP-08); again, the stored one."""
    if kind not in CustodyReport.Kind.values:
        raise FieldValidationError(fields={"kind": [_("One of daily, monthly, annual.")]})
    start, end = reports.period_of(kind, day)
    if end >= (as_of or business_date(timezone.now())):
        raise PeriodNotClosedError(end=end.isoformat())
    with _atomic():
        platform = _locked_platform(platform.pk)
        existing = CustodyReport.objects.filter(platform=platform, kind=kind, period_start=start).first()
        if existing is not None:
            return existing
        report = CustodyReport.objects.create(
            platform=platform,
            kind=kind,
            period_start=start,
            period_end=end,
            figures=reports.compute(platform=platform, kind=kind, start=start, end=end),
            generated_by=_user(actor),
        )
        audit_record(
            actor=actor,
            action="custody.report.generate",
            target=report,
            data={"platform": platform.code, "kind": kind, "period": [start.isoformat(), end.isoformat()]},
        )
        return report
