"""The API kit's shared pieces (backoffice.api): per-operation component names, the one 404 rule, the date range."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from accounts.api.serializers import HoldSerializer
from backoffice.api import DateRangeFilterSerializer, component, found_or_404
from backoffice.errors import NotFoundError


def test_component_is_the_same_shape_under_its_own_name():
    named = component(HoldSerializer, "HoldCreated")
    assert issubclass(named, HoldSerializer)
    assert named.Meta.ref_name == "HoldCreated"
    assert HoldSerializer.Meta.ref_name == "Hold"  # the shared shape keeps its own name
    assert list(named().fields) == list(HoldSerializer().fields)


def test_found_or_404_answers_missing_and_invisible_alike():
    assert found_or_404("x", "No such thing.") == "x"
    assert found_or_404("x", "No such thing.", lambda obj: True) == "x"
    for obj, sees in ((None, None), (None, lambda obj: True), ("x", lambda obj: False)):
        with pytest.raises(NotFoundError) as caught:
            found_or_404(obj, "No such thing.", sees)
        assert str(caught.value) == "No such thing."


class _Range(DateRangeFilterSerializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


def test_date_range_must_not_be_reversed():
    assert _Range(data={"date_from": "2026-01-02", "date_to": "2026-01-02"}).is_valid()
    reversed_range = _Range(data={"date_from": "2026-01-03", "date_to": "2026-01-02"})
    assert not reversed_range.is_valid()
    assert list(reversed_range.errors) == ["date_to"]
    assert _Range(data={"date_from": "2026-01-03"}).is_valid()
