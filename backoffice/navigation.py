"""The console's navigation, grouped by the operator's work instead of one list per Django app.

``GROUPS`` names every model the console registers (``app_label.model_name``, as strings: the
kernel imports no app) in exactly one group; ``tests/test_navigation.py`` fails when a registered
model is in none or in two, so a new model cannot be forgotten. A model that is registered but
not listed still shows, under "Other", rather than disappear. ``LINKS`` adds the console pages that
are not a model's list (the trial balance), each behind the permission its page checks.

Django's own rule is kept: a model the user may not view is not shown, and a group left empty
is not shown at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Group:
    key: str
    name: object  # a lazy translation
    models: tuple[str, ...]


@dataclass(frozen=True)
class Link:
    group: str
    url_name: str
    permission: str
    name: object
    key: str


GROUPS: tuple[Group, ...] = (
    Group(
        "customers",
        _("Customers and accounts / 客户与账户"),
        (
            "accounts.party",
            "accounts.account",
            "accounts.kyctask",
            "accounts.boundcard",
            "accounts.microdeposit",
            "accounts.onetimecode",
        ),
    ),
    Group(
        "money",
        _("Money in and out / 资金收付"),
        (
            "accounts.withdrawal",
            "accounts.recharge",
            "accounts.withdrawalresolution",
            "accounts.paymentalert",
        ),
    ),
    Group(
        "risk",
        _("Freezes and risk / 冻结与风控"),
        (
            "accounts.freezerequest",
            "accounts.judicialfreeze",
            "accounts.hold",
            "accounts.limitruleset",
            "accounts.limitrule",
        ),
    ),
    Group(
        "channels",
        _("Channels and partners / 通道与接口"),
        (
            "accounts.channel",
            "accounts.channelcallback",
            "accounts.smsmessage",
            "backoffice.apiclient",
            "backoffice.webhookendpoint",
            "backoffice.webhookdelivery",
        ),
    ),
    Group(
        "custody",
        _("Custody / 资金存管"),
        (
            "custody.lendingplatform",
            "custody.subaccount",
            "custody.standingauthorisation",
            "custody.loan",
            "custody.bid",
            "custody.confirmation",
            "custody.repayment",
            "custody.repaymentdebt",
            "custody.borrowingcap",
            "custody.feeschedule",
            "custody.feeaccrual",
            "custody.feeinvoice",
            "custody.reconciliationday",
            "custody.reconciliationfile",
            "custody.reconciliationitem",
            "custody.reconciliationalert",
            "custody.unidentifiedinflow",
            "custody.suspenseallocation",
            "custody.custodyreport",
        ),
    ),
    Group(
        "merchants",
        _("Merchants / 商户"),
        (
            "merchants.merchant",
            "merchants.payment",
            "merchants.refund",
            "merchants.settlementbatch",
            "merchants.settlementauthorisation",
            "merchants.clearingfile",
            "merchants.merchantpayout",
            "merchants.helditem",
            "merchants.heldadjustment",
            "merchants.longlinenote",
        ),
    ),
    Group(
        "reports",
        _("Ledger and reports / 账务与报表"),
        (
            "accounts.transfer",
            "accounts.entry",
            "accounts.subject",
        ),
    ),
    Group(
        "configuration",
        _("Configuration / 系统配置"),
        (
            "accounts.holiday",
            "accounts.dormancypolicy",
            "accounts.binentry",
            "auth.user",
            "auth.group",
            "otp_totp.totpdevice",
            "django_celery_beat.periodictask",
            "django_celery_beat.crontabschedule",
            "django_celery_beat.intervalschedule",
            "django_celery_beat.clockedschedule",
            "django_celery_beat.solarschedule",
        ),
    ),
    Group(
        "audit",
        _("Audit / 审计"),
        (
            "backoffice.auditlog",
            "axes.accessattempt",
            "axes.accessfailurelog",
            "axes.accesslog",
            "django_celery_results.taskresult",
            "django_celery_results.groupresult",
        ),
    ),
)

#: Group of the models registered but listed in no group (empty when the table is complete).
OTHER = Group("other", _("Other / 其他"), ())

#: Names for third-party models whose own names are English only.
MODEL_NAMES: dict[str, object] = {
    "axes.accessattempt": _("Sign-in failures (current) / 登录失败（当前）"),
    "axes.accessfailurelog": _("Sign-in failure log / 登录失败日志"),
    "axes.accesslog": _("Sign-in log / 登录日志"),
    "otp_totp.totpdevice": _("Authenticator devices (TOTP) / 动态口令设备"),
    "django_celery_results.taskresult": _("Task results / 任务结果"),
    "django_celery_results.groupresult": _("Task group results / 任务组结果"),
}

#: Console pages that are not a model's list, shown in a group behind their own permission.
LINKS: tuple[Link, ...] = (
    Link("reports", "admin:accounts_trial_balance", "accounts.view_subject", _("Trial balance / 试算平衡表"), "trialbalance"),
)

GROUP_OF: dict[str, str] = {label: group.key for group in GROUPS for label in group.models}


def group_app_list(request, app_dict: dict) -> list[dict]:
    """Regroup Django's per-app dict (``AdminSite._build_app_dict``) into the work groups, in the
    order of ``GROUPS`` and of each group's models; extra links join their group."""
    by_label: dict[str, dict] = {}
    for app in app_dict.values():
        for model in app["models"]:
            label = model["model"]._meta.label_lower
            if label in MODEL_NAMES:
                model = {**model, "name": MODEL_NAMES[label]}
            by_label[label] = model
    groups = [*GROUPS, OTHER]
    listed = {label for group in GROUPS for label in group.models}
    result = []
    for group in groups:
        labels = group.models if group is not OTHER else sorted(set(by_label) - listed)
        models = [by_label[label] for label in labels if label in by_label]
        for link in LINKS:
            if link.group == group.key and request.user.has_perm(link.permission):
                try:
                    url = reverse(link.url_name)
                except NoReverseMatch:
                    continue
                models.append(
                    {
                        "name": link.name,
                        "object_name": link.key,
                        "admin_url": url,
                        "add_url": None,
                        "view_only": True,
                        "perms": {"view": True},
                    }
                )
        if models:
            result.append(
                {
                    "name": group.name,
                    "app_label": f"nav-{group.key}",
                    "app_url": "",
                    "has_module_perms": True,
                    "models": models,
                    "group": group.key,
                }
            )
    return result
