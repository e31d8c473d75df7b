"""Cards through the partner API: binding, the micro-deposit back-fill end to end, one-time codes."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from accounts.cards import services as cards
from accounts.cards.models import BoundCard, MicroDeposit, OneTimeCode, SmsMessage
from accounts.ledger.models import Account
from accounts.limits.services import account_record_face_to_face
from accounts.tests.api_helpers import signed
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import ABC_DEBIT, ID_LI, ID_ZHANG, MOBILE, card_number

pytestmark = pytest.mark.django_db

BOC_CREDIT = card_number("625908", length=16)  # 中国银行 credit card (BIN table)
UNKNOWN_BIN = card_number("999999")


def _bind_url(account) -> str:
    return f"/api/v1/accounts/{account.number}/cards/"


def _confirm_url(card_id) -> str:
    return f"/api/v1/cards/{card_id}/micro-deposit/confirm/"


def _card_body(**overrides) -> dict:
    return {"card_number": ABC_DEBIT, "holder_name": "张三", "id_number": ID_ZHANG, "reserved_mobile": MOBILE, **overrides}


def _wrong(amount: Decimal) -> str:
    return str(amount + Decimal("0.01") if amount < Decimal("0.50") else amount - Decimal("0.01"))


@pytest.fixture
def account(open_account):
    """A Class II account of 张三 (ID_ZHANG), pending verification."""
    return open_account("II")


@pytest.fixture
def api(client, account):
    return signed(client, "cards:write", "accounts:read", "accounts:write", "transfers:write", f"party:{account.party_id}")


@pytest.fixture
def bound(api, account, django_capture_on_commit_callbacks):
    """Bind through the API and run the on-commit micro-deposit send (eager Celery): (card id, deposit)."""

    def do(**overrides):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(_bind_url(account), _card_body(**overrides))
        assert response.status_code == 201, response.json()
        card_id = response.json()["id"]
        return card_id, MicroDeposit.objects.filter(card_id=card_id).order_by("-pk").first()

    return do


# -- binding ---------------------------------------------------------------------------------------


def test_card_bind_answers_201_with_the_card_masked(api, account):
    response = api.post(_bind_url(account), _card_body(), idempotency_key=None)
    assert response.status_code == 201, response.json()
    body = response.json()
    card = BoundCard.objects.get()
    assert body["id"] == str(card.pk)
    assert body["account"] == account.number
    assert body["card_number"] == "6228 **** **** 0018"
    assert (body["bank"], body["card_type"], body["state"]) == ("中国农业银行", "debit", "awaiting_micro_deposit")
    assert body["warnings"] == [] and body["failure_reason"] == ""
    assert set(body["micro_deposit"]) == {"state", "expires_at", "attempts_left"}
    assert body["micro_deposit"]["attempts_left"] == 3
    text = response.content.decode()
    assert ABC_DEBIT not in text and MOBILE not in text and ID_ZHANG not in text


def test_card_bind_default_kind_is_class_i_and_credit_card_kind_is_accepted(api, account, open_account):
    api.post(_bind_url(account), _card_body())
    assert BoundCard.objects.get().bound_account_kind == "class_i"
    response = api.post(_bind_url(account), _card_body(card_number=card_number(digits="2222"), bound_account_kind="credit_card"))
    assert response.status_code == 201, response.json()


def test_card_bind_a_failed_luhn_check_only_warns(api, account):
    response = api.post(_bind_url(account), _card_body(card_number=card_number(luhn=False)))
    assert response.status_code == 201
    assert response.json()["warnings"] and "Luhn" in response.json()["warnings"][0]


def test_card_bind_elements_rejected_is_a_failed_card_with_its_reason(api, account):
    response = api.post(_bind_url(account), _card_body(card_number=card_number(digits="4040")))
    assert response.status_code == 201
    body = response.json()
    assert (body["state"], body["failure_reason"]) == ("failed", "elements_rejected")
    assert "micro_deposit" not in body


@pytest.mark.parametrize(
    "overrides, status, code",
    [
        ({"holder_name": "李四"}, 422, "card_holder_mismatch"),
        ({"id_number": ID_LI}, 422, "card_holder_mismatch"),
        ({"card_number": BOC_CREDIT}, 422, "card_type_not_allowed"),
        ({"card_number": UNKNOWN_BIN}, 422, "card_bin_unknown"),
        ({"bound_account_kind": "payment_account"}, 422, "bound_account_not_allowed"),
        ({"bound_account_kind": "class_ii_iii"}, 422, "bound_account_not_allowed"),
        ({"card_number": "1234"}, 400, "validation_error"),
        ({"reserved_mobile": "555"}, 400, "validation_error"),
        ({"id_number": "110105194912310021"}, 400, "validation_error"),
        ({"bound_account_kind": "piggy_bank"}, 400, "validation_error"),
    ],
)
def test_card_bind_refusals_map_to_their_codes_and_write_nothing(api, account, overrides, status, code):
    response = api.post(_bind_url(account), _card_body(**overrides))
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert not BoundCard.objects.exists()


def test_card_bind_validation_error_names_the_field(api, account):
    response = api.post(_bind_url(account), _card_body(card_number="12"))
    assert list(response.json()["fields"]) == ["card_number"]
    missing = api.post(_bind_url(account), {})
    assert set(missing.json()["fields"]) == {"card_number", "holder_name", "id_number", "reserved_mobile"}


def test_card_bind_the_same_live_card_twice_is_409(api, account):
    assert api.post(_bind_url(account), _card_body()).status_code == 201
    again = api.post(_bind_url(account), _card_body())
    assert again.status_code == 409
    assert again.json()["code"] == "card_already_bound"
    assert BoundCard.objects.count() == 1


def test_card_bind_on_an_invisible_account_is_404(client, account, open_account):
    api = signed(client, "cards:write", "party:999999")
    response = api.post(_bind_url(account), _card_body())
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not BoundCard.objects.exists()


def test_card_bind_needs_the_cards_write_scope(client, account):
    api = signed(client, "accounts:read", "accounts:write", f"party:{account.party_id}")
    response = api.post(_bind_url(account), _card_body())
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_scope"


def test_card_bind_with_an_idempotency_key_binds_once(api, account):
    first = api.post(_bind_url(account), _card_body(), idempotency_key="bind-1")
    again = api.post(_bind_url(account), _card_body(), idempotency_key="bind-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    assert BoundCard.objects.count() == 1


# -- reading cards and the account's bound card -------------------------------------------------------


def test_card_detail_shows_the_sent_micro_deposit(api, bound):
    card_id, deposit = bound()
    body = api.get(f"/api/v1/cards/{card_id}/").json()
    assert body["state"] == "awaiting_micro_deposit"
    assert body["micro_deposit"]["state"] == "awaiting_backfill"
    assert body["micro_deposit"]["expires_at"].endswith("+08:00")
    assert str(deposit.amount) not in str(body["micro_deposit"])


def test_card_detail_of_an_invisible_or_missing_card_is_404(client, api, bound):
    card_id, _deposit = bound()
    stranger = signed(client, "accounts:read", "cards:write", "party:999999")
    assert stranger.get(f"/api/v1/cards/{card_id}/").status_code == 404
    assert stranger.get("/api/v1/cards/99999999/").json() == stranger.get(f"/api/v1/cards/{card_id}/").json()
    assert stranger.post(_confirm_url(card_id), {"amount": "0.01"}).status_code == 404
    assert MicroDeposit.objects.get(pk=_deposit.pk).attempts == 0


def test_account_detail_shows_the_card_being_verified_then_the_verified_one(api, account, bound):
    assert "bound_card" not in api.get(f"/api/v1/accounts/{account.number}/").json()
    card_id, deposit = bound()
    in_progress = api.get(f"/api/v1/accounts/{account.number}/").json()["bound_card"]
    assert in_progress == {
        "id": card_id,
        "card_number": "6228 **** **** 0018",
        "bank": "中国农业银行",
        "card_type": "debit",
        "state": "awaiting_micro_deposit",
    }
    api.post(_confirm_url(card_id), {"amount": str(deposit.amount)})
    assert api.get(f"/api/v1/accounts/{account.number}/").json()["bound_card"]["state"] == "verified"


# -- the micro-deposit flow, end to end -----------------------------------------------------------------


def test_micro_deposit_flow_end_to_end_activates_the_account(api, account, bound, make_account, fund):
    # given: a funded payer and the pending Class II account, which accepts no transfer yet
    payer = fund(make_account(), "50.00")
    transfer_api = signed(api.http, "transfers:write", f"account:{payer.number}", f"account:{account.number}")
    transfer = {"from_account": payer.number, "to_account": account.number, "amount": "10.00"}
    before = transfer_api.post("/api/v1/transfers/", transfer)
    assert before.status_code == 409 and before.json()["code"] == "account_not_active"

    # when: the card is bound and the simulator's amount (read from the row) is back-filled
    card_id, deposit = bound()
    assert deposit.state == MicroDeposit.State.AWAITING_BACKFILL
    wrong = api.post(_confirm_url(card_id), {"amount": _wrong(deposit.amount)})
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "micro_deposit_mismatch"
    assert wrong.json()["data"] == {"attempts_left": 2}
    assert api.get(f"/api/v1/accounts/{account.number}/").json()["state"] == "pending_verification"
    right = api.post(_confirm_url(card_id), {"amount": f"{deposit.amount:.2f}"})

    # then: the card is verified, the account active, and the transfer goes through
    assert right.status_code == 200, right.json()
    assert right.json()["state"] == "verified"
    assert right.json()["micro_deposit"]["state"] == "verified"
    assert api.get(f"/api/v1/accounts/{account.number}/").json()["state"] == "active"
    # a Class II account takes non-bound inflows only once identity is confirmed face to face (R-ACC-09)
    refused = transfer_api.post("/api/v1/transfers/", transfer)
    assert refused.status_code == 409 and refused.json()["code"] == "tier_flow_not_allowed"
    account_record_face_to_face(account_id=account.pk, note="at the counter")
    after = transfer_api.post("/api/v1/transfers/", {**transfer, "memo": "after face-to-face"})
    assert after.status_code == 201, after.json()
    assert Account.objects.get(pk=account.pk).balance == Decimal("10.00")


def test_micro_deposit_confirm_attempts_run_out_and_the_card_fails(api, bound):
    card_id, deposit = bound()
    for left in (2, 1, 0):
        response = api.post(_confirm_url(card_id), {"amount": _wrong(deposit.amount)})
        assert response.status_code == 422
        assert response.json()["data"]["attempts_left"] == left
    assert api.get(f"/api/v1/cards/{card_id}/").json()["state"] == "failed"
    late = api.post(_confirm_url(card_id), {"amount": f"{deposit.amount:.2f}"})
    assert late.status_code == 409
    assert late.json()["code"] == "invalid_state"
    assert late.json()["data"]["state"] == "failed"


def test_micro_deposit_confirm_after_the_window_is_expired(api, bound):
    card_id, deposit = bound()
    MicroDeposit.objects.filter(pk=deposit.pk).update(expires_at=deposit.created_at)
    response = api.post(_confirm_url(card_id), {"amount": f"{deposit.amount:.2f}"})
    assert response.status_code == 409
    assert response.json()["code"] == "micro_deposit_expired"
    assert BoundCard.objects.get(pk=card_id).state == BoundCard.State.EXPIRED


def test_micro_deposit_confirm_before_the_send_is_invalid_state(api, account):
    card_id = api.post(_bind_url(account), _card_body()).json()["id"]  # the send task never ran
    response = api.post(_confirm_url(card_id), {"amount": "0.10"})
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert response.json()["data"]["state"] == "init"


@pytest.mark.parametrize("amount", [0.37, "0.375", "-0.10", "0", "abc", None])
def test_micro_deposit_confirm_amount_must_be_a_money_string(api, bound, amount):
    card_id, deposit = bound()
    response = api.post(_confirm_url(card_id), {"amount": amount})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["amount"]
    assert MicroDeposit.objects.get(pk=deposit.pk).attempts == 0


def test_micro_deposit_confirm_needs_the_cards_write_scope(client, account, bound):
    card_id, _deposit = bound()
    reader = signed(client, "accounts:read", f"party:{account.party_id}")
    assert reader.post(_confirm_url(card_id), {"amount": "0.10"}).status_code == 403


def test_micro_deposit_confirm_replayed_key_costs_no_second_attempt(api, bound):
    card_id, deposit = bound()
    first = api.post(_confirm_url(card_id), {"amount": _wrong(deposit.amount)}, idempotency_key="md-1")
    again = api.post(_confirm_url(card_id), {"amount": _wrong(deposit.amount)}, idempotency_key="md-1")
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert MicroDeposit.objects.get(pk=deposit.pk).attempts == 1


# -- one-time codes ------------------------------------------------------------------------------------


def _otp_url(account) -> str:
    return f"/api/v1/accounts/{account.number}/otp/"


def test_otp_send_texts_a_code_to_the_cards_reserved_mobile(api, account, bound):
    bound()
    response = api.post(_otp_url(account), {"purpose": "withdrawal"}, idempotency_key=None)
    assert response.status_code == 202, response.json()
    body = response.json()
    otp = OneTimeCode.objects.get(account=account, purpose="withdrawal")
    assert body == {"purpose": "withdrawal", "mobile": "138****0000", "expires_at": body["expires_at"]}
    assert body["expires_at"].endswith("+08:00")
    assert (otp.expires_at - otp.sent_at).total_seconds() == 120
    sms = SmsMessage.objects.filter(account=account, purpose="otp:withdrawal").get()
    code = re.search(r"\b(\d{6})\b", sms.text).group(1)
    assert code not in response.content.decode()
    assert cards.otp_verify(account=account, purpose="withdrawal", code=code).pk == otp.pk


def test_otp_send_without_a_card_goes_to_the_partys_mobile(api, account):
    response = api.post(_otp_url(account), {"purpose": "instruction"})
    assert response.status_code == 202
    assert response.json()["mobile"] == account.party.mobile_masked


def test_otp_send_without_any_mobile_is_409_mobile_unknown(client, make_account, make_party):
    org = make_party("示例机构", type="organisation")
    account = make_account(party=org)
    api = signed(client, "accounts:write", f"party:{org.pk}")
    response = api.post(_otp_url(account), {"purpose": "recharge"})
    assert response.status_code == 409
    assert response.json()["code"] == "mobile_unknown"


@pytest.mark.parametrize("purpose", ["card_bind", "lunch", None])
def test_otp_send_purpose_must_be_one_of_the_instruction_kinds(api, account, purpose):
    response = api.post(_otp_url(account), {"purpose": purpose})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["purpose"]
    assert not OneTimeCode.objects.exists()


def test_otp_send_invisible_account_is_404_and_scope_is_needed(client, account):
    assert signed(client, "accounts:write", "party:999999").post(_otp_url(account), {"purpose": "recharge"}).status_code == 404
    forbidden = signed(client, "accounts:read", f"party:{account.party_id}").post(_otp_url(account), {"purpose": "recharge"})
    assert forbidden.status_code == 403
    assert not SmsMessage.objects.exists()
