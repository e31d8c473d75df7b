"""The merchants app's refusals: stable codes (part of the API contract), HTTP status, bilingual messages."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from backoffice.errors import DomainError


class MerchantNotActiveError(DomainError):
    code, http_status = "merchant_not_active", 409
    message = _("Merchant {merchant} is {state}: it may not do this now. / 商户当前状态不允许此操作。")


class DuplicateMerchantError(DomainError):
    code, http_status = "duplicate_merchant", 409
    message = _("A merchant with credit code {credit_code} is already onboarded. / 该统一社会信用代码的商户已存在。")


class IdentityMismatchError(DomainError):
    code, http_status = "identity_mismatch", 422
    message = _("The organisation does not match the merchant's credit code. / 机构与商户统一社会信用代码不符。")


class NoFeeRateError(DomainError):
    code, http_status = "no_fee_rate", 409
    message = _("Merchant {merchant} has no fee rate for {method} in force. / 商户该支付方式无有效费率。")


class DuplicateReferenceError(DomainError):
    """``out_trade_no`` / ``out_refund_no`` used before by this merchant; ``data.id`` is the first object."""

    code, http_status = "duplicate_reference", 409
    message = _("The business reference {reference} was already used. / 该业务流水号已使用。")


class RefundLimitExceededError(DomainError):
    """R-REF-01: more than is still refundable (``data.limit`` = "refundable", ``data.remaining``)."""

    code, http_status = "limit_exceeded", 409
    message = _(
        "Only {remaining} of this payment can still be refunded (refunds in flight count). / 该笔支付剩余可退金额为 {remaining}。"
    )


class RefundCountExceededError(DomainError):
    """R-REF-04: the channel's cap on refunds per payment (``data.limit`` = "refund_count")."""

    code, http_status = "refund_count_exceeded", 409
    message = _("This payment already has {count} refunds, the channel's maximum. / 该笔支付退款次数已达通道上限。")


class RefundWindowClosedError(DomainError):
    """R-REF-04: the payment is older than the channel's refund window: the money goes back by a
    refund payout (代付) to an account the payer supplies, proposed with
    ``POST /api/v1/payments/{id}/refund-payouts/`` (or the portal) and approved by the bank.
    ``data``: ``days`` (the window), ``window_closed_at``, ``refundable_cash`` (what a refund payout
    may still pay) and ``refund_payout`` (the path to propose one)."""

    code, http_status = "refund_window_closed", 409
    message = _(
        "The payment is older than the channel's {days}-day refund window; it cannot be refunded through the channel: "
        "propose a refund payout to the payer's account instead. "
        "/ 支付已超过通道 {days} 天退款期限，无法原路退回，请改为发起退款代付。"
    )


class RefundWindowOpenError(DomainError):
    """A refund payout is for a payment past its channel's refund window; before, refund it
    through the channel (``data.window_closes_at``)."""

    code, http_status = "refund_window_open", 409
    message = _(
        "The payment can still be refunded through the channel (its refund window closes at {window_closes_at}): "
        "refund it instead of a payout. / 该笔支付仍在通道退款期限内（至 {window_closes_at}），请直接原路退款。"
    )


class PaymentNotRefundableError(DomainError):
    code, http_status = "invalid_state", 409
    message = _("Only a succeeded payment can be refunded (it is {state}). / 仅支付成功的订单可以退款。")


class SettlementAuthorisationMissingError(DomainError):
    """A merchant becomes active only with its signed standing settlement authorisation, which the
    maker's application carries (agreement reference, signed date, signatory)."""

    code, http_status = "settlement_authorisation_required", 409
    message = _(
        "The application carries no signed standing settlement authorisation (agreement reference, signed date, "
        "signatory): the maker must add it before the merchant can be approved. "
        "/ 申请未附商户签署的结算授权（协议编号、签署日期、签署人），须由经办人补充后方可复核通过。"
    )
