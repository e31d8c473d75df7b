"""The trial balance (试算平衡表) as XLSX: one row per subject, money as number cells, the totals last."""

from __future__ import annotations

import datetime as dt

from accounts.exports.writers import write_xlsx
from accounts.ledger.chart import DEBIT
from accounts.ledger.selectors import TrialBalance

COLUMNS = [
    "subject / 科目代码",
    "name / 科目名称",
    "normal side / 余额方向",
    "debit turnover / 借方发生额",
    "credit turnover / 贷方发生额",
    "debit balance / 借方余额",
    "credit balance / 贷方余额",
    "balance / 余额",
]
TYPES = ["text", "text", "text", "money", "money", "money", "money", "money"]
WIDTHS = [12, 36, 12, 20, 20, 20, 20, 20]


def trial_balance_filename(as_of: dt.date) -> str:
    return f"trial-balance-{as_of:%Y%m%d}.xlsx"


def write_trial_balance_xlsx(fileobj, tb: TrialBalance, *, as_of: dt.date) -> None:
    rows = [
        (
            row.subject.code,
            f"{row.subject.name_zh} / {row.subject.name_en}",
            "借 / debit" if row.subject.normal_side == DEBIT else "贷 / credit",
            row.debit,
            row.credit,
            row.debit_balance,
            row.credit_balance,
            row.balance,
        )
        for row in tb.rows
    ]
    rows.append(("Total / 合计", "", "", tb.total_debit, tb.total_credit, tb.total_debit_balance, tb.total_credit_balance, None))
    write_xlsx(
        fileobj,
        title=f"TB {as_of:%Y-%m-%d}",
        header_rows=[
            ("Trial balance / 试算平衡表",),
            ("as of / 截至", as_of),
            ("balanced / 是否平衡", "yes / 平衡" if tb.balanced else "NO / 不平衡"),
        ],
        columns=COLUMNS,
        types=TYPES,
        rows=rows,
        widths=WIDTHS,
    )
