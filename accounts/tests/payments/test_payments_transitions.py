"""Every django-fsm transition of withdrawals, recharges and manual resolutions: the allowed
sources move, every other state is refused with TransitionNotAllowed (409 in the API); the
protected state field cannot be written directly."""

from __future__ import annotations

import pytest
from django_fsm import TransitionNotAllowed

from accounts.payments.models import Recharge, Withdrawal, WithdrawalResolution
from accounts.tests.payments_fixtures import *  # noqa: F401,F403

W = Withdrawal.State
R = Recharge.State

WITHDRAWAL = {
    "mark_funds_held": ({W.CREATED}, W.FUNDS_HELD),
    "mark_submitted": ({W.FUNDS_HELD, W.SUBMITTED}, W.SUBMITTED),
    "mark_unknown": ({W.SUBMITTED, W.UNKNOWN}, W.UNKNOWN),
    "mark_succeeded": ({W.SUBMITTED, W.UNKNOWN}, W.SUCCEEDED),
    "mark_failed": ({W.SUBMITTED, W.UNKNOWN}, W.FAILED),
    "mark_returned": ({W.SUCCEEDED}, W.RETURNED),
}
RECHARGE = {
    "mark_submitted": ({R.CREATED, R.SUBMITTED}, R.SUBMITTED),
    "mark_unknown": ({R.SUBMITTED, R.UNKNOWN}, R.UNKNOWN),
    "mark_succeeded": ({R.SUBMITTED, R.UNKNOWN}, R.SUCCEEDED),
    "mark_failed": ({R.CREATED, R.SUBMITTED, R.UNKNOWN}, R.FAILED),
}
RESOLUTION = {
    "approve": ({WithdrawalResolution.State.PENDING}, WithdrawalResolution.State.APPROVED),
    "reject": ({WithdrawalResolution.State.PENDING}, WithdrawalResolution.State.REJECTED),
}


def cases(model, table):
    for name, (sources, target) in table.items():
        for state in model.State.values:
            yield pytest.param(model, name, state, target if state in sources else None, id=f"{model.__name__}.{name}:{state}")


@pytest.mark.parametrize(
    "model, name, state, target",
    [*cases(Withdrawal, WITHDRAWAL), *cases(Recharge, RECHARGE), *cases(WithdrawalResolution, RESOLUTION)],
)
def test_transition_allowed_only_from_its_sources(model, name, state, target):
    obj = model(state=state)
    if target is None:
        with pytest.raises(TransitionNotAllowed):
            getattr(obj, name)()
        assert obj.state == state
    else:
        getattr(obj, name)()
        assert obj.state == target


def test_r_wd_03_unknown_never_becomes_failed_or_succeeded_except_by_the_two_definitive_transitions():
    names = [name for name, (sources, _target) in WITHDRAWAL.items() if W.UNKNOWN in sources]
    assert sorted(names) == ["mark_failed", "mark_succeeded", "mark_unknown"]


@pytest.mark.parametrize("model", [Withdrawal, Recharge, WithdrawalResolution])
def test_state_cannot_be_written_directly(model):
    obj = model()
    with pytest.raises(AttributeError):
        obj.state = "succeeded"


@pytest.mark.django_db
def test_manual_resolution_refusals(customer, fund, channel, sim, django_capture_on_commit_callbacks, django_user_model):
    from accounts.payments import withdrawals
    from accounts.tests.payments_fixtures import PASSWORD_AUTH
    from backoffice.errors import FieldValidationError, InvalidStateError

    account = fund(customer(), "100.00")
    maker, checker = (django_user_model.objects.create_user(name) for name in ("m", "c"))
    with django_capture_on_commit_callbacks(execute=True):
        paid = withdrawals.withdrawal_create(
            client="t", out_request_no="a", account=account, amount="1.00", authorization=PASSWORD_AUTH
        )
    # a withdrawal that is not unknown cannot be resolved by hand
    with pytest.raises(InvalidStateError):
        withdrawals.withdrawal_resolution_propose(withdrawal_id=paid.pk, outcome="failed", evidence="x" * 20, maker=maker)
    sim.script_next(submit="timeout", then="success")
    with django_capture_on_commit_callbacks(execute=True):
        unknown = withdrawals.withdrawal_create(
            client="t", out_request_no="b", account=account, amount="1.00", authorization=PASSWORD_AUTH
        )
    with pytest.raises(FieldValidationError):
        withdrawals.withdrawal_resolution_propose(withdrawal_id=unknown.pk, outcome="failed", evidence="short", maker=maker)
    with pytest.raises(FieldValidationError):
        withdrawals.withdrawal_resolution_propose(withdrawal_id=unknown.pk, outcome="maybe", evidence="x" * 20, maker=maker)
    proposal = withdrawals.withdrawal_resolution_propose(
        withdrawal_id=unknown.pk, outcome="failed", evidence="x" * 20, maker=maker
    )
    with pytest.raises(InvalidStateError):  # one pending proposal at a time
        withdrawals.withdrawal_resolution_propose(withdrawal_id=unknown.pk, outcome="failed", evidence="y" * 20, maker=checker)
    with pytest.raises(withdrawals.MakerCheckerError):
        withdrawals.withdrawal_resolution_reject(resolution_id=proposal.pk, checker=maker)
    withdrawals.withdrawal_resolution_reject(resolution_id=proposal.pk, checker=checker, note="no evidence")
    with pytest.raises(InvalidStateError):  # decided already
        withdrawals.withdrawal_resolution_approve(resolution_id=proposal.pk, checker=checker)
    assert Withdrawal.objects.get(pk=unknown.pk).state == W.UNKNOWN
