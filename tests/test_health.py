"""Liveness and readiness probes: /healthz and /readyz."""

from __future__ import annotations

import os
import time

import pytest

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"

# WhiteNoise warns when collectstatic has not run (STATIC_ROOT missing); irrelevant to probes.
pytestmark = pytest.mark.filterwarnings("ignore:No directory at:UserWarning")


def test_healthz_answers_200_without_touching_anything(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_healthz_refuses_post(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_200_with_the_database_and_no_broker(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("not configured")


@pytest.mark.django_db
def test_readyz_503_when_the_broker_is_unreachable_and_answers_fast(client, settings):
    settings.CELERY_BROKER_URL = UNREACHABLE_BROKER
    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] != "ok"
    assert elapsed < 3, f"/readyz took {elapsed:.1f}s"


@pytest.mark.django_db
@pytest.mark.skipif(not os.environ.get("CELERY_BROKER_URL"), reason="needs a reachable broker: set CELERY_BROKER_URL")
def test_readyz_200_when_the_configured_broker_is_reachable(client, settings):
    settings.CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"] == "ok"


@pytest.mark.django_db
def test_readyz_checks_the_url_in_settings_not_a_cached_one(client, settings):
    # first with no broker (ready), then the same process pointed at a dead one (not ready)
    settings.CELERY_BROKER_URL = ""
    assert client.get("/readyz").status_code == 200
    settings.CELERY_BROKER_URL = UNREACHABLE_BROKER
    assert client.get("/readyz").status_code == 503
