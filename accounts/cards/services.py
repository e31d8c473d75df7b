"""Card binding, micro-deposit verification (小额鉴权) and one-time codes: services and selectors.

The flow of a binding (DOMAIN.md §1.5, §2.2):

1. ``card_bind`` checks what it can locally (same name and ID, R-VER-05; bound-account kind,
   R-ACC-03; card type from the BIN table, R-VER-04; Luhn only warns, R-VER-03), records the
   card as ``verifying`` and commits; then asks the verification provider to check 4 or 5
   elements (R-ACC-04) outside any transaction; then records the answer. Only a confirmation by
   the bound account's own bank counts.
2. A confirmed card waits for a micro-deposit: ``MicroDeposit`` rows are sent by the Celery task
   ``accounts.micro_deposit_send`` (enqueued on commit), at most once per account per day. The
   send is recorded as ``send_unknown`` before the channel is called, so an unanswered send is
   only ever queried (``accounts.micro_deposit_query``, with backoff), never re-sent (R-VER-07).
   The money moves through the ledger (Dr marketing / Cr clearing) once the channel accepted it.
3. ``micro_deposit_confirm`` takes the holder's back-filled amount: a match verifies the card and
   activates a ``pending_verification`` account (R-ACC-05); a wrong amount costs an attempt
   (R-VER-06); the beat task ``accounts.micro_deposit_expire`` expires what is left after the
   working-day TTL.

Services take ``now`` so that tests fix the clock; every state change writes an audit row. Each
top-level service runs in ``atomic(durable=True)`` blocks of its own: never call one inside a
transaction.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import conf, workdays
from accounts.cards import provider
from accounts.cards.models import BinEntry, BoundCard, CardType, MicroDeposit, OneTimeCode, SmsMessage
from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.errors import AccountNotActiveError, InvalidStateError, NotFoundError
from accounts.ledger.models import Account
from accounts.ledger.selectors import internal_account
from accounts.limits.services import LIMITED_TIERS, Flow, FlowKind
from accounts.parties.identity import (
    IdentityError,
    normalise_card_number,
    normalise_credit_code,
    normalise_id_number,
    normalise_mobile,
)
from accounts.parties.models import id_number_hash
from backoffice import crypto, dates
from backoffice.audit import audit_record
from backoffice.errors import DomainError, FieldValidationError, MakerCheckerError
from backoffice.models import AuditLog
from backoffice.money import MoneyError, to_money
from backoffice.tasks import enqueue_now, enqueue_on_commit

__all__ = [
    "corporate_account_bind",
    "corporate_account_verify",
    "BoundAccountNotAllowedError",
    "CardAlreadyBoundError",
    "CardBinUnknownError",
    "CardHolderMismatchError",
    "CardTypeNotAllowedError",
    "MicroDepositExpiredError",
    "MicroDepositMismatchError",
    "MobileUnknownError",
    "OtpExpiredError",
    "OtpInvalidError",
    "bin_lookup",
    "card_bind",
    "card_bind_check",
    "card_get",
    "card_history",
    "card_list",
    "card_summary",
    "card_withdrawal_card",
    "is_own_bound_class_i",
    "micro_deposit_amount",
    "micro_deposit_confirm",
    "micro_deposit_current",
    "micro_deposit_expire_due",
    "micro_deposit_query",
    "micro_deposit_retry",
    "micro_deposit_send",
    "micro_deposit_sweep",
    "otp_send",
    "otp_verify",
    "sms_outbox",
    "transfer_flows",
]

logger = logging.getLogger(__name__)

LEDGER_CLIENT = "accounts.micro_deposit"
# Accounts whose recharge/withdrawal card must be a debit card (R-VER-04): Class II/III and the
# P2P depository sub-accounts.
DEBIT_ONLY_TIERS = (Account.Tier.CLASS_II, Account.Tier.CLASS_III)
DEBIT_ONLY_ROLES = (Role.LENDER, Role.BORROWER)
# R-ACC-03: what a Class II/III account may bind for its identity provider.
ALLOWED_BOUND_KINDS = (BoundCard.BoundAccountKind.CLASS_I, BoundCard.BoundAccountKind.CREDIT_CARD)


# -- refusals ---------------------------------------------------------------------------------


class CardHolderMismatchError(DomainError):
    code, http_status = "card_holder_mismatch", 422
    message = _("The card must be in the account holder's own name and ID number.")


class CardTypeNotAllowedError(DomainError):
    code, http_status = "card_type_not_allowed", 422
    message = _("A {card_type} card cannot be this account's recharge and withdrawal card: only a debit card (DC) can.")


class CardBinUnknownError(DomainError):
    code, http_status = "card_bin_unknown", 422
    message = _("The card's issuer and type are not in the BIN table, so it cannot be shown to be a debit card.")


class BoundAccountNotAllowedError(DomainError):
    code, http_status = "bound_account_not_allowed", 422
    message = _("A Class II or III account can bind only the holder's own Class I or credit-card account, not {kind}.")


class CardAlreadyBoundError(DomainError):
    code, http_status = "card_already_bound", 409
    message = _("This card is already bound to the account, or is being verified.")


class MicroDepositMismatchError(DomainError):
    code, http_status = "micro_deposit_mismatch", 422
    message = _("The amount does not match the micro-deposit; {attempts_left} attempts left.")


class MicroDepositExpiredError(DomainError):
    code, http_status = "micro_deposit_expired", 409
    message = _("The micro-deposit verification has expired; bind the card again.")


class MobileUnknownError(DomainError):
    code, http_status = "mobile_unknown", 409
    message = _("No mobile number is known for account {account}.")


class OtpInvalidError(DomainError):
    code, http_status = "otp_invalid", 422
    message = _("The one-time code is wrong or has been used.")


class OtpExpiredError(DomainError):
    code, http_status = "otp_expired", 422
    message = _("The one-time code has expired; request a new one.")


# -- helpers ----------------------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def _field(func, value, field_name: str, **kwargs):
    try:
        return func(value, **kwargs)
    except IdentityError as exc:
        raise FieldValidationError({field_name: [str(exc)]}) from exc


def _audit(*, actor, action: str, target, **data) -> None:
    audit_record(actor=actor, action=action, target=target, data=data)


def _sms(*, account_id: int | None, mobile: str, purpose: str, text: str, now: dt.datetime) -> SmsMessage:
    """Write to the simulator's SMS outbox (stands in for the SMS gateway)."""
    return SmsMessage.objects.create(
        created_at=now,
        account_id=account_id,
        mobile_masked=crypto.mask_mobile(mobile),
        mobile_hash=crypto.blind_index(mobile, purpose="mobile"),
        purpose=purpose,
        text=text,
    )


