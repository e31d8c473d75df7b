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
        from custody.fees.apps import fees_ready

        fees_ready()
