"""Custody use cases: platform onboarding (maker-checker), the platform's accounts and margin, and
its clients' depository sub-accounts (R-DEP-01, R-DEP-04).

Every service is a top-level use case (``atomic(durable=True)`` unless called inside one), locks the
platform row first (then ``accounts`` locks the party and the accounts), writes an audit row and
leaves money to ``accounts.ledger.postings``.

What each platform state allows (``subaccount_open``, ``platform_margin_place``):
- applied, under_review: nothing yet (no accounts exist);
- active: everything;
- suspended: no new sub-accounts and no new margin; what exists keeps working;
- winding_down (清退): no new loans, so no new lender, borrower or guarantor sub-accounts; a
  compensation (代偿) sub-account may still be opened, to pay overdue instalments of the loans
  being wound down; repayments and withdrawals keep working;
- terminated: nothing.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import can_proceed

from accounts.cards import services as cards
from accounts.cards.models import BoundCard
from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Hold
from accounts.ledger.services import internal_account_create
from accounts.parties import identity
from accounts.parties.models import Party
from accounts.parties.selectors import party_find_by_credit_code, party_find_by_id_number
from accounts.parties.services import account_open, party_create
from backoffice.audit import audit_record
from backoffice.errors import FieldValidationError, InvalidStateError, MakerCheckerError, NotFoundError
from custody.errors import (
    DocumentsIncompleteError,
    DuplicatePlatformError,
    DuplicateSubAccountError,
    IdentityMismatchError,
    PlatformHasMoneyError,
    PlatformNotActiveError,
)
from custody.models import PLATFORM_CODE_RE, LendingPlatform, PlatformDocument, SubAccount, platform_owner

__all__ = [
    "LEDGER_CLIENT",
    "platform_apply",
    "platform_approve",
    "platform_close_blockers",
    "platform_document_add",
    "platform_margin_place",
    "platform_margin_release",
    "platform_resume",
    "platform_return",
    "platform_settlement_bind",
    "platform_submit_for_review",
    "platform_suspend",
    "platform_terminate",
    "platform_wind_down",
    "party_for_identity",
    "subaccount_open",
]

#: The ledger client of custody's own postings and holds (the margin).
LEDGER_CLIENT = "custody"

#: Which sub-account roles a platform may open in each state (see the module docstring).
OPENING_ROLES_BY_STATE = {
    LendingPlatform.State.ACTIVE: frozenset(SubAccount.Role.values),
    LendingPlatform.State.WINDING_DOWN: frozenset({SubAccount.Role.COMPENSATION}),
}


def _atomic():
    return transaction.atomic(durable=not transaction.get_connection().in_atomic_block)


def _user(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _locked_platform(platform_id: int) -> LendingPlatform:
    platform = LendingPlatform.objects.select_for_update().filter(pk=platform_id).first()
    if platform is None:
        raise NotFoundError(_("No such platform."))
    return platform


def _audit(platform: LendingPlatform, action: str, *, actor=None, actor_label: str = "", **data) -> None:
    audit_record(actor=actor, actor_label=actor_label, action=f"custody.platform.{action}", target=platform, data=data)


# -- onboarding ------------------------------------------------------------------------------


def platform_apply(
    *,
    code: str,
    name: str,
    credit_code: str,
    party: Party | None = None,
    legal_representative: str = "",
    actor=None,
) -> LendingPlatform:
    """Record a platform's application (state ``applied``).

    ``code`` is the platform's short code (upper-case letters, digits, ``-``/``_``, 2-20 characters,
    e.g. ``P001``); ``credit_code`` its unified social credit code (GB 32100, checked by
    python-stdnum). The platform's organisation is ``party`` if given (it must be that
    organisation), else the organisation the bank already knows by that credit code, else a new
    one (KYC ``pending_review``: it must be approved before the platform goes live). Raises
    FieldValidationError, DuplicatePlatformError, IdentityMismatchError.
    """
    fields: dict[str, list] = {}
    code = (code or "").strip().upper()
    name = (name or "").strip()
    if not PLATFORM_CODE_RE.fullmatch(code):
        fields["code"] = [_("2 to 20 upper-case letters, digits, - or _, starting with a letter or digit.")]
    if not name:
        fields["name"] = [_("The name is required.")]
    try:
        credit_code = identity.normalise_credit_code(credit_code or "")
    except identity.IdentityError as exc:
        fields["credit_code"] = [exc.args[0]]
    if fields:
        raise FieldValidationError(fields=fields)
    with _atomic():
        if LendingPlatform.objects.filter(code=code).exists():
            raise DuplicatePlatformError(code=code)
        if party is None:
            party = party_find_by_credit_code(credit_code) or party_create(
                type=Party.Type.ORGANISATION,
                name=name,
                credit_code=credit_code,
                legal_representative=legal_representative,
                actor=actor,
            )
        if party.type != Party.Type.ORGANISATION or party.credit_code != credit_code:
            raise IdentityMismatchError()
        platform = LendingPlatform.objects.create(
            code=code, name=name, credit_code=credit_code, party=party, created_by=_user(actor)
        )
        _audit(platform, "apply", actor=actor, code=code, party=party.pk)
        return platform


def platform_document_add(*, platform_id: int, kind: str, number: str, file=None, actor=None) -> PlatformDocument:
    """Attach a document (licence, regulator filing, ICP) while the application is with the maker."""
    if kind not in PlatformDocument.Kind.values:
        raise FieldValidationError(fields={"kind": [_("Unknown document kind.")]})
    number = (number or "").strip()
    if not number:
        raise FieldValidationError(fields={"number": [_("The document number is required.")]})
    with _atomic():
        platform = _locked_platform(platform_id)
        if platform.state != LendingPlatform.State.APPLIED:
            raise InvalidStateError(state=platform.state)
        document = PlatformDocument(platform=platform, kind=kind, number=number[:64])
        if file is not None:
            document.file = file
        document.save()
        _audit(platform, "document_add", actor=actor, document=document.pk, kind=kind)
        return document


def _missing_documents(platform: LendingPlatform) -> list[str]:
    """The required kinds with no document, or whose every document was rejected."""
    kinds = set(platform.documents.exclude(check_state=PlatformDocument.Check.REJECTED).values_list("kind", flat=True))
    return [kind for kind in PlatformDocument.REQUIRED_KINDS if kind not in kinds]


def platform_submit_for_review(*, platform_id: int, actor) -> LendingPlatform:
    """The maker submits the application: every required document must be attached. The submitter
    is recorded: they may not approve it (maker-checker)."""
    with _atomic():
        platform = _locked_platform(platform_id)
        if platform.state != LendingPlatform.State.APPLIED:
            raise InvalidStateError(state=platform.state)
        missing = _missing_documents(platform)
        if missing:
            raise DocumentsIncompleteError(missing=", ".join(missing))
        platform.submit()
        platform.submitted_by, platform.submitted_at = _user(actor), timezone.now()
        platform.save()
        _audit(platform, "submit", actor=actor)
        return platform


def _refuse_maker(platform: LendingPlatform, actor) -> None:
    user = _user(actor)
    if user is None:
        raise MakerCheckerError(_("A platform is approved or returned by an identified checker."))
    if user.pk in (platform.submitted_by_id, platform.created_by_id):
        raise MakerCheckerError()


def platform_return(*, platform_id: int, actor, note: str) -> LendingPlatform:
    """The checker returns the application to the maker (under_review → applied) with a reason."""
    note = (note or "").strip()
    if not note:
        raise FieldValidationError(fields={"note": [_("A reason is required.")]})
    with _atomic():
        platform = _locked_platform(platform_id)
        if platform.state != LendingPlatform.State.UNDER_REVIEW:
            raise InvalidStateError(state=platform.state)
        _refuse_maker(platform, actor)
        platform.return_to_maker()
        platform.reviewed_by, platform.reviewed_at, platform.review_note = _user(actor), timezone.now(), note[:500]
        platform.save()
        _audit(platform, "return", actor=actor, note=note[:500])
        return platform


def platform_approve(*, platform_id: int, actor, note: str = "") -> LendingPlatform:
    """The checker approves (under_review → active) and the platform's books are opened.

    Maker-checker: the checker is an identified user other than the one who created or submitted
    the application (else MakerCheckerError, ``maker_checker_violation``). Every required document
    must be present and not rejected; approving accepts the pending ones (the checker weighed them).
    Activation opens, in the platform's books (``owner="platform:<code>"``): the own-funds account
    (自有资金, role ``platform_own``, tier corporate, for the platform's organisation, whose KYC must
    be approved: else ``kyc_not_approved``), and the platform's internal suspense (挂账) and withdrawal
    transit (提现过渡户) accounts, so its unidentified inflows and in-flight withdrawals are its own.
    """
    with _atomic():
        platform = _locked_platform(platform_id)
        if platform.state != LendingPlatform.State.UNDER_REVIEW:
            raise InvalidStateError(state=platform.state)
        _refuse_maker(platform, actor)
        missing = _missing_documents(platform)
        if missing:
            raise DocumentsIncompleteError(missing=", ".join(missing))
        now = timezone.now()
        platform.documents.filter(check_state=PlatformDocument.Check.PENDING).update(
            check_state=PlatformDocument.Check.ACCEPTED, checked_by=_user(actor), checked_at=now
        )
        owner = platform.owner
        platform.own_funds = account_open(
            party=platform.party,
            role=Role.PLATFORM_OWN,
            tier=Account.Tier.CORPORATE,
            name=f"{platform.name} 自有资金 / own funds",
            owner=owner,
            actor=actor,
        )
        for role, label in (
            (Role.SUSPENSE, "待处理挂账户 / Suspense"),
            (Role.TRANSIT_WITHDRAWAL, "提现过渡户 / Withdrawal transit"),
        ):
            internal_account_create(role=role, name=f"{platform.name} {label}"[:200], owner=owner)
        platform.activate()
        platform.reviewed_by, platform.reviewed_at, platform.review_note = _user(actor), now, (note or "").strip()[:500]
        platform.activated_at = now
        platform.save()
        _audit(platform, "approve", actor=actor, own_funds=platform.own_funds.number, note=platform.review_note)
        return platform


# -- life after activation --------------------------------------------------------------------


def _transition(platform_id: int, method: str, action: str, *, actor, reason: str) -> LendingPlatform:
    reason = (reason or "").strip()
    with _atomic():
        platform = _locked_platform(platform_id)
        before = platform.state
        transition = getattr(platform, method)
        if not can_proceed(transition):
            raise InvalidStateError(state=platform.state)
        if action == "terminate":
            _refuse_money_left(platform)
        transition()
        platform.save()
        _audit(platform, action, actor=actor, reason=reason[:500], **{"from": before, "to": platform.state})
        return platform


def platform_suspend(*, platform_id: int, actor, reason: str) -> LendingPlatform:
    """active → suspended: no new sub-accounts or margin until resumed."""
    return _transition(platform_id, "suspend", "suspend", actor=actor, reason=reason)


def platform_resume(*, platform_id: int, actor, reason: str = "") -> LendingPlatform:
    """suspended → active."""
    return _transition(platform_id, "resume", "resume", actor=actor, reason=reason)


def platform_wind_down(*, platform_id: int, actor, reason: str) -> LendingPlatform:
    """active | suspended → winding_down (清退): no new loans; repayments and withdrawals go on."""
    return _transition(platform_id, "wind_down", "wind_down", actor=actor, reason=reason)


def platform_terminate(*, platform_id: int, actor, reason: str) -> LendingPlatform:
    """winding_down → terminated, only once every account in the platform's books is empty and
    holds nothing (else PlatformHasMoneyError with the accounts' numbers)."""
    return _transition(platform_id, "terminate", "terminate", actor=actor, reason=reason)


def _refuse_money_left(platform: LendingPlatform) -> None:
    books = Account.objects.filter(owner=platform.owner).exclude(balance=0, frozen=0)
    numbers = list(books.order_by("number").values_list("number", flat=True)[:20])
    if numbers:
        raise PlatformHasMoneyError(accounts=", ".join(numbers))


def platform_margin_place(*, platform_id: int, amount, key: str, actor=None) -> Hold:
    """Set aside ``amount`` of the platform's own funds as its risk-reserve margin (保证金): a hold
    of reason ``margin`` on the own-funds account, idempotent on ``key``. Only an active platform.
    Raises PlatformNotActiveError, InsufficientFundsError, IdempotencyConflictError."""
    with _atomic():
        platform = _locked_platform(platform_id)
        if platform.state != LendingPlatform.State.ACTIVE:
            raise PlatformNotActiveError(platform=platform.code, state=platform.state)
        hold = ledger.hold_place(
            client=LEDGER_CLIENT,
            idempotency_key=f"margin:{platform.code}:{key}",
            account_id=platform.own_funds_id,
            amount=amount,
            reason=Hold.Reason.MARGIN,
            reference=f"{platform.owner}:margin",
        )
        _audit(platform, "margin_place", actor=actor, hold=hold.pk, amount=str(hold.amount))
        return hold


def platform_margin_release(*, platform_id: int, hold_id: int, actor=None) -> Hold:
    """Release a margin hold of the platform (winding down, or a lower margin agreed)."""
    with _atomic():
        platform = _locked_platform(platform_id)
        hold = Hold.objects.filter(
            pk=hold_id, account_id=platform.own_funds_id, reason=Hold.Reason.MARGIN, client=LEDGER_CLIENT
        ).first()
        if hold is None:
            raise NotFoundError(_("No such margin hold."))
        hold = ledger.hold_release(client=LEDGER_CLIENT, idempotency_key=f"margin-release:{hold.pk}", hold_id=hold.pk)
        _audit(platform, "margin_release", actor=actor, hold=hold.pk, amount=str(hold.amount))
        return hold


def platform_settlement_bind(
    *,
    platform_id: int,
    account_number: str,
    bank_name: str,
    verification: str = "micro_deposit",
    actor=None,
    actor_label: str = "",
) -> BoundCard:
    """Bind the platform's corporate settlement account (对公结算账户) to its own funds, in the
    platform's own name and credit code (``accounts.cards.services.corporate_account_bind``: no
    Luhn, no BIN; verified by a micro-deposit the platform back-fills, or by an operator other than
    the binder with ``corporate_account_verify``). The platform records it as its settlement account.
    Refused (PlatformNotActiveError) before activation (no own funds yet) and once terminated."""
    with _atomic():
        platform = _locked_platform(platform_id)
        if platform.own_funds_id is None or platform.state == LendingPlatform.State.TERMINATED:
            raise PlatformNotActiveError(platform=platform.code, state=platform.state)
        card = cards.corporate_account_bind(
            account=platform.own_funds,
            account_number=account_number,
            account_name=platform.party.name,
            credit_code=platform.credit_code,
            bank_name=bank_name,
            verification=verification,
            actor=actor,
        )
        platform.settlement_card = card
        platform.save(update_fields=["settlement_card", "updated_at"])
        _audit(platform, "settlement_bind", actor=actor, actor_label=actor_label, card=card.pk, verification=verification)
        return card


def platform_close_blockers(account: Account) -> list[str]:
    """``accounts.states.services.close_blockers``: a platform's own-funds account stays open until
    the platform is terminated."""
    if account.owner and account.role == Role.PLATFORM_OWN:
        live = LendingPlatform.objects.filter(own_funds_id=account.pk).exclude(state=LendingPlatform.State.TERMINATED)
        if live.exists():
            return ["platform_not_terminated"]
    return []


# -- sub-accounts --------------------------------------------------------------------------------


def _party_for(identity_data: dict, *, actor, actor_label: str) -> Party:
    """The party the bank already knows by this ID number / credit code (the name must match), or a
    new one (KYC ``pending_review``). Raises FieldValidationError, IdentityMismatchError."""
    kind = identity_data.get("type") or Party.Type.PERSON
    name = (identity_data.get("name") or "").strip()
    if kind == Party.Type.ORGANISATION:
        known = party_find_by_credit_code(identity_data.get("credit_code") or "")
    else:
        known = party_find_by_id_number(identity_data.get("id_number") or "")
    if known is not None:
        if known.type != kind or known.name.strip() != name:
            raise IdentityMismatchError()
        return known
    return party_create(
        type=kind,
        name=name,
        id_number=identity_data.get("id_number"),
        mobile=identity_data.get("mobile"),
        credit_code=identity_data.get("credit_code"),
        legal_representative=identity_data.get("legal_representative"),
        actor=actor,
        actor_label=actor_label,
    )


def party_for_identity(identity_data: dict, *, actor=None, actor_label: str = "") -> Party:
    """The client the bank knows by this identity (the name must match), or a new one in KYC
    ``pending_review`` (custody.loans.confirmations records the client of an opening request)."""
    return _party_for(identity_data, actor=actor, actor_label=actor_label)


def subaccount_open(
    *,
    platform: LendingPlatform,
    role: str,
    party: Party | None = None,
    identity_data: dict | None = None,
    actor=None,
    actor_label: str = "",
) -> SubAccount:
    """Open a client's depository sub-account (存管子账户) on a platform, in one role.

    The client is ``party`` or is found by ``identity_data`` (``type`` person: ``name, id_number,
    mobile``; organisation: ``name, credit_code, legal_representative``): a person the bank already
    knows (same ID number) is reused, never duplicated, and must carry the same name
    (IdentityMismatchError); an unknown one is created in KYC ``pending_review``.

    R-DEP-01: one sub-account per (platform, party, role): a second is refused with
    DuplicateSubAccountError (409 ``duplicate_sub_account``, ``data.account``); the platform row is
    locked first, so concurrent openings are serialized, and a unique constraint backs it.
    The account is tier ``depository`` in the platform's books, outside the Class I/II/III counting
    and limits, and waits in ``pending_verification`` until its holder's own same-name debit card is
    verified (R-DEP-04: the platform asks, the client's own verification opens it).
    The platform must allow the role in its state (see the module docstring), else
    PlatformNotActiveError (409 ``platform_not_active``).
    """
    if role not in SubAccount.Role.values:
        raise FieldValidationError(fields={"role": [_("The role must be lender, borrower, guarantor or compensation.")]})
    if (party is None) == (identity_data is None):
        raise FieldValidationError(fields={"party": [_("Give either the party or its identity.")]})
    with _atomic():
        platform = _locked_platform(platform.pk)
        if role not in OPENING_ROLES_BY_STATE.get(platform.state, ()):
            raise PlatformNotActiveError(platform=platform.code, state=platform.state)
        if party is None:
            party = _party_for(identity_data, actor=actor, actor_label=actor_label)
        existing = SubAccount.objects.filter(platform=platform, party=party, role=role).select_related("account").first()
        if existing is not None:
            raise DuplicateSubAccountError(role=role, platform=platform.code, account=existing.account.number)
        account = account_open(
            party=party,
            role=role,  # the chart's roles of the same names (lender, borrower: 201101; guarantor, compensation: 201201)
            tier=Account.Tier.DEPOSITORY,
            owner=platform_owner(platform.code),
            actor=actor,
            actor_label=actor_label,
        )
        try:
            with transaction.atomic():
                sub_account = SubAccount.objects.create(
                    platform=platform, party=party, role=role, account=account, opened_by=actor_label[:100]
                )
        except IntegrityError:  # pragma: no cover - the platform lock serializes openings
            raise DuplicateSubAccountError(role=role, platform=platform.code, account="") from None
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="custody.subaccount.open",
            target=sub_account,
            data={"platform": platform.code, "party": party.pk, "role": role, "account": account.number},
        )
        return sub_account
