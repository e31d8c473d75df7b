"""POST /api/v1/transfers/ between a Class II/III account and its own bound Class I account is a
bound-account flow for the tier limits (R-ACC-08, R-ACC-10); API postings write an audit row
with the actor ``api:<client_id>`` (transfers, holds, releases, captures)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.cards.models import BoundCard
from accounts.ledger.checks import ledger_drift
from accounts.ledger.models import Account, Hold, Transfer
from accounts.limits.models import LimitCounter
from accounts.states.services import account_change_state
from accounts.tests.api_helpers import signed
from backoffice import crypto
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db
URL = "/api/v1/transfers/"


def bind(account: Account, number: str, *, kind=BoundCard.BoundAccountKind.CLASS_I, state=BoundCard.State.VERIFIED):
    """A card bound to ``account`` whose number is ``number`` (stored as the card service stores it)."""
    return BoundCard.objects.create(
        account=account,
        card_number_encrypted=crypto.encrypt(number),
        card_number_hash=crypto.blind_index(number, purpose="card_number"),
        last4=number[-4:],
        first4=number[:4],
        holder_name=account.party.name,
        holder_id_hash="x",
        reserved_mobile_encrypted=crypto.encrypt("13800000000"),
        reserved_mobile_hash=crypto.blind_index("13800000000", purpose="mobile"),
        bound_account_kind=kind,
        state=state,
    )


@pytest.fixture
def person(make_party):
    return make_party("二类户 Holder")


@pytest.fixture
def class1(person, make_account, fund):
    return fund(make_account(party=person, tier="I"), "100000.00")


def _open(make_account, person, tier):
    account = make_account(party=person, tier=tier)
    account_change_state(account_id=account.pk, action="activate", reason="card verified")
    return Account.objects.get(pk=account.pk)


@pytest.fixture
def class2(person, class1, make_account, fund):
    account = _open(make_account, person, "II")
    bind(account, class1.number)
    return fund(account, "60000.00")


@pytest.fixture
def api(client, person):
    return signed(client, "transfers:write", "holds:write", f"party:{person.pk}")


def _balance(account) -> Decimal:
    return Account.objects.get(pk=account.pk).balance


def test_r_acc_08_class2_to_its_own_bound_class1_is_not_counted(api, class1, class2):
    # when a Class II holder moves 50,000.00 to their own bound Class I account at this bank
    response = api.post(URL, {"from_account": class2.number, "to_account": class1.number, "amount": "50000.00"})
    # then it is a bound-account flow: above the 10,000.00 daily non-bound limit, and counted nowhere
    assert response.status_code == 201, response.json()
    assert _balance(class2) == Decimal("10000.00")
    assert not LimitCounter.objects.exists()
    assert ledger_drift() == []


def test_r_acc_08_class1_to_its_bound_class2_is_not_counted_either(api, class1, class2):
    response = api.post(URL, {"from_account": class1.number, "to_account": class2.number, "amount": "30000.00"})
    assert response.status_code == 201, response.json()
    assert _balance(class2) == Decimal("90000.00")
    assert not LimitCounter.objects.exists()


def test_r_acc_07_class1_of_the_same_person_that_is_not_the_bound_card_is_non_bound(api, person, make_account, fund):
    # given a Class II account bound to another card (not the Class I account at this bank)
    class1 = fund(make_account(party=person, tier="I"), "10.00")
    class2 = _open(make_account, person, "II")
    bind(class2, "6228480402564890018")
    class2 = fund(class2, "20000.00")
    response = api.post(URL, {"from_account": class2.number, "to_account": class1.number, "amount": "10000.01"})
    assert response.status_code == 409, response.json()
    assert response.json()["data"] == {"limit": "II_outflow_day", "remaining": "10000.00"}


@pytest.mark.parametrize(
    "kind,state",
    [
        (BoundCard.BoundAccountKind.CLASS_I, BoundCard.State.AWAITING_MICRO_DEPOSIT),  # not verified yet
        (BoundCard.BoundAccountKind.CREDIT_CARD, BoundCard.State.VERIFIED),  # not bound as a Class I account
    ],
)
def test_r_acc_07_an_unverified_or_other_kind_binding_is_non_bound(api, person, class1, make_account, fund, kind, state):
    class2 = _open(make_account, person, "II")
    bind(class2, class1.number, kind=kind, state=state)
    class2 = fund(class2, "20000.00")
    response = api.post(URL, {"from_account": class2.number, "to_account": class1.number, "amount": "10000.01"})
    assert response.status_code == 409
    assert response.json()["code"] == "limit_exceeded"


def test_r_acc_10_class3_from_its_bound_class1_is_a_bound_inflow_under_the_balance_cap(api, person, class1, make_account):
    # given a Class III account bound to the person's Class I account at this bank
    class3 = _open(make_account, person, "III")
    bind(class3, class1.number)
    # a bound inflow is allowed (no non-bound enablement needed) but still capped at 2,000.00
    over = api.post(URL, {"from_account": class1.number, "to_account": class3.number, "amount": "2000.01"})
    assert over.status_code == 409 and over.json()["data"]["limit"] == "III_balance_moment"
    ok = api.post(URL, {"from_account": class1.number, "to_account": class3.number, "amount": "2000.00"})
    assert ok.status_code == 201, ok.json()
    assert Account.objects.get(pk=class3.pk).verifying_inflow_at is not None  # R-ACC-12: the verifying inflow
    # and back to the bound account: not counted in the Class III outflow bucket (2,000.00 a day)
    back = api.post(URL, {"from_account": class3.number, "to_account": class1.number, "amount": "2000.00"})
    assert back.status_code == 201, back.json()
    assert not LimitCounter.objects.filter(bucket="outflow").exists()


def test_api_transfer_writes_an_audit_row_as_the_client(api, class1, class2):
    body = {"from_account": class1.number, "to_account": class2.number, "amount": "1.00"}
    response = api.post(URL, body, idempotency_key="audit-1")
    assert response.status_code == 201
    row = AuditLog.objects.get(action="transfer.create")
    assert row.actor_label == f"api:{api.credentials.client_id}" and row.actor is None
    assert (row.target_type, row.target_id) == ("accounts.transfer", str(response.json()["id"]))
    assert row.data["amount"] == "1.00" and row.data["from_account"] == class1.number
    # a replay of the same key writes nothing more
    again = api.post(URL, body, idempotency_key="audit-1")
    assert again.status_code == 201
    assert AuditLog.objects.filter(action="transfer.create").count() == 1
    assert Transfer.objects.filter(kind="transfer").count() == 1


def test_api_refused_transfer_writes_no_audit_row(api, class1, class2):
    response = api.post(URL, {"from_account": class1.number, "to_account": class2.number, "amount": "999999.00"})
    assert response.status_code == 409
    assert not AuditLog.objects.filter(action="transfer.create").exists()


def test_api_hold_place_release_and_capture_write_audit_rows_as_the_client(api, class1, class2):
    label = f"api:{api.credentials.client_id}"
    placed = api.post("/api/v1/holds/", {"account": class1.number, "amount": "10.00"})
    assert placed.status_code == 201, placed.json()
    first = placed.json()["id"]
    released = api.post(f"/api/v1/holds/{first}/release/")
    assert released.status_code == 200, released.json()
    second = api.post("/api/v1/holds/", {"account": class1.number, "amount": "20.00"}).json()["id"]
    captured = api.post(f"/api/v1/holds/{second}/capture/", {"to_account": class2.number, "amount": "5.00"})
    assert captured.status_code == 200, captured.json()
    rows = {(r.action, r.target_id) for r in AuditLog.objects.filter(actor_label=label)}
    assert rows == {
        ("hold.create", str(first)),
        ("hold.release", str(first)),
        ("hold.create", str(second)),
        ("hold.capture", str(second)),
    }
    capture = AuditLog.objects.get(action="hold.capture")
    assert str(capture.data["transfer"]) == captured.json()["transfer"]["id"] and capture.data["amount"] == "5.00"
    assert Hold.objects.get(pk=second).state == Hold.State.CAPTURED
