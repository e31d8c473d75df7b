"""Custody reports (存管报告, R-DEP-09) from the ledger's entries, and their safe export.

- **Daily custody file** (日终存管文件) of a platform and day: each sub-account's day-end balance
  (role, number), the pool's parts (sub-accounts, transit, suspense) and the day's entries on the
  pool (voucher, kind, account, side, amount, time).
- **Monthly / annual report**: the pool at the period's start (the day before) and end, its
  sub-account totals by role, flows by voucher kind (credits into and debits out of the pool's
  accounts), the net flows across the pool by counterpart (clearing, fee income, own funds, …),
  the I1 proof (opening + net flows = closing), the period's reconciliation days by state and the
  open differences (unreconciled items up to the period's end).

Every figure comes from entries before the period's cut-off (Asia/Shanghai midnight), never from
stored balances, so a report is the same whenever it is generated; ``CustodyReport`` keeps it
(R-DEP-08). Exports: CSV (UTF-8 with a BOM) or XLSX, amounts as numbers (Decimal cells, never
formulas), text neutralised (``accounts.resources.neutralise_formula``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from django.db.models import Count, Q, Sum

from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.models import Account, Entry
from accounts.resources import neutralise_formula
from backoffice.dates import start_of_day
from backoffice.money import sum_to_money
from custody.models import LendingPlatform, SubAccount
from custody.reconciliation import selectors
from custody.reconciliation.models import CustodyReport, ReconciliationDay

ZERO = Decimal("0.00")


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def period_of(kind: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The period of a report containing ``day``: the day, its month or its calendar year."""
    if kind == CustodyReport.Kind.DAILY:
        return day, day
    if kind == CustodyReport.Kind.MONTHLY:
        start = month_start(day)
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        return start, end
    return dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def pool_at_end_of(*, platform: LendingPlatform, day: dt.date) -> dict[str, Decimal]:
    """The pool's parts at the end of ``day`` from entries."""
    pool = selectors.pool_accounts(platform=platform)
    balances = selectors.day_end_balances(accounts=pool, day=day)
    roles = dict(pool.values_list("number", "role"))
    tiers = dict(pool.values_list("number", "tier"))
    parts = {"sub_accounts": ZERO, "transit": ZERO, "suspense": ZERO}
    for number, amount in balances.items():
        if tiers[number] == Account.Tier.DEPOSITORY:
            parts["sub_accounts"] += amount
        elif roles[number] == Role.TRANSIT_WITHDRAWAL:
            parts["transit"] += amount
        else:
            parts["suspense"] += amount
    parts["total"] = parts["sub_accounts"] + parts["transit"] + parts["suspense"]
    return parts


def _period_entries(platform: LendingPlatform, start: dt.date, end: dt.date):
    return Entry.objects.filter(
        account__in=selectors.pool_accounts(platform=platform),
        created_at__gte=start_of_day(start),
        created_at__lt=start_of_day(end + dt.timedelta(days=1)),
    )


def _boundary(platform: LendingPlatform, start: dt.date, end: dt.date) -> dict[str, Decimal]:
    before_end = selectors.boundary_flows(platform=platform, cut_off=start_of_day(end + dt.timedelta(days=1)))
    before_start = selectors.boundary_flows(platform=platform, cut_off=start_of_day(start))
    return {
        role: before_end.get(role, ZERO) - before_start.get(role, ZERO)
        for role in sorted(set(before_end) | set(before_start))
        if before_end.get(role, ZERO) - before_start.get(role, ZERO) != 0
    }


