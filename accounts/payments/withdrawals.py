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
from a response, query, callback or an approved manual resolution ends it; "not found" counts as
a failure only after the channel's grace period. ``payments_sweep`` (beat) re-drives anything in
flight without activity, so a lost task or a broker outage strands nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import conf, workdays
from accounts.cards import services as cards
from accounts.cards.models import BoundCard, CardType, OneTimeCode
from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.errors import AccountNotActiveError, InsufficientFundsError, InvalidAmountError, NotFoundError
from accounts.ledger.models import Account, Hold
from accounts.limits.services import FlowKind, limits_consume, limits_release
from accounts.parties.models import Party
from accounts.payments.authorisation import authorisation_verify
from accounts.payments.channels import (
    ChannelAnswer,
    ChannelStatus,
    ChannelUnavailableError,
    adapter_for,
    assert_outside_transaction,
)
from accounts.payments.models import Channel, ChannelCallback, PaymentAlert, Withdrawal, WithdrawalResolution
from backoffice import dates
from backoffice.audit import audit_record
from backoffice.errors import DomainError, FieldValidationError, InvalidStateError, MakerCheckerError
from backoffice.money import MoneyError, to_money

__all__ = [
    "DuplicateReferenceError",
    "LEDGER_CLIENT",
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


class DuplicateReferenceError(DomainError):
    code, http_status = "duplicate_reference", 409
    message = _("The business reference {out_request_no} was already used.")


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


class NoChannelError(DomainError):
    code, http_status = "no_channel", 409
    message = _("No enabled payment channel handles {operation}.")


# -- helpers ------------------------------------------------------------------------------------


def _amount(value) -> Decimal:
    try:
        amount = to_money(value)
    except (MoneyError, TypeError) as exc:
        raise FieldValidationError({"amount": [str(InvalidAmountError.message)]}) from exc
    if amount <= 0:
        raise FieldValidationError({"amount": [str(InvalidAmountError.message)]})
    return amount


def _internal(role: str) -> Account:
    return Account.objects.get(kind=Account.Kind.INTERNAL, role=role)


def enqueue_after_commit(send, *args, **kwargs) -> None:
    """Enqueue a task once the transaction commits, robustly: a broker error is logged, not raised
    (the committed row is its own outbox and payments_sweep re-drives it; STACK.md trap 10)."""

    def enqueue() -> None:
        send(*args, **kwargs)

    transaction.on_commit(enqueue, robust=True)


def _eager() -> bool:
    """Do tasks run inline (no broker: the embedded mode, and the unit tests)? Asked of the Celery
    app, not the settings: the tests switch the app to eager while a broker is configured."""
    from backoffice.celery_app import app

    return bool(app.conf.task_always_eager)


def channel_for(*, operation: str, code: str | None = None) -> Channel:
    """The channel for ``operation`` ("withdrawal" or "recharge"): ``code`` if given, else the
    enabled one with the lowest priority. Raises NoChannelError."""
    channels = Channel.objects.filter(enabled=True, **{f"supports_{operation}": True})
    if code:
        channels = channels.filter(code=code)
    channel = channels.order_by("priority", "code").first()
    if channel is None:
        raise NoChannelError(operation=operation)
    return channel


def payment_alert(
    *, kind: str, message: str, severity: str = PaymentAlert.Severity.P2, withdrawal=None, recharge=None, channel=None, **data
) -> PaymentAlert:
    """Raise an alert (once while it is unacknowledged, per kind and target). Inside the caller's
    transaction; alerts never move money."""
    channel = channel or getattr(withdrawal, "channel", None) or getattr(recharge, "channel", None)
    existing = PaymentAlert.objects.filter(
        kind=kind, acknowledged_at__isnull=True, withdrawal=withdrawal, recharge=recharge, channel=channel
    ).first()
    if existing is not None:
        return existing
    alert = PaymentAlert.objects.create(
        kind=kind, severity=severity, message=message[:500], withdrawal=withdrawal, recharge=recharge, channel=channel, data=data
    )
    audit_record(action=f"payment_alert.{kind}", target=alert, data={"severity": severity, "message": message[:200], **data})
    return alert


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
    if card is None or card.card_type != CardType.DEBIT or card.holder_name.strip() != party.name.strip():
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
    _card, settles = _check(account=account, amount=_amount(amount), channel=channel, now=now or timezone.now())
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
    amount = _amount(amount)
    out_request_no = str(out_request_no or "").strip()
    if not out_request_no or len(out_request_no) > 64:
        raise FieldValidationError({"out_request_no": [str(_("A business reference of 1 to 64 characters is required."))]})
    first = Withdrawal.objects.filter(client=client, out_request_no=out_request_no).first()
    if first is not None:
        raise DuplicateReferenceError(out_request_no=out_request_no, id=str(first.pk))
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
        transit_id = _internal(Role.TRANSIT_WITHDRAWAL).pk
        list(Account.objects.select_for_update().filter(pk__in=[transit_id, account_id]).order_by("pk"))
    # of=("self",): the party is a nullable FK (an outer join PostgreSQL refuses to lock).
    account = Account.objects.select_for_update(of=("self",)).select_related("party").get(pk=account_id)
    card, settles = _check(account=account, amount=amount, channel=channel, now=now)
    count, limit = _today_count(account.party_id, now), conf.daily_count()
    if count >= limit:
        raise DailyCountExceededError(count=count, limit=limit)
    try:
        with transaction.atomic():
            withdrawal = Withdrawal.objects.create(
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
    except IntegrityError as exc:
        first = Withdrawal.objects.filter(client=client, out_request_no=out_request_no).first()
        raise DuplicateReferenceError(out_request_no=out_request_no, id=str(first.pk) if first else None) from exc
    withdrawal.request_id = f"WD{withdrawal.pk:010d}"
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
                from_account_id=account.pk, to_account_id=_internal(Role.TRANSIT_WITHDRAWAL).pk, amount=withdrawal.total
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
    from accounts.tasks import withdrawal_submit as submit_task

    # robust: a broker outage after commit must not turn an accepted withdrawal into an error answer;
    # the row is its own outbox and payments_sweep submits it (STACK.md trap 10).
    enqueue_after_commit(submit_task.delay, withdrawal.pk)
    return withdrawal


# -- submission and answers ---------------------------------------------------------------------


@transaction.atomic(durable=True)
def _begin_submit(*, withdrawal_id: int, now: dt.datetime) -> Withdrawal | None:
    withdrawal = Withdrawal.objects.select_for_update().filter(pk=withdrawal_id).first()
    if withdrawal is None or withdrawal.state not in (Withdrawal.State.FUNDS_HELD, Withdrawal.State.SUBMITTED):
        return None
    withdrawal.mark_submitted()
    withdrawal.submit_attempts += 1
    withdrawal.submitted_at = withdrawal.submitted_at or now
    withdrawal.last_submitted_at = now
    withdrawal.last_activity_at = now
    withdrawal.save()
    _audit(withdrawal, "submit", attempt=withdrawal.submit_attempts)
    return withdrawal


def withdrawal_submit(*, withdrawal_id: int, now: dt.datetime | None = None) -> Withdrawal | None:
    """Submit (or re-submit, with the same request id) a withdrawal whose funds are held, and
    record the answer. A no-op for any other state: safe to run twice, from a task or the sweeper."""
    assert_outside_transaction()
    withdrawal = _begin_submit(withdrawal_id=withdrawal_id, now=now or timezone.now())
    if withdrawal is None:
        return Withdrawal.objects.filter(pk=withdrawal_id).first()
    card = withdrawal.card
    try:
        answer = adapter_for(withdrawal.channel).submit_payout(
            request_id=withdrawal.request_id, amount=withdrawal.amount, card_number=card.card_number, holder_name=card.holder_name
        )
    except ChannelUnavailableError as exc:
        answer = ChannelAnswer(ChannelStatus.PROCESSING, message=f"no answer: {exc}")
    return withdrawal_record_answer(withdrawal_id=withdrawal_id, answer=answer, source=Withdrawal.Source.RESPONSE)


def withdrawal_query_status(*, withdrawal_id: int, now: dt.datetime | None = None, actor=None) -> Withdrawal | None:
    """Ask the channel about a withdrawal whose outcome is unknown (never re-submits). A no-op
    unless it is ``unknown``. Raises ChannelUnavailableError (counted; an alert after
    ACCOUNTS_PAYMENT_QUERY_ERROR_ALERT in a row) so the task can retry with backoff."""
    assert_outside_transaction()
    withdrawal = Withdrawal.objects.select_related("channel").filter(pk=withdrawal_id).first()
    if withdrawal is None or withdrawal.state != Withdrawal.State.UNKNOWN:
        return withdrawal
    try:
        answer = adapter_for(withdrawal.channel).query(request_id=withdrawal.request_id)
    except ChannelUnavailableError as exc:
        _record_query_error(withdrawal_id=withdrawal_id, error=str(exc), now=now or timezone.now())
        raise
    return withdrawal_record_answer(
        withdrawal_id=withdrawal_id, answer=answer, source=Withdrawal.Source.QUERY, now=now, actor=actor
    )


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
            message=f"{withdrawal.request_id}: the channel failed {withdrawal.query_errors} status queries in a row ({error}); "
            "the withdrawal stays unknown until the channel answers or a manual resolution is approved.",
            withdrawal=withdrawal,
            errors=withdrawal.query_errors,
        )


@transaction.atomic(durable=True)
def withdrawal_record_answer(
    *, withdrawal_id: int, answer: ChannelAnswer, source: str, now: dt.datetime | None = None, actor=None
) -> Withdrawal:
    """Record a channel answer (or an approved manual outcome) for a withdrawal, in one
    transaction: the state change, its money and its audit row together."""
    withdrawal = Withdrawal.objects.select_for_update(of=("self",)).select_related("channel").get(pk=withdrawal_id)
    apply_answer(withdrawal, answer, source=source, now=now or timezone.now(), actor=actor)
    return withdrawal


def apply_answer(withdrawal: Withdrawal, answer: ChannelAnswer, *, source: str, now: dt.datetime, actor=None) -> str:
    """Building block (withdrawal row locked by the caller): apply one answer. Returns the effect:
    ``applied``, ``no_change`` or ``contradiction``."""
    status = answer.status
    if answer.channel_txn_id and not withdrawal.channel_txn_id:
        withdrawal.channel_txn_id = answer.channel_txn_id
    if withdrawal.in_flight or status in (ChannelStatus.SUCCESS, ChannelStatus.FAILURE, ChannelStatus.RETURNED):
        withdrawal.channel_status = status.value  # a stale "processing" does not overwrite a final answer
    withdrawal.last_activity_at = now
    if source == Withdrawal.Source.QUERY:
        withdrawal.query_attempts += 1
        withdrawal.query_errors = 0
    if status == ChannelStatus.NOT_FOUND and withdrawal.state in (Withdrawal.State.SUBMITTED, Withdrawal.State.UNKNOWN):
        # From the LATEST submission: a re-submission the channel has not seen yet is not a failure.
        grace = dt.timedelta(seconds=withdrawal.channel.not_found_grace_seconds)
        last = withdrawal.last_submitted_at or withdrawal.submitted_at
        if last is not None and now - last > grace:
            status = ChannelStatus.FAILURE
            answer = ChannelAnswer(
                ChannelStatus.FAILURE, message=f"not found {int(grace.total_seconds())} s after the last submission"
            )
    if status == ChannelStatus.SUCCESS:
        effect = _succeed(withdrawal, answer, source=source, now=now, actor=actor)
    elif status == ChannelStatus.FAILURE:
        effect = _fail(withdrawal, answer, source=source, now=now, actor=actor)
    elif status == ChannelStatus.RETURNED:
        effect = _return(withdrawal, answer, source=source, now=now, actor=actor)
    else:
        effect = _pending(withdrawal, answer)
    withdrawal.save()
    return effect


def _contradiction(withdrawal: Withdrawal, answer: ChannelAnswer, source: str) -> str:
    payment_alert(
        kind=PaymentAlert.Kind.CONTRADICTION,
        severity=PaymentAlert.Severity.P1,
        message=f"{withdrawal.request_id} is {withdrawal.state} ({withdrawal.resolved_by or 'no source'}), "
        f"but the channel now says {answer.status.value} (by {source}). Nothing was moved: investigate.",
        withdrawal=withdrawal,
        state=withdrawal.state,
        channel_says=answer.status.value,
        source=source,
    )
    return "contradiction"


def _settle_legs(withdrawal: Withdrawal) -> list[tuple[int, Decimal]]:
    splits = [(_internal(Role.CLEARING).pk, withdrawal.amount)]
    if withdrawal.fee > 0:
        splits.append((_internal(Role.FEE_INCOME).pk, withdrawal.fee))
    return splits


def _succeed(withdrawal: Withdrawal, answer: ChannelAnswer, *, source, now, actor) -> str:
    state = withdrawal.state
    if state in (Withdrawal.State.SUCCEEDED, Withdrawal.State.RETURNED):
        return "no_change"
    if state not in (Withdrawal.State.SUBMITTED, Withdrawal.State.UNKNOWN):
        return _contradiction(withdrawal, answer, source)
    if answer.amount is not None and answer.amount != withdrawal.amount:
        payment_alert(
            kind=PaymentAlert.Kind.AMOUNT_MISMATCH,
            severity=PaymentAlert.Severity.P1,
            message=f"{withdrawal.request_id}: the channel reports {answer.amount:.2f} paid, the withdrawal is "
            f"{withdrawal.amount:.2f}. Nothing was moved.",
            withdrawal=withdrawal,
        )
        return "contradiction"
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
                message=f"{withdrawal.request_id} was paid by the channel while account {withdrawal.account.number} "
                "is under a judicial freeze; the payment was booked (the hold predates the freeze).",
                withdrawal=withdrawal,
            )
    else:
        transit = _internal(Role.TRANSIT_WITHDRAWAL)
        legs = [ledger.Leg(transit.pk, DEBIT, withdrawal.total)]
        legs += [ledger.Leg(pk, CREDIT, value) for pk, value in _settle_legs(withdrawal)]
        transfer = ledger.post_transfer(
            client=LEDGER_CLIENT, idempotency_key=key, kind="withdrawal", legs=legs, memo=memo, metadata=metadata
        )
    withdrawal.settle_transfer = transfer
    withdrawal.mark_succeeded()
    withdrawal.resolved_by, withdrawal.resolved_at = source, now
    _audit(withdrawal, "succeeded", actor, source=source, channel_txn_id=withdrawal.channel_txn_id)
    return "applied"


