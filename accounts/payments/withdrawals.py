"""Withdrawals (提现): acceptance, submission, status queries, callbacks, returns, manual
resolution and the sweeper (DOMAIN.md §5.1, R-WD-01…06, R-FEE-04; ARCHITECTURE "Withdrawals").

Money (all through accounts/ledger.py, client ``withdrawals``, keys ``withdrawal:{pk}:<step>``):

============  ===========================================  ==========================================
step          freeze strategy                              transit strategy
============  ===========================================  ==========================================
accept        hold amount + fee on the account             account → transit (过渡户), amount + fee
success       capture: amount → clearing, fee → fee income transit → clearing (amount), fee income (fee)
failure       release the hold                             transit → account, amount + fee
return (退票)  clearing → account (amount), fee income → account (fee): a new voucher, nothing edited
============  ===========================================  ==========================================

The fee is set aside with the amount and taken only on success (R-FEE-04); a failure or a
return gives it back. Every step has its own idempotency key, so an answer that arrives twice
moves money once; a terminal state never regresses, and a channel that contradicts one raises a
P1 alert and moves nothing.

Flow: ``withdrawal_create`` checks (R-WD-01, R-WD-06), verifies the holder's authorisation, then
in ONE durable transaction creates the row, holds the funds, counts the limits and enqueues the
submission after commit (R-WD-02). ``withdrawal_submit`` marks the attempt (committed), calls the
channel outside any transaction with the request id ``WD{pk:010d}``, then records the answer.
A timeout, "processing" or "not found" leaves it ``unknown`` (R-WD-03); only success/failure
from a response, query, callback or an approved manual resolution ends it; "not found" past the
channel's grace period is re-submitted with the same request id, and fails it only on a channel
whose contract makes it final (``Channel.not_found_final_seconds``). ``payments_sweep`` (beat) re-drives anything in
flight without activity, so a lost task or a broker outage strands nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import conf, workdays
from accounts.cards import services as cards
from accounts.cards.models import BoundCard, CardType, OneTimeCode
from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.errors import AccountNotActiveError, InsufficientFundsError, NotFoundError
from accounts.ledger.models import Account, Hold
from accounts.ledger.selectors import internal_account, internal_account_for
from accounts.limits.services import FlowKind, limits_consume, limits_release
from accounts.parties.models import Party
from accounts.payments.authorisation import authorisation_verify
from accounts.payments.channels import ChannelAnswer, ChannelStatus
from accounts.payments.instructions import (
    APPLIED,
    CONTRADICTION,
    NO_CHANGE,
    DuplicateReferenceError,
    Instruction,
    NoChannelError,
    amount_parse,
    channel_for,
    instruction_apply_answer,
    instruction_begin_submit,
    instruction_contradiction,
    instruction_credit_or_suspense,
    instruction_enqueue_submit,
    instruction_query_status,
    instruction_record_answer,
    instruction_reference_clean,
    instruction_row_create,
    instruction_settle,
    instruction_submit,
    payment_alert,
)
from accounts.payments.models import Channel, PaymentAlert, Withdrawal, WithdrawalResolution
from backoffice import dates
from backoffice.audit import audit_record
from backoffice.errors import DomainError, FieldValidationError, InvalidStateError, MakerCheckerError
from backoffice.texts import text_spec

__all__ = [
    "WITHDRAWALS",
    "DuplicateReferenceError",
    "LEDGER_CLIENT",
    "NoChannelError",
    "WithdrawalInstruction",
    "channel_for",
    "payment_alert",
    "withdrawal_check",
    "withdrawal_create",
    "withdrawal_query_status",
    "withdrawal_record_answer",
    "withdrawal_resolution_approve",
    "withdrawal_resolution_propose",
    "withdrawal_resolution_reject",
    "withdrawal_submit",
]

LEDGER_CLIENT = "withdrawals"


# -- refusals -----------------------------------------------------------------------------------


class WithdrawalNotAllowedError(DomainError):
    code, http_status = "withdrawal_not_allowed", 409
    message = _("Account {account} cannot withdraw: {reason}.")


class NoWithdrawalCardError(DomainError):
    code, http_status = "no_withdrawal_card", 409
    message = _("Account {account} has no verified same-name debit card bound for withdrawals.")


class DailyCountExceededError(DomainError):
    code, http_status = "daily_count_exceeded", 409
    message = _("{count} withdrawals were already made today; the limit is {limit} per day.")


class OutsideWindowError(DomainError):
    code, http_status = "outside_submission_window", 409
    message = _(
        "Withdrawals above {limit} are accepted only on working days {start}-{end} (T+1); the next window opens {next_window}."
    )


# -- helpers ------------------------------------------------------------------------------------


def _local(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dates.bank_tz())


def _in_window(channel: Channel, now: dt.datetime) -> bool:
    local = _local(now)
    return workdays.is_working_day(local.date()) and channel.window_start <= local.time() <= channel.window_end


def _next_window(channel: Channel, now: dt.datetime) -> str:
    local = _local(now)
    day = local.date()
    if not (workdays.is_working_day(day) and local.time() < channel.window_start):
        day = workdays.next_working_day(day)
    return f"{day.isoformat()} {channel.window_start:%H:%M}"


def _check(*, account: Account, amount: Decimal, channel: Channel, now: dt.datetime) -> tuple[BoundCard, str]:
    """R-WD-01 and R-WD-06 on (possibly unlocked) rows: the card and the settlement label."""
    party = account.party
    if account.is_internal or party is None:
        raise WithdrawalNotAllowedError(account=account.number, reason=str(_("an internal account does not withdraw")))
    if party.kyc_state != Party.KycState.APPROVED:
        raise WithdrawalNotAllowedError(account=account.number, reason=str(_("the holder's identity is not verified")))
    if account.state == Account.State.PENDING_VERIFICATION:
        raise WithdrawalNotAllowedError(account=account.number, reason=str(_("the account is not verified yet")))
    if account.state not in Account.OUTFLOW_STATES or account.judicial_debit_blocks:
        state = "judicial_freeze" if account.judicial_debit_blocks else account.state
        raise AccountNotActiveError(account=account.number, state=state, direction="outflow")
    card = cards.card_withdrawal_card(account=account)
    # A debit card, or an organisation's verified corporate settlement account (对公, no card type).
    payable = card is not None and (card.card_type == CardType.DEBIT or card.kind == BoundCard.Kind.CORPORATE_ACCOUNT)
    if not payable or card.holder_name.strip() != party.name.strip():
        raise NoWithdrawalCardError(account=account.number)
    total = amount + channel.withdrawal_fee
    if total > account.available:
        raise InsufficientFundsError(
            account=account.number, available=f"{account.available:.2f}", shortfall=f"{total - account.available:.2f}"
        )
    settles = Withdrawal.Settles.REAL_TIME
    if amount > channel.real_time_limit:
        settles = Withdrawal.Settles.NEXT_WORKING_DAY
        if not _in_window(channel, now):
            raise OutsideWindowError(
                limit=f"{channel.real_time_limit:.2f}",
                start=f"{channel.window_start:%H:%M}",
                end=f"{channel.window_end:%H:%M}",
                next_window=_next_window(channel, now),
            )
    return card, settles


def withdrawal_check(*, account: Account, amount, channel: Channel, now: dt.datetime | None = None) -> str:
    """The acceptance rules (R-WD-01, R-WD-06) on the current rows, without writing anything, for
    a face to show a refusal before the holder types the password; returns the settlement label
    (Withdrawal.Settles). ``withdrawal_create`` checks again under its locks. Raises its refusals."""
    _card, settles = _check(account=account, amount=amount_parse(amount), channel=channel, now=now or timezone.now())
    return settles


def _today_count(party_id: int, now: dt.datetime) -> int:
    start = dates.start_of_day(dates.business_date(now))
    return Withdrawal.objects.filter(account__party_id=party_id, created_at__gte=start).count()


def _audit(withdrawal: Withdrawal, action: str, actor=None, actor_label: str = "", **data) -> None:
    audit_record(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label,
        action=f"withdrawal.{action}",
        target=withdrawal,
        data={"state": withdrawal.state, "request_id": withdrawal.request_id, **data},
    )


# -- acceptance ---------------------------------------------------------------------------------


def withdrawal_create(
    *,
    client: str,
    out_request_no: str,
    account: Account,
    amount,
    authorization,
    actor=None,
    actor_label: str = "",
    channel_code: str | None = None,
    now: dt.datetime | None = None,
) -> Withdrawal:
    """Accept a withdrawal of ``amount`` from ``account`` to its bound card (R-WD-01/02/06).

    Raises FieldValidationError (amount, authorization, out_request_no), DuplicateReferenceError,
    WithdrawalNotAllowedError, AccountNotActiveError, NoWithdrawalCardError, InsufficientFundsError,
    DailyCountExceededError, OutsideWindowError, NoChannelError, LimitExceededError,
    TierFlowNotAllowedError, and the authorisation errors (accounts.authorisation).
    """
    now = now or timezone.now()
    amount = amount_parse(amount)
    out_request_no = instruction_reference_clean(WITHDRAWALS, client=client, out_request_no=out_request_no)
    channel = channel_for(operation="withdrawal", code=channel_code)
    _check(account=account, amount=amount, channel=channel, now=now)  # refuse early, before a code is spent
    method = authorisation_verify(
        account=account, purpose=OneTimeCode.Purpose.WITHDRAWAL, authorization=authorization, actor=actor
    )
    return _accept(
        client=client,
        out_request_no=out_request_no,
        account_id=account.pk,
        amount=amount,
        channel_id=channel.pk,
        method=method,
        actor=actor,
        actor_label=actor_label or ("" if getattr(actor, "pk", None) else client),
        now=now,
    )


@transaction.atomic(durable=True)
def _accept(*, client, out_request_no, account_id, amount, channel_id, method, actor, actor_label, now) -> Withdrawal:
    account = Account.objects.select_related("party").get(pk=account_id)
    # Locks: the party (the daily count is per person), then the account; the ledger locks the rest.
    Party.objects.select_for_update().get(pk=account.party_id)
    channel = Channel.objects.get(pk=channel_id)
    if channel.withdrawal_strategy == Channel.Strategy.TRANSIT:
        # The ledger locks accounts in ascending id order: the transit account (older) before the
        # customer's. Take both now in that order, or a failure being credited back deadlocks with us.
        transit_id = internal_account_for(Role.TRANSIT_WITHDRAWAL, account=account).pk
        list(Account.objects.select_for_update().filter(pk__in=[transit_id, account_id]).order_by("pk"))
    # of=("self",): the party is a nullable FK (an outer join PostgreSQL refuses to lock).
    account = Account.objects.select_for_update(of=("self",)).select_related("party").get(pk=account_id)
    card, settles = _check(account=account, amount=amount, channel=channel, now=now)
    count, limit = _today_count(account.party_id, now), conf.daily_count()
    if count >= limit:
        raise DailyCountExceededError(count=count, limit=limit)
    withdrawal = instruction_row_create(
        WITHDRAWALS,
        client=client,
        out_request_no=out_request_no,
        account=account,
        card=card,
        channel=channel,
        amount=amount,
        fee=channel.withdrawal_fee,
        strategy=channel.withdrawal_strategy,
        settles=settles,
        authorisation=method,
        created_by=actor if getattr(actor, "pk", None) else None,
        last_activity_at=now,
    )
    key = f"withdrawal:{withdrawal.pk}:hold"
    memo = f"提现 withdrawal {withdrawal.request_id}"
    if withdrawal.strategy == Channel.Strategy.FREEZE:
        withdrawal.hold = ledger.hold_place(
            client=LEDGER_CLIENT,
            idempotency_key=key,
            account_id=account.pk,
            amount=withdrawal.total,
            reason=Hold.Reason.WITHDRAWAL,
            reference=withdrawal.request_id,
        )
    else:
        withdrawal.hold_transfer = ledger.post_transfer(
            client=LEDGER_CLIENT,
            idempotency_key=key,
            kind="withdrawal_transit",
            legs=ledger.move(
                from_account_id=account.pk,
                to_account_id=internal_account_for(Role.TRANSIT_WITHDRAWAL, account=account).pk,
                amount=withdrawal.total,
            ),
            memo=memo,
            metadata={"withdrawal": withdrawal.pk, "request_id": withdrawal.request_id},
        )
    limits_consume(account=account, kind=FlowKind.BOUND_OUTFLOW, amount=amount, at=now)
    withdrawal.mark_funds_held()
    withdrawal.save()
    _audit(
        withdrawal,
        "create",
        actor,
        actor_label,
        amount=f"{amount:.2f}",
        fee=f"{withdrawal.fee:.2f}",
        strategy=withdrawal.strategy,
    )
    instruction_enqueue_submit(WITHDRAWALS, withdrawal)
    return withdrawal


# -- submission and answers (the lifecycle is accounts.payments.instructions) -------------------


class WithdrawalInstruction(Instruction):
    """What is particular to withdrawals in the channel-instruction lifecycle: a payout to the
    bound card, the freeze or transit strategy's money, returns, and counted query errors."""

    kind, prefix, model = "withdrawal", "WD", Withdrawal
    submit_task, query_task = "accounts.withdrawal_submit", "accounts.withdrawal_query_status"
    submittable = (Withdrawal.State.FUNDS_HELD, Withdrawal.State.SUBMITTED)
    settled = {
        ChannelStatus.SUCCESS: (Withdrawal.State.SUCCEEDED, Withdrawal.State.RETURNED),
        ChannelStatus.FAILURE: (Withdrawal.State.FAILED,),
    }
    channel_method = "submit_payout"
    counts_query_errors = True

    def submitted(self, withdrawal: Withdrawal) -> None:
        _audit(withdrawal, "submit", attempt=withdrawal.submit_attempts)

    def became_unknown(self, withdrawal: Withdrawal, answer: ChannelAnswer) -> None:
        _audit(withdrawal, "unknown", channel_says=answer.status.value, message=answer.message[:200])

    def query_failed(self, *, pk: int, error: str, now: dt.datetime) -> None:
        _record_query_error(withdrawal_id=pk, error=error, now=now)

    def succeed(self, withdrawal, answer, *, source, now, actor=None) -> str:
        return _succeed(withdrawal, answer, source=source, now=now, actor=actor)

    def fail(self, withdrawal, answer, *, source, now, actor=None) -> str:
        return _fail(withdrawal, answer, source=source, now=now, actor=actor)

    def returned(self, withdrawal, answer, *, source, now, actor=None) -> str:
        return _return(withdrawal, answer, source=source, now=now, actor=actor)


