"""Recharges (充值): money pulled from the account's bound card through a channel (R-DEP-02).

``recharge_create`` checks the account, the card and the tier limits (a dry run of the same
guard that the credit will pass), verifies the holder's authorisation and creates the row; the
collection is sent after commit with the request id ``RC{pk:010d}``, outside any transaction.
On success the account is credited from the clearing account (``recharge:{pk}:credit``), with
the tier-limit guard (bound inflow). If the account or its limits refuse the credit by then
(a freeze, another inflow meanwhile), the money is credited to the suspense account with a P1
alert, never lost and never forced onto the account (R-DEP-10).
"""

from __future__ import annotations

import datetime as dt
from copy import copy
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import conf
from accounts.cards import services as cards
from accounts.cards.models import OneTimeCode
from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, Role
from accounts.ledger.errors import AccountNotActiveError
from accounts.ledger.models import Account
from accounts.limits.services import Flow, FlowKind, LimitExceededError, TierFlowNotAllowedError, limit_guard
from accounts.parties.models import Party
from accounts.payments.authorisation import authorisation_verify
from accounts.payments.channels import (
    ChannelAnswer,
    ChannelStatus,
    ChannelUnavailableError,
    adapter_for,
    assert_outside_transaction,
)
from accounts.payments.models import ChannelCallback, PaymentAlert, Recharge
from accounts.payments.withdrawals import (
    CALLBACK_OUTCOME,
    DuplicateReferenceError,
    NoWithdrawalCardError,
    WithdrawalNotAllowedError,
    _amount,
    _eager,
    _internal,
    channel_for,
    enqueue_after_commit,
    payment_alert,
)
from backoffice.audit import audit_record
from backoffice.errors import FieldValidationError

__all__ = ["recharge_create", "recharge_query_status", "recharge_record_answer", "recharge_submit"]

LEDGER_CLIENT = "recharges"


class _DryRunDoneError(Exception):
    pass


def _check(*, account: Account, amount: Decimal) -> None:
    party = account.party
    if account.is_internal or party is None:
        raise WithdrawalNotAllowedError(account=account.number, reason=str(_("an internal account is not recharged")))
    if party.kyc_state != Party.KycState.APPROVED:
        raise WithdrawalNotAllowedError(account=account.number, reason=str(_("the holder's identity is not verified")))
    if account.state != Account.State.ACTIVE or account.judicial_credit_blocks:
        state = "judicial_freeze" if account.judicial_credit_blocks else account.state
        raise AccountNotActiveError(account=account.number, state=state, direction="inflow")
    card = cards.card_withdrawal_card(account=account)
    if card is None:
        raise NoWithdrawalCardError(account=account.number)


def _limits_dry_run(*, account: Account, amount: Decimal, now: dt.datetime) -> None:
    """Run the credit's tier-limit guard now, on a copy of the account, and roll it back: a
    recharge the limits would refuse is refused before any money is pulled."""
    probe = copy(account)
    probe.apply(CREDIT, amount)
    clearing = _internal(Role.CLEARING)
    legs = ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=amount)
    guard = limit_guard(flows=[Flow(account.pk, FlowKind.BOUND_INFLOW)])
    try:
        with transaction.atomic():
            guard(accounts={account.pk: probe}, legs=legs, now=now)
            raise _DryRunDoneError
    except _DryRunDoneError:
        pass


def recharge_create(
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
) -> Recharge:
    """Accept a recharge of ``amount`` onto ``account`` from its bound card. Raises
    FieldValidationError, DuplicateReferenceError, AccountNotActiveError, NoWithdrawalCardError,
    LimitExceededError, TierFlowNotAllowedError, NoChannelError and the authorisation errors."""
    now = now or timezone.now()
    amount = _amount(amount)
    out_request_no = str(out_request_no or "").strip()
    if not out_request_no or len(out_request_no) > 64:
        raise FieldValidationError({"out_request_no": [str(_("A business reference of 1 to 64 characters is required."))]})
    first = Recharge.objects.filter(client=client, out_request_no=out_request_no).first()
    if first is not None:
        raise DuplicateReferenceError(out_request_no=out_request_no, id=str(first.pk))
    channel = channel_for(operation="recharge", code=channel_code)
    _check(account=account, amount=amount)
    with transaction.atomic():
        _limits_dry_run(account=Account.objects.select_for_update().get(pk=account.pk), amount=amount, now=now)
    method = authorisation_verify(account=account, purpose=OneTimeCode.Purpose.RECHARGE, authorization=authorization, actor=actor)
    return _create(
        client=client,
        out_request_no=out_request_no,
        account_id=account.pk,
        amount=amount,
        channel=channel,
        method=method,
        actor=actor,
        actor_label=actor_label or ("" if getattr(actor, "pk", None) else client),
        now=now,
    )


