"""Judicial freezes (司法冻结): maker-checker requests, their execution, expiry and the queue (轮候).

Rules
- Every place / release / deduct / renew is a ``FreezeRequest`` made by a user with
  ``accounts.request_judicial_freeze`` and approved by a *different* user with
  ``accounts.approve_judicial_freeze``; approving executes the action in the same transaction
  (all or nothing), and both steps are audited.
- Effects on money, enforced by ``accounts.ledger.postings`` on every path:
  ``partial``: a judicial Hold of the ordered amount. If less is available, what is available is
  frozen and the rest recorded as ``shortfall`` (the order is served as far as it can be; later
  inflows are not frozen automatically: the authority issues a further order).
  ``full``: a judicial Hold of the whole available balance and the account debit-blocked
  (``Account.judicial_debit_blocks``): nothing leaves, later inflows included.
  ``debit_blocked``: no outflow. ``credit_blocked``: no inflow (``judicial_credit_blocks``).
  A judicial hold is ended only by this module (ledger ``_check_judicial_owner``); a
  non-judicial hold on a debit-blocked account cannot be captured.
- Queue: at most one money freeze (full or partial) is active per account; a later one is
  ``queued`` and takes effect, earliest queued first, when the active one is released, expires
  or is wholly deducted. Blocking-only freezes take effect at once and stack. A queued freeze's
  term (``expires_at - effective_at``) runs from when it takes effect [U: compliance to confirm].
- Deduction (扣划) captures the judicial hold: Dr customer / Cr clearing, voucher kind
  ``judicial_deduction`` carrying the payee court account in its metadata. Deducting less than
  the frozen amount keeps the freeze active on the remainder; deducting all of it ends it.
  Blocking-only freezes hold no money and cannot be deducted.
- Renewal (续冻) is allowed while the freeze is active and before it expires; it only extends.
- ``freezes_release_expired`` (beat ``accounts.release_expired_freezes``) expires due freezes.

Locks: the request row, then the accounts the action posts to (the customer's, and for a
deduction the clearing account) in ascending id order, then the account's freeze rows; the
ledger then locks the judicial hold and the (already locked) accounts. Other clients may lock a judicial hold
but are refused before they touch the account, so no cycle arises.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.errors import InvalidStateError, NotFoundError
from accounts.ledger.models import Account, Hold
from accounts.states.errors import FreezeActionError, FreezePermissionError
from accounts.states.models import FreezeRequest, JudicialDeduction, JudicialFreeze, JudicialFreezeRenewal
from backoffice.audit import audit_record
from backoffice.errors import FieldValidationError, MakerCheckerError
from backoffice.money import MoneyError, to_money

__all__ = [
    "JUDICIAL_CLIENT",
    "account_freezes",
    "freeze_request_approve",
    "freeze_request_create",
    "freeze_request_reject",
    "freeze_requests_pending",
    "freezes_release_expired",
    "judicial_freeze_expire",
]

JUDICIAL_CLIENT = "accounts.judicial"
DEDUCTION_KIND = "judicial_deduction"
REQUEST_PERMISSION = "accounts.request_judicial_freeze"
APPROVE_PERMISSION = "accounts.approve_judicial_freeze"
ZERO = Decimal("0.00")


# -- selectors -------------------------------------------------------------------------


def account_freezes(*, account_id: int, open_only: bool = False) -> QuerySet[JudicialFreeze]:
    """An account's judicial freezes, oldest first (the queue order for queued ones)."""
    freezes = JudicialFreeze.objects.filter(account_id=account_id)
    if open_only:
        freezes = freezes.filter(state__in=JudicialFreeze.OPEN_STATES)
    return freezes.order_by("created_at", "pk")


def freeze_requests_pending() -> QuerySet[FreezeRequest]:
    """The checker's queue: pending requests, oldest first."""
    return (
        FreezeRequest.objects.filter(state=FreezeRequest.State.PENDING)
        .select_related("account", "freeze", "requested_by")
        .order_by("requested_at", "pk")
    )


# -- validation ------------------------------------------------------------------------


def _choose_one(choices) -> str:
    """The refusal of an unknown choice. Only the API can send one (the console's forms offer the
    choices by label), so it lists the codes the API takes."""
    return gettext("One of: %(codes)s. / 可选值：%(codes)s。") % {"codes": ", ".join(choices.values)}


