"""Refusals of the party (KYC, personal data) and account-opening rules. Codes are API contract."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from backoffice.errors import DomainError, MakerCheckerError

__all__ = [
    "DuplicatePartyError",
    "KycMakerCheckerError",
    "KycNotApprovedError",
    "OpeningLimitExceededError",
    "PersonalDataForbiddenError",
]


class DuplicatePartyError(DomainError):
    """A second party with the same ID number (same keyed hash) or credit code. ``data.party`` is the existing id."""

    code, http_status = "duplicate_party", 409
    message = _("A party with this {field} already exists (party {party}).")


class KycNotApprovedError(DomainError):
    code, http_status = "kyc_not_approved", 409
    message = _("The party's KYC review is {state}: a {tier} account cannot be opened for it.")


class OpeningLimitExceededError(DomainError):
    """R-ACC-01 / R-ACC-02: the per-person count of a class. ``data.limit``, ``data.maximum``, ``data.remaining``."""

    code, http_status = "limit_exceeded", 409
    message = _("Limit {limit}: the person already holds {held} of at most {maximum} such accounts.")


class PersonalDataForbiddenError(DomainError):
    code, http_status = "forbidden", 403
    message = _("You do not have permission to view unmasked personal data.")


class KycMakerCheckerError(MakerCheckerError):
    """Maker-checker on KYC (四眼原则): whoever created or edited a party may not approve it."""

    message = _("You created or edited this party: a different operator must approve its KYC.")
