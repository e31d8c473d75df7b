"""Request signing for the partner API: HMAC-SHA256 over the request, one nonce per request.

The string to sign is five lines joined by ``"\\n"``::

    METHOD            upper case, "POST"
    PATH_WITH_QUERY   the path as sent, with "?" and the query string if any: "/api/v1/accounts/1/entries/?page=2"
    TIMESTAMP         unix seconds, the value of X-Timestamp
    NONCE             the value of X-Nonce: 16-64 characters of [A-Za-z0-9_-]
    BODY_SHA256       hex SHA-256 of the raw body bytes (of b"" for a GET)

and ``X-Signature`` is the hex HMAC-SHA256 of it with the client's secret.

Rules checked in this order (the first failure answers):
1. all four headers present and well formed, else 401 ``missing_signature_headers``;
2. ``X-Client-Id`` names an active client, else 401 ``unknown_client``;
3. ``X-Timestamp`` within ``settings.API_SIGNATURE_MAX_SKEW`` seconds of the server clock, else 401
   ``stale_timestamp``;
4. the signature matches (constant-time compare), else 401 ``bad_signature``;
5. the caller's address is in the client's IP allow-list (if it has one), else 403 ``ip_not_allowed``;
6. the nonce was not used by this client within ``settings.API_NONCE_TTL``, else 401 ``replayed_nonce``.

The nonce is recorded only after the signature has been verified, so a forged request never
burns a nonce.

The client is cached per process (``client_entry``: the row with its decrypted secret, scopes, IP
allow-list and platform codes), so that a signed request costs no client lookup. The cache only
ever speeds up a request that passes: every refusal (unknown client, stale timestamp, bad
signature, IP not allowed) is decided again against the row read afresh, so the answers are those
of an uncached check; and the statement that records the nonce inserts it only if the client's row
is still the cached one (active, same encrypted secret, scopes and allow-list), so a revoked
client, a rotated secret, a changed scope or allow-list is seen by every worker process on its
very next request (no time window), whoever changed the row and however (``save()``, a queryset
``update()``, SQL). A ``post_save`` / ``post_delete`` of a client also drops it from this
process's cache at once. ``request.auth`` is the ``ApiClient``; ``request.user`` stays anonymous so that
operator machinery (history, audit actor) never mistakes a partner for a staff user.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from backoffice.models import ApiClient, ApiNonce

HEADER_CLIENT_ID = "X-Client-Id"
HEADER_TIMESTAMP = "X-Timestamp"
HEADER_NONCE = "X-Nonce"
HEADER_SIGNATURE = "X-Signature"
SIGNING_HEADERS = (HEADER_CLIENT_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
_SIGNATURE_RE = re.compile(r"[0-9a-fA-F]{64}")


# -- the algorithm (also used by tests, the README and the benchmark) -------------------


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body or b"").hexdigest()


def string_to_sign(*, method: str, path_with_query: str, timestamp: int | str, nonce: str, body: bytes) -> str:
    return "\n".join([method.upper(), path_with_query, str(timestamp), nonce, body_sha256(body)])


def sign_request(*, secret: str, method: str, path_with_query: str, body: bytes, timestamp: int, nonce: str) -> str:
    """The hex HMAC-SHA256 a client puts in ``X-Signature``."""
    message = string_to_sign(method=method, path_with_query=path_with_query, timestamp=timestamp, nonce=nonce, body=body)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]


def signed_headers(
    client_id: str,
    secret: str,
    method: str,
    path_with_query: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four signing headers for one request (a fresh nonce and the current time by default)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or new_nonce()
    signature = sign_request(
        secret=secret, method=method, path_with_query=path_with_query, body=body, timestamp=timestamp, nonce=nonce
    )
    return {
        HEADER_CLIENT_ID: client_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature,
    }


# -- refusals (the exception handler reads ``error_code``) ------------------------------


class SignatureError(exceptions.AuthenticationFailed):
    error_code = "bad_signature"
    default_detail = _("The request signature does not match.")


class MissingSignatureHeadersError(SignatureError):
    error_code = "missing_signature_headers"
    default_detail = _("Signed requests need the headers X-Client-Id, X-Timestamp, X-Nonce and X-Signature.")


class UnknownClientError(SignatureError):
    error_code = "unknown_client"
    default_detail = _("Unknown or disabled API client.")


class StaleTimestampError(SignatureError):
    error_code = "stale_timestamp"
    default_detail = _("X-Timestamp is too far from the server time.")


class BadSignatureError(SignatureError):
    error_code = "bad_signature"


class ReplayedNonceError(SignatureError):
    error_code = "replayed_nonce"
    default_detail = _("This X-Nonce was already used.")


class IpNotAllowedError(exceptions.PermissionDenied):
    error_code = "ip_not_allowed"
    default_detail = _("Requests from this address are not allowed for this client.")


class ForbiddenScopeError(exceptions.PermissionDenied):
    error_code = "forbidden_scope"
    default_detail = _("This client lacks the scope this operation needs.")


class PlatformScopeRefusedError(exceptions.PermissionDenied):
    """R-DEP-03/04: a P2P platform's client (scope ``platform:<code>``) reaches only its platform's
    endpoints (``/api/v1/platforms/<code>/...``), never the generic accounts, transfers, holds,
    parties, cards, recharges or withdrawals: a platform never opens, moves or closes a client's
    money except through its own instruction types."""

    error_code = "platform_scope_refused"
    default_detail = _(
        "A platform's client may use only its platform's endpoints (/api/v1/platforms/<code>/...). "
        "/ 平台客户端只能调用本平台的接口。"
    )


PLATFORM_SCOPE_PREFIX = "platform:"


def client_platform_codes(client: ApiClient) -> set[str]:
    """The platform codes of a client's ``platform:<code>`` scopes (empty for a bank's client)."""
    return {scope[len(PLATFORM_SCOPE_PREFIX) :] for scope in client.scopes if scope.startswith(PLATFORM_SCOPE_PREFIX)}


# -- the per-process client cache ------------------------------------------------------------


@dataclass(frozen=True)
class ClientEntry:
    """An active client as cached in this process. ``client`` is shared by the requests of this process:
    read it, never change or save it."""

    client: ApiClient
    secret: str
    scopes_json: str
    ips_json: str
    platforms: frozenset[str]


_CLIENTS: dict[str, ClientEntry] = {}


class ClientChangedError(Exception):
    """The cached client's row changed (or is gone) since it was cached: look it up afresh."""


