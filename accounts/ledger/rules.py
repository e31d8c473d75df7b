"""Posting rules: which account roles each voucher kind may debit and credit.

The chart says what an account *is*; this table says what a voucher of each kind may *do* to it.
Every posting is checked against it inside the ledger (``accounts.ledger.postings``), on the Python
path and before the PostgreSQL function path, whoever the caller is: a customer ``transfer`` moves
money between customer accounts only, and only the system's own kinds touch the bank's internal
accounts, each only the internal roles it needs. A kind with no row is refused (fail closed).
``manage.py ledger_check`` reports every stored voucher whose legs break the table, so vouchers
written before a rule existed are found.

Later packages (custody, merchant acquiring) add their kinds with ``register_posting_rule`` from
their ``AppConfig.ready()``; a kind is registered once.

``reversal`` has no row of its own and cannot be posted with ``post_transfer``: a reversal voucher
comes only from ``reverse_transfer``, which posts the exact mirror of a stored voucher's entries
(it restores the state before that voucher, so it is also how a voucher written before a rule
existed is undone); ``ledger_check`` verifies that every reversal mirrors its original.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from accounts.ledger.chart import DEBIT, ROLE_CHART, Role

#: Every customer role (the chart's non-internal roles): a customer kind's debit and credit side.
CUSTOMER_ROLES: frozenset[str] = frozenset(role for role, rule in ROLE_CHART.items() if not rule.internal)

#: The kind of ``reverse_transfer``'s vouchers: the exact mirror of the reversed voucher, no row.
REVERSAL_KIND = "reversal"


@dataclass(frozen=True)
class PostingRule:
    """Voucher ``kind`` may debit accounts of the ``debit`` roles and credit those of the ``credit`` roles."""

    kind: str
    debit: frozenset[str]
    credit: frozenset[str]
    purpose: str = ""

    def allows(self, role: str, side: str) -> bool:
        return role in (self.debit if side == DEBIT else self.credit)


@dataclass(frozen=True)
class RuleBreak:
    """One leg a rule forbids: a voucher of ``kind`` may not put ``side`` on an account of ``role``."""

    kind: str
    role: str
    side: str  # D or C
    account_id: int | None = None

    @property
    def side_name(self) -> str:
        return "debit" if self.side == DEBIT else "credit"

    def __str__(self) -> str:
        return f"{self.kind!r} may not {self.side_name} a {self.role!r} account"


POSTING_RULES: dict[str, PostingRule] = {}


def register_posting_rule(kind: str, *, debit: Iterable[str], credit: Iterable[str], purpose: str = "") -> PostingRule:
    """Add the row of one voucher kind. Roles must be in the chart; a kind is registered once."""
    debit, credit = frozenset(debit), frozenset(credit)
    unknown = (debit | credit) - set(ROLE_CHART)
    if unknown:
        raise ValueError(f"posting rule {kind!r}: roles not in the chart: {sorted(unknown)}")
    if kind == REVERSAL_KIND:
        raise ValueError("a reversal is the mirror of the voucher it reverses: it has no row")
    if kind in POSTING_RULES:
        raise ValueError(f"posting rule {kind!r} is already registered")
    rule = PostingRule(kind, debit, credit, purpose)
    POSTING_RULES[kind] = rule
    return rule


def rule_breaks(kind: str, legs: Iterable[tuple[int | None, str, str]]) -> list[RuleBreak]:
    """The legs, as ``(account_id, role, side)``, that the rule of ``kind`` forbids (all of them
    for a kind with no rule), in leg order, each (role, side) once."""
    rule = POSTING_RULES.get(kind)
    found: dict[tuple[str, str], RuleBreak] = {}
    for account_id, role, side in legs:
        if rule is None or not rule.allows(role, side):
            found.setdefault((role, side), RuleBreak(kind, role, side, account_id))
    return list(found.values())


# -- the table --------------------------------------------------------------------------------------

_C = CUSTOMER_ROLES

# Customers' own movements (the partner API): customer accounts only, never an internal account.
register_posting_rule("transfer", debit=_C, credit=_C, purpose="a partner's transfer between customer accounts")
register_posting_rule("hold_capture", debit=_C, credit=_C, purpose="a partner's hold captured to a customer account")
# The holder at the bank's counter (accounts.payments.counter, R-ACC-16): customer accounts only.
register_posting_rule(
    "counter_transfer", debit=_C, credit=_C, purpose="a holder's transfer at the counter between customer accounts"
)

# Money in and out through payment channels (accounts.payments).
register_posting_rule(
    "recharge",
    debit=[Role.CLEARING],
    credit=[*_C, Role.SUSPENSE],
    purpose="a collected recharge: clearing → the customer (or suspense when the account refuses it)",
)
register_posting_rule(
    "withdrawal_transit",
    debit=_C,
    credit=[Role.TRANSIT_WITHDRAWAL],
    purpose="a withdrawal accepted with the transit strategy: the customer → 提现过渡户",
)
register_posting_rule(
    "withdrawal",
    debit=[*_C, Role.TRANSIT_WITHDRAWAL],
    credit=[Role.CLEARING, Role.FEE_INCOME],
    purpose="a paid withdrawal: the hold (freeze) or the transit account → clearing, its fee → fee income",
)
register_posting_rule(
    "withdrawal_failed",
    debit=[Role.TRANSIT_WITHDRAWAL],
    credit=[*_C, Role.SUSPENSE],
    purpose="a failed transit withdrawal: 提现过渡户 → back to the customer (or suspense)",
)
register_posting_rule(
    "withdrawal_returned",
    debit=[Role.CLEARING, Role.FEE_INCOME],
    credit=[*_C, Role.SUSPENSE],
    purpose="a bank return (退票) after success: clearing and the fee → back to the customer (or suspense)",
)

# Cards, account states (accounts.cards, accounts.states).
register_posting_rule(
    "micro_deposit", debit=[Role.MARKETING], credit=[Role.CLEARING], purpose="a micro-deposit paid out: marketing → clearing"
)
register_posting_rule(
    "judicial_deduction",
    debit=_C,
    credit=[Role.CLEARING],
    purpose="a court deduction (司法扣划): the frozen money → clearing, paid to the court",
)
register_posting_rule(
    "dormant_unclaimed",
    debit=_C,
    credit=[Role.DORMANT_UNCLAIMED],
    purpose="R-ACC-18 sweep of a deemed-closed account → 久悬未取专户",
)

# Bank charges and interest.
register_posting_rule("fee", debit=_C, credit=[Role.FEE_INCOME], purpose="a fee charged to a customer → fee income")
register_posting_rule("interest", debit=[Role.CLEARING], credit=_C, purpose="interest paid to a customer from clearing")

# Demo and test funding: money arrives from the clearing account (the bank's position against the
# clearing system) on customer accounts. ``opening_deposit`` is seed_demo's; ``funding`` is the
# demo/test funding kind that the test fixtures and bench use to fund customer accounts. Neither
# is reachable from the partner API (it posts ``transfer`` only).
register_posting_rule(
    "opening_deposit", debit=[Role.CLEARING], credit=_C, purpose="seed_demo's opening deposit: clearing → customer"
)
register_posting_rule(
    "funding", debit=[Role.CLEARING], credit=_C, purpose="the demo/test funding kind: clearing → customer (fixtures, bench)"
)