@transaction.atomic(durable=True)
def _create(*, client, out_request_no, account_id, amount, channel, method, actor, actor_label, now) -> Recharge:
    account = Account.objects.select_for_update(of=("self",)).select_related("party").get(pk=account_id)
    _check(account=account, amount=amount)
    card = cards.card_withdrawal_card(account=account)
    try:
        with transaction.atomic():
            recharge = Recharge.objects.create(
                client=client,
                out_request_no=out_request_no,
                account=account,
                card=card,
                channel=channel,
                amount=amount,
                authorisation=method,
                created_by=actor if getattr(actor, "pk", None) else None,
                last_activity_at=now,
            )
    except IntegrityError as exc:
        first = Recharge.objects.filter(client=client, out_request_no=out_request_no).first()
        raise DuplicateReferenceError(out_request_no=out_request_no, id=str(first.pk) if first else None) from exc
    recharge.request_id = f"RC{recharge.pk:010d}"
    recharge.save(update_fields=["request_id", "updated_at"])
    audit_record(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label,
        action="recharge.create",
        target=recharge,
        data={"amount": f"{amount:.2f}", "request_id": recharge.request_id},
    )
    from accounts.tasks import recharge_submit as submit_task

    # robust: a broker outage after commit must not turn an accepted recharge into an error answer;
    # the row is its own outbox and payments_sweep submits it (STACK.md trap 10).
    enqueue_after_commit(submit_task.delay, recharge.pk)
    return recharge


@transaction.atomic(durable=True)
def _begin_submit(*, recharge_id: int, now: dt.datetime) -> Recharge | None:
    recharge = Recharge.objects.select_for_update().filter(pk=recharge_id).first()
    if recharge is None or recharge.state not in (Recharge.State.CREATED, Recharge.State.SUBMITTED):
        return None
    recharge.mark_submitted()
    recharge.submit_attempts += 1
    recharge.submitted_at = recharge.submitted_at or now
    recharge.last_submitted_at = now
    recharge.last_activity_at = now
    recharge.save()
    return recharge


def recharge_submit(*, recharge_id: int, now: dt.datetime | None = None) -> Recharge | None:
    """Send (or re-send, same request id) the collection and record the answer; idempotent."""
    assert_outside_transaction()
    recharge = _begin_submit(recharge_id=recharge_id, now=now or timezone.now())
    if recharge is None:
        return Recharge.objects.filter(pk=recharge_id).first()
    card = recharge.card
    try:
        answer = adapter_for(recharge.channel).submit_collection(
            request_id=recharge.request_id, amount=recharge.amount, card_number=card.card_number, holder_name=card.holder_name
        )
    except ChannelUnavailableError as exc:
        answer = ChannelAnswer(ChannelStatus.PROCESSING, message=f"no answer: {exc}")
    return recharge_record_answer(recharge_id=recharge_id, answer=answer, source="response")


def recharge_query_status(*, recharge_id: int, now: dt.datetime | None = None) -> Recharge | None:
    """Ask the channel about a recharge whose outcome is unknown. Raises ChannelUnavailableError."""
    assert_outside_transaction()
    recharge = Recharge.objects.select_related("channel").filter(pk=recharge_id).first()
    if recharge is None or recharge.state != Recharge.State.UNKNOWN:
        return recharge
    answer = adapter_for(recharge.channel).query(request_id=recharge.request_id)
    return recharge_record_answer(recharge_id=recharge_id, answer=answer, source="query", now=now)


@transaction.atomic(durable=True)
def recharge_record_answer(*, recharge_id: int, answer: ChannelAnswer, source: str, now: dt.datetime | None = None) -> Recharge:
    recharge = Recharge.objects.select_for_update(of=("self",)).select_related("channel", "account").get(pk=recharge_id)
    apply_recharge_answer(recharge, answer, source=source, now=now or timezone.now())
    return recharge


def _contradiction(recharge: Recharge, answer: ChannelAnswer, source: str) -> str:
    payment_alert(
        kind=PaymentAlert.Kind.CONTRADICTION,
        severity=PaymentAlert.Severity.P1,
        message=f"{recharge.request_id} is {recharge.state}, but the channel now says {answer.status.value} (by {source}). "
        "Nothing was moved: investigate.",
        recharge=recharge,
    )
    return "contradiction"


