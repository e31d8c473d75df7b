"""The working-day calendar: weekends off, holidays off, make-up days (调休) on."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.cards.models import Holiday
from accounts.workdays import add_working_days, is_working_day, next_working_day, working_days_between

pytestmark = pytest.mark.django_db

D = dt.date.fromisoformat


def test_weekdays_work_and_weekends_do_not_by_default():
    assert is_working_day(D("2030-01-07"))  # Monday
    assert is_working_day(D("2030-01-04")) and not is_working_day(D("2030-01-05")) and not is_working_day(D("2030-01-06"))


def test_holiday_is_off_and_make_up_day_is_on():
    Holiday.objects.create(date=D("2030-01-07"), name="假日", is_working_day=False)
    Holiday.objects.create(date=D("2030-01-05"), name="调休", is_working_day=True)
    assert not is_working_day(D("2030-01-07")) and is_working_day(D("2030-01-05"))


def test_add_working_days_across_a_weekend():
    friday = D("2030-01-04")
    assert add_working_days(friday, 0) == friday
    assert add_working_days(friday, 1) == D("2030-01-07")
    assert add_working_days(friday, 5) == D("2030-01-11")
    assert add_working_days(friday, 6) == D("2030-01-14")
    with pytest.raises(ValueError):
        add_working_days(friday, -1)


def test_add_working_days_skips_holidays_and_counts_make_up_days():
    Holiday.objects.create(date=D("2030-01-07"), name="假日", is_working_day=False)
    Holiday.objects.create(date=D("2030-01-12"), name="调休", is_working_day=True)
    friday = D("2030-01-04")
    assert add_working_days(friday, 1) == D("2030-01-08")
    assert add_working_days(friday, 5) == D("2030-01-12")  # the make-up Saturday counts
    assert add_working_days(friday, 6) == D("2030-01-14")
    assert working_days_between(friday, D("2030-01-14")) == 6
    assert working_days_between(D("2030-01-14"), friday) == 0
    assert next_working_day(D("2030-01-06")) == D("2030-01-08") and next_working_day(friday) == friday


def test_r_ver_06_day_7_vs_day_8_across_mid_autumn_and_national_day_2026():
    """Wed 2026-09-23: Thu 24 (1); Fri 25 - Sun 27 Mid-Autumn; Mon 28 - Wed 30 (2-4); Oct 1-7 off;
    Thu 8, Fri 9 (5, 6); Sat 10 make-up day (7); Sun 11 off; Mon 12 (8)."""
    start = D("2026-09-23")
    assert add_working_days(start, 7) == D("2026-10-10")
    assert add_working_days(start, 8) == D("2026-10-12")


def test_add_working_days_over_a_long_span():
    assert add_working_days(D("2026-01-01"), 250) > D("2026-12-01")
    assert working_days_between(D("2026-01-01"), add_working_days(D("2026-01-01"), 250)) == 250


def test_2026_calendar_is_seeded():
    assert not is_working_day(D("2026-10-01")) and not is_working_day(D("2026-02-17"))
    assert is_working_day(D("2026-02-14")) and is_working_day(D("2026-10-10")) and is_working_day(D("2026-01-04"))
    assert Holiday.objects.filter(date__year=2026, is_working_day=False).count() >= 30