def _credit_back(withdrawal: Withdrawal, *, key: str, kind: str, debits: list[tuple[int, Decimal]], memo: str):
    """Post money back to the customer account; if its state refuses an inflow now (closed, a
    judicial credit block), to the suspense account with a P1 alert (R-DEP-10: allocated later
    by maker-checker). Returns the voucher."""
    metadata = {"withdrawal": withdrawal.pk, "request_id": withdrawal.request_id}
    total = sum((value for _pk, value in debits), Decimal("0"))
    legs = [ledger.Leg(pk, DEBIT, value) for pk, value in debits]
    try:
        with transaction.atomic():
            return ledger.post_transfer(
                client=LEDGER_CLIENT,
                idempotency_key=key,
                kind=kind,
                legs=[*legs, ledger.Leg(withdrawal.account_id, CREDIT, total)],
                memo=memo,
                metadata=metadata,
            )
    except AccountNotActiveError as exc:
        suspense = _internal(Role.SUSPENSE)
        payment_alert(
            kind=PaymentAlert.Kind.SUSPENSE_CREDIT,
            severity=PaymentAlert.Severity.P1,
            message=f"{withdrawal.request_id}: {total:.2f} could not go back to account {withdrawal.account.number} "
            f"({exc.text}); it is on the suspense account awaiting allocation.",
            withdrawal=withdrawal,
        )
        return ledger.post_transfer(
            client=LEDGER_CLIENT,
            idempotency_key=key,
            kind=kind,
            legs=[*legs, ledger.Leg(suspense.pk, CREDIT, total)],
            memo=memo + " → suspense",
            metadata={**metadata, "suspense": True},
        )


