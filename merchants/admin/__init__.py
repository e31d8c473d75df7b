"""The operator console (Django admin) of the ``merchants`` app: merchants (maker-checker onboarding,
fee rates, settlement account, life cycle), payments and refunds (read-only), settlement batches,
clearing files and payouts (refund payouts past the window under maker-checker). Importing it
registers the admins."""

from merchants.admin import merchants, settlement  # noqa: F401
