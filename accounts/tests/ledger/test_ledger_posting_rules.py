"""Issue #9: posting rules by voucher kind (accounts.ledger.rules), enforced inside the ledger on
the Python path and on the PostgreSQL function path, and reported by ``ledger_check``."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, ROLE_CHART, Role
from accounts.ledger.checks import ledger_drift, ledger_report
from accounts.ledger.errors import PostingRuleViolationError
from accounts.ledger.models import Account, Entry, Transfer
from accounts.ledger.rules import CUSTOMER_ROLES, POSTING_RULES, REVERSAL_KIND, register_posting_rule
from accounts.ledger.selectors import internal_account
from conftest import needs_postgres

pytestmark = pytest.mark.django_db
D = Decimal
INTERNAL_ROLES = frozenset(role for role, rule in ROLE_CHART.items() if rule.internal)


@pytest.fixture(params=[True, False], ids=["function-path", "python-path"])
def both_paths(request, settings):
    """Each refusal on both paths (on SQLite both run the Python path)."""
    settings.LEDGER_PG_FUNCTION = request.param
    return request.param


@pytest.fixture
def customer(make_account, fund):
    return fund(make_account(), "100.00")


def _state():
    return (
        list(Account.objects.order_by("pk").values_list("pk", "balance", "frozen")),
        Transfer.objects.count(),
        Entry.objects.count(),
    )


def _post(kind, legs, key=None):
    return ledger.post_transfer(client="rules", idempotency_key=key or str(uuid4()), kind=kind, legs=legs)


# -- the table ------------------------------------------------------------------------------------


def test_r_posting_rules_customer_kinds_touch_customer_roles_only():
    for kind in ("transfer", "hold_capture", "counter_transfer"):
        rule = POSTING_RULES[kind]
        assert rule.debit == CUSTOMER_ROLES and rule.credit == CUSTOMER_ROLES
        assert not (rule.debit | rule.credit) & INTERNAL_ROLES


def test_r_posting_rules_every_system_kind_in_use_has_a_row():
    for kind in (
        "recharge",
        "withdrawal",
        "withdrawal_transit",
        "withdrawal_failed",
        "withdrawal_returned",
        "opening_deposit",
        "micro_deposit",
        "judicial_deduction",
        "dormant_unclaimed",
        "fee",
        "interest",
        "funding",
    ):
        assert kind in POSTING_RULES, kind
    assert REVERSAL_KIND not in POSTING_RULES  # checked as the mirror of the reversed voucher


def test_r_posting_rules_registration_refuses_duplicates_unknown_roles_and_reversal():
    with pytest.raises(ValueError, match="already registered"):
        register_posting_rule("transfer", debit=CUSTOMER_ROLES, credit=CUSTOMER_ROLES)
    with pytest.raises(ValueError, match="not in the chart"):
        register_posting_rule("custody_new_kind", debit=["no_such_role"], credit=CUSTOMER_ROLES)
    with pytest.raises(ValueError, match="mirror"):
        register_posting_rule(REVERSAL_KIND, debit=CUSTOMER_ROLES, credit=CUSTOMER_ROLES)
    assert "custody_new_kind" not in POSTING_RULES


# -- refusals, on both paths ----------------------------------------------------------------------


def test_r_posting_rules_customer_transfer_cannot_debit_clearing(both_paths, customer, clearing):
    before = _state()
    with pytest.raises(PostingRuleViolationError) as refused:
        _post("transfer", ledger.move(from_account_id=clearing.pk, to_account_id=customer.pk, amount=D("1000000.00")))
    assert refused.value.code == "posting_rule_violation" and refused.value.http_status == 403
    assert refused.value.data == {"kind": "transfer", "role": "clearing", "side": "debit", "account": clearing.number}
    assert _state() == before
    assert ledger_drift() == []


def test_r_posting_rules_customer_transfer_cannot_credit_withdrawal_transit(both_paths, customer):
    transit = internal_account(Role.TRANSIT_WITHDRAWAL)
    before = _state()
    with pytest.raises(PostingRuleViolationError) as refused:
        _post("transfer", ledger.move(from_account_id=customer.pk, to_account_id=transit.pk, amount=D("7.00")))
    assert refused.value.data == {"kind": "transfer", "role": "transit_withdrawal", "side": "credit", "account": transit.number}
    assert _state() == before
    assert ledger_drift() == []


def test_r_posting_rules_system_kind_only_touches_its_internal_roles(both_paths, customer):
    fee_income = internal_account(Role.FEE_INCOME)
    with pytest.raises(PostingRuleViolationError) as refused:
        # a recharge comes from clearing, never from fee income
        _post("recharge", ledger.move(from_account_id=fee_income.pk, to_account_id=customer.pk, amount=D("1.00")))
    assert refused.value.data["role"] == "fee_income" and refused.value.data["side"] == "debit"


def test_r_posting_rules_unknown_kind_is_refused(both_paths, customer, make_account):
    other = make_account()
    with pytest.raises(PostingRuleViolationError) as refused:
        _post("made_up_kind", ledger.move(from_account_id=customer.pk, to_account_id=other.pk, amount=D("1.00")))
    assert refused.value.data["kind"] == "made_up_kind"


def test_r_posting_rules_reversal_cannot_be_posted_directly(both_paths, customer, clearing):
    with pytest.raises(PostingRuleViolationError):
        _post(REVERSAL_KIND, ledger.move(from_account_id=clearing.pk, to_account_id=customer.pk, amount=D("1.00")))


def test_r_posting_rules_customer_transfer_legal_between_customers(both_paths, customer, make_account):
    other = make_account()
    _post("transfer", ledger.move(from_account_id=customer.pk, to_account_id=other.pk, amount=D("3.00")))
    assert Account.objects.get(pk=other.pk).balance == D("3.00")
    assert ledger_drift() == []


def test_r_posting_rules_hold_capture_to_clearing_refused(customer, clearing):
    hold = ledger.hold_place(client="rules", idempotency_key="h", account_id=customer.pk, amount=D("10.00"), reason="partner")
    before = _state()
    with pytest.raises(PostingRuleViolationError) as refused:
        ledger.hold_capture(client="rules", idempotency_key="c", hold_id=hold.pk, to_account_id=clearing.pk)
    assert refused.value.data == {"kind": "hold_capture", "role": "clearing", "side": "credit", "account": clearing.number}
    assert _state() == before
    hold.refresh_from_db()
    assert hold.state == "active"


def test_r_posting_rules_reversal_of_a_system_voucher_posts_as_its_mirror(customer, clearing):
    funded = _post("funding", ledger.move(from_account_id=clearing.pk, to_account_id=customer.pk, amount=D("5.00")))
    reversal = ledger.reverse_transfer(client="rules", idempotency_key="r", transfer_id=funded.pk)
    assert reversal.kind == REVERSAL_KIND and reversal.reversal_of_id == funded.pk
    assert Account.objects.get(pk=customer.pk).balance == D("100.00")
    assert ledger_drift() == []


@needs_postgres
@pytest.mark.postgres
def test_r_posting_rules_postgres_function_path_refuses_in_its_one_round_trip(settings, customer, clearing):
    settings.LEDGER_PG_FUNCTION = True
    before = _state()
    with CaptureQueriesContext(connection) as queries, pytest.raises(PostingRuleViolationError) as refused:
        _post("transfer", ledger.move(from_account_id=clearing.pk, to_account_id=customer.pk, amount=D("1000000.00")))
    calls = [q["sql"] for q in queries.captured_queries if "ledger_post_transfer" in q["sql"]]
    assert len(calls) == 1
    assert not [q for q in queries.captured_queries if 'FROM "accounts_account"' in q["sql"]]  # no extra read
    assert refused.value.data == {"kind": "transfer", "role": "clearing", "side": "debit", "account": clearing.number}
    assert _state() == before
    # and a legal voucher still goes through the function
    other_kind = _post("funding", ledger.move(from_account_id=clearing.pk, to_account_id=customer.pk, amount=D("1.00")))
    assert other_kind.pk and Account.objects.get(pk=customer.pk).balance == D("101.00")


# -- ledger_check finds vouchers written before the rule ------------------------------------------


def _write_voucher_around_the_ledger(kind, debit_account, credit_account, amount):
    """A voucher as a pre-rule row would exist: rows written directly, balances kept consistent."""
    now = timezone.now()
    transfer = Transfer.objects.create(
        client="legacy",
        idempotency_key=str(uuid4()),
        kind=kind,
        fingerprint="legacy",
        amount=amount,
        created_at=now,
        updated_at=now,
    )
    for account, side in ((debit_account, DEBIT), (credit_account, CREDIT)):
        account = Account.objects.get(pk=account.pk)
        account.apply(side, amount)
        Account.objects.filter(pk=account.pk).update(balance=account.balance)
        Entry.objects.create(
            transfer=transfer,
            account=account,
            side=side,
            amount=amount,
            balance_after=account.balance,
            subject=account.subject_id,
            created_at=now,
        )
    return transfer


def test_r_posting_rules_ledger_check_reports_a_pre_existing_bad_voucher(customer, clearing):
    bad = _write_voucher_around_the_ledger("transfer", clearing, customer, D("1000000.00"))
    drifts = ledger_report().drifts
    assert [d.kind for d in drifts] == ["posting rule"]  # balanced, balances consistent: only the rule
    (drift,) = drifts
    assert drift.target == f"#{bad.pk} transfer"
    assert "debits clearing account" in drift.actual and clearing.number in drift.actual
    assert "debit only" in drift.expected and "clearing" not in drift.expected
    assert "posting rule" in str(drift)


def test_r_posting_rules_ledger_check_reports_an_unknown_kind_and_passes_legal_vouchers(customer, clearing, make_account):
    other = make_account()
    _post("transfer", ledger.move(from_account_id=customer.pk, to_account_id=other.pk, amount=D("2.00")))
    assert ledger_drift() == []
    bad = _write_voucher_around_the_ledger("adhoc", customer, other, D("1.00"))
    drifts = ledger_drift()
    assert {d.target for d in drifts} == {f"#{bad.pk} adhoc"} and len(drifts) == 2  # its debit and its credit
    assert all("no rule" in d.expected for d in drifts)


def test_r_posting_rules_pre_rule_voucher_is_undone_by_its_reversal_and_then_no_longer_reported(customer, clearing):
    bad = _write_voucher_around_the_ledger("transfer", clearing, customer, D("1000000.00"))
    assert [d.kind for d in ledger_drift()] == ["posting rule"]
    reversal = ledger.reverse_transfer(client="rules", idempotency_key="undo", transfer_id=bad.pk)
    assert reversal.reversal_of_id == bad.pk
    assert Account.objects.get(pk=customer.pk).balance == D("100.00")
    assert ledger_drift() == []


def test_r_posting_rules_ledger_check_reports_a_reversal_that_is_not_the_mirror(customer, clearing, make_account):
    funded = _post("funding", ledger.move(from_account_id=clearing.pk, to_account_id=customer.pk, amount=D("5.00")))
    reversal = ledger.reverse_transfer(client="rules", idempotency_key="r", transfer_id=funded.pk)
    other = make_account()
    # a reversal's credit leg moved to another account behind the ledger's back
    Entry.objects.filter(transfer=reversal, side=CREDIT).update(account=other)
    kinds = {(d.kind, d.target) for d in ledger_drift()}
    assert ("posting rule", f"#{reversal.pk} reversal of #{funded.pk}") in kinds
