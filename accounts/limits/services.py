"""The PBOC Class II/III limits (R-ACC-06 … R-ACC-15), checked and counted inside the posting.

How it works: the caller of the ledger says what each movement on a customer account is (a
``Flow`` of a ``FlowKind``) and passes ``limit_guard(flows=...)`` to ``ledger.post_transfer`` or
``ledger.hold_capture``. The ledger calls the guard after it has locked the accounts and applied
the legs in memory, before it writes entries and balances. The guard then, in the same database
transaction:

1. refuses flows the tier does not allow (II cash and non-bound inflows without face-to-face
   confirmation, R-ACC-09; III cash and wealth products, R-ACC-13; III non-bound inflows before
   they were enabled, R-ACC-12) with ``tier_flow_not_allowed``;
2. refuses a Class III balance above the cap (R-ACC-10, every inflow, bound or loan included);
3. locks the person's counters (one per tier, bucket, calendar day / year in Asia/Shanghai) in
   ascending (party, tier, bucket, period, key) order, creating missing rows race-safely, and
   refuses the whole voucher with ``limit_exceeded`` if any bucket would pass its limit
   (R-ACC-06, 07, 11, 12), else adds the amounts;
4. adds the Class III two-way cumulative and opens a KYC task, once, when it reaches the
   threshold (R-ACC-14).

Lock order: accounts (the ledger, ascending id), then counter rows (ascending key), never the
other way round. Limits are per person per bank across all accounts of a tier: counters belong
to the party, not to an account. The numbers are data (``LimitRuleSet`` in force on the
transaction's calendar day, R-ACC-15); excluded flows (bound-account transfers, wealth products,
loans, interest, fees, judicial deductions, R-ACC-08/11) count in no limit bucket.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import conf
from accounts.ledger.errors import InvalidStateError, NotFoundError
from accounts.ledger.models import Account
from accounts.limits.models import (
    COUNTED_BUCKETS,
    KycTask,
    LimitBucket,
    LimitCounter,
    LimitPeriod,
    LimitRule,
    LimitRuleSet,
    LimitTier,
)
from backoffice import dates
from backoffice.audit import audit_record
from backoffice.errors import DomainError
from backoffice.money import ZERO, to_money

__all__ = [
    "Flow",
    "FlowDeclarationError",
    "FlowKind",
    "LimitExceededError",
    "TierFlowNotAllowedError",
    "account_record_face_to_face",
    "account_record_non_bound_inflow_consent",
    "kyc_task_complete",
    "kyc_tasks_mark_overdue",
    "limit_guard",
    "limits_consume",
    "limits_release",
    "limits_remaining",
    "local_date",
    "rule_set_in_force",
]


class FlowKind(models.TextChoices):
    """What a movement on a customer account is, as its caller knows it."""

    BOUND_INFLOW = "bound_inflow", _("Transfer in from the bound account / 绑定账户转入")
    NON_BOUND_INFLOW = "non_bound_inflow", _("Transfer in from a non-bound account / 非绑定账户转入")
    CASH_DEPOSIT = "cash_deposit", _("Cash deposit / 存现")
    CASH_WITHDRAWAL = "cash_withdrawal", _("Cash withdrawal / 取现")
    PAYMENT = "payment", _("Consumption or bill payment / 消费缴费")
    BOUND_OUTFLOW = "bound_outflow", _("Transfer out to the bound account / 向绑定账户转出")
    NON_BOUND_OUTFLOW = "non_bound_outflow", _("Transfer out to a non-bound account / 向非绑定账户转出")
    WEALTH_PURCHASE = "wealth_purchase", _("Wealth product purchase / 购买理财")
    WEALTH_REDEMPTION = "wealth_redemption", _("Wealth product redemption / 理财赎回")
    LOAN_DISBURSEMENT = "loan_disbursement", _("Loan disbursement / 贷款发放")
    LOAN_REPAYMENT = "loan_repayment", _("Loan repayment / 贷款还款")
    INTEREST = "interest", _("Interest / 结息")
    FEE = "fee", _("Fee / 手续费")
    JUDICIAL = "judicial", _("Judicial deduction / 司法扣划")


INFLOW_KINDS = frozenset(
    {
        FlowKind.BOUND_INFLOW,
        FlowKind.NON_BOUND_INFLOW,
        FlowKind.CASH_DEPOSIT,
        FlowKind.WEALTH_REDEMPTION,
        FlowKind.LOAN_DISBURSEMENT,
        FlowKind.INTEREST,
    }
)

# Which kinds fill which bucket, per tier. A kind in no bucket is excluded (R-ACC-08, R-ACC-11).
BUCKETS: dict[str, dict[str, frozenset]] = {
    LimitTier.CLASS_II: {
        LimitBucket.INFLOW: frozenset({FlowKind.NON_BOUND_INFLOW, FlowKind.CASH_DEPOSIT}),
        LimitBucket.OUTFLOW: frozenset({FlowKind.PAYMENT, FlowKind.NON_BOUND_OUTFLOW, FlowKind.CASH_WITHDRAWAL}),
    },
    LimitTier.CLASS_III: {
        LimitBucket.OUTFLOW: frozenset({FlowKind.PAYMENT, FlowKind.NON_BOUND_OUTFLOW}),
        LimitBucket.NON_BOUND_INFLOW: frozenset({FlowKind.NON_BOUND_INFLOW}),
        # The customer's own money movements in and out; interest, fees and judicial deductions are not.
        LimitBucket.TWO_WAY: frozenset(
            {
                FlowKind.BOUND_INFLOW,
                FlowKind.NON_BOUND_INFLOW,
                FlowKind.LOAN_DISBURSEMENT,
                FlowKind.PAYMENT,
                FlowKind.BOUND_OUTFLOW,
                FlowKind.NON_BOUND_OUTFLOW,
                FlowKind.LOAN_REPAYMENT,
            }
        ),
    },
}
CLASS2_NEED_FACE_TO_FACE = frozenset({FlowKind.CASH_DEPOSIT, FlowKind.CASH_WITHDRAWAL, FlowKind.NON_BOUND_INFLOW})
CLASS3_REFUSED = frozenset(
    {FlowKind.CASH_DEPOSIT, FlowKind.CASH_WITHDRAWAL, FlowKind.WEALTH_PURCHASE, FlowKind.WEALTH_REDEMPTION}
)
LIMITED_TIERS = (LimitTier.CLASS_II, LimitTier.CLASS_III)
TOTAL_KEY = "all"


@dataclass(frozen=True)
class Flow:
    """The caller's classification of one account's movement in a voucher."""

    account_id: int
    kind: str


# -- errors ----------------------------------------------------------------------------


class LimitExceededError(DomainError):
    """A tier limit would be passed: the whole voucher is refused."""

    code, http_status = "limit_exceeded", 409
    message = _("The {limit} limit would be exceeded: {remaining} yuan remains.")


class TierFlowNotAllowedError(DomainError):
    """The account's tier does not allow this kind of movement (or not yet)."""

    code, http_status = "tier_flow_not_allowed", 409
    message = _("A Class {tier} account does not allow {flow} ({reason}).")


