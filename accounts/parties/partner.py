"""Partner use cases that span the accounts domain and the API client (``backoffice``).

A party created through the API becomes visible to the client that created it: the client is
granted the scope ``party:<id>`` (``backoffice.services.api_client_grant_scope``, audited) in the
same transaction as the party, so a party never exists without its creator seeing it (a retry
after a crash answers ``duplicate_party`` *with* the id). Accounts opened for a visible party are
visible through that same scope; no per-account grant is needed.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.parties.errors import DuplicatePartyError
from accounts.parties.models import Party
from accounts.parties.services import account_open, party_create
from backoffice.models import ApiClient
from backoffice.services import api_client_grant_scope


def client_label(client: ApiClient) -> str:
    """The audit ``actor_label`` of work done on a partner's request."""
    return f"api:{client.client_id}"


def partner_party_create(*, client: ApiClient, sees_party, **identity) -> Party:
    """Create a party for ``client`` and grant the client ``party:<id>``.

    ``identity`` is passed to ``accounts.parties.services.party_create`` (type, name, id_number, mobile,
    credit_code, legal_representative). Raises what party_create raises; a duplicate of a party the
    client cannot see (``sees_party(party_id)`` false) is refused as ``duplicate_party`` without the
    existing party's id, in message or data.
    """
    try:
        with transaction.atomic(durable=True):
            party = party_create(**identity, actor_label=client_label(client))
            api_client_grant_scope(
                client_pk=client.pk, scope=f"party:{party.pk}", actor_label=client_label(client), reason="party.create"
            )
    except DuplicatePartyError as exc:
        if sees_party(exc.data.get("party")):
            raise
        raise DuplicatePartyError(_("A party with this identity number or credit code already exists.")) from None
    return party


def partner_account_open(*, client: ApiClient, party: Party, tier: str, role: str, override_reason: str = ""):
    """Open an account for a party the client sees (``accounts.parties.services.account_open``), audited as the client."""
    return account_open(party=party, role=role, tier=tier, override_reason=override_reason, actor_label=client_label(client))
