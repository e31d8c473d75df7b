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
    "PostingRuleViolationError",
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


class PostingRuleViolationError(DomainError):
    """A voucher whose kind may not debit or credit an account of that role
    (``accounts.ledger.rules``): e.g. a customer ``transfer`` from the clearing account.

    Code ``posting_rule_violation``, HTTP 403: the rule is a fixed permission of the voucher kind,
    not a state the caller could change and retry (409), so the request is forbidden as such.
    ``data`` names the rule: ``kind``, ``role`` and ``side`` (``debit`` or ``credit``) of the first
    forbidden leg, and the account ``number`` when known. Nothing is written."""

    code, http_status = "posting_rule_violation", 403
    message = _("A {kind} voucher may not {side} a {role} account.")


class UnbalancedTransferError(AssertionError):
    """A voucher whose debits differ from its credits: a programming error, never a refusal."""