def sms_send(*, mobile: str, purpose: str, text: str, account_id: int | None = None) -> SmsMessage:
    """Text ``mobile`` through the SMS gateway (the simulator's outbox): for higher apps' own codes
    (custody's portal-access code on a sub-account opening)."""
    return _sms(account_id=account_id, mobile=mobile, purpose=purpose[:24], text=text, now=timezone.now())


def _expiry(now: dt.datetime) -> dt.datetime:
    """The end of the TTL-th working day after ``now``'s business date (R-VER-06)."""
    deadline = workdays.add_working_days(dates.business_date(now), conf.microdeposit_ttl_working_days())
    return dates.start_of_day(deadline + dt.timedelta(days=1))


def micro_deposit_amount(*, randbelow=secrets.randbelow) -> Decimal:
    """A random amount in (0.00, max] (R-VER-06; max 0.50 by default), from ``secrets``."""
    max_fen = int(conf.microdeposit_max_amount() * 100)
    return Decimal(randbelow(max_fen) + 1).scaleb(-2)


# -- selectors --------------------------------------------------------------------------------


def bin_lookup(card_number: str) -> BinEntry | None:
    """The BIN entry with the longest prefix (8, 7, then 6 digits) of ``card_number``, if any."""
    prefixes = [card_number[:length] for length in (8, 7, 6) if len(card_number) >= length]
    entries = {entry.prefix: entry for entry in BinEntry.objects.filter(prefix__in=prefixes)}
    for prefix in prefixes:
        if prefix in entries:
            return entries[prefix]
    return None


def card_get(*, card_id: int) -> BoundCard:
    card = BoundCard.objects.select_related("account").filter(pk=card_id).first()
    if card is None:
        raise NotFoundError(f"No card with id {card_id}.")
    return card


def card_list(*, account: Account) -> QuerySet[BoundCard]:
    return BoundCard.objects.filter(account=account).order_by("-created_at", "-pk")


def card_withdrawal_card(*, account: Account) -> BoundCard | None:
    """The account's verified recharge-and-withdrawal card (the newest one), or None."""
    return (
        BoundCard.objects.filter(account=account, state=BoundCard.State.VERIFIED, purpose=BoundCard.Purpose.RECHARGE_WITHDRAWAL)
        .order_by("-verified_at", "-pk")
        .first()
    )


def is_own_bound_class_i(limited, other) -> bool:
    """``other`` is ``limited``'s own bound account at this bank (R-ACC-08): a Class I account of
    the same person whose number is the number of a verified card bound to ``limited`` as a Class I
    account. Compared through the cards' keyed hash (``crypto.blind_index``): nothing is decrypted."""
    if other.tier != Account.Tier.CLASS_I or other.party_id is None or other.party_id != limited.party_id:
        return False
    return BoundCard.objects.filter(
        account_id=limited.pk,
        state=BoundCard.State.VERIFIED,
        bound_account_kind=BoundCard.BoundAccountKind.CLASS_I,
        card_number_hash=crypto.blind_index(other.number, purpose="card_number"),
    ).exists()


def transfer_flows(source, target) -> list[Flow]:
    """The tier-limit flows (``source`` and ``target``: pk, number, party_id, tier) of a transfer
    between two accounts at the bank, whoever asks for it (the partner API, the counter): to and
    from a Class II/III account's own bound Class I account it is a bound-account flow (not counted
    in the Class II buckets, R-ACC-08; counted where the rules say, e.g. the Class III balance cap
    and the two-way KYC trigger, R-ACC-10/14); anything else is a transfer out to and in from a
    non-bound account (R-ACC-06/07/11/12)."""
    bound = (source.tier in LIMITED_TIERS and is_own_bound_class_i(source, target)) or (
        target.tier in LIMITED_TIERS and is_own_bound_class_i(target, source)
    )
    if bound:
        return [Flow(source.pk, FlowKind.BOUND_OUTFLOW), Flow(target.pk, FlowKind.BOUND_INFLOW)]
    return [Flow(source.pk, FlowKind.NON_BOUND_OUTFLOW), Flow(target.pk, FlowKind.NON_BOUND_INFLOW)]


def micro_deposit_current(*, card: BoundCard) -> MicroDeposit | None:
    """The card's newest micro-deposit."""
    return MicroDeposit.objects.filter(card=card).order_by("-pk").first()


_API_CARD_TYPES = {
    CardType.DEBIT: "debit",
    CardType.CREDIT: "credit",
    CardType.SEMI_CREDIT: "credit",
    CardType.PREPAID: "prepaid",
}


def card_summary(card: BoundCard) -> dict:
    """The card as the API and the portal show it: masked, with its micro-deposit's progress."""
    summary = {
        "id": str(card.pk),
        "card_number": card.card_number_masked,
        "bank": card.bank_name,
        "card_type": _API_CARD_TYPES.get(card.card_type, "unknown"),
        "state": card.state,
        "warnings": list(card.warnings),
    }
    deposit = micro_deposit_current(card=card)
    if deposit is not None:
        summary["micro_deposit"] = {
            "state": deposit.state,
            "expires_at": timezone.localtime(deposit.expires_at, dates.bank_tz()).isoformat(),
            "attempts_left": deposit.attempts_left,
        }
    return summary


def card_history(*, card: BoundCard) -> QuerySet[AuditLog]:
    """The audit rows of the card and of its micro-deposits, oldest first."""
    deposit_ids = [str(pk) for pk in card.micro_deposits.values_list("pk", flat=True)]
    return AuditLog.objects.filter(
        Q(target_type="accounts.boundcard", target_id=str(card.pk))
        | Q(target_type="accounts.microdeposit", target_id__in=deposit_ids)
    ).order_by("created_at", "pk")


def sms_outbox(*, account: Account | None = None, mobile: str | None = None) -> QuerySet[SmsMessage]:
    """The simulator's SMS outbox, newest first, for an account and/or a (normalised) mobile."""
    messages = SmsMessage.objects.all()
    if account is not None:
        messages = messages.filter(account=account)
    if mobile is not None:
        messages = messages.filter(mobile_hash=crypto.blind_index(mobile, purpose="mobile"))
    return messages