class FlowDeclarationError(AssertionError):
    """The caller classified a voucher wrongly (a programming error, never a refusal)."""


# -- calendar and rules ----------------------------------------------------------------


def local_date(moment: dt.datetime) -> dt.date:
    """The calendar day (Asia/Shanghai by default) a moment falls on."""
    return timezone.localtime(moment, dates.bank_tz()).date()


def _period_key(period: str, day: dt.date) -> str:
    if period == LimitPeriod.DAY:
        return day.isoformat()
    if period == LimitPeriod.YEAR:
        conf.limit_year_basis()
        return f"{day.year:04d}"
    return TOTAL_KEY


def rule_set_in_force(on: dt.date) -> LimitRuleSet | None:
    """R-ACC-15: the rule set whose ``effective_from`` is the latest on or before ``on``."""
    return LimitRuleSet.objects.filter(effective_from__lte=on).order_by("-effective_from").first()


def _rules_of(rule_set: LimitRuleSet | None) -> dict[tuple[str, str, str], LimitRule]:
    if rule_set is None:
        return {}
    return {(r.tier, r.bucket, r.period): r for r in rule_set.rules.all()}


# -- the guard -------------------------------------------------------------------------


def _moved(account: Account, legs: Sequence, *, inflow: bool) -> Decimal:
    """How much the legs move into (credit-normal side) or out of this account."""
    return sum(
        (leg.amount for leg in legs if leg.account_id == account.pk and (leg.side == account.normal_side) == inflow),
        ZERO,
    )


def _non_bound_inflow_enabled(account: Account, rule_set: LimitRuleSet | None) -> bool:
    """R-ACC-12: face to face, or (where the rule set allows it) verifying inflow + consent."""
    if account.face_to_face_verified:
        return True
    by_consent = rule_set is not None and rule_set.class3_consent_enables_non_bound_inflow
    return by_consent and account.verifying_inflow_at is not None and account.class3_non_bound_inflow_enabled


def _check_tier_allows(account: Account, kind: str, rule_set: LimitRuleSet | None) -> None:
    refusal = None
    if account.tier == LimitTier.CLASS_II and kind in CLASS2_NEED_FACE_TO_FACE and not account.face_to_face_verified:
        refusal = "face_to_face_required"
    elif account.tier == LimitTier.CLASS_III and kind in CLASS3_REFUSED:
        refusal = "not_allowed_for_class_iii"
    elif account.tier == LimitTier.CLASS_III and kind == FlowKind.NON_BOUND_INFLOW:
        if not _non_bound_inflow_enabled(account, rule_set):
            refusal = "non_bound_inflow_not_enabled"
    if refusal:
        raise TierFlowNotAllowedError(tier=account.tier, flow=kind, reason=refusal, account=account.number)


def _check_balance_cap(account: Account, legs: Sequence, rules: dict) -> None:
    """R-ACC-10: a Class III balance never rises above the cap (an outflow from above it is fine)."""
    rule = rules.get((LimitTier.CLASS_III, LimitBucket.BALANCE, LimitPeriod.MOMENT))
    if rule is None:
        return
    before = account.balance - _moved(account, legs, inflow=True) + _moved(account, legs, inflow=False)
    if account.balance > rule.amount and account.balance > before:
        remaining = max(rule.amount - before, ZERO)
        raise LimitExceededError(limit=rule.code, remaining=f"{remaining:.2f}")


def _lock_counter(party_id: int, tier: str, bucket: str, period: str, key: str) -> LimitCounter:
    """Lock one counter row, creating it if missing (the unique constraint settles a race)."""
    lookup = {"party_id": party_id, "tier": tier, "bucket": bucket, "period": period, "period_key": key}
    counter = LimitCounter.objects.select_for_update().filter(**lookup).first()
    if counter is not None:
        return counter
    try:
        with transaction.atomic():  # a savepoint: a lost insert race must not poison the posting
            return LimitCounter.objects.create(**lookup, used=ZERO)
    except IntegrityError:
        return LimitCounter.objects.select_for_update().get(**lookup)


def _classify(accounts: dict[int, Account], legs: Sequence, flows: Sequence[Flow]) -> dict[int, tuple[str, Decimal]]:
    """Each limited account's (kind, amount); every Class II/III account touched must be declared."""
    declared: dict[int, tuple[str, Decimal]] = {}
    for flow in flows:
        account = accounts.get(flow.account_id)
        if account is None:
            raise FlowDeclarationError(f"flow for account {flow.account_id}, which the voucher does not touch")
        if flow.kind not in FlowKind.values:
            raise FlowDeclarationError(f"unknown flow kind {flow.kind!r}")
        if flow.account_id in declared:
            raise FlowDeclarationError(f"two flows for account {flow.account_id}")
        amount = _moved(account, legs, inflow=flow.kind in INFLOW_KINDS)
        if amount <= 0:
            raise FlowDeclarationError(f"{flow.kind} declared for account {flow.account_id}, but no leg moves that way")
        declared[flow.account_id] = (flow.kind, amount)
    for pk, account in accounts.items():
        if not account.is_internal and account.tier in LIMITED_TIERS and pk not in declared:
            raise FlowDeclarationError(f"Class {account.tier} account {account.number} moves without a declared flow")
    return {pk: v for pk, v in declared.items() if accounts[pk].tier in LIMITED_TIERS and not accounts[pk].is_internal}


def _record_verifying_inflow(account: Account, kind: str, moment: dt.datetime) -> None:
    """R-ACC-12: the first inflow from the bound account is the verifying inflow; record it once."""
    if account.tier == LimitTier.CLASS_III and kind == FlowKind.BOUND_INFLOW and account.verifying_inflow_at is None:
        account.verifying_inflow_at = moment
        Account.objects.filter(pk=account.pk).update(verifying_inflow_at=moment)


def _open_kyc_task(*, party_id: int, day: dt.date, cumulative: Decimal) -> None:
    if KycTask.objects.filter(party_id=party_id, trigger=KycTask.Trigger.CLASS3_TWO_WAY).exists():
        return
    task = KycTask.objects.create(
        party_id=party_id,
        trigger=KycTask.Trigger.CLASS3_TWO_WAY,
        trigger_date=day,
        due_date=day + dt.timedelta(days=conf.kyc_task_due_days()),
        cumulative=cumulative,
    )
    audit_record(action="kyc_task.open", target=task, data={"cumulative": f"{cumulative:.2f}", "due": task.due_date.isoformat()})


def _counter_amounts(
    accounts: dict[int, Account], declared: dict[int, tuple[str, Decimal]], day: dt.date
) -> dict[tuple[int, str, str, str, str], Decimal]:
    """The amount each counter key (party, tier, bucket, period, key) moves by."""
    wanted: dict[tuple[int, str, str, str, str], Decimal] = defaultdict(lambda: ZERO)
    for pk, (kind, amount) in declared.items():
        account = accounts[pk]
        for bucket, kinds in BUCKETS[account.tier].items():
            if kind not in kinds:
                continue
            periods = (LimitPeriod.DAY, LimitPeriod.YEAR) if bucket in COUNTED_BUCKETS else (LimitPeriod.TOTAL,)
            for period in periods:
                wanted[(account.party_id, account.tier, bucket, period, _period_key(period, day))] += amount
    return wanted


def _check_and_count(*, accounts: dict[int, Account], legs: Sequence, flows: Sequence[Flow], moment: dt.datetime) -> None:
    declared = _classify(accounts, legs, flows)
    _enforce(accounts=accounts, declared=declared, legs=legs, moment=moment)


def _enforce(
    *, accounts: dict[int, Account], declared: dict[int, tuple[str, Decimal]], legs: Sequence | None, moment: dt.datetime
) -> None:
    day = local_date(moment)
    rule_set = rule_set_in_force(day)
    rules = _rules_of(rule_set)

    for pk in sorted(declared):
        _check_tier_allows(accounts[pk], declared[pk][0], rule_set)
    if legs is not None:
        for pk in sorted(declared):
            if accounts[pk].tier == LimitTier.CLASS_III:
                _check_balance_cap(accounts[pk], legs, rules)

    wanted = _counter_amounts(accounts, declared, day)
    locked = [(key, _lock_counter(*key)) for key in sorted(wanted)]
    for key, counter in locked:
        party_id, tier, bucket, period, _key = key
        rule = rules.get((tier, bucket, period))
        if rule is not None and bucket in COUNTED_BUCKETS and counter.used + wanted[key] > rule.amount:
            remaining = max(rule.amount - counter.used, ZERO)
            raise LimitExceededError(limit=rule.code, remaining=f"{remaining:.2f}")

    for key, counter in locked:
        party_id, tier, bucket, period, _key = key
        before = counter.used
        counter.used = before + wanted[key]
        counter.save(update_fields=["used", "updated_at"])
        threshold = rules.get((tier, bucket, period)) if bucket == LimitBucket.TWO_WAY else None
        if threshold is not None and before < threshold.amount <= counter.used:
            _open_kyc_task(party_id=party_id, day=day, cumulative=counter.used)

    for pk, (kind, _amount) in declared.items():
        _record_verifying_inflow(accounts[pk], kind, moment)


def _single(account: Account, kind: str, amount) -> tuple[dict, dict]:
    if kind not in FlowKind.values or kind in INFLOW_KINDS:
        raise FlowDeclarationError(f"{kind!r} is not an outflow kind")
    if account.is_internal or account.tier not in LIMITED_TIERS:
        return {}, {}
    return {account.pk: account}, {account.pk: (kind, to_money(amount))}


def limits_consume(*, account: Account, kind: str, amount, at: dt.datetime | None = None) -> None:
    """Building block: check and count an outflow that is committed now but posted later, e.g. a
    withdrawal that freezes (hold) the money on acceptance and captures it after the channel paid.

    Call it inside the caller's transaction, with ``account`` locked (``select_for_update``), in the
    same block as ``ledger.hold_place``; capture the hold later *without* a limit guard, and give
    the count back with ``limits_release`` if the outflow fails. Raises LimitExceededError,
    TierFlowNotAllowedError; FlowDeclarationError for an inflow kind.
    """
    if not transaction.get_connection().in_atomic_block:
        raise FlowDeclarationError("limits_consume must run inside the transaction that locks the account")
    accounts, declared = _single(account, kind, amount)
    if declared:
        _enforce(accounts=accounts, declared=declared, legs=None, moment=at or timezone.now())


def limits_release(*, account: Account, kind: str, amount, at: dt.datetime) -> None:
    """Building block: give back what ``limits_consume`` counted at ``at`` (the original moment, so
    the same day and year) when the outflow failed. Counters never go below zero; a KYC task
    already opened stays open. Inside the caller's transaction, account locked first."""
    accounts, declared = _single(account, kind, amount)
    if not declared:
        return
    wanted = _counter_amounts(accounts, declared, local_date(at))
    for key in sorted(wanted):
        counter = _lock_counter(*key)
        counter.used = max(counter.used - wanted[key], ZERO)
        counter.save(update_fields=["used", "updated_at"])


def limit_guard(*, flows: Sequence[Flow], at: dt.datetime | None = None) -> Callable:
    """A ledger guard enforcing and counting the tier limits for these flows.

    ``at`` replaces the posting time for choosing the rule set and the calendar periods (historical
    replays, tests); by default the ledger's own ``now`` is used. The guard raises
    ``LimitExceededError`` (409 ``limit_exceeded``, data ``limit`` and ``remaining``),
    ``TierFlowNotAllowedError`` (409 ``tier_flow_not_allowed``) or ``FlowDeclarationError`` (a
    bug: a Class II/III account moved without a declared flow, or a flow that does not match its
    legs). Use: ``ledger.post_transfer(..., guards=[limit_guard(flows=[Flow(acc.pk, FlowKind.PAYMENT)])])``.
    """
    flows = tuple(flows)

    def guard(*, accounts: dict[int, Account], legs: Sequence, now: dt.datetime) -> None:
        _check_and_count(accounts=accounts, legs=legs, flows=flows, moment=at or now)

    return guard


# -- selectors -------------------------------------------------------------------------


def limits_remaining(*, account: Account, on: dt.date | None = None) -> list[dict]:
    """Today's (or ``on``'s) and this year's limits of the account's person and tier, for the API
    and portal: ``[{"limit", "period", "amount", "used", "remaining"}]`` (Decimal amounts).

    Class III also lists its balance cap (``period`` ``moment``, ``used`` = this account's balance).
    Empty for tiers without regulatory limits (Class I, corporate, internal).
    """
    if account.is_internal or account.tier not in LIMITED_TIERS:
        return []
    on = on or local_date(timezone.now())
    rules = [r for r in _rules_of(rule_set_in_force(on)).values() if r.tier == account.tier and r.bucket != LimitBucket.TWO_WAY]
    keys = {LimitPeriod.DAY: _period_key(LimitPeriod.DAY, on), LimitPeriod.YEAR: _period_key(LimitPeriod.YEAR, on)}
    used = {
        (c.bucket, c.period): c.used
        for c in LimitCounter.objects.filter(party_id=account.party_id, tier=account.tier, period_key__in=keys.values())
        if keys.get(c.period) == c.period_key
    }
    order = {LimitBucket.BALANCE: 0, LimitBucket.INFLOW: 1, LimitBucket.NON_BOUND_INFLOW: 2, LimitBucket.OUTFLOW: 3}
    period_order = {LimitPeriod.MOMENT: 0, LimitPeriod.DAY: 1, LimitPeriod.YEAR: 2}
    result = []
    for rule in sorted(rules, key=lambda r: (order.get(r.bucket, 9), period_order.get(r.period, 9))):
        spent = account.balance if rule.bucket == LimitBucket.BALANCE else used.get((rule.bucket, rule.period), ZERO)
        result.append(
            {
                "limit": rule.code,
                "period": rule.period,
                "amount": rule.amount,
                "used": spent,
                "remaining": max(rule.amount - spent, ZERO),
            }
        )
    return result


# -- services --------------------------------------------------------------------------


def _lock_account(account_id: int) -> Account:
    account = Account.objects.select_for_update().filter(pk=account_id).first()
    if account is None:
        raise NotFoundError(f"No account with id {account_id}.")
    return account


@transaction.atomic(durable=True)
def account_record_face_to_face(*, account_id: int, actor=None, note: str = "") -> Account:
    """Record that the holder's identity was confirmed face to face (counter, or self-service with
    staff): unlocks Class II cash and non-bound inflows (R-ACC-09) and Class III non-bound inflows
    (R-ACC-12). Raises NotFoundError, InvalidStateError (not a Class II/III account)."""
    account = _lock_account(account_id)
    if account.is_internal or account.tier not in LIMITED_TIERS:
        raise InvalidStateError("Face-to-face confirmation applies to Class II/III accounts.", state=account.tier)
    if not account.face_to_face_verified:
        account.face_to_face_verified = True
        account.face_to_face_verified_at = timezone.now()
        account.save(update_fields=["face_to_face_verified", "face_to_face_verified_at", "updated_at"])
        audit_record(actor=actor, action="account.face_to_face_verified", target=account, data={"note": note})
    return account


@transaction.atomic(durable=True)
def account_record_non_bound_inflow_consent(*, account_id: int, consented: bool = True, actor=None) -> Account:
    """Record (or withdraw) a Class III holder's consent to receive non-bound inflows (R-ACC-12, 16号).

    Non-bound inflows are accepted only once a verifying inflow from the bound account has also
    been recorded (the guard records the first bound inflow). Raises NotFoundError,
    InvalidStateError (not a Class III account)."""
    account = _lock_account(account_id)
    if account.is_internal or account.tier != LimitTier.CLASS_III:
        raise InvalidStateError("Non-bound inflow consent applies to Class III accounts.", state=account.tier)
    if account.class3_non_bound_inflow_enabled != consented:
        account.class3_non_bound_inflow_enabled = consented
        account.non_bound_inflow_consent_at = timezone.now() if consented else None
        account.save(update_fields=["class3_non_bound_inflow_enabled", "non_bound_inflow_consent_at", "updated_at"])
        audit_record(actor=actor, action="account.non_bound_inflow_consent", target=account, data={"consented": consented})
    return account


def _class3_accounts(party_id: int, state: str):
    return (
        Account.objects.select_for_update()
        .filter(party_id=party_id, tier=Account.Tier.CLASS_III, kind=Account.Kind.CUSTOMER, state=state)
        .order_by("pk")
    )


@transaction.atomic(durable=True)
def kyc_task_complete(*, task_id: int, actor=None, note: str = "") -> KycTask:
    """The person's valid ID was checked and registered (R-ACC-14): open → done. Where overdue tasks
    suspend accounts (ACCOUNTS_KYC_OVERDUE_ACTION), the suspended Class III accounts are restored.
    Raises NotFoundError, InvalidStateError (already done)."""
    task = KycTask.objects.select_for_update().filter(pk=task_id).first()
    if task is None:
        raise NotFoundError(f"No KYC task with id {task_id}.")
    if task.state != KycTask.State.OPEN:
        raise InvalidStateError(state=task.state)
    task.complete()
    task.note = note
    task.save(update_fields=["state", "done_at", "note", "updated_at"])
    audit_record(actor=actor, action="kyc_task.complete", target=task, data={"note": note})
    if task.overdue and conf.kyc_overdue_action() == "suspend_non_counter":
        for account in _class3_accounts(task.party_id, Account.State.NON_COUNTER_SUSPENDED):
            account.restore_non_counter()
            account.save(update_fields=["state", "updated_at"])
            audit_record(actor=actor, action="account.restore_non_counter", target=account, data={"kyc_task": task.pk})
    return task


@transaction.atomic(durable=True)
def kyc_tasks_mark_overdue(*, today: dt.date | None = None) -> int:
    """Flag open KYC tasks past their due date (R-ACC-14) and apply ACCOUNTS_KYC_OVERDUE_ACTION.
    Idempotent: a task is flagged once. Returns how many tasks were newly flagged."""
    today = today or local_date(timezone.now())
    action = conf.kyc_overdue_action()
    tasks = list(
        KycTask.objects.select_for_update().filter(state=KycTask.State.OPEN, overdue=False, due_date__lt=today).order_by("pk")
    )
    for task in tasks:
        task.overdue = True
        task.save(update_fields=["overdue", "updated_at"])
        audit_record(action="kyc_task.overdue", target=task, data={"action": action})
        if action == "suspend_non_counter":
            for account in _class3_accounts(task.party_id, Account.State.ACTIVE):
                account.suspend_non_counter()
                account.save(update_fields=["state", "updated_at"])
                audit_record(action="account.suspend_non_counter", target=account, data={"kyc_task": task.pk})
    return len(tasks)
