"""The chart of accounting subjects (会计科目) and which subject each account role maps to.

Customer money is the bank's liability (credit-normal); the clearing funds the bank holds are
its asset (debit-normal). Only the roles marked ``may_overdraw`` may go below zero: the clearing
account, whose balance is the bank's position against the clearing system.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

DEBIT = "D"
CREDIT = "C"


@dataclass(frozen=True)
class SubjectDef:
    code: str
    name_zh: str
    name_en: str
    category: str  # asset, liability, income, expense
    normal_side: str


SUBJECTS: tuple[SubjectDef, ...] = (
    SubjectDef("100201", "清算资金往来", "Clearing funds", "asset", DEBIT),
    SubjectDef("122101", "其他应收款", "Other receivables", "asset", DEBIT),
    SubjectDef("201101", "个人活期存款", "Personal demand deposits", "liability", CREDIT),
    SubjectDef("201201", "单位活期存款", "Corporate demand deposits", "liability", CREDIT),
    SubjectDef("224102", "商户待结算", "Merchants pending settlement", "liability", CREDIT),
    SubjectDef("224104", "提现在途", "Withdrawals in transit", "liability", CREDIT),
    SubjectDef("224105", "商户保证金", "Merchant reserves", "liability", CREDIT),
    SubjectDef("224198", "久悬未取款项", "Dormant unclaimed funds", "liability", CREDIT),
    SubjectDef("224199", "待处理挂账", "Suspense", "liability", CREDIT),
    SubjectDef("602101", "手续费及佣金收入", "Fee and commission income", "income", CREDIT),
    SubjectDef("660101", "营销费用", "Marketing expense", "expense", DEBIT),
)
SUBJECTS_BY_CODE = {s.code: s for s in SUBJECTS}


class Role:
    # customer roles
    PERSONAL = "personal"
    LENDER = "lender"
    BORROWER = "borrower"
    MERCHANT = "merchant"
    GUARANTOR = "guarantor"
    COMPENSATION = "compensation"
    PLATFORM_OWN = "platform_own"
    RISK_RESERVE = "risk_reserve"
    CORPORATE = "corporate"
    MERCHANT_PENDING = "merchant_pending"
    MERCHANT_AVAILABLE = "merchant_available"
    MERCHANT_RESERVE = "merchant_reserve"
    # internal roles
    CLEARING = "clearing"
    TRANSIT_WITHDRAWAL = "transit_withdrawal"
    FEE_INCOME = "fee_income"
    SUSPENSE = "suspense"
    MARKETING = "marketing"
    DORMANT_UNCLAIMED = "dormant_unclaimed"
    MERCHANT_RECEIVABLE = "merchant_receivable"


ROLE_CHOICES = [
    (Role.PERSONAL, _("Personal / 个人")),
    (Role.LENDER, _("Lender / 出借人")),
    (Role.BORROWER, _("Borrower / 借款人")),
    (Role.GUARANTOR, _("Guarantor / 担保人")),
    (Role.COMPENSATION, _("Compensation / 代偿")),
    (Role.MERCHANT, _("Merchant / 商户")),
    (Role.PLATFORM_OWN, _("Platform own funds / 平台自有资金")),
    (Role.RISK_RESERVE, _("Risk reserve / 风险准备金")),
    (Role.CORPORATE, _("Corporate / 对公")),
    (Role.MERCHANT_PENDING, _("Merchant pending settlement / 商户待结算")),
    (Role.MERCHANT_AVAILABLE, _("Merchant available / 商户可用")),
    (Role.MERCHANT_RESERVE, _("Merchant reserve / 商户保证金")),
    (Role.CLEARING, _("Clearing / 清算户")),
    (Role.TRANSIT_WITHDRAWAL, _("Withdrawal transit / 提现过渡户")),
    (Role.FEE_INCOME, _("Fee income / 手续费收入")),
    (Role.SUSPENSE, _("Suspense / 挂账户")),
    (Role.MARKETING, _("Marketing / 营销户")),
    (Role.DORMANT_UNCLAIMED, _("Dormant unclaimed / 久悬未取专户")),
    (Role.MERCHANT_RECEIVABLE, _("Merchant receivable / 商户应收款")),
]


@dataclass(frozen=True)
class RoleRule:
    subject: str
    internal: bool
    may_overdraw: bool = False


ROLE_CHART: dict[str, RoleRule] = {
    Role.PERSONAL: RoleRule("201101", internal=False),
    Role.LENDER: RoleRule("201101", internal=False),
    Role.BORROWER: RoleRule("201101", internal=False),
    Role.GUARANTOR: RoleRule("201201", internal=False),
    Role.COMPENSATION: RoleRule("201201", internal=False),
    Role.MERCHANT: RoleRule("201201", internal=False),
    Role.PLATFORM_OWN: RoleRule("201201", internal=False),
    Role.RISK_RESERVE: RoleRule("201201", internal=False),
    Role.CORPORATE: RoleRule("201201", internal=False),
    Role.MERCHANT_PENDING: RoleRule("224102", internal=False),
    Role.MERCHANT_AVAILABLE: RoleRule("201201", internal=False),
    Role.MERCHANT_RESERVE: RoleRule("224105", internal=False),
    Role.CLEARING: RoleRule("100201", internal=True, may_overdraw=True),
    Role.TRANSIT_WITHDRAWAL: RoleRule("224104", internal=True),
    Role.FEE_INCOME: RoleRule("602101", internal=True),
    Role.SUSPENSE: RoleRule("224199", internal=True),
    Role.MARKETING: RoleRule("660101", internal=True),
    Role.DORMANT_UNCLAIMED: RoleRule("224198", internal=True),
    # The bank's advance to a merchant (a refund above what the merchant held): an asset, internal,
    # one per merchant (owner "merchant:<id>"), netted by the next settlement.
    Role.MERCHANT_RECEIVABLE: RoleRule("122101", internal=True),
}

# The roles of a P2P platform's accounts (custody): its clients' depository sub-accounts and the
# platform's own funds and risk reserve. Dormancy sweeps (accounts.states.dormancy) skip them.
PLATFORM_ROLES = frozenset({Role.LENDER, Role.BORROWER, Role.GUARANTOR, Role.COMPENSATION, Role.PLATFORM_OWN, Role.RISK_RESERVE})

# The roles of a merchant's accounts (merchants), all in the merchant's books (owner
# "merchant:<id>"): pending settlement (待结算), available, reserve (liabilities, customer side) and
# the receivable (the bank's advance, an internal asset). Dormancy sweeps skip them.
MERCHANT_ROLES = frozenset({Role.MERCHANT_PENDING, Role.MERCHANT_AVAILABLE, Role.MERCHANT_RESERVE, Role.MERCHANT_RECEIVABLE})

# The bank's internal accounts, one per role, created by a data migration (owner ""). A platform's
# own suspense and withdrawal transit accounts have the same roles with owner "platform:<code>";
# internal accounts are unique on (role, owner): ``accounts.ledger.selectors.internal_account``.
INTERNAL_ACCOUNTS = (
    (Role.CLEARING, "清算资金往来户 / Clearing account"),
    (Role.TRANSIT_WITHDRAWAL, "提现过渡户 / Withdrawal transit account"),
    (Role.FEE_INCOME, "手续费收入户 / Fee income account"),
    (Role.SUSPENSE, "待处理挂账户 / Suspense account"),
    (Role.MARKETING, "营销费用户 / Marketing account"),
    (Role.DORMANT_UNCLAIMED, "久悬未取专户 / Dormant unclaimed funds account"),
)


def normal_side_of(role: str) -> str:
    return SUBJECTS_BY_CODE[ROLE_CHART[role].subject].normal_side
