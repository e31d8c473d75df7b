from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and ledger / 账户与账务")

    def ready(self) -> None:
        # Higher packages answer the lower ones' questions through their registries
        # (backoffice.registry): no import runs upward.
        from accounts.ledger.checks import invariant_sources
        from accounts.payments.callbacks import callback_handler_register
        from accounts.payments.invariants import payment_invariants, payments_close_blockers
        from accounts.payments.recharges import RECHARGES
        from accounts.payments.withdrawals import WITHDRAWALS
        from accounts.states.services import close_blockers

        invariant_sources.register("withdrawals", payment_invariants)
        close_blockers.register("payments", payments_close_blockers)
        # Channel callbacks are routed by request-id prefix (WD…, RC…); merchants add their own.
        callback_handler_register(WITHDRAWALS.prefix, WITHDRAWALS)
        callback_handler_register(RECHARGES.prefix, RECHARGES)
        # Refusals show labels, not codes, to people (the API keeps the codes).
        from accounts import display

        display.register()
