"""Custody fees (存管费): tiered schedules with maker-checker approval, daily accrual from the
ledger's entries, monthly invoices with minimums, collection from the platform's own funds.

Rooms: ``tiers`` (pure Decimal arithmetic), ``models``, ``services`` (the only writers),
``selectors`` (reads), ``errors``, ``tasks`` (Celery, thin). Rules: DOMAIN.md §4, R-FEE-01..05.
"""
