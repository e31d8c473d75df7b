"""Issue #13, second pass: one date format (2026-12-08 01:30, Asia/Shanghai) in both languages,
one console name, English-only labels on English pages, the merchant shown by its name."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone, translation

from accounts.tests.admin_support import make_staff, sign_in_verified
from merchants.models import SettlementBatch

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_one_datetime_format_in_both_languages(language):
    moment = timezone.make_aware(dt.datetime(2026, 12, 8, 1, 30), timezone.get_default_timezone())
    with translation.override(language):
        assert formats.date_format(moment, "DATETIME_FORMAT") == "2026-12-08 01:30"
        assert formats.date_format(moment, "SHORT_DATETIME_FORMAT") == "2026-12-08 01:30"
        assert formats.date_format(moment.date(), "DATE_FORMAT") == "2026-12-08"
        assert formats.localize(timezone.localtime(moment)) == "2026-12-08 01:30"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_console_lists_show_the_one_datetime_format(language):
    from accounts.parties.services import party_create
    from conftest import random_id_number

    party = party_create(type="person", name="日期测试 Date Test", id_number=random_id_number())
    client = sign_in_verified(Client(), make_staff("polish-admin", superuser=True))
    html = client.get(reverse("admin:accounts_party_changelist"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    rows = html.split('id="result_list"')[1].split("</table>")[0]
    assert "a.m." not in rows and "p.m." not in rows and "年" not in rows
    assert timezone.localtime(party.created_at).strftime("%Y-%m-%d %H:%M") in rows


def test_console_title_and_header_use_one_name_in_chinese():
    client = sign_in_verified(Client(), make_staff("polish-supervisor", "supervisor"))
    html = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    title = html.split("<title>")[1].split("</title>")[0]
    assert "资金存管后台" in title and "资金存管系统" not in html


def test_settlement_states_are_english_only_on_english_pages():
    with translation.override("en"):
        assert str(SettlementBatch.State.SETTLED.label) == "Settled"
        assert str(SettlementBatch.State.CLEARED.label) == "Cleared"
    with translation.override("zh-hans"):
        assert str(SettlementBatch.State.SETTLED.label) == "已结算"


def test_a_merchant_reads_as_its_name():
    from merchants.models import Merchant

    assert str(Merchant(pk=7, name="演示商户 Demo Shop")) == "演示商户 Demo Shop"
