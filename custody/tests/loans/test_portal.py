"""R-DEP-02 on the bank's portal: the client grants a standing authorisation by typing the
transaction password (never given to the platform), sees it used, and revokes it; another user's
sub-account is 404."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.payments.authorisation import transaction_password_set
from custody.loans.errors import AuthorisationNotInForceError
from custody.loans.models import StandingAuthorisation

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(client, django_user_model, platform, open_sub):
    sub = open_sub(platform, "lender")
    transaction_password_set(party_id=sub.party_id, password="135790")
    user = django_user_model.objects.create_user(username="lender", password="x-Long-password-1")
    sub.party.portal_users.add(user)
    client.force_login(user)
    return sub


def _grant(client, sub, **overrides):
    body = {"instruction_types": ["bid"], "per_instruction_max": "500.00", "cumulative_max": "2000.00", "days": "30"}
    body.update(overrides)
    return client.post(reverse("custody_portal:authorisations", args=[sub.account.number]), body)


def test_r_dep_02_client_grants_with_the_transaction_password_and_revokes(client, holder, fund, new_loan, bid):
    page = client.get(reverse("custody_portal:authorisations", args=[holder.account.number]))
    assert page.status_code == 200 and holder.platform.name in page.text
    wrong = _grant(client, holder, password="000000")
    assert wrong.status_code == 200 and not StandingAuthorisation.objects.filter(grantor=holder).exists()
    done = _grant(client, holder, password="135790")
    assert done.status_code == 302
    granted = StandingAuthorisation.objects.get(grantor=holder)
    assert granted.instruction_types == ["bid"] and granted.cumulative_max == Decimal("2000.00")
    assert granted.granted_via == "portal"

    fund(holder.account, Decimal("1000.00"))
    holder.auth = granted
    loan = new_loan("1000.00")
    bid(loan, holder, "500.00")  # the platform uses it
    listed = client.get(reverse("custody_portal:authorisations", args=[holder.account.number]))
    assert "500.00" in listed.text

    revoked = client.post(reverse("custody_portal:authorisation_revoke", args=[holder.account.number, granted.pk]))
    assert revoked.status_code == 302
    with pytest.raises(AuthorisationNotInForceError):
        bid(loan, holder, "100.00")


def test_portal_refuses_types_outside_the_role_and_other_users_sub_accounts(client, holder, platform, open_sub):
    refused = _grant(client, holder, instruction_types=["auto_repay"], password="135790")
    assert refused.status_code == 200 and not StandingAuthorisation.objects.filter(grantor=holder).exists()
    someone_else = open_sub(platform, "lender")
    assert client.get(reverse("custody_portal:authorisations", args=[someone_else.account.number])).status_code == 404