def client_entry(client_id: str, *, fresh: bool = False) -> ClientEntry | None:
    """The active client ``client_id`` (from this process's cache unless ``fresh``), or None if there is none.
    Only active clients found in the database are cached (``settings.API_CLIENT_CACHE``, on by default)."""
    if not fresh:
        entry = _CLIENTS.get(client_id)
        if entry is not None:
            return entry
    client = ApiClient.objects.filter(client_id=client_id, is_active=True).first()
    if client is None:
        _CLIENTS.pop(client_id, None)
        return None
    entry = ClientEntry(
        client=client,
        secret=client.secret,  # decrypted from ApiClient.secret_encrypted (backoffice.crypto)
        scopes_json=json.dumps(client.scopes),
        ips_json=json.dumps(client.ip_allowlist),
        platforms=frozenset(client_platform_codes(client)),
    )
    if getattr(settings, "API_CLIENT_CACHE", True):
        _CLIENTS[client_id] = entry
    return entry


def client_forget(client_id: str | None = None) -> None:
    """Drop one client (or, with no argument, every client) from this process's cache."""
    if client_id is None:
        _CLIENTS.clear()
    else:
        _CLIENTS.pop(client_id, None)


@receiver(post_save, sender=ApiClient, dispatch_uid="backoffice.signing.client_saved")
@receiver(post_delete, sender=ApiClient, dispatch_uid="backoffice.signing.client_deleted")
def _client_changed(sender, instance, **kwargs) -> None:
    client_forget(instance.client_id)


# -- authentication and permission -------------------------------------------------------


def _header(request, name: str) -> str:
    return request.headers.get(name, "").strip()