WITHDRAWALS = WithdrawalInstruction()


def _begin_submit(*, withdrawal_id: int, now: dt.datetime) -> Withdrawal | None:
    return instruction_begin_submit(WITHDRAWALS, withdrawal_id, now=now)


def withdrawal_submit(*, withdrawal_id: int, now: dt.datetime | None = None) -> Withdrawal | None:
    """Submit (or re-submit, with the same request id) a withdrawal whose funds are held, and
    record the answer. A no-op for any other state: safe to run twice, from a task or the sweeper."""
    return instruction_submit(WITHDRAWALS, withdrawal_id, now=now)


def withdrawal_query_status(*, withdrawal_id: int, now: dt.datetime | None = None, actor=None) -> Withdrawal | None:
    """Ask the channel about a withdrawal whose outcome is unknown (never re-submits). A no-op
    unless it is ``unknown``. Raises ChannelUnavailableError (counted; an alert after
    ACCOUNTS_PAYMENT_QUERY_ERROR_ALERT in a row) so the task can retry with backoff."""
    return instruction_query_status(WITHDRAWALS, withdrawal_id, now=now, actor=actor)


@transaction.atomic(durable=True)
def _record_query_error(*, withdrawal_id: int, error: str, now: dt.datetime) -> None:
    withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
    withdrawal.query_attempts += 1
    withdrawal.query_errors += 1
    withdrawal.channel_status = "error"
    withdrawal.last_activity_at = now
    withdrawal.save(update_fields=["query_attempts", "query_errors", "channel_status", "last_activity_at", "updated_at"])
    if withdrawal.query_errors >= conf.query_error_alert():
        payment_alert(
            kind=PaymentAlert.Kind.QUERY_ERRORS,
            message=text_spec(
                _(
                    "{reference}: the channel failed {errors} status queries in a row ({error}); the withdrawal stays "
                    "unknown until the channel answers or a manual resolution is approved. / {reference}：通道状态查询"
                    "已连续失败 {errors} 次（{error}）；在通道答复或人工处理经复核之前，该提现保持结果未知。"
                ),
                reference=withdrawal.request_id,
                errors=withdrawal.query_errors,
                error=error,
            ),
            withdrawal=withdrawal,
            errors=withdrawal.query_errors,
        )


