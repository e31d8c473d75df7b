"""Merchants' payouts not yet final, for the console dashboard (``accounts.payments.dashboard``),
registered into its ``in_flight_sources`` from ``MerchantsConfig.ready()``."""

from __future__ import annotations

from accounts.payments.dashboard import InFlight, in_flight_of
from merchants.models import MerchantPayout


def payouts_in_flight() -> InFlight:
    item = in_flight_of(
        MerchantPayout,
        "merchant_payouts",
        MerchantPayout._meta.verbose_name_plural,
        ("amount",),
        "admin:merchants_merchantpayout_changelist",
    )
    states = ",".join(MerchantPayout.IN_FLIGHT)
    return InFlight(**{**item.__dict__, "query": f"?state__in={states}"})
