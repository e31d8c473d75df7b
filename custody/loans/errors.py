"""The loans' refusals: stable codes (part of the API contract), HTTP status, bilingual messages."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from backoffice.errors import DomainError


class DuplicateReferenceError(DomainError):
    """``out_request_no`` already used on this platform (loans, bids and repayments each);
    ``data.id`` is the first object's id."""

    code, http_status = "duplicate_reference", 409
    message = _("The business reference {out_request_no} was already used (id {id}). / 该请求号已使用。")


class BorrowingCapExceededError(DomainError):
    """R-DEP-06: the borrower's outstanding principal on this platform would pass the cap."""

    code, http_status = "limit_exceeded", 409
    message = _(
        "The borrowing cap of {limit} on this platform would be exceeded: {remaining} remains. / 超过同一平台借款余额上限。"
    )


class WrongSubAccountError(DomainError):
    """The sub-account is not this platform's, or not in the role the instruction needs."""

    code, http_status = "validation_error", 400
    message = _("Sub-account {account} is not a {role} sub-account of this platform. / 子账户角色或平台不符。")


class BidExceedsRemainingError(DomainError):
    """R-DEP-05: a loan is never oversubscribed."""

    code, http_status = "bid_exceeds_remaining", 409
    message = _("The bid of {amount} exceeds the {remaining} still to be raised. / 投标金额超过剩余可投金额。")


class FundraisingClosedError(DomainError):
    code, http_status = "fundraising_closed", 409
    message = _("The loan's fundraising deadline {deadline} has passed. / 标的募集已截止。")


class SelfLendingError(DomainError):
    code, http_status = "self_lending", 409
    message = _("A borrower may not bid on their own loan. / 借款人不得投资自己的标的。")


class LenderAccountFrozenError(DomainError):
    """A lender's sub-account was frozen by a court after bidding: the disbursement is refused
    whole (never partial); ``data.account`` and ``data.bid`` name it. The platform may withdraw
    that bid (``POST /loans/{id}/bids/{bid}/withdraw/``): the loan returns to open."""

    code, http_status = "lender_account_frozen", 409
    message = _(
        "Lender account {account} (bid {bid}) is frozen by a court: nothing was disbursed. Withdraw that bid and "
        "raise the amount again. / 出借人账户被司法冻结，未放款。"
    )


class AuthorisationMethodRefusedError(DomainError):
    """R-DEP-02: a platform never sees a user's password or one-time code."""

    code, http_status = "authorization_method_refused", 403
    message = _(
        "A platform may not send the client's {method}: use a standing authorisation or the bank's confirmation page. "
        "/ 平台不得传送客户密码或验证码。"
    )


class ConfirmationUnavailableError(DomainError):
    """``{"method": "confirm"}`` where the bank's page offers no confirmation: bids, repayments, the
    disbursement fee, a client's withdrawal and recharge and a sub-account opening have one
    (custody.loans.confirmations); settling a debt to a compensation payer does not."""

    code, http_status = "confirmation_unavailable", 422
    message = _(
        "This instruction cannot be confirmed on the bank's page: use a standing authorisation, which the client "
        "grants on the bank's portal (/portal/custody/sub-accounts/<number>/authorisations/). "
        "/ 该指令不支持存管页面确认，请使用业务授权。"
    )


class AuthorisationNotInForceError(DomainError):
    code, http_status = "authorization_not_in_force", 403
    message = _("Standing authorisation {id} is {reason}. / 业务授权已失效。")


class AuthorisationOutOfScopeError(DomainError):
    code, http_status = "authorization_out_of_scope", 403
    message = _("Standing authorisation {id} does not cover {scope}. / 业务授权范围不符。")


class AuthorisationLimitError(DomainError):
    """The instruction passes the authorisation's per-instruction or cumulative maximum."""

    code, http_status = "authorization_limit_exceeded", 409
    message = _("Standing authorisation {id}: the {limit} maximum would be passed ({remaining} remains). / 超过业务授权限额。")


class RepaymentRefusedError(DomainError):
    """Early, out-of-order or partial repayment is refused (see custody.loans.services)."""

    code, http_status = "repayment_refused", 409
    message = _("{reason} / 不支持该还款。")


class PayerNotAllowedError(DomainError):
    code, http_status = "payer_not_allowed", 409
    message = _(
        "A {role} sub-account may repay only an overdue instalment (instalment {number} is due {due_date}). "
        "/ 担保或代偿账户只能偿还逾期款项。"
    )
