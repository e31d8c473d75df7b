"""End of day (R-WD-07): ``ledger_check`` and every registered money invariant at the business
day's end; a P1 alert on any drift (beat ``accounts.end_of_day``, ``manage.py end_of_day``)."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command

from accounts.ledger.checks import Invariant, invariant_sources
from accounts.ledger.models import Account
from accounts.payments.end_of_day import end_of_day_run
from accounts.payments.models import PaymentAlert
from accounts.tasks import end_of_day as end_of_day_task
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(make_account, fund):
    return fund(make_account(), "100.00")


def _corrupt(account, balance="150.00"):
    Account.objects.filter(pk=account.pk).update(balance=Decimal(balance))


def test_r_wd_07_clean_end_of_day_raises_no_alert_and_is_audited(account):
    result = end_of_day_task.delay().get()
    assert result["clean"] is True and result["accounts"] >= 1
    assert not PaymentAlert.objects.exists()
    row = AuditLog.objects.get(action="ledger.end_of_day")
    assert row.data["clean"] is True and row.data["business_date"] == result["business_date"]


def test_r_wd_07_ledger_drift_raises_one_p1_alert(account, caplog):
    # given a stored balance that no longer equals its entries
    _corrupt(account)
    # when the end-of-day job runs (twice: the next night too)
    with caplog.at_level("ERROR", logger="accounts.payments.end_of_day"):
        result = end_of_day_task.delay().get()
    end_of_day_task.delay().get()
    # then one open P1 ledger-drift alert names the account, and each night is audited and logged
    assert result["clean"] is False
    assert [d["target"] for d in result["ledger_drifts"]] == [account.number]
    alert = PaymentAlert.objects.get()
    assert (alert.kind, alert.severity) == (PaymentAlert.Kind.LEDGER_DRIFT, PaymentAlert.Severity.P1)
    assert account.number in alert.message and alert.data["drifts"][0]["kind"] == "balance"
    assert AuditLog.objects.filter(action="ledger.end_of_day", data__clean=False).count() == 2
    assert "P1" in caplog.text and account.number in caplog.text
    # once acknowledged, a drift found again raises a new alert
    PaymentAlert.objects.update(acknowledged_at=alert.created_at)
    end_of_day_run()
    assert PaymentAlert.objects.filter(kind=PaymentAlert.Kind.LEDGER_DRIFT).count() == 2


def test_r_wd_07_a_broken_registered_invariant_raises_a_p1_invariant_alert(account):
    # given a registered money invariant that does not hold (e.g. I1 off by one fen)
    invariant_sources.register("test_i1", lambda: [Invariant("i1", "test I1", Decimal("1.00"), Decimal("0.99"), 0)])
    try:
        result = end_of_day_run()
    finally:
        invariant_sources.unregister("test_i1")
    assert result.ledger_drifts == [] and [d.kind for d in result.invariant_drifts] == ["test_i1"]
    alert = PaymentAlert.objects.get()
    assert (alert.kind, alert.severity) == (PaymentAlert.Kind.INVARIANT, PaymentAlert.Severity.P1)
    assert "test I1" in alert.message


def test_end_of_day_command_is_the_embedded_mode(account, capsys):
    call_command("end_of_day")
    assert "no drift" in capsys.readouterr().out
    _corrupt(account)
    with pytest.raises(SystemExit) as exit_info:
        call_command("end_of_day")
    assert exit_info.value.code == 1
    assert f"DRIFT balance: {account.number}" in capsys.readouterr().err
    assert PaymentAlert.objects.filter(kind=PaymentAlert.Kind.LEDGER_DRIFT, severity="P1").count() == 1


def test_r_wd_07_end_of_day_beat_job_is_scheduled_at_2359_shanghai_reversibly():
    from django_celery_beat.models import PeriodicTask

    assert end_of_day_task.name == "accounts.end_of_day"
    job = PeriodicTask.objects.get(name="accounts.end_of_day")
    assert job.task == "accounts.end_of_day" and job.enabled
    assert (job.crontab.hour, job.crontab.minute, job.crontab.timezone.key) == ("23", "59", "Asia/Shanghai")
    migration = importlib.import_module("accounts.migrations.0013_end_of_day_beat")
    migration.backwards(django_apps, None)
    assert not PeriodicTask.objects.filter(name="accounts.end_of_day").exists()
    migration.forwards(django_apps, None)
    assert PeriodicTask.objects.filter(name="accounts.end_of_day", task="accounts.end_of_day").exists()
