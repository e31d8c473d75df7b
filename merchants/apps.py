from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MerchantsConfig(AppConfig):
    name = "merchants"
    label = "merchants"
    verbose_name = _("Merchants / 商户收单")

    def ready(self) -> None:
        # merchants answers accounts' questions through accounts' registries: no import runs upward.
        from accounts.ledger.rules import POSTING_RULES
        from accounts.payments.callbacks import callback_handler_register
        from accounts.payments.dashboard import in_flight_sources
        from accounts.states.services import close_blockers
        from merchants.dashboard import payouts_in_flight
        from merchants.onboarding import merchant_account_close_blockers
        from merchants.payments import PAYMENT_INSTRUCTION, register_posting_rules
        from merchants.payouts import PAYOUT_INSTRUCTION
        from merchants.payouts import register_posting_rules as register_payout_rules
        from merchants.refunds import REFUND_INSTRUCTION
        from merchants.settlement import register_posting_rules as register_settlement_rules

        if "merchant_payment" not in POSTING_RULES:
            register_posting_rules()
        if "merchant_settlement" not in POSTING_RULES:
            register_settlement_rules()
        if "merchant_payout" not in POSTING_RULES:
            register_payout_rules()
        callback_handler_register(PAYMENT_INSTRUCTION.prefix, PAYMENT_INSTRUCTION)
        callback_handler_register(REFUND_INSTRUCTION.prefix, REFUND_INSTRUCTION)
        callback_handler_register(PAYOUT_INSTRUCTION.prefix, PAYOUT_INSTRUCTION)
        close_blockers.register("merchants", merchant_account_close_blockers)
        in_flight_sources.register("merchant_payouts", payouts_in_flight)
