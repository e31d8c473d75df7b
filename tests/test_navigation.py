"""The console's navigation grouped by the operator's work (backoffice.navigation): every model
registered in the console is in exactly one group, the index and the sidebar show the groups in
both languages, and a user sees only what their permissions let them open."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import translation

from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)
from backoffice.navigation import GROUPS, LINKS, MODEL_NAMES

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


def test_every_registered_model_is_in_exactly_one_group():
    listed = Counter(label for group in GROUPS for label in group.models)
    registered = {model._meta.label_lower for model in admin.site._registry}
    missing = sorted(registered - set(listed))
    twice = sorted(label for label, count in listed.items() if count > 1)
    stale = sorted(set(listed) - registered)
    assert not missing, f"registered in the console but in no navigation group: {missing}"
    assert not twice, f"in more than one navigation group: {twice}"
    assert not stale, f"in a navigation group but not registered in the console: {stale}"
    assert set(MODEL_NAMES) <= registered
    assert {link.group for link in LINKS} <= {group.key for group in GROUPS}


def test_group_names_are_translated_in_both_languages():
    for language, sample in (("zh-hans", "客户与账户"), ("en", "Customers and accounts")):
        with translation.override(language):
            names = [str(group.name) for group in GROUPS]
        assert sample in names
        for name in names:
            assert " / " not in name, f"{language}: untranslated group name {name!r}"


def _groups(response) -> list[str]:
    return [app["group"] for app in response.context["app_list"]]


def test_index_lists_the_work_groups_in_order_for_a_superuser(console):
    client = console(superuser=True)
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert _groups(response) == [group.key for group in GROUPS]
    html = response.content.decode()
    for text in ("客户与账户", "资金收付", "冻结与风控", "资金存管", "商户", "账务与报表", "系统配置", "审计"):
        assert text in html
    assert 'data-nav-group="risk"' in html
    # the trial balance is a page of its own in the reports group
    reports = next(app for app in response.context["app_list"] if app["group"] == "reports")
    assert reverse("admin:accounts_trial_balance") in [model["admin_url"] for model in reports["models"]]


def test_sidebar_on_a_change_list_shows_the_groups(console):
    client = console(superuser=True)
    response = client.get(reverse("admin:accounts_withdrawal_changelist"))
    assert response.status_code == 200
    assert [app["group"] for app in response.context["available_apps"]] == [group.key for group in GROUPS]
    html = response.content.decode()
    assert 'class="app-nav-money module"' in html  # not marked current-app: a group has no page
    assert "current-model" in html


def test_app_index_page_keeps_djangos_list(console):
    client = console(superuser=True)
    response = client.get(reverse("admin:app_list", args=["accounts"]))
    assert response.status_code == 200
    assert [app["app_label"] for app in response.context["app_list"]] == ["accounts"]


def test_an_auditor_sees_no_model_it_may_not_view(console):
    client = console("auditor")
    response = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    groups = response.context["app_list"]
    shown = {model["admin_url"] for app in groups for model in app["models"]}
    assert reverse("admin:auth_user_changelist") not in shown
    assert all(app["models"] for app in groups)  # an empty group is not shown
    assert "configuration" not in _groups(response) or all(
        model["model"]._meta.app_label != "auth" for app in groups for model in app["models"] if "model" in model
    )
    assert "Customers and accounts" in response.content.decode()


def test_the_trial_balance_link_needs_its_permission(console):
    client = console("operator", username="op-without-subjects")
    from django.contrib.auth.models import User

    user = User.objects.get(username="op-without-subjects")
    response = client.get(reverse("admin:index"))
    urls = {model["admin_url"] for app in response.context["app_list"] for model in app["models"]}
    assert (reverse("admin:accounts_trial_balance") in urls) == user.has_perm("accounts.view_subject")
