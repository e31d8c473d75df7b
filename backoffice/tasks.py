"""Periodic tasks of the shared kernel. Thin: each calls the function that does the work."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="backoffice.purge_nonces")
def purge_nonces() -> dict[str, int]:
    """Forget API nonces older than API_NONCE_TTL and idempotency records older than API_IDEMPOTENCY_TTL.

    Safe to run at any time and any number of times. Schedule it hourly (django-celery-beat).
    """
    from backoffice.idempotency import idempotency_records_purge
    from backoffice.signing import nonces_purge

    return {"nonces": nonces_purge(), "idempotency_records": idempotency_records_purge()}
