"""The new state machines refuse every transition from a state it does not start from (django-fsm),
and their state fields cannot be written directly (protected)."""

from __future__ import annotations

import pytest
from django_fsm import TransitionNotAllowed

from accounts.exports.models import ExportJob
from merchants.models import HeldAdjustment, HeldItem, MerchantPayout, SettlementBatch

REFUSED = [
    (ExportJob, ExportJob.State.QUEUED, "finish"),
    (ExportJob, ExportJob.State.DONE, "start"),
    (ExportJob, ExportJob.State.DONE, "fail"),
    (ExportJob, ExportJob.State.FAILED, "finish"),
    (HeldItem, HeldItem.State.MATCHED_LATE, "suspend"),
    (HeldItem, HeldItem.State.SUSPENSE, "match_late"),
    (HeldItem, HeldItem.State.WAITING, "propose"),
    (HeldItem, HeldItem.State.SUSPENSE, "adjust"),
    (HeldItem, HeldItem.State.ADJUSTED, "reject"),
    (HeldAdjustment, HeldAdjustment.State.APPROVED, "reject"),
    (HeldAdjustment, HeldAdjustment.State.REJECTED, "approve"),
    (MerchantPayout, MerchantPayout.State.AWAITING_CHECK, "propose"),
    (MerchantPayout, MerchantPayout.State.SUCCEEDED, "propose"),
    (SettlementBatch, SettlementBatch.State.SETTLED, "resolve"),
    (SettlementBatch, SettlementBatch.State.RESOLVED, "resolve"),
]


@pytest.mark.parametrize("model, state, transition", REFUSED, ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_transition_from_the_wrong_state_is_refused(model, state, transition):
    obj = model(state=state)
    with pytest.raises(TransitionNotAllowed):
        getattr(obj, transition)()
    assert obj.state == state


@pytest.mark.parametrize("model", [ExportJob, HeldItem, HeldAdjustment])
def test_the_state_field_cannot_be_written_directly(model):
    obj = model()
    with pytest.raises(AttributeError):
        obj.state = "anything"
