"""What a partner client may see: accounts, parties, cards and holds, by its scopes; anything else is 404.

The bank's internal accounts (clearing, withdrawal transit, fee income, suspense, ...) are never
visible, whatever the scopes (``backoffice.signing.client_sees_account``): ``*`` means every
customer account. An internal account's number answers 404 on every endpoint, as an account
itself, as a transfer's party, as a hold's account or a capture's target, exactly as if it did
not exist."""

from __future__ import annotations

from types import SimpleNamespace

from django.utils.translation import gettext_lazy as _

from accounts.api.serializers import (
    HoldSerializer,
)
from accounts.cards.models import BoundCard
from accounts.ledger.models import Account, Hold
from accounts.ledger.selectors import account_get
from accounts.parties.models import Party
from backoffice.api import found_or_404
from backoffice.models import ApiClient
from backoffice.signing import client_sees_account, ledger_client


def visible_account(client: ApiClient, number: str) -> Account:
    account = account_get(number=number)
    return found_or_404(account, _("No such account."), lambda account: client_sees_account(client, account))


def visible_accounts(client: ApiClient, *numbers: str) -> dict[str, SimpleNamespace]:
    """``{number: (pk, tier)}`` of visible accounts, resolved in one query; 404 if any is missing or invisible."""
    rows = Account.objects.filter(number__in=set(numbers)).values_list("pk", "number", "party_id", "tier", "kind", "owner")
    found = {
        number: SimpleNamespace(pk=pk, number=number, party_id=party_id, tier=tier, kind=kind, owner=owner)
        for pk, number, party_id, tier, kind, owner in rows
    }
    for number in numbers:
        found_or_404(found.get(number), _("No such account."), lambda account: client_sees_account(client, account))
    return found


def visible_rows(client: ApiClient, numbers) -> list[SimpleNamespace]:
    """The accounts among ``numbers`` this client sees, in one query; the others (missing or invisible) are
    simply absent, for a caller that answers each one on its own (a batch)."""
    rows = Account.objects.filter(number__in=set(numbers)).values_list("pk", "number", "party_id", "tier", "kind", "owner")
    found = [
        SimpleNamespace(pk=pk, number=number, party_id=party_id, tier=tier, kind=kind, owner=owner)
        for pk, number, party_id, tier, kind, owner in rows
    ]
    return [account for account in found if client_sees_account(client, account)]


def visible_account_ids(client: ApiClient, *numbers: str) -> dict[str, int]:
    """``{number: pk}`` of visible accounts, resolved in one query; 404 if any is missing or invisible."""
    return {number: account.pk for number, account in visible_accounts(client, *numbers).items()}


def client_sees_party(client: ApiClient, party_id: int) -> bool:
    """Party visibility: ``*`` or ``party:<id>`` (an ``account:<number>`` scope does not show its owner)."""
    scopes = set(client.scopes)
    return "*" in scopes or f"party:{party_id}" in scopes


def own_hold(client: ApiClient, hold_id: int) -> Hold:
    """A hold this client placed, on an account it still sees (never a judicial or another's hold)."""
    hold = Hold.objects.select_related("account").filter(pk=hold_id, client=ledger_client(client)).first()
    return found_or_404(hold, _("No such hold."), lambda hold: client_sees_account(client, hold.account))


def visible_card(client: ApiClient, card_id: int) -> BoundCard:
    """A bound card is visible when its account is."""
    card = BoundCard.objects.select_related("account").filter(pk=card_id).first()
    return found_or_404(card, _("No such card."), lambda card: client_sees_account(client, card.account))


def visible_party(client: ApiClient, party_id: int) -> Party:
    party = Party.objects.filter(pk=party_id).first()
    return found_or_404(party, _("No such party."), lambda party: client_sees_party(client, party.pk))


def hold_payload(hold_id: int) -> dict:
    return HoldSerializer(Hold.objects.select_related("account").get(pk=hold_id)).data