# -- binding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Application:
    number: str
    id_number: str
    mobile: str
    name: str
    kind: str
    purpose: str
    warnings: tuple[str, ...]
    entry: BinEntry | None
    elements: int


def _requires_debit(account: Account) -> bool:
    return account.tier in DEBIT_ONLY_TIERS or account.tier == Account.Tier.DEPOSITORY or account.role in DEBIT_ONLY_ROLES


def _check_application(account: Account, app: _Application) -> None:
    """The local checks, in the order a customer can act on them. Raises the refusals."""
    if account.is_internal:
        raise InvalidStateError("Internal accounts do not bind cards.", state="internal")
    if account.state == Account.State.CLOSED:
        raise AccountNotActiveError(account=account.number, state=account.state, direction="card binding")
    party = account.party
    # R-VER-05: the holder's name and ID must be the account holder's (the ID compared by hash).
    if not party.id_number_hash or app.name != party.name.strip() or id_number_hash(app.id_number) != party.id_number_hash:
        raise CardHolderMismatchError()
    # R-ACC-03: a Class II/III account binds only a Class I or credit-card account.
    if account.tier in DEBIT_ONLY_TIERS:
        if app.kind not in ALLOWED_BOUND_KINDS:
            raise BoundAccountNotAllowedError(kind=app.kind)
        own = Account.objects.filter(number=app.number, tier__in=DEBIT_ONLY_TIERS).exists()
        if own:  # one of this bank's own Class II/III accounts
            raise BoundAccountNotAllowedError(kind=BoundCard.BoundAccountKind.CLASS_II_III)
    # R-VER-04: only a debit card may be the recharge/withdrawal card of these accounts.
    if app.purpose == BoundCard.Purpose.RECHARGE_WITHDRAWAL and _requires_debit(account):
        if app.entry is None:
            raise CardBinUnknownError()
        if app.entry.card_type != CardType.DEBIT:
            raise CardTypeNotAllowedError(card_type=app.entry.card_type)


def _application(
    *,
    account: Account,
    card_number: str,
    holder_name: str,
    id_number: str,
    reserved_mobile: str,
    bound_account_kind: str,
    purpose: str,
) -> _Application:
    """The binding's elements normalised (FieldValidationError on a malformed one), with the BIN
    entry and the warnings (R-VER-03)."""
    number, luhn_warnings = _field(normalise_card_number, card_number, "card_number", min_length=conf.card_min_length())
    if bound_account_kind not in BoundCard.BoundAccountKind.values:
        raise FieldValidationError({"bound_account_kind": [str(_("Unknown bound-account kind."))]})
    if purpose not in BoundCard.Purpose.values:
        raise FieldValidationError({"purpose": [str(_("Unknown card purpose."))]})
    entry = bin_lookup(number)
    warnings = list(luhn_warnings)
    if entry is not None and entry.card_length != len(number):
        warnings.append(str(_("The card number's length differs from its BIN's usual length; verification decides.")))
    return _Application(
        number=number,
        id_number=_field(normalise_id_number, id_number, "id_number"),
        mobile=_field(normalise_mobile, reserved_mobile, "reserved_mobile"),
        name=(holder_name or "").strip(),
        kind=bound_account_kind,
        purpose=purpose,
        warnings=tuple(warnings),
        entry=entry,
        elements=5 if account.tier == Account.Tier.CLASS_II else 4,
    )


def card_bind_check(
    *,
    account: Account,
    card_number: str,
    holder_name: str,
    id_number: str,
    reserved_mobile: str,
    bound_account_kind: str,
    purpose: str = BoundCard.Purpose.RECHARGE_WITHDRAWAL,
) -> dict:
    """The local checks of ``card_bind`` (format, R-VER-05 same holder, R-ACC-03, R-VER-04, no live
    binding of the same card), read-only: a portal or counter page runs them before it texts a
    one-time code, so that a refusal comes before the code. ``card_bind`` checks again.

    Returns the normalised elements (``card_number``, ``id_number``, ``reserved_mobile``,
    ``holder_name``) and ``warnings``. Raises what ``card_bind`` raises before the provider call.
    """
    app = _application(
        account=account,
        card_number=card_number,
        holder_name=holder_name,
        id_number=id_number,
        reserved_mobile=reserved_mobile,
        bound_account_kind=bound_account_kind,
        purpose=purpose,
    )
    account = Account.objects.select_related("party").get(pk=account.pk)
    _check_application(account, app)
    number_hash = crypto.blind_index(app.number, purpose="card_number")
    if BoundCard.objects.filter(account=account, card_number_hash=number_hash, state__in=BoundCard.LIVE_STATES).exists():
        raise CardAlreadyBoundError()
    return {
        "card_number": app.number,
        "id_number": app.id_number,
        "reserved_mobile": app.mobile,
        "holder_name": app.name,
        "warnings": list(app.warnings),
    }


def card_bind(
    *,
    account: Account,
    card_number: str,
    holder_name: str,
    id_number: str,
    reserved_mobile: str,
    bound_account_kind: str,
    purpose: str = BoundCard.Purpose.RECHARGE_WITHDRAWAL,
    actor=None,
    now: dt.datetime | None = None,
) -> BoundCard:
    """Bind a same-name card to ``account`` and start its provider.

    Rules: R-VER-03 (a Luhn failure only adds a warning to ``card.warnings``), R-VER-04 (DC only
    as the recharge/withdrawal card of a Class II/III or depository account), R-VER-05 (same name
    and ID as the account's party), R-ACC-03 (a Class II/III account binds only a Class I or
    credit-card account, never a payment-institution or Class II/III one), R-ACC-04 (5 elements
    for Class II, 4 otherwise, confirmed by the bound account's bank, never a third party).

    The card is committed as ``verifying`` first, the provider is called outside any transaction,
    then the answer is recorded: a confirmed card moves to ``awaiting_micro_deposit`` and its
    micro-deposit is enqueued; a refused, third-party or unknown answer leaves the card ``failed``
    with ``failure_reason`` (the customer may bind again).

    Raises FieldValidationError (malformed card, ID or mobile), CardHolderMismatchError,
    BoundAccountNotAllowedError, CardBinUnknownError, CardTypeNotAllowedError,
    CardAlreadyBoundError, AccountNotActiveError (closed), InvalidStateError (internal account).
    """
    now = _now(now)
    app = _application(
        account=account,
        card_number=card_number,
        holder_name=holder_name,
        id_number=id_number,
        reserved_mobile=reserved_mobile,
        bound_account_kind=bound_account_kind,
        purpose=purpose,
    )
    account = Account.objects.select_related("party").get(pk=account.pk)
    _check_application(account, app)
    try:
        card = _card_create(account_id=account.pk, app=app, actor=actor, now=now)
    except IntegrityError as exc:  # a concurrent binding of the same card won the constraint
        raise CardAlreadyBoundError() from exc
    try:
        result = provider.get_provider().verify_elements(
            name=app.name,
            id_number=app.id_number,
            card_number=app.number,
            reserved_mobile=app.mobile,
            bound_account_kind=app.kind,
            elements=app.elements,
        )
    except Exception:  # noqa: BLE001 - any provider failure is an unknown answer, never a crash
        logger.exception("element verification failed for card %s", card.pk)
        result = provider.ElementsResult(provider.UNKNOWN, reason="provider_error")
    return _card_record_elements(card_id=card.pk, result=result, actor=actor, now=now)


