"""What a partner client may see: accounts, parties and holds, by its scopes; anything else is 404."""

from __future__ import annotations

from types import SimpleNamespace

from django.utils.translation import gettext_lazy as _

from accounts.api.serializers import (
    HoldSerializer,
)
from accounts.ledger.models import Account, Hold
from accounts.ledger.selectors import account_get
from backoffice.errors import NotFoundError
from backoffice.models import ApiClient
from backoffice.signing import client_sees_account, ledger_client


def visible_account(client: ApiClient, number: str) -> Account:
    account = account_get(number=number)
    if account is None or not client_sees_account(client, account):
        raise NotFoundError(_("No such account."))
    return account


def visible_accounts(client: ApiClient, *numbers: str) -> dict[str, SimpleNamespace]:
    """``{number: (pk, tier)}`` of visible accounts, resolved in one query; 404 if any is missing or invisible."""
    rows = Account.objects.filter(number__in=set(numbers)).values_list("pk", "number", "party_id", "tier")
    found = {number: SimpleNamespace(pk=pk, number=number, party_id=party_id, tier=tier) for pk, number, party_id, tier in rows}
    for number in numbers:
        account = found.get(number)
        if account is None or not client_sees_account(client, account):
            raise NotFoundError(_("No such account."))
    return found


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
    if hold is None or not client_sees_account(client, hold.account):
        raise NotFoundError(_("No such hold."))
    return hold


def hold_payload(hold_id: int) -> dict:
    return HoldSerializer(Hold.objects.select_related("account").get(pk=hold_id)).data
