"""The portal speaks Chinese by default and English after switching; the catalogue is complete."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.utils import translation

from accounts.ledger.chart import Role
from accounts.ledger.errors import AccountNotActiveError, InsufficientFundsError, PostingRuleViolationError
from backoffice.errors import IdempotencyConflictError

ZH_PO = settings.BASE_DIR / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"

# whitenoise warns when STATIC_ROOT (collectstatic output) is missing; tests never collect static files.
pytestmark = pytest.mark.filterwarnings("ignore:No directory at:UserWarning")


@pytest.fixture
def signed_in(client, django_user_model, make_party, make_account, fund):
    party = make_party("张三")
    account = fund(make_account(party=party, role=Role.LENDER), "66.00")
    user = django_user_model.objects.create_user(username="holder", password="portal-test-pass-2026")
    party.portal_users.add(user)
    client.force_login(user)
    return account


def test_portal_renders_in_chinese_by_default(client, signed_in):
    html = client.get("/portal/").content.decode()
    assert "我的账户" in html
    assert "可用余额" in html
    assert "出借人" in html  # Role label "Lender / 出借人" shows only its Chinese part
    assert "Lender / 出借人" not in html
    assert "My accounts" not in html


def test_language_switcher_changes_the_language_to_english(client, signed_in):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/portal/"})
    assert response.status_code == 302 and response["Location"] == "/portal/"
    html = client.get("/portal/").content.decode()
    assert "My accounts" in html
    assert "Available" in html
    assert "我的账户" not in html
    statement = client.get(f"/portal/accounts/{signed_in.number}/").content.decode()
    assert "Account statement" in statement and "Credit" in statement


def test_language_switcher_back_to_chinese(client, signed_in):
    client.post("/i18n/setlang/", {"language": "en", "next": "/portal/"})
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/portal/"})
    assert "我的账户" in client.get("/portal/").content.decode()


def test_login_page_is_chinese_by_default_and_english_on_request(client):
    assert "登录" in client.get("/portal/login/").content.decode()
    english = client.get("/portal/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Sign in to the portal" in english


def test_bad_date_error_is_translated(client, signed_in):
    response = client.get(f"/portal/accounts/{signed_in.number}/?date_from=31/12/2026")
    assert "请按 YYYY-MM-DD 格式输入日期" in response.content.decode()


def test_api_error_messages_are_translated_with_their_placeholders():
    with translation.override("zh-hans"):
        short = InsufficientFundsError(account="6230001", available="1.00", shortfall="2.50").text
        state = AccountNotActiveError(account="6230001", state="frozen", direction="debit").text
        replay = IdempotencyConflictError(key="k-1").text
    assert "6230001" in short and "1.00" in short and "2.50" in short and "可用" in short
    assert "6230001" in state and "frozen" in state and "账户" in state
    assert "k-1" in replay and "幂等键" in replay
    with translation.override("en"):
        assert InsufficientFundsError(account="a", available="1.00", shortfall="2.50").text == (
            "Account a has 1.00 available, short by 2.50."
        )


def test_issue_9_messages_are_translated():
    # posting_rule_violation, malformed_request, the channel's "not found is final" field and R-ACC-16's channel
    with translation.override("zh-hans"):
        rule = PostingRuleViolationError(kind="transfer", side="debit", role="clearing").text
        assert "transfer" in rule and "clearing" in rule and "凭证" in rule
        assert translation.gettext("Malformed request.") == "请求格式错误。"
        assert translation.gettext("'not found' is final after (s) / 查无此单视为失败（秒）") == "查无此单视为失败（秒）"
        assert translation.gettext("Counter / 柜面") == "柜面"
    with translation.override("en"):
        assert translation.gettext("Counter transfer / 柜面转账") == "Counter transfer"


def test_chinese_catalogue_has_no_untranslated_or_fuzzy_entries():
    text = ZH_PO.read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]  # the first block is the header
    untranslated = [e for e in entries if re.search(r'^msgstr(\[\d\])? ""\s*$', e, re.M) and not e.startswith("#~")]
    assert untranslated == []
    assert "#, fuzzy" not in text
    assert (ZH_PO.parent / "django.mo").exists()


def test_placeholders_survive_translation():
    text = ZH_PO.read_text(encoding="utf-8")
    for block in text.split("\n\n")[1:]:
        msgid = "".join(re.findall(r'^(?:msgid|msgid_plural)? ?"(.*)"$', block.split("msgstr")[0], re.M))
        msgstr = "".join(re.findall(r'"(.*)"', "msgstr".join(block.split("msgstr")[1:])))
        for placeholder in set(re.findall(r"\{\w+\}|%\(\w+\)[sd]", msgid)):
            assert placeholder in msgstr, (msgid, msgstr)
