"""One-time codes (R-VER-08): sent to the simulator's SMS outbox, valid once, for 120 s."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from accounts.cards import services as cards
from accounts.cards.models import OneTimeCode
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import MOBILE, at
from backoffice.errors import FieldValidationError
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db

SENT = at("2030-05-06 10:00:00")


def _code(account) -> str:
    return re.search(r"\b(\d{6})\b", cards.sms_outbox(account=account).first().text).group(1)


@pytest.fixture
def account(open_account):
    return open_account("II")


def test_r_ver_08_code_works_at_120_seconds(account):
    otp = cards.otp_send(account=account, purpose="card_bind", mobile=MOBILE, now=SENT)
    assert otp.expires_at == SENT + dt.timedelta(seconds=120)
    used = cards.otp_verify(account=account, purpose="card_bind", code=_code(account), now=SENT + dt.timedelta(seconds=120))
    assert used.used_at == SENT + dt.timedelta(seconds=120)


def test_r_ver_08_code_expired_at_121_seconds(account):
    cards.otp_send(account=account, purpose="card_bind", mobile=MOBILE, now=SENT)
    with pytest.raises(cards.OtpExpiredError) as refused:
        cards.otp_verify(account=account, purpose="card_bind", code=_code(account), now=SENT + dt.timedelta(seconds=121))
    assert refused.value.code == "otp_expired"


def test_r_ver_08_ttl_is_configuration(account, settings):
    settings.ACCOUNTS_OTP_TTL_SECONDS = 60
    otp = cards.otp_send(account=account, purpose="withdrawal", mobile=MOBILE, now=SENT)
    assert otp.expires_at == SENT + dt.timedelta(seconds=60)


def test_r_ver_08_code_works_only_once(account):
    cards.otp_send(account=account, purpose="withdrawal", mobile=MOBILE, now=SENT)
    code = _code(account)
    cards.otp_verify(account=account, purpose="withdrawal", code=code, now=SENT)
    with pytest.raises(cards.OtpInvalidError):
        cards.otp_verify(account=account, purpose="withdrawal", code=code, now=SENT)


def test_code_is_bound_to_its_purpose_and_account(account, open_account, person):
    cards.otp_send(account=account, purpose="withdrawal", mobile=MOBILE, now=SENT)
    code = _code(account)
    with pytest.raises(cards.OtpInvalidError):
        cards.otp_verify(account=account, purpose="recharge", code=code, now=SENT)
    other = open_account("III", party=account.party)
    with pytest.raises(cards.OtpInvalidError):
        cards.otp_verify(account=other, purpose="withdrawal", code=code, now=SENT)
    cards.otp_verify(account=account, purpose="withdrawal", code=code, now=SENT)


def test_wrong_codes_are_counted_and_burn_the_code(account, settings):
    settings.ACCOUNTS_OTP_MAX_ATTEMPTS = 3
    cards.otp_send(account=account, purpose="withdrawal", mobile=MOBILE, now=SENT)
    right = _code(account)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(3):
        with pytest.raises(cards.OtpInvalidError):
            cards.otp_verify(account=account, purpose="withdrawal", code=wrong, now=SENT)
    assert OneTimeCode.objects.get().attempts == 3
    with pytest.raises(cards.OtpInvalidError):
        cards.otp_verify(account=account, purpose="withdrawal", code=right, now=SENT)


def test_a_new_code_supersedes_the_previous_one(account):
    cards.otp_send(account=account, purpose="withdrawal", mobile=MOBILE, now=SENT)
    first = _code(account)
    cards.otp_send(account=account, purpose="withdrawal", mobile=MOBILE, now=SENT + dt.timedelta(seconds=30))
    second = _code(account)
    if first != second:
        with pytest.raises(cards.OtpInvalidError):
            cards.otp_verify(account=account, purpose="withdrawal", code=first, now=SENT + dt.timedelta(seconds=31))
    cards.otp_verify(account=account, purpose="withdrawal", code=second, now=SENT + dt.timedelta(seconds=31))
    assert OneTimeCode.objects.filter(revoked_at__isnull=False).count() == 1


def test_only_a_hash_of_the_code_is_stored_and_the_mobile_is_masked(account):
    otp = cards.otp_send(account=account, purpose="card_bind", mobile="138 0000 0000", now=SENT)
    code = _code(account)
    assert code not in otp.code_hash and len(otp.code_hash) == 64
    sms = cards.sms_outbox(mobile=MOBILE).get()
    assert sms.mobile_masked == "138****0000" == otp.mobile_masked and "120" in sms.text
    assert all(code not in str(row.data) and MOBILE not in str(row.data) for row in AuditLog.objects.all())


def test_code_goes_to_the_bound_cards_reserved_mobile_by_default(open_account, bind):
    account = open_account("II")
    bind(account, mobile="13912345678")
    otp = cards.otp_send(account=account, purpose="recharge", now=SENT)
    assert otp.mobile_masked == "139****5678"


def test_no_known_mobile_and_bad_input_are_refused(account):
    from accounts.ledger.models import Account
    from accounts.parties.models import Party

    Party.objects.filter(pk=account.party_id).update(mobile_encrypted="", mobile_hash="")  # a party with no mobile
    account = Account.objects.get(pk=account.pk)
    with pytest.raises(cards.MobileUnknownError):
        cards.otp_send(account=account, purpose="recharge", now=SENT)
    with pytest.raises(FieldValidationError):
        cards.otp_send(account=account, purpose="nonsense", mobile=MOBILE, now=SENT)
    with pytest.raises(FieldValidationError):
        cards.otp_send(account=account, purpose="recharge", mobile="12", now=SENT)
    with pytest.raises(cards.OtpInvalidError):
        cards.otp_verify(account=account, purpose="recharge", code="000000", now=SENT)
