"""Loan use cases on a P2P platform: create (R-DEP-06 caps), bid (R-DEP-05), cancel / fail, disburse
(one voucher), repay an instalment (one voucher, split to the lenders), withdraw a frozen lender's bid.

Every service is a top-level use case (``atomic(durable=True)`` unless called inside one), locks
the loan first (then the borrower's sub-account for the cap, then a standing authorisation, then
the ledger locks holds and accounts in id order), writes an audit row, emits the platform's
webhooks after commit and leaves money to ``accounts.ledger.postings``.

Decisions (README "Loans"):
- Borrowing caps (R-DEP-06) are rows of ``BorrowingCap`` (history by ``effective_from``). At
  creation: Σ principal outstanding on this platform of the borrower's live loans (open, full and
  disbursed, the new one included) ≤ cap. At disbursement, again, under the borrower's sub-account
  lock, against today's cap: Σ outstanding principal of the disbursed loans + this one ≤ cap.
  Refusal 409 ``limit_exceeded`` with ``data.limit`` and ``data.remaining``.
- The schedule is computed at creation (``custody.schedules``, its day count) from the fundraising
  deadline and stored; at disbursement the due dates are re-set from the disbursement day (the
  amounts do not depend on the start).
- Judicial freeze on a lender after bidding: the disbursement is refused whole, 409
  ``lender_account_frozen`` naming the account and the bid; nothing moves and the loan stays full.
  The platform (or an operator) withdraws that bid (``bid_withdraw``, allowed only while the
  lender's account is debit-blocked by a court): its hold is released, the loan returns to open
  and raises the rest. Never a silent partial disbursement.
- Repayment: instalments in order only, whole only (no partial: 409 ``repayment_refused``), and
  not before the instalment's period has begun (due date − 1 month: no early repayment; an early
  settlement would need a rebate rule the loan terms do not state). An instalment repaid after
  its due date carries overdue interest: (principal + interest) × ``overdue_rate`` × days / 360,
  paid to the lenders as interest. A guarantor or compensation sub-account of the platform may pay
  an overdue instalment (its ``compensation`` authorisation); the borrower then owes it the amount
  (``RepaymentDebt``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.errors import AccountNotActiveError
from accounts.ledger.models import Account, Hold
from accounts.ledger.rules import POSTING_RULES, register_posting_rule
from accounts.parties.models import Party
from accounts.payments.authorisation import authorisation_verify
from backoffice.audit import audit_record
from backoffice.dates import business_date
from backoffice.errors import DomainError, FieldValidationError, InvalidStateError, NotFoundError
from backoffice.money import MoneyError, round_money, sum_to_money, to_money
from backoffice.webhooks import webhook_emit
from custody import schedules
from custody.errors import PlatformNotActiveError
from custody.loans.authorisations import authorisation_consume, authorisation_restore
from custody.loans.errors import (
    BidExceedsRemainingError,
    BorrowingCapExceededError,
    DuplicateReferenceError,
    FundraisingClosedError,
    LenderAccountFrozenError,
    PayerNotAllowedError,
    RepaymentRefusedError,
    SelfLendingError,
    WrongSubAccountError,
)
from custody.loans.models import (
    Bid,
    BorrowingCap,
    Confirmation,
    Loan,
    LoanInstalment,
    Repayment,
    RepaymentDebt,
    StandingAuthorisation,
)
from custody.models import LendingPlatform, SubAccount

__all__ = [
    "KIND_DISBURSEMENT",
    "KIND_REPAYMENT",
    "bid_confirmation_request",
    "bid_place",
    "bid_withdraw",
    "borrower_has_outstanding_loans",
    "borrowing_cap",
    "confirmation_confirm",
    "confirmation_decide",
    "confirmation_decline",
    "confirmation_event",
    "instalment_repay",
    "loan_cancel",
    "loan_create",
    "loan_disburse",
    "loan_fail",
    "loans_fail_expired",
    "register_posting_rules",
    "repayment_debt_settle",
    "repayment_plan",
]

LEDGER_CLIENT = "custody"
KIND_DISBURSEMENT = "loan_disbursement"
KIND_REPAYMENT = "loan_repayment"
KIND_DEBT_SETTLEMENT = "repayment_debt_settlement"
OVERDUE_BASIS = 360
#: How long a client has to confirm an instruction on the bank's page.
CONFIRMATION_TTL = dt.timedelta(minutes=15)


def register_posting_rules() -> None:
    """The loans' voucher kinds (``CustodyConfig.ready``; idempotent, ``ready`` may run twice)."""
    if KIND_DISBURSEMENT not in POSTING_RULES:
        register_posting_rule(
            KIND_DISBURSEMENT,
            debit=[Role.LENDER],
            credit=[Role.BORROWER, Role.PLATFORM_OWN],
            purpose="a loan's disbursement: every lender's bid hold → the borrower, the service fee → the platform's own funds",
        )
    if KIND_REPAYMENT not in POSTING_RULES:
        register_posting_rule(
            KIND_REPAYMENT,
            debit=[Role.BORROWER, Role.GUARANTOR, Role.COMPENSATION],
            credit=[Role.LENDER],
            purpose="an instalment repaid by the borrower (or a guarantor / compensation payer) → the lenders pro rata",
        )
    if KIND_DEBT_SETTLEMENT not in POSTING_RULES:
        register_posting_rule(
            KIND_DEBT_SETTLEMENT,
            debit=[Role.BORROWER],
            credit=[Role.GUARANTOR, Role.COMPENSATION],
            purpose="a borrower repays the guarantor / compensation payer who repaid an instalment for them (追偿)",
        )


