"""The operator console (Django admin) of the ``custody`` app: ``platforms`` (lending platforms,
their documents and maker-checker onboarding, sub-accounts). Importing it registers the admins."""

from custody.admin import fees, loans, platforms, reconciliation  # noqa: F401
