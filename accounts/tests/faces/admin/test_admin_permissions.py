"""Who may do what in the console: groups, state actions through the service, view-only ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.ledger.models import Account, Entry, Hold, Subject, Transfer
from accounts.parties.models import Party
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from backoffice.models import AuditLog
from conftest import random_credit_code

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


NO_INLINE_FORMS = {"accounts-TOTAL_FORMS": "0", "accounts-INITIAL_FORMS": "0"}


def state_url(action, *accounts):
    return reverse("admin:accounts_account_change_state", args=[action]) + "?ids=" + ",".join(str(a.pk) for a in accounts)


def test_admin_auditor_views_accounts_but_cannot_add_change_or_delete(console, make_account, fund):
    account = fund(make_account(), "10.00")
    client = console("auditor")
    changelist = client.get(reverse("admin:accounts_account_changelist"))
    assert changelist.status_code == 200
    assert account.number.encode() in changelist.content
    assert b"state_freeze" not in changelist.content  # no state actions offered
    change = client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert change.status_code == 200
    assert reverse("admin:accounts_account_statement", args=[account.pk]).encode() in change.content
    assert b"state-action" not in change.content
    assert client.get(reverse("admin:accounts_party_add")).status_code == 403
    assert client.post(reverse("admin:accounts_party_change", args=[account.party_id]), {"name": "x"}).status_code == 403


def test_admin_auditor_cannot_post_a_state_action(console, make_account, reload):
    account = make_account()
    client = console("auditor")
    assert client.get(state_url("freeze", account)).status_code == 403
    response = client.post(state_url("freeze", account), {"ids": str(account.pk), "reason": "try"})
    assert response.status_code == 403
    # The changelist action is not offered either: posting it changes nothing.
    client.post(
        reverse("admin:accounts_account_changelist"), {"action": "state_freeze", "_selected_action": [account.pk], "index": 0}
    )
    assert reload(account).state == Account.State.ACTIVE
    assert not AuditLog.objects.filter(action="account.freeze").exists()


def test_admin_operator_may_add_a_party_but_not_change_state(console, make_account, reload):
    account = make_account()
    client = console("operator")
    response = client.post(
        reverse("admin:accounts_party_add"),
        {
            "type": "organisation",
            "name": "新商户 New Merchant",
            "credit_code": random_credit_code(),
            "legal_representative": "王总",
        },
    )
    assert response.status_code == 302
    party = Party.objects.get(name="新商户 New Merchant")
    assert AuditLog.objects.filter(action="party.create", target_id=str(party.pk)).exists()
    response = client.post(
        reverse("admin:accounts_party_change", args=[party.pk]), {"type": "organisation", "name": "Renamed", **NO_INLINE_FORMS}
    )
    assert response.status_code == 302
    assert Party.objects.get(pk=party.pk).name == "Renamed"
    assert client.post(state_url("freeze", account), {"ids": str(account.pk), "reason": "no"}).status_code == 403
    assert reload(account).state == Account.State.ACTIVE


def test_admin_supervisor_freezes_then_unfreezes_with_a_reason_and_audit(console, make_account, fund, reload):
    account = fund(make_account(), "50.00")
    client = console("supervisor")
    change = client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert b"state-action" in change.content
    # The changelist action leads to the confirmation page.
    response = client.post(
        reverse("admin:accounts_account_changelist"), {"action": "state_freeze", "_selected_action": [account.pk], "index": 0}
    )
    assert response.status_code == 302
    assert response["Location"] == state_url("freeze", account)
    confirm = client.get(response["Location"])
    assert confirm.status_code == 200
    assert b'name="reason"' in confirm.content
    assert reload(account).state == Account.State.ACTIVE  # nothing happens before confirmation

    response = client.post(state_url("freeze", account), {"ids": str(account.pk), "reason": "court order 2026-001"})
    assert response.status_code == 302
    assert reload(account).state == Account.State.FROZEN
    row = AuditLog.objects.get(action="account.freeze", target_id=str(account.pk))
    assert row.actor.username == "supervisor-user"
    assert row.data == {"from": "active", "to": "frozen", "reason": "court order 2026-001"}

    response = client.post(state_url("unfreeze", account), {"ids": str(account.pk), "reason": "order lifted"}, follow=True)
    assert response.status_code == 200
    assert reload(account).state == Account.State.ACTIVE
    assert AuditLog.objects.filter(action="account.unfreeze", target_id=str(account.pk)).count() == 1
    assert reload(account).balance == Decimal("50.00")


def test_admin_state_action_without_a_reason_is_not_applied(console, make_account, reload):
    account = make_account()
    client = console("supervisor")
    response = client.post(state_url("freeze", account), {"ids": str(account.pk), "reason": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert reload(account).state == Account.State.ACTIVE


def test_admin_refused_transition_shows_an_error_not_a_500(console, make_account, reload):
    account = make_account()
    client = console("supervisor")
    response = client.post(state_url("unfreeze", account), {"ids": str(account.pk), "reason": "mistake"}, follow=True)
    assert response.status_code == 200
    errors = [m for m in response.context["messages"] if m.level_tag == "error"]
    assert errors
    assert reload(account).state == Account.State.ACTIVE
    assert not AuditLog.objects.filter(action="account.unfreeze").exists()


def test_admin_closing_an_account_with_money_is_refused(console, make_account, fund, reload):
    account = fund(make_account(), "1.00")
    client = console("supervisor")
    response = client.post(state_url("close", account), {"ids": str(account.pk), "reason": "customer left"}, follow=True)
    assert response.status_code == 200
    assert any(m.level_tag == "error" for m in response.context["messages"])
    assert reload(account).state == Account.State.ACTIVE


def test_admin_bulk_freeze_reports_each_account(console, make_account, reload):
    first, second = make_account(), make_account()
    client = console("supervisor")
    client.post(state_url("freeze", second), {"ids": str(second.pk), "reason": "first"}, follow=True)
    response = client.post(state_url("freeze", first, second), {"ids": f"{first.pk},{second.pk}", "reason": "risk"}, follow=True)
    levels = sorted(m.level_tag for m in response.context["messages"])
    assert levels == ["error", "success"]
    assert reload(first).state == Account.State.FROZEN


def test_admin_internal_accounts_refuse_state_actions(console, clearing, reload):
    client = console("supervisor")
    response = client.post(state_url("freeze", clearing), {"ids": str(clearing.pk), "reason": "x"}, follow=True)
    assert any(m.level_tag == "error" for m in response.context["messages"])
    assert reload(clearing).state == Account.State.ACTIVE


@pytest.mark.parametrize("model", [Transfer, Entry, Hold, Subject, Account, AuditLog])
def test_admin_ledger_models_have_no_add_change_or_delete(console, make_account, fund, model):
    account = fund(make_account(), "5.00")
    from accounts.ledger import postings as ledger

    ledger.hold_place(client="t", idempotency_key="h1", account_id=account.pk, amount=Decimal("1.00"), reason="risk")
    AuditLog.objects.create(action="test")
    client = console(superuser=True)
    opts = model._meta
    obj = model.objects.first()
    assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code == 200
    assert client.post(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"), {}).status_code == 403
    assert (
        client.post(reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[obj.pk]), {"post": "yes"}).status_code
        == 403
    )
    view = client.post(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]), {})
    assert view.status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_admin_transfer_page_shows_its_entries_and_search_by_id(console, make_account, fund):
    account = fund(make_account(), "7.00")
    transfer = Transfer.objects.filter(entries__account=account).get()
    client = console("auditor")
    page = client.get(reverse("admin:accounts_transfer_change", args=[transfer.pk]))
    assert page.status_code == 200
    assert account.number.encode() in page.content
    found = client.get(reverse("admin:accounts_transfer_changelist"), {"q": str(transfer.pk)})
    assert list(found.context["cl"].result_list) == [transfer]
    assert client.get(reverse("admin:accounts_transfer_changelist"), {"q": "no-such-key"}).status_code == 200


def test_admin_operator_opens_an_account_through_the_service(console, make_party):
    party = make_party("开户人 Opener")
    client = console("operator")
    assert client.get(reverse("admin:accounts_account_open")).status_code == 200
    response = client.post(reverse("admin:accounts_account_open"), {"party": party.pk, "role": "lender", "tier": "II"})
    assert response.status_code == 302
    account = Account.objects.get(party=party)
    assert account.state == Account.State.PENDING_VERIFICATION
    assert AuditLog.objects.filter(action="account.open", target_id=str(account.pk)).exists()


def test_admin_auditor_cannot_open_accounts(console):
    client = console("auditor")
    assert client.get(reverse("admin:accounts_account_open")).status_code == 403


def test_admin_activate_pending_account(console, make_account, reload):
    account = make_account(tier="II")
    client = console("supervisor")
    change = client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert state_url("activate", account).encode() in change.content
    client.post(state_url("activate", account), {"ids": str(account.pk), "reason": "card verified at counter"})
    assert reload(account).state == Account.State.ACTIVE
