"""Account use cases other than postings: opening accounts and moving them between states.

Every service here is a top-level use case (``atomic(durable=True)``), writes an audit row and
leaves money to ``accounts.ledger``.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import can_proceed

from accounts.chart import ROLE_CHART, normal_side_of
from accounts.exceptions import InvalidStateError
from accounts.models import Account, DormancyNotice, FreezeRequest, Hold, JudicialFreeze, Party, new_account_number
from accounts.state_exceptions import AccountNotClosableError
from backoffice.audit import audit_record

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


def party_create(*, type: str, name: str, actor=None, actor_label: str = "") -> Party:
    with transaction.atomic(durable=not transaction.get_connection().in_atomic_block):
        party = Party(type=type, name=name)
        party.full_clean()
        party.save()
        audit_record(actor=actor, actor_label=actor_label, action="party.create", target=party, data={"type": type, "name": name})
        return party


def _create_account(*, party, name, role, tier, kind, state, internal) -> Account:
    rule = ROLE_CHART[role]
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Account.objects.create(
                    number=new_account_number(internal=internal),
                    name=name,
                    party=party,
                    kind=kind,
                    tier=tier,
                    role=role,
                    subject_id=rule.subject,
                    normal_side=normal_side_of(role),
                    state=state,
                )
        except IntegrityError:
            continue  # a random number collided with an existing one: draw again
    raise RuntimeError("could not allocate an account number")


def account_open(*, party: Party, role: str, tier: str, name: str = "", actor=None, actor_label: str = "") -> Account:
    """Open a customer account. Class II/III wait in pending_verification until a card is verified."""
    rule = ROLE_CHART.get(role)
    if rule is None or rule.internal:
        raise InvalidStateError(f"Role {role!r} is not a customer role.", state=role)
    state = (
        Account.State.PENDING_VERIFICATION if tier in (Account.Tier.CLASS_II, Account.Tier.CLASS_III) else Account.State.ACTIVE
    )
    with transaction.atomic(durable=not transaction.get_connection().in_atomic_block):
        account = _create_account(
            party=party, name=name or party.name, role=role, tier=tier, kind=Account.Kind.CUSTOMER, state=state, internal=False
        )
        audit_record(
            actor=actor, actor_label=actor_label, action="account.open", target=account, data={"role": role, "tier": tier}
        )
        return account


def internal_account_create(*, role: str, name: str) -> Account:
    return _create_account(
        party=None,
        name=name,
        role=role,
        tier=Account.Tier.INTERNAL,
        kind=Account.Kind.INTERNAL,
        state=Account.State.ACTIVE,
        internal=True,
    )


def internal_account(role: str) -> Account:
    return Account.objects.get(kind=Account.Kind.INTERNAL, role=role)


def account_close_blockers(*, account: Account) -> list[str]:
    """What stands in the way of closing an account, as stable codes (empty: it may close).

    Closing needs a zero balance, no active hold and nothing in flight. "In flight" today means:
    an active hold of any reason (withdrawals and bids in progress hold their money), an open
    judicial freeze (queued or active) and a pending judicial-freeze request. Round of
    withdrawals in transit: add a check here when that model exists.
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
    account = Account.objects.select_for_update().get(pk=account_id)
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
