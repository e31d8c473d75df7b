"""Custody in the console: the platform list (search, filter), the maker's application, documents
stored privately and downloaded by staff only, the checker's review page (maker ≠ checker, decision
starting empty), the life-cycle actions and the read-only sub-account list."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.tests.admin_support import sign_in_verified
from backoffice.models import AuditLog
from custody import services
from custody.models import LendingPlatform, PlatformDocument, SubAccount

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


@pytest.fixture(autouse=True)
def private_documents(settings, tmp_path):
    settings.CUSTODY_DOCUMENTS_ROOT = str(tmp_path / "private")
    return tmp_path / "private"


def as_user(user) -> Client:
    return sign_in_verified(Client(), user)


def errors_of(response):
    return [str(m) for m in response.context["messages"] if m.level_tag == "error"]


def test_console_platform_list_search_and_filter(make_platform, apply_platform, maker):
    make_platform("P001", "甲网贷")
    apply_platform("P002", "乙网贷")
    console = as_user(maker)
    url = reverse("admin:custody_lendingplatform_changelist")
    page = console.get(url, {"q": "P001"})
    assert page.status_code == 200 and "甲网贷" in page.text and "乙网贷" not in page.text
    page = console.get(url, {"state__exact": "applied"})
    assert "乙网贷" in page.text and "甲网贷" not in page.text
    credit_code = LendingPlatform.objects.get(code="P002").credit_code
    assert "乙网贷" in console.get(url, {"q": credit_code}).text


def test_console_maker_records_an_application_attaches_documents_and_submits(maker, make_party, private_documents):
    org = make_party(type="organisation", name="丙网贷科技有限公司")
    console = as_user(maker)
    assert console.get(reverse("admin:custody_lendingplatform_add")).status_code == 302
    response = console.post(
        reverse("admin:custody_lendingplatform_apply"), {"code": "P003", "name": org.name, "credit_code": org.credit_code}
    )
    platform = LendingPlatform.objects.get(code="P003")
    assert response.status_code == 302 and platform.created_by == maker and platform.party == org
    add_url = reverse("admin:custody_lendingplatform_document_add", args=[platform.pk])
    for kind in ("licence", "regulator_filing", "icp"):
        upload = SimpleUploadedFile("../../etc/licence.pdf", b"%PDF-1.4 licence", content_type="application/pdf")
        assert console.post(add_url, {"kind": kind, "number": f"N-{kind}", "file": upload}).status_code == 302
    document = PlatformDocument.objects.get(platform=platform, kind="licence")
    stored = private_documents / document.file.name
    assert stored.read_bytes() == b"%PDF-1.4 licence"
    assert document.file.name.startswith("P003/licence/") and ".." not in document.file.name
    with pytest.raises(ValueError):
        document.file.url  # noqa: B018  (private: no URL serves it)
    response = console.post(reverse("admin:custody_lendingplatform_submit", args=[platform.pk]), {"reason": ""})
    assert response.status_code == 302
    assert LendingPlatform.objects.get(pk=platform.pk).state == LendingPlatform.State.UNDER_REVIEW


def test_console_document_download_is_staff_only_and_audited(apply_platform, maker, checker):
    platform = apply_platform("P001", documents=False)
    upload = SimpleUploadedFile("licence.pdf", b"%PDF licence", content_type="application/pdf")
    document = services.platform_document_add(platform_id=platform.pk, kind="licence", number="L1", file=upload, actor=maker)
    url = reverse("admin:custody_platformdocument_download", args=[document.pk])
    response = as_user(checker).get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"%PDF licence"
    assert AuditLog.objects.filter(action="custody.document.download", target_id=str(document.pk)).exists()
    assert Client().get(url).status_code == 302  # not signed in: to the login page


def test_console_review_page_shows_what_the_checker_weighs_and_refuses_the_maker(apply_platform, maker, checker):
    platform = apply_platform("P001")
    services.platform_submit_for_review(platform_id=platform.pk, actor=maker)
    url = reverse("admin:custody_lendingplatform_review", args=[platform.pk])

    # the maker is not a checker (no permission), and a supervisor who made it is refused by the service
    assert as_user(maker).get(url).status_code == 403

    page = as_user(checker).get(url)
    assert page.status_code == 200
    text = page.text
    assert platform.credit_code in text and "custody-maker" in text
    assert "P001-licence" in text and "P001-icp" in text and "P001-regulator_filing" in text
    assert 'checked name="decision"' not in text and "checked>" not in text
    assert page.context["form"]["decision"].value() in (None, "")  # the decision starts empty
    assert page.context["credit"]["valid"] and page.context["credit"]["matches_party"]

    response = as_user(checker).post(url, {"decision": "reject", "note": ""})
    assert response.status_code == 200 and response.context["form"].errors  # a return needs a reason
    response = as_user(checker).post(url, {"decision": "approve", "note": "ok"})
    assert response.status_code == 302
    platform = LendingPlatform.objects.get(pk=platform.pk)
    assert platform.state == LendingPlatform.State.ACTIVE and platform.reviewed_by == checker
    change = as_user(checker).get(reverse("admin:custody_lendingplatform_change", args=[platform.pk]))
    assert change.status_code == 200 and platform.own_funds.number in change.text


def test_console_supervisor_who_submitted_cannot_approve(apply_platform, checker, make_party):
    from accounts.tests.admin_support import make_staff

    platform = apply_platform("P001")
    services.platform_submit_for_review(platform_id=platform.pk, actor=checker)
    url = reverse("admin:custody_lendingplatform_review", args=[platform.pk])
    page = as_user(checker).get(url)
    assert page.context["is_maker"]
    response = as_user(checker).post(url, {"decision": "approve", "note": ""}, follow=True)
    assert len(errors_of(response)) == 1
    assert LendingPlatform.objects.get(pk=platform.pk).state == LendingPlatform.State.UNDER_REVIEW
    other = make_staff("custody-checker-2", "supervisor")
    assert as_user(other).post(url, {"decision": "approve", "note": ""}).status_code == 302
    assert LendingPlatform.objects.get(pk=platform.pk).state == LendingPlatform.State.ACTIVE


def test_console_life_cycle_actions_need_a_reason(make_platform, maker):
    platform = make_platform("P001")
    console = as_user(maker)
    url = reverse("admin:custody_lendingplatform_suspend", args=[platform.pk])
    assert console.post(url, {"reason": ""}).status_code == 200  # the form asks for a reason
    assert console.post(url, {"reason": "regulator notice"}).status_code == 302
    assert LendingPlatform.objects.get(pk=platform.pk).state == LendingPlatform.State.SUSPENDED


def test_console_sub_accounts_are_read_only(make_platform, maker):
    platform = make_platform("P001")
    sub = services.subaccount_open(
        platform=platform,
        role="lender",
        identity_data={"type": "person", "name": "张三", "id_number": "11010519491231002X"},
    )
    console = as_user(maker)
    page = console.get(reverse("admin:custody_subaccount_changelist"))
    assert page.status_code == 200 and sub.account.number in page.text
    assert console.get(reverse("admin:custody_subaccount_add")).status_code == 403
    assert SubAccount.objects.count() == 1


def test_console_settlement_account_bound_by_one_operator_verified_by_another(make_platform, maker, checker):
    from accounts.cards.models import BoundCard

    platform = make_platform("P001")
    bind_url = reverse("admin:custody_lendingplatform_settlement", args=[platform.pk])
    verify_url = reverse("admin:custody_lendingplatform_settlement_verify", args=[platform.pk])
    page = as_user(maker).get(reverse("admin:custody_lendingplatform_change", args=[platform.pk]))
    assert bind_url in page.text
    response = as_user(maker).post(
        bind_url, {"account_number": "1100 6014 9018 0001 23456", "bank_name": "某银行", "verification": "operator"}
    )
    assert response.status_code == 302
    card = LendingPlatform.objects.get(pk=platform.pk).settlement_card
    assert (card.kind, card.state, card.bound_by) == ("corporate_account", "verifying", maker)
    # the binder is not offered the verification, and is refused if they try
    page = as_user(maker).get(reverse("admin:custody_lendingplatform_change", args=[platform.pk]))
    assert verify_url not in page.text
    as_user(maker).post(verify_url, {"reason": "开户许可证"})
    assert BoundCard.objects.get(pk=card.pk).state == "verifying"
    assert as_user(checker).post(verify_url, {"reason": "开户许可证 J100"}).status_code == 302
    assert BoundCard.objects.get(pk=card.pk).state == "verified"


def test_console_platform_books_show_amounts_with_thousands_separators(make_platform, maker, fund):
    platform = make_platform("P001")
    fund(platform.own_funds, "1234567.80")
    page = as_user(maker).get(reverse("admin:custody_lendingplatform_change", args=[platform.pk]))
    assert page.status_code == 200
    books = page.text[page.text.index('id="platform-books"') :]
    assert '<td class="money">1,234,567.80</td>' in books and "1234567.80" not in books