def _fail(withdrawal: Withdrawal, answer: ChannelAnswer, *, source, now, actor) -> str:
    state = withdrawal.state
    if state == Withdrawal.State.FAILED:
        return "no_change"
    if state not in (Withdrawal.State.SUBMITTED, Withdrawal.State.UNKNOWN):
        return _contradiction(withdrawal, answer, source)
    key = f"withdrawal:{withdrawal.pk}:fail"
    if withdrawal.strategy == Channel.Strategy.FREEZE:
        ledger.hold_release(client=LEDGER_CLIENT, idempotency_key=key, hold_id=withdrawal.hold_id)
    else:
        withdrawal.failure_transfer = _credit_back(
            withdrawal,
            key=key,
            kind="withdrawal_failed",
            debits=[(_internal(Role.TRANSIT_WITHDRAWAL).pk, withdrawal.total)],
            memo=f"提现失败退回 withdrawal failed {withdrawal.request_id}",
        )
    account = Account.objects.select_for_update().get(pk=withdrawal.account_id)
    limits_release(account=account, kind=FlowKind.BOUND_OUTFLOW, amount=withdrawal.amount, at=withdrawal.created_at)
    withdrawal.mark_failed()
    withdrawal.failure_reason = (answer.message or "")[:200]
    withdrawal.resolved_by, withdrawal.resolved_at = source, now
    _audit(withdrawal, "failed", actor, source=source, reason=withdrawal.failure_reason)
    return "applied"


