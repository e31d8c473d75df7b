"""Card binding: same name (R-VER-05), debit only (R-VER-04), Luhn warns (R-VER-03), what a Class
II/III account may bind (R-ACC-03) and who must confirm the elements (R-ACC-04)."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.cards import services as cards
from accounts.cards.models import BinEntry, BoundCard, MicroDeposit
from accounts.cards.provider import BOUND_BANK, CONFIRMED, ElementsResult, SimulatorProvider
from accounts.ledger.chart import Role
from accounts.ledger.errors import InvalidStateError
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import ABC_DEBIT, ID_LI, ID_ZHANG, MOBILE, card_number
from backoffice.errors import FieldValidationError
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db


# -- R-VER-05 same name ------------------------------------------------------------------------


def test_r_ver_05_same_name_and_id_card_is_recorded_and_awaits_micro_deposit(open_account, bind):
    account = open_account("II")
    card = bind(account)

    assert card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT
    assert (card.bank_name, card.card_type, card.bin_prefix) == ("中国农业银行", "DC", "622848")
    assert card.card_number_masked == "6228 **** **** 0018"
    assert card.card_number == ABC_DEBIT and ABC_DEBIT not in card.card_number_encrypted
    assert card.reserved_mobile == MOBILE and MOBILE not in card.reserved_mobile_encrypted
    assert card.verifier == BOUND_BANK and card.warnings == []
    deposit = MicroDeposit.objects.get(card=card)
    assert deposit.state == MicroDeposit.State.INIT and deposit.request_id == f"MD{deposit.pk:012d}"
    actions = list(cards.card_history(card=card).values_list("action", flat=True))
    assert actions == ["card.bind", "card.elements_confirmed", "micro_deposit.create"]


@pytest.mark.parametrize(
    ("name", "id_no"),
    [("李四", ID_ZHANG), ("张三", ID_LI), (" 张三 ", ID_LI)],
    ids=["other-name", "other-id", "other-id-padded-name"],
)
def test_r_ver_05_other_persons_card_is_refused(open_account, bind, sim, name, id_no):
    account = open_account("II")
    with pytest.raises(cards.CardHolderMismatchError) as refused:
        bind(account, name=name, id_no=id_no)
    assert refused.value.code == "card_holder_mismatch"
    assert not BoundCard.objects.exists() and sim.calls_of("verify_elements") == []


def test_r_ver_05_lowercase_x_and_padding_still_match(open_account, bind):
    card = bind(open_account("III"), name=" 张三", id_no=ID_ZHANG.lower())
    assert card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT


# -- R-VER-04 debit only -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "length", "card_type"),
    [("625908", 16, "CC"), ("622230", 19, "SCC"), ("620058", 19, "PC")],
)
@pytest.mark.parametrize("tier", ["II", "III"])
def test_r_ver_04_credit_semi_credit_and_prepaid_refused_for_class2_and_class3(
    open_account, bind, prefix, length, card_type, tier
):
    account = open_account(tier)
    with pytest.raises(cards.CardTypeNotAllowedError) as refused:
        bind(account, card_number(prefix, length=length))
    assert refused.value.code == "card_type_not_allowed"
    assert refused.value.data == {"card_type": card_type}
    assert not BoundCard.objects.exists()


def test_r_ver_04_depository_sub_account_takes_only_debit_cards(open_account, bind):
    lender = open_account("I", role=Role.LENDER)
    with pytest.raises(cards.CardTypeNotAllowedError):
        bind(lender, card_number("625908", length=16))
    assert bind(lender).card_type == "DC"


def test_r_ver_04_class1_personal_account_may_bind_a_credit_card(open_account, bind):
    card = bind(open_account("I", role=Role.PERSONAL), card_number("625908", length=16), kind="credit_card")
    assert card.card_type == "CC" and card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT


def test_r_ver_04_unknown_bin_refused_where_debit_is_required(open_account, bind):
    with pytest.raises(cards.CardBinUnknownError):
        bind(open_account("II"), card_number("999999"))


def test_r_ver_04_longest_bin_prefix_wins(open_account, bind, db):
    BinEntry.objects.create(prefix="6228481", bank_name="测试银行七位", card_type="CC", card_length=19)
    BinEntry.objects.create(prefix="62284822", bank_name="测试银行八位", card_type="DC", card_length=19)
    assert cards.bin_lookup(card_number("6228481")).prefix == "6228481"
    assert cards.bin_lookup(card_number("62284822")).bank_name == "测试银行八位"
    assert cards.bin_lookup(card_number("6228483")).prefix == "622848"
    assert cards.bin_lookup("123") is None
    with pytest.raises(cards.CardTypeNotAllowedError):
        bind(open_account("II"), card_number("6228481"))


def test_r_ver_04_verification_only_binding_of_a_credit_card_for_class3(open_account, bind):
    """A credit-card account may verify a Class III account's identity; it is not its withdrawal card."""
    card = bind(open_account("III"), card_number("625908", length=16), kind="credit_card", purpose="verification_only")
    assert card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT
    assert cards.card_withdrawal_card(account=card.account) is None