def _require(user, permission: str) -> None:
    if user is None or not getattr(user, "is_active", False) or not user.has_perm(permission):
        raise FreezePermissionError(permission=permission)


def _text(payload: dict, name: str, errors: dict, *, required: bool = True, max_length: int = 200) -> str:
    value = str(payload.get(name) or "").strip()
    if required and not value:
        errors[name] = [gettext("This field is required. / 此项为必填项。")]
    elif len(value) > max_length:
        errors[name] = [gettext("At most %(count)s characters. / 最多 %(count)s 个字符。") % {"count": max_length}]
    return value


def _moment(payload: dict, name: str, errors: dict, *, default=None) -> dt.datetime | None:
    value = payload.get(name, default)
    if value is None:
        errors[name] = [gettext("This field is required. / 此项为必填项。")]
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, dt.datetime) or timezone.is_naive(value):
        errors[name] = [gettext("A date and time with its time zone is required. / 须填写带时区的日期时间。")]
        return None
    return value


def _money(payload: dict, name: str, errors: dict) -> Decimal | None:
    try:
        amount = to_money(payload.get(name))
    except (MoneyError, TypeError, ValueError, ArithmeticError):
        errors[name] = [gettext("A positive amount with at most two decimals is required. / 须为正数金额，最多两位小数。")]
        return None
    if amount <= 0:
        errors[name] = [gettext("A positive amount with at most two decimals is required. / 须为正数金额，最多两位小数。")]
        return None
    return amount


def _raise(errors: dict) -> None:
    if errors:
        raise FieldValidationError(errors)


def _clean_place(payload: dict, *, now) -> dict:
    errors: dict[str, list[str]] = {}
    kind = payload.get("kind")
    if kind not in JudicialFreeze.Kind.values:
        errors["kind"] = [_choose_one(JudicialFreeze.Kind)]
    amount = _money(payload, "amount", errors) if kind == JudicialFreeze.Kind.PARTIAL else None
    if kind != JudicialFreeze.Kind.PARTIAL and payload.get("amount") not in (None, ""):
        errors["amount"] = [gettext("Only a partial freeze names an amount. / 仅部分冻结须填写金额。")]
    authority = _text(payload, "authority", errors)
    document_number = _text(payload, "document_number", errors, max_length=100)
    effective_at = _moment(payload, "effective_at", errors, default=now)
    expires_at = _moment(payload, "expires_at", errors)
    if effective_at and effective_at > now:
        errors["effective_at"] = [
            gettext("The order takes effect when served: not in the future. / 冻结自送达时生效，不能晚于当前时间。")
        ]
    if effective_at and expires_at and expires_at <= now:
        errors["expires_at"] = [gettext("The expiry must be in the future. / 到期时间须晚于当前时间。")]
    if (
        authority
        and document_number
        and JudicialFreeze.objects.filter(authority=authority, document_number=document_number).exists()
    ):
        errors["document_number"] = [
            gettext("A freeze with this authority and document number exists. / 该有权机关的此文书编号已有冻结。")
        ]
    _raise(errors)
    return {
        "kind": kind,
        "amount": None if amount is None else f"{amount:.2f}",
        "authority": authority,
        "document_number": document_number,
        "effective_at": effective_at.isoformat(),
        "expires_at": expires_at.isoformat(),
    }


def _clean_release(payload: dict, freeze: JudicialFreeze) -> dict:
    errors: dict[str, list[str]] = {}
    document_number = _text(payload, "document_number", errors, max_length=100)
    _raise(errors)
    if freeze.state not in JudicialFreeze.OPEN_STATES:
        raise InvalidStateError(state=freeze.state)
    return {"document_number": document_number}


def _clean_deduct(payload: dict, freeze: JudicialFreeze) -> dict:
    errors: dict[str, list[str]] = {}
    amount = _money(payload, "amount", errors)
    court_account_name = _text(payload, "court_account_name", errors)
    court_account_number = _text(payload, "court_account_number", errors, max_length=64)
    court_bank = _text(payload, "court_bank", errors, required=False)
    document_number = _text(payload, "document_number", errors, max_length=100)
    _raise(errors)
    _check_deductible(freeze, amount)
    return {
        "amount": f"{amount:.2f}",
        "court_account_name": court_account_name,
        "court_account_number": court_account_number,
        "court_bank": court_bank,
        "document_number": document_number,
    }


