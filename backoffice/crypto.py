"""Personal data at rest: encryption (Fernet, AES-128-CBC + HMAC-SHA256) and keyed search hashes.

Identity numbers, card numbers and mobiles are stored only encrypted, next to a keyed hash
(HMAC-SHA256 with a separate key) so that an exact search never decrypts anything. The keys come
from settings (``PII_ENCRYPTION_KEYS``: the first encrypts, every one decrypts, so keys rotate;
``PII_HASH_KEY``). In embedded mode they are derived from SECRET_KEY.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class PersonalDataError(ValueError):
    """Ciphertext that no configured key opens."""


def _derive(label: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(f"{label}:{settings.SECRET_KEY}".encode()).digest())


@functools.lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def _keys() -> tuple[str, ...]:
    keys = tuple(settings.PII_ENCRYPTION_KEYS) or (_derive("pii-encryption").decode(),)
    return keys


def _hash_key() -> bytes:
    return settings.PII_HASH_KEY.encode() if settings.PII_HASH_KEY else _derive("pii-hash")


def encrypt(plaintext: str) -> str:
    if plaintext == "":
        return ""
    return _fernet(_keys()).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    if ciphertext == "":
        return ""
    try:
        return _fernet(_keys()).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise PersonalDataError("personal data cannot be decrypted with the configured keys") from exc


def rotate(ciphertext: str) -> str:
    """Re-encrypt under the first (newest) key; for a key-rotation job."""
    if ciphertext == "":
        return ""
    try:
        return _fernet(_keys()).rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise PersonalDataError("personal data cannot be decrypted with the configured keys") from exc


def blind_index(value: str, *, purpose: str) -> str:
    """A keyed hash of a normalised value, for exact search (``purpose`` separates the namespaces)."""
    if value == "":
        return ""
    return hmac.new(_hash_key(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def mask_id_number(value: str) -> str:
    """``110105********002X``: the first 6 and last 4 characters."""
    if not value:
        return ""
    if len(value) <= 10:
        return value[:2] + "*" * max(len(value) - 4, 0) + value[-2:]
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_card_number(value: str) -> str:
    """``6228 **** **** 0018``: the first and last four digits, in groups of four."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * (len(value) - 4) + value[-4:] if len(value) > 4 else "*" * len(value)
    return f"{value[:4]} **** **** {value[-4:]}"


def mask_credit_code(value: str) -> str:
    """``913501********0Y43``: a credit code is shown like an ID number (first 6, last 4)."""
    return mask_id_number(value)


def mask_mobile(value: str) -> str:
    """``138****0000``."""
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