def compute(*, platform: LendingPlatform, kind: str, start: dt.date, end: dt.date) -> dict:
    """The report's figures (amounts as "123.45" strings), JSON-ready."""
    opening = pool_at_end_of(platform=platform, day=start - dt.timedelta(days=1))
    closing = pool_at_end_of(platform=platform, day=end)
    balances = selectors.day_end_balances(accounts=selectors.subaccount_numbers(platform=platform), day=end)
    by_role: dict[str, dict] = {}
    for sub in SubAccount.objects.filter(platform=platform).select_related("account").order_by("role", "pk"):
        row = by_role.setdefault(sub.role, {"role": sub.role, "count": 0, "total": ZERO})
        row["count"] += 1
        row["total"] += balances.get(sub.account.number, ZERO)
    entries = _period_entries(platform, start, end)
    flows = [
        {
            "kind": row["transfer__kind"],
            "vouchers": row["vouchers"],
            "credits": _money(sum_to_money(row["credit"])),
            "debits": _money(sum_to_money(row["debit"])),
        }
        for row in entries.values("transfer__kind")
        .annotate(
            vouchers=Count("transfer_id", distinct=True),
            credit=Sum("amount", filter=Q(side=CREDIT), default=0),
            debit=Sum("amount", filter=Q(side=DEBIT), default=0),
        )
        .order_by("transfer__kind")
    ]
    boundary = _boundary(platform, start, end)
    net = sum(boundary.values(), ZERO)
    days = dict(
        ReconciliationDay.objects.filter(platform=platform, business_date__gte=start, business_date__lte=end)
        .values_list("state")
        .annotate(n=Count("pk"))
    )
    differences = [
        {
            "date": item.business_date.isoformat(),
            "result": item.result,
            "type": item.instruction_type or item.kind,
            "reference": item.out_request_no or item.sub_account,
            "platform_amount": None if item.platform_amount is None else _money(item.platform_amount),
            "bank_amount": None if item.bank_amount is None else _money(item.bank_amount),
            "note": item.note,
        }
        for item in selectors.open_differences(platform=platform, up_to=end)[:1000]
    ]
    figures = {
        "platform": platform.code,
        "kind": kind,
        "period": [start.isoformat(), end.isoformat()],
        "opening": {key: _money(value) for key, value in opening.items()},
        "closing": {key: _money(value) for key, value in closing.items()},
        "sub_accounts_by_role": [
            {"role": row["role"], "count": row["count"], "total": _money(row["total"])} for row in by_role.values()
        ],
        "flows_by_kind": flows,
        "net_flows_by_counterpart": {role: _money(amount) for role, amount in boundary.items()},
        "i1": {
            "opening_plus_net_flows": _money(opening["total"] + net),
            "closing": _money(closing["total"]),
            "holds": opening["total"] + net == closing["total"],
        },
        "reconciliation_days": {state: days.get(state, 0) for state in ReconciliationDay.State.values},
        "open_differences": differences,
    }
    if kind == CustodyReport.Kind.DAILY:
        figures["sub_account_balances"] = [
            {"number": number, "role": role, "balance": _money(balances.get(number, ZERO))}
            for number, role in SubAccount.objects.filter(platform=platform).order_by("pk").values_list("account__number", "role")
        ]
        figures["entries"] = [
            {
                "voucher": row.transfer_id,
                "kind": row.transfer.kind,
                "account": row.account.number,
                "side": row.side,
                "amount": _money(row.amount),
                "posted_at": row.created_at.astimezone(start_of_day(start).tzinfo).isoformat(),
            }
            for row in entries.select_related("transfer", "account").order_by("created_at", "pk")[:100_000]
        ]
    return figures


# -- export ----------------------------------------------------------------------------------------


def _cell(value):
    """Amount strings become Decimal (a number in XLSX); text is neutralised."""
    if isinstance(value, str):
        try:
            if value and value.replace("-", "", 1).replace(".", "", 1).isdigit() and "." in value:
                return Decimal(value)
        except ArithmeticError:
            pass
        return neutralise_formula(value)
    return value


def rows(report: CustodyReport) -> list[list]:
    """The report as rows of cells (section, label, then values), header first."""
    f = report.figures
    out: list[list] = [
        ["section / 栏目", "item / 项目", "value / 数值", "detail / 明细", "amount / 金额", "extra / 其他"],
        ["report / 报告", f["kind"], f["platform"], f["period"][0], None, f["period"][1]],
    ]
    for name in ("opening", "closing"):
        for key, value in f[name].items():
            out.append([f"pool {name} / 资金池", key, None, None, value, None])
    for row in f["sub_accounts_by_role"]:
        out.append(["sub-accounts by role / 子账户按角色", row["role"], row["count"], None, row["total"], None])
    for row in f["flows_by_kind"]:
        out.append(["flows by kind / 资金流向", row["kind"], row["vouchers"], "credits", row["credits"], None])
        out.append(["flows by kind / 资金流向", row["kind"], row["vouchers"], "debits", row["debits"], None])
    for role, amount in f["net_flows_by_counterpart"].items():
        out.append(["net flows by counterpart / 对手方净流入", role, None, None, amount, None])
    out.append(["I1", "opening + net flows", None, None, f["i1"]["opening_plus_net_flows"], None])
    out.append(["I1", "closing", None, None, f["i1"]["closing"], "holds" if f["i1"]["holds"] else "BROKEN"])
    for state, count in f["reconciliation_days"].items():
        out.append(["reconciliation days / 对账天数", state, count, None, None, None])
    for row in f["open_differences"]:
        out.append(
            [
                "open differences / 未决差异",
                row["result"],
                row["date"],
                f"{row['type']} {row['reference']}",
                row["platform_amount"],
                row["bank_amount"],
            ]
        )
    for row in f.get("sub_account_balances", []):
        out.append(["sub-account balance / 子账户余额", row["number"], row["role"], None, row["balance"], None])
    for row in f.get("entries", []):
        out.append(
            ["entry / 分录", row["account"], row["voucher"], f"{row['kind']} {row['side']}", row["amount"], row["posted_at"]]
        )
    return [[_cell(value) for value in row] for row in out]


def export(report: CustodyReport, fmt: str) -> tuple[bytes, str, str]:
    """``(content, content_type, file name)`` in ``csv`` or ``xlsx``."""
    name = f"custody-{report.kind}-{report.platform.code}-{report.period_start:%Y%m%d}"
    table = rows(report)
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("report")
        for row in table:
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", f"{name}.xlsx"
    text = io.StringIO()
    writer = csv.writer(text)
    for row in table:
        writer.writerow(["" if value is None else (f"{value:.2f}" if isinstance(value, Decimal) else value) for value in row])
    return ("\ufeff" + text.getvalue()).encode("utf-8"), "text/csv; charset=utf-8", f"{name}.csv"
