"""Reads of parties: the KYC queue and look-ups by ID number or credit code (by keyed hash)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.parties.models import Party, id_number_hash
from backoffice import crypto

# -- parties (KYC) ----------------------------------------------------------------------------


def parties_awaiting_kyc() -> QuerySet[Party]:
    """The KYC review queue: parties in pending_review, oldest first (the console's queue)."""
    return Party.objects.filter(kyc_state=Party.KycState.PENDING_REVIEW).order_by("created_at", "pk")


def party_find_by_id_number(id_number: str) -> Party | None:
    """The party with this resident ID number, found by its keyed hash (nothing is decrypted).

    The input is normalised first (a 15-digit number, a lowercase x); an invalid number finds nothing.
    """
    from accounts.parties import identity

    try:
        normalised = identity.normalise_id_number(id_number)
    except identity.IdentityError:
        return None
    return Party.objects.filter(id_number_hash=id_number_hash(normalised)).first()


def party_find_by_credit_code(credit_code: str) -> Party | None:
    """The organisation with this unified social credit code (normalised first), or None."""
    from accounts.parties import identity

    try:
        normalised = identity.normalise_credit_code(credit_code)
    except identity.IdentityError:
        return None
    return Party.objects.filter(credit_code=normalised).first()


def party_search(term: str) -> QuerySet[Party]:
    """Parties a console search finds: by name (contains), or exactly by full resident ID number,
    mobile or credit code. ID numbers and mobiles are matched through their keyed hashes (nothing
    is decrypted); a malformed one simply matches no hash."""
    from accounts.parties import identity

    term = (term or "").strip()
    if not term:
        return Party.objects.all()
    match = Q(name__icontains=term)
    for normalise, build in (
        (identity.normalise_id_number, lambda v: Q(id_number_hash=id_number_hash(v))),
        (identity.normalise_mobile, lambda v: Q(mobile_hash=crypto.blind_index(v, purpose="mobile"))),
        (identity.normalise_credit_code, lambda v: Q(credit_code=v)),
    ):
        try:
            match |= build(normalise(term))
        except identity.IdentityError:
            continue
    return Party.objects.filter(match)