@transaction.atomic(durable=True)
def _card_create(*, account_id: int, app: _Application, actor, now: dt.datetime) -> BoundCard:
    account = Account.objects.select_for_update().get(pk=account_id)
    if account.state == Account.State.CLOSED:
        raise AccountNotActiveError(account=account.number, state=account.state, direction="card binding")
    number_hash = crypto.blind_index(app.number, purpose="card_number")
    if BoundCard.objects.filter(account=account, card_number_hash=number_hash, state__in=BoundCard.LIVE_STATES).exists():
        raise CardAlreadyBoundError()
    card = BoundCard.objects.create(
        account=account,
        card_number_encrypted=crypto.encrypt(app.number),
        card_number_hash=number_hash,
        first4=app.number[:4],
        last4=app.number[-4:],
        bin_prefix=app.entry.prefix if app.entry else "",
        bank_name=app.entry.bank_name if app.entry else "",
        card_type=app.entry.card_type if app.entry else "",
        holder_name=app.name,
        holder_id_hash=id_number_hash(app.id_number),
        reserved_mobile_encrypted=crypto.encrypt(app.mobile),
        reserved_mobile_hash=crypto.blind_index(app.mobile, purpose="mobile"),
        bound_account_kind=app.kind,
        purpose=app.purpose,
        elements=app.elements,
        warnings=list(app.warnings),
        created_at=now,
    )
    _audit(
        actor=actor,
        action="card.bind",
        target=card,
        account=account.number,
        card=card.card_number_masked,
        bank=card.bank_name,
        card_type=card.card_type,
        bound_account_kind=app.kind,
        elements=app.elements,
        warnings=list(app.warnings),
        to=card.state,
    )
    return card


def _elements_refusal(card: BoundCard, tier: str, result: provider.ElementsResult) -> str:
    """Why the provider's answer does not verify the card ("" when it does)."""
    if result.outcome == provider.UNKNOWN:
        return "verification_unknown"
    if result.outcome != provider.CONFIRMED:
        return "elements_rejected"
    if result.verifier != provider.BOUND_BANK:  # R-ACC-04: a third party may only transmit
        return "third_party_verifier"
    if tier in DEBIT_ONLY_TIERS:
        bank_kind = result.bound_account_kind
        if bank_kind and bank_kind not in ALLOWED_BOUND_KINDS:  # R-ACC-03, as the bank says
            return "bound_account_not_allowed"
        if card.elements == 5 and bank_kind != card.bound_account_kind:  # the 5th element
            return "bound_account_kind_mismatch"
    return ""


@transaction.atomic(durable=True)
def _card_record_elements(*, card_id: int, result: provider.ElementsResult, actor, now: dt.datetime) -> BoundCard:
    card = BoundCard.objects.select_for_update().get(pk=card_id)
    if card.state != BoundCard.State.VERIFYING:
        return card
    tier = Account.objects.values_list("tier", flat=True).get(pk=card.account_id)
    card.verification_result = result.outcome
    card.verifier = result.verifier if result.outcome != provider.UNKNOWN else ""
    refusal = _elements_refusal(card, tier, result)
    before = card.state
    if refusal:
        card.failure_reason = refusal
        card.elements_rejected()
        card.save()
        _audit(actor=actor, action="card.elements_rejected", target=card, reason=refusal, verifier=result.verifier, to=card.state)
        return card
    card.elements_confirmed()
    card.save()
    _audit(
        actor=actor, action="card.elements_confirmed", target=card, verifier=result.verifier, **{"from": before, "to": card.state}
    )
    deposit = _micro_deposit_create(card=card, actor=actor, now=now)
    enqueue_on_commit("accounts.micro_deposit_send", deposit.pk)
    return card


# -- micro-deposits ---------------------------------------------------------------------------


def _micro_deposit_create(*, card: BoundCard, actor, now: dt.datetime) -> MicroDeposit:
    deposit = MicroDeposit.objects.create(
        card=card,
        account_id=card.account_id,
        amount=micro_deposit_amount(),
        max_attempts=conf.microdeposit_max_attempts(),
        expires_at=_expiry(now),
        created_at=now,
    )
    deposit.request_id = f"MD{deposit.pk:012d}"  # derived from the business id: the channel de-duplicates on it
    deposit.save(update_fields=["request_id"])
    # Never the amount: it is the secret the holder back-fills.
    _audit(
        actor=actor, action="micro_deposit.create", target=deposit, card=card.pk, request_id=deposit.request_id, to=deposit.state
    )
    return deposit


def micro_deposit_retry(*, card_id: int, actor=None, now: dt.datetime | None = None) -> MicroDeposit:
    """Start a new micro-deposit for a card whose last one was refused by the channel (send_failed).

    Refused (InvalidStateError) while any micro-deposit of the card is still live, in particular
    one whose send outcome is unknown: that one is resolved only by query (R-VER-07).
    """
    now = _now(now)
    with transaction.atomic(durable=True):
        card = BoundCard.objects.select_for_update().filter(pk=card_id).first()
        if card is None:
            raise NotFoundError(f"No card with id {card_id}.")
        if card.state != BoundCard.State.AWAITING_MICRO_DEPOSIT:
            raise InvalidStateError(state=card.state)
        live = MicroDeposit.objects.filter(card=card, state__in=MicroDeposit.LIVE_STATES).first()
        if live is not None:
            raise InvalidStateError(state=live.state)
        deposit = _micro_deposit_create(card=card, actor=actor, now=now)
        enqueue_on_commit("accounts.micro_deposit_send", deposit.pk)
        return deposit


