"""R-DEP-02: the client's authorisation of every instruction a platform sends about their money.

An instruction carries ``"authorization"``:
- ``{"method": "standing", "id": N}``: a standing authorisation (业务授权) the client granted on the
  bank's portal (``standing_authorisation_grant_by_holder``, custody.portal): grantor sub-account, platform, instruction types
  (``bid``, ``auto_repay``, ``fee``, ``compensation``), per-instruction and cumulative maximum,
  expiry, revocation by the client. It is consumed under a row lock of the authorisation (so
  concurrent instructions never overrun the cumulative maximum; a database check backs it), in
  the instruction's own transaction: a refused instruction consumes nothing.
- ``{"method": "password" | "otp", ...}``: refused, 403 ``authorization_method_refused``: a
  platform's server never sees a client's transaction password or one-time code.
- ``{"method": "confirm"}`` (the bank-hosted confirmation page, where the client types the
  transaction password): the faces route it to ``custody.loans.services.bid_confirmation_request``
  and ``custody.loans.confirmations`` (the API answers 202 with the page's URL) before any
  consumption; reaching this function it is refused, 422 ``confirmation_unavailable``.

Lock order: the business row (the loan) first, then the authorisation, then the ledger's holds and
accounts, as every custody service does.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.payments.authorisation import authorisation_verify
from backoffice.audit import audit_record
from backoffice.errors import FieldValidationError, NotFoundError
from backoffice.money import MoneyError, to_money
from custody.loans.errors import (
    AuthorisationLimitError,
    AuthorisationMethodRefusedError,
    AuthorisationNotInForceError,
    AuthorisationOutOfScopeError,
    ConfirmationUnavailableError,
)
from custody.loans.models import StandingAuthorisation

__all__ = [
    "authorisation_consume",
    "standing_authorisation_grant_by_holder",
    "authorisation_restore",
    "standing_authorisation_grant",
    "standing_authorisation_revoke",
]

Type = StandingAuthorisation.Type
#: The authorisation types each sub-account role may grant.
TYPES_BY_ROLE = {
    "lender": {Type.BID},
    "borrower": {Type.AUTO_REPAY, Type.FEE},
    "guarantor": {Type.COMPENSATION, Type.FEE},
    "compensation": {Type.COMPENSATION, Type.FEE},
}


def _field_error(message) -> FieldValidationError:
    return FieldValidationError({"authorization": [str(message)]})


def standing_authorisation_grant(
    *,
    grantor,
    instruction_types: list[str],
    per_instruction_max,
    cumulative_max,
    expires_at,
    granted_via: str = "portal",
    actor=None,
) -> StandingAuthorisation:
    """Record the client's standing authorisation for the platform of ``grantor`` (a SubAccount).

    Called from the bank's own pages once the client typed the transaction password there (the
    platform never calls it). Types must fit the sub-account's role (a lender grants ``bid``, a
    borrower ``auto_repay``/``fee``, a guarantor or compensation account ``compensation``/``fee``).
    Raises FieldValidationError."""
    fields: dict[str, list[str]] = {}
    types = sorted(set(instruction_types or []))
    if not types or not set(types) <= TYPES_BY_ROLE.get(grantor.role, set()):
        fields["instruction_types"] = [str(_("Types this sub-account's role may authorise are required."))]
    try:
        per_instruction_max, cumulative_max = to_money(per_instruction_max), to_money(cumulative_max)
    except MoneyError:
        fields["per_instruction_max"] = [str(_("Amounts in yuan with at most two decimals."))]
    else:
        if per_instruction_max <= 0 or per_instruction_max > cumulative_max:
            fields["per_instruction_max"] = [str(_("More than zero and at most the cumulative maximum."))]
    if expires_at is None or expires_at <= timezone.now():
        fields["expires_at"] = [str(_("The expiry must be in the future."))]
    if fields:
        raise FieldValidationError(fields=fields)
    with transaction.atomic():
        authorisation = StandingAuthorisation.objects.create(
            grantor=grantor,
            platform_id=grantor.platform_id,
            instruction_types=types,
            per_instruction_max=per_instruction_max,
            cumulative_max=cumulative_max,
            expires_at=expires_at,
            granted_via=granted_via[:100],
        )
        audit_record(
            actor=actor,
            actor_label=granted_via,
            action="custody.authorisation.grant",
            target=authorisation,
            data={"types": types, "per_instruction_max": f"{per_instruction_max:.2f}", "cumulative_max": f"{cumulative_max:.2f}"},
        )
        return authorisation


def standing_authorisation_grant_by_holder(
    *, grantor, password: str, instruction_types, per_instruction_max, cumulative_max, expires_at, actor
) -> StandingAuthorisation:
    """The holder grants a standing authorisation on the bank's portal, typing their transaction
    password (checked by ``accounts.payments.authorisation``: wrong attempts count and lock, in
    their own transaction, before anything is granted). Raises AuthorisationInvalidError,
    TransactionPasswordLockedError, FieldValidationError."""
    authorisation_verify(  # its own durable transaction: call this outside any
        account=grantor.account, purpose="instruction", authorization={"method": "password", "password": password}, actor=actor
    )
    return standing_authorisation_grant(
        grantor=grantor,
        instruction_types=instruction_types,
        per_instruction_max=per_instruction_max,
        cumulative_max=cumulative_max,
        expires_at=expires_at,
        granted_via="portal",
        actor=actor,
    )


def standing_authorisation_revoke(*, authorisation_id: int, actor=None, actor_label: str = "") -> StandingAuthorisation:
    """The client revokes it: no later instruction may use it (what it covered stays covered)."""
    with transaction.atomic():
        authorisation = StandingAuthorisation.objects.select_for_update().filter(pk=authorisation_id).first()
        if authorisation is None:
            raise NotFoundError(_("No such authorisation."))
        if authorisation.revoked_at is None:
            authorisation.revoked_at = timezone.now()
            authorisation.save(update_fields=["revoked_at", "updated_at"])
            audit_record(actor=actor, actor_label=actor_label, action="custody.authorisation.revoke", target=authorisation)
        return authorisation


def authorisation_consume(authorization, *, platform, grantor, instruction_type: str, amount: Decimal) -> StandingAuthorisation:
    """Check the instruction's ``authorization`` and consume ``amount`` of the standing
    authorisation it names, under its row lock, inside the caller's transaction. Returns the
    authorisation (its id goes into the voucher's metadata).

    Raises FieldValidationError (malformed), AuthorisationMethodRefusedError (password, otp),
    ConfirmationUnavailableError (confirm), AuthorisationNotInForceError (unknown to this platform
    and grantor is out of scope; expired, revoked), AuthorisationOutOfScopeError (another grantor,
    platform or type), AuthorisationLimitError (``data.limit``: per_instruction or cumulative,
    ``data.remaining``)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("authorisation_consume runs inside the instruction's transaction")
    if not isinstance(authorization, dict) or not authorization.get("method"):
        raise _field_error(_('Give the client\'s authorisation: {"method": "standing", "id": N}.'))
    method = authorization.get("method")
    if method in ("password", "otp"):
        raise AuthorisationMethodRefusedError(method=method)
    if method == "confirm":
        raise ConfirmationUnavailableError()
    if method != "standing":
        raise _field_error(_("Unknown authorisation method: use standing."))
    raw_id = authorization.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)) or not str(raw_id).isdigit():
        raise _field_error(_("A standing authorisation's id is a number."))
    authorisation = StandingAuthorisation.objects.select_for_update().filter(pk=int(raw_id)).first()
    if authorisation is None or authorisation.platform_id != platform.pk:
        raise AuthorisationNotInForceError(id=str(raw_id), reason="unknown")
    if authorisation.grantor_id != grantor.pk:
        raise AuthorisationOutOfScopeError(id=str(authorisation.pk), scope=f"sub-account {grantor.account.number}")
    if instruction_type not in authorisation.instruction_types:
        raise AuthorisationOutOfScopeError(id=str(authorisation.pk), scope=instruction_type)
    if authorisation.revoked_at is not None:
        raise AuthorisationNotInForceError(id=str(authorisation.pk), reason="revoked")
    if authorisation.expires_at <= timezone.now():
        raise AuthorisationNotInForceError(id=str(authorisation.pk), reason="expired")
    if amount > authorisation.per_instruction_max:
        raise AuthorisationLimitError(
            id=authorisation.pk, limit="per_instruction", remaining=f"{authorisation.per_instruction_max:.2f}"
        )
    if amount > authorisation.remaining:
        raise AuthorisationLimitError(id=str(authorisation.pk), limit="cumulative", remaining=f"{authorisation.remaining:.2f}")
    authorisation.consumed = authorisation.consumed + amount
    authorisation.save(update_fields=["consumed", "updated_at"])
    return authorisation


def authorisation_restore(*, authorisation_id: int, amount: Decimal) -> None:
    """Give back what a bid consumed when its hold is released (nothing moved): under the row
    lock, inside the caller's transaction (after the loan's lock)."""
    authorisation = StandingAuthorisation.objects.select_for_update().get(pk=authorisation_id)
    authorisation.consumed = max(Decimal("0.00"), authorisation.consumed - amount)
    authorisation.save(update_fields=["consumed", "updated_at"])
