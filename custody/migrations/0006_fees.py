"""Custody fees (存管费): schedules and bands, daily accruals, monthly invoices and their lines;
the console permissions; the beat job ``custody.fees_daily`` (01:30 Asia/Shanghai: accrue
yesterday for every active platform, issue last month's invoices on the first working day,
collect due invoices on working days).

Permissions: auditor views the fee records; operator (maker) adds and edits draft schedules and
submits them; supervisor (checker) also approves or rejects them (``review_feeschedule``).
"""

from decimal import Decimal

import django.db.models.deletion
import django.utils.timezone
import django_fsm
from django.conf import settings
from django.db import migrations, models

import backoffice.money
import custody.fees.models

BEAT_TASK = "custody.fees_daily"
VIEW = ["view_feeschedule", "view_feeband", "view_feeaccrual", "view_feeinvoice", "view_feeinvoiceline"]
OPERATOR = VIEW + ["add_feeschedule", "change_feeschedule", "add_feeband", "change_feeband", "delete_feeband"]
GROUP_PERMISSIONS = {
    "auditor": VIEW,
    "operator": OPERATOR,
    "supervisor": OPERATOR + ["review_feeschedule"],
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
        minute="30", hour="1", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
    )
    PeriodicTask.objects.get_or_create(
        name=BEAT_TASK,
        defaults={
            "task": BEAT_TASK,
            "crontab": crontab,
            "enabled": True,
            "description": "Custody fees: accrue yesterday, issue invoices on the first working day, collect due ones",
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
        ("custody", "0005_loan_confirmations"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="FeeSchedule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False, verbose_name="created at / 创建时间"
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at / 更新时间")),
                ("version", models.PositiveIntegerField(editable=False, verbose_name="version / 版本")),
                (
                    "basis",
                    models.CharField(
                        choices=[
                            ("daily_pool_balance", "Daily pool balance / 日终资金池余额"),
                            ("monthly_average", "Month's average pool balance / 月日均余额"),
                            ("recharge_amount", "Recharge amount / 充值金额"),
                            ("credited_amount", "Credited amount / 入账金额"),
                            ("transaction_volume", "Transaction volume / 交易金额"),
                            ("transaction_count", "Transaction count / 交易笔数"),
                        ],
                        max_length=24,
                        verbose_name="basis / 计费基数",
                    ),
                ),
                (
                    "mode",
                    models.CharField(
                        choices=[
                            ("whole_amount", "Whole amount at the band's rate / 全额累进"),
                            ("marginal", "Marginal, each slice at its band's rate / 超额累进"),
                        ],
                        max_length=16,
                        verbose_name="tier mode / 分档方式",
                    ),
                ),
                (
                    "day_count",
                    models.CharField(
                        choices=[("365", "365 days / 按365天"), ("actual", "Actual days of the year / 按当年实际天数")],
                        default="365",
                        max_length=8,
                        verbose_name="day count / 计息天数",
                    ),
                ),
                (
                    "rounding",
                    models.CharField(
                        choices=[
                            ("daily", "Round each day / 逐日四舍五入"),
                            ("at_invoice", "Accrue unrounded, round at invoice / 按月汇总后四舍五入"),
                        ],
                        default="at_invoice",
                        max_length=16,
                        verbose_name="rounding / 舍入",
                    ),
                ),
                (
                    "monthly_minimum",
                    backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="monthly minimum / 月最低收费"),
                ),
                (
                    "annual_minimum",
                    backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="annual minimum / 年最低收费"),
                ),
                (
                    "onboarding_fee",
                    backoffice.money.MoneyField(
                        default=Decimal("0.00"), verbose_name="onboarding fee (one-off) / 系统接入费（一次性）"
                    ),
                ),
                (
                    "annual_fixed_fee",
                    backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="annual fixed fee / 年费（系统维护费）"),
                ),
                (
                    "per_withdrawal_fee",
                    backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="fee per withdrawal / 每笔提现费"),
                ),
                (
                    "per_withdrawal_payer",
                    models.CharField(
                        choices=[
                            ("platform", "The platform, on the invoice / 平台（账单）"),
                            ("user", "The user, through the channel fee / 用户（通道手续费）"),
                        ],
                        default="platform",
                        max_length=16,
                        verbose_name="per-withdrawal fee paid by / 提现费承担方",
                    ),
                ),
                ("vat_inclusive", models.BooleanField(default=True, verbose_name="VAT inclusive (6 %) / 含增值税（6%）")),
                ("effective_from", models.DateField(verbose_name="effective from / 生效日期")),
                (
                    "state",
                    django_fsm.FSMField(
                        choices=[
                            ("draft", "Draft / 草稿"),
                            ("pending_approval", "Pending approval / 待复核"),
                            ("approved", "Approved / 已生效"),
                        ],
                        db_index=True,
                        default="draft",
                        max_length=50,
                        protected=True,
                        verbose_name="state / 状态",
                    ),
                ),
                (
                    "submitted_at",
                    models.DateTimeField(blank=True, editable=False, null=True, verbose_name="submitted at / 提交时间"),
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
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="created by / 创建人",
                    ),
                ),
                (
                    "platform",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="fee_schedules",
                        to="custody.lendingplatform",
                        verbose_name="platform / 平台",
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
                    "submitted_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="submitted by / 提交人",
                    ),
                ),
                (
                    "supersedes",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="custody.feeschedule",
                        verbose_name="supersedes / 替代版本",
                    ),
                ),
            ],
            options={
                "verbose_name": "custody fee schedule / 存管费方案",
                "verbose_name_plural": "custody fee schedules / 存管费方案",
                "ordering": ["platform", "-version"],
                "permissions": [("review_feeschedule", "Can approve or reject a fee schedule (checker)")],
            },
            bases=(django_fsm.FSMModelMixin, models.Model),
        ),
        migrations.CreateModel(
            name="FeeInvoice",
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
                    "month",
                    models.DateField(
                        help_text="The first day of the billed month. / 账期月的第一天。", verbose_name="month / 账期"
                    ),
                ),
                ("number", models.CharField(editable=False, max_length=32, unique=True, verbose_name="number / 账单号")),
                ("issued_on", models.DateField(verbose_name="issued on / 出账日")),
                ("due_on", models.DateField(verbose_name="due by / 扣收截止日")),
                ("accrued", backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="accrued / 计提合计")),
                (
                    "minimum_top_up",
                    backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="minimum top-up / 最低收费补足"),
                ),
                ("total", backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="total / 合计")),
                ("vat_inclusive", models.BooleanField(default=True, verbose_name="VAT inclusive / 含税")),
                (
                    "state",
                    django_fsm.FSMField(
                        choices=[("issued", "Issued / 已出账"), ("paid", "Paid / 已扣收"), ("arrears", "Arrears / 欠费")],
                        db_index=True,
                        default="issued",
                        max_length=50,
                        protected=True,
                        verbose_name="state / 状态",
                    ),
                ),
                ("paid_at", models.DateTimeField(blank=True, editable=False, null=True, verbose_name="paid at / 扣收时间")),
                (
                    "collect_attempts",
                    models.PositiveIntegerField(default=0, editable=False, verbose_name="collection attempts / 扣收次数"),
                ),
                (
                    "last_refusal",
                    models.CharField(blank=True, editable=False, max_length=200, verbose_name="last refusal / 最近扣收失败原因"),
                ),
                (
                    "platform",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="fee_invoices",
                        to="custody.lendingplatform",
                        verbose_name="platform / 平台",
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
                        verbose_name="voucher / 凭证",
                    ),
                ),
                (
                    "schedule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="invoices",
                        to="custody.feeschedule",
                        verbose_name="schedule / 方案",
                    ),
                ),
            ],
            options={
                "verbose_name": "fee invoice / 存管费账单",
                "verbose_name_plural": "fee invoices / 存管费账单",
                "ordering": ["-month", "platform"],
            },
            bases=(django_fsm.FSMModelMixin, models.Model),
        ),
        migrations.CreateModel(
            name="FeeBand",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "lower_bound",
                    backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="lower bound (inclusive) / 下限（含）"),
                ),
                (
                    "rate",
                    models.DecimalField(
                        decimal_places=5,
                        help_text="Annual % for a balance basis (0.025 = 0.025 %), % of the amount for a flow basis, yuan per item for a count. / 余额基数为年费率（%），流量基数为金额百分比，笔数基数为每笔元。",
                        max_digits=9,
                        verbose_name="rate / 费率",
                    ),
                ),
                (
                    "schedule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="bands",
                        to="custody.feeschedule",
                        verbose_name="schedule / 方案",
                    ),
                ),
            ],
            options={
                "verbose_name": "fee band / 费率档",
                "verbose_name_plural": "fee bands / 费率档",
                "ordering": ["schedule", "lower_bound"],
            },
        ),
        migrations.CreateModel(
            name="FeeAccrual",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False, verbose_name="created at / 创建时间"
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at / 更新时间")),
                ("business_date", models.DateField(verbose_name="business date / 业务日期")),
                (
                    "basis_amount",
                    models.DecimalField(
                        decimal_places=2,
                        help_text="Yuan, or a count. / 元或笔数。",
                        max_digits=17,
                        verbose_name="basis / 计费基数",
                    ),
                ),
                ("days_in_year", models.PositiveSmallIntegerField(verbose_name="days in year / 年天数")),
                ("fee_exact", custody.fees.models.MicroYuanField(verbose_name="fee, unrounded / 计提（未舍入）")),
                ("fee", backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="fee / 计提")),
                (
                    "platform",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="fee_accruals",
                        to="custody.lendingplatform",
                        verbose_name="platform / 平台",
                    ),
                ),
                (
                    "schedule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="accruals",
                        to="custody.feeschedule",
                        verbose_name="schedule / 方案",
                    ),
                ),
            ],
            options={
                "verbose_name": "fee accrual / 存管费计提",
                "verbose_name_plural": "fee accruals / 存管费计提",
                "ordering": ["platform", "-business_date"],
            },
        ),
        migrations.CreateModel(
            name="FeeInvoiceLine",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("position", models.PositiveSmallIntegerField(verbose_name="position / 序号")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("accrued", "Custody fee accrued / 存管服务费"),
                            ("per_withdrawal", "Withdrawal fees / 提现手续费"),
                            ("minimum_top_up", "Monthly minimum top-up / 月最低收费补足"),
                            ("onboarding", "Onboarding fee / 系统接入费"),
                            ("annual_fixed", "Annual fixed fee / 年费"),
                            ("annual_true_up", "Annual minimum true-up / 年度最低收费补足"),
                        ],
                        max_length=16,
                        verbose_name="kind / 项目",
                    ),
                ),
                ("description", models.CharField(max_length=200, verbose_name="description / 说明")),
                ("quantity", models.DecimalField(decimal_places=2, max_digits=17, verbose_name="quantity / 数量")),
                ("amount", backoffice.money.MoneyField(default=Decimal("0.00"), verbose_name="amount / 金额")),
                (
                    "invoice",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="lines",
                        to="custody.feeinvoice",
                        verbose_name="invoice / 账单",
                    ),
                ),
            ],
            options={
                "verbose_name": "invoice line / 账单明细",
                "verbose_name_plural": "invoice lines / 账单明细",
                "ordering": ["invoice", "position"],
                "constraints": [
                    models.UniqueConstraint(fields=("invoice", "position"), name="feeinvoiceline_unique_position"),
                    models.CheckConstraint(condition=models.Q(("amount__gte", 0)), name="feeinvoiceline_amount_not_negative"),
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="feeschedule",
            constraint=models.UniqueConstraint(fields=("platform", "version"), name="feeschedule_unique_version"),
        ),
        migrations.AddConstraint(
            model_name="feeschedule",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("reviewed_by__isnull", True),
                    models.Q(
                        models.Q(
                            models.Q(("reviewed_by", models.F("submitted_by")), _negated=True),
                            ("submitted_by__isnull", True),
                            _connector="OR",
                        ),
                        models.Q(
                            models.Q(("reviewed_by", models.F("created_by")), _negated=True),
                            ("created_by__isnull", True),
                            _connector="OR",
                        ),
                    ),
                    _connector="OR",
                ),
                name="feeschedule_maker_is_not_checker",
            ),
        ),
        migrations.AddConstraint(
            model_name="feeschedule",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("monthly_minimum__gte", 0),
                    ("annual_minimum__gte", 0),
                    ("onboarding_fee__gte", 0),
                    ("annual_fixed_fee__gte", 0),
                    ("per_withdrawal_fee__gte", 0),
                ),
                name="feeschedule_amounts_not_negative",
            ),
        ),
        migrations.AddConstraint(
            model_name="feeinvoice",
            constraint=models.UniqueConstraint(fields=("platform", "month"), name="feeinvoice_unique_platform_month"),
        ),
        migrations.AddConstraint(
            model_name="feeinvoice",
            constraint=models.CheckConstraint(
                condition=models.Q(("total__gte", 0), ("minimum_top_up__gte", 0)), name="feeinvoice_not_negative"
            ),
        ),
        migrations.AddConstraint(
            model_name="feeinvoice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "paid"), _negated=True), ("voucher__isnull", False), ("total", 0), _connector="OR"
                ),
                name="feeinvoice_paid_has_voucher",
            ),
        ),
        migrations.AddConstraint(
            model_name="feeband",
            constraint=models.UniqueConstraint(fields=("schedule", "lower_bound"), name="feeband_unique_lower_bound"),
        ),
        migrations.AddConstraint(
            model_name="feeband",
            constraint=models.CheckConstraint(
                condition=models.Q(("lower_bound__gte", 0), ("rate__gte", 0)), name="feeband_not_negative"
            ),
        ),
        migrations.AddConstraint(
            model_name="feeaccrual",
            constraint=models.UniqueConstraint(fields=("platform", "business_date"), name="feeaccrual_unique_platform_date"),
        ),
        migrations.AddConstraint(
            model_name="feeaccrual",
            constraint=models.CheckConstraint(
                condition=models.Q(("fee__gte", 0), ("fee_exact__gte", 0)), name="feeaccrual_not_negative"
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
