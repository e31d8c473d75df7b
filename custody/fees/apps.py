"""Custody fees' part of ``CustodyConfig.ready()``: the ``custody_fee`` posting rule and the tasks."""

from __future__ import annotations


def fees_ready() -> None:
    from accounts.ledger.chart import Role
    from accounts.ledger.rules import POSTING_RULES, register_posting_rule
    from custody.fees import tasks  # noqa: F401  (registers the Celery tasks)
    from custody.fees.services import FEE_VOUCHER_KIND

    if FEE_VOUCHER_KIND not in POSTING_RULES:
        register_posting_rule(
            FEE_VOUCHER_KIND,
            debit=[Role.PLATFORM_OWN],
            credit=[Role.FEE_INCOME],
            purpose="a custody fee invoice collected: the platform's own funds → fee income (存管费)",
        )
