"""Liveness (/healthz) and readiness (/readyz) probes for load balancers and orchestrators."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return False, exc.__class__.__name__


# A probe must answer fast: one connection attempt, bounded by this many seconds.
BROKER_TIMEOUT = 1.5


def _broker_ok() -> tuple[bool, str]:
    url = settings.CELERY_BROKER_URL
    if not url:
        return True, "not configured (tasks run inline)"
    from backoffice.celery_app import app

    # The URL is read from settings on every probe (app.conf caches the value it first saw), and
    # the attempt is made once: kombu's default retry would sleep for seconds between tries.
    try:
        with app.connection_for_write(
            url=url,
            connect_timeout=BROKER_TIMEOUT,
            transport_options={"socket_timeout": BROKER_TIMEOUT, "socket_connect_timeout": BROKER_TIMEOUT},
        ) as conn:
            conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT)
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return False, exc.__class__.__name__


@require_GET
@never_cache
def readyz(request):
    db_ok, db_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    ready = db_ok and broker_ok
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": {"database": db_detail, "broker": broker_detail}},
        status=200 if ready else 503,
    )