def withdrawal_record_answer(
    *, withdrawal_id: int, answer: ChannelAnswer, source: str, now: dt.datetime | None = None, actor=None
) -> Withdrawal:
    """Record a channel answer (or an approved manual outcome) for a withdrawal, in one
    transaction: the state change, its money and its audit row together."""
    return instruction_record_answer(WITHDRAWALS, withdrawal_id, answer=answer, source=source, now=now, actor=actor)


def _settle_legs(withdrawal: Withdrawal) -> list[tuple[int, Decimal]]:
    splits = [(internal_account(Role.CLEARING).pk, withdrawal.amount)]
    if withdrawal.fee > 0:
        splits.append((internal_account(Role.FEE_INCOME).pk, withdrawal.fee))
    return splits


def _succeed(withdrawal: Withdrawal, answer: ChannelAnswer, *, source, now, actor) -> str:
    """The channel paid (the withdrawal is submitted or unknown): settle the set-aside money."""
    if answer.amount is not None and answer.amount != withdrawal.amount:
        payment_alert(
            kind=PaymentAlert.Kind.AMOUNT_MISMATCH,
            severity=PaymentAlert.Severity.P1,
            message=text_spec(
                _(
                    "{reference}: the channel reports {reported} paid, the withdrawal is {amount}. Nothing was moved. "
                    "/ {reference}：通道报告已付 {reported}，提现金额为 {amount}。未做任何账务处理。"
                ),
                reference=withdrawal.request_id,
                reported=answer.amount,
                amount=withdrawal.amount,
            ),
            withdrawal=withdrawal,
        )
        return CONTRADICTION
    key = f"withdrawal:{withdrawal.pk}:settle"
    memo = f"提现成功 withdrawal paid {withdrawal.request_id}"
    metadata = {"withdrawal": withdrawal.pk, "request_id": withdrawal.request_id, "channel_txn_id": withdrawal.channel_txn_id}
    if withdrawal.strategy == Channel.Strategy.FREEZE:
        transfer = ledger.hold_capture(
            client=LEDGER_CLIENT,
            idempotency_key=key,
            hold_id=withdrawal.hold_id,
            splits=_settle_legs(withdrawal),
            kind="withdrawal",
            memo=memo,
            metadata=metadata,
            # The channel paid: a judicial freeze placed since cannot undo that (it froze what was
            # available, not this hold); the payment is booked and the operators are told.
            paid_out=True,
        )
        if withdrawal.account.judicial_debit_blocks:
            payment_alert(
                kind=PaymentAlert.Kind.CONTRADICTION,
                message=text_spec(
                    _(
                        "{reference} was paid by the channel while account {account} is under a judicial freeze; the "
                        "payment was booked (the hold predates the freeze). / {reference} 已由通道付款，而账户 {account} "
                        "处于司法冻结中；该笔已入账（提现冻结早于司法冻结）。"
                    ),
                    reference=withdrawal.request_id,
                    account=withdrawal.account.number,
                ),
                withdrawal=withdrawal,
            )
    else:
        transit = internal_account_for(Role.TRANSIT_WITHDRAWAL, account=withdrawal.account)
        legs = [ledger.Leg(transit.pk, DEBIT, withdrawal.total)]
        legs += [ledger.Leg(pk, CREDIT, value) for pk, value in _settle_legs(withdrawal)]
        transfer = ledger.post_transfer(
            client=LEDGER_CLIENT, idempotency_key=key, kind="withdrawal", legs=legs, memo=memo, metadata=metadata
        )
    withdrawal.settle_transfer = transfer
    withdrawal.mark_succeeded()
    withdrawal.resolved_by, withdrawal.resolved_at = source, now
    _audit(withdrawal, "succeeded", actor, source=source, channel_txn_id=withdrawal.channel_txn_id)
    return APPLIED


