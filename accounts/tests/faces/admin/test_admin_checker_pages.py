"""Checker pages speak the operator's language (issue 13): the freeze checker page is labelled and
shows what the checker weighs; decision selects start empty; review links only where they lead;
KYC approval is maker-checker; refusals name labels, not codes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from accounts.limits.services import LimitExceededError
from accounts.parties.errors import DuplicatePartyError, KycNotApprovedError
from accounts.parties.models import Party
from accounts.parties.services import party_create, party_edit, party_kyc_approve
from accounts.states.errors import AccountNotClosableError
from accounts.states.models import FreezeRequest
from accounts.tests.admin_support import console_fixture, make_staff, sign_in_verified  # noqa: F401
from backoffice.errors import MakerCheckerError
from conftest import random_id_number

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]

RAW_NAMES = ("document_number", "effective_at", "expires_at", "authority", ">partial<", "+00:00")


def place(client, account, **overrides):
    expires = (timezone.localtime() + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    data = {
        "account": account.number,
        "kind": "partial",
        "amount": "12345.60",
        "authority": "上海市浦东新区人民法院",
        "document_number": "(2026)沪0115执9号",
        "expires_at": expires,
        "reason": "served",
    }
    data.update(overrides)
    return client.post(reverse("admin:accounts_judicialfreeze_request", args=["place"]), data)


@pytest.fixture
def checker():
    return sign_in_verified(Client(), make_staff("checker", "supervisor"))


def test_freeze_checker_page_is_labelled_and_shows_what_to_weigh(console, make_account, fund, checker):
    account = fund(make_account(), "20000.00")
    place(console("operator"), account)
    req = FreezeRequest.objects.get(account=account)
    page = checker.get(reverse("admin:accounts_freezerequest_decide", args=[req.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    for raw in RAW_NAMES:
        assert raw not in html, raw
    assert "12,345.60" in html and "20,000.00" in html  # the amount asked, the balance
    assert account.party.name in html and account.party.id_number_masked in html  # the holder
    assert 'id="freeze-existing-none"' in html  # no freeze yet
    local = timezone.localtime(req.requested_at).strftime("%Y-%m-%d %H:%M")
    assert local in html  # Beijing time, not UTC
    decision = page.context["form"]["decision"]
    assert decision.value() in (None, "") and 'value="" selected' in str(decision)


def test_freeze_decision_without_a_choice_is_a_form_error(console, make_account, fund, checker):
    account = fund(make_account(), "100.00")
    place(console("operator"), account, amount="10.00")
    req = FreezeRequest.objects.get(account=account)
    response = checker.post(reverse("admin:accounts_freezerequest_decide", args=[req.pk]), {"decision": "", "reason": ""})
    assert response.status_code == 200 and response.context["form"].errors["decision"]
    assert FreezeRequest.objects.get(pk=req.pk).state == FreezeRequest.State.PENDING


def test_freeze_review_link_hidden_from_maker_and_from_non_checkers(console, make_account, fund, checker):
    account = fund(make_account(), "100.00")
    maker = console(superuser=True, username="both")  # may request and approve
    place(maker, account, amount="10.00")
    req = FreezeRequest.objects.get(account=account)
    decide = reverse("admin:accounts_freezerequest_decide", args=[req.pk]).encode()
    assert decide not in maker.get(reverse("admin:accounts_freezerequest_changelist")).content
    assert decide not in maker.get(reverse("admin:accounts_freezerequest_change", args=[req.pk])).content
    operator = sign_in_verified(Client(), make_staff("op-view", "operator"))
    assert decide not in operator.get(reverse("admin:accounts_freezerequest_changelist")).content
    assert decide in checker.get(reverse("admin:accounts_freezerequest_changelist")).content


def test_r_kyc_maker_checker_service_refuses_creator_and_editor():
    creator, editor, checker = make_staff("creator", "operator"), make_staff("editor", "operator"), make_staff("ok", "operator")
    party = party_create(type="person", name="王五", id_number=random_id_number(), actor=creator)
    assert party.created_by == creator
    with pytest.raises(MakerCheckerError):
        party_kyc_approve(party_id=party.pk, actor=creator)
    party_edit(party_id=party.pk, name="王五五", actor=editor)
    with pytest.raises(MakerCheckerError) as refused:
        party_kyc_approve(party_id=party.pk, actor=editor)
    assert refused.value.code == "maker_checker_violation"
    assert Party.objects.get(pk=party.pk).kyc_state == Party.KycState.PENDING_REVIEW
    assert party_kyc_approve(party_id=party.pk, actor=checker).kyc_state == Party.KycState.APPROVED


def test_kyc_console_refuses_the_maker_and_hides_the_link(console):
    client = console("operator", username="maker-op")
    response = client.post(
        reverse("admin:accounts_party_add"),
        {
            "type": "person",
            "name": "赵六",
            "id_number": random_id_number(),
            "mobile": "",
            "credit_code": "",
            "legal_representative": "",
        },
    )
    assert response.status_code == 302
    maker = Party.objects.get(name="赵六")
    page = client.get(reverse("admin:accounts_party_change", args=[maker.pk])).content.decode()
    approve = reverse("admin:accounts_party_kyc", args=["approve"])
    assert approve not in page and 'id="kyc-maker-note"' in page
    assert "/admin/auth/user/" not in page  # operators shown as names, never a 403 link
    confirm = client.get(approve + f"?ids={maker.pk}").content.decode()
    assert "errornote" in confirm and maker.id_number_masked in confirm  # the documents, and the warning
    response = client.post(approve, {"ids": str(maker.pk), "reason": ""}, follow=True)
    errors = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    assert errors and Party.objects.get(pk=maker.pk).kyc_state == Party.KycState.PENDING_REVIEW
    other = sign_in_verified(Client(), make_staff("other-op", "operator"))
    assert approve in other.get(reverse("admin:accounts_party_change", args=[maker.pk])).content.decode()
    other.post(approve, {"ids": str(maker.pk), "reason": ""})
    assert Party.objects.get(pk=maker.pk).kyc_state == Party.KycState.APPROVED


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_refusals_name_labels_not_codes(lang):
    with translation.override(lang):
        texts = [
            LimitExceededError(limit="II_outflow_day", remaining="1.00").display_text,
            AccountNotClosableError(
                account="1", detail="x", reasons=["balance", "active_holds", "judicial_freezes"]
            ).display_text,
            KycNotApprovedError(state="rejected", tier="I").display_text,
            DuplicatePartyError(party=3, field="id_number").display_text,
        ]
    for code in ("II_outflow_day", "active_holds", "judicial_freezes", "rejected", "id_number"):
        assert not any(code in text for text in texts), code
    # The API keeps the codes.
    assert LimitExceededError(limit="II_outflow_day", remaining="1.00").data["limit"] == "II_outflow_day"


def test_console_search_finds_accounts_by_number_holder_id_number_and_mobile(console, make_party, make_account):
    id_number, mobile = random_id_number(), "13912345678"
    party = make_party("钱七 Qian", id_number=id_number, mobile=mobile)
    account = make_account(party=party)
    other = make_account()
    client = console("auditor")
    accounts_url = reverse("admin:accounts_account_changelist")
    for term in (account.number, "钱七", id_number, mobile, "139-1234-5678"):
        found = list(client.get(accounts_url, {"q": term}).context["cl"].result_list)
        assert account in found and other not in found, term
    parties_url = reverse("admin:accounts_party_changelist")
    for term in (id_number, mobile, "钱七"):
        assert list(client.get(parties_url, {"q": term}).context["cl"].result_list) == [party], term
    listing = client.get(parties_url, {"q": "钱七"}).content.decode()
    assert mobile not in listing and id_number not in listing  # results stay masked


def test_account_opening_form_searches_parties_and_leaves_rejected_out(console, make_party):
    approved = make_party("孙八 Sun")
    rejected = make_party("周九 Zhou", kyc="rejected")
    client = console("operator")
    url = reverse("admin:accounts_account_open")
    page = client.get(url)
    choices = list(page.context["form"].fields["party"].queryset)
    assert approved in choices and rejected not in choices
    assert approved.get_kyc_state_display() in page.content.decode()
    narrowed = client.get(url, {"q": "孙八"})
    assert list(narrowed.context["form"].fields["party"].queryset) == [approved]
    response = client.post(url, {"party": rejected.pk, "role": "lender", "tier": "II", "name": ""})
    assert response.status_code == 200 and response.context["form"].errors["party"]


@pytest.mark.parametrize(
    "language, labels, requested_by",
    [
        ("en", ("Kind", "Amount", "Authority", "Document number", "Expires at", "Decision"), "(Beijing time)"),
        ("zh-hans", ("冻结方式", "金额", "有权机关", "文书编号", "到期时间", "复核结论"), "（北京时间）"),
    ],
)
def test_freeze_checker_page_labels_the_request_in_the_page_language(
    console, make_account, fund, checker, language, labels, requested_by
):
    """Issue #13: proper labels (never lower-case field names) and balanced brackets around Beijing time."""
    account = fund(make_account(), "100.00")
    place(console("operator"), account, amount="10.00")
    req = FreezeRequest.objects.get(account=account)
    html = checker.get(
        reverse("admin:accounts_freezerequest_decide", args=[req.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    request_table = html.split('id="freeze-request"')[1].split("</table>")[0]
    for label in labels[:-1]:
        assert f'<th scope="row">{label}</th>' in request_table, label
    assert f">{labels[-1]}" in html  # the decision's label
    for raw in ("kind", "amount", "authority", "document number", "expires at", "decision:"):
        assert f">{raw}" not in html, raw
    local = timezone.localtime(req.requested_at).strftime("%Y-%m-%d %H:%M")
    assert f", {local} {requested_by}</td>" in request_table
