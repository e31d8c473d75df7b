"""``{% console_dashboard %}``: the figures on the console index (``accounts.payments.dashboard``),
for a user who may view accounts; amounts with thousands separators, times in Asia/Shanghai, the
30-day charts as inline SVG (``backoffice.charts``). A link is shown only to a user who may open it."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timesince import timesince
from django.utils.translation import gettext

from accounts.ledger.chart import ROLE_CHOICES
from accounts.ledger.models import Account
from accounts.payments.dashboard import dashboard
from accounts.payments.models import Channel
from backoffice.charts import bar_chart, line_chart

register = template.Library()

VIEW_PERMISSION = "accounts.view_account"
ROLE_LABELS = dict(ROLE_CHOICES)
TIER_LABELS = dict(Account.Tier.choices)
IN_COLOUR, OUT_COLOUR = "#2e7d32", "#c62828"
#: The withdrawals behind an invariant (its ``code``): the in-flight list filtered by strategy.
INVARIANT_WITHDRAWALS = {"transit": Channel.Strategy.TRANSIT, "holds": Channel.Strategy.FREEZE}


def amount(value: Decimal) -> str:
    """``1234567.8`` → ``1,234,567.80``: exact, never through float."""
    return f"{value:,.2f}"


def invariant_label(invariant) -> str:
    """The operator's words for a registered invariant (its ``code``: ``transit``, ``holds``,
    custody's ``i1:<platform>`` and ``transit:<platform>``); an unknown one keeps its own name."""
    code, _sep, platform = invariant.code.partition(":")
    if platform:
        labels = {
            "i1": gettext(
                "Platform %(platform)s: pool balances = flows across the pool (I1) / 平台 %(platform)s 资金池余额 = 进出流水"
            ),
            "transit": gettext(
                "Platform %(platform)s: transit account = withdrawals in flight / 平台 %(platform)s 提现过渡户 = 在途提现"
            ),
        }
        return labels[code] % {"platform": platform} if code in labels else invariant.name
    labels = {
        "transit": gettext("Transit account = transit withdrawals in flight / 提现过渡户余额 = 在途过渡户模式提现"),
        "holds": gettext("Withdrawal holds = freeze withdrawals in flight / 提现冻结 = 在途冻结模式提现"),
    }
    return labels.get(code, invariant.name)


def _url(user, url_name: str, permission: str, query: str = "") -> str:
    if not url_name or (permission and not user.has_perm(permission)):
        return ""
    try:
        return reverse(url_name) + query
    except NoReverseMatch:
        return ""


def dashboard_context(user) -> dict | None:
    if not user.has_perm(VIEW_PERMISSION):
        return None
    data = dashboard()
    now = timezone.now()
    accounts_url = _url(user, "admin:accounts_account_changelist", VIEW_PERMISSION)
    tiers: dict[str, dict] = {}
    for row in data.deposits:
        tier = tiers.setdefault(
            row.tier, {"label": TIER_LABELS.get(row.tier, row.tier), "rows": [], "balance": Decimal("0.00"), "accounts": 0}
        )
        tier["rows"].append(
            {
                "role": ROLE_LABELS.get(row.role, row.role),
                "accounts": row.accounts,
                "balance": amount(row.balance),
                "frozen": amount(row.frozen),
                "url": f"{accounts_url}?kind__exact=customer&tier__exact={row.tier}&role__exact={row.role}"
                if accounts_url
                else "",
            }
        )
        tier["balance"] += row.balance
        tier["accounts"] += row.accounts
    for tier in tiers.values():
        tier["balance"] = amount(tier["balance"])
    internal = [
        {
            "role": ROLE_LABELS.get(row.role, row.role),
            "code": row.role,
            "accounts": row.accounts,
            "balance": amount(row.balance),
            "url": f"{accounts_url}?kind__exact=internal&role__exact={row.role}" if accounts_url and row.accounts else "",
        }
        for row in data.internal
    ]
    in_flight = [
        {
            "code": item.code,
            "label": item.label,
            "count": item.count,
            "amount": amount(item.amount),
            "oldest": item.oldest,
            "age": timesince(item.oldest, now) if item.oldest else "",
            "url": _url(user, item.url_name, item.permission, item.query),
        }
        for item in data.in_flight
    ]
    invariants = [
        {
            "label": gettext("Ledger balances: debits = credits / 借贷平衡"),
            "expected": amount(data.total_debit),
            "actual": amount(data.total_credit),
            "difference": amount(data.total_credit - data.total_debit),
            "holds": data.ledger_balanced,
            "in_flight": None,
            "url": "",
        }
    ] + [
        {
            "label": invariant_label(invariant),
            "expected": amount(invariant.expected),
            "actual": amount(invariant.actual),
            "difference": amount(invariant.actual - invariant.expected),
            "holds": invariant.holds,
            "in_flight": invariant.in_flight,
            "url": _url(
                user,
                "admin:accounts_withdrawal_changelist",
                "accounts.view_withdrawal",
                f"?in_flight=yes&strategy__exact={INVARIANT_WITHDRAWALS[invariant.code]}",
            )
            if invariant.code in INVARIANT_WITHDRAWALS
            else "",
        }
        for _area, invariant in data.invariants
    ]
    labels = [date_format(day.day, "m-d") for day in data.days]
    pool_chart = line_chart(
        title=gettext("Fund pool (customer deposits) at each day's end, last 30 days / 近30日资金池（客户存款日终余额）"),
        values=[day.pool for day in data.days],
        x_labels=labels,
        tips=[f"{date_format(day.day, 'Y-m-d')}: {amount(day.pool)}" for day in data.days],
        fmt=amount,
        css="dashboard-chart chart-pool",
    )
    money_in, money_out = gettext("in / 流入"), gettext("out / 流出")
    flow_chart = bar_chart(
        title=gettext("Daily flows through the clearing account, last 30 days / 近30日每日清算资金流入流出"),
        series=[
            (money_in, IN_COLOUR, [day.money_in for day in data.days]),
            (money_out, OUT_COLOUR, [day.money_out for day in data.days]),
        ],
        x_labels=labels,
        tips=[
            f"{date_format(day.day, 'Y-m-d')}: {money_in} {amount(day.money_in)}, {money_out} {amount(day.money_out)}"
            for day in data.days
        ],
        fmt=amount,
        css="dashboard-chart chart-flows",
    )
    return {
        "as_of": data.as_of,
        "tiers": list(tiers.values()),
        "deposits_total": amount(data.deposits_total),
        "deposits_frozen": amount(data.deposits_frozen),
        "deposit_accounts": data.deposit_accounts,
        "internal": internal,
        "in_flight": in_flight,
        "invariants": invariants,
        "all_hold": data.all_hold,
        "pool_chart": pool_chart,
        "flow_chart": flow_chart,
        "pool_first": amount(data.days[0].pool) if data.days else "",
        "pool_last": amount(data.days[-1].pool) if data.days else "",
        "flows_in": amount(sum((day.money_in for day in data.days), Decimal("0.00"))),
        "flows_out": amount(sum((day.money_out for day in data.days), Decimal("0.00"))),
        "in_colour": IN_COLOUR,
        "out_colour": OUT_COLOUR,
    }


@register.inclusion_tag("admin/accounts/console_dashboard.html", takes_context=True)
def console_dashboard(context):
    request = context.get("request")
    return {"dash": dashboard_context(request.user) if request is not None else None}
