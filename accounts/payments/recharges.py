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

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.cards import services as cards
from accounts.cards.models import OneTimeCode
from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, Role
from accounts.ledger.errors import AccountNotActiveError
from accounts.ledger.models import Account
from accounts.ledger.selectors import internal_account
from accounts.limits.services import Flow, FlowKind, LimitExceededError, TierFlowNotAllowedError, limit_guard
from accounts.parties.models import Party
from accounts.payments.authorisation import authorisation_verify
from accounts.payments.channels import ChannelAnswer, ChannelStatus
from accounts.payments.instructions import (
    APPLIED,
    Instruction,
    amount_parse,
    channel_for,
    instruction_contradiction,
    instruction_credit_or_suspense,
    instruction_enqueue_submit,
    instruction_query_status,
    instruction_record_answer,
    instruction_reference_clean,
    instruction_row_create,
    instruction_submit,
)
from accounts.payments.models import Recharge
from accounts.payments.withdrawals import NoWithdrawalCardError, WithdrawalNotAllowedError
from backoffice.audit import audit_record
from backoffice.texts import text_spec

__all__ = [
    "RECHARGES",
    "RechargeInstruction",
    "recharge_create",
    "recharge_query_status",
    "recharge_record_answer",
    "recharge_submit",
]

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
    clearing = internal_account(Role.CLEARING)
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
    amount = amount_parse(amount)
    out_request_no = instruction_reference_clean(RECHARGES, client=client, out_request_no=out_request_no)
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
    recharge = instruction_row_create(
        RECHARGES,
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
    audit_record(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label,
        action="recharge.create",
        target=recharge,
        data={"amount": f"{amount:.2f}", "request_id": recharge.request_id},
    )
    instruction_enqueue_submit(RECHARGES, recharge)
    return recharge


# -- submission and answers (the lifecycle is accounts.payments.instructions) -------------------


class RechargeInstruction(Instruction):
    """What is particular to recharges in the channel-instruction lifecycle: a collection from the
    bound card, credited on success (to suspense if the account refuses it by then); a failure
    moves no money (nothing was set aside); no returns; one audit row per applied answer."""

    kind, prefix, model = "recharge", "RC", Recharge
    submit_task, query_task = "accounts.recharge_submit", "accounts.recharge_query_status"
    submittable = (Recharge.State.CREATED, Recharge.State.SUBMITTED)
    # A recharge not submitted yet ignores an answer (as it always has) rather than calling it a contradiction.
    settled = {
        ChannelStatus.SUCCESS: (Recharge.State.SUCCEEDED, Recharge.State.CREATED),
        ChannelStatus.FAILURE: (Recharge.State.FAILED, Recharge.State.CREATED),
    }
    channel_method = "submit_collection"
    related = ("channel", "account")
    requery_while_unknown = False  # the sweeper asks again

    def succeed(self, recharge, answer, *, source, now, actor=None) -> str:
        if answer.amount is not None and answer.amount != recharge.amount:
            return instruction_contradiction(self, recharge, answer, source)
        recharge.credit_transfer = _credit(recharge, now)
        recharge.mark_succeeded()
        recharge.resolved_by, recharge.resolved_at = source, now
        return APPLIED

    def fail(self, recharge, answer, *, source, now, actor=None) -> str:
        recharge.mark_failed()
        recharge.failure_reason = (answer.message or "")[:200]
        recharge.resolved_by, recharge.resolved_at = source, now
        return APPLIED

    def answered(self, recharge, effect, *, source) -> None:
        if effect == APPLIED:
            audit_record(
                action=f"recharge.{recharge.state}", target=recharge, data={"source": source, "request_id": recharge.request_id}
            )


RECHARGES = RechargeInstruction()


def recharge_submit(*, recharge_id: int, now: dt.datetime | None = None) -> Recharge | None:
    """Send (or re-send, same request id) the collection and record the answer; idempotent."""
    return instruction_submit(RECHARGES, recharge_id, now=now)


def recharge_query_status(*, recharge_id: int, now: dt.datetime | None = None) -> Recharge | None:
    """Ask the channel about a recharge whose outcome is unknown. Raises ChannelUnavailableError."""
    return instruction_query_status(RECHARGES, recharge_id, now=now)


def recharge_record_answer(*, recharge_id: int, answer: ChannelAnswer, source: str, now: dt.datetime | None = None) -> Recharge:
    return instruction_record_answer(RECHARGES, recharge_id, answer=answer, source=source, now=now)


def _credit(recharge: Recharge, now: dt.datetime):
    """Clearing → the account, with the tier-limit guard (bound inflow); to suspense if refused."""
    transfer, recharge.credited_to_suspense = instruction_credit_or_suspense(
        RECHARGES,
        recharge,
        client=LEDGER_CLIENT,
        key=f"recharge:{recharge.pk}:credit",
        kind="recharge",
        debits=[(internal_account(Role.CLEARING).pk, recharge.amount)],
        memo=f"充值 recharge {recharge.request_id}",
        metadata={"recharge": recharge.pk, "request_id": recharge.request_id, "channel_txn_id": recharge.channel_txn_id},
        explain=lambda exc: text_spec(
            _(
                "{amount} was collected but account {account} refuses it now ({why}) "
                "/ {amount} 已收妥，但账户 {account} 目前不能入账（{why}）"
            ),
            amount=recharge.amount,
            account=recharge.account.number,
            why=exc,
        ),
        refusals=(AccountNotActiveError, LimitExceededError, TierFlowNotAllowedError),
        guards=[limit_guard(flows=[Flow(recharge.account_id, FlowKind.BOUND_INFLOW)])],
    )
    return transfer
