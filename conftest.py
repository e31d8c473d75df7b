"""Project-wide pytest fixtures: parties, accounts funded through the real ledger, users, clients."""

from __future__ import annotations

import os
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connection

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite ignores SELECT ... FOR UPDATE: run with DATABASE_URL=postgres://... (CI does)",
)


@pytest.fixture(scope="session", autouse=True)
def _serialized_reference_data(django_db_setup):
    """The migrated reference data as pytest-django serialized it (for ``serialized_rollback``)."""
    from django.db import connection

    return getattr(connection, "_test_serialized_contents", None)


@pytest.fixture(autouse=True)
def _eager_celery(request, settings):
    """Unit tests run Celery tasks inline; integration tests (marked) use the real broker."""
    from backoffice.celery_app import app

    if request.node.get_closest_marker("integration"):
        yield
        return
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def make_party(db):
    from accounts import services

    def make(name: str = "张三", type: str = "person"):
        return services.party_create(type=type, name=name)

    return make


@pytest.fixture
def make_account(db, make_party):
    from accounts import services
    from accounts.chart import Role

    def make(party=None, role: str = Role.LENDER, tier: str = "I", name: str = ""):
        return services.account_open(party=party or make_party(), role=role, tier=tier, name=name)

    return make


@pytest.fixture
def clearing(db):
    from accounts.chart import Role
    from accounts.services import internal_account

    return internal_account(Role.CLEARING)


@pytest.fixture
def fund(db, clearing):
    """Credit a customer account from the clearing account through the real ledger."""
    from accounts import ledger

    def do(account, amount):
        ledger.post_transfer(
            client="test-funding",
            idempotency_key=str(uuid4()),
            kind="funding",
            legs=ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=Decimal(str(amount))),
        )
        account.refresh_from_db()
        return account

    return do


@pytest.fixture
def reload():
    """Re-read an account from the database (FSMModelMixin.refresh_from_db skips protected state)."""

    def do(obj):
        return type(obj).objects.get(pk=obj.pk)

    return do


def pytest_collection_modifyitems(items):
    """Transactional tests restore the migrated reference data (chart, internal accounts, groups).

    A ``transaction=True`` test ends with a flush that empties every table, the data migrations'
    rows included; with ``serialized_rollback`` Django puts them back before the next such test.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            kwargs = {**marker.kwargs, "serialized_rollback": True}
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)
