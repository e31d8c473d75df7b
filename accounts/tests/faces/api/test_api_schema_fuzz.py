"""Schemathesis against the live schema (issue #9): every operation, a few generated requests each, signed as a real
client would sign them; no answer is a 5xx, and every answer matches the schema (status, content type, body).

The requests go in-process to the Django WSGI application through a wrapper that signs each one (the generated
signing headers are replaced by valid ones over the exact bytes sent), so the fuzzing reaches the views rather than
stopping at 401. A small ``max_examples`` keeps the test well under a minute.
"""

from __future__ import annotations

import io

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tests.api_helpers import make_credentials
from backoffice.signing import signed_headers

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore")]

MAX_EXAMPLES = 4
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class SigningApp:
    """WSGI middleware: signs every request under /api/v1/ (but the callbacks, which a channel signs) for one client."""

    def __init__(self, app, credentials):
        self.app, self.credentials = app, credentials

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        request = WSGIRequest(dict(environ, **{"wsgi.input": io.BytesIO(body)}))
        path = request.get_full_path()
        if path.startswith("/api/v1/") and "/callbacks/" not in path and not path.startswith("/api/v1/schema/"):
            headers = signed_headers(self.credentials.client_id, self.credentials.secret, environ["REQUEST_METHOD"], path, body)
            for name, value in headers.items():
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        return self.app(environ, start_response)


@pytest.fixture
def fuzz_schema(settings, make_account, fund):
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    fund(make_account(), "100.00")
    app = SigningApp(get_wsgi_application(), make_credentials("*"))
    # As Django's test client does: the requests run inside the test's transaction, so the
    # request signals must not close the connection (on PostgreSQL it is then gone for the next).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", app)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_api_schema_fuzz_no_5xx_and_answers_match_the_schema(fuzz_schema):
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert len(operations) > 15
    failures = []
    statuses: dict[int, int] = {}
    for operation, mode in [(op, mode) for op in operations for mode in GenerationMode]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            response = case.call()
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    assert statuses.get(200, 0) + statuses.get(201, 0) > 0, statuses  # the signing reaches the views