def _credit_back(withdrawal: Withdrawal, *, key: str, kind: str, debits: list[tuple[int, Decimal]], memo: str):
    """Post money back to the customer account (to suspense, with a P1 alert, if it refuses an
    inflow now: closed, a judicial credit block). Returns the voucher."""
    transfer, _to_suspense = instruction_credit_or_suspense(
        WITHDRAWALS,
        withdrawal,
        client=LEDGER_CLIENT,
        key=key,
        kind=kind,
        debits=debits,
        memo=memo,
        metadata={"withdrawal": withdrawal.pk, "request_id": withdrawal.request_id},
        explain=lambda exc: text_spec(
            _("{amount} could not go back to account {account} ({why}) / {amount} 无法退回账户 {account}（{why}）"),
            amount=sum((v for _pk, v in debits), Decimal("0.00")),
            account=withdrawal.account.number,
            why=exc,
        ),
    )
    return transfer


def _fail(withdrawal: Withdrawal, answer: ChannelAnswer, *, source, now, actor) -> str:
    """The channel did not pay (the withdrawal is submitted or unknown): give the money back."""
    key = f"withdrawal:{withdrawal.pk}:fail"
    if withdrawal.strategy == Channel.Strategy.FREEZE:
        ledger.hold_release(client=LEDGER_CLIENT, idempotency_key=key, hold_id=withdrawal.hold_id)
    else:
        withdrawal.failure_transfer = _credit_back(
            withdrawal,
            key=key,
            kind="withdrawal_failed",
            debits=[(internal_account_for(Role.TRANSIT_WITHDRAWAL, account=withdrawal.account).pk, withdrawal.total)],
            memo=f"提现失败退回 withdrawal failed {withdrawal.request_id}",
        )
    account = Account.objects.select_for_update().get(pk=withdrawal.account_id)
    limits_release(account=account, kind=FlowKind.BOUND_OUTFLOW, amount=withdrawal.amount, at=withdrawal.created_at)
    withdrawal.mark_failed()
    withdrawal.failure_reason = (answer.message or "")[:200]
    withdrawal.resolved_by, withdrawal.resolved_at = source, now
    _audit(withdrawal, "failed", actor, source=source, reason=withdrawal.failure_reason)
    return APPLIED


