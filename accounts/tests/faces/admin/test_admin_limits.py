"""Limit rule sets and dormancy policies (history, supervisors edit), the KYC-task queue and its
"complete" action through the service, and the holiday calendar edited by operators."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.cards.models import Holiday
from accounts.limits.models import KycTask, LimitRule, LimitRuleSet
from accounts.states.models import DormancyPolicy
from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from backoffice.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


def form_data(response) -> dict:
    """The POST data of an admin change page as rendered (main form and inline formsets)."""

    def add(form, data):
        for name in form.fields:
            bound = form[name]
            value = bound.value()
            if isinstance(value, bool):
                if value:
                    data[bound.html_name] = "on"
                continue
            if value is None:
                value = ""
            if isinstance(value, (list, tuple)):
                data[bound.html_name] = [str(v) for v in value]
            else:
                data[bound.html_name] = str(value)

    data: dict = {}
    add(response.context["adminform"].form, data)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form, data)
        for form in formset.forms:
            add(form, data)
    return data


def errors_of(response):
    return [str(m) for m in response.context["messages"] if m.level_tag == "error"]


@pytest.fixture
def rule_set():
    return LimitRuleSet.objects.get(name="银发〔2018〕16号")


@pytest.mark.parametrize("model", ["limitruleset", "limitrule", "kyctask", "holiday", "dormancypolicy"])
@pytest.mark.parametrize("group", ["auditor", "operator", "supervisor"])
def test_admin_limit_screens_load_for_each_group(console, model, group):
    assert console(group).get(reverse(f"admin:accounts_{model}_changelist")).status_code == 200


def test_admin_limit_screens_refused_without_a_group(console):
    client = console(None)
    for model in ("limitruleset", "limitrule", "kyctask", "holiday", "dormancypolicy"):
        assert client.get(reverse(f"admin:accounts_{model}_changelist")).status_code == 403


def test_admin_supervisor_edits_a_limit_rule_with_history_and_audit(console, rule_set):
    client = console("supervisor")
    url = reverse("admin:accounts_limitruleset_change", args=[rule_set.pk])
    page = client.get(url)
    assert page.status_code == 200
    data = form_data(page)
    rule = LimitRule.objects.get(rule_set=rule_set, tier="III", bucket="balance")
    index = next(i for i in range(int(data["rules-TOTAL_FORMS"])) if data[f"rules-{i}-id"] == str(rule.pk))
    data[f"rules-{index}-amount"] = "2500.00"
    data["note"] = "balance cap raised (test)"
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    rule = LimitRule.objects.get(pk=rule.pk)
    assert rule.amount == Decimal("2500.00")
    latest = rule.history.first()  # seeded by a data migration (no history row), then edited here
    assert latest.history_type == "~" and latest.history_user.username == "supervisor-user" and latest.amount == rule.amount
    assert AuditLog.objects.filter(action="limit_rule.change", target_id=str(rule.pk)).get().data["amount"] == "2500.00"
    assert AuditLog.objects.filter(action="limit_rule_set.change", target_id=str(rule_set.pk)).exists()
    history = client.get(reverse("admin:accounts_limitruleset_history", args=[rule_set.pk]))
    assert history.status_code == 200
    assert client.get(reverse("admin:accounts_limitrule_history", args=[rule.pk])).status_code == 200


@pytest.mark.parametrize("amount", ["-1.00", "1.234", "abc"])
def test_admin_bad_limit_amount_is_a_form_error(console, rule_set, amount):
    client = console("supervisor")
    rule = LimitRule.objects.filter(rule_set=rule_set).first()
    url = reverse("admin:accounts_limitrule_change", args=[rule.pk])
    data = form_data(client.get(url))
    data["amount"] = amount
    response = client.post(url, data)
    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert LimitRule.objects.get(pk=rule.pk).amount == rule.amount


@pytest.mark.parametrize("group", ["operator", "auditor"])
def test_admin_only_supervisors_edit_limit_rules(console, rule_set, group):
    client = console(group)
    url = reverse("admin:accounts_limitruleset_change", args=[rule_set.pk])
    page = client.get(url)
    assert page.status_code == 200  # view only
    assert client.post(url, {"name": "changed"}).status_code == 403
    assert client.get(reverse("admin:accounts_limitruleset_history", args=[rule_set.pk])).status_code == 200
    assert LimitRuleSet.objects.get(pk=rule_set.pk).name == rule_set.name


def test_admin_limit_rules_are_never_deleted(console, rule_set):
    client = console("supervisor")
    assert client.post(reverse("admin:accounts_limitruleset_delete", args=[rule_set.pk]), {"post": "yes"}).status_code == 403
    assert LimitRuleSet.objects.filter(pk=rule_set.pk).exists()


def _task(party, *, due, trigger_date=None):
    return KycTask.objects.create(
        party=party,
        trigger=KycTask.Trigger.CLASS3_TWO_WAY,
        trigger_date=trigger_date or due - dt.timedelta(days=7),
        due_date=due,
        cumulative=Decimal("50000.00"),
    )


def test_admin_kyc_tasks_by_due_date_with_overdue_filter(console, make_party):
    today = dt.date.today()
    late = _task(make_party("逾期 Late"), due=today - dt.timedelta(days=2))
    soon = _task(make_party("将到期 Soon"), due=today + dt.timedelta(days=3))
    client = console("auditor")
    listing = client.get(reverse("admin:accounts_kyctask_changelist"))
    assert list(listing.context["cl"].result_list) == [late, soon]
    overdue = client.get(reverse("admin:accounts_kyctask_changelist"), {"overdue_now": "yes"})
    assert list(overdue.context["cl"].result_list) == [late]
    assert list(client.get(reverse("admin:accounts_kyctask_changelist"), {"overdue_now": "no"}).context["cl"].result_list) == [
        soon
    ]


def test_admin_complete_kyc_task_through_the_service(console, make_party):
    task = _task(make_party(), due=dt.date.today() + dt.timedelta(days=3))
    client = console("operator")
    response = client.post(
        reverse("admin:accounts_kyctask_changelist"),
        {"action": "complete_tasks", "_selected_action": [task.pk], "index": 0},
        follow=True,
    )
    assert response.status_code == 200 and not errors_of(response)
    assert KycTask.objects.get(pk=task.pk).state == KycTask.State.DONE
    assert AuditLog.objects.get(action="kyc_task.complete", target_id=str(task.pk)).actor.username == "operator-user"
    again = client.post(
        reverse("admin:accounts_kyctask_changelist"),
        {"action": "complete_tasks", "_selected_action": [task.pk], "index": 0},
        follow=True,
    )
    assert again.status_code == 200 and errors_of(again)


def test_admin_auditor_cannot_complete_kyc_tasks(console, make_party):
    task = _task(make_party(), due=dt.date.today())
    client = console("auditor")
    client.post(
        reverse("admin:accounts_kyctask_changelist"), {"action": "complete_tasks", "_selected_action": [task.pk], "index": 0}
    )
    assert KycTask.objects.get(pk=task.pk).state == KycTask.State.OPEN
    assert client.post(reverse("admin:accounts_kyctask_change", args=[task.pk]), {}).status_code == 403


def test_admin_operator_edits_the_holiday_calendar(console):
    client = console("operator")
    response = client.post(
        reverse("admin:accounts_holiday_add"), {"date": "2030-10-01", "name": "国庆节 National Day", "is_working_day": ""}
    )
    assert response.status_code == 302
    holiday = Holiday.objects.get(date=dt.date(2030, 10, 1))
    assert not holiday.is_working_day
    assert AuditLog.objects.filter(action="holiday.add", target_id=str(holiday.pk)).exists()
    url = reverse("admin:accounts_holiday_change", args=[holiday.pk])
    client.post(url, {"date": "2030-10-01", "name": "国庆节 National Day", "is_working_day": "on"})
    assert Holiday.objects.get(pk=holiday.pk).is_working_day
    assert AuditLog.objects.filter(action="holiday.change", target_id=str(holiday.pk)).exists()
    bad = client.post(reverse("admin:accounts_holiday_add"), {"date": "2030-10-01", "name": "dup"})
    assert bad.status_code == 200 and bad.context["adminform"].form.errors  # date is unique


def test_admin_auditor_cannot_edit_holidays(console):
    client = console("auditor")
    assert client.post(reverse("admin:accounts_holiday_add"), {"date": "2030-10-01", "name": "x"}).status_code == 403
    assert not Holiday.objects.filter(date=dt.date(2030, 10, 1)).exists()


def test_admin_supervisor_edits_the_dormancy_policy_with_history(console):
    policy = DormancyPolicy.objects.get(name="personal-365d-10yuan")
    client = console("supervisor")
    url = reverse("admin:accounts_dormancypolicy_change", args=[policy.pk])
    data = form_data(client.get(url))
    data.update({"inactive_days": "400", "excluded_kinds": "interest, fee", "is_active": "on"})
    response = client.post(url, data)
    assert response.status_code == 302
    policy = DormancyPolicy.objects.get(pk=policy.pk)
    assert policy.inactive_days == 400 and policy.excluded_kinds == ["interest", "fee"] and policy.is_active
    assert policy.history.count() >= 1
    assert AuditLog.objects.filter(action="dormancy_policy.change", target_id=str(policy.pk)).exists()
    assert client.get(reverse("admin:accounts_dormancypolicy_history", args=[policy.pk])).status_code == 200
    data.update({"inactive_days": "0", "excluded_kinds": "no spaces allowed!"})
    bad = client.post(url, data)
    assert bad.status_code == 200 and "excluded_kinds" in bad.context["adminform"].form.errors
    data.update({"excluded_kinds": "interest"})
    bad = client.post(url, data)  # inactive_days 0: the model's check constraint, shown as a form error
    assert bad.status_code == 200 and bad.context["adminform"].form.errors
    assert DormancyPolicy.objects.get(pk=policy.pk).inactive_days == 400


def test_admin_operator_cannot_edit_the_dormancy_policy(console):
    policy = DormancyPolicy.objects.get(name="personal-365d-10yuan")
    client = console("operator")
    assert (
        client.post(reverse("admin:accounts_dormancypolicy_change", args=[policy.pk]), {"inactive_days": "1"}).status_code == 403
    )
