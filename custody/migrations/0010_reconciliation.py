"""Reconciliation with the platforms (对账), unidentified inflows and their allocations (不明来账,
登记挂账), custody reports and reconciliation alerts; the console permissions; the beat job
``custody.reconciliation_daily`` (10:00 Asia/Shanghai: yesterday's day recorded for every
platform, a P2 alert for a missing or unreconciled one, R-DEP-07).

Permissions: auditor views everything here; operator (maker) also uploads a file on a platform's
behalf, registers inflows and proposes allocations; supervisor (checker) also approves or rejects
them (``review_suspenseallocation``). No group may delete (R-DEP-08).
"""

from decimal import Decimal

import django.db.models.deletion
import django.utils.timezone
import django_fsm
from django.conf import settings
from django.db import migrations, models

import backoffice.money

BEAT_TASK = "custody.reconciliation_daily"
MODELS = [
    "reconciliationfile",
    "reconciliationday",
    "reconciliationitem",
    "reconciliationalert",
    "unidentifiedinflow",
    "suspenseallocation",
    "custodyreport",
]
VIEW = [f"view_{name}" for name in MODELS]
OPERATOR = VIEW + [
    "add_reconciliationfile",
    "change_reconciliationalert",
    "add_unidentifiedinflow",
    "change_unidentifiedinflow",
    "add_suspenseallocation",
    "add_custodyreport",
]
GROUP_PERMISSIONS = {
    "auditor": VIEW,
    "operator": OPERATOR,
    "supervisor": OPERATOR + ["change_suspenseallocation", "review_suspenseallocation"],
}