def _return(withdrawal: Withdrawal, answer: ChannelAnswer, *, source, now, actor) -> str:
    if withdrawal.state == Withdrawal.State.RETURNED:
        return NO_CHANGE
    if withdrawal.state in (Withdrawal.State.SUBMITTED, Withdrawal.State.UNKNOWN):
        # Paid and returned before we heard of the payment: book both, in order.
        effect = instruction_settle(
            WITHDRAWALS,
            withdrawal,
            ChannelAnswer(ChannelStatus.SUCCESS, answer.channel_txn_id, answer.amount),
            source=source,
            now=now,
            actor=actor,
        )
        if effect != APPLIED:
            return effect
    if withdrawal.state != Withdrawal.State.SUCCEEDED:
        return instruction_contradiction(WITHDRAWALS, withdrawal, answer, source)
    debits = [(internal_account(Role.CLEARING).pk, withdrawal.amount)]
    if withdrawal.fee > 0:
        debits.append((internal_account(Role.FEE_INCOME).pk, withdrawal.fee))
    withdrawal.return_transfer = _credit_back(
        withdrawal,
        key=f"withdrawal:{withdrawal.pk}:return",
        kind="withdrawal_returned",
        debits=debits,
        memo=f"提现退票 withdrawal returned {withdrawal.request_id}",
    )
    withdrawal.mark_returned()
    withdrawal.returned_at = now
    _audit(withdrawal, "returned", actor, source=source)
    return APPLIED


