"""accounts.conf: one style for every setting; Django settings first, then the environment, then the default."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts import conf


def test_conf_defaults_are_the_domain_numbers():
    assert conf.max_class2_per_person() == 5
    assert conf.daily_count() == 40
    assert conf.otp_ttl() == dt.timedelta(seconds=120)
    assert conf.non_activity_voucher_kinds() == ("interest", "fee", "judicial_deduction")


def test_conf_reads_the_environment_as_the_default_type(monkeypatch):
    monkeypatch.setenv("ACCOUNTS_WITHDRAWAL_DAILY_COUNT", "12")
    monkeypatch.setenv("ACCOUNTS_NON_ACTIVITY_VOUCHER_KINDS", "interest, fee")
    monkeypatch.setenv("ACCOUNTS_KYC_OVERDUE_ACTION", "suspend_non_counter")
    assert conf.daily_count() == 12
    assert conf.non_activity_voucher_kinds() == ("interest", "fee")
    assert conf.kyc_overdue_action() == "suspend_non_counter"


def test_conf_django_settings_win_over_the_environment(monkeypatch, settings):
    monkeypatch.setenv("ACCOUNTS_WITHDRAWAL_DAILY_COUNT", "12")
    settings.ACCOUNTS_WITHDRAWAL_DAILY_COUNT = 3
    assert conf.daily_count() == 3


def test_conf_a_bad_environment_value_is_named(monkeypatch):
    monkeypatch.setenv("ACCOUNTS_OTP_TTL_SECONDS", "two minutes")
    with pytest.raises(ImproperlyConfigured, match="ACCOUNTS_OTP_TTL_SECONDS"):
        conf.otp_ttl()
    monkeypatch.setenv("ACCOUNTS_KYC_OVERDUE_ACTION", "close")
    with pytest.raises(ImproperlyConfigured, match="ACCOUNTS_KYC_OVERDUE_ACTION"):
        conf.kyc_overdue_action()
