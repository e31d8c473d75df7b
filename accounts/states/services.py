"""Account states: moving an account through its django-fsm transitions, and closing it (销户).

Every service here is a top-level use case (``atomic(durable=True)``) and writes an audit row.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import can_proceed

from accounts.ledger.errors import InvalidStateError, NotFoundError
from accounts.ledger.models import Account, Hold
from accounts.states.errors import AccountNotClosableError
from accounts.states.models import DormancyNotice, FreezeRequest, JudicialFreeze
from backoffice.audit import audit_record
from backoffice.registry import Registry

STATE_ACTIONS = {
    "activate": "activate",
    "freeze": "freeze",
    "unfreeze": "unfreeze",
    "mark_dormant": "mark_dormant",
    "reactivate": "reactivate",
    "suspend_non_counter": "suspend_non_counter",
    "restore_non_counter": "restore_non_counter",
    "close": "close",
}


#: What higher packages add to the reasons an account may not close (``AppConfig.ready()``): each
#: function takes the account and returns stable codes, e.g. ``withdrawals_in_flight``.
close_blockers = Registry("account-close blockers")


def account_close_blockers(*, account: Account) -> list[str]:
    """What stands in the way of closing an account, as stable codes (empty: it may close).

    Closing needs a zero balance, no active hold and nothing in flight. "In flight" today means:
    an active hold of any reason (withdrawals and bids in progress hold their money), an open
    judicial freeze (queued or active), a pending judicial-freeze request, and a withdrawal or a
    recharge still in flight (a transit-mode withdrawal holds no money on the account itself).
    """

    reasons = []
    if account.balance != 0:
        reasons.append("balance")
    if account.frozen != 0 or Hold.objects.filter(account_id=account.pk, state=Hold.State.ACTIVE).exists():
        reasons.append("active_holds")
    if JudicialFreeze.objects.filter(account_id=account.pk, state__in=JudicialFreeze.OPEN_STATES).exists():
        reasons.append("judicial_freezes")
    if FreezeRequest.objects.filter(account_id=account.pk, state=FreezeRequest.State.PENDING).exists():
        reasons.append("pending_freeze_requests")
    for _name, blockers in close_blockers:
        reasons.extend(blockers(account))
    return reasons


@transaction.atomic(durable=True)
def account_change_state(*, account_id: int, action: str, actor=None, reason: str = "") -> Account:
    """Move an account through one of its django-fsm transitions, audited.

    ``close`` is refused with AccountNotClosableError (``data.reasons``) unless
    ``account_close_blockers`` is empty; closing ends a pending R-ACC-18 notice as closed by the
    holder. ``reactivate`` and ``restore_non_counter`` record the identity re-verification
    (restarting the dormancy clock). Raises InvalidStateError for a transition the state forbids.
    """
    method_name = STATE_ACTIONS.get(action)
    if method_name is None:
        raise InvalidStateError(f"Unknown account action {action!r}.", state=action)
    account = Account.objects.select_for_update().filter(pk=account_id).first()
    if account is None:
        raise NotFoundError(_("No account with id {id}. / 账户 {id} 不存在。"), id=account_id)
    method = getattr(account, method_name)
    if action == "close" and not account.is_internal:
        blockers = account_close_blockers(account=account)
        if blockers:
            raise AccountNotClosableError(account=account.number, detail=", ".join(blockers), reasons=blockers)
    if account.is_internal or not can_proceed(method):
        raise InvalidStateError(state=account.state)
    before = account.state
    method()
    fields = ["state", "updated_at"]
    if action in ("reactivate", "restore_non_counter"):
        account.identity_reverified_at = timezone.now()
        fields.append("identity_reverified_at")
    account.save(update_fields=fields)
    if action == "close":
        for notice in DormancyNotice.objects.select_for_update().filter(account=account, state=DormancyNotice.State.PENDING):
            notice.mark_closed_by_holder()
            notice.ended_at = timezone.now()
            notice.save()
    audit_record(
        actor=actor, action=f"account.{action}", target=account, data={"from": before, "to": account.state, "reason": reason}
    )
    return account


def account_close(*, account_id: int, actor=None, reason: str = "") -> Account:
    """Close an account (销户): zero balance, no active hold, nothing in flight (see
    ``account_close_blockers``). Raises AccountNotClosableError, InvalidStateError."""
    return account_change_state(account_id=account_id, action="close", actor=actor, reason=reason)