# -- R-VER-03 Luhn warns -------------------------------------------------------------------------


def test_r_ver_03_luhn_failure_warns_and_does_not_block(open_account, bind):
    number = card_number("622848", luhn=False)
    card = bind(open_account("II"), number)
    assert card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT
    assert len(card.warnings) == 1 and "Luhn" in card.warnings[0]
    bind_audit = AuditLog.objects.get(action="card.bind", target_id=str(card.pk))
    assert bind_audit.data["warnings"] == card.warnings


@pytest.mark.parametrize(("length", "ok"), [(14, False), (15, True), (19, True), (20, False)])
def test_r_ver_03_card_number_length_bounds(open_account, bind, length, ok):
    number = card_number("622848", length=length)
    if ok:
        card = bind(open_account("II"), number)
        # 15 digits differs from the BIN's 19: a warning, verification decides
        assert (len(card.warnings) == 1) == (length != 19)
    else:
        with pytest.raises(FieldValidationError) as refused:
            bind(open_account("II"), number)
        assert "card_number" in refused.value.fields


def test_malformed_id_and_mobile_are_field_errors(open_account, bind):
    account = open_account("II")
    with pytest.raises(FieldValidationError) as refused:
        bind(account, id_no="340524198001010013")
    assert "id_number" in refused.value.fields
    with pytest.raises(FieldValidationError) as refused:
        bind(account, mobile="1234")
    assert "reserved_mobile" in refused.value.fields


# -- R-ACC-03 what a Class II/III account may bind -------------------------------------------------


@pytest.mark.parametrize("kind", ["payment_account", "class_ii_iii", "other"])
@pytest.mark.parametrize("tier", ["II", "III"])
def test_r_acc_03_class2_and_class3_refuse_payment_class2_3_and_other_accounts(open_account, bind, sim, kind, tier):
    with pytest.raises(cards.BoundAccountNotAllowedError) as refused:
        bind(open_account(tier), kind=kind)
    assert refused.value.code == "bound_account_not_allowed"
    assert sim.calls_of("verify_elements") == []


@pytest.mark.parametrize("kind", ["class_i", "credit_card"])
def test_r_acc_03_class2_binds_own_class1_or_credit_card_account(open_account, bind, sim, kind):
    if kind == "credit_card":
        sim.script_elements(ABC_DEBIT, ElementsResult(CONFIRMED, BOUND_BANK, bound_account_kind="credit_card"))
    card = bind(open_account("II"), kind=kind)
    assert card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT


def test_r_acc_03_this_banks_own_class3_account_cannot_be_bound(open_account, bind, person):
    holder = person()
    own_class3 = open_account("III", party=holder)
    applying = open_account("II", party=holder)
    with pytest.raises(cards.BoundAccountNotAllowedError):
        bind(applying, own_class3.number)


def test_r_acc_03_bank_reports_a_class2_3_account_so_binding_fails(open_account, bind):
    card = bind(open_account("III"), card_number(digits="4042"))
    assert card.state == BoundCard.State.FAILED and card.failure_reason == "bound_account_not_allowed"
    assert not MicroDeposit.objects.exists()


