"""Browser tests: Playwright driving Debian's chromium (/usr/bin/chromium), never a downloaded browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make to
# set up data would otherwise raise SynchronousOnlyOperation. Only the browser tests need this.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason="/usr/bin/chromium is absent: apt-get install --no-install-recommends chromium")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {"executable_path": str(CHROMIUM), "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def _reference_data_in_the_browser_context(_serialized_reference_data):
    """Give the browser test's database connection the migrated reference data.

    Playwright's sync API keeps an event loop running, so Django hands the test a connection
    of its own (connections are context-local), one that lacks the serialized contents
    pytest-django restores for ``serialized_rollback``: after an earlier transactional test's
    flush, the chart, internal accounts and groups would be missing. Put them back, and mark
    the connection so that this test's own closing flush keeps them restorable.
    """
    from django.db import connection

    from accounts.ledger.models import Subject

    if _serialized_reference_data is None:
        yield
        return
    connection._test_serialized_contents = _serialized_reference_data
    if not Subject.objects.exists():
        connection.creation.deserialize_db_from_string(_serialized_reference_data)
    yield