def client_ip(request) -> str:
    """The caller's address (also django-axes's, ``AXES_CLIENT_IP_CALLABLE``).

    With ``settings.TRUSTED_PROXY_COUNT`` = 0 (the default) it is REMOTE_ADDR: a forwarded header
    is trivially forged. With N trusted proxies in front, each appending the address it received
    the request from to ``X-Forwarded-For``, the client is the N-th entry from the right; anything
    to its left was written by the client and is ignored. A request that did not pass all N
    proxies (fewer entries), or an entry that is not an address, falls back to REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote
    candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def ip_allowed(client: ApiClient, ip: str) -> bool:
    if not client.ip_allowlist:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in client.ip_allowlist:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def nonce_record(*, client: ApiClient, nonce: str, now: dt.datetime | None = None, entry: ClientEntry | None = None) -> bool:
    """Record a nonce; False if this client already used it within ``settings.API_NONCE_TTL``.

    The unique (client, nonce) insert decides between concurrent requests. A nonce older than
    the TTL that the purge task has not removed yet is taken over by a conditional update.

    With ``entry`` (the cached client), the insert happens only if the client's row still matches
    it; if it does not (revoked, secret, scopes or allow-list changed), ``ClientChangedError`` is
    raised and nothing is written.
    """
    now = now or timezone.now()
    try:
        # One INSERT is atomic on its own: outside a transaction it is sent as one autocommit
        # statement (one round trip); inside one, a savepoint keeps a duplicate from breaking it.
        with single_statement():
            if entry is None:
                ApiNonce.objects.create(client=client, nonce=nonce, seen_at=now)
            elif not _nonce_insert_if_current(entry, nonce, now):
                raise ClientChangedError()
        return True
    except IntegrityError:
        if entry is not None and not client_is_current(entry):
            raise ClientChangedError() from None
        cutoff = now - dt.timedelta(seconds=settings.API_NONCE_TTL)
        return bool(ApiNonce.objects.filter(client=client, nonce=nonce, seen_at__lt=cutoff).update(seen_at=now))


# INSERT the nonce only if the client's row is the cached one: id, is_active, the encrypted secret, the scopes and the
# IP allow-list (JSON text), JSON compared as JSON (PostgreSQL's jsonb equality; SQLite's json() minifies both sides).
_NONCE_IF_CURRENT_SQL = {
    "postgresql": (
        "INSERT INTO backoffice_apinonce (client_id, nonce, seen_at) SELECT id, %s, %s FROM backoffice_apiclient "
        "WHERE id = %s AND is_active = %s AND secret_encrypted = %s AND scopes = %s::jsonb AND ip_allowlist = %s::jsonb"
    ),
    "sqlite": (
        "INSERT INTO backoffice_apinonce (client_id, nonce, seen_at) SELECT id, %s, %s FROM backoffice_apiclient "
        "WHERE id = %s AND is_active = %s AND secret_encrypted = %s AND json(scopes) = json(%s) "
        "AND json(ip_allowlist) = json(%s)"
    ),
}


def _client_row_params(entry: ClientEntry) -> list:
    return [entry.client.pk, True, entry.client.secret_encrypted, entry.scopes_json, entry.ips_json]


def _nonce_insert_if_current(entry: ClientEntry, nonce: str, now: dt.datetime) -> bool:
    """INSERT the nonce if the client's row is still ``entry``; False (nothing written) if it is not."""
    with connection.cursor() as cursor:
        cursor.execute(
            _NONCE_IF_CURRENT_SQL[connection.vendor],
            [nonce, connection.ops.adapt_datetimefield_value(now), *_client_row_params(entry)],
        )
        return cursor.rowcount == 1


def client_is_current(entry: ClientEntry) -> bool:
    """Is the client's row still what ``entry`` cached? (One query: for the rare paths only.)"""
    client = entry.client
    return ApiClient.objects.filter(
        pk=client.pk,
        is_active=True,
        secret_encrypted=client.secret_encrypted,
        scopes=client.scopes,
        ip_allowlist=client.ip_allowlist,
    ).exists()


