"""Account opening rules: tiers per party type, the KYC gate, R-ACC-01 (one Class I) and R-ACC-02
(at most 5 Class II / 5 Class III, override with a recorded reason), race-safe on PostgreSQL."""

from __future__ import annotations

import re
import threading

import pytest
from django.apps import apps
from django.db import connection

from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.parties.errors import KycNotApprovedError, OpeningLimitExceededError
from accounts.parties.models import AccountOpeningOverride, Party
from accounts.parties.services import account_open, party_create, party_kyc_approve
from accounts.states.services import account_change_state
from backoffice.errors import FieldValidationError
from backoffice.models import AuditLog
from conftest import needs_postgres

C1, II, III, CORP = Account.Tier.CLASS_I, Account.Tier.CLASS_II, Account.Tier.CLASS_III, Account.Tier.CORPORATE


def open_(party, tier, **kwargs):
    return account_open(party=party, role=kwargs.pop("role", Role.PERSONAL), tier=tier, **kwargs)


def close(account):
    if account.state == Account.State.PENDING_VERIFICATION:
        account_change_state(account_id=account.pk, action="activate")
    account_change_state(account_id=account.pk, action="close")


# -- tiers per party type ----------------------------------------------------------------------


@pytest.mark.django_db
def test_persons_get_class_i_ii_iii_and_ii_iii_start_pending_verification(make_party):
    party = make_party()
    assert open_(party, C1).state == Account.State.ACTIVE
    assert open_(party, II).state == Account.State.PENDING_VERIFICATION
    assert open_(party, III).state == Account.State.PENDING_VERIFICATION


@pytest.mark.django_db
@pytest.mark.parametrize("tier", [CORP, "internal", "IV", ""])
def test_a_person_cannot_get_a_corporate_internal_or_unknown_tier(make_party, tier):
    with pytest.raises(FieldValidationError) as caught:
        open_(make_party(), tier)
    assert "tier" in caught.value.fields
    assert not Account.objects.filter(kind=Account.Kind.CUSTOMER).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("tier", [C1, II, III])
def test_an_organisation_gets_corporate_accounts_only(make_party, tier):
    org = make_party("甲公司", type="organisation")
    with pytest.raises(FieldValidationError) as caught:
        open_(org, tier, role=Role.MERCHANT)
    assert "tier" in caught.value.fields
    first, second = open_(org, CORP, role=Role.MERCHANT), open_(org, CORP, role=Role.CORPORATE)
    assert first.state == second.state == Account.State.ACTIVE


# -- the KYC gate ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pending_review_person_may_open_class_ii_and_iii_but_not_class_i(make_party):
    party = make_party(kyc="pending_review")
    with pytest.raises(KycNotApprovedError) as caught:
        open_(party, C1)
    assert caught.value.code == "kyc_not_approved" and caught.value.data["state"] == "pending_review"
    assert open_(party, II).state == Account.State.PENDING_VERIFICATION
    assert open_(party, III).state == Account.State.PENDING_VERIFICATION


@pytest.mark.django_db
def test_pending_review_organisation_may_not_open_a_corporate_account(make_party):
    org = make_party("甲公司", type="organisation", kyc="pending_review")
    with pytest.raises(KycNotApprovedError):
        open_(org, CORP, role=Role.MERCHANT)


@pytest.mark.django_db
@pytest.mark.parametrize("tier", [C1, II, III])
def test_rejected_person_may_open_nothing(make_party, tier):
    with pytest.raises(KycNotApprovedError):
        open_(make_party(kyc="rejected"), tier)
    assert not Account.objects.filter(kind=Account.Kind.CUSTOMER).exists()


@pytest.mark.django_db
def test_account_open_reads_the_kyc_state_from_the_database_not_the_stale_object(make_party):
    party = make_party(kyc="pending_review")
    party_kyc_approve(party_id=party.pk, actor_label="test")
    assert party.kyc_state == Party.KycState.PENDING_REVIEW  # the caller's object is stale
    assert open_(party, C1).tier == C1


# -- R-ACC-01 ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_r_acc_01_second_class_i_for_one_person_is_refused(make_party):
    party = make_party()
    open_(party, C1)
    with pytest.raises(OpeningLimitExceededError) as caught:
        open_(party, C1, override_reason="customer insists")  # no override for Class I
    assert caught.value.code == "limit_exceeded" and caught.value.http_status == 409
    assert caught.value.data == {"limit": "class_i_per_person", "maximum": 1, "held": 1, "remaining": 0}
    assert party.accounts.filter(tier=C1).count() == 1


@pytest.mark.django_db
def test_r_acc_01_a_closed_class_i_does_not_count(make_party):
    party = make_party()
    close(open_(party, C1))
    second = open_(party, C1)
    assert second.state == Account.State.ACTIVE
    assert party.accounts.filter(tier=C1).count() == 2


@pytest.mark.django_db
def test_r_acc_01_counts_per_person_not_per_bank_wide(make_party):
    open_(make_party("甲"), C1)
    assert open_(make_party("乙"), C1).tier == C1


@pytest.mark.django_db
def test_r_acc_01_other_tiers_do_not_count_against_class_i(make_party):
    party = make_party()
    open_(party, II)
    open_(party, III)
    assert open_(party, C1).tier == C1


