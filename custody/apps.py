from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustodyConfig(AppConfig):
    name = "custody"
    label = "custody"
    verbose_name = _("P2P custody / 网贷资金存管")

    def ready(self) -> None:
        # custody answers accounts' questions through accounts' registries: no import runs upward.
        from accounts.states.services import close_blockers
        from custody.services import platform_close_blockers

        close_blockers.register("custody", platform_close_blockers)

        from accounts.states.dormancy import outstanding_debt
        from custody.loans.services import borrower_has_outstanding_loans, register_posting_rules

        register_posting_rules()  # loan_disbursement, loan_repayment (accounts.ledger.rules)
        outstanding_debt.register("custody.loans", borrower_has_outstanding_loans)  # R-ACC-18

        from custody.fees.apps import fees_ready

        fees_ready()

        from accounts.payments.instructions import instruction_outcome_listeners
        from custody.loans.confirmations import payment_outcome_notify

        instruction_outcome_listeners.register("custody", payment_outcome_notify)  # withdrawal.*, recharge.* webhooks

        from custody.reconciliation.apps import reconciliation_ready

        reconciliation_ready()
