"""Card binding status in the console (masked, no amounts, no codes), the micro-deposit retry through
the service, the SMS outbox's hidden texts, and the BIN table's import with its confirm step."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.cards import services as cards
from accounts.cards.models import BinEntry, BoundCard, MicroDeposit, SmsMessage
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import ABC_DEBIT, card_number
from backoffice.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


@pytest.fixture
def bound(open_account, bind, django_capture_on_commit_callbacks):
    """A Class II account with a bound card whose micro-deposit was sent (eagerly, on commit)."""

    def do(number=ABC_DEBIT):
        account = open_account("II")
        with django_capture_on_commit_callbacks(execute=True):
            card = bind(account, number)
        card = BoundCard.objects.get(pk=card.pk)
        return account, card, MicroDeposit.objects.filter(card=card).order_by("-pk").first()

    return do


def errors_of(response):
    return [str(m) for m in response.context["messages"] if m.level_tag == "error"]


@pytest.mark.parametrize("model", ["boundcard", "microdeposit", "onetimecode", "smsmessage", "binentry", "holiday"])
@pytest.mark.parametrize("group", ["auditor", "operator", "supervisor"])
def test_admin_card_screens_load_for_each_group(console, bound, model, group):
    bound()
    client = console(group)
    response = client.get(reverse(f"admin:accounts_{model}_changelist"))
    assert response.status_code == 200


def test_admin_card_screens_refused_without_a_group(console, bound):
    bound()
    client = console(None)
    for model in ("boundcard", "microdeposit", "onetimecode", "smsmessage"):
        assert client.get(reverse(f"admin:accounts_{model}_changelist")).status_code == 403


def test_admin_bound_card_list_and_page_are_masked_and_show_no_amount(console, bound):
    account, card, deposit = bound()
    client = console("auditor")
    listing = client.get(reverse("admin:accounts_boundcard_changelist")).content.decode()
    assert card.card_number_masked in listing and ABC_DEBIT not in listing
    page = client.get(reverse("admin:accounts_boundcard_change", args=[card.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert ABC_DEBIT not in html and "13800000000" not in html and "138****0000" in html
    assert "micro_deposit.acknowledge" in html  # the card's history
    deposits = client.get(reverse("admin:accounts_microdeposit_changelist")).content.decode()
    assert deposit.request_id in deposits
    for text in (
        listing,
        html,
        deposits,
        client.get(reverse("admin:accounts_microdeposit_change", args=[deposit.pk])).content.decode(),
    ):
        assert not re.search(rf"\b{re.escape(str(deposit.amount))}\b", text)


def test_admin_bound_cards_are_read_only(console, bound):
    _account, card, deposit = bound()
    client = console(superuser=True)
    assert client.post(reverse("admin:accounts_boundcard_add"), {}).status_code == 403
    assert client.post(reverse("admin:accounts_boundcard_change", args=[card.pk]), {}).status_code == 403
    assert client.post(reverse("admin:accounts_microdeposit_delete", args=[deposit.pk]), {"post": "yes"}).status_code == 403


def test_admin_one_time_codes_show_state_only_and_sms_text_only_to_superusers(console, bound):
    account, _card, _deposit = bound()
    cards.otp_send(account=account, purpose="withdrawal", mobile="13800000000")
    code = re.search(r"验证码 (\d{6})", SmsMessage.objects.filter(purpose="otp:withdrawal").get().text).group(1)
    operator = console("operator")
    codes = operator.get(reverse("admin:accounts_onetimecode_changelist")).content.decode()
    assert "有效" in codes or "Valid" in codes
    outbox = operator.get(reverse("admin:accounts_smsmessage_changelist")).content.decode()
    assert code not in codes and code not in outbox and "138****0000" in outbox
    sms = SmsMessage.objects.filter(purpose="otp:withdrawal").get()
    assert code not in operator.get(reverse("admin:accounts_smsmessage_change", args=[sms.pk])).content.decode()
    root = console(superuser=True, username="root")
    assert code in root.get(reverse("admin:accounts_smsmessage_changelist")).content.decode()


def test_admin_retry_micro_deposit_through_the_service(console, bound):
    _account, card, deposit = bound(card_number(digits="7070"))  # the channel refuses the send
    assert deposit.state == MicroDeposit.State.SEND_FAILED
    client = console("operator")
    response = client.post(
        reverse("admin:accounts_microdeposit_changelist"),
        {"action": "retry_micro_deposit", "_selected_action": [deposit.pk], "index": 0},
        follow=True,
    )
    assert response.status_code == 200 and not errors_of(response)
    retry = MicroDeposit.objects.filter(card=card).order_by("-pk").first()
    assert retry.pk != deposit.pk and retry.state == MicroDeposit.State.INIT
    row = AuditLog.objects.get(action="micro_deposit.create", target_id=str(retry.pk))
    assert row.actor.username == "operator-user"


def test_admin_retry_refused_while_a_micro_deposit_is_live(console, bound):
    _account, card, deposit = bound()  # awaiting back-fill: still live
    client = console("operator")
    response = client.post(
        reverse("admin:accounts_boundcard_changelist"),
        {"action": "retry_micro_deposit", "_selected_action": [card.pk], "index": 0},
        follow=True,
    )
    assert response.status_code == 200 and errors_of(response)
    assert MicroDeposit.objects.filter(card=card).count() == 1


def test_admin_auditor_cannot_retry(console, bound):
    _account, card, deposit = bound(card_number(digits="7070"))
    client = console("auditor")
    client.post(
        reverse("admin:accounts_microdeposit_changelist"),
        {"action": "retry_micro_deposit", "_selected_action": [deposit.pk], "index": 0},
    )
    assert MicroDeposit.objects.filter(card=card).count() == 1


BIN_CSV = "prefix,bank_name,card_type,card_length\n62998877,测试银行 Test Bank,DC,19\n"


def _import(client, content: str, name="bins.csv"):
    from django.contrib import admin
    from import_export.formats.base_formats import CSV

    from accounts.admin.cards import BinEntryAdmin

    index = BinEntryAdmin(BinEntry, admin.site).get_import_formats().index(CSV)
    return client.post(
        reverse("admin:accounts_binentry_import"),
        {"format": str(index), "resource": "0", "import_file": SimpleUploadedFile(name, content.encode(), "text/csv")},
    )


def test_admin_bin_import_dry_run_then_confirm(console):
    client = console("operator")
    assert client.get(reverse("admin:accounts_binentry_import")).status_code == 200
    response = _import(client, BIN_CSV)
    assert response.status_code == 200
    confirm = response.context["confirm_form"]
    assert confirm is not None
    assert not BinEntry.objects.filter(prefix="62998877").exists()  # a dry run so far
    response = client.post(reverse("admin:accounts_binentry_process_import"), confirm.initial)
    assert response.status_code == 302
    entry = BinEntry.objects.get(prefix="62998877")
    assert entry.card_type == "DC" and entry.card_length == 19
    row = AuditLog.objects.get(action="bin_entry.import")
    assert row.actor.username == "operator-user" and row.data["totals"]["new"] == 1


def test_admin_bin_import_with_a_bad_row_writes_nothing(console):
    client = console("operator")
    response = _import(client, BIN_CSV + "12,坏行 Bad,XX,3\n")
    assert response.status_code == 200
    assert response.context.get("confirm_form") is None
    assert not BinEntry.objects.filter(prefix="62998877").exists()


def test_admin_bin_import_refused_for_auditors(console):
    client = console("auditor")
    assert client.get(reverse("admin:accounts_binentry_import")).status_code == 403
    assert client.get(reverse("admin:accounts_binentry_changelist")).status_code == 200


def test_admin_bin_entry_edit_is_audited_and_validated(console):
    client = console("operator")
    response = client.post(
        reverse("admin:accounts_binentry_add"), {"prefix": "12", "bank_name": "x", "card_type": "DC", "card_length": "19"}
    )
    assert response.status_code == 200 and response.context["adminform"].form.errors
    response = client.post(
        reverse("admin:accounts_binentry_add"),
        {"prefix": "62112233", "bank_name": "新行 New Bank", "card_type": "CC", "card_length": "16"},
    )
    assert response.status_code == 302
    entry = BinEntry.objects.get(prefix="62112233")
    assert AuditLog.objects.filter(action="bin_entry.add", target_id=str(entry.pk)).exists()