# -- R-ACC-02 ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("tier", "limit"), [(II, "class_ii_per_person"), (III, "class_iii_per_person")])
def test_r_acc_02_fifth_ok_sixth_refused_sixth_with_override_recorded(make_party, django_user_model, tier, limit):
    party = make_party()
    for _n in range(5):
        open_(party, tier)  # the 5th is still within the limit
    with pytest.raises(OpeningLimitExceededError) as caught:
        open_(party, tier)
    assert caught.value.data == {"limit": limit, "maximum": 5, "held": 5, "remaining": 0}
    with pytest.raises(OpeningLimitExceededError):
        open_(party, tier, override_reason="   ")  # a blank reason is no reason
    assert party.accounts.filter(tier=tier).count() == 5

    supervisor = django_user_model.objects.create_user(username="sup", password="sup-test-pass-2026")
    sixth = open_(party, tier, override_reason="payroll and savings kept apart, approved by branch", actor=supervisor)
    assert party.accounts.filter(tier=tier).count() == 6
    override = AccountOpeningOverride.objects.get(account=sixth)
    assert (override.party, override.tier, override.held_before, override.maximum) == (party, tier, 5, 5)
    assert override.reason.startswith("payroll") and override.actor == supervisor
    audit = AuditLog.objects.get(action="account.open", target_id=str(sixth.pk))
    assert audit.data["override"] == {
        "limit": limit,
        "maximum": 5,
        "held": 5,
        "reason": "payroll and savings kept apart, approved by branch",
    }
    assert "override" not in AuditLog.objects.filter(action="account.open").order_by("pk").first().data


@pytest.mark.django_db
def test_r_acc_02_override_reason_is_ignored_within_the_limit(make_party):
    account = open_(make_party(), II, override_reason="not needed")
    assert not AccountOpeningOverride.objects.filter(account=account).exists()


@pytest.mark.django_db
def test_r_acc_02_closed_accounts_do_not_count(make_party):
    party = make_party()
    accounts = [open_(party, III) for _n in range(5)]
    close(accounts[0])
    assert open_(party, III).tier == III
    with pytest.raises(OpeningLimitExceededError):
        open_(party, III)


@pytest.mark.django_db
def test_r_acc_02_class_ii_and_iii_are_counted_separately(make_party):
    party = make_party()
    for _n in range(5):
        open_(party, II)
    assert open_(party, III).tier == III


@pytest.mark.django_db
def test_r_acc_02_maxima_are_settings(make_party, settings):
    settings.ACCOUNTS_MAX_CLASS2_PER_PERSON = 1
    settings.ACCOUNTS_MAX_CLASS3_PER_PERSON = 2
    party = make_party()
    open_(party, II)
    with pytest.raises(OpeningLimitExceededError) as caught:
        open_(party, II)
    assert caught.value.data["maximum"] == 1
    open_(party, III)
    open_(party, III)
    with pytest.raises(OpeningLimitExceededError):
        open_(party, III)


# -- the fixture --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_make_account_fixture_picks_a_tier_the_rules_allow(make_party, make_account):
    party = make_party()
    assert make_account(party=party).tier == C1
    assert make_account(party=party).tier == II
    assert make_account(party=make_party("甲公司", type="organisation"), role=Role.MERCHANT).tier == CORP


# -- CVN2 and expiry are never stored ------------------------------------------------------------

CARD_SECRET_COLUMN = re.compile(r"cvn|cvv|cvc|security_code|card_expir|expiry_date|exp_month|exp_year|valid_thru|mmyy")


@pytest.mark.django_db
def test_party_has_no_cvn2_or_card_expiry_column():
    columns = [field.column for field in Party._meta.concrete_fields]
    assert not [c for c in columns if CARD_SECRET_COLUMN.search(c)]


@pytest.mark.django_db
def test_card_models_have_no_cvn2_or_expiry_column(db):
    card_models = [model for model in apps.get_app_config("accounts").get_models() if "card" in model.__name__.lower()]
    if not card_models:
        pytest.skip("no card model yet (the card-binding part adds BoundCard)")
    for model in card_models:
        columns = [field.column for field in model._meta.concrete_fields]
        assert not [c for c in columns if CARD_SECRET_COLUMN.search(c.lower())], model


# -- race safety on PostgreSQL --------------------------------------------------------------------


def _race(count: int, work):
    barrier = threading.Barrier(count)
    results: list = []

    def run():
        try:
            barrier.wait()
            results.append(work())
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_r_acc_01_two_concurrent_class_i_openings_for_one_person_exactly_one_succeeds(make_party):
    party = make_party()
    results = _race(2, lambda: open_(party, C1))
    opened = [r for r in results if isinstance(r, Account)]
    refused = [r for r in results if isinstance(r, OpeningLimitExceededError)]
    assert len(opened) == 1 and len(refused) == 1, results
    assert Account.objects.filter(party=party, tier=C1).count() == 1


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_r_acc_02_eight_concurrent_class_ii_openings_never_exceed_five(make_party):
    party = make_party()
    results = _race(8, lambda: open_(party, II))
    assert sum(isinstance(r, Account) for r in results) == 5, results
    assert sum(isinstance(r, OpeningLimitExceededError) for r in results) == 3, results
    assert Account.objects.filter(party=party, tier=II).count() == 5


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_creations_of_one_id_number_give_one_party_and_one_duplicate_error():
    from accounts.parties.errors import DuplicatePartyError

    results = _race(2, lambda: party_create(type="person", name="张三", id_number="11010519491231002X", mobile="13800000000"))
    assert sum(isinstance(r, Party) for r in results) == 1, results
    duplicates = [r for r in results if isinstance(r, DuplicatePartyError)]
    assert len(duplicates) == 1 and duplicates[0].data["party"] == str(Party.objects.get().pk)
