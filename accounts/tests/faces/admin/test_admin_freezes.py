"""Judicial freezes in the console: the maker's request form, the checker's decision through the
services (maker = checker refused), the read-only freeze list and the account page's freezes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.ledger.models import Hold
from accounts.states.models import FreezeRequest, JudicialFreeze
from accounts.tests.admin_support import console_fixture, make_staff, sign_in_verified  # noqa: F401
from backoffice.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


def request_url(action, **query):
    url = reverse("admin:accounts_judicialfreeze_request", args=[action])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def decide_url(req):
    return reverse("admin:accounts_freezerequest_decide", args=[req.pk])


def errors_of(response):
    return [str(m) for m in response.context["messages"] if m.level_tag == "error"]


def later(days=30):
    return (timezone.localtime() + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def place_data(target, **overrides):
    data = {
        "account": target.number,
        "kind": "partial",
        "amount": "30.00",
        "authority": "上海市浦东新区人民法院 Pudong Court",
        "document_number": "(2026)沪0115执123号",
        "expires_at": later(),
        "reason": "served at the counter",
    }
    data.update(overrides)
    return data


@pytest.fixture
def checker():
    """A second, separately signed-in supervisor (the checker)."""
    return sign_in_verified(Client(), make_staff("checker", "supervisor"))


@pytest.fixture
def placed(console, make_account, fund, checker):
    """A partial freeze of 30.00 on a funded account, requested by an operator, approved by the checker."""

    def do(amount="30.00", kind="partial"):
        account = fund(make_account(), "100.00")
        maker = console("operator")
        maker.post(request_url("place"), place_data(account, amount=amount if kind == "partial" else "", kind=kind))
        req = FreezeRequest.objects.get(account=account, action="place")
        checker.post(decide_url(req), {"decision": "approve", "reason": "ok"})
        return account, JudicialFreeze.objects.get(account=account), maker

    return do


def test_admin_freeze_request_form_creates_a_pending_request(console, make_account, fund, reload):
    account = fund(make_account(), "100.00")
    client = console("operator")
    page = client.get(request_url("place", account=account.pk))
    assert page.status_code == 200 and account.number.encode() in page.content
    response = client.post(request_url("place"), place_data(account))
    assert response.status_code == 302
    req = FreezeRequest.objects.get(account=account)
    assert req.state == FreezeRequest.State.PENDING and req.action == "place"
    assert req.payload["amount"] == "30.00" and req.requested_by.username == "operator-user"
    assert AuditLog.objects.filter(action="freeze_request.create", target_id=str(req.pk)).exists()
    assert reload(account).frozen == Decimal("0.00")  # nothing happens before approval


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"kind": "partial", "amount": ""}, "amount"),
        ({"kind": "full", "amount": "5.00"}, "amount"),
        ({"expires_at": "2001-01-01T00:00"}, "expires_at"),
        ({"expires_at": "not a date"}, "expires_at"),
        ({"account": "6230000000000000"}, "account"),
        ({"amount": "1.234"}, "amount"),
    ],
)
def test_admin_freeze_request_bad_input_is_a_form_error(console, make_account, fund, overrides, field):
    account = fund(make_account(), "100.00")
    client = console("operator")
    response = client.post(request_url("place"), place_data(account, **overrides))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not FreezeRequest.objects.exists()


def test_admin_freeze_request_refused_for_auditors_and_supervisors(console, make_account):
    account = make_account()
    for group in ("auditor", "supervisor"):
        client = console(group, username=f"{group}-x")
        assert client.get(request_url("place", account=account.pk)).status_code == 403
        assert client.post(request_url("place"), place_data(account)).status_code == 403
    assert not FreezeRequest.objects.exists()


def test_admin_checker_approves_and_the_freeze_takes_effect(placed, reload):
    account, freeze, _maker = placed()
    assert freeze.state == JudicialFreeze.State.ACTIVE and freeze.frozen_amount == Decimal("30.00")
    assert reload(account).frozen == Decimal("30.00")
    req = FreezeRequest.objects.get(account=account)
    assert req.state == FreezeRequest.State.APPROVED and req.decided_by.username == "checker"
    assert AuditLog.objects.filter(action="freeze_request.approve", target_id=str(req.pk), actor__username="checker").exists()


def test_admin_maker_cannot_be_checker(console, make_account, fund, reload):
    account = fund(make_account(), "100.00")
    client = console(superuser=True, username="both")  # holds both permissions
    client.post(request_url("place"), place_data(account))
    req = FreezeRequest.objects.get(account=account)
    page = client.get(decide_url(req))
    assert page.status_code == 200 and page.context["is_maker"]
    response = client.post(decide_url(req), {"decision": "approve", "reason": "self"}, follow=True)
    assert response.status_code == 200 and errors_of(response)
    assert FreezeRequest.objects.get(pk=req.pk).state == FreezeRequest.State.PENDING
    assert not JudicialFreeze.objects.exists() and reload(account).frozen == Decimal("0.00")
    response = client.post(decide_url(req), {"decision": "reject", "reason": "self"}, follow=True)
    assert errors_of(response) and FreezeRequest.objects.get(pk=req.pk).state == FreezeRequest.State.PENDING


def test_admin_operator_cannot_decide(console, make_account, fund):
    account = fund(make_account(), "100.00")
    client = console("operator")
    client.post(request_url("place"), place_data(account))
    req = FreezeRequest.objects.get(account=account)
    assert client.get(decide_url(req)).status_code == 403
    assert client.post(decide_url(req), {"decision": "approve"}).status_code == 403
    assert FreezeRequest.objects.get(pk=req.pk).state == FreezeRequest.State.PENDING


def test_admin_checker_rejects_with_a_reason(console, make_account, fund, checker):
    account = fund(make_account(), "100.00")
    console("operator").post(request_url("place"), place_data(account))
    req = FreezeRequest.objects.get(account=account)
    response = checker.post(decide_url(req), {"decision": "reject", "reason": ""})
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    checker.post(decide_url(req), {"decision": "reject", "reason": "wrong document"})
    req = FreezeRequest.objects.get(pk=req.pk)
    assert req.state == FreezeRequest.State.REJECTED and req.reason == "wrong document"
    assert AuditLog.objects.filter(action="freeze_request.reject", target_id=str(req.pk)).exists()
    assert not JudicialFreeze.objects.exists()


def test_admin_pending_list_defaults_to_pending(console, make_account, fund, checker, placed):
    _account, _freeze, _maker = placed()
    other = fund(make_account(), "10.00")
    console("operator", username="op2").post(request_url("place"), place_data(other, document_number="DOC-2"))
    pending = FreezeRequest.objects.get(account=other)
    response = checker.get(reverse("admin:accounts_freezerequest_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [pending]
    assert decide_url(pending).encode() in response.content
    everything = checker.get(reverse("admin:accounts_freezerequest_changelist"), {"state": "all"})
    assert len(everything.context["cl"].result_list) == 2
    assert checker.get(reverse("admin:accounts_freezerequest_changelist"), {"state": "bogus"}).status_code == 200


def test_admin_release_deduct_and_renew_requests(placed, checker, reload):
    account, freeze, maker = placed()
    page = maker.get(reverse("admin:accounts_judicialfreeze_change", args=[freeze.pk]))
    assert page.status_code == 200
    for name in ("release", "deduct", "renew"):
        assert request_url(name, freeze=freeze.pk).encode() in page.content

    maker.post(
        request_url("deduct", freeze=freeze.pk),
        {
            "freeze": freeze.pk,
            "amount": "10.00",
            "court_account_name": "浦东法院执行款专户",
            "court_account_number": "31001234",
            "court_bank": "建设银行",
            "document_number": "(2026)沪0115执123号之一",
        },
    )
    deduct = FreezeRequest.objects.get(action="deduct")
    checker.post(decide_url(deduct), {"decision": "approve"})
    freeze = JudicialFreeze.objects.get(pk=freeze.pk)
    assert freeze.deducted_amount == Decimal("10.00") and freeze.frozen_amount == Decimal("20.00")
    assert reload(account).balance == Decimal("90.00")

    new_expiry = (freeze.expires_at + dt.timedelta(days=90)).astimezone(timezone.get_current_timezone())
    maker.post(
        request_url("renew", freeze=freeze.pk),
        {"freeze": freeze.pk, "expires_at": new_expiry.strftime("%Y-%m-%dT%H:%M"), "document_number": "续冻-1"},
    )
    checker.post(decide_url(FreezeRequest.objects.get(action="renew")), {"decision": "approve"})
    assert JudicialFreeze.objects.get(pk=freeze.pk).expires_at > freeze.expires_at

    maker.post(request_url("release", freeze=freeze.pk), {"freeze": freeze.pk, "document_number": "解冻-1"})
    checker.post(decide_url(FreezeRequest.objects.get(action="release")), {"decision": "approve"})
    assert JudicialFreeze.objects.get(pk=freeze.pk).state == JudicialFreeze.State.RELEASED
    assert reload(account).frozen == Decimal("0.00")
    assert not Hold.objects.filter(account=account, state="active").exists()


def test_admin_deduct_more_than_frozen_is_refused_with_a_message(placed):
    _account, freeze, maker = placed()
    response = maker.post(
        request_url("deduct", freeze=freeze.pk),
        {
            "freeze": freeze.pk,
            "amount": "999.00",
            "court_account_name": "法院",
            "court_account_number": "1",
            "document_number": "D-9",
        },
    )
    assert response.status_code == 200 and errors_of(response)
    assert not FreezeRequest.objects.filter(action="deduct").exists()


def test_admin_request_for_an_unknown_freeze_is_no_500(console):
    client = console("operator")
    response = client.get(request_url("release", freeze=999999), follow=True)
    assert response.status_code == 200 and errors_of(response)
    assert client.get(request_url("nonsense")).status_code == 403


def test_admin_freeze_list_filters_and_account_page(placed, console):
    account, freeze, _maker = placed()
    auditor = console("auditor", username="aud")
    listing = auditor.get(
        reverse("admin:accounts_judicialfreeze_changelist"), {"state__exact": "active", "kind__exact": "partial"}
    )
    assert listing.status_code == 200 and list(listing.context["cl"].result_list) == [freeze]
    assert (
        list(auditor.get(reverse("admin:accounts_judicialfreeze_changelist"), {"kind__exact": "full"}).context["cl"].result_list)
        == []
    )
    page = auditor.get(reverse("admin:accounts_judicialfreeze_change", args=[freeze.pk]))
    assert page.status_code == 200 and b"freeze-action" not in page.content
    assert auditor.post(reverse("admin:accounts_judicialfreeze_change", args=[freeze.pk]), {}).status_code == 403
    account_page = auditor.get(reverse("admin:accounts_account_change", args=[account.pk])).content.decode()
    assert 'id="account-freezes"' in account_page and freeze.document_number in account_page
