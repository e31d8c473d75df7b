"""accounts.services: opening accounts and moving them through their states, audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django_fsm import TransitionNotAllowed

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.checks import ledger_drift
from accounts.ledger.errors import InvalidStateError
from accounts.ledger.models import Account, account_number_is_valid
from accounts.parties.services import account_open
from accounts.states.errors import AccountNotClosableError
from accounts.states.services import account_change_state
from backoffice.models import AuditLog

D = Decimal


@pytest.fixture(autouse=True)
def _ledger_stays_clean(db):
    yield
    assert ledger_drift() == []


def audits(account, action=None):
    rows = AuditLog.objects.filter(target_type="accounts.account", target_id=str(account.pk))
    if action:
        rows = rows.filter(action=action)
    return list(rows.order_by("id"))


def state_of(account) -> str:
    return Account.objects.get(pk=account.pk).state


@pytest.mark.parametrize(
    "tier, expected",
    [("I", "active"), ("II", "pending_verification"), ("III", "pending_verification"), ("corporate", "active")],
)
def test_account_open_initial_state_by_tier(make_party, tier, expected):
    organisation = tier == "corporate"
    party = make_party(type="organisation", name="示例机构 Org") if organisation else make_party()
    role = Role.MERCHANT if organisation else Role.LENDER
    account = account_open(party=party, role=role, tier=tier)
    assert account.state == expected
    assert state_of(account) == expected
    assert account.kind == Account.Kind.CUSTOMER and account.party_id == party.pk
    assert account.name == party.name
    assert account_number_is_valid(account.number) and account.number.startswith("62300")
    assert (account.balance, account.frozen) == (D("0.00"), D("0.00"))
    assert account.subject_id == ("201201" if organisation else "201101") and account.normal_side == "C"
    [row] = audits(account, "account.open")
    assert row.data == {"role": role, "tier": tier, "party": party.pk}
    assert row.actor_label == "system"


def test_account_open_merchant_maps_to_corporate_deposits(make_party):
    account = account_open(party=make_party("商户", "organisation"), role=Role.MERCHANT, tier="corporate", name="Shop")
    assert (account.subject_id, account.name) == ("201201", "Shop")


@pytest.mark.parametrize("role", [Role.CLEARING, Role.FEE_INCOME, "nonsense"])
def test_account_open_refuses_internal_or_unknown_roles(make_party, role):
    party = make_party()
    with pytest.raises(InvalidStateError):
        account_open(party=party, role=role, tier="I")
    assert not Account.objects.filter(party=party).exists()


def test_account_open_records_the_actor_label(make_party):
    account = account_open(party=make_party(), role=Role.LENDER, tier="I", actor_label="partner-bank")
    assert audits(account, "account.open")[0].actor_label == "partner-bank"


ALLOWED = [
    # (start-up actions, action, expected state)
    (("activate",), None, "active"),
    ((), "freeze", "frozen"),
    (("freeze",), "unfreeze", "active"),
    ((), "mark_dormant", "dormant"),
    (("mark_dormant",), "reactivate", "active"),
    (("mark_dormant",), "freeze", "frozen"),
    ((), "suspend_non_counter", "non_counter_suspended"),
    (("suspend_non_counter",), "restore_non_counter", "active"),
    (("suspend_non_counter",), "freeze", "frozen"),
    ((), "close", "closed"),
    (("mark_dormant",), "close", "closed"),
]


@pytest.mark.parametrize("setup, action, expected", ALLOWED)
def test_account_change_state_allowed_transitions_are_saved_and_audited(make_account, setup, action, expected):
    tier = "II" if setup[:1] == ("activate",) else "I"
    account = make_account(tier=tier)
    for step in setup:
        account_change_state(account_id=account.pk, action=step)
    if action:
        before = state_of(account)
        changed = account_change_state(account_id=account.pk, action=action, reason="because")
        assert changed.state == expected
        row = audits(account, f"account.{action}")[-1]
        assert row.data == {"from": before, "to": expected, "reason": "because"}
    assert state_of(account) == expected


REFUSED = [
    ((), "activate"),  # already active
    ((), "unfreeze"),
    ((), "reactivate"),
    ((), "restore_non_counter"),
    (("freeze",), "freeze"),
    (("freeze",), "mark_dormant"),
    (("freeze",), "close"),
    (("mark_dormant",), "suspend_non_counter"),
    (("close",), "activate"),
    (("close",), "freeze"),
    (("close",), "close"),
]


@pytest.mark.parametrize("setup, action", REFUSED)
def test_account_change_state_refused_transitions_raise_invalid_state(make_account, setup, action):
    account = make_account()
    for step in setup:
        account_change_state(account_id=account.pk, action=step)
    before, rows = state_of(account), len(audits(account))
    with pytest.raises(InvalidStateError) as excinfo:
        account_change_state(account_id=account.pk, action=action)
    assert not isinstance(excinfo.value, TransitionNotAllowed)
    assert excinfo.value.code == "invalid_state" and excinfo.value.data == {"state": before}
    assert state_of(account) == before
    assert len(audits(account)) == rows


def test_account_change_state_pending_account_can_only_be_activated(make_account):
    account = make_account(tier="III")
    for action in ("freeze", "mark_dormant", "suspend_non_counter", "close", "unfreeze"):
        with pytest.raises(InvalidStateError):
            account_change_state(account_id=account.pk, action=action)
    assert state_of(account) == "pending_verification"
    account_change_state(account_id=account.pk, action="activate")
    assert state_of(account) == "active"


def test_account_change_state_unknown_action_refused(make_account):
    account = make_account()
    with pytest.raises(InvalidStateError):
        account_change_state(account_id=account.pk, action="delete")
    with pytest.raises(InvalidStateError):
        account_change_state(account_id=account.pk, action="__class__")
    assert state_of(account) == "active"


def test_account_change_state_internal_accounts_refused(clearing):
    with pytest.raises(InvalidStateError):
        account_change_state(account_id=clearing.pk, action="freeze")
    assert state_of(clearing) == "active"


def test_account_close_only_when_empty(make_account, fund, clearing):
    account = fund(make_account(), "10.00")
    with pytest.raises(AccountNotClosableError):
        account_change_state(account_id=account.pk, action="close")
    assert state_of(account) == "active"
    # money out, but something still frozen: still refused
    ledger.post_transfer(
        client="t",
        idempotency_key="out",
        kind="t",
        legs=ledger.move(from_account_id=account.pk, to_account_id=clearing.pk, amount=D("9.00")),
    )
    hold = ledger.hold_place(client="t", idempotency_key="h", account_id=account.pk, amount=D("1.00"), reason="risk")
    with pytest.raises(AccountNotClosableError):
        account_change_state(account_id=account.pk, action="close")
    ledger.hold_capture(client="t", idempotency_key="c", hold_id=hold.pk, to_account_id=clearing.pk, kind="withdrawal")
    # empty now
    closed = account_change_state(account_id=account.pk, action="close", reason="customer request")
    assert closed.state == "closed"
    assert audits(account, "account.close")[0].data == {"from": "active", "to": "closed", "reason": "customer request"}


def test_account_state_field_is_protected(make_account):
    account = make_account()
    with pytest.raises(AttributeError):
        account.state = Account.State.CLOSED


def test_party_create_is_audited(make_party):
    party = make_party("李四")
    assert AuditLog.objects.filter(action="party.create", target_id=str(party.pk)).exists()
