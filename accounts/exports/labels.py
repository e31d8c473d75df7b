"""What an export shows instead of codes: business kinds (业务类型) and sides.

The kind labels share their msgids with the portal's statement filter, so one translation serves both.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

KIND_LABELS = {
    "opening_deposit": _("Opening deposit"),
    "funding": _("Funding"),
    "recharge": _("Recharge"),
    "withdrawal": _("Withdrawal"),
    "withdrawal_capture": _("Withdrawal"),
    "withdrawal_transit": _("Withdrawal"),
    "withdrawal_refund": _("Withdrawal returned"),
    "withdrawal_returned": _("Withdrawal returned"),
    "withdrawal_failed": _("Withdrawal failed, refunded"),
    "hold_capture": _("Payment of held money"),
    "transfer": _("Transfer"),
    "counter_transfer": _("Counter transfer"),
    "reversal": _("Reversal"),
    "bid": _("Bid"),
    "disbursement": _("Disbursement"),
    "loan_disbursement": _("Disbursement"),
    "repayment": _("Repayment"),
    "loan_repayment": _("Repayment"),
    "repayment_debt_settlement": _("Repayment of an advance"),
    "payment": _("Payment"),
    "merchant_payment": _("Payment"),
    "refund": _("Refund"),
    "merchant_refund": _("Refund"),
    "settlement": _("Settlement"),
    "merchant_settlement": _("Settlement"),
    "merchant_payout": _("Payout"),
    "merchant_payout_funding": _("Payout funding"),
    "merchant_reserve_release": _("Reserve released"),
    "fee": _("Fee"),
    "custody_fee": _("Custody fee"),
    "interest": _("Interest"),
    "judicial_deduction": _("Judicial deduction"),
    "dormant_unclaimed": _("Transferred as unclaimed funds"),
    "micro_deposit": _("Card verification deposit"),
    "suspense_allocation": _("Unidentified payment credited"),
    "unidentified_inflow": _("Unidentified payment"),
    "adjustment": _("Manual adjustment"),
}
FEE_LABEL = _("Fee")

# The customer's view of a side: money in (收入) or out (支出) of their account.
MONEY_IN = _("Money in")
MONEY_OUT = _("Money out")
# The console's view: the accounting side (借/贷).
DEBIT_LABEL = _("Debit / 借")
CREDIT_LABEL = _("Credit / 贷")


def kind_label(kind: str) -> str:
    """The label of a voucher kind in the active language; an unknown kind is shown as its code."""
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else kind
