"""Reconciliation's part of ``CustodyConfig.ready()``: the voucher kinds of unidentified inflows,
invariant I1 per platform in ``accounts.ledger.checks.invariant_sources`` (so ``ledger_check`` and
the end-of-day check report it, R-WD-07), and the tasks."""

from __future__ import annotations


def reconciliation_ready() -> None:
    from accounts.ledger.checks import invariant_sources
    from custody.reconciliation import tasks  # noqa: F401  (registers the Celery tasks)
    from custody.reconciliation.selectors import custody_invariants
    from custody.reconciliation.services import register_posting_rules

    register_posting_rules()
    invariant_sources.register("custody", custody_invariants)  # I1 and transit, per platform
