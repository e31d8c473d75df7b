"""Creating ledger accounts: numbers with a check digit, customer and internal accounts.

Balances are never written here (``accounts.ledger.postings`` is their only writer).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.ledger.chart import ROLE_CHART, normal_side_of
from accounts.ledger.models import Account, new_account_number


def account_create_row(*, party, name, role, tier, kind, state, internal, owner: str = "") -> Account:
    rule = ROLE_CHART[role]
    for _attempt in range(5):
        number = new_account_number(internal=internal)
        try:
            with transaction.atomic():
                return Account.objects.create(
                    number=number,
                    name=name,
                    party=party,
                    kind=kind,
                    tier=tier,
                    role=role,
                    subject_id=rule.subject,
                    normal_side=normal_side_of(role),
                    state=state,
                    owner=owner,
                )
        except IntegrityError:
            if not Account.objects.filter(number=number).exists():
                raise  # some other constraint: not a collision of the random number
            continue  # the random number collided with an existing one: draw again
    raise RuntimeError("could not allocate an account number")


def internal_account_create(*, role: str, name: str, owner: str = "") -> Account:
    """An internal account of ``role`` in ``owner``'s books ("" the bank's); one per (role, owner)."""
    if not ROLE_CHART[role].internal:
        raise ValueError(f"role {role!r} is not an internal role")
    return account_create_row(
        owner=owner,
        party=None,
        name=name,
        role=role,
        tier=Account.Tier.INTERNAL,
        kind=Account.Kind.INTERNAL,
        state=Account.State.ACTIVE,
        internal=True,
    )