def micro_deposit_send(*, micro_deposit_id: int, now: dt.datetime | None = None) -> MicroDeposit:
    """Send a micro-deposit (the task ``accounts.micro_deposit_send``). Idempotent.

    Only an ``init`` deposit is sent, and only if no other deposit of the account was submitted
    on the same business day (R-VER-06); otherwise it waits (``not_before``) for the sweep. The
    submission is committed as ``send_unknown`` before the channel is called; the answer then
    moves it to ``awaiting_backfill`` (money posted) or ``send_failed``, or leaves it unknown and
    enqueues a status query (R-VER-07).
    """
    now = _now(now)
    try:
        deposit, go = _micro_deposit_submit(micro_deposit_id=micro_deposit_id, now=now)
    except IntegrityError:  # a concurrent send of the same account took the day: wait
        deposit, go = _micro_deposit_submit(micro_deposit_id=micro_deposit_id, now=now)
    if not go:
        return deposit
    card = BoundCard.objects.get(pk=deposit.card_id)
    ref = provider.CardRef(card_number=card.card_number, holder_name=card.holder_name, bank_name=card.bank_name)
    try:
        result = provider.get_provider().send_micro_deposit(request_id=deposit.request_id, card=ref, amount=deposit.amount)
    except Exception:  # noqa: BLE001 - a crash or timeout is an unknown outcome, resolved by query
        logger.exception("micro-deposit send %s: no answer", deposit.request_id)
        result = provider.SendResult(provider.UNKNOWN, reason="provider_error")
    return _micro_deposit_record_send(micro_deposit_id=deposit.pk, result=result, now=now)


@transaction.atomic(durable=True)
def _micro_deposit_submit(*, micro_deposit_id: int, now: dt.datetime) -> tuple[MicroDeposit, bool]:
    deposit = MicroDeposit.objects.select_for_update().filter(pk=micro_deposit_id).first()
    if deposit is None:
        raise NotFoundError(f"No micro-deposit with id {micro_deposit_id}.")
    if deposit.state != MicroDeposit.State.INIT:
        return deposit, False
    today = dates.business_date(now)
    if deposit.not_before is not None and today < deposit.not_before:
        return deposit, False
    if now >= deposit.expires_at:
        return deposit, False  # the expiry job ends it
    # Serialise the sends of one account; the unique (account, sent_on) constraint backs it.
    Account.objects.select_for_update().filter(pk=deposit.account_id).first()
    if MicroDeposit.objects.filter(account_id=deposit.account_id, sent_on=today).exclude(pk=deposit.pk).exists():
        deposit.not_before = today + dt.timedelta(days=1)
        deposit.save(update_fields=["not_before", "updated_at"])
        _audit(actor=None, action="micro_deposit.rate_limited", target=deposit, not_before=str(deposit.not_before))
        return deposit, False
    before = deposit.state
    deposit.submit()
    deposit.sent_on = today
    deposit.submitted_at = now
    deposit.save()
    _audit(
        actor=None,
        action="micro_deposit.submit",
        target=deposit,
        request_id=deposit.request_id,
        **{"from": before, "to": deposit.state},
    )
    return deposit, True


def _micro_deposit_accept(deposit: MicroDeposit, *, channel_ref: str, now: dt.datetime) -> None:
    """The channel took the payment: post it (Dr marketing / Cr clearing) and tell the holder."""
    marketing = internal_account(Role.MARKETING)
    clearing = internal_account(Role.CLEARING)
    card = BoundCard.objects.get(pk=deposit.card_id)
    transfer = ledger.post_transfer(
        client=LEDGER_CLIENT,
        idempotency_key=f"microdeposit:{deposit.pk}",
        kind="micro_deposit",
        legs=[ledger.Leg(marketing.pk, DEBIT, deposit.amount), ledger.Leg(clearing.pk, CREDIT, deposit.amount)],
        memo=f"小额鉴权 {deposit.request_id} {card.card_number_masked}",
        metadata={"micro_deposit": deposit.pk, "card": card.pk, "channel_ref": channel_ref},
    )
    before = deposit.state
    deposit.transfer = transfer
    deposit.accept()
    deposit.accepted_at = now
    _audit(
        actor=None, action="micro_deposit.accept", target=deposit, transfer=transfer.pk, **{"from": before, "to": deposit.state}
    )
    deposit.acknowledge()
    deposit.expires_at = _expiry(now)  # the back-fill window runs from the payment
    deposit.save()
    _audit(
        actor=None,
        action="micro_deposit.acknowledge",
        target=deposit,
        expires_at=deposit.expires_at.isoformat(),
        to=deposit.state,
    )
    deadline = timezone.localtime(deposit.expires_at, dates.bank_tz()) - dt.timedelta(seconds=1)
    _sms(
        account_id=deposit.account_id,
        mobile=card.reserved_mobile,
        purpose="micro_deposit",
        text=(
            f"【存管银行】我行已向您尾号{card.last4}的银行卡转入一笔小额验证款，请于{deadline:%Y-%m-%d %H:%M}前回填金额完成绑卡。"
            f" A small verification amount was sent to your card ending {card.last4}; back-fill it by {deadline:%Y-%m-%d %H:%M}."
        ),
        now=now,
    )


@transaction.atomic(durable=True)
def _micro_deposit_record_send(*, micro_deposit_id: int, result: provider.SendResult, now: dt.datetime) -> MicroDeposit:
    deposit = MicroDeposit.objects.select_for_update().get(pk=micro_deposit_id)
    if deposit.state != MicroDeposit.State.SEND_UNKNOWN:
        return deposit
    if result.outcome == provider.ACCEPTED:
        _micro_deposit_accept(deposit, channel_ref=result.channel_ref, now=now)
    elif result.outcome == provider.FAILED:
        deposit.send_fail()
        deposit.save()
        _audit(actor=None, action="micro_deposit.send_fail", target=deposit, reason=result.reason, to=deposit.state)
    else:
        _audit(actor=None, action="micro_deposit.send_unknown", target=deposit, reason=result.reason, to=deposit.state)
        enqueue_on_commit("accounts.micro_deposit_query", deposit.pk, countdown=conf.microdeposit_query_backoff(0))
    return deposit


