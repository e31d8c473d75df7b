"""The operator console (Django admin) of the ``merchants`` app: merchants (maker-checker onboarding,
fee rates, settlement account, life cycle), payments and refunds (read-only). Importing it
registers the admins."""

from merchants.admin import merchants  # noqa: F401
