"""The ledger's and the accounts' refusals. Codes are part of the API contract (shared/API.md)."""

from django.utils.translation import gettext_lazy as _

from backoffice.errors import DomainError, IdempotencyConflictError, InvalidStateError, NotFoundError

__all__ = [
    "AccountNotActiveError",
    "CaptureAmountError",
    "IdempotencyConflictError",
    "InsufficientFundsError",
    "InvalidAmountError",
    "InvalidStateError",
    "NotFoundError",
    "SameAccountError",
    "UnbalancedTransferError",
]


class InsufficientFundsError(DomainError):
    code, http_status = "insufficient_funds", 409
    message = _("Account {account} has {available} available, short by {shortfall}.")


class AccountNotActiveError(DomainError):
    code, http_status = "account_not_active", 409
    message = _("Account {account} is {state}: it does not accept this {direction}.")


class InvalidAmountError(DomainError):
    code, http_status = "validation_error", 400
    message = _("The amount must be a positive number of yuan with at most two decimals.")


class CaptureAmountError(DomainError):
    code, http_status = "validation_error", 400
    message = _("The capture amount must be more than 0 and at most the held {held}.")


class SameAccountError(DomainError):
    code, http_status = "validation_error", 400
    message = _("The source and destination accounts must differ.")


class UnbalancedTransferError(AssertionError):
    """A voucher whose debits differ from its credits: a programming error, never a refusal."""
