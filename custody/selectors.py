"""Reads of custody: platforms, their sub-accounts and books."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet, Sum

from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Hold
from backoffice.money import sum_to_money
from custody.models import LendingPlatform, SubAccount


def platform_get(*, code: str) -> LendingPlatform | None:
    return LendingPlatform.objects.filter(code=code).first()


def platform_subaccounts(*, platform: LendingPlatform, role: str | None = None) -> QuerySet[SubAccount]:
    """A platform's sub-accounts, oldest first, optionally of one role (never another platform's)."""
    rows = SubAccount.objects.filter(platform=platform).select_related("account", "party")
    if role:
        rows = rows.filter(role=role)
    return rows.order_by("created_at", "pk")


def platform_subaccount(*, platform: LendingPlatform, number: str) -> SubAccount | None:
    """The platform's sub-account with this account number, or None (another platform's is None too)."""
    return platform_subaccounts(platform=platform).filter(account__number=number).first()


def platform_margin(*, platform: LendingPlatform) -> Decimal:
    """The margin (保证金) held on the platform's own funds: its active margin holds."""
    if platform.own_funds_id is None:
        return Decimal("0.00")
    holds = Hold.objects.filter(account_id=platform.own_funds_id, reason=Hold.Reason.MARGIN, state=Hold.State.ACTIVE)
    return sum_to_money(holds.aggregate(total=Sum("amount"))["total"])


def platform_books(*, platform: LendingPlatform) -> QuerySet[Account]:
    """Every account in the platform's books: own funds, sub-accounts, its suspense and transit."""
    return Account.objects.filter(owner=platform.owner).order_by("pk")


def platform_special_account(*, platform: LendingPlatform) -> dict[str, Decimal]:
    """The special account (汇总账户) as an aggregate, never a posted account: Σ the platform's client
    sub-accounts + its in-flight withdrawals (its transit account) + its unidentified inflows (its
    suspense)."""
    books = platform_books(platform=platform)

    def total(rows) -> Decimal:
        return sum_to_money(rows.aggregate(total=Sum("balance"))["total"])

    sub_accounts = total(books.filter(tier=Account.Tier.DEPOSITORY))
    in_flight = total(books.filter(role=Role.TRANSIT_WITHDRAWAL))
    suspense = total(books.filter(role=Role.SUSPENSE))
    return {
        "sub_accounts": sub_accounts,
        "in_flight_withdrawals": in_flight,
        "suspense": suspense,
        "total": sub_accounts + in_flight + suspense,
    }