def _return(withdrawal: Withdrawal, answer: ChannelAnswer, *, source, now, actor) -> str:
    if withdrawal.state == Withdrawal.State.RETURNED:
        return "no_change"
    if withdrawal.state in (Withdrawal.State.SUBMITTED, Withdrawal.State.UNKNOWN):
        # Paid and returned before we heard of the payment: book both, in order.
        effect = _succeed(
            withdrawal,
            ChannelAnswer(ChannelStatus.SUCCESS, answer.channel_txn_id, answer.amount),
            source=source,
            now=now,
            actor=actor,
        )
        if effect != "applied":
            return effect
    if withdrawal.state != Withdrawal.State.SUCCEEDED:
        return _contradiction(withdrawal, answer, source)
    debits = [(_internal(Role.CLEARING).pk, withdrawal.amount)]
    if withdrawal.fee > 0:
        debits.append((_internal(Role.FEE_INCOME).pk, withdrawal.fee))
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
    return "applied"


def _pending(withdrawal: Withdrawal, answer: ChannelAnswer) -> str:
    if withdrawal.state == Withdrawal.State.SUBMITTED:
        withdrawal.mark_unknown()
        _audit(withdrawal, "unknown", channel_says=answer.status.value, message=answer.message[:200])
        _schedule_query(withdrawal)
        return "applied"
    if withdrawal.state == Withdrawal.State.UNKNOWN:
        _schedule_query(withdrawal)
    return "no_change"