def test_r_acc_03_another_persons_class1_account_is_refused(open_account, bind):
    with pytest.raises(cards.CardHolderMismatchError):
        bind(open_account("II"), name="李四", id_no=ID_LI)


# -- R-ACC-04 elements and verifier ------------------------------------------------------------------


@pytest.mark.parametrize(("tier", "elements"), [("II", 5), ("III", 4), ("I", 4)])
def test_r_acc_04_class2_uses_five_elements_class3_four(open_account, bind, sim, tier, elements):
    card = bind(open_account(tier))
    assert card.elements == elements
    assert sim.calls_of("verify_elements") == [("verify_elements", ABC_DEBIT, elements, "class_i")]


def test_r_acc_04_third_party_confirmation_is_not_accepted(open_account, bind):
    card = bind(open_account("II"), card_number(digits="4041"))
    assert card.state == BoundCard.State.FAILED
    assert (card.failure_reason, card.verifier, card.verification_result) == ("third_party_verifier", "third_party", "confirmed")
    assert not MicroDeposit.objects.exists()
    assert AuditLog.objects.filter(action="card.elements_rejected", target_id=str(card.pk)).exists()


def test_r_acc_04_rejected_elements_fail_the_card(open_account, bind):
    card = bind(open_account("II"), card_number(digits="4040"))
    assert (card.state, card.failure_reason) == (BoundCard.State.FAILED, "elements_rejected")


def test_r_acc_04_fifth_element_must_match_what_the_bank_says(open_account, bind, sim):
    sim.script_elements(ABC_DEBIT, ElementsResult(CONFIRMED, BOUND_BANK, bound_account_kind="credit_card"))
    card = bind(open_account("II"), kind="class_i")
    assert (card.state, card.failure_reason) == (BoundCard.State.FAILED, "bound_account_kind_mismatch")


def test_r_acc_04_unknown_answer_fails_and_the_card_can_be_bound_again(open_account, bind, sim):
    account = open_account("II")
    number = card_number(digits="5050")
    first = bind(account, number)
    assert (first.state, first.failure_reason, first.verifier) == (BoundCard.State.FAILED, "verification_unknown", "")
    sim.script_elements(number, ElementsResult(CONFIRMED, BOUND_BANK, bound_account_kind="class_i"))
    second = bind(account, number)
    assert second.pk != first.pk and second.state == BoundCard.State.AWAITING_MICRO_DEPOSIT


def test_the_same_card_cannot_be_bound_twice_while_live(open_account, bind):
    account = open_account("II")
    bind(account)
    with pytest.raises(cards.CardAlreadyBoundError):
        bind(account)


def test_internal_accounts_do_not_bind_cards(clearing, bind):
    with pytest.raises(InvalidStateError):
        bind(clearing)


# -- personal data is masked ------------------------------------------------------------------------


def test_card_summary_and_audit_never_show_full_personal_data(open_account, bind):
    card = bind(open_account("II"))
    summary = cards.card_summary(card)
    assert summary["card_number"] == "6228 **** **** 0018"
    assert summary["card_type"] == "debit" and summary["state"] == "awaiting_micro_deposit"
    assert summary["micro_deposit"]["attempts_left"] == 3
    assert str(card).startswith("6228 **** **** 0018")
    for row in AuditLog.objects.all():
        text = str(row.data)
        assert ABC_DEBIT not in text and ID_ZHANG not in text and MOBILE not in text


# -- the provider runs outside any transaction ---------------------------------------------------------


class RecordingProvider(SimulatorProvider):
    seen: list = []

    def verify_elements(self, **kwargs):
        state = BoundCard.objects.values_list("state", flat=True).get()
        RecordingProvider.seen.append((connection.in_atomic_block, state))
        return ElementsResult(CONFIRMED, BOUND_BANK, bound_account_kind=kwargs["bound_account_kind"])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_provider_is_called_outside_any_transaction_after_the_card_is_committed(open_account, bind, settings):
    settings.ACCOUNTS_VERIFICATION_PROVIDER = "accounts.tests.cards.test_cards_bind.RecordingProvider"
    RecordingProvider.seen = []
    card = bind(open_account("II"))
    assert RecordingProvider.seen == [(False, "verifying")]
    assert card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT
