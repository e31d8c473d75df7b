"""Unused, dormant and long-suspended accounts: R-ACC-16, R-ACC-17, R-ACC-18 (DOMAIN.md §1.6).

Activity
- "Customer activity" on an account is an entry of a voucher whose kind is not listed as
  non-activity: ``ACCOUNTS_NON_ACTIVITY_VOUCHER_KINDS`` (interest, fee, judicial_deduction) for
  R-ACC-16 and R-ACC-18, the policy's own ``excluded_kinds`` for R-ACC-17. Opening the account
  and a counter re-verification / reactivation (``Account.identity_reverified_at``) restart the
  clock for dormancy, so a reactivated account is not marked dormant again the next night.

R-ACC-16 (beat ``accounts.suspend_unused``): an active customer account with no activity before
``opened + ACCOUNTS_NON_COUNTER_SUSPEND_MONTHS`` (calendar months, Asia/Shanghai; on the
anniversary instant it qualifies) moves to ``non_counter_suspended``. Re-verification of identity
(``account_reverify_identity``) restores it; an account once re-verified is not suspended again
by this rule.

R-ACC-17 (beat ``accounts.apply_dormancy``): every active ``DormancyPolicy`` marks qualifying
active accounts ``dormant`` (inactive for at least ``inactive_days`` days, balance at most
``max_balance``). ``account_reactivate`` brings one back at the counter (operator required).

R-ACC-18 (beat ``accounts.entity_dormancy``): a corporate customer account with no receipts or
payments for ``ACCOUNTS_ENTITY_DORMANCY_MONTHS`` months and no debt gets a ``DormancyNotice``;
``ACCOUNTS_ENTITY_DORMANCY_NOTICE_DAYS`` days after it (on the day it qualifies), if still
unclosed and still without activity, its balance is swept by one voucher (kind
``dormant_unclaimed``, Dr customer / Cr 久悬未取专户) and the account becomes ``deemed_closed``.
"No debt" is taken as: no active hold and no open judicial freeze (the bank's loans are not in
this system; a loan module registers its check in ``outstanding_debt``). An account with frozen money
is never swept: its notice stays pending until the hold or freeze ends.

Exempt from all three sweeps: P2P depository sub-accounts (tier ``depository``), every account in
a platform's books (owner ``platform:<code>``) and every account of a platform role
(``accounts.ledger.chart.PLATFORM_ROLES``: lender, borrower, guarantor, compensation,
platform_own, risk_reserve) in a platform's books or of a role only a platform has. Their life
follows the platform's (custody): a lender's sub-account idle between two loans still belongs to a
live lending relation, a borrower's carries a loan, and a platform's own funds and margin are wound
down with the platform, not swept to 久悬未取专户 by a clock; closing them is custody's decision.
One reading to note: a bank Class I/II/III account (owner "") merely labelled ``lender`` or
``borrower`` (the label predates custody; custody's lenders and borrowers are depository
sub-accounts) is an ordinary personal account and stays under R-ACC-16/17.

Every beat job runs one durable transaction per account, so one refusal never blocks the rest,
and every per-account service re-checks the rule under the account lock (idempotent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.conf import (
    entity_dormancy_months,
    entity_dormancy_notice_days,
    non_activity_voucher_kinds,
    non_counter_suspend_months,
)
from accounts.ledger import postings as ledger
from accounts.ledger.chart import MERCHANT_ROLES, PLATFORM_ROLES, Role
from accounts.ledger.errors import InvalidStateError, NotFoundError
from accounts.ledger.models import Account, Entry, Hold
from accounts.states.errors import CounterActorRequiredError
from accounts.states.models import DormancyNotice, DormancyPolicy, JudicialFreeze
from backoffice.audit import audit_record
from backoffice.dates import add_months
from backoffice.registry import Registry

__all__ = [
    "DORMANCY_CLIENT",
    "SWEEP_KIND",
    "account_last_activity_at",
    "account_mark_dormant",
    "account_reactivate",
    "account_reverify_identity",
    "account_suspend_unused",
    "dormancy_exempt",
    "accounts_suspend_unused",
    "dormancy_apply",
    "entity_dormancy_deem_closed",
    "entity_dormancy_notify",
    "entity_dormancy_run",
]

DORMANCY_CLIENT = "accounts.states.dormancy"
SWEEP_KIND = "dormant_unclaimed"
_CUSTOMER_STATES_FOR_ENTITY = (Account.State.ACTIVE, Account.State.DORMANT, Account.State.NON_COUNTER_SUSPENDED)


# -- exemptions ------------------------------------------------------------------------


# Platform roles that only a platform's accounts have (a bank personal account may carry the
# lender / borrower label without being a platform's).
_PLATFORM_ONLY_ROLES = PLATFORM_ROLES - {Role.LENDER, Role.BORROWER}
# A merchant's accounts (merchants) live and close with the merchant, never swept by a clock.
_EXEMPT_ROLES = _PLATFORM_ONLY_ROLES | MERCHANT_ROLES


def dormancy_exempt(account: Account) -> bool:
    """A depository sub-account, an account in a platform's or a merchant's books, or of a platform-only
    or merchant role."""
    return (
        account.tier == Account.Tier.DEPOSITORY
        or account.owner.startswith(("platform:", "merchant:"))
        or account.role in _EXEMPT_ROLES
    )


def _exempt_q() -> Q:
    return (
        Q(tier=Account.Tier.DEPOSITORY)
        | Q(owner__startswith="platform:")
        | Q(owner__startswith="merchant:")
        | Q(role__in=_EXEMPT_ROLES)
    )


# -- activity --------------------------------------------------------------------------


def _activity(account_id, excluded: Iterable[str]) -> QuerySet[Entry]:
    return Entry.objects.filter(account_id=account_id).exclude(transfer__kind__in=list(excluded))


def account_last_activity_at(*, account: Account, excluded_kinds: Iterable[str]) -> dt.datetime:
    """When the clock of inactivity started: the latest of the last activity entry, the opening
    and the last identity re-verification."""
    last = _activity(account.pk, excluded_kinds).order_by("-created_at").values_list("created_at", flat=True).first()
    return max(m for m in (last, account.created_at, account.identity_reverified_at) if m is not None)


def _last_activity_annotation(excluded: Iterable[str]) -> Subquery:
    entries = Entry.objects.filter(account=OuterRef("pk")).exclude(transfer__kind__in=list(excluded))
    return Subquery(entries.order_by("-created_at").values("created_at")[:1])


def _inactive_since(cutoff: dt.datetime) -> Q:
    """Annotated accounts whose clock (last activity, opening, re-verification) started at or before ``cutoff``."""
    return (
        (Q(last_activity__isnull=True) | Q(last_activity__lte=cutoff))
        & Q(created_at__lte=cutoff)
        & (Q(identity_reverified_at__isnull=True) | Q(identity_reverified_at__lte=cutoff))
    )


def _lock(account_id: int) -> Account:
    account = Account.objects.select_for_update().filter(pk=account_id).first()
    if account is None:
        raise NotFoundError(_("No account with id {id}. / 账户 {id} 不存在。"), id=account_id)
    return account


# -- R-ACC-16: no transaction within 6 months of opening -------------------------------


def _unused_since_opening(account: Account, now: dt.datetime) -> bool:
    if account.is_internal or account.state != Account.State.ACTIVE or account.identity_reverified_at is not None:
        return False
    if dormancy_exempt(account):
        return False
    deadline = add_months(account.created_at, non_counter_suspend_months())
    if deadline > now:
        return False
    return not _activity(account.pk, non_activity_voucher_kinds()).filter(created_at__lt=deadline).exists()


@transaction.atomic(durable=True)
def account_suspend_unused(*, account_id: int, now: dt.datetime | None = None) -> Account:
    """R-ACC-16 for one account: suspend non-counter business if it had no transaction within the
    months after opening. A no-op (returns the account unchanged) when it does not qualify."""
    now = now or timezone.now()
    account = _lock(account_id)
    if not _unused_since_opening(account, now):
        return account
    account.suspend_non_counter()
    account.save(update_fields=["state", "updated_at"])
    audit_record(
        action="account.suspend_non_counter",
        target=account,
        data={"rule": "R-ACC-16", "opened_at": account.created_at.isoformat(), "months": non_counter_suspend_months()},
    )
    return account


def accounts_suspend_unused(*, now: dt.datetime | None = None) -> list[int]:
    """Beat job ``accounts.suspend_unused``: R-ACC-16 over every candidate; returns the suspended ids."""
    now = now or timezone.now()
    months = non_counter_suspend_months()
    # Coarse SQL filters, exact rule per account: a month is at least 28 days, and month-end
    # clipping moves the anniversary by at most 3 days.
    surely_active = _activity(OuterRef("pk"), non_activity_voucher_kinds()).filter(
        created_at__lt=OuterRef("created_at") + dt.timedelta(days=28 * months)
    )
    candidates = (
        Account.objects.filter(
            kind=Account.Kind.CUSTOMER,
            state=Account.State.ACTIVE,
            identity_reverified_at__isnull=True,
            created_at__lte=add_months(now, -months) + dt.timedelta(days=3),
        )
        .exclude(Exists(surely_active))
        .exclude(_exempt_q())
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    suspended = []
    for account_id in list(candidates):
        if account_suspend_unused(account_id=account_id, now=now).state == Account.State.NON_COUNTER_SUSPENDED:
            suspended.append(account_id)
    return suspended


def _counter_restore(*, account_id: int, actor, state: str, transition: str) -> Account:
    """An identified operator at the counter moves the locked account out of ``state`` by
    ``transition``, recording the identity re-verification (which restarts the dormancy clock).
    Raises CounterActorRequiredError (no operator), InvalidStateError (not in ``state``)."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise CounterActorRequiredError()
    account = _lock(account_id)
    if account.state != state:
        raise InvalidStateError(state=account.state)
    getattr(account, transition)()
    account.identity_reverified_at = timezone.now()
    account.save(update_fields=["state", "identity_reverified_at", "updated_at"])
    return account


@transaction.atomic(durable=True)
def account_reverify_identity(*, account_id: int, actor, method: str = "", reason: str = "") -> Account:
    """R-ACC-16: identity re-verified (at the counter or by the verification provider):
    non_counter_suspended → active. Raises CounterActorRequiredError (no operator) and
    InvalidStateError (the account is not suspended for this reason)."""
    account = _counter_restore(
        account_id=account_id, actor=actor, state=Account.State.NON_COUNTER_SUSPENDED, transition="restore_non_counter"
    )
    audit_record(actor=actor, action="account.restore_non_counter", target=account, data={"method": method, "reason": reason})
    return account


# -- R-ACC-17: data-driven dormancy ------------------------------------------------------


def _policy_candidates(policy: DormancyPolicy, now: dt.datetime) -> QuerySet[Account]:
    cutoff = now - dt.timedelta(days=policy.inactive_days)
    accounts = Account.objects.filter(kind=Account.Kind.CUSTOMER, state=Account.State.ACTIVE).exclude(_exempt_q())
    if policy.tiers:
        accounts = accounts.filter(tier__in=policy.tiers)
    if policy.max_balance is not None:
        accounts = accounts.filter(balance__lte=policy.max_balance)
    return accounts.annotate(last_activity=_last_activity_annotation(policy.excluded_kinds)).filter(_inactive_since(cutoff))


def _policy_applies(policy: DormancyPolicy, account: Account, now: dt.datetime) -> bool:
    if account.is_internal or account.state != Account.State.ACTIVE or not policy.is_active or dormancy_exempt(account):
        return False
    if policy.tiers and account.tier not in policy.tiers:
        return False
    if policy.max_balance is not None and account.balance > policy.max_balance:
        return False
    started = account_last_activity_at(account=account, excluded_kinds=policy.excluded_kinds)
    return now - started >= dt.timedelta(days=policy.inactive_days)


@transaction.atomic(durable=True)
def account_mark_dormant(*, account_id: int, policy_id: int, now: dt.datetime | None = None) -> Account:
    """R-ACC-17 for one account under one policy: active → dormant if the policy applies; else a no-op."""
    now = now or timezone.now()
    account = _lock(account_id)
    policy = DormancyPolicy.objects.get(pk=policy_id)
    if not _policy_applies(policy, account, now):
        return account
    account.mark_dormant()
    account.save(update_fields=["state", "updated_at"])
    audit_record(
        action="account.mark_dormant",
        target=account,
        data={"rule": "R-ACC-17", "policy": policy.pk, "policy_name": policy.name, "inactive_days": policy.inactive_days},
    )
    return account


def dormancy_apply(*, now: dt.datetime | None = None) -> list[int]:
    """Beat job ``accounts.apply_dormancy``: every active policy, oldest first; returns the ids marked dormant."""
    now = now or timezone.now()
    marked = []
    for policy in DormancyPolicy.objects.filter(is_active=True).order_by("pk"):
        if policy.action != DormancyPolicy.Action.MARK_DORMANT:
            continue
        for account_id in list(_policy_candidates(policy, now).order_by("pk").values_list("pk", flat=True)):
            if account_mark_dormant(account_id=account_id, policy_id=policy.pk, now=now).state == Account.State.DORMANT:
                marked.append(account_id)
    return marked


@transaction.atomic(durable=True)
def account_reactivate(*, account_id: int, actor, reason: str = "") -> Account:
    """R-ACC-17: the holder reactivates a dormant account at the counter; the operator is the actor.

    Raises CounterActorRequiredError (no operator), InvalidStateError (not dormant)."""
    account = _counter_restore(account_id=account_id, actor=actor, state=Account.State.DORMANT, transition="reactivate")
    audit_record(actor=actor, action="account.reactivate", target=account, data={"reason": reason, "channel": "counter"})
    return account


# -- R-ACC-18: entity settlement accounts -------------------------------------------------


#: "Has outstanding debt to the bank" (R-ACC-18: an entity account with debt is never notified or
#: swept): higher packages (custody's loans) register ``function(account) -> bool`` by name.
outstanding_debt = Registry("outstanding debt for R-ACC-18")


def _entity_blockers(account: Account) -> list[str]:
    """Reasons not to notify or sweep: frozen money (holds, judicial freezes)."""
    reasons = []
    if account.frozen or Hold.objects.filter(account_id=account.pk, state=Hold.State.ACTIVE).exists():
        reasons.append("active_holds")
    if account.judicial_debit_blocks or account.judicial_credit_blocks:
        reasons.append("judicial_blocks")
    if JudicialFreeze.objects.filter(account_id=account.pk, state__in=JudicialFreeze.OPEN_STATES).exists():
        reasons.append("judicial_freezes")
    for name, has_debt in outstanding_debt:
        if has_debt(account):
            reasons.append(f"debt:{name}")
    return reasons


def _entity_qualifies(account: Account, now: dt.datetime) -> dt.datetime | None:
    """The start of the year without receipts or payments, if the account qualifies for a notice."""
    if account.kind != Account.Kind.CUSTOMER or account.tier != Account.Tier.CORPORATE or dormancy_exempt(account):
        return None
    if account.state not in _CUSTOMER_STATES_FOR_ENTITY or _entity_blockers(account):
        return None
    started = account_last_activity_at(account=account, excluded_kinds=non_activity_voucher_kinds())
    return started if add_months(started, entity_dormancy_months()) <= now else None


@transaction.atomic(durable=True)
def entity_dormancy_notify(*, account_id: int, now: dt.datetime | None = None) -> DormancyNotice | None:
    """R-ACC-18 step 1: record the notice to an entity whose account qualifies (None otherwise, or
    when a notice is already pending)."""
    now = now or timezone.now()
    account = _lock(account_id)
    if DormancyNotice.objects.filter(account=account, state=DormancyNotice.State.PENDING).exists():
        return None
    started = _entity_qualifies(account, now)
    if started is None:
        return None
    notice = DormancyNotice.objects.create(
        account=account,
        notified_at=now,
        due_at=now + dt.timedelta(days=entity_dormancy_notice_days()),
        last_activity_at=started,
    )
    audit_record(
        action="account.dormancy_notice",
        target=account,
        data={
            "rule": "R-ACC-18",
            "notice": notice.pk,
            "last_activity_at": started.isoformat(),
            "due_at": notice.due_at.isoformat(),
        },
    )
    return notice


@transaction.atomic(durable=True)
def entity_dormancy_deem_closed(*, notice_id: int, now: dt.datetime | None = None) -> DormancyNotice:
    """R-ACC-18 step 2: when a pending notice is due, sweep the balance to the 久悬未取专户 and mark
    the account deemed_closed. The notice is withdrawn if receipts or payments resumed after it,
    and marked closed_by_holder if the account was closed. Idempotent; not due → unchanged."""
    now = now or timezone.now()
    account_id = DormancyNotice.objects.filter(pk=notice_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFoundError(_("No dormancy notice with id {id}. / 久悬通知 {id} 不存在。"), id=notice_id)
    from accounts.ledger.selectors import internal_account

    # The sweep posts to the 久悬未取专户 too: lock both in ascending id order, as the ledger does.
    ids = [account_id, internal_account(Role.DORMANT_UNCLAIMED).pk]
    locked = {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    account = locked[account_id]
    notice = DormancyNotice.objects.select_for_update().get(pk=notice_id)
    if notice.state != DormancyNotice.State.PENDING:
        return notice
    if account.state in (Account.State.CLOSED, Account.State.DEEMED_CLOSED):
        notice.mark_closed_by_holder()
        notice.ended_at = now
        notice.save()
        return notice
    if _activity(account.pk, non_activity_voucher_kinds()).filter(created_at__gte=notice.notified_at).exists():
        notice.withdraw()
        notice.ended_at = now
        notice.save()
        audit_record(action="account.dormancy_notice_withdrawn", target=account, data={"notice": notice.pk})
        return notice
    if notice.due_at > now or account.state not in _CUSTOMER_STATES_FOR_ENTITY or _entity_blockers(account):
        return notice
    if account.balance > 0:
        notice.sweep_transfer = _sweep(account, notice)
    account = _lock(account_id)  # fresh balance and frozen after the sweep
    account.deem_closed()
    account.save(update_fields=["state", "updated_at"])
    notice.mark_deemed_closed()
    notice.ended_at = now
    notice.save()
    audit_record(
        action="account.deem_closed",
        target=account,
        data={"rule": "R-ACC-18", "notice": notice.pk, "sweep_transfer": notice.sweep_transfer_id},
    )
    return notice


def _sweep(account: Account, notice: DormancyNotice):
    """One voucher Dr customer / Cr 久悬未取专户 for the whole balance. The account may be dormant
    (outflows refused), so the balance is first set aside by a hold and the hold captured, which
    is the ledger's path for money leaving an account that no longer pays."""
    from accounts.ledger.selectors import internal_account

    unclaimed = internal_account(Role.DORMANT_UNCLAIMED)
    hold = ledger.hold_place(
        client=DORMANCY_CLIENT,
        idempotency_key=f"dormancy-notice:{notice.pk}:hold",
        account_id=account.pk,
        amount=account.balance,
        reason=Hold.Reason.OTHER,
        reference=f"R-ACC-18 notice {notice.pk}",
        enforce_state=False,
    )
    return ledger.hold_capture(
        client=DORMANCY_CLIENT,
        idempotency_key=f"dormancy-notice:{notice.pk}:sweep",
        hold_id=hold.pk,
        to_account_id=unclaimed.pk,
        kind=SWEEP_KIND,
        memo=f"转久悬未取专户 {account.number} (通知 {notice.notified_at:%Y-%m-%d})",
        metadata={
            "rule": "R-ACC-18",
            "notice": notice.pk,
            "account": account.number,
            "notified_at": notice.notified_at.isoformat(),
            "last_activity_at": notice.last_activity_at.isoformat(),
        },
    )


def entity_dormancy_run(*, now: dt.datetime | None = None) -> dict[str, list[int]]:
    """Beat job ``accounts.entity_dormancy``: deem due notices closed, then notify new qualifiers.

    Returns ``{"deemed_closed": [account ids], "notified": [account ids]}``."""
    now = now or timezone.now()
    deemed = []
    for notice_id in list(
        DormancyNotice.objects.filter(state=DormancyNotice.State.PENDING, due_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        notice = entity_dormancy_deem_closed(notice_id=notice_id, now=now)
        if notice.state == DormancyNotice.State.DEEMED_CLOSED:
            deemed.append(notice.account_id)
    cutoff = add_months(now, -entity_dormancy_months()) + dt.timedelta(days=3)
    candidates = (
        Account.objects.filter(
            kind=Account.Kind.CUSTOMER,
            tier=Account.Tier.CORPORATE,
            state__in=_CUSTOMER_STATES_FOR_ENTITY,
            frozen=0,
            judicial_debit_blocks=0,
            judicial_credit_blocks=0,
        )
        .exclude(Exists(DormancyNotice.objects.filter(account=OuterRef("pk"), state=DormancyNotice.State.PENDING)))
        .exclude(_exempt_q())
        .annotate(last_activity=_last_activity_annotation(non_activity_voucher_kinds()))
        .filter(_inactive_since(cutoff))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    notified = [account_id for account_id in list(candidates) if entity_dormancy_notify(account_id=account_id, now=now)]
    return {"deemed_closed": deemed, "notified": notified}
