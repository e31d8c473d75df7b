from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and ledger / 账户与账务")

    def ready(self) -> None:
        # -- payments: channel callbacks are routed by request-id prefix (accounts.payments.callbacks)
        from accounts.payments.callbacks import callback_handler_register
        from accounts.payments.recharges import RECHARGES
        from accounts.payments.withdrawals import WITHDRAWALS

        callback_handler_register(WITHDRAWALS.prefix, WITHDRAWALS)
        callback_handler_register(RECHARGES.prefix, RECHARGES)