def single_statement():
    """A savepoint inside a caller's transaction; nothing (autocommit: the statement is its own
    transaction, one round trip instead of BEGIN, statement, COMMIT) outside one. For a block of
    exactly one write statement whose failure (a unique violation) the caller handles."""
    if transaction.get_connection().in_atomic_block:
        return transaction.atomic()
    return contextlib.nullcontext()


def nonces_purge(*, now: dt.datetime | None = None) -> int:
    """Delete nonces older than ``settings.API_NONCE_TTL``; returns how many."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.API_NONCE_TTL)
    deleted, _by_model = ApiNonce.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


def signature_refusal(
    entry: ClientEntry, method: str, path_with_query: str, body: bytes, timestamp: int, nonce: str, signature: str, *, ip: str
) -> SignatureError | IpNotAllowedError | None:
    """Rules 3 to 5 of the module docstring for a known client: the refusal to raise, or None if they pass."""
    if abs(int(time.time()) - timestamp) > settings.API_SIGNATURE_MAX_SKEW:
        return StaleTimestampError()
    expected = sign_request(
        secret=entry.secret, method=method, path_with_query=path_with_query, body=body, timestamp=timestamp, nonce=nonce
    )
    if not (_SIGNATURE_RE.fullmatch(signature) and hmac.compare_digest(expected, signature.lower())):
        return BadSignatureError()
    if not ip_allowed(entry.client, ip):
        return IpNotAllowedError()
    return None


def verified_from_cache(request, scope: str) -> tuple[ClientEntry, str] | None:
    """For a one-statement fast path: the cached client and the nonce when the request passes rules 1 to 5 with
    the cached client and the client holds ``scope`` (a bank's client, not a platform's); None for anything else
    (not cached, refused, another scope), which the full check (``SignatureAuthentication``, ``HasScope``) then
    answers. The nonce is not recorded here: the caller records it with ``entry`` (``nonce_record`` or its own
    statement), conditionally on the client's row being still the cached one."""
    meta = request.META
    client_id = meta.get("HTTP_X_CLIENT_ID", "").strip()
    timestamp = meta.get("HTTP_X_TIMESTAMP", "").strip()
    nonce = meta.get("HTTP_X_NONCE", "").strip()
    signature = meta.get("HTTP_X_SIGNATURE", "").strip()
    entry = _CLIENTS.get(client_id)
    if entry is None or not (_TIMESTAMP_RE.fullmatch(timestamp) and NONCE_RE.fullmatch(nonce)):
        return None
    refusal = signature_refusal(
        entry, request.method, request.get_full_path(), request.body, int(timestamp), nonce, signature, ip=client_ip(request)
    )
    if refusal is not None or entry.platforms or not entry.client.has_scope(scope):
        return None
    return entry, nonce


class SignatureAuthentication(BaseAuthentication):
    """DRF authentication: every request to the partner API is signed (see the module docstring)."""

    def authenticate(self, request):
        client_id, timestamp, nonce, signature = (_header(request, name) for name in SIGNING_HEADERS)
        if not (client_id and timestamp and nonce and signature):
            raise MissingSignatureHeadersError()
        if not _TIMESTAMP_RE.fullmatch(timestamp):
            raise MissingSignatureHeadersError(_("X-Timestamp must be unix seconds."))
        if not NONCE_RE.fullmatch(nonce):
            raise MissingSignatureHeadersError(_("X-Nonce must be 16 to 64 characters of A-Z, a-z, 0-9, _ and -."))
        request_parts = (request.method, request.get_full_path(), request.body, int(timestamp), nonce, signature)
        entry = _CLIENTS.get(client_id)
        if entry is not None and signature_refusal(entry, *request_parts, ip=client_ip(request)) is None:
            try:
                if not nonce_record(client=entry.client, nonce=nonce, entry=entry):
                    raise ReplayedNonceError()
                return AnonymousUser(), entry.client
            except ClientChangedError:
                pass
        # Not cached, changed, or refused: decided against the row as it is now, as if nothing were cached.
        for _attempt in range(3):
            entry = client_entry(client_id, fresh=True)
            if entry is None:
                raise UnknownClientError()
            refusal = signature_refusal(entry, *request_parts, ip=client_ip(request))
            if refusal is not None:
                raise refusal
            try:
                if not nonce_record(client=entry.client, nonce=nonce, entry=entry):
                    raise ReplayedNonceError()
                return AnonymousUser(), entry.client
            except ClientChangedError:
                continue  # changed between the read and the insert: read it again
        raise UnknownClientError()

    def authenticate_header(self, request):
        return "Signature"


