"""Daily reconciliation with the platforms (对账), invariant I1, unidentified inflows (不明来账 →
挂账) and the custody reports (存管报告).

Rooms: ``files`` (the platform's daily CSV, parsed and validated line by line), ``models``,
``services`` (the only writers), ``selectors`` (reads, day-end balances from entries, I1),
``reports`` (the bank's daily custody file, monthly and annual reports), ``errors``.
Rules: DOMAIN.md R-DEP-07…10, R-WD-07, R-REC-01/02.
"""