def micro_deposit_query(*, micro_deposit_id: int, now: dt.datetime | None = None) -> MicroDeposit:
    """Resolve a send whose outcome is unknown by asking the channel (task ``accounts.micro_deposit_query``).

    ``sent`` posts and moves on to the back-fill; ``failed`` (or ``not_found`` after the grace
    period) ends it as ``send_failed``; anything else is queried again with backoff, up to
    ACCOUNTS_MICRODEPOSIT_QUERY_MAX_ATTEMPTS, after which the sweep keeps asking. Never re-sends.
    """
    now = _now(now)
    deposit = MicroDeposit.objects.filter(pk=micro_deposit_id).first()
    if deposit is None:
        raise NotFoundError(f"No micro-deposit with id {micro_deposit_id}.")
    if deposit.state != MicroDeposit.State.SEND_UNKNOWN:
        return deposit
    try:
        result = provider.get_provider().query_micro_deposit(request_id=deposit.request_id)
    except Exception:  # noqa: BLE001 - a failed query is an unknown answer
        logger.exception("micro-deposit query %s failed", deposit.request_id)
        result = provider.QueryResult(provider.UNKNOWN, reason="provider_error")
    return _micro_deposit_record_query(micro_deposit_id=deposit.pk, result=result, now=now)


@transaction.atomic(durable=True)
def _micro_deposit_record_query(*, micro_deposit_id: int, result: provider.QueryResult, now: dt.datetime) -> MicroDeposit:
    deposit = MicroDeposit.objects.select_for_update().get(pk=micro_deposit_id)
    if deposit.state != MicroDeposit.State.SEND_UNKNOWN:
        return deposit
    deposit.query_attempts += 1
    not_found_final = (
        result.outcome == provider.NOT_FOUND
        and deposit.submitted_at is not None
        and now - deposit.submitted_at >= conf.microdeposit_not_found_grace()
    )
    if result.outcome == provider.SENT:
        _micro_deposit_accept(deposit, channel_ref=result.channel_ref, now=now)
    elif result.outcome == provider.FAILED or not_found_final:
        deposit.send_fail()
        deposit.save()
        _audit(actor=None, action="micro_deposit.send_fail", target=deposit, reason=result.outcome, to=deposit.state)
    else:
        deposit.save(update_fields=["query_attempts", "updated_at"])
        if deposit.query_attempts < conf.microdeposit_query_max_attempts():
            enqueue_on_commit(
                "accounts.micro_deposit_query", deposit.pk, countdown=conf.microdeposit_query_backoff(deposit.query_attempts)
            )
        else:
            _audit(actor=None, action="micro_deposit.query_exhausted", target=deposit, queries=deposit.query_attempts)
    return deposit


def _micro_deposit_end(deposit: MicroDeposit, card: BoundCard, *, expired: bool, actor) -> None:
    before = deposit.state
    if expired:
        deposit.expire()
    else:
        deposit.fail()
    deposit.save()
    _audit(actor=actor, action=f"micro_deposit.{deposit.state}", target=deposit, **{"from": before, "to": deposit.state})
    if card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT:
        before = card.state
        if expired:
            card.failure_reason = "micro_deposit_expired"
            card.micro_deposit_expired()
        else:
            card.failure_reason = "micro_deposit_attempts_exhausted"
            card.micro_deposit_failed()
        card.save()
        _audit(
            actor=actor,
            action=f"card.{card.state}",
            target=card,
            reason=card.failure_reason,
            **{"from": before, "to": card.state},
        )


def micro_deposit_confirm(*, card_id: int, amount, actor=None, now: dt.datetime | None = None) -> BoundCard:
    """The holder back-fills the micro-deposit amount (``"0.37"``).

    A match verifies the card and, if its account is ``pending_verification``, activates the
    account (R-ACC-05, audited). A wrong amount uses one of ACCOUNTS_MICRODEPOSIT_MAX_ATTEMPTS;
    the last wrong one fails the verification (R-VER-06). The counters are committed before the
    refusal is raised.

    Raises FieldValidationError (not an amount), MicroDepositMismatchError (``attempts_left``),
    MicroDepositExpiredError, InvalidStateError (no micro-deposit awaiting back-fill),
    NotFoundError.
    """
    try:
        value = to_money(amount)
    except MoneyError as exc:
        raise FieldValidationError({"amount": [str(_("An amount in yuan with at most two decimals."))]}) from exc
    if value <= 0:
        raise FieldValidationError({"amount": [str(_("The amount must be more than 0."))]})
    card, error = _micro_deposit_confirm(card_id=card_id, value=value, actor=actor, now=_now(now))
    if error is not None:
        raise error
    return card


@transaction.atomic(durable=True)
def _micro_deposit_confirm(*, card_id: int, value: Decimal, actor, now: dt.datetime) -> tuple[BoundCard, DomainError | None]:
    card = BoundCard.objects.select_for_update().filter(pk=card_id).first()
    if card is None:
        raise NotFoundError(f"No card with id {card_id}.")
    if card.state != BoundCard.State.AWAITING_MICRO_DEPOSIT:
        return card, InvalidStateError(state=card.state)
    deposit = (
        MicroDeposit.objects.select_for_update().filter(card=card, state__in=MicroDeposit.LIVE_STATES).order_by("-pk").first()
    )
    if deposit is None or deposit.state != MicroDeposit.State.AWAITING_BACKFILL:
        return card, InvalidStateError(state=deposit.state if deposit else MicroDeposit.State.SEND_FAILED)
    if now >= deposit.expires_at:
        _micro_deposit_end(deposit, card, expired=True, actor=actor)
        return card, MicroDepositExpiredError()
    deposit.attempts += 1
    if value != deposit.amount:
        if deposit.attempts_left == 0:
            _micro_deposit_end(deposit, card, expired=False, actor=actor)
        else:
            deposit.save(update_fields=["attempts", "updated_at"])
            _audit(actor=actor, action="micro_deposit.mismatch", target=deposit, attempts_left=deposit.attempts_left)
        return card, MicroDepositMismatchError(attempts_left=deposit.attempts_left)
    before = deposit.state
    deposit.verify()
    deposit.save()
    _audit(actor=actor, action="micro_deposit.verify", target=deposit, **{"from": before, "to": deposit.state})
    before = card.state
    card.micro_deposit_verified()
    card.verified_at = now
    card.failure_reason = ""
    card.save()
    _audit(actor=actor, action="card.verified", target=card, **{"from": before, "to": card.state})
    account = Account.objects.select_for_update().get(pk=card.account_id)
    if account.state == Account.State.PENDING_VERIFICATION:
        before = account.state
        account.activate()
        account.save(update_fields=["state", "updated_at"])
        audit_record(
            actor=actor,
            action="account.activate",
            target=account,
            data={"from": before, "to": account.state, "reason": "micro_deposit_verified", "card": card.pk},
        )
    return card, None


