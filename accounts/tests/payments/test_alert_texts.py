"""Alerts are read in the operator's language (issue 13: "alerts in Chinese and English"): a
service stores the text as a template and its params (``backoffice.texts``), the console renders
it through gettext; the stored ``message`` keeps both languages for search and audit."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from accounts.ledger.models import Account
from accounts.payments.callbacks import CallbackSignatureError, channel_callback_receive
from accounts.payments.end_of_day import end_of_day_run
from accounts.payments.models import PaymentAlert
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from accounts.tests.payments_fixtures import *  # noqa: F401,F403
from backoffice.texts import text_label, text_render, text_spec

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]

CJK = re.compile(r"[\u4e00-\u9fff]")


def _in(language: str, alert) -> str:
    with translation.override(language):
        return alert.text


def _assert_bilingual(alert, *, zh: str, en: str) -> None:
    chinese, english = _in("zh-hans", alert), _in("en", alert)
    assert zh in chinese and " / " not in chinese and en not in chinese, chinese
    assert en in english and not CJK.search(english), english
    # What is stored keeps both, for the search and the audit row.
    assert zh in alert.message and en in alert.message


def test_alert_ledger_drift_renders_in_chinese_and_english(make_account, fund):
    account = fund(make_account(), "100.00")
    Account.objects.filter(pk=account.pk).update(balance=Decimal("150.00"))
    end_of_day_run()
    alert = PaymentAlert.objects.get(kind=PaymentAlert.Kind.LEDGER_DRIFT)
    _assert_bilingual(alert, zh="日终：发现 1 处账务差异", en="1 ledger drift(s)")
    assert account.number in _in("zh-hans", alert) and account.number in _in("en", alert)


def test_alert_forged_callback_and_unknown_request_render_in_both_languages(channel, sim):
    forged = json.dumps({"request_id": "W1", "status": "success", "signature": "x"}).encode()
    with pytest.raises(CallbackSignatureError):
        channel_callback_receive(channel_code=channel.code, body=forged, headers={}, remote_addr="10.0.0.9")
    alert = PaymentAlert.objects.get(kind=PaymentAlert.Kind.FORGED_CALLBACK)
    _assert_bilingual(alert, zh="未通过验签", en="failed verification")
    assert "10.0.0.9" in _in("en", alert)


def test_alert_params_are_shown_as_labels_and_money_in_the_readers_language():
    spec = text_spec(
        "{reference} is {state}, the channel says {says}; {amount} / {reference} 为「{state}」，通道称「{says}」；{amount}",
        reference="W42",
        state=PaymentAlert.Severity.P1.label,
        says=text_label("status", "not_found"),
        amount=Decimal("1234567.50"),
    )
    assert json.loads(json.dumps(spec)) == spec  # plain JSON: stored as it is
    with translation.override("zh-hans"):
        # (a template outside the catalogue shows as written; its params still follow the language)
        assert text_render(spec).endswith("/ W42 为「紧急」，通道称「查无此单」；1,234,567.50")
    with translation.override("en"):
        assert "the channel says order not found; 1,234,567.50" in text_render(spec)
    assert "P1, now / 紧急" in text_render(spec, bilingual=True)


def test_alert_list_in_the_console_speaks_the_operators_language(console, make_account, fund):
    account = fund(make_account(), "100.00")
    Account.objects.filter(pk=account.pk).update(balance=Decimal("150.00"))
    end_of_day_run()
    client = console("auditor")
    url = reverse("admin:accounts_paymentalert_changelist")
    chinese = client.get(url).content.decode()
    assert "账务差异" in chinese and "ledger drift(s)" not in chinese
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "ledger drift(s)" in english and "账务差异" not in english
    # The search matches the stored text in either language.
    assert "ledger drift(s)" in client.get(url + "?q=账务差异", HTTP_ACCEPT_LANGUAGE="en").content.decode()


# Every module that writes an alert's text, and the catalogues' translations of its templates.
ALERT_WRITERS = (
    "accounts/payments/callbacks.py",
    "accounts/payments/end_of_day.py",
    "accounts/payments/instructions.py",
    "accounts/payments/recharges.py",
    "accounts/payments/sweep.py",
    "accounts/payments/withdrawals.py",
    "custody/reconciliation/services.py",
    "merchants/held.py",
    "merchants/payments.py",
    "merchants/refunds.py",
)


def _catalogue(language: str) -> dict[str, str]:
    path = settings.BASE_DIR / "locale" / language / "LC_MESSAGES" / "django.po"
    entries, msgid, target = {}, None, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("msgid "):
            msgid, target = json.loads(line[6:]), "id"
        elif line.startswith("msgstr "):
            entries[msgid], target = json.loads(line[7:]), "str"
        elif line.startswith('"') and msgid is not None:
            if target == "id":
                msgid += json.loads(line)
            else:
                entries[msgid] += json.loads(line)
    return entries


def _templates() -> list[str]:
    found = []
    for name in ALERT_WRITERS:
        source = (settings.BASE_DIR / name).read_text(encoding="utf-8")
        for call in re.finditer(r"_\(\s*((?:\"(?:[^\"\\]|\\.)*\"\s*)+)\)", source):
            text = "".join(json.loads(part) for part in re.findall(r"\"(?:[^\"\\]|\\.)*\"", call.group(1)))
            if "{" in text and " / " in text:
                found.append(text)
    return found


def test_every_alert_template_is_translated_in_both_catalogues():
    templates = _templates()
    assert len(templates) >= 15
    zh, en = _catalogue("zh_Hans"), _catalogue("en")
    for template in templates:
        placeholders = set(re.findall(r"\{(\w+)\}", template))
        assert zh.get(template) and CJK.search(zh[template]) and " / " not in zh[template], template
        assert en.get(template) and not CJK.search(en[template]), template
        assert set(re.findall(r"\{(\w+)\}", zh[template])) == placeholders, template
        assert set(re.findall(r"\{(\w+)\}", en[template])) == placeholders, template