# -- manual resolution (maker-checker) ------------------------------------------------------------


@transaction.atomic(durable=True)
def withdrawal_resolution_propose(
    *, withdrawal_id: int, outcome: str, evidence: str, maker, channel_txn_id: str = ""
) -> WithdrawalResolution:
    """An operator proposes that an unknown withdrawal succeeded or failed, with evidence (e.g.
    the channel's statement line). Nothing moves until a different operator approves."""
    withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
    if withdrawal.state != Withdrawal.State.UNKNOWN:
        raise InvalidStateError(state=withdrawal.state)
    if outcome not in WithdrawalResolution.Outcome.values:
        raise FieldValidationError({"outcome": [str(_("Choose succeeded or failed."))]})
    evidence = (evidence or "").strip()
    if len(evidence) < 10:
        raise FieldValidationError({"evidence": [str(_("Describe the evidence (at least 10 characters)."))]})
    if withdrawal.resolutions.filter(state=WithdrawalResolution.State.PENDING).exists():
        raise InvalidStateError(_("A manual resolution of this withdrawal already awaits approval."), state="pending")
    resolution = WithdrawalResolution.objects.create(
        withdrawal=withdrawal, outcome=outcome, evidence=evidence, channel_txn_id=channel_txn_id.strip()[:64], maker=maker
    )
    audit_record(actor=maker, action="withdrawal_resolution.propose", target=resolution, data={"outcome": outcome})
    return resolution


