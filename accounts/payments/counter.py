"""Counter business (柜面业务): a debit the holder makes in person at the bank's counter (R-ACC-16).

A counter transfer moves money from a customer account to another customer account at the bank
with the ledger's ``COUNTER`` channel: the holder is present, an identified operator has
re-verified their identity and records how, so it is allowed from an account whose non-counter
channels are suspended (``non_counter_suspended``) as well as from an active one. Everything else
still applies: a judicial freeze or any other state that refuses outflows refuses it, the money
must be available, the posting rule of ``counter_transfer`` admits customer accounts only, and a
Class II/III side counts in the tier limits like any transfer between accounts at the bank
(``cards.transfer_flows``). The voucher and its audit row commit together; the same idempotency
key (one per confirmation page) posts once.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from accounts.cards.services import transfer_flows
from accounts.ledger import postings as ledger
from accounts.ledger.errors import NotFoundError
from accounts.ledger.models import Account, Transfer
from accounts.limits.services import LIMITED_TIERS, limit_guard
from accounts.payments.instructions import amount_parse
from accounts.states.errors import CounterActorRequiredError
from backoffice.audit import audit_record
from backoffice.errors import FieldValidationError
from backoffice.models import AuditLog

__all__ = ["COUNTER_CLIENT", "COUNTER_TRANSFER_KIND", "counter_transfer"]

#: The ledger client of counter vouchers and the voucher kind (accounts.ledger.rules).
COUNTER_CLIENT = "console.counter"
COUNTER_TRANSFER_KIND = "counter_transfer"
AUDIT_ACTION = "transfer.counter"


def counter_transfer(
    *,
    from_account_id: int,
    to_account_number: str,
    amount,
    actor,
    identity_note: str,
    idempotency_key: str,
) -> Transfer:
    """R-ACC-16: move ``amount`` from the holder's account to ``to_account_number`` at the counter.

    ``actor`` is the operator serving the holder; ``identity_note`` says how the holder's identity
    was re-verified (recorded on the voucher and in the audit log). Raises
    CounterActorRequiredError (no operator), FieldValidationError (no note, a bad amount),
    NotFoundError (no such account), and the ledger's refusals: AccountNotActiveError (a state or a
    judicial freeze that refuses it), InsufficientFundsError, SameAccountError,
    PostingRuleViolationError (an internal account), LimitExceededError / TierFlowNotAllowedError.
    """
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise CounterActorRequiredError()
    identity_note = (identity_note or "").strip()
    if not identity_note:
        raise FieldValidationError({"identity_note": [str(_("Record how the holder's identity was re-verified."))]})
    amount = amount_parse(amount)
    source = Account.objects.filter(pk=from_account_id).first()
    target = Account.objects.filter(number=(to_account_number or "").strip()).first()
    if source is None or target is None:
        raise NotFoundError(_("No such account."))
    limited = {source.tier, target.tier} & set(LIMITED_TIERS)

    def post() -> Transfer:  # the posting and its audit row, in one transaction, retried on a deadlock
        transfer = ledger.post_transfer(
            client=COUNTER_CLIENT,
            idempotency_key=idempotency_key,
            kind=COUNTER_TRANSFER_KIND,
            legs=ledger.move(from_account_id=source.pk, to_account_id=target.pk, amount=amount),
            memo="counter transfer / 柜面转账",
            metadata={"operator": actor.get_username(), "identity_note": identity_note[:500]},
            guards=[limit_guard(flows=transfer_flows(source, target))] if limited else (),
            channel=ledger.COUNTER,
        )
        _audit_once(transfer, actor, source=source, target=target, identity_note=identity_note)
        return transfer

    return ledger.atomic_retrying(post)


def _audit_once(transfer: Transfer, actor, *, source: Account, target: Account, identity_note: str) -> None:
    """One audit row per voucher: a replay of the same key (the first voucher returned) writes none."""
    if AuditLog.objects.filter(action=AUDIT_ACTION, target_type="accounts.transfer", target_id=str(transfer.pk)).exists():
        return
    audit_record(
        actor=actor,
        action=AUDIT_ACTION,
        target=transfer,
        data={
            "rule": "R-ACC-16",
            "channel": transfer.channel,
            "from_account": source.number,
            "to_account": target.number,
            "amount": f"{Decimal(transfer.amount):.2f}",
            "identity_note": identity_note,
        },
    )