class HasScope(BasePermission):
    """A view names its operation scope in ``required_scope`` (``"accounts:read"``, ...).

    A platform's client (``platform:<code>`` scopes) passes only views marked ``platform_endpoint =
    True`` (which check the code in the path themselves); everywhere else it is refused with 403
    ``platform_scope_refused``, whatever other scope it holds."""

    def has_permission(self, request, view):
        client = request.auth
        if not isinstance(client, ApiClient):
            raise MissingSignatureHeadersError()
        if getattr(view, "platform_endpoint", False):
            return True
        if client_platform_codes(client):
            raise PlatformScopeRefusedError()
        scope = getattr(view, "required_scope", None)
        if scope and not client.has_scope(scope):
            raise ForbiddenScopeError()
        return True


def client_sees_account(client: ApiClient, account) -> bool:
    """Account visibility: ``*``, ``account:<number>`` or ``party:<party id>`` of the owner.

    Only customer accounts are ever visible: ``*`` means every customer account, and an internal
    account of the bank (no owner party, kind ``internal``: clearing, transit, fee income, ...) is
    invisible to every scope, so the API answers it 404 like an account that does not exist.
    So is every account in a P2P platform's books (``owner`` ``platform:<code>``: its own funds, its
    clients' depository sub-accounts): the generic endpoints never read or move them; only that
    platform's custody endpoints do (R-DEP-01, R-DEP-03)."""
    if account.party_id is None or getattr(account, "kind", None) == "internal":
        return False
    if getattr(account, "owner", ""):
        return False
    scopes = set(client.scopes)
    if "*" in scopes or f"account:{account.number}" in scopes:
        return True
    return account.party_id is not None and f"party:{account.party_id}" in scopes


def ledger_client(client: ApiClient) -> str:
    """The ledger's ``client`` name for postings made through the API by this partner."""
    return f"api:{client.client_id}"


class SignatureAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the signing scheme in the OpenAPI schema: security scheme ``signature``, an API key in
    ``X-Client-Id`` whose description gives the three other headers and the string to sign. A generated client sends
    the client id as its "token" (header ``X-Client-Id``, no prefix) and an HTTP auth hook adds the rest over the
    exact bytes sent (README "Partner API")."""

    target_class = SignatureAuthentication
    name = "signature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": HEADER_CLIENT_ID,
            "description": SCHEME_DESCRIPTION,
        }


SCHEME_DESCRIPTION = """Every request is signed with the client's secret (HMAC-SHA256). Send four headers:

- `X-Client-Id`: the client id (this scheme's key);
- `X-Timestamp`: unix seconds, at most 300 s off the server clock;
- `X-Nonce`: 16-64 characters of `[A-Za-z0-9_-]`, never reused by the client within 24 h;
- `X-Signature`: lower-case hex `HMAC-SHA256(secret, string_to_sign)`.

The string to sign is five lines joined by `\\n` (no trailing newline):

```
METHOD            upper case: POST
PATH_WITH_QUERY   the path exactly as sent, with "?" and the query if any: /api/v1/accounts/6228000000000001/entries?page=2
TIMESTAMP         the X-Timestamp value
NONCE             the X-Nonce value
BODY_SHA256       lower-case hex SHA-256 of the exact body bytes sent (of the empty string for a GET)
```

The signature covers the exact body bytes: sign after serialising, and send those bytes unchanged (no re-encoding,
no added whitespace). A generated client signs in an HTTP auth hook that sees the final request (README, "Partner
API"). Refusals: 401 `missing_signature_headers`, `unknown_client`, `stale_timestamp`, `bad_signature`,
`replayed_nonce`; 403 `ip_not_allowed`."""