def micro_deposit_expire_due(*, now: dt.datetime | None = None) -> int:
    """Expire every micro-deposit (and its card) past its window (beat ``accounts.micro_deposit_expire``).

    A deposit whose send outcome is unknown is not expired here: it is resolved by query first.
    Returns how many expired.
    """
    now = _now(now)
    due = list(
        MicroDeposit.objects.filter(
            state__in=[MicroDeposit.State.INIT, MicroDeposit.State.SENT, MicroDeposit.State.AWAITING_BACKFILL],
            expires_at__lte=now,
        ).values_list("pk", flat=True)
    )
    return sum(1 for pk in due if _micro_deposit_expire_one(micro_deposit_id=pk, now=now))


@transaction.atomic(durable=True)
def _micro_deposit_expire_one(*, micro_deposit_id: int, now: dt.datetime) -> bool:
    deposit = MicroDeposit.objects.select_for_update().get(pk=micro_deposit_id)
    expirable = (MicroDeposit.State.INIT, MicroDeposit.State.SENT, MicroDeposit.State.AWAITING_BACKFILL)
    if deposit.state not in expirable or deposit.expires_at > now:
        return False
    card = BoundCard.objects.select_for_update().get(pk=deposit.card_id)
    _micro_deposit_end(deposit, card, expired=True, actor=None)
    return True


def micro_deposit_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Re-enqueue what a lost message or the daily quota left behind (beat ``accounts.micro_deposit_sweep``).

    ``init`` deposits whose day has come are sent; ``send_unknown`` deposits untouched for longer
    than the query backoff cap are queried again (never re-sent).
    """
    now = _now(now)
    today = dates.business_date(now)
    stale = now - dt.timedelta(seconds=conf.microdeposit_query_backoff_max())
    sends = list(
        MicroDeposit.objects.filter(
            state=MicroDeposit.State.INIT, expires_at__gt=now, updated_at__lte=now - dt.timedelta(minutes=1)
        )
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=today))
        .values_list("pk", flat=True)
    )
    queries = list(
        MicroDeposit.objects.filter(state=MicroDeposit.State.SEND_UNKNOWN, updated_at__lte=stale).values_list("pk", flat=True)
    )
    for pk in sends:
        enqueue_now("accounts.micro_deposit_send", pk)
    for pk in queries:
        enqueue_now("accounts.micro_deposit_query", pk)
    return {"sent": len(sends), "queried": len(queries)}


# -- one-time codes (R-VER-08) ----------------------------------------------------------------


def _otp_hash(salt: str, code: str) -> str:
    return crypto.blind_index(f"{salt}:{code}", purpose="otp")


def _account_mobile(account: Account) -> str:
    """The mobile a code goes to: the reserved mobile of the account's newest verified card, else
    of its newest card being verified, else the party's mobile."""
    for states in ((BoundCard.State.VERIFIED,), (BoundCard.State.VERIFYING, BoundCard.State.AWAITING_MICRO_DEPOSIT)):
        card = BoundCard.objects.filter(account=account, state__in=states).order_by("-pk").first()
        if card is not None:
            return card.reserved_mobile
    party = account.party
    return getattr(party, "mobile", "") if party is not None else ""


def otp_send(
    *, account: Account, purpose: str, mobile: str | None = None, actor=None, now: dt.datetime | None = None
) -> OneTimeCode:
    """Send a 6-digit one-time code for ``purpose`` (SMS outbox); earlier unused codes for the same
    account and purpose are superseded. It expires ACCOUNTS_OTP_TTL_SECONDS (120) after sending.

    ``mobile`` overrides the default recipient (the card's reserved mobile, e.g. while binding).
    Raises FieldValidationError (purpose, mobile), MobileUnknownError.
    """
    now = _now(now)
    if purpose not in OneTimeCode.Purpose.values:
        raise FieldValidationError({"purpose": [str(_("Unknown one-time-code purpose."))]})
    recipient = _field(normalise_mobile, mobile, "mobile") if mobile else _account_mobile(account)
    if not recipient:
        raise MobileUnknownError(account=account.number)
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(16)
    ttl = conf.otp_ttl()
    with transaction.atomic(durable=True):
        OneTimeCode.objects.filter(account=account, purpose=purpose, used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=now
        )
        otp = OneTimeCode.objects.create(
            account=account,
            purpose=purpose,
            salt=salt,
            code_hash=_otp_hash(salt, code),
            mobile_masked=crypto.mask_mobile(recipient),
            sent_at=now,
            expires_at=now + ttl,
            created_at=now,
        )
        seconds = int(ttl.total_seconds())
        _sms(
            account_id=account.pk,
            mobile=recipient,
            purpose=f"otp:{purpose}",
            text=f"【存管银行】验证码 {code}，{seconds}秒内有效，请勿告诉他人。Your code is {code}, valid for {seconds} s.",
            now=now,
        )
        _audit(actor=actor, action="otp.send", target=otp, purpose=purpose, mobile=otp.mobile_masked)
    return otp


def otp_verify(*, account: Account, purpose: str, code: str, actor=None, now: dt.datetime | None = None) -> OneTimeCode:
    """Check and consume the newest code for ``account`` and ``purpose``: it works once, and only
    until ``expires_at`` (sent + 120 s inclusive, R-VER-08). ACCOUNTS_OTP_MAX_ATTEMPTS wrong codes
    burn it. Runs in its own committed transaction: verify before starting the money transaction.

    Raises OtpInvalidError (wrong, used, superseded or none), OtpExpiredError.
    """
    otp, error = _otp_verify(account_id=account.pk, purpose=purpose, code=str(code or "").strip(), actor=actor, now=_now(now))
    if error is not None:
        raise error
    return otp