def _schedule_query(withdrawal: Withdrawal) -> None:
    """With a broker, ask again later with backoff. Eagerly (tests, the embedded demo) nothing is
    scheduled: a query there would run at once and loop; the sweeper and the console drive them."""
    if _eager():
        return
    from accounts.tasks import withdrawal_query_status as query_task

    countdown = conf.query_backoff(withdrawal.query_attempts)
    enqueue_after_commit(query_task.apply_async, (withdrawal.pk,), countdown=countdown)


# -- callbacks ----------------------------------------------------------------------------------

# What applying an answer did (apply_answer, apply_recharge_answer) → what the stored callback records.
CALLBACK_OUTCOME = {
    "applied": ChannelCallback.Outcome.APPLIED,
    "no_change": ChannelCallback.Outcome.NO_CHANGE,
    "contradiction": ChannelCallback.Outcome.CONTRADICTION,
}


def callback_apply_withdrawal(*, withdrawal: Withdrawal, callback: ChannelCallback, event, now) -> str:
    """Building block for accounts.callbacks (withdrawal row locked, callback row just stored)."""
    if event.amount != withdrawal.amount:
        payment_alert(
            kind=PaymentAlert.Kind.AMOUNT_MISMATCH,
            severity=PaymentAlert.Severity.P1,
            message=f"{withdrawal.request_id}: a callback reports {event.amount:.2f}, the withdrawal is {withdrawal.amount:.2f}. "
            "Nothing was moved.",
            withdrawal=withdrawal,
            callback=callback.pk,
        )
        return ChannelCallback.Outcome.AMOUNT_MISMATCH
    answer = ChannelAnswer(event.status, event.channel_txn_id, event.amount, "callback")
    effect = apply_answer(withdrawal, answer, source=Withdrawal.Source.CALLBACK, now=now)
    return CALLBACK_OUTCOME[effect]


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
    apply_answer(withdrawal, answer, source=Withdrawal.Source.MANUAL, now=timezone.now(), actor=checker)
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


@transaction.atomic(durable=True)
def payment_alert_acknowledge(*, alert_id: int, actor) -> PaymentAlert:
    alert = PaymentAlert.objects.select_for_update().get(pk=alert_id)
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = timezone.now(), actor
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "updated_at"])
        audit_record(actor=actor, action="payment_alert.acknowledge", target=alert)
    return alert


def withdrawal_get(*, pk: int) -> Withdrawal:
    withdrawal = Withdrawal.objects.select_related("account", "channel", "card").filter(pk=pk).first()
    if withdrawal is None:
        raise NotFoundError(_("No withdrawal {id}."), id=pk)
    return withdrawal
