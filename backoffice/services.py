"""Use cases of the shared kernel: partner API clients."""

from __future__ import annotations

import ipaddress
import re

from django.db import transaction

from backoffice.audit import audit_record
from backoffice.models import ApiClient

KNOWN_SCOPES = {
    "*",
    "accounts:read",
    "accounts:write",
    "cards:write",
    "holds:write",
    "recharges:write",
    "withdrawals:write",
    "parties:write",
    "transfers:write",
}
SCOPE_PREFIXES = ("party:", "account:", "platform:", "merchant:")
# A merchant's client: ``merchant:<id>`` (all of that merchant's endpoints) or the narrow
# ``merchant:<id>:payments`` / ``merchant:<id>:refunds`` / ``merchant:<id>:settlements``; only scopes of one merchant.
MERCHANT_SCOPE_RE = re.compile(r"^merchant:([1-9][0-9]{0,17})(?::(payments|refunds|settlements))?$")


def validate_scopes(scopes: list[str]) -> list[str]:
    """A bank's client: operation and visibility scopes. A P2P platform's client: exactly one
    ``platform:<code>`` and nothing else (it reaches only its platform's endpoints, R-DEP-03/04)."""
    bad = [s for s in scopes if s not in KNOWN_SCOPES and not s.startswith(SCOPE_PREFIXES)]
    if bad:
        raise ValueError(
            f"unknown scope(s): {', '.join(bad)}; known: {', '.join(sorted(KNOWN_SCOPES))}, party:<id>, account:<number>, "
            "platform:<code>, merchant:<id>[:payments|:refunds|:settlements]"
        )
    if not scopes:
        raise ValueError("at least one scope is needed")
    platforms = [s for s in scopes if s.startswith("platform:")]
    if platforms and (len(scopes) != 1 or not platforms[0][len("platform:") :]):
        raise ValueError("a platform's client holds exactly one scope, platform:<code>, and nothing else")
    merchants = [s for s in scopes if s.startswith("merchant:")]
    if merchants:
        matches = [MERCHANT_SCOPE_RE.fullmatch(s) for s in merchants]
        if not all(matches) or len(merchants) != len(scopes) or len({m.group(1) for m in matches}) != 1:
            raise ValueError(
                "a merchant's client holds only scopes of one merchant: merchant:<id>, merchant:<id>:payments, "
                "merchant:<id>:refunds, merchant:<id>:settlements"
            )
    return scopes


def validate_ips(ips: list[str]) -> list[str]:
    for ip in ips:
        try:
            ipaddress.ip_network(ip, strict=False)
        except ValueError as exc:
            raise ValueError(f"{ip!r} is not an IP address or network") from exc
    return ips


@transaction.atomic(durable=True)
def api_client_create(
    *, name: str, scopes: list[str], ip_allowlist: list[str] | None = None, actor=None
) -> tuple[ApiClient, str]:
    """Create a client; returns it with its secret, which is never shown again."""
    if ApiClient.objects.filter(name=name).exists():
        raise ValueError(f"an API client named {name!r} already exists")
    client_id, secret = ApiClient.new_credentials()
    client = ApiClient.objects.create(
        name=name,
        client_id=client_id,
        secret=secret,
        scopes=validate_scopes(scopes),
        ip_allowlist=validate_ips(ip_allowlist or []),
    )
    audit_record(
        actor=actor, action="api_client.create", target=client, data={"scopes": scopes, "ip_allowlist": ip_allowlist or []}
    )
    return client, secret


def api_client_revoke(*, client_pk: int, actor=None, actor_label: str = "", reason: str = "") -> bool:
    """Deactivate a client (its signed requests are refused from now on); False if it already was.
    Audited as ``api_client.revoke``."""
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().filter(pk=client_pk).first()
        if client is None or not client.is_active:
            return False
        client.is_active = False
        client.save(update_fields=["is_active", "updated_at"])
        audit_record(
            actor=actor, actor_label=actor_label, action="api_client.revoke", target=client, data={"reason": reason[:200]}
        )
        return True


def api_client_grant_scope(*, client_pk: int, scope: str, actor=None, actor_label: str = "", reason: str = "") -> bool:
    """Add one scope (typically ``party:<id>``) to a client's scopes; False if it already had it
    (or has ``*``, which sees everything). Audited as ``api_client.grant_scope``.

    Composable: it runs inside the caller's transaction (a party created through the API and its
    grant commit or roll back together). The client row is locked, so concurrent grants to the
    same client never lose one another's scope. Raises ValueError for an unknown scope.
    """
    validate_scopes([scope])
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().get(pk=client_pk)
        if "*" in client.scopes or scope in client.scopes:
            return False
        client.scopes = [*client.scopes, scope]
        client.save(update_fields=["scopes", "updated_at"])
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="api_client.grant_scope",
            target=client,
            data={"scope": scope, "reason": reason},
        )
        return True
