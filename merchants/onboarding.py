"""Merchant onboarding (maker-checker), fee rates, the settlement account and life after activation.

Every service is a top-level use case (``atomic(durable=True)`` unless called inside one), locks the
merchant row first, writes an audit row and leaves money to ``accounts.ledger.postings``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.cards import services as cards
from accounts.cards.models import BoundCard
from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.ledger.services import internal_account_create
from accounts.parties import identity
from accounts.parties.models import Party
from accounts.parties.selectors import party_find_by_credit_code
from accounts.parties.services import account_open, party_create
from backoffice.audit import audit_record
from backoffice.errors import FieldValidationError, InvalidStateError, MakerCheckerError, NotFoundError
from merchants.errors import (
    DuplicateMerchantError,
    IdentityMismatchError,
    MerchantNotActiveError,
    SettlementAuthorisationMissingError,
)
from merchants.models import Merchant, MerchantFeeRate, PaymentMethod, SettlementAuthorisation

__all__ = [
    "merchant_account_close_blockers",
    "merchant_apply",
    "merchant_approve",
    "merchant_authorisation_replace_approve",
    "merchant_authorisation_set",
    "merchant_close",
    "merchant_fee_rate_set",
    "merchant_resume",
    "merchant_return",
    "merchant_settlement_bind",
    "merchant_submit_for_review",
    "merchant_suspend",
]


def _atomic():
    return transaction.atomic(durable=not transaction.get_connection().in_atomic_block)


def _user(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def locked_merchant(merchant_id: int) -> Merchant:
    merchant = Merchant.objects.select_for_update().filter(pk=merchant_id).first()
    if merchant is None:
        raise NotFoundError(_("No such merchant."))
    return merchant


def _audit(merchant: Merchant, action: str, *, actor=None, actor_label: str = "", **data) -> None:
    audit_record(actor=actor, actor_label=actor_label, action=f"merchants.merchant.{action}", target=merchant, data=data)


def _rate(value) -> Decimal:
    try:
        rate = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise FieldValidationError(fields={"rate": [_("A decimal rate such as 0.006 (0.6 %).")]}) from exc
    if not rate.is_finite() or rate < 0 or rate >= 1 or rate != rate.quantize(Decimal("0.000001")):
        raise FieldValidationError(fields={"rate": [_("A rate in [0, 1) with at most 6 decimals, e.g. 0.006.")]})
    return rate


def _authorisation_fields(reference: str, signed_on, signatory: str, fields: dict, *, required: bool) -> tuple:
    """The standing settlement authorisation as the maker enters it: all three or (when not
    ``required``) none; signed on a real date, not in the future."""
    reference, signatory = (reference or "").strip(), (signatory or "").strip()
    if not required and not reference and not signed_on and not signatory:
        return "", None, ""
    if not reference:
        fields["authorisation_reference"] = [_("The signed agreement's reference is required.")]
    elif len(reference) > 64:
        fields["authorisation_reference"] = [_("At most 64 characters.")]
    if not signatory:
        fields["authorisation_signatory"] = [_("Who signed it for the merchant is required.")]
    elif len(signatory) > 100:
        fields["authorisation_signatory"] = [_("At most 100 characters.")]
    if not isinstance(signed_on, dt.date):
        fields["authorisation_signed_on"] = [_("The date it was signed is required.")]
    elif signed_on > timezone.localdate():
        fields["authorisation_signed_on"] = [_("The signed date cannot be in the future.")]
    return reference, signed_on, signatory


def merchant_apply(
    *,
    name: str,
    credit_code: str,
    legal_representative: str = "",
    settlement_cycle_days: int = 1,
    reserve_rate: Decimal | str = "0",
    reserve_release_days: int | None = None,
    authorisation_reference: str = "",
    authorisation_signed_on: dt.date | None = None,
    authorisation_signatory: str = "",
    actor=None,
) -> Merchant:
    """Record a merchant's application (state ``applied``). ``credit_code`` is checked (GB 32100 by
    python-stdnum, as for platforms); the organisation is the one the bank knows by it (the name
    must match) or a new one (KYC pending review). One merchant per credit code while not closed.

    The application carries the merchant's signed standing settlement authorisation (agreement
    reference, signed date, signatory; its scope is fixed: payouts of settled funds to the merchant's
    own bound, verified corporate settlement account). It may be added later
    (``merchant_authorisation_set``), but the checker cannot approve an application without it."""
    fields: dict[str, list] = {}
    authorisation = _authorisation_fields(
        authorisation_reference, authorisation_signed_on, authorisation_signatory, fields, required=False
    )
    name = (name or "").strip()
    if not name:
        fields["name"] = [_("The name is required.")]
    try:
        credit_code = identity.normalise_credit_code(credit_code or "")
    except identity.IdentityError as exc:
        fields["credit_code"] = [exc.args[0]]
    if not isinstance(settlement_cycle_days, int) or not 0 <= settlement_cycle_days <= 30:
        fields["settlement_cycle_days"] = [_("T+N with N from 0 to 30 working days.")]
    try:
        reserve = Decimal(str(reserve_rate))
        if not reserve.is_finite() or not 0 <= reserve < 1 or reserve != reserve.quantize(Decimal("0.0001")):
            raise ValueError
    except (InvalidOperation, ValueError):
        fields["reserve_rate"] = [_("A share in [0, 1) with at most 4 decimals, e.g. 0.05.")]
        reserve = Decimal("0")
    if fields:
        raise FieldValidationError(fields=fields)
    with _atomic():
        if Merchant.objects.filter(credit_code=credit_code).exclude(state=Merchant.State.CLOSED).exists():
            raise DuplicateMerchantError(credit_code=credit_code)
        party = party_find_by_credit_code(credit_code)
        if party is None:
            party = party_create(
                type=Party.Type.ORGANISATION,
                name=name,
                credit_code=credit_code,
                legal_representative=legal_representative,
                actor=actor,
            )
        if party.type != Party.Type.ORGANISATION or party.credit_code != credit_code:
            raise IdentityMismatchError()
        merchant = Merchant.objects.create(
            name=name,
            credit_code=credit_code,
            party=party,
            settlement_cycle_days=settlement_cycle_days,
            reserve_rate=reserve,
            reserve_release_days=reserve_release_days,
            created_by=_user(actor),
            authorisation_reference=authorisation[0],
            authorisation_signed_on=authorisation[1],
            authorisation_signatory=authorisation[2],
            authorisation_entered_by=_user(actor) if authorisation[0] else None,
        )
        _audit(merchant, "apply", actor=actor, party=party.pk, credit_code=credit_code, authorisation=authorisation[0] or None)
        return merchant


def merchant_authorisation_set(
    *, merchant_id: int, reference: str, signed_on: dt.date | None, signatory: str, actor=None
) -> Merchant:
    """The maker enters the merchant's signed standing settlement authorisation: on an application
    (``applied``: recorded when the checker approves it), or, on a live merchant whose authorisation
    was revoked, a replacement that another operator approves (``merchant_authorisation_replace_approve``)."""
    fields: dict[str, list] = {}
    reference, signed_on, signatory = _authorisation_fields(reference, signed_on, signatory, fields, required=True)
    if fields:
        raise FieldValidationError(fields=fields)
    with _atomic():
        merchant = locked_merchant(merchant_id)
        if merchant.state in (Merchant.State.ACTIVE, Merchant.State.SUSPENDED):
            current = SettlementAuthorisation.objects.filter(merchant=merchant).first()
            if current is not None and current.in_force:
                raise InvalidStateError(_("The merchant's settlement authorisation is in force."), state=merchant.state)
        elif merchant.state != Merchant.State.APPLIED:
            raise InvalidStateError(state=merchant.state)
        merchant.authorisation_reference, merchant.authorisation_signed_on = reference, signed_on
        merchant.authorisation_signatory, merchant.authorisation_entered_by = signatory, _user(actor)
        merchant.save()
        _audit(merchant, "authorisation_set", actor=actor, reference=reference, signed_on=signed_on.isoformat())
        return merchant


def _authorisation_record(merchant: Merchant, *, checker) -> SettlementAuthorisation:
    """The authorisation the application carries, recorded (inside the caller's transaction)."""
    if not (merchant.authorisation_reference and merchant.authorisation_signed_on and merchant.authorisation_signatory):
        raise SettlementAuthorisationMissingError()
    SettlementAuthorisation.objects.filter(merchant=merchant, revoked_at__isnull=False).delete()
    authorisation = SettlementAuthorisation.objects.create(
        merchant=merchant,
        reference=merchant.authorisation_reference,
        signed_on=merchant.authorisation_signed_on,
        signatory=merchant.authorisation_signatory,
        recorded_by=merchant.authorisation_entered_by or merchant.created_by,
        approved_by=_user(checker),
    )
    _audit(
        merchant,
        "authorisation_record",
        actor=checker,
        reference=authorisation.reference,
        signed_on=authorisation.signed_on.isoformat(),
        signatory=authorisation.signatory,
        scope=authorisation.scope,
    )
    return authorisation


def merchant_authorisation_replace_approve(*, merchant_id: int, actor) -> SettlementAuthorisation:
    """Another operator approves the replacement of a revoked standing settlement authorisation
    (maker ≠ checker); settlement payouts resume with the next batch."""
    with _atomic():
        merchant = locked_merchant(merchant_id)
        if merchant.state not in (Merchant.State.ACTIVE, Merchant.State.SUSPENDED):
            raise InvalidStateError(state=merchant.state)
        current = SettlementAuthorisation.objects.filter(merchant=merchant).first()
        if current is not None and current.in_force:
            raise InvalidStateError(_("The merchant's settlement authorisation is in force."), state=merchant.state)
        user = _user(actor)
        if user is None or merchant.authorisation_entered_by_id in (None, user.pk):
            raise MakerCheckerError()
        if current is not None and current.reference == merchant.authorisation_reference:
            raise SettlementAuthorisationMissingError()  # no replacement entered since the revocation
        return _authorisation_record(merchant, checker=actor)


def merchant_fee_rate_set(
    *, merchant_id: int, method: str, rate, effective_from: dt.date | None = None, actor=None
) -> MerchantFeeRate:
    """Set the MDR of one payment method from a business date (today by default). A rate for the same
    day is replaced; earlier ones stay as history (a payment uses the one in force on its date)."""
    if method not in PaymentMethod.values:
        raise FieldValidationError(fields={"method": [_("Unknown payment method.")]})
    rate = _rate(rate)
    effective_from = effective_from or timezone.localdate()
    with _atomic():
        merchant = locked_merchant(merchant_id)
        if merchant.state == Merchant.State.CLOSED:
            raise MerchantNotActiveError(merchant=merchant.pk, state=merchant.state)
        row, _created = MerchantFeeRate.objects.update_or_create(
            merchant=merchant, method=method, effective_from=effective_from, defaults={"rate": rate, "created_by": _user(actor)}
        )
        _audit(merchant, "fee_rate_set", actor=actor, method=method, rate=str(rate), effective_from=str(effective_from))
        return row


def merchant_submit_for_review(*, merchant_id: int, actor) -> Merchant:
    """The maker submits the application for KYC review (applied → kyc_review); they may not approve it."""
    with _atomic():
        merchant = locked_merchant(merchant_id)
        if merchant.state != Merchant.State.APPLIED:
            raise InvalidStateError(state=merchant.state)
        merchant.submit()
        merchant.submitted_by, merchant.submitted_at = _user(actor), timezone.now()
        merchant.save()
        _audit(merchant, "submit", actor=actor)
        return merchant


def _refuse_maker(merchant: Merchant, actor) -> None:
    user = _user(actor)
    if user is None:
        raise MakerCheckerError(_("A merchant is approved or returned by an identified checker."))
    if user.pk in (merchant.submitted_by_id, merchant.created_by_id, merchant.authorisation_entered_by_id):
        raise MakerCheckerError()


def merchant_return(*, merchant_id: int, actor, note: str) -> Merchant:
    """The checker returns the application to the maker (kyc_review → applied) with a reason."""
    note = (note or "").strip()
    if not note:
        raise FieldValidationError(fields={"note": [_("A reason is required.")]})
    with _atomic():
        merchant = locked_merchant(merchant_id)
        if merchant.state != Merchant.State.KYC_REVIEW:
            raise InvalidStateError(state=merchant.state)
        _refuse_maker(merchant, actor)
        merchant.return_to_maker()
        merchant.reviewed_by, merchant.reviewed_at, merchant.review_note = _user(actor), timezone.now(), note[:500]
        merchant.save()
        _audit(merchant, "return", actor=actor, note=note[:500])
        return merchant


MERCHANT_ACCOUNTS = (
    ("pending_account", Role.MERCHANT_PENDING, "待结算 / pending settlement"),
    ("available_account", Role.MERCHANT_AVAILABLE, "可用 / available"),
    ("reserve_account", Role.MERCHANT_RESERVE, "保证金 / reserve"),
)


def merchant_approve(*, merchant_id: int, actor, note: str = "") -> Merchant:
    """The checker approves (kyc_review → active) and the merchant's books are opened.

    Maker-checker: the checker is an identified user other than the one who created or submitted
    the application (else ``maker_checker_violation``). The organisation's KYC must be approved
    (else ``kyc_not_approved``). Activation opens, in the merchant's books (``owner="merchant:<id>"``),
    three corporate accounts of its organisation (pending settlement 待结算, available, reserve) and
    its internal receivable account (the bank's advance, an asset), and records the standing
    settlement authorisation the application carries, in the same transaction (none:
    ``settlement_authorisation_required``, nothing is opened)."""
    with _atomic():
        merchant = locked_merchant(merchant_id)
        if merchant.state != Merchant.State.KYC_REVIEW:
            raise InvalidStateError(state=merchant.state)
        _refuse_maker(merchant, actor)
        if not (merchant.authorisation_reference and merchant.authorisation_signed_on and merchant.authorisation_signatory):
            raise SettlementAuthorisationMissingError()
        owner = merchant.owner
        for field, role, label in MERCHANT_ACCOUNTS:
            account = account_open(
                party=merchant.party,
                role=role,
                tier=Account.Tier.CORPORATE,
                name=f"{merchant.name} {label}"[:200],
                owner=owner,
                actor=actor,
            )
            setattr(merchant, field, account)
        merchant.receivable_account = internal_account_create(
            role=Role.MERCHANT_RECEIVABLE, name=f"{merchant.name} 应收款 / receivable"[:200], owner=owner
        )
        now = timezone.now()
        merchant.activate()
        merchant.reviewed_by, merchant.reviewed_at = _user(actor), now
        merchant.review_note = (note or "").strip()[:500]
        merchant.activated_at = now
        merchant.save()
        _authorisation_record(merchant, checker=actor)
        _audit(merchant, "approve", actor=actor, pending=merchant.pending_account.number, note=merchant.review_note)
        return merchant


def merchant_settlement_bind(
    *, merchant_id: int, account_number: str, bank_name: str, verification: str = "micro_deposit", actor=None
) -> BoundCard:
    """Bind the merchant's corporate settlement account (对公结算账户) to its available account, in its
    own name and credit code (``accounts.cards.services.corporate_account_bind``: no Luhn, no BIN;
    verified by a micro-deposit or by another operator). Settlement payouts go to it."""
    with _atomic():
        merchant = locked_merchant(merchant_id)
        if merchant.available_account_id is None or merchant.state == Merchant.State.CLOSED:
            raise MerchantNotActiveError(merchant=merchant.pk, state=merchant.state)
        card = cards.corporate_account_bind(
            account=merchant.available_account,
            account_number=account_number,
            account_name=merchant.party.name,
            credit_code=merchant.credit_code,
            bank_name=bank_name,
            verification=verification,
            actor=actor,
        )
        merchant.settlement_card = card
        merchant.save(update_fields=["settlement_card", "updated_at"])
        _audit(merchant, "settlement_bind", actor=actor, card=card.pk, verification=verification)
        return card


def _move(merchant_id: int, *, actor, action: str, allowed: tuple[str, ...], note: str = "") -> Merchant:
    with _atomic():
        merchant = locked_merchant(merchant_id)
        if merchant.state not in allowed:
            raise InvalidStateError(state=merchant.state)
        getattr(merchant, action)()
        merchant.save()
        _audit(merchant, action, actor=actor, note=(note or "")[:500])
        return merchant


def merchant_suspend(*, merchant_id: int, actor, note: str = "") -> Merchant:
    """No new payments (refunds of what was taken still work)."""
    return _move(merchant_id, actor=actor, action="suspend", allowed=(Merchant.State.ACTIVE,), note=note)


def merchant_resume(*, merchant_id: int, actor, note: str = "") -> Merchant:
    return _move(merchant_id, actor=actor, action="resume", allowed=(Merchant.State.SUSPENDED,), note=note)


def merchant_close(*, merchant_id: int, actor, note: str = "") -> Merchant:
    """Close the merchant once its books are empty (nothing pending, available, reserved or owed)."""
    with _atomic():
        merchant = locked_merchant(merchant_id)
        if merchant.state not in (Merchant.State.ACTIVE, Merchant.State.SUSPENDED):
            raise InvalidStateError(state=merchant.state)
        ids = [
            merchant.pending_account_id,
            merchant.available_account_id,
            merchant.reserve_account_id,
            merchant.receivable_account_id,
        ]
        if Account.objects.filter(pk__in=[i for i in ids if i]).exclude(balance=0).exists():
            raise InvalidStateError(_("The merchant's accounts are not empty."), state=merchant.state)
        merchant.close()
        merchant.save()
        _audit(merchant, "close", actor=actor, note=(note or "")[:500])
        return merchant


def merchant_account_close_blockers(account: Account) -> list[str]:
    """``accounts.states.services.close_blockers``: a merchant's accounts stay open until the merchant
    is closed."""
    if account.owner.startswith("merchant:"):
        merchant_id = account.owner.split(":", 1)[1]
        if Merchant.objects.filter(pk=merchant_id).exclude(state=Merchant.State.CLOSED).exists():
            return ["merchant_not_closed"]
    return []
