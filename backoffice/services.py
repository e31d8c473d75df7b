"""Use cases of the shared kernel: partner API clients."""

from __future__ import annotations

import ipaddress

from django.db import transaction

from backoffice.audit import audit_record
from backoffice.models import ApiClient

KNOWN_SCOPES = {"*", "accounts:read", "transfers:write", "holds:write"}
SCOPE_PREFIXES = ("party:", "account:")


def validate_scopes(scopes: list[str]) -> list[str]:
    bad = [s for s in scopes if s not in KNOWN_SCOPES and not s.startswith(SCOPE_PREFIXES)]
    if bad:
        raise ValueError(
            f"unknown scope(s): {', '.join(bad)}; known: {', '.join(sorted(KNOWN_SCOPES))}, party:<id>, account:<number>"
        )
    if not scopes:
        raise ValueError("at least one scope is needed")
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
