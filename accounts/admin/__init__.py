"""The operator console (Django admin) of the ``accounts`` app: one module per domain.

``ledger`` (the chart, accounts, vouchers, entries, holds), ``parties`` (parties, the KYC review
queue and the audited reveal of personal data), ``cards`` (card binding and the BIN table),
``limits`` (limit rule sets, KYC tasks, the holiday calendar, dormancy policies), ``states``
(judicial freezes and their maker-checker requests), ``payments`` (channels, withdrawals,
recharges, callbacks, alerts, manual resolutions, the dashboard) and ``views`` (statement, state
changes, opening, trial balance). Importing them registers their model admins.
"""

from accounts.admin import cards, ledger, limits, parties, payments, states, views  # noqa: F401
