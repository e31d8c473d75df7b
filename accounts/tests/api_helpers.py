"""Helpers for partner API tests: real API clients and a Django test client that signs requests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import count
from uuid import uuid4

from backoffice.services import api_client_create
from backoffice.signing import signed_headers

_names = count(1)


@dataclass
class Credentials:
    client: object  # backoffice.models.ApiClient
    secret: str

    @property
    def client_id(self) -> str:
        return self.client.client_id


def make_credentials(*scopes: str, ip_allowlist: list[str] | None = None) -> Credentials:
    """A real ApiClient through the real service (the secret is returned only here)."""
    client, secret = api_client_create(
        name=f"partner-{next(_names)}-{uuid4().hex[:6]}", scopes=list(scopes) or ["*"], ip_allowlist=ip_allowlist
    )
    return Credentials(client=client, secret=secret)


def body_bytes(data) -> bytes:
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    return json.dumps(data).encode()


class SignedClient:
    """Wraps django.test.Client: every request is signed with ``signed_headers``."""

    def __init__(self, django_client, credentials: Credentials, *, language: str = "en"):
        self.http = django_client
        self.credentials = credentials
        self.language = language

    def headers(self, method: str, path_with_query: str, body: bytes = b"", **overrides) -> dict[str, str]:
        headers = signed_headers(self.credentials.client_id, self.credentials.secret, method, path_with_query, body)
        headers["Accept-Language"] = self.language
        headers.update(overrides)
        return {k: v for k, v in headers.items() if v is not None}

    def get(self, path_with_query: str, *, headers: dict | None = None, **extra):
        signed = self.headers("GET", path_with_query, b"", **(headers or {}))
        return self.http.get(path_with_query, headers=signed, **extra)

    def post(self, path: str, data=None, *, idempotency_key: str | None = "auto", headers: dict | None = None, **extra):
        body = body_bytes(data)
        signed = self.headers("POST", path, body, **(headers or {}))
        if idempotency_key == "auto":
            idempotency_key = uuid4().hex
        if idempotency_key is not None:
            signed["Idempotency-Key"] = idempotency_key
        return self.http.post(path, data=body, content_type="application/json", headers=signed, **extra)


def signed(django_client, *scopes: str, ip_allowlist: list[str] | None = None, language: str = "en") -> SignedClient:
    return SignedClient(django_client, make_credentials(*scopes, ip_allowlist=ip_allowlist), language=language)