def _credit(recharge: Recharge, now: dt.datetime):
    clearing = _internal(Role.CLEARING)
    key = f"recharge:{recharge.pk}:credit"
    memo = f"充值 recharge {recharge.request_id}"
    metadata = {"recharge": recharge.pk, "request_id": recharge.request_id, "channel_txn_id": recharge.channel_txn_id}
    try:
        with transaction.atomic():
            return ledger.post_transfer(
                client=LEDGER_CLIENT,
                idempotency_key=key,
                kind="recharge",
                legs=ledger.move(from_account_id=clearing.pk, to_account_id=recharge.account_id, amount=recharge.amount),
                memo=memo,
                metadata=metadata,
                guards=[limit_guard(flows=[Flow(recharge.account_id, FlowKind.BOUND_INFLOW)])],
            )
    except (AccountNotActiveError, LimitExceededError, TierFlowNotAllowedError) as exc:
        recharge.credited_to_suspense = True
        payment_alert(
            kind=PaymentAlert.Kind.SUSPENSE_CREDIT,
            severity=PaymentAlert.Severity.P1,
            message=f"{recharge.request_id}: {recharge.amount:.2f} was collected but account {recharge.account.number} "
            f"refuses it now ({exc.text}); it is on the suspense account awaiting allocation.",
            recharge=recharge,
        )
        return ledger.post_transfer(
            client=LEDGER_CLIENT,
            idempotency_key=key,
            kind="recharge",
            legs=ledger.move(from_account_id=clearing.pk, to_account_id=_internal(Role.SUSPENSE).pk, amount=recharge.amount),
            memo=memo + " → suspense",
            metadata={**metadata, "suspense": True},
        )


def apply_recharge_answer(recharge: Recharge, answer: ChannelAnswer, *, source: str, now: dt.datetime) -> str:
    """Building block (recharge row locked): apply one answer; returns applied/no_change/contradiction."""
    status = answer.status
    if answer.channel_txn_id and not recharge.channel_txn_id:
        recharge.channel_txn_id = answer.channel_txn_id
    recharge.channel_status = status.value
    recharge.last_activity_at = now
    if source == "query":
        recharge.query_attempts += 1
    in_flight = recharge.state in (Recharge.State.SUBMITTED, Recharge.State.UNKNOWN)
    last = recharge.last_submitted_at or recharge.submitted_at
    if status == ChannelStatus.NOT_FOUND and in_flight and last is not None:
        if now - last > dt.timedelta(seconds=recharge.channel.not_found_grace_seconds):
            status = ChannelStatus.FAILURE
    effect = "no_change"
    if status == ChannelStatus.SUCCESS:
        if in_flight:
            if answer.amount is not None and answer.amount != recharge.amount:
                effect = _contradiction(recharge, answer, source)
            else:
                recharge.credit_transfer = _credit(recharge, now)
                recharge.mark_succeeded()
                recharge.resolved_by, recharge.resolved_at = source, now
                effect = "applied"
        elif recharge.state == Recharge.State.FAILED:
            effect = _contradiction(recharge, answer, source)
    elif status == ChannelStatus.FAILURE:
        if in_flight:
            recharge.mark_failed()
            recharge.failure_reason = (answer.message or "")[:200]
            recharge.resolved_by, recharge.resolved_at = source, now
            effect = "applied"
        elif recharge.state == Recharge.State.SUCCEEDED:
            effect = _contradiction(recharge, answer, source)
    elif status in (ChannelStatus.PROCESSING, ChannelStatus.NOT_FOUND) and recharge.state == Recharge.State.SUBMITTED:
        recharge.mark_unknown()
        effect = "applied"
        if not _eager():
            from accounts.tasks import recharge_query_status as query_task

            countdown = conf.query_backoff(recharge.query_attempts)
            enqueue_after_commit(query_task.apply_async, (recharge.pk,), countdown=countdown)
    recharge.save()
    if effect == "applied":
        audit_record(
            action=f"recharge.{recharge.state}", target=recharge, data={"source": source, "request_id": recharge.request_id}
        )
    return effect


def callback_apply_recharge(*, recharge: Recharge, callback: ChannelCallback, event, now) -> str:
    if event.amount != recharge.amount:
        payment_alert(
            kind=PaymentAlert.Kind.AMOUNT_MISMATCH,
            severity=PaymentAlert.Severity.P1,
            message=f"{recharge.request_id}: a callback reports {event.amount:.2f}, the recharge is {recharge.amount:.2f}.",
            recharge=recharge,
        )
        return ChannelCallback.Outcome.AMOUNT_MISMATCH
    effect = apply_recharge_answer(
        recharge, ChannelAnswer(event.status, event.channel_txn_id, event.amount), source="callback", now=now
    )
    return CALLBACK_OUTCOME[effect]