@transaction.atomic(durable=True)
def withdrawal_resolution_approve(*, resolution_id: int, checker, note: str = "") -> WithdrawalResolution:
    """A checker (not the maker) approves: the outcome is applied as a definitive answer, with its
    money. If the channel later says otherwise, a P1 alert is raised and nothing moves."""
    resolution = WithdrawalResolution.objects.select_related("withdrawal").get(pk=resolution_id)
    withdrawal = Withdrawal.objects.select_for_update(of=("self",)).select_related("channel").get(pk=resolution.withdrawal_id)
    resolution = WithdrawalResolution.objects.select_for_update().get(pk=resolution_id)
    if resolution.state != WithdrawalResolution.State.PENDING:
        raise InvalidStateError(state=resolution.state)
    if checker is None or checker.pk == resolution.maker_id:
        raise MakerCheckerError()
    if withdrawal.state != Withdrawal.State.UNKNOWN:
        raise InvalidStateError(_("The withdrawal is {state} now: reject this proposal."), state=withdrawal.state)
    status = ChannelStatus.SUCCESS if resolution.outcome == WithdrawalResolution.Outcome.SUCCEEDED else ChannelStatus.FAILURE
    answer = ChannelAnswer(
        status, resolution.channel_txn_id, None, f"manual resolution #{resolution.pk}: {resolution.evidence[:150]}"
    )
    instruction_apply_answer(WITHDRAWALS, withdrawal, answer, source=Withdrawal.Source.MANUAL, now=timezone.now(), actor=checker)
    resolution.approve()
    resolution.checker, resolution.decided_at, resolution.decision_note = checker, timezone.now(), note[:500]
    resolution.save()
    audit_record(actor=checker, action="withdrawal_resolution.approve", target=resolution, data={"outcome": resolution.outcome})
    return resolution


@transaction.atomic(durable=True)
def withdrawal_resolution_reject(*, resolution_id: int, checker, note: str = "") -> WithdrawalResolution:
    resolution = WithdrawalResolution.objects.select_for_update().get(pk=resolution_id)
    if resolution.state != WithdrawalResolution.State.PENDING:
        raise InvalidStateError(state=resolution.state)
    if checker is None or checker.pk == resolution.maker_id:
        raise MakerCheckerError()
    resolution.reject()
    resolution.checker, resolution.decided_at, resolution.decision_note = checker, timezone.now(), note[:500]
    resolution.save()
    audit_record(actor=checker, action="withdrawal_resolution.reject", target=resolution, data={"note": note[:200]})
    return resolution


def withdrawal_get(*, pk: int) -> Withdrawal:
    withdrawal = Withdrawal.objects.select_related("account", "channel", "card").filter(pk=pk).first()
    if withdrawal is None:
        raise NotFoundError(_("No withdrawal {id}."), id=pk)
    return withdrawal