def _permissions(apps, codenames):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return {p.codename: p for p in Permission.objects.filter(content_type__app_label="custody", codename__in=codenames)}


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    wanted = {codename for codenames in GROUP_PERMISSIONS.values() for codename in codenames}
    found = _permissions(apps, wanted)
    missing = wanted - set(found)
    if missing:
        raise RuntimeError(f"permissions not found: {sorted(missing)}")
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*[found[c] for c in codenames])
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _created = CrontabSchedule.objects.get_or_create(
        minute="0", hour="10", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
    )
    PeriodicTask.objects.get_or_create(
        name=BEAT_TASK,
        defaults={
            "task": BEAT_TASK,
            "crontab": crontab,
            "enabled": True,
            "description": "Reconciliation: record yesterday for every platform, alert a missing or unreconciled day",
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=BEAT_TASK).delete()
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUP_PERMISSIONS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(*Permission.objects.filter(content_type__app_label="custody", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0017_merge_counter_channel_custody"),
        ("custody", "0009_custody_beat"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReconciliationFile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False, verbose_name="created at / 创建时间"
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at / 更新时间")),
                ("business_date", models.DateField(verbose_name="business date / 对账日期")),
                ("sha256", models.CharField(editable=False, max_length=64, verbose_name="SHA-256 / 文件摘要")),
                ("content", models.TextField(editable=False, verbose_name="content / 文件内容")),
                ("lines", models.PositiveIntegerField(default=0, editable=False, verbose_name="lines / 行数")),
                (
                    "source",
                    models.CharField(
                        choices=[("api", "Platform API / 平台接口"), ("console", "Console, on the platform's behalf / 柜面代传")],
                        editable=False,
                        max_length=8,
                        verbose_name="source / 来源",
                    ),
                ),
                ("client", models.CharField(blank=True, editable=False, max_length=64, verbose_name="API client / 接口客户端")),
                (
                    "platform",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reconciliation_files",
                        to="custody.lendingplatform",
                        verbose_name="platform / 平台",
                    ),
                ),
                (
                    "uploaded_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="uploaded by / 上传人",
                    ),
                ),
            ],
            options={
                "verbose_name": "reconciliation file / 对账文件",
                "verbose_name_plural": "reconciliation files / 对账文件",
                "ordering": ["-business_date", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="ReconciliationDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False, verbose_name="created at / 创建时间"
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at / 更新时间")),
                ("business_date", models.DateField(verbose_name="business date / 对账日期")),
                (
                    "state",
                    django_fsm.FSMField(
                        choices=[
                            ("missing", "No file yet / 未收到对账文件"),
                            ("reconciled", "Reconciled / 已平"),
                            ("unreconciled", "Unreconciled / 不平"),
                        ],
                        db_index=True,
                        default="missing",
                        max_length=50,
                        protected=True,
                        verbose_name="state / 状态",
                    ),
                ),
                ("matched", models.PositiveIntegerField(default=0, verbose_name="matched / 相符")),
                ("long", models.PositiveIntegerField(default=0, verbose_name="long / 长款")),
                ("short", models.PositiveIntegerField(default=0, verbose_name="short / 短款")),
                ("mismatch", models.PositiveIntegerField(default=0, verbose_name="mismatch / 金额或状态不符")),
                ("timing", models.PositiveIntegerField(default=0, verbose_name="timing / 日切时差")),
                ("reconciled_at", models.DateTimeField(blank=True, null=True, verbose_name="compared at / 核对时间")),
                (
                    "platform",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reconciliation_days",
                        to="custody.lendingplatform",
                        verbose_name="platform / 平台",
                    ),
                ),
                (
                    "file",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="custody.reconciliationfile",
                        verbose_name="file / 对账文件",
                    ),
                ),
            ],
            options={
                "verbose_name": "reconciliation day / 对账结果",
                "verbose_name_plural": "reconciliation days / 对账结果",
                "ordering": ["-business_date", "platform"],
            },
            bases=(django_fsm.FSMModelMixin, models.Model),
        ),
        migrations.CreateModel(
            name="ReconciliationItem",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False, verbose_name="created at / 创建时间"
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at / 更新时间")),
                ("business_date", models.DateField(db_index=True, verbose_name="business date / 对账日期")),
                (
                    "line",
                    models.PositiveIntegerField(
                        blank=True, help_text="None: the bank's side only.", null=True, verbose_name="line / 行号"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("instruction", "Instruction / 交易"), ("balance", "Balance / 余额")],
                        max_length=12,
                        verbose_name="kind / 类别",
                    ),
                ),
                (
                    "instruction_type",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("recharge", "Recharge / 充值"),
                            ("withdrawal", "Withdrawal / 提现"),
                            ("bid", "Bid / 投标"),
                            ("disbursement", "Disbursement / 放款"),
                            ("repayment", "Repayment / 还款"),
                        ],
                        max_length=16,
                        verbose_name="type / 交易类型",
                    ),
                ),
                (
                    "out_request_no",
                    models.CharField(blank=True, db_index=True, max_length=64, verbose_name="platform reference / 平台请求号"),
                ),
                ("sub_account", models.CharField(blank=True, db_index=True, max_length=16, verbose_name="sub-account / 子账户")),
                (
                    "platform_amount",
                    backoffice.money.MoneyField(blank=True, default=None, null=True, verbose_name="platform's amount / 平台金额"),
                ),
                (
                    "bank_amount",
                    backoffice.money.MoneyField(blank=True, default=None, null=True, verbose_name="bank's amount / 银行金额"),
                ),
                ("platform_state", models.CharField(blank=True, max_length=16, verbose_name="platform's state / 平台状态")),
                ("bank_state", models.CharField(blank=True, max_length=16, verbose_name="bank's state / 银行状态")),
                ("bank_date", models.DateField(blank=True, null=True, verbose_name="bank's date / 银行记账日")),
                (
                    "result",
                    models.CharField(
                        choices=[
                            ("matched", "Matched / 相符"),
                            ("long", "Long: in the platform's file only / 长款（仅平台有）"),
                            ("short", "Short: in the bank's books only / 短款（仅银行有）"),
                            ("mismatch", "Mismatch / 不符"),
                            ("timing", "Timing, across the cut-off / 日切时差"),
                        ],
                        db_index=True,
                        max_length=10,
                        verbose_name="result / 结果",
                    ),
                ),
                ("note", models.CharField(blank=True, max_length=200, verbose_name="note / 说明")),
                (
                    "file",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="items",
                        to="custody.reconciliationfile",
                        verbose_name="file / 对账文件",
                    ),
                ),
                (
                    "platform",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="custody.lendingplatform",
                        verbose_name="platform / 平台",
                    ),
                ),
            ],
            options={
                "verbose_name": "reconciliation item / 对账明细",
                "verbose_name_plural": "reconciliation items / 对账明细",
                "ordering": ["file", "kind", "line", "pk"],
            },
        ),
        migrations.CreateModel(
            name="UnidentifiedInflow",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False, verbose_name="created at / 创建时间"
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at / 更新时间")),
                ("amount", backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="amount / 金额")),
                ("value_date", models.DateField(verbose_name="value date / 来账日期")),
                ("payer_name", models.CharField(blank=True, max_length=200, verbose_name="payer name / 付款人户名")),
                ("payer_account", models.CharField(blank=True, max_length=40, verbose_name="payer account / 付款账号")),
                ("reference", models.CharField(max_length=64, verbose_name="bank reference / 来账流水号")),
                ("memo", models.CharField(blank=True, max_length=200, verbose_name="memo / 附言")),
                (
                    "state",
                    django_fsm.FSMField(
                        choices=[
                            ("unallocated", "Unallocated / 待登记"),
                            ("proposed", "Allocation proposed / 待复核"),
                            ("allocated", "Allocated / 已登记挂账"),
                        ],
                        db_index=True,
                        default="unallocated",
                        max_length=50,
                        protected=True,
                        verbose_name="state / 状态",
                    ),
                ),
                (
                    "platform",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="unidentified_inflows",
                        to="custody.lendingplatform",
                        verbose_name="platform / 平台",
                    ),
                ),
                (
                    "recorded_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="recorded by / 录入人",
                    ),
                ),
                (
                    "voucher",
                    models.OneToOneField(
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.transfer",
                        verbose_name="voucher / 凭证",
                    ),
                ),
            ],
            options={
                "verbose_name": "unidentified inflow / 不明来账",
                "verbose_name_plural": "unidentified inflows / 不明来账（挂账）",
                "ordering": ["state", "-value_date", "-pk"],
                "permissions": [("review_suspenseallocation", "Can approve or reject a suspense allocation (checker)")],
            },
            bases=(django_fsm.FSMModelMixin, models.Model),
        ),
        migrations.CreateModel(
            name="SuspenseAllocation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False, verbose_name="created at / 创建时间"
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at / 更新时间")),
                ("amount", backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="amount / 金额")),
                ("reason", models.CharField(max_length=500, verbose_name="evidence / 依据")),
                (
                    "state",
                    django_fsm.FSMField(
                        choices=[
                            ("proposed", "Proposed / 待复核"),
                            ("approved", "Approved, allocated / 已复核入账"),
                            ("rejected", "Rejected / 已驳回"),
                            ("reversed", "Reversed / 已撤销"),
                        ],
                        db_index=True,
                        default="proposed",
                        max_length=50,
                        protected=True,
                        verbose_name="state / 状态",
                    ),
                ),
                (
                    "reviewed_at",
                    models.DateTimeField(blank=True, editable=False, null=True, verbose_name="reviewed at / 复核时间"),
                ),
                (
                    "review_note",
                    models.CharField(blank=True, editable=False, max_length=500, verbose_name="review note / 复核意见"),
                ),
                (
                    "reversal_reason",
                    models.CharField(blank=True, editable=False, max_length=500, verbose_name="reversal reason / 撤销原因"),
                ),
                (
                    "proposed_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="proposed by / 经办人",
                    ),
                ),
                (
                    "reversal",
                    models.OneToOneField(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.transfer",
                    ),
                ),
                (
                    "reversed_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="reversed by / 撤销人",
                    ),
                ),
                (
                    "reviewed_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="reviewed by / 复核人",
                    ),
                ),
                (
                    "sub_account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="custody.subaccount",
                        verbose_name="sub-account / 子账户",
                    ),
                ),
                (
                    "voucher",
                    models.OneToOneField(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.transfer",
                    ),
                ),
                (
                    "inflow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="allocations",
                        to="custody.unidentifiedinflow",
                        verbose_name="inflow / 来账",
                    ),
                ),
            ],
            options={
                "verbose_name": "suspense allocation / 登记挂账",
                "verbose_name_plural": "suspense allocations / 登记挂账",
                "ordering": ["-created_at", "-pk"],
            },
            bases=(django_fsm.FSMModelMixin, models.Model),
        ),
        migrations.CreateModel(
            name="CustodyReport",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False, verbose_name="created at / 创建时间"
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at / 更新时间")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("daily", "Daily custody file / 日终存管文件"),
                            ("monthly", "Monthly report / 月度存管报告"),
                            ("annual", "Annual report / 年度存管报告"),
                        ],
                        max_length=8,
                        verbose_name="kind / 类型",
                    ),
                ),
                ("period_start", models.DateField(verbose_name="from / 起始日")),
                ("period_end", models.DateField(verbose_name="to / 截止日")),
                ("figures", models.JSONField(default=dict, editable=False, verbose_name="figures / 数据")),
                (
                    "generated_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="generated by / 生成人",
                    ),
                ),
                (
                    "platform",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="custody_reports",
                        to="custody.lendingplatform",
                        verbose_name="platform / 平台",
                    ),
                ),
            ],
            options={
                "verbose_name": "custody report / 存管报告",
                "verbose_name_plural": "custody reports / 存管报告",
                "ordering": ["-period_start", "platform", "kind"],
                "constraints": [
                    models.UniqueConstraint(fields=("platform", "kind", "period_start"), name="custodyreport_unique_period")
                ],
            },
        ),
        migrations.CreateModel(
            name="ReconciliationAlert",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False, verbose_name="created at / 创建时间"
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at / 更新时间")),
                ("business_date", models.DateField(verbose_name="business date / 对账日期")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("unreconciled", "Day not reconciled / 对账不平"),
                            ("missing", "No file for the day / 未收到对账文件"),
                        ],
                        max_length=16,
                        verbose_name="kind / 类型",
                    ),
                ),
                (
                    "severity",
                    models.CharField(
                        choices=[("P1", "P1, now / 紧急"), ("P2", "P2, today / 当日处理")],
                        default="P2",
                        max_length=2,
                        verbose_name="severity / 级别",
                    ),
                ),
                ("message", models.CharField(max_length=500, verbose_name="message / 说明")),
                (
                    "acknowledged_at",
                    models.DateTimeField(blank=True, editable=False, null=True, verbose_name="acknowledged / 确认时间"),
                ),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="acknowledged by / 确认人",
                    ),
                ),
                (
                    "platform",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="custody.lendingplatform",
                        verbose_name="platform / 平台",
                    ),
                ),
            ],
            options={
                "verbose_name": "reconciliation alert / 对账告警",
                "verbose_name_plural": "reconciliation alerts / 对账告警",
                "ordering": ["acknowledged_at", "-business_date", "-pk"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("platform", "business_date", "kind"), name="reconalert_unique_platform_day_kind"
                    )
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="reconciliationfile",
            constraint=models.UniqueConstraint(fields=("platform", "sha256"), name="reconfile_unique_platform_hash"),
        ),
        migrations.AddConstraint(
            model_name="reconciliationday",
            constraint=models.UniqueConstraint(fields=("platform", "business_date"), name="reconday_unique_platform_date"),
        ),
        migrations.AddConstraint(
            model_name="unidentifiedinflow",
            constraint=models.UniqueConstraint(fields=("platform", "reference"), name="inflow_unique_platform_reference"),
        ),
        migrations.AddConstraint(
            model_name="unidentifiedinflow",
            constraint=models.CheckConstraint(condition=models.Q(("amount__gt", 0)), name="inflow_amount_positive"),
        ),
        migrations.AddConstraint(
            model_name="suspenseallocation",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("reviewed_by__isnull", True),
                    ("proposed_by__isnull", True),
                    models.Q(("reviewed_by", models.F("proposed_by")), _negated=True),
                    _connector="OR",
                ),
                name="allocation_maker_is_not_checker",
            ),
        ),
        migrations.AddConstraint(
            model_name="suspenseallocation",
            constraint=models.CheckConstraint(condition=models.Q(("amount__gt", 0)), name="allocation_amount_positive"),
        ),
        migrations.RunPython(forwards, backwards),
    ]