def _atomic():
    return transaction.atomic(durable=not transaction.get_connection().in_atomic_block)


def _audit(target, action: str, *, actor=None, actor_label: str = "", **data) -> None:
    audit_record(actor=actor, actor_label=actor_label, action=f"custody.loan.{action}", target=target, data=data)


def _money(value) -> str:
    return f"{value:.2f}"


def _reference(out_request_no) -> str:
    text = str(out_request_no or "").strip()
    if not text or len(text) > 64:
        raise FieldValidationError({"out_request_no": [str(_("A business reference of 1 to 64 characters is required."))]})
    return text


def _refuse_duplicate(model, platform: LendingPlatform, out_request_no: str) -> None:
    first = model.objects.filter(platform=platform, out_request_no=out_request_no).only("pk").first()
    if first is not None:
        raise DuplicateReferenceError(out_request_no=out_request_no, id=str(first.pk))


def _locked_loan(loan_id: int, platform: LendingPlatform | None) -> Loan:
    rows = Loan.objects.select_for_update().filter(pk=loan_id)
    if platform is not None:
        rows = rows.filter(platform=platform)
    loan = rows.first()
    if loan is None:
        raise NotFoundError(_("No such loan."))
    return loan


def _sub_account(platform: LendingPlatform, number: str, roles: tuple[str, ...], *, lock: bool = False) -> SubAccount:
    rows = SubAccount.objects.filter(platform=platform, account__number=str(number or ""), role__in=roles)
    if lock:
        rows = rows.select_for_update(of=("self",))
    sub_account = rows.select_related("account", "party").first()
    if sub_account is None:
        raise WrongSubAccountError(account=number, role=" or ".join(roles))
    return sub_account


def _emit(platform: LendingPlatform, event: str, payload: dict) -> None:
    webhook_emit(owner=platform.owner, event=event, payload=payload)


# -- caps (R-DEP-06) ------------------------------------------------------------------------------


def borrowing_cap(*, party_kind: str, day: dt.date) -> BorrowingCap:
    """The cap in force on ``day`` for a borrower of ``party_kind`` (the latest row from before)."""
    cap = BorrowingCap.objects.filter(party_kind=party_kind, effective_from__lte=day).order_by("-effective_from").first()
    if cap is None:  # pragma: no cover - seeded by migration 0004
        raise RuntimeError(f"no borrowing cap for {party_kind} on {day}")
    return cap


def _outstanding(platform: LendingPlatform, party_id: int, states, *, exclude: int | None = None) -> Decimal:
    rows = Loan.objects.filter(platform=platform, borrower__party_id=party_id, state__in=states)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    totals = rows.aggregate(amount=Sum("amount"), repaid=Sum("principal_repaid"))
    return sum_to_money(totals["amount"]) - sum_to_money(totals["repaid"])


def _check_cap(platform: LendingPlatform, borrower: SubAccount, amount: Decimal, states, *, exclude=None) -> None:
    kind = (
        BorrowingCap.PartyKind.ORGANISATION if borrower.party.type == Party.Type.ORGANISATION else BorrowingCap.PartyKind.PERSON
    )
    cap = borrowing_cap(party_kind=kind, day=business_date(timezone.now()))
    outstanding = _outstanding(platform, borrower.party_id, states, exclude=exclude)
    if outstanding + amount > cap.amount:
        raise BorrowingCapExceededError(
            limit=_money(cap.amount), remaining=_money(max(cap.amount - outstanding, Decimal("0.00")))
        )


def borrower_has_outstanding_loans(account: Account) -> bool:
    """``accounts.states.dormancy.outstanding_debt`` (R-ACC-18): the account's holder is a borrower
    with a disbursed loan not yet repaid, or owes a guarantor / compensation payer, on any
    platform: an organisation's settlement account is then never notified or swept."""
    if account.party_id is None:
        return False
    return (
        Loan.objects.filter(borrower__party_id=account.party_id, state=Loan.State.DISBURSED).exists()
        or RepaymentDebt.objects.filter(borrower__party_id=account.party_id, state=RepaymentDebt.State.OUTSTANDING).exists()
    )


# -- create ---------------------------------------------------------------------------------------


def _rate(fields: dict, name: str, value) -> Decimal | None:
    try:
        rate = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        rate = None
    if (
        isinstance(value, float)
        or rate is None
        or not rate.is_finite()
        or not Decimal(0) <= rate <= Decimal(1)
        or rate != rate.quantize(Decimal("0.000001"))
    ):
        fields[name] = [str(_("A fraction between 0 and 1 with at most 6 decimals (0.12 for 12 %)."))]
        return None
    return rate


