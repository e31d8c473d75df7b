"""Project-wide pytest fixtures: parties, accounts funded through the real ledger, users, clients."""

from __future__ import annotations

import os
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connection

from accounts.parties.services import account_open, party_create, party_kyc_approve, party_kyc_reject

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")

# Test-only voucher kinds (accounts.ledger.rules): tests that post ad-hoc vouchers between customer
# accounts and the clearing account (the outside world) name them "test", "t", "payment", ... These
# rows exist only under pytest; the application's table knows none of them. "test" may also credit
# the withdrawal transit, fee income and suspense accounts: tests break the transit invariant on
# purpose with it, post an n-leg voucher with a fee, capture a hold into suspense.
TEST_VOUCHER_KINDS = ("test", "t", "payment", "stateful", "stateful_capture", "bid", "repayment", "capture_many")


def _register_test_voucher_kinds() -> None:
    from accounts.ledger.chart import Role
    from accounts.ledger.rules import CUSTOMER_ROLES, POSTING_RULES, register_posting_rule

    either = [*CUSTOMER_ROLES, Role.CLEARING]
    for kind in TEST_VOUCHER_KINDS:
        if kind not in POSTING_RULES:
            extra = [Role.TRANSIT_WITHDRAWAL, Role.FEE_INCOME, Role.SUSPENSE] if kind == "test" else []
            credit = [*either, *extra]
            register_posting_rule(kind, debit=either, credit=credit, purpose="test-only ad-hoc voucher kind")


_register_test_voucher_kinds()

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
def _fast_password_hasher(settings):
    """Every test hashes passwords (users, portal and console sign-ins, transaction passwords) with MD5: Django's
    default PBKDF2 costs about 0.3 s of CPU a hash (1,000,000 iterations), paid hundreds of times a run. Tests whose
    passwords are checked by another process (the chaos bank's servers know the production hashers only) set
    their own."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


def random_id_number(rng=None) -> str:
    """A valid 18-character resident ID number (GB 11643) with a random birth date and sequence."""
    import datetime as dt
    import random

    from accounts.parties import identity

    rng = rng or random.SystemRandom()
    address = rng.choice(["110105", "310104", "440305", "330106", "510107", "340524"])
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 50))
    return identity.make_id_number(address=address, born=born, sequence=rng.randrange(1000))


def random_credit_code(rng=None) -> str:
    """A valid unified social credit code (GB 32100) with a random organisation code."""
    import random

    from accounts.parties import identity

    rng = rng or random.SystemRandom()
    organisation = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return identity.make_credit_code(body="91" + rng.choice(["110105", "310104", "440305"]) + organisation)


def random_mobile(rng=None) -> str:
    import random

    rng = rng or random.SystemRandom()
    return rng.choice(["138", "139", "186", "150"]) + f"{rng.randrange(10**8):08d}"


@pytest.fixture
def make_party(db):
    """Create a valid party through party_create: a person with a random valid ID number and mobile, or an
    organisation with a random valid credit code and a legal representative. KYC is approved unless
    ``kyc="pending_review"`` (or ``"rejected"``) is asked for."""

    def make(
        name: str = "张三",
        type: str = "person",
        *,
        id_number: str | None = None,
        mobile: str | None = None,
        credit_code: str | None = None,
        legal_representative: str | None = None,
        kyc: str = "approved",
    ):
        if type == "person":
            party = party_create(
                type=type, name=name, id_number=id_number or random_id_number(), mobile=mobile or random_mobile()
            )
        else:
            party = party_create(
                type=type,
                name=name,
                credit_code=credit_code or random_credit_code(),
                legal_representative=legal_representative or "法定代表人",
                mobile=mobile,
            )
        if kyc == "approved":
            party = party_kyc_approve(party_id=party.pk, actor_label="test")
        elif kyc == "rejected":
            party = party_kyc_reject(party_id=party.pk, reason="test rejection", actor_label="test")
        return party

    return make


@pytest.fixture
def make_account(db, make_party):
    """Open an account through account_open. Without a tier: corporate for an organisation, Class I for a
    person who has none yet, else Class II (which starts in pending_verification)."""
    from accounts.ledger.chart import Role
    from accounts.ledger.models import Account

    def make(party=None, role: str = Role.LENDER, tier: str | None = None, name: str = "", override_reason: str = ""):
        if party is None:
            party = make_party(type="organisation", name="示例机构 Org") if tier == Account.Tier.CORPORATE else make_party()
        if tier is None:
            if party.type == "organisation":
                tier = Account.Tier.CORPORATE
            else:
                has_class1 = party.accounts.filter(tier=Account.Tier.CLASS_I).exclude(state=Account.State.CLOSED).exists()
                tier = Account.Tier.CLASS_II if has_class1 else Account.Tier.CLASS_I
        return account_open(party=party, role=role, tier=tier, name=name, override_reason=override_reason)

    return make


@pytest.fixture
def clearing(db):
    from accounts.ledger.chart import Role
    from accounts.ledger.selectors import internal_account

    return internal_account(Role.CLEARING)


@pytest.fixture
def fund(db, clearing):
    """Credit a customer account from the clearing account through the real ledger."""
    from accounts.ledger import postings as ledger

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
