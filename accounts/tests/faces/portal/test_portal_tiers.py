"""The portal shows each account's tier, state, bound card, tier limits and open judicial freezes."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.limits.services import FlowKind
from accounts.states.services import account_change_state
from accounts.tests import limits_helpers
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import ABC_DEBIT
from accounts.tests.states_helpers import make_user, place

PASSWORD = "portal-test-pass-2026"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}

# whitenoise warns when STATIC_ROOT (collectstatic output) is missing; tests never collect static files.
pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


@pytest.fixture
def signed_in(client, django_user_model):
    """Sign in a portal user linked to the given party."""

    def do(party, username: str = "holder"):
        user = django_user_model.objects.create_user(username=username, password=PASSWORD)
        party.portal_users.add(user)
        client.force_login(user)
        return user

    return do


@pytest.fixture
def class2(make_party):
    """An active Class II account of 李四 that received 1,000.00 from its bound account."""
    account = limits_helpers.open_active(make_party("李四"), "II")
    limits_helpers.post(account, FlowKind.BOUND_INFLOW, "1000.00", when=timezone.now())
    return Account.objects.get(pk=account.pk)


def _limits(row) -> dict[str, tuple[str, str, str]]:
    return {limit["code"]: (limit["amount"], limit["used"], limit["remaining"]) for limit in row["limits"]}


# -- tier limits ----------------------------------------------------------------------------------


def test_class2_dashboard_shows_limits_used_and_remaining_after_a_ledger_outflow(client, class2, signed_in):
    limits_helpers.post(class2, FlowKind.PAYMENT, "300.25", when=timezone.now())
    signed_in(class2.party)

    response = client.get("/portal/", **EN)

    assert response.status_code == 200
    (row,) = response.context["rows"]
    limits = _limits(row)
    assert limits["II_outflow_day"] == ("10,000.00", "300.25", "9,699.75")
    assert limits["II_outflow_year"] == ("200,000.00", "300.25", "199,699.75")
    # The bound-account inflow counts in no bucket (R-ACC-08).
    assert limits["II_inflow_day"] == ("10,000.00", "0.00", "10,000.00")
    html = response.content.decode()
    assert 'data-limit="II_outflow_day"' in html and "9,699.75" in html and "199,699.75" in html
    assert "Payments and money out to non-bound accounts" in html
    assert "Today" in html and "This year" in html


def test_class2_statement_shows_the_same_limits(client, class2, signed_in):
    limits_helpers.post(class2, FlowKind.PAYMENT, "42.00", when=timezone.now())
    signed_in(class2.party)

    response = client.get(reverse("portal:statement", args=[class2.number]), **EN)

    assert response.status_code == 200
    assert _limits(response.context["details"])["II_outflow_day"] == ("10,000.00", "42.00", "9,958.00")
    html = response.content.decode()
    assert 'id="account-details"' in html and "9,958.00" in html
    assert "Class II" in html


def test_class3_shows_its_balance_cap_with_the_current_balance(client, make_party, signed_in):
    account = limits_helpers.open_active(make_party("王五"), "III")
    limits_helpers.post(account, FlowKind.BOUND_INFLOW, "1500.00", when=timezone.now())
    limits_helpers.post(account, FlowKind.PAYMENT, "100.00", when=timezone.now())
    signed_in(account.party)

    row = client.get("/portal/", **EN).context["rows"][0]

    limits = _limits(row)
    assert limits["III_balance_moment"] == ("2,000.00", "1,400.00", "600.00")
    assert limits["III_outflow_day"] == ("2,000.00", "100.00", "1,900.00")
    assert [limit["code"] for limit in row["limits"]][0] == "III_balance_moment"
    assert row["limits"][0]["is_cap"] is True


def test_class1_and_corporate_accounts_show_no_limits(client, make_party, make_account, signed_in):
    person = make_party("张三")
    make_account(party=person, role=Role.LENDER, tier="I")
    signed_in(person)
    response = client.get("/portal/", **EN)
    assert response.context["rows"][0]["limits"] == []
    assert 'class="data compact limits"' not in response.content.decode()


# -- tiers, states and their explanations -----------------------------------------------------------


def test_dashboard_shows_tier_labels_in_chinese(client, make_party, make_account, signed_in):
    person = make_party("张三")
    make_account(party=person, role=Role.LENDER, tier="I")
    make_account(party=person, role=Role.LENDER, tier="II")
    signed_in(person)
    html = client.get("/portal/").content.decode()
    assert "一类户" in html and "二类户" in html


@pytest.mark.parametrize(
    ("actions", "state", "words"),
    [
        ([], "pending_verification", "once your bank card is verified"),
        (["activate", "suspend_non_counter"], "non_counter_suspended", "non-counter transactions are paused"),
        (["activate", "freeze"], "frozen", "no payments or withdrawals go out"),
        (["activate", "mark_dormant"], "dormant", "reactivate the account at a branch"),
        (["activate", "close"], "closed", "no longer takes or makes payments"),
    ],
)
def test_state_is_explained_on_dashboard_and_statement(client, make_party, make_account, signed_in, actions, state, words):
    party = make_party("张三")
    make_account(party=party, role=Role.LENDER, tier="I")
    account = make_account(party=party, role=Role.LENDER, tier="II")  # starts pending_verification
    for action in actions:
        account_change_state(account_id=account.pk, action=action)
    signed_in(party)

    dashboard = client.get("/portal/", **EN)
    statement = client.get(reverse("portal:statement", args=[account.number]), **EN)

    row = next(r for r in dashboard.context["rows"] if r["account"].pk == account.pk)
    assert row["account"].state == state
    for response in (dashboard, statement):
        html = response.content.decode()
        assert words in html
        assert f"notice notice-state state-{state}" in html
    if state == "closed":
        assert row["limits"] == []


def test_active_account_has_no_state_note(client, class2, signed_in):
    signed_in(class2.party)
    row = client.get("/portal/", **EN).context["rows"][0]
    assert row["state_note"] == ""
    assert "notice-state" not in client.get("/portal/", **EN).content.decode()


# -- bound card ----------------------------------------------------------------------------------


def test_bound_card_is_masked_and_the_full_number_never_appears(
    client, open_account, bind, signed_in, django_capture_on_commit_callbacks
):
    account = open_account("II")
    with django_capture_on_commit_callbacks(execute=True):
        bind(account, ABC_DEBIT)
    signed_in(account.party)

    dashboard = client.get("/portal/", **EN).content.decode()
    statement = client.get(reverse("portal:statement", args=[account.number]), **EN).content.decode()

    for html in (dashboard, statement):
        assert "6228 **** **** 0018" in html
        assert ABC_DEBIT not in html
        assert ABC_DEBIT[4:-4] not in html  # not even the middle digits
        assert "Awaiting micro-deposit" in html or "待小额鉴权" in html
        assert "Enter the verification amount" in html
    assert "No card is bound" not in dashboard


def test_account_without_card_says_so(client, class2, signed_in):
    signed_in(class2.party)
    html = client.get("/portal/", **EN).content.decode()
    assert "No card is bound to this account." in html


# -- judicial freezes ------------------------------------------------------------------------------


def test_open_judicial_freeze_is_a_notice_with_kind_and_amount_only(client, class2, signed_in):
    maker = make_user("maker", "request_judicial_freeze")
    checker = make_user("checker", "approve_judicial_freeze")
    freeze = place(maker, checker, class2, "partial", "300.00")
    signed_in(class2.party)

    dashboard = client.get("/portal/", **EN)
    statement = client.get(reverse("portal:statement", args=[class2.number]), **EN)

    assert dashboard.context["rows"][0]["freezes"] == [
        {"kind": dashboard.context["rows"][0]["freezes"][0]["kind"], "amount": "300.00", "queued": False}
    ]
    for response in (dashboard, statement):
        html = response.content.decode()
        assert "Judicial freeze" in html and "Freeze of an amount" in html and "300.00" in html
        assert freeze.document_number not in html
        assert freeze.authority not in html


def test_released_freeze_is_not_shown(client, class2, signed_in):
    from accounts.tests.states_helpers import act

    maker = make_user("maker", "request_judicial_freeze")
    checker = make_user("checker", "approve_judicial_freeze")
    freeze = place(maker, checker, class2, "debit_blocked")
    act(maker, checker, freeze, "release")
    signed_in(class2.party)
    response = client.get("/portal/", **EN)
    assert response.context["rows"][0]["freezes"] == []
    assert "Judicial freeze" not in response.content.decode()