def loan_create(
    *,
    platform: LendingPlatform,
    borrower_number: str,
    amount,
    annual_rate,
    term_months: int,
    method: str,
    fundraising_deadline: dt.datetime,
    service_fee_rate=Decimal("0"),
    overdue_rate=None,
    out_request_no: str,
    title: str = "",
    actor=None,
    actor_label: str = "",
) -> Loan:
    """Create a loan (标的) in ``open`` for the platform's borrower sub-account ``borrower_number``,
    with its schedule computed and stored. ``overdue_rate`` defaults to 1.5 × ``annual_rate``.

    Raises FieldValidationError, WrongSubAccountError, PlatformNotActiveError (only an active
    platform takes new loans: a winding-down one does not), DuplicateReferenceError,
    BorrowingCapExceededError (R-DEP-06)."""
    fields: dict[str, list[str]] = {}
    out_request_no = _reference(out_request_no)
    try:
        amount = to_money(amount)
        if amount <= 0:
            raise MoneyError("not positive")
    except MoneyError:
        fields["amount"] = [str(_("A positive amount in yuan with at most two decimals."))]
    annual_rate = _rate(fields, "annual_rate", annual_rate)
    service_fee_rate = _rate(fields, "service_fee_rate", service_fee_rate)
    if overdue_rate is None and annual_rate is not None:
        overdue_rate = min(Decimal(1), (annual_rate * Decimal("1.5")).quantize(Decimal("0.000001")))
    overdue_rate = _rate(fields, "overdue_rate", overdue_rate) if overdue_rate is not None else None
    if isinstance(term_months, bool) or not isinstance(term_months, int) or not 1 <= term_months <= 360:
        fields["term_months"] = [str(_("A whole number of months from 1 to 360."))]
    if method not in schedules.METHODS:
        fields["method"] = [str(_("equal_instalment, equal_principal or interest_first."))]
    if not isinstance(fundraising_deadline, dt.datetime) or fundraising_deadline <= timezone.now():
        fields["fundraising_deadline"] = [str(_("A moment in the future."))]
    instalments = []
    if not fields:
        try:
            instalments = schedules.schedule(amount, annual_rate, term_months, method, business_date(fundraising_deadline))
        except ValueError as exc:
            fields["annual_rate"] = [str(exc)]
    if fields:
        raise FieldValidationError(fields=fields)
    with _atomic():
        platform = LendingPlatform.objects.select_for_update().get(pk=platform.pk)
        if platform.state != LendingPlatform.State.ACTIVE:
            raise PlatformNotActiveError(platform=platform.code, state=platform.state)
        _refuse_duplicate(Loan, platform, out_request_no)
        borrower = _sub_account(platform, borrower_number, (SubAccount.Role.BORROWER,), lock=True)
        _check_cap(platform, borrower, amount, Loan.LIVE_STATES)
        loan = Loan.objects.create(
            platform=platform,
            borrower=borrower,
            out_request_no=out_request_no,
            title=(title or "")[:200],
            amount=amount,
            annual_rate=annual_rate,
            overdue_rate=overdue_rate,
            term_months=term_months,
            method=method,
            fundraising_deadline=fundraising_deadline,
            service_fee_rate=service_fee_rate,
            service_fee=round_money(amount * service_fee_rate),
            requested_by=actor_label[:100],
        )
        LoanInstalment.objects.bulk_create(
            LoanInstalment(loan=loan, number=i.number, due_date=i.due_date, principal=i.principal, interest=i.interest)
            for i in instalments
        )
        _audit(loan, "create", actor=actor, actor_label=actor_label, amount=_money(amount), borrower=borrower.account.number)
        return loan


# -- bids -----------------------------------------------------------------------------------------


def _positive_amount(amount) -> Decimal:
    try:
        amount = to_money(amount)
        if amount <= 0:
            raise MoneyError("not positive")
    except MoneyError:
        raise FieldValidationError({"amount": [str(_("A positive amount in yuan with at most two decimals."))]}) from None
    return amount


def _refuse_bid_reference(platform: LendingPlatform, out_request_no: str, *, own: Confirmation | None = None) -> None:
    """A bid's reference is unique per platform over bids and bids awaiting confirmation."""
    _refuse_duplicate(Bid, platform, out_request_no)
    pending = Confirmation.objects.filter(platform=platform, out_request_no=out_request_no)
    if own is not None:
        pending = pending.exclude(pk=own.pk)
    first = pending.only("pk").first()
    if first is not None:
        raise DuplicateReferenceError(out_request_no=out_request_no, id=str(first.pk))


def _bid_checks(loan: Loan, platform: LendingPlatform, lender_number: str, amount: Decimal) -> SubAccount:
    if loan.state != Loan.State.OPEN:
        raise InvalidStateError(state=loan.state)
    if loan.fundraising_deadline <= timezone.now():
        raise FundraisingClosedError(deadline=loan.fundraising_deadline.isoformat())
    lender = _sub_account(platform, lender_number, (SubAccount.Role.LENDER,))
    if lender.party_id == loan.borrower.party_id:
        raise SelfLendingError()
    if amount > loan.remaining:
        raise BidExceedsRemainingError(amount=_money(amount), remaining=_money(loan.remaining))
    return lender


def bid_place(
    *,
    loan_id: int,
    platform: LendingPlatform,
    lender_number: str,
    amount,
    out_request_no: str,
    authorization,
    actor=None,
    actor_label: str = "",
) -> Bid:
    """R-DEP-05: a lender's bid freezes ``amount`` on their sub-account (a hold, reason ``bid``).

    Locks the loan (bids on one loan are serialized: never oversubscribed), checks the remaining
    amount, consumes the lender's standing ``bid`` authorisation under its lock, places the hold;
    the loan is full when the raised amount reaches the loan's. All in one transaction: a refused
    bid holds nothing and consumes nothing. Raises NotFoundError, DuplicateReferenceError,
    InvalidStateError (not open), FundraisingClosedError, WrongSubAccountError, SelfLendingError,
    BidExceedsRemainingError (``data.remaining``), the authorisation's refusals,
    InsufficientFundsError, AccountNotActiveError. (A bid the client confirms on the bank's page:
    ``bid_confirmation_request``.)"""
    out_request_no = _reference(out_request_no)
    amount = _positive_amount(amount)
    with _atomic():
        loan = _locked_loan(loan_id, platform)
        _refuse_bid_reference(platform, out_request_no)
        lender = _bid_checks(loan, platform, lender_number, amount)
        authorisation = authorisation_consume(
            authorization, platform=platform, grantor=lender, instruction_type=StandingAuthorisation.Type.BID, amount=amount
        )
        return _bid_create(
            loan, lender, amount, out_request_no, authorisation=authorisation, actor=actor, actor_label=actor_label
        )