def _check_deductible(freeze: JudicialFreeze, amount: Decimal) -> None:
    if freeze.state != JudicialFreeze.State.ACTIVE:
        raise InvalidStateError(state=freeze.state)
    if not freeze.holds_money:
        raise FreezeActionError(
            _("A {kind} freeze holds no money to deduct. / {kind}不冻结资金，无可扣划金额。"), kind=freeze.get_kind_display()
        )
    if amount > freeze.frozen_amount:
        raise FreezeActionError(
            _("Only {frozen} is frozen; {amount} cannot be deducted. / 冻结金额仅 {frozen}，不能扣划 {amount}。"),
            frozen=f"{freeze.frozen_amount:,.2f}",
            amount=f"{amount:,.2f}",
        )


def _clean_renew(payload: dict, freeze: JudicialFreeze, *, now) -> dict:
    errors: dict[str, list[str]] = {}
    document_number = _text(payload, "document_number", errors, max_length=100)
    expires_at = _moment(payload, "expires_at", errors)
    _raise(errors)
    _check_renewable(freeze, expires_at, now=now)
    return {"document_number": document_number, "expires_at": expires_at.isoformat()}


def _check_renewable(freeze: JudicialFreeze, expires_at: dt.datetime, *, now) -> None:
    if freeze.state != JudicialFreeze.State.ACTIVE:
        raise InvalidStateError(state=freeze.state)
    if now >= freeze.expires_at:
        raise FreezeActionError(
            _("The freeze has reached its expiry: renewal must come before it. / 冻结已到期，续冻须在到期前办理。")
        )
    if expires_at <= freeze.expires_at:
        raise FreezeActionError(_("A renewal must extend the expiry. / 续冻须延长到期时间。"))


# -- requests (maker-checker) ----------------------------------------------------------


@transaction.atomic(durable=True)
def freeze_request_create(
    *,
    action: str,
    requested_by,
    payload: dict,
    account_id: int | None = None,
    freeze_id: int | None = None,
    reason: str = "",
) -> FreezeRequest:
    """The maker's step: record a request to place, release, deduct or renew a judicial freeze.

    ``place`` names ``account_id``; the others name ``freeze_id``. The payload is validated now
    (and again at approval). Raises FreezePermissionError, FieldValidationError, NotFoundError,
    InvalidStateError (the freeze is over, the account closed), FreezeActionError.
    """
    _require(requested_by, REQUEST_PERMISSION)
    now = timezone.now()
    freeze = None
    if action == FreezeRequest.Action.PLACE:
        account = Account.objects.filter(pk=account_id).first()
        if account is None:
            raise NotFoundError(_("No account with id {id}. / 账户 {id} 不存在。"), id=account_id)
        _check_freezable(account)
        clean = _clean_place(payload, now=now)
    elif action in (FreezeRequest.Action.RELEASE, FreezeRequest.Action.DEDUCT, FreezeRequest.Action.RENEW):
        freeze = JudicialFreeze.objects.select_related("account").filter(pk=freeze_id).first()
        if freeze is None:
            raise NotFoundError(_("No judicial freeze with id {id}. / 司法冻结 {id} 不存在。"), id=freeze_id)
        account = freeze.account
        if action == FreezeRequest.Action.RELEASE:
            clean = _clean_release(payload, freeze)
        elif action == FreezeRequest.Action.DEDUCT:
            clean = _clean_deduct(payload, freeze)
        else:
            clean = _clean_renew(payload, freeze, now=now)
    else:
        raise FieldValidationError({"action": [_choose_one(FreezeRequest.Action)]})
    request = FreezeRequest.objects.create(
        action=action, account=account, freeze=freeze, payload=clean, requested_by=requested_by, requested_at=now, reason=reason
    )
    audit_record(
        actor=requested_by,
        action="freeze_request.create",
        target=request,
        data={"action": action, "account": account.number, "freeze": freeze_id, "payload": clean, "reason": reason},
    )
    return request


def _lock_request(request_id: int) -> FreezeRequest:
    request = FreezeRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFoundError(_("No freeze request with id {id}. / 冻结申请 {id} 不存在。"), id=request_id)
    if request.state != FreezeRequest.State.PENDING:
        raise InvalidStateError(state=request.state)
    return request


