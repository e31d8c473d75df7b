"""The holder's authorisation of an instruction that moves their money (R-DEP-02).

An instruction carries ``{"method": "otp", "code": "123456"}`` (a one-time code sent to the
bound mobile for that purpose: accounts.cards.services.otp_send) or ``{"method": "password", "password":
"......"}`` (the holder's 6-digit transaction password, set in the portal). Standing
authorisations (``{"method": "standing", "id"}``) are refused for now: none can be granted yet.

Verification runs in its own committed transaction (a wrong password counts even though the
instruction is refused) and must happen before the instruction's money transaction.
"""

from __future__ import annotations

import re

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import conf
from accounts.cards import services as cards
from accounts.cards.models import OneTimeCode
from accounts.ledger.models import Account
from accounts.parties.models import Party
from accounts.payments.models import TransactionPassword
from backoffice.audit import audit_record
from backoffice.errors import DomainError, FieldValidationError

__all__ = [
    "AuthorisationInvalidError",
    "TransactionPasswordLockedError",
    "authorisation_verify",
    "transaction_password_is_set",
    "transaction_password_set",
]

PASSWORD_RE = re.compile(r"^[0-9]{6}$")
METHODS = ("otp", "password")


class AuthorisationInvalidError(DomainError):
    code, http_status = "authorization_invalid", 403
    message = _("The holder's authorisation is wrong or missing.")


class TransactionPasswordLockedError(DomainError):
    code, http_status = "transaction_password_locked", 403
    message = _("The transaction password is locked after too many wrong attempts, until {until}.")


def _field_error(message) -> FieldValidationError:
    return FieldValidationError({"authorization": [str(message)]})


def transaction_password_is_set(*, party: Party) -> bool:
    return TransactionPassword.objects.filter(party=party).exists()


@transaction.atomic(durable=True)
def transaction_password_set(*, party_id: int, password: str, actor=None) -> TransactionPassword:
    """Set (or replace) a party's transaction password: exactly 6 digits, not all the same digit
    and not a run such as 123456. Raises FieldValidationError (``password``)."""
    password = str(password or "")
    if not PASSWORD_RE.match(password):
        raise FieldValidationError({"password": [str(_("The transaction password is exactly 6 digits."))]})
    if len(set(password)) == 1 or password in "0123456789" or password in "9876543210":
        raise FieldValidationError({"password": [str(_("Choose a password that is not a run or a repeated digit."))]})
    party = Party.objects.select_for_update().get(pk=party_id)
    record, _created = TransactionPassword.objects.update_or_create(
        party=party, defaults={"password_hash": make_password(password), "failed_attempts": 0, "locked_until": None}
    )
    audit_record(actor=actor, action="transaction_password.set", target=party)
    return record


def _password_check(*, party_id: int, password: str, actor) -> DomainError | None:
    with transaction.atomic(durable=True):
        record = TransactionPassword.objects.select_for_update().filter(party_id=party_id).first()
        if record is None:
            return _field_error(_("No transaction password is set: set one in the portal first."))
        now = timezone.now()
        if record.locked_until is not None and record.locked_until > now:
            return TransactionPasswordLockedError(until=timezone.localtime(record.locked_until).strftime("%Y-%m-%d %H:%M"))
        if check_password(password, record.password_hash):
            if record.failed_attempts:
                record.failed_attempts, record.locked_until = 0, None
                record.save(update_fields=["failed_attempts", "locked_until", "updated_at"])
            return None
        record.failed_attempts += 1
        if record.failed_attempts >= conf.password_max_attempts():
            record.locked_until, record.failed_attempts = now + conf.password_lock(), 0
        record.save(update_fields=["failed_attempts", "locked_until", "updated_at"])
        audit_record(
            actor=actor, action="transaction_password.mismatch", target=record, data={"locked": bool(record.locked_until)}
        )
        return AuthorisationInvalidError()


def authorisation_verify(*, account: Account, purpose: str, authorization, actor=None) -> str:
    """Check the holder's authorisation for ``purpose`` (OneTimeCode.Purpose) and return the
    method used. Raises FieldValidationError (``authorization`` malformed), AuthorisationInvalidError,
    TransactionPasswordLockedError, cards.OtpExpiredError (a new code must be sent)."""
    if not isinstance(authorization, dict) or not authorization.get("method"):
        raise _field_error(_('Give the holder\'s authorisation: {"method": "otp", "code": ...} or {"method": "password", ...}.'))
    method = authorization.get("method")
    if method == "standing":
        raise _field_error(_("Standing authorisations are not available yet: use a one-time code."))
    if method not in METHODS:
        raise _field_error(_("Unknown authorisation method: use otp or password."))
    if purpose not in OneTimeCode.Purpose.values:
        raise ValueError(purpose)
    if method == "otp":
        code = str(authorization.get("code") or "").strip()
        if not code:
            raise _field_error(_("The one-time code is missing."))
        try:
            cards.otp_verify(account=account, purpose=purpose, code=code, actor=actor)
        except cards.OtpInvalidError:
            raise AuthorisationInvalidError() from None  # wrong, used, superseded or another purpose's code
        return "otp"
    if account.party_id is None:
        raise AuthorisationInvalidError()
    error = _password_check(party_id=account.party_id, password=str(authorization.get("password") or ""), actor=actor)
    if error is not None:
        raise error
    return "password"