def _bid_create(loan, lender, amount, out_request_no, *, authorisation=None, confirmation=None, actor=None, actor_label=""):
    platform = loan.platform
    covered_by = f"authorisation:{authorisation.pk}" if authorisation else f"confirmation:{confirmation.pk}"
    hold = ledger.hold_place(
        client=LEDGER_CLIENT,
        idempotency_key=f"bid:{platform.code}:{out_request_no}",
        account_id=lender.account_id,
        amount=amount,
        reason=Hold.Reason.BID,
        reference=f"loan:{loan.pk}:{covered_by}",
    )
    bid = Bid.objects.create(
        platform=platform,
        loan=loan,
        lender=lender,
        amount=amount,
        out_request_no=out_request_no,
        hold=hold,
        authorisation=authorisation,
    )
    loan.raised = loan.raised + amount
    if loan.raised == loan.amount:
        loan.fill()
    loan.save(update_fields=["raised", "state", "updated_at"])
    _audit(
        loan,
        "bid",
        actor=actor,
        actor_label=actor_label,
        bid=bid.pk,
        amount=_money(amount),
        lender=lender.account.number,
        authorisation=authorisation.pk if authorisation else None,
        confirmation=confirmation.pk if confirmation else None,
    )
    _emit(
        platform,
        "bid.placed",
        {
            "loan": loan.pk,
            "bid": bid.pk,
            "out_request_no": out_request_no,
            "amount": _money(amount),
            "raised": _money(loan.raised),
        },
    )
    if loan.state == Loan.State.FULL:
        _emit(platform, "loan.full", {"loan": loan.pk, "out_request_no": loan.out_request_no, "amount": _money(loan.amount)})
    return bid


# -- bids confirmed by the client on the bank's page (R-DEP-02, method "confirm") -------------------


def bid_confirmation_request(
    *, loan_id: int, platform: LendingPlatform, lender_number: str, amount, out_request_no: str, actor_label: str = ""
) -> Confirmation:
    """A bid the platform sends with ``{"method": "confirm"}``: checked as ``bid_place`` checks it
    (nothing is held yet) and kept for CONFIRMATION_TTL, for the client to confirm with the
    transaction password on the bank's portal (``confirmation_confirm``). Returns the
    confirmation; its token makes the page's URL."""
    out_request_no = _reference(out_request_no)
    amount = _positive_amount(amount)
    with _atomic():
        loan = _locked_loan(loan_id, platform)
        _refuse_bid_reference(platform, out_request_no)
        lender = _bid_checks(loan, platform, lender_number, amount)
        confirmation = Confirmation.objects.create(
            platform=platform,
            kind=Confirmation.Kind.BID,
            sub_account=lender,
            loan=loan,
            amount=amount,
            out_request_no=out_request_no,
            token=secrets.token_urlsafe(32),
            expires_at=timezone.now() + CONFIRMATION_TTL,
        )
        _audit(loan, "bid_confirmation_request", actor_label=actor_label, confirmation=confirmation.pk, amount=_money(amount))
        return confirmation


def confirmation_event(confirmation: Confirmation) -> None:
    """Tell the platform the confirmation's outcome (``confirmation.<state>``), after commit."""
    _emit(
        confirmation.platform,
        f"confirmation.{confirmation.state}",
        {
            "confirmation": confirmation.pk,
            "kind": confirmation.kind,
            "loan": confirmation.loan_id,
            "out_request_no": confirmation.out_request_no,
            "state": confirmation.state,
            "code": confirmation.outcome_code or None,
            "bid": confirmation.bid_id,
            "repayment": confirmation.repayment_id,
            "withdrawal": confirmation.withdrawal_id,
            "recharge": confirmation.recharge_id,
            "sub_account": confirmation.sub_account.account.number if confirmation.sub_account_id else None,
        },
    )


def _locked_confirmation(confirmation_id: int) -> tuple[Loan, Confirmation]:
    """The loan first, then the confirmation (the services' lock order)."""
    loan_id = Confirmation.objects.filter(pk=confirmation_id).values_list("loan_id", flat=True).first()
    if loan_id is None:
        raise NotFoundError(_("No such confirmation."))
    loan = _locked_loan(loan_id, None)
    return loan, Confirmation.objects.select_for_update(of=("self",)).select_related("platform", "sub_account__account").get(
        pk=confirmation_id
    )


def confirmation_decide(confirmation: Confirmation, state: str, code: str = "", *, actor_label: str = "portal") -> Confirmation:
    """Record the outcome of a locked pending confirmation (and what it produced), audit it and
    tell the platform (inside the caller's transaction)."""
    confirmation.state, confirmation.outcome_code, confirmation.decided_at = state, code, timezone.now()
    confirmation.save(
        update_fields=[
            "state",
            "outcome_code",
            "decided_at",
            "bid",
            "repayment",
            "withdrawal",
            "recharge",
            "sub_account",
            "updated_at",
        ]
    )
    audit_record(
        action=f"custody.confirmation.{state}", actor_label=actor_label, target=confirmation, data={"code": code or None}
    )
    confirmation_event(confirmation)
    return confirmation


_decide = confirmation_decide