def _check_checker(request: FreezeRequest, user) -> None:
    if user is not None and user.pk == request.requested_by_id:
        raise MakerCheckerError()
    _require(user, APPROVE_PERMISSION)


@transaction.atomic(durable=True)
def freeze_request_approve(*, request_id: int, approved_by, reason: str = "") -> FreezeRequest:
    """The checker's step: approve a pending request and execute its action atomically.

    Raises MakerCheckerError (approver is the requester), FreezePermissionError, InvalidStateError
    (request decided, freeze no longer open), FreezeActionError, FieldValidationError. A refusal
    leaves the request pending and nothing changed.
    """
    request = _lock_request(request_id)
    _check_checker(request, approved_by)
    now = timezone.now()
    account = _lock_touched_accounts(request)
    if request.action == FreezeRequest.Action.PLACE:
        _check_freezable(account)
        freeze = _place(account, _clean_place(request.payload, now=now), request=request, actor=approved_by, now=now)
        request.freeze = freeze
    else:
        freeze = _lock_freezes(account.pk)[request.freeze_id]
        if request.action == FreezeRequest.Action.RELEASE:
            _clean_release(request.payload, freeze)
            _end(freeze, "release", actor=approved_by, now=now, data={"document_number": request.payload["document_number"]})
        elif request.action == FreezeRequest.Action.DEDUCT:
            _deduct(freeze, request=request, actor=approved_by, now=now)
        else:
            _renew(freeze, request=request, actor=approved_by, now=now)
    request.approve(by=approved_by, at=now, reason=reason)
    request.save()
    audit_record(
        actor=approved_by,
        action="freeze_request.approve",
        target=request,
        data={"action": request.action, "freeze": request.freeze_id, "requested_by": request.requested_by_id, "reason": reason},
    )
    return request


@transaction.atomic(durable=True)
def freeze_request_reject(*, request_id: int, rejected_by, reason: str) -> FreezeRequest:
    """The checker refuses a pending request; nothing is executed. Same checker rules as approval."""
    request = _lock_request(request_id)
    _check_checker(request, rejected_by)
    request.reject(by=rejected_by, at=timezone.now(), reason=reason)
    request.save()
    audit_record(
        actor=rejected_by,
        action="freeze_request.reject",
        target=request,
        data={"action": request.action, "requested_by": request.requested_by_id, "reason": reason},
    )
    return request


# -- execution (inside the approving transaction, account locked) ------------------------


def _lock_touched_accounts(request: FreezeRequest) -> Account:
    """Lock every account the action will post to, in ascending id order like the ledger (a
    deduction also credits the clearing account, whose id is lower than customers'); return the
    customer's."""
    ids = {request.account_id}
    if request.action == FreezeRequest.Action.DEDUCT:
        from accounts.ledger.selectors import internal_account

        ids.add(internal_account(Role.CLEARING).pk)
    locked = {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
    return locked[request.account_id]


def _check_freezable(account: Account) -> None:
    if account.is_internal or account.state in (Account.State.CLOSED, Account.State.DEEMED_CLOSED):
        raise InvalidStateError(state=account.state)


def _lock_freezes(account_id: int) -> dict[int, JudicialFreeze]:
    rows = JudicialFreeze.objects.select_for_update().filter(account_id=account_id).order_by("pk")
    return {freeze.pk: freeze for freeze in rows}


def _place(account: Account, clean: dict, *, request: FreezeRequest, actor, now) -> JudicialFreeze:
    _lock_freezes(account.pk)
    freeze = JudicialFreeze.objects.create(
        account=account,
        kind=clean["kind"],
        amount=None if clean["amount"] is None else Decimal(clean["amount"]),
        authority=clean["authority"],
        document_number=clean["document_number"],
        effective_at=parse_datetime(clean["effective_at"]),
        expires_at=parse_datetime(clean["expires_at"]),
        created_at=now,
    )
    audit_record(actor=actor, action="judicial_freeze.place", target=freeze, data={**clean, "request": request.pk})
    if _may_take_effect(freeze):
        _activate(freeze, actor=actor, now=now, queued=False)
    else:
        audit_record(actor=actor, action="judicial_freeze.queue", target=freeze, data={"account": account.number})
    return freeze


def _may_take_effect(freeze: JudicialFreeze) -> bool:
    """Blocking-only freezes stack; a money freeze waits while another is active or queued before it."""
    if not freeze.holds_money:
        return True
    others = JudicialFreeze.objects.filter(account_id=freeze.account_id, kind__in=JudicialFreeze.MONEY_KINDS).exclude(
        pk=freeze.pk
    )
    return not others.filter(state__in=JudicialFreeze.OPEN_STATES).exists()


def _hold_key(freeze: JudicialFreeze) -> str:
    return f"judicial-freeze:{freeze.pk}:hold:{freeze.deductions.count()}"


def _place_hold(freeze: JudicialFreeze, amount: Decimal) -> Hold:
    return ledger.hold_place(
        client=JUDICIAL_CLIENT,
        idempotency_key=_hold_key(freeze),
        account_id=freeze.account_id,
        amount=amount,
        reason=Hold.Reason.JUDICIAL,
        reference=f"{freeze.authority} {freeze.document_number}"[:100],
        enforce_state=False,
    )


def _set_blocks(account_id: int, freeze: JudicialFreeze, delta: int) -> None:
    account = Account.objects.select_for_update().get(pk=account_id)  # already locked: a re-read
    fields = {}
    if freeze.blocks_debit:
        fields["judicial_debit_blocks"] = account.judicial_debit_blocks + delta
    if freeze.blocks_credit:
        fields["judicial_credit_blocks"] = account.judicial_credit_blocks + delta
    if fields:
        Account.objects.filter(pk=account_id).update(**fields, updated_at=timezone.now())


def _activate(freeze: JudicialFreeze, *, actor, now, queued: bool) -> None:
    if queued:
        # The term of a queued (轮候) freeze runs from when it takes effect.
        freeze.expires_at = now + (freeze.expires_at - freeze.effective_at)
    if freeze.holds_money:
        account = Account.objects.select_for_update().get(pk=freeze.account_id)
        available = max(account.available, ZERO)
        wanted = freeze.amount if freeze.kind == JudicialFreeze.Kind.PARTIAL else available
        frozen = min(wanted, available)
        if frozen > 0:
            freeze.hold = _place_hold(freeze, frozen)
        freeze.frozen_amount = frozen
        freeze.shortfall = wanted - frozen
    _set_blocks(freeze.account_id, freeze, +1)
    freeze.activate()
    freeze.activated_at = now
    freeze.save()
    audit_record(
        actor=actor,
        action="judicial_freeze.activate",
        target=freeze,
        data={
            "kind": freeze.kind,
            "frozen_amount": f"{freeze.frozen_amount:.2f}",
            "shortfall": f"{freeze.shortfall:.2f}",
            "expires_at": freeze.expires_at.isoformat(),
            "from_queue": queued,
        },
    )


def _release_hold(freeze: JudicialFreeze, key: str) -> None:
    if freeze.hold_id is not None and Hold.objects.filter(pk=freeze.hold_id, state=Hold.State.ACTIVE).exists():
        ledger.hold_release(client=JUDICIAL_CLIENT, idempotency_key=key, hold_id=freeze.hold_id)


def _end(freeze: JudicialFreeze, how: str, *, actor, now, data: dict | None = None) -> None:
    """End a freeze (release | expire | mark_deducted): unfreeze, unblock, then serve the queue."""
    was_active = freeze.state == JudicialFreeze.State.ACTIVE
    if was_active:
        _release_hold(freeze, f"judicial-freeze:{freeze.pk}:end")
        _set_blocks(freeze.account_id, freeze, -1)
    getattr(freeze, how)()
    freeze.ended_at = now
    freeze.save()
    audit_record(
        actor=actor,
        action=f"judicial_freeze.{'deducted' if how == 'mark_deducted' else how}",
        target=freeze,
        data={"was_active": was_active, **(data or {})},
    )
    _serve_queue(freeze.account_id, actor=actor, now=now)


def _serve_queue(account_id: int, *, actor, now) -> None:
    """The earliest queued money freeze takes effect once no money freeze is active."""
    money = JudicialFreeze.objects.filter(account_id=account_id, kind__in=JudicialFreeze.MONEY_KINDS)
    if money.filter(state=JudicialFreeze.State.ACTIVE).exists():
        return
    head = money.filter(state=JudicialFreeze.State.QUEUED).order_by("created_at", "pk").first()
    if head is not None:
        _activate(head, actor=actor, now=now, queued=True)


def _deduct(freeze: JudicialFreeze, *, request: FreezeRequest, actor, now) -> None:
    payload = request.payload
    amount = Decimal(payload["amount"])
    _check_deductible(freeze, amount)
    from accounts.ledger.selectors import internal_account

    clearing = internal_account(Role.CLEARING)
    held = freeze.frozen_amount
    court = {
        "court_account_name": payload["court_account_name"],
        "court_account_number": payload["court_account_number"],
        "court_bank": payload.get("court_bank", ""),
    }
    transfer = ledger.hold_capture(
        client=JUDICIAL_CLIENT,
        idempotency_key=f"judicial-deduction:{request.pk}",
        hold_id=freeze.hold_id,
        to_account_id=clearing.pk,
        amount=amount,
        kind=DEDUCTION_KIND,
        memo=f"司法扣划 {freeze.authority} {payload['document_number']} → {court['court_account_name']}"[:200],
        metadata={
            **court,
            "authority": freeze.authority,
            "document_number": payload["document_number"],
            "freeze": freeze.pk,
            "freeze_request": request.pk,
        },
    )
    JudicialDeduction.objects.create(
        freeze=freeze, amount=amount, document_number=payload["document_number"], transfer=transfer, request=request, **court
    )
    freeze.deducted_amount = freeze.deducted_amount + amount
    remainder = held - amount
    audit_record(
        actor=actor,
        action="judicial_freeze.deduct",
        target=freeze,
        data={"amount": f"{amount:.2f}", "remainder": f"{remainder:.2f}", "transfer": transfer.pk, **court},
    )
    if remainder > 0:
        # hold_capture released the rest of the hold: freeze it again at once, under the same lock.
        freeze.hold = _place_hold(freeze, remainder)
        freeze.frozen_amount = remainder
        freeze.save()
        return
    freeze.frozen_amount = ZERO
    freeze.save()
    _end(freeze, "mark_deducted", actor=actor, now=now, data={"transfer": transfer.pk})


def _renew(freeze: JudicialFreeze, *, request: FreezeRequest, actor, now) -> None:
    new_expires_at = parse_datetime(request.payload["expires_at"])
    _check_renewable(freeze, new_expires_at, now=now)
    previous = freeze.expires_at
    JudicialFreezeRenewal.objects.create(
        freeze=freeze,
        previous_expires_at=previous,
        new_expires_at=new_expires_at,
        document_number=request.payload["document_number"],
        request=request,
        created_at=now,
    )
    freeze.expires_at = new_expires_at
    freeze.save()
    audit_record(
        actor=actor,
        action="judicial_freeze.renew",
        target=freeze,
        data={
            "previous_expires_at": previous.isoformat(),
            "expires_at": new_expires_at.isoformat(),
            "document_number": request.payload["document_number"],
        },
    )


# -- expiry (beat) -----------------------------------------------------------------------


@transaction.atomic(durable=True)
def judicial_freeze_expire(*, freeze_id: int, now: dt.datetime | None = None) -> JudicialFreeze:
    """End one active freeze whose expiry has passed and serve the queue. Idempotent: a freeze
    that is not active or not yet due is returned unchanged."""
    now = now or timezone.now()
    account_id = JudicialFreeze.objects.filter(pk=freeze_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFoundError(_("No judicial freeze with id {id}. / 司法冻结 {id} 不存在。"), id=freeze_id)
    Account.objects.select_for_update().get(pk=account_id)
    freeze = _lock_freezes(account_id)[freeze_id]
    if freeze.state == JudicialFreeze.State.ACTIVE and freeze.expires_at <= now:
        _end(freeze, "expire", actor=None, now=now, data={"expires_at": freeze.expires_at.isoformat()})
    return freeze


def freezes_release_expired(*, now: dt.datetime | None = None) -> list[int]:
    """Beat job: expire every active freeze past its expiry (one transaction each); returns their ids.

    A queued freeze that takes effect here gets its full term from now, so it is not expired in
    the same run.
    """
    now = now or timezone.now()
    due = list(
        JudicialFreeze.objects.filter(state=JudicialFreeze.State.ACTIVE, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)
    )
    expired = []
    for freeze_id in due:
        if judicial_freeze_expire(freeze_id=freeze_id, now=now).state == JudicialFreeze.State.EXPIRED:
            expired.append(freeze_id)
    return expired
