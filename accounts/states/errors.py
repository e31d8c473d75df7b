"""Refusals of account-state changes, dormancy and judicial freezes (codes are API contract)."""

from django.utils.translation import gettext_lazy as _

from backoffice.errors import DomainError, display_label

__all__ = [
    "AccountNotClosableError",
    "CounterActorRequiredError",
    "FreezeActionError",
    "FreezePermissionError",
]


class AccountNotClosableError(DomainError):
    """``data.reasons`` lists what stands in the way: balance, holds, judicial_freezes, freeze_requests."""

    code, http_status = "account_not_closable", 409
    message = _("Account {account} cannot be closed: {detail}.")

    def display_data(self) -> dict:
        data = super().display_data()
        if "reasons" in self.data:
            data["detail"] = display_label("reasons", self.data["reasons"])
        return data


class CounterActorRequiredError(DomainError):
    code, http_status = "actor_required", 400
    message = _("This must be done at the counter by an identified operator.")


class FreezePermissionError(DomainError):
    code, http_status = "forbidden", 403
    message = _("You lack the permission {permission}.")


class FreezeActionError(DomainError):
    """The freeze's kind or amounts do not allow the action (e.g. deducting more than is frozen)."""

    code, http_status = "invalid_freeze_action", 409
    message = _("{detail}")