def confirmation_confirm(*, confirmation_id: int, password: str, actor=None) -> Confirmation:
    """The client confirms on the bank's page with the transaction password (checked first, in its
    own transaction: wrong attempts count and lock). The bid is then placed exactly as
    ``bid_place`` places it, under the loan's lock; if it is refused now (the loan filled, the
    money is gone), the confirmation ends ``failed`` with the refusal's code. The platform is told
    by webhook (``confirmation.confirmed | failed | expired``, and ``bid.placed``). Raises
    AuthorisationInvalidError, TransactionPasswordLockedError, InvalidStateError (decided)."""
    sub_account = Confirmation.objects.select_related("sub_account__account").get(pk=confirmation_id).sub_account
    authorisation_verify(
        account=sub_account.account,
        purpose="instruction",
        authorization={"method": "password", "password": password},
        actor=actor,
    )
    with _atomic():
        loan, confirmation = _locked_confirmation(confirmation_id)
        if confirmation.state != Confirmation.State.PENDING:
            raise InvalidStateError(state=confirmation.state)
        if confirmation.expires_at <= timezone.now():
            return _decide(confirmation, Confirmation.State.EXPIRED)
        try:
            with transaction.atomic():
                _refuse_bid_reference(loan.platform, confirmation.out_request_no, own=confirmation)
                lender = _bid_checks(loan, loan.platform, confirmation.sub_account.account.number, confirmation.amount)
                bid = _bid_create(
                    loan,
                    lender,
                    confirmation.amount,
                    confirmation.out_request_no,
                    confirmation=confirmation,
                    actor=actor,
                    actor_label="portal",
                )
        except DomainError as exc:
            return _decide(confirmation, Confirmation.State.FAILED, exc.code)
        confirmation.bid = bid
        return _decide(confirmation, Confirmation.State.CONFIRMED)


def confirmation_decline(*, confirmation_id: int, actor=None) -> Confirmation:
    """The client declines on the bank's page: nothing is held; the platform is told."""
    with _atomic():
        _loan, confirmation = _locked_confirmation(confirmation_id)
        if confirmation.state != Confirmation.State.PENDING:
            raise InvalidStateError(state=confirmation.state)
        audit_record(actor=actor, action="custody.confirmation.decline", target=confirmation)
        return _decide(confirmation, Confirmation.State.DECLINED)


def _release(bid: Bid) -> None:
    """Release one held bid: give its authorisation back, then end its hold (lock order: the
    authorisation before the ledger's hold and account)."""
    if bid.authorisation_id is not None:
        authorisation_restore(authorisation_id=bid.authorisation_id, amount=bid.amount)
    ledger.hold_release(client=LEDGER_CLIENT, idempotency_key=f"bid-release:{bid.pk}", hold_id=bid.hold_id)
    bid.release()
    bid.ended_at = timezone.now()
    bid.save(update_fields=["state", "ended_at", "updated_at"])


def _close(loan_id: int, platform, transition: str, *, reason: str, actor, actor_label: str, event: str) -> Loan:
    with _atomic():
        loan = _locked_loan(loan_id, platform)
        if loan.state not in (Loan.State.OPEN, Loan.State.FULL):
            raise InvalidStateError(state=loan.state)
        bids = list(loan.bids.filter(state=Bid.State.HELD).order_by("pk"))
        for bid in bids:
            _release(bid)
        getattr(loan, transition)()
        loan.closed_at, loan.close_reason = timezone.now(), (reason or "").strip()[:500]
        loan.save(update_fields=["state", "closed_at", "close_reason", "updated_at"])
        _audit(loan, transition, actor=actor, actor_label=actor_label, reason=loan.close_reason, released=[b.pk for b in bids])
        _emit(
            loan.platform, event, {"loan": loan.pk, "out_request_no": loan.out_request_no, "released_bids": [b.pk for b in bids]}
        )
        return loan


def loan_cancel(
    *, loan_id: int, platform: LendingPlatform | None = None, reason: str = "", actor=None, actor_label: str = ""
) -> Loan:
    """撤标: an open or full loan is cancelled and every bid hold released (R-DEP-05)."""
    return _close(loan_id, platform, "cancel", reason=reason, actor=actor, actor_label=actor_label, event="loan.cancelled")


def loan_fail(
    *, loan_id: int, platform: LendingPlatform | None = None, reason: str = "", actor=None, actor_label: str = ""
) -> Loan:
    """流标: an open or full loan fails (not raised, or not disbursable) and every bid hold is released."""
    return _close(loan_id, platform, "fail", reason=reason, actor=actor, actor_label=actor_label, event="loan.failed")


def loans_fail_expired(*, now: dt.datetime | None = None) -> list[int]:
    """Fail every loan still open after its fundraising deadline (a periodic sweep)."""
    now = now or timezone.now()
    failed = []
    for pk in Loan.objects.filter(state=Loan.State.OPEN, fundraising_deadline__lte=now).values_list("pk", flat=True):
        try:
            loan_fail(loan_id=pk, reason="fundraising deadline passed", actor_label="system:loans_fail_expired")
        except InvalidStateError:
            continue
        failed.append(pk)
    return failed


def bid_withdraw(
    *, loan_id: int, bid_id: int, platform: LendingPlatform | None = None, reason: str = "", actor=None, actor_label: str = ""
) -> Bid:
    """Withdraw one held bid whose lender's account a court froze after bidding: its hold is
    released and the loan returns to open (full → open) to raise the rest. Any other bid stays
    (InvalidStateError, ``data.state`` ``not_frozen``): a platform does not unwind a lender's bid."""
    with _atomic():
        loan = _locked_loan(loan_id, platform)
        if loan.state not in (Loan.State.OPEN, Loan.State.FULL):
            raise InvalidStateError(state=loan.state)
        bid = loan.bids.select_related("lender__account").filter(pk=bid_id).first()
        if bid is None:
            raise NotFoundError(_("No such bid."))
        if bid.state != Bid.State.HELD:
            raise InvalidStateError(state=bid.state)
        if not Account.objects.filter(pk=bid.lender.account_id, judicial_debit_blocks__gt=0).exists():
            raise InvalidStateError(
                _("Only a bid whose lender's account is frozen by a court may be withdrawn."), state="not_frozen"
            )
        _release(bid)
        loan.raised = loan.raised - bid.amount
        if loan.state == Loan.State.FULL:
            loan.reopen()
        loan.save(update_fields=["raised", "state", "updated_at"])
        _audit(loan, "bid_withdraw", actor=actor, actor_label=actor_label, bid=bid.pk, reason=(reason or "")[:500])
        return bid


# -- disbursement ---------------------------------------------------------------------------------


def loan_disburse(
    *,
    loan_id: int,
    platform: LendingPlatform | None = None,
    authorization=None,
    confirmation: Confirmation | None = None,
    actor=None,
    actor_label: str = "",
) -> Loan:
    """Disburse a full loan in ONE voucher (``loan_disbursement``, ``holds_capture_many``): every
    lender's bid hold is debited; the borrower is credited the amount less the service fee, the
    platform's own funds the fee. The fee is the borrower's payment: it needs the borrower's
    standing ``fee`` authorisation (``authorization``), consumed here.

    R-DEP-06 again, under the borrower's sub-account lock, against the cap of today. A lender's
    account frozen by a court refuses the whole disbursement (LenderAccountFrozenError naming the
    account and bid; nothing moves). The voucher's metadata lists the loan, every bid with the
    authorisation that covered it, and the fee authorisation (or ``confirmation``: the borrower
    confirmed this fee on the bank's page, ``custody.loans.confirmations``)."""
    with _atomic():
        loan = _locked_loan(loan_id, platform)
        if loan.state != Loan.State.FULL:
            raise InvalidStateError(state=loan.state)
        platform = loan.platform
        borrower = SubAccount.objects.select_for_update(of=("self",)).select_related("party", "account").get(pk=loan.borrower_id)
        _check_cap(platform, borrower, loan.amount, (Loan.State.DISBURSED,), exclude=loan.pk)
        fee_authorisation = None
        if loan.service_fee > 0 and confirmation is not None:
            if (confirmation.kind, confirmation.loan_id, confirmation.amount) != (
                Confirmation.Kind.DISBURSEMENT_FEE,
                loan.pk,
                loan.service_fee,
            ):
                raise InvalidStateError(state="confirmation_mismatch")
        elif loan.service_fee > 0:
            fee_authorisation = authorisation_consume(
                authorization,
                platform=platform,
                grantor=borrower,
                instruction_type=StandingAuthorisation.Type.FEE,
                amount=loan.service_fee,
            )
        bids = list(loan.bids.filter(state=Bid.State.HELD).select_related("lender__account").order_by("pk"))
        confirmed = dict(Confirmation.objects.filter(bid__in=bids).values_list("bid_id", "pk"))
        to_credit = [(borrower.account_id, loan.amount - loan.service_fee)]
        if loan.service_fee > 0:
            to_credit.append((platform.own_funds_id, loan.service_fee))
        try:
            transfer = ledger.holds_capture_many(
                client=LEDGER_CLIENT,
                idempotency_key=f"loan-disburse:{loan.pk}",
                hold_ids=[bid.hold_id for bid in bids],
                credits=to_credit,
                kind=KIND_DISBURSEMENT,
                memo=f"放款 loan {platform.code}/{loan.out_request_no}",
                metadata={
                    "loan": loan.pk,
                    "platform": platform.code,
                    "bids": [
                        {"bid": b.pk, "authorisation": b.authorisation_id, "confirmation": confirmed.get(b.pk)} for b in bids
                    ],
                    "fee_authorisation": fee_authorisation.pk if fee_authorisation else None,
                    "fee_confirmation": confirmation.pk if confirmation else None,
                    "service_fee": _money(loan.service_fee),
                },
            )
        except AccountNotActiveError as exc:
            frozen = next((b for b in bids if b.lender.account.number == exc.data.get("account")), None)
            if frozen is None or exc.data.get("state") != "judicial_freeze":
                raise
            raise LenderAccountFrozenError(account=frozen.lender.account.number, bid=str(frozen.pk)) from None
        now = timezone.now()
        for bid in bids:
            bid.capture()
            bid.ended_at = now
        Bid.objects.bulk_update(bids, ["state", "ended_at", "updated_at"])
        start = business_date(now)
        instalments = list(loan.instalments.order_by("number"))
        for instalment in instalments:
            instalment.due_date = schedules.add_months(start, instalment.number)
        LoanInstalment.objects.bulk_update(instalments, ["due_date"])
        loan.disburse()
        loan.disbursed_at, loan.disbursement, loan.fee_authorisation = now, transfer, fee_authorisation
        loan.save(update_fields=["state", "disbursed_at", "disbursement", "fee_authorisation", "updated_at"])
        _audit(loan, "disburse", actor=actor, actor_label=actor_label, transfer=transfer.pk, fee=_money(loan.service_fee))
        _emit(
            platform,
            "loan.disbursed",
            {
                "loan": loan.pk,
                "out_request_no": loan.out_request_no,
                "amount": _money(loan.amount),
                "service_fee": _money(loan.service_fee),
                "transfer": transfer.pk,
            },
        )
        return loan


# -- repayment ------------------------------------------------------------------------------------


def _next_instalment(loan: Loan) -> LoanInstalment | None:
    return loan.instalments.exclude(state=LoanInstalment.State.PAID).order_by("number").first()


def repayment_plan(
    loan: Loan, *, payer_number: str, number: int | None = None, amount=None, today: dt.date | None = None
) -> tuple[LoanInstalment, SubAccount, int, Decimal, Decimal, str]:
    """What repaying the loan's next instalment now means (the loan locked by the caller): the
    instalment, the payer, the days overdue, the overdue interest, the total and the authorisation
    type the payer needs. Raises InvalidStateError, RepaymentRefusedError, FieldValidationError,
    WrongSubAccountError, PayerNotAllowedError (see ``instalment_repay``)."""
    platform = loan.platform
    if loan.state != Loan.State.DISBURSED:
        raise InvalidStateError(state=loan.state)
    instalment = _next_instalment(loan)
    if instalment is None:  # pragma: no cover - a disbursed loan with nothing due is repaid
        raise InvalidStateError(state=loan.state)
    if number is not None and number != instalment.number:
        raise RepaymentRefusedError(reason=f"instalment {instalment.number} is the next one due; instalments are repaid in order")
    today = today or business_date(timezone.now())
    opens = schedules.add_months(instalment.due_date, -1)
    if today < opens:
        raise RepaymentRefusedError(reason=f"instalment {instalment.number} may be repaid from {opens}: no early repayment")
    days = max(0, (today - instalment.due_date).days)
    overdue_interest = schedules.overdue_interest(instalment.total, loan.overdue_rate, days, basis=OVERDUE_BASIS)
    total = instalment.total + overdue_interest
    if amount is not None:
        try:
            requested = to_money(amount)
        except MoneyError:
            raise FieldValidationError({"amount": [str(_("An amount in yuan with at most two decimals."))]}) from None
        if requested != total:
            raise RepaymentRefusedError(
                reason=f"instalment {instalment.number} is repaid whole: {_money(total)} (no partial repayment)"
            )
    payer = _sub_account(
        platform, payer_number, (SubAccount.Role.BORROWER, SubAccount.Role.GUARANTOR, SubAccount.Role.COMPENSATION)
    )
    if payer.role == SubAccount.Role.BORROWER:
        if payer.pk != loan.borrower_id:
            raise WrongSubAccountError(account=payer_number, role="borrower of this loan")
        kind = StandingAuthorisation.Type.AUTO_REPAY
    else:
        if days == 0:
            raise PayerNotAllowedError(role=payer.role, number=instalment.number, due_date=instalment.due_date.isoformat())
        kind = StandingAuthorisation.Type.COMPENSATION
    return instalment, payer, days, overdue_interest, total, kind


def instalment_repay(
    *,
    loan_id: int,
    platform: LendingPlatform | None = None,
    payer_number: str,
    out_request_no: str,
    authorization=None,
    confirmation: Confirmation | None = None,
    number: int | None = None,
    amount=None,
    today: dt.date | None = None,
    actor=None,
    actor_label: str = "",
) -> Repayment:
    """Repay the loan's next instalment in ONE voucher (``loan_repayment``): the payer is debited
    principal + interest + overdue interest; each lender is credited their share, pro rata to
    their bid, by largest remainder, principal and interest (with overdue interest) split apart,
    so no fen is unassigned.

    ``number`` (optional) must be the next unpaid instalment, ``amount`` (optional) its whole total
    (else 409 ``repayment_refused``: no skipping, no partial, no early repayment before the
    instalment's month begins). The payer is the borrower (``auto_repay`` authorisation) or, for
    an overdue instalment only, the platform's guarantor / compensation sub-account
    (``compensation`` authorisation; a ``RepaymentDebt`` of the borrower to the payer is recorded).
    Instead of a standing authorisation, ``confirmation``: the payer confirmed this repayment on
    the bank's page (``custody.loans.confirmations``). The last instalment settles the loan (repaid)."""
    out_request_no = _reference(out_request_no)
    with _atomic():
        loan = _locked_loan(loan_id, platform)
        platform = loan.platform
        _refuse_duplicate(Repayment, platform, out_request_no)
        instalment, payer, days, overdue_interest, total, kind = repayment_plan(
            loan, payer_number=payer_number, number=number, amount=amount, today=today
        )
        if confirmation is not None:
            if confirmation.sub_account_id != payer.pk or confirmation.amount != total:
                raise RepaymentRefusedError(
                    reason=f"the client confirmed {_money(confirmation.amount)}; {_money(total)} is due now"
                )
            authorisation = None
        else:
            authorisation = authorisation_consume(
                authorization, platform=platform, grantor=payer, instruction_type=kind, amount=total
            )
        bids = list(loan.bids.filter(state=Bid.State.CAPTURED).select_related("lender").order_by("pk"))
        weights = [bid.amount for bid in bids]
        principal_shares = schedules.split_largest_remainder(instalment.principal, weights)
        interest_shares = schedules.split_largest_remainder(instalment.interest + overdue_interest, weights)
        per_account: dict[int, Decimal] = {}
        for bid, principal, interest in zip(bids, principal_shares, interest_shares, strict=True):
            per_account[bid.lender.account_id] = per_account.get(bid.lender.account_id, Decimal("0.00")) + principal + interest
        legs = [ledger.Leg(payer.account_id, DEBIT, total)]
        legs += [ledger.Leg(pk, CREDIT, value) for pk, value in per_account.items() if value > 0]
        transfer = ledger.post_transfer(
            client=LEDGER_CLIENT,
            idempotency_key=f"instalment:{instalment.pk}",
            kind=KIND_REPAYMENT,
            legs=legs,
            memo=f"还款 loan {platform.code}/{loan.out_request_no} #{instalment.number}",
            metadata={
                "loan": loan.pk,
                "instalment": instalment.number,
                "authorisation": authorisation.pk if authorisation else None,
                "confirmation": confirmation.pk if confirmation else None,
                "payer_role": payer.role,
                "principal": _money(instalment.principal),
                "interest": _money(instalment.interest),
                "overdue_interest": _money(overdue_interest),
                "shares": [
                    {"bid": b.pk, "principal": _money(p), "interest": _money(i)}
                    for b, p, i in zip(bids, principal_shares, interest_shares, strict=True)
                ],
            },
        )
        repayment = Repayment.objects.create(
            platform=platform,
            loan=loan,
            instalment=instalment,
            payer=payer,
            out_request_no=out_request_no,
            principal=instalment.principal,
            interest=instalment.interest,
            overdue_interest=overdue_interest,
            overdue_days=days,
            transfer=transfer,
            authorisation=authorisation,
        )
        if payer.role != SubAccount.Role.BORROWER:
            RepaymentDebt.objects.create(repayment=repayment, borrower=loan.borrower, creditor=payer, amount=total)
        instalment.state, instalment.paid_at, instalment.payer = LoanInstalment.State.PAID, timezone.now(), payer
        instalment.save(update_fields=["state", "paid_at", "payer"])
        loan.principal_repaid = loan.principal_repaid + instalment.principal
        if _next_instalment(loan) is None:
            loan.settle()
            loan.closed_at = timezone.now()
        loan.save(update_fields=["principal_repaid", "state", "closed_at", "updated_at"])
        _audit(
            loan,
            "repay",
            actor=actor,
            actor_label=actor_label,
            instalment=instalment.number,
            transfer=transfer.pk,
            total=_money(total),
        )
        _emit(
            platform,
            "instalment.repaid",
            {
                "loan": loan.pk,
                "instalment": instalment.number,
                "out_request_no": out_request_no,
                "principal": _money(instalment.principal),
                "interest": _money(instalment.interest),
                "overdue_interest": _money(overdue_interest),
                "transfer": transfer.pk,
                "loan_state": loan.state,
            },
        )
        return repayment


def instalments_mark_overdue(*, today: dt.date | None = None) -> int:
    """Mark the instalments of disbursed loans past their due date ``overdue`` (a daily sweep)."""
    today = today or business_date(timezone.now())
    return LoanInstalment.objects.filter(
        state=LoanInstalment.State.DUE, due_date__lt=today, loan__state=Loan.State.DISBURSED
    ).update(state=LoanInstalment.State.OVERDUE)


# -- the borrower's debt to a compensation payer ----------------------------------------------------


def repayment_debt_settle(
    *, debt_id: int, platform: LendingPlatform | None = None, authorization, actor=None, actor_label: str = ""
) -> RepaymentDebt:
    """The borrower repays the guarantor or compensation payer who repaid an instalment for them
    (追偿), whole, in ONE voucher (``repayment_debt_settlement``: debit the borrower, credit the
    payer), covered by the borrower's standing ``auto_repay`` authorisation. The debt is then
    settled and no longer counts as debt for R-ACC-18. Lock order: the debt, the authorisation,
    then the ledger's accounts. Raises NotFoundError (another platform's debt too),
    InvalidStateError (settled), the authorisation's refusals, InsufficientFundsError,
    AccountNotActiveError."""
    with _atomic():
        rows = RepaymentDebt.objects.select_for_update(of=("self",)).select_related(
            "borrower__account", "creditor__account", "borrower__platform", "repayment__loan"
        )
        if platform is not None:
            rows = rows.filter(borrower__platform=platform)
        debt = rows.filter(pk=debt_id).first()
        if debt is None:
            raise NotFoundError(_("No such debt."))
        if debt.state != RepaymentDebt.State.OUTSTANDING:
            raise InvalidStateError(state=debt.state)
        platform = debt.borrower.platform
        authorisation = authorisation_consume(
            authorization,
            platform=platform,
            grantor=debt.borrower,
            instruction_type=StandingAuthorisation.Type.AUTO_REPAY,
            amount=debt.amount,
        )
        transfer = ledger.post_transfer(
            client=LEDGER_CLIENT,
            idempotency_key=f"repayment-debt:{debt.pk}",
            kind=KIND_DEBT_SETTLEMENT,
            legs=ledger.move(
                from_account_id=debt.borrower.account_id, to_account_id=debt.creditor.account_id, amount=debt.amount
            ),
            memo=f"追偿 debt {debt.pk} loan {platform.code}/{debt.repayment.loan.out_request_no}",
            metadata={"debt": debt.pk, "repayment": debt.repayment_id, "authorisation": authorisation.pk},
        )
        debt.state, debt.settled_at, debt.settlement = RepaymentDebt.State.SETTLED, timezone.now(), transfer
        debt.save(update_fields=["state", "settled_at", "settlement", "updated_at"])
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="custody.debt.settle",
            target=debt,
            data={"transfer": transfer.pk, "amount": _money(debt.amount), "authorisation": authorisation.pk},
        )
        _emit(
            platform,
            "debt.settled",
            {"debt": debt.pk, "repayment": debt.repayment_id, "amount": _money(debt.amount), "transfer": transfer.pk},
        )
        return debt