@transaction.atomic(durable=True)
def _otp_verify(
    *, account_id: int, purpose: str, code: str, actor, now: dt.datetime
) -> tuple[OneTimeCode | None, DomainError | None]:
    otp = (
        OneTimeCode.objects.select_for_update()
        .filter(account_id=account_id, purpose=purpose, used_at__isnull=True, revoked_at__isnull=True)
        .order_by("-sent_at", "-pk")
        .first()
    )
    if otp is None:
        return None, OtpInvalidError()
    if now > otp.expires_at:
        return otp, OtpExpiredError()
    if not hmac.compare_digest(_otp_hash(otp.salt, code), otp.code_hash):
        otp.attempts += 1
        if otp.attempts >= conf.otp_max_attempts():
            otp.revoked_at = now
        otp.save(update_fields=["attempts", "revoked_at", "updated_at"])
        _audit(actor=actor, action="otp.mismatch", target=otp, attempts=otp.attempts)
        return otp, OtpInvalidError()
    otp.used_at = now
    otp.save(update_fields=["used_at", "updated_at"])
    _audit(actor=actor, action="otp.verify", target=otp, purpose=purpose)
    return otp, None


# -- corporate settlement accounts (对公结算账户) ------------------------------------------------

CORPORATE_NUMBER_RE = re.compile(r"^[0-9]{6,32}$")
CORPORATE_VERIFICATIONS = ("micro_deposit", "operator")


def corporate_account_bind(
    *,
    account: Account,
    account_number: str,
    account_name: str,
    credit_code: str,
    bank_name: str,
    verification: str = "micro_deposit",
    actor=None,
    now: dt.datetime | None = None,
) -> BoundCard:
    """Bind an organisation's corporate settlement account (对公结算账户) at another bank to its
    corporate account here (e.g. a P2P platform's own funds), as its withdrawal and recharge account.

    Rules: the account is a customer account of an organisation (corporate tier); the name and the
    unified social credit code are the organisation's (else CardHolderMismatchError); the number is
    6 to 32 digits, with no Luhn check and no BIN lookup (R-VER-03: entity account numbers have
    neither). ``verification`` ``micro_deposit``: a micro-deposit is sent to it and back-filled
    like a card's (``micro_deposit_confirm``); ``operator``: it waits in ``verifying`` until
    ``corporate_account_verify`` by an operator other than the one who bound it.
    Raises FieldValidationError, CardHolderMismatchError, CardAlreadyBoundError, InvalidStateError.
    """
    now = _now(now)
    number = re.sub(r"[\s-]", "", account_number or "")
    fields: dict[str, list[str]] = {}
    if not CORPORATE_NUMBER_RE.fullmatch(number):
        fields["account_number"] = [str(_("A corporate account number is 6 to 32 digits."))]
    if verification not in CORPORATE_VERIFICATIONS:
        fields["verification"] = [str(_("micro_deposit or operator."))]
    if not (bank_name or "").strip():
        fields["bank_name"] = [str(_("The bank's name is required."))]
    code = _field(normalise_credit_code, credit_code, "credit_code") if not fields else ""
    if fields:
        raise FieldValidationError(fields)
    account = Account.objects.select_related("party").get(pk=account.pk)
    party = account.party
    if account.is_internal or party is None or account.tier != Account.Tier.CORPORATE:
        raise InvalidStateError(
            "Only an organisation's corporate account binds a corporate settlement account.", state=account.tier
        )
    if (account_name or "").strip() != party.name.strip() or code != party.credit_code:
        raise CardHolderMismatchError(_("The corporate account must be in the organisation's own name and credit code."))
    with transaction.atomic(durable=not transaction.get_connection().in_atomic_block):
        locked = Account.objects.select_for_update().get(pk=account.pk)
        if locked.state == Account.State.CLOSED:
            raise AccountNotActiveError(account=locked.number, state=locked.state, direction="card binding")
        number_hash = crypto.blind_index(number, purpose="card_number")
        if BoundCard.objects.filter(account=locked, card_number_hash=number_hash, state__in=BoundCard.LIVE_STATES).exists():
            raise CardAlreadyBoundError()
        card = BoundCard.objects.create(
            account=locked,
            kind=BoundCard.Kind.CORPORATE_ACCOUNT,
            card_number_encrypted=crypto.encrypt(number),
            card_number_hash=number_hash,
            first4=number[:4],
            last4=number[-4:],
            bank_name=bank_name.strip()[:100],
            holder_name=party.name,
            holder_id_hash=crypto.blind_index(code, purpose="credit_code"),
            reserved_mobile_encrypted=crypto.encrypt(""),
            reserved_mobile_hash="",
            bound_account_kind=BoundCard.BoundAccountKind.CORPORATE,
            purpose=BoundCard.Purpose.RECHARGE_WITHDRAWAL,
            bound_by=actor if getattr(actor, "is_authenticated", False) else None,
            created_at=now,
        )
        _audit(
            actor=actor,
            action="card.bind",
            target=card,
            account=locked.number,
            card=card.card_number_masked,
            bank=card.bank_name,
            kind=card.kind,
            verification=verification,
            to=card.state,
        )
        if verification == "micro_deposit":
            card.corporate_details_checked()
            card.save()
            _audit(actor=actor, action="card.corporate_details_checked", target=card, **{"from": "verifying", "to": card.state})
            deposit = _micro_deposit_create(card=card, actor=actor, now=now)
            enqueue_on_commit("accounts.micro_deposit_send", deposit.pk)
        return card


def corporate_account_verify(*, card_id: int, actor, evidence: str, now: dt.datetime | None = None) -> BoundCard:
    """An operator confirms a corporate settlement account from documents (an account-opening
    licence, a bank letter): ``evidence`` says which. Maker-checker: not the operator who bound it
    (MakerCheckerError). Raises InvalidStateError (not a corporate account awaiting an operator)."""
    evidence = (evidence or "").strip()
    if not evidence:
        raise FieldValidationError({"evidence": [str(_("Say what the account was checked against."))]})
    if not getattr(actor, "is_authenticated", False):
        raise MakerCheckerError(_("A corporate account is verified by an identified operator."))
    now = _now(now)
    with transaction.atomic(durable=not transaction.get_connection().in_atomic_block):
        card = BoundCard.objects.select_for_update().filter(pk=card_id).first()
        if card is None:
            raise NotFoundError(f"No card with id {card_id}.")
        if card.kind != BoundCard.Kind.CORPORATE_ACCOUNT or card.state != BoundCard.State.VERIFYING:
            raise InvalidStateError(state=card.state)
        if card.bound_by_id == actor.pk:
            raise MakerCheckerError()
        card.operator_verified()
        card.verified_at, card.verified_by, card.verifier = now, actor, ""
        card.save()
        _audit(actor=actor, action="card.verified", target=card, by="operator", evidence=evidence[:500], **{"to": card.state})
        return card
