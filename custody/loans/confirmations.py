"""Instructions the client confirms on the bank's page (R-DEP-02, R-DEP-04): the platform sends
``{"method": "confirm"}`` (or asks to open a sub-account), the API answers 202 with the page's URL
(``/portal/custody/confirmations/<token>/``, CONFIRMATION_TTL), the client confirms or declines
there, and the platform learns the outcome by webhook (``confirmation.<state>``, plus the
instruction's own events). The platform never sees the client's password.

Kinds and what confirming does:
- ``bid``: ``custody.loans.services.confirmation_confirm`` (the transaction password; the bid is
  placed as any other);
- ``repayment``: the payer (borrower, or for an overdue instalment a guarantor / compensation
  sub-account) confirms the next instalment's total with the transaction password; the repayment
  then runs as ``instalment_repay`` (one voucher) under the loan's lock; if the total changed
  meanwhile (a day passed: overdue interest) or it may no longer be paid, ``failed`` with the code;
- ``disbursement_fee``: the borrower confirms the loan's service fee with the transaction
  password; the disbursement then runs as ``loan_disburse`` (one voucher);
- ``withdrawal`` / ``recharge``: the holder confirms with the transaction password, checked by
  ``accounts.payments`` itself (wrong attempts count and lock); the withdrawal or recharge is then
  accepted by ``accounts.payments`` (client ``platform:<code>``, reference ``out_request_no``:
  transit attributed to the platform); its outcome reaches the platform by webhook
  (``withdrawal.succeeded | failed | returned``, ``recharge.succeeded | failed``) through
  ``accounts.payments.instructions.instruction_outcome_listeners`` (``payment_outcome_notify``);
- ``subaccount_open`` (R-DEP-04): the client, signed in to the portal as a user of the party (or
  having set up their access on the page, proving it with a one-time code texted to the mobile on
  file), confirms; only then is the sub-account opened (``custody.services.subaccount_open``), in
  ``pending_verification`` until their own same-name debit card is verified. The platform asked;
  the client opened it.

A pending confirmation past its expiry ends ``expired`` when the client tries it or by the sweep
``confirmations_expire`` (beat, custody.tasks). Lock order: the loan (if any), then the confirmation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.cards import services as cards
from accounts.parties.selectors import party_find_by_credit_code, party_find_by_id_number
from accounts.payments import recharges as recharge_services
from accounts.payments import withdrawals as withdrawal_services
from accounts.payments.authorisation import (
    AuthorisationInvalidError,
    TransactionPasswordLockedError,
    authorisation_verify,
    transaction_password_set,
)
from accounts.payments.instructions import DuplicateReferenceError as PaymentReferenceError
from accounts.payments.instructions import channel_for
from accounts.payments.models import Recharge, Withdrawal
from backoffice.audit import audit_record
from backoffice.errors import DomainError, FieldValidationError, InvalidStateError, NotFoundError
from backoffice.webhooks import webhook_emit
from custody import services as custody_services
from custody.errors import DuplicateSubAccountError, PlatformNotActiveError
from custody.loans import services as loans
from custody.loans.errors import DuplicateReferenceError
from custody.loans.models import Confirmation, Loan, Repayment
from custody.models import LendingPlatform, SubAccount

__all__ = [
    "access_code_send",
    "access_set_up",
    "confirmation_confirm",
    "confirmation_decline",
    "confirmations_expire",
    "disbursement_confirmation_request",
    "money_confirmation_request",
    "payment_outcome_notify",
    "repayment_confirmation_request",
    "subaccount_open_confirm",
    "subaccount_open_request",
]

Kind = Confirmation.Kind
#: A client's withdrawals and recharges go on while the platform is active or winding down (清退:
#: lenders take their money out, borrowers bring money in to repay); not while suspended.
MONEY_STATES = (LendingPlatform.State.ACTIVE, LendingPlatform.State.WINDING_DOWN)


def _atomic():
    return transaction.atomic(durable=not transaction.get_connection().in_atomic_block)


def _refuse_reference(platform: LendingPlatform, out_request_no: str, *models) -> None:
    for model in (Confirmation, *models):
        first = model.objects.filter(platform=platform, out_request_no=out_request_no).only("pk").first()
        if first is not None:
            raise DuplicateReferenceError(out_request_no=out_request_no, id=str(first.pk))


def _create(platform: LendingPlatform, kind: str, *, amount, out_request_no: str, **fields) -> Confirmation:
    return Confirmation.objects.create(
        platform=platform,
        kind=kind,
        amount=amount,
        out_request_no=out_request_no,
        token=secrets.token_urlsafe(32),
        expires_at=timezone.now() + loans.CONFIRMATION_TTL,
        **fields,
    )


def _audit_request(confirmation: Confirmation, actor_label: str) -> None:
    audit_record(
        actor_label=actor_label,
        action="custody.confirmation.request",
        target=confirmation,
        data={"kind": confirmation.kind, "amount": f"{confirmation.amount:.2f}", "out_request_no": confirmation.out_request_no},
    )


# -- requests (the platform's API) ------------------------------------------------------------------


def repayment_confirmation_request(
    *,
    loan_id: int,
    platform: LendingPlatform,
    payer_number: str,
    out_request_no: str,
    number: int | None = None,
    amount=None,
    actor_label: str = "",
) -> Confirmation:
    """A repayment sent with ``{"method": "confirm"}``: checked as ``instalment_repay`` checks it
    (nothing moves yet), kept for the payer to confirm the total due now. Raises its refusals."""
    out_request_no = loans._reference(out_request_no)
    with _atomic():
        loan = loans._locked_loan(loan_id, platform)
        _refuse_reference(loan.platform, out_request_no, Repayment)
        instalment, payer, _days, _overdue, total, _kind = loans.repayment_plan(
            loan, payer_number=payer_number, number=number, amount=amount
        )
        confirmation = _create(
            loan.platform,
            Kind.REPAYMENT,
            amount=total,
            out_request_no=out_request_no,
            party_id=payer.party_id,
            sub_account=payer,
            loan=loan,
            data={"instalment": instalment.number},
        )
        _audit_request(confirmation, actor_label)
        return confirmation


def disbursement_confirmation_request(*, loan_id: int, platform: LendingPlatform, actor_label: str = "") -> Confirmation:
    """A disbursement sent with ``{"method": "confirm"}``: the borrower confirms the service fee
    (their payment) on the bank's page, then the loan is disbursed. A loan with no fee needs no
    confirmation (FieldValidationError). A loan already awaiting the borrower returns that
    confirmation. Raises InvalidStateError (not full)."""
    with _atomic():
        loan = loans._locked_loan(loan_id, platform)
        if loan.state != Loan.State.FULL:
            raise InvalidStateError(state=loan.state)
        if loan.service_fee <= 0:
            raise FieldValidationError({"authorization": [str(_("This loan has no service fee: send no authorisation."))]})
        pending = loan.confirmations.filter(
            kind=Kind.DISBURSEMENT_FEE, state=Confirmation.State.PENDING, expires_at__gt=timezone.now()
        ).first()
        if pending is not None:
            return pending
        borrower = SubAccount.objects.get(pk=loan.borrower_id)
        confirmation = _create(
            loan.platform,
            Kind.DISBURSEMENT_FEE,
            amount=loan.service_fee,
            out_request_no=f"disburse:{loan.pk}:{secrets.token_hex(4)}",
            party_id=borrower.party_id,
            sub_account=borrower,
            loan=loan,
        )
        _audit_request(confirmation, actor_label)
        return confirmation


def money_confirmation_request(
    *, platform: LendingPlatform, kind: str, number: str, amount, out_request_no: str, actor_label: str = ""
) -> Confirmation:
    """A withdrawal or recharge of the platform's client: checked now where it can be (the
    withdrawal's acceptance rules, R-WD-01/06), kept for the holder to confirm with the transaction
    password. ``out_request_no`` is unique per platform over confirmations, withdrawals and
    recharges. Only while the platform is active or winding down (else PlatformNotActiveError).
    Raises FieldValidationError, NotFoundError, DuplicateReferenceError, and for a withdrawal its
    refusals (no bound card, insufficient funds, account not active, ...)."""
    if kind not in (Kind.WITHDRAWAL, Kind.RECHARGE):
        raise ValueError(kind)
    out_request_no = loans._reference(out_request_no)
    amount = loans._positive_amount(amount)
    sub = SubAccount.objects.select_related("account", "party").filter(platform=platform, account__number=str(number)).first()
    if sub is None:
        raise NotFoundError(_("No such sub-account."))
    if kind == Kind.WITHDRAWAL:
        withdrawal_services.withdrawal_check(account=sub.account, amount=amount, channel=channel_for(operation="withdrawal"))
    with _atomic():
        platform = LendingPlatform.objects.select_for_update().get(pk=platform.pk)
        if platform.state not in MONEY_STATES:
            raise PlatformNotActiveError(platform=platform.code, state=platform.state)
        _refuse_reference(platform, out_request_no)
        model = Withdrawal if kind == Kind.WITHDRAWAL else Recharge
        first = model.objects.filter(client=platform.owner, out_request_no=out_request_no).only("pk").first()
        if first is not None:
            raise DuplicateReferenceError(out_request_no=out_request_no, id=str(first.pk))
        confirmation = _create(
            platform, kind, amount=amount, out_request_no=out_request_no, party_id=sub.party_id, sub_account=sub
        )
        _audit_request(confirmation, actor_label)
        return confirmation


def subaccount_open_request(
    *, platform: LendingPlatform, role: str, identity_data: dict, out_request_no: str = "", actor_label: str = ""
) -> Confirmation:
    """R-DEP-04: the platform asks for a sub-account; the client opens it on the bank's page.

    The client is found (same ID number or credit code, same name: else IdentityMismatchError) or
    recorded (KYC pending review): recording a party opens nothing. Refused now if the platform's
    state does not allow the role (PlatformNotActiveError) or the client already has one in that
    role (DuplicateSubAccountError). The same request for a client and role still pending returns
    that confirmation."""
    if role not in SubAccount.Role.values:
        raise FieldValidationError(fields={"role": [str(_("The role must be lender, borrower, guarantor or compensation."))]})
    with _atomic():
        platform = LendingPlatform.objects.select_for_update().get(pk=platform.pk)
        if role not in custody_services.OPENING_ROLES_BY_STATE.get(platform.state, ()):
            raise PlatformNotActiveError(platform=platform.code, state=platform.state)
        party = custody_services.party_for_identity(identity_data, actor_label=actor_label)
        existing = SubAccount.objects.filter(platform=platform, party=party, role=role).select_related("account").first()
        if existing is not None:
            raise DuplicateSubAccountError(role=role, platform=platform.code, account=existing.account.number)
        pending = Confirmation.objects.filter(
            platform=platform,
            kind=Kind.SUBACCOUNT_OPEN,
            party=party,
            data__role=role,
            state=Confirmation.State.PENDING,
            expires_at__gt=timezone.now(),
        ).first()
        if pending is not None:
            return pending
        reference = (out_request_no or "").strip() or f"open:{secrets.token_hex(8)}"
        _refuse_reference(platform, loans._reference(reference))
        confirmation = _create(
            platform, Kind.SUBACCOUNT_OPEN, amount=0, out_request_no=reference, party=party, data={"role": role}
        )
        _audit_request(confirmation, actor_label)
        return confirmation


# -- the client's decision (the bank's portal) ---------------------------------------------------------


def _locked(confirmation_id: int) -> Confirmation:
    """The loan first (if any), then the confirmation (the services' lock order)."""
    loan_id = Confirmation.objects.filter(pk=confirmation_id).values_list("loan_id", flat=True).first()
    if loan_id is not None:
        loans._locked_loan(loan_id, None)
    confirmation = (
        Confirmation.objects.select_for_update(of=("self",))
        .select_related("platform", "sub_account__account")
        .filter(pk=confirmation_id)
        .first()
    )
    if confirmation is None:
        raise NotFoundError(_("No such confirmation."))
    return confirmation


def _pending_or_expired(confirmation: Confirmation) -> bool:
    """True if still to decide; an expired one is decided ``expired`` here."""
    if confirmation.state != Confirmation.State.PENDING:
        raise InvalidStateError(state=confirmation.state)
    if confirmation.expires_at <= timezone.now():
        loans.confirmation_decide(confirmation, Confirmation.State.EXPIRED)
        return False
    return True


def confirmation_confirm(*, confirmation_id: int, password: str = "", actor=None) -> Confirmation:
    """The client confirms on the bank's page. Returns the confirmation, decided (confirmed,
    failed with the refusal's code, or expired). A wrong or locked transaction password raises
    (AuthorisationInvalidError, TransactionPasswordLockedError) and leaves it pending; a decided
    one raises InvalidStateError."""
    item = Confirmation.objects.select_related("sub_account__account").filter(pk=confirmation_id).first()
    if item is None:
        raise NotFoundError(_("No such confirmation."))
    if item.kind == Kind.BID:
        return loans.confirmation_confirm(confirmation_id=item.pk, password=password, actor=actor)
    if item.kind == Kind.SUBACCOUNT_OPEN:
        return subaccount_open_confirm(confirmation_id=item.pk, actor=actor)
    if item.kind in (Kind.WITHDRAWAL, Kind.RECHARGE):
        return _confirm_money(item, password=password, actor=actor)
    authorisation_verify(  # its own durable transaction: wrong attempts count and lock
        account=item.sub_account.account,
        purpose="instruction",
        authorization={"method": "password", "password": password},
        actor=actor,
    )
    with _atomic():
        confirmation = _locked(item.pk)
        if not _pending_or_expired(confirmation):
            return confirmation
        try:
            with transaction.atomic():
                if confirmation.kind == Kind.REPAYMENT:
                    confirmation.repayment = loans.instalment_repay(
                        loan_id=confirmation.loan_id,
                        payer_number=confirmation.sub_account.account.number,
                        out_request_no=confirmation.out_request_no,
                        confirmation=confirmation,
                        number=confirmation.data.get("instalment"),
                        actor=actor,
                        actor_label="portal",
                    )
                else:
                    loans.loan_disburse(
                        loan_id=confirmation.loan_id, confirmation=confirmation, actor=actor, actor_label="portal"
                    )
        except DomainError as exc:
            return loans.confirmation_decide(confirmation, Confirmation.State.FAILED, exc.code)
        return loans.confirmation_decide(confirmation, Confirmation.State.CONFIRMED)


def _confirm_money(item: Confirmation, *, password: str, actor) -> Confirmation:
    """Withdrawal or recharge: ``accounts.payments`` verifies the password and accepts it (its own
    durable transactions), then the confirmation records the outcome."""
    with _atomic():
        confirmation = _locked(item.pk)
        if not _pending_or_expired(confirmation):
            return confirmation
    sub = item.sub_account
    create = withdrawal_services.withdrawal_create if item.kind == Kind.WITHDRAWAL else recharge_services.recharge_create
    row, failure = None, ""
    try:
        row = create(
            client=item.platform.owner,
            out_request_no=item.out_request_no,
            account=sub.account,
            amount=item.amount,
            authorization={"method": "password", "password": password},
            actor=actor,
            actor_label="portal",
        )
    except (AuthorisationInvalidError, TransactionPasswordLockedError):
        raise
    except PaymentReferenceError:  # confirmed concurrently: the first confirmation wins
        return Confirmation.objects.get(pk=item.pk)
    except DomainError as exc:
        failure = exc.code
    with _atomic():
        confirmation = _locked(item.pk)
        if confirmation.state not in (Confirmation.State.PENDING, Confirmation.State.EXPIRED):
            return confirmation
        if row is None:
            return loans.confirmation_decide(confirmation, Confirmation.State.FAILED, failure)
        setattr(confirmation, item.kind, row)
        return loans.confirmation_decide(confirmation, Confirmation.State.CONFIRMED)


def subaccount_open_confirm(*, confirmation_id: int, actor) -> Confirmation:
    """R-DEP-04: the client, signed in as a portal user of the party, opens the sub-account the
    platform asked for (``custody.services.subaccount_open``; ``pending_verification`` until the
    holder's own card is verified). A refusal now (the platform suspended, a sub-account opened
    meanwhile) ends it ``failed`` with the code. Raises NotFoundError if ``actor`` is not a user of
    the party."""
    with _atomic():
        confirmation = _locked(confirmation_id)
        if confirmation.kind != Kind.SUBACCOUNT_OPEN:
            raise InvalidStateError(state=confirmation.kind)
        if actor is None or not confirmation.party.portal_users.filter(pk=actor.pk).exists():
            raise NotFoundError(_("No such confirmation."))
        if not _pending_or_expired(confirmation):
            return confirmation
        try:
            with transaction.atomic():
                confirmation.sub_account = custody_services.subaccount_open(
                    platform=confirmation.platform,
                    role=confirmation.data["role"],
                    party=confirmation.party,
                    actor=actor,
                    actor_label=f"portal:confirmation:{confirmation.pk}",
                )
        except DomainError as exc:
            return loans.confirmation_decide(confirmation, Confirmation.State.FAILED, exc.code)
        sub = SubAccount.objects.select_related("account").get(pk=confirmation.sub_account_id)
        webhook_emit(
            owner=confirmation.platform.owner,
            event="subaccount.opened",
            payload={
                "confirmation": confirmation.pk,
                "out_request_no": confirmation.out_request_no,
                "number": sub.account.number,
                "role": sub.role,
                "state": sub.account.state,
            },
        )
        return loans.confirmation_decide(confirmation, Confirmation.State.CONFIRMED)


def confirmation_decline(*, confirmation_id: int, actor=None) -> Confirmation:
    """The client declines on the bank's page: nothing happens; the platform is told."""
    with _atomic():
        confirmation = _locked(confirmation_id)
        if not _pending_or_expired(confirmation):
            return confirmation
        audit_record(actor=actor, action="custody.confirmation.decline", target=confirmation)
        return loans.confirmation_decide(confirmation, Confirmation.State.DECLINED)


def confirmations_expire(*, now=None) -> list[int]:
    """The sweep (beat): every pending confirmation past its expiry ends ``expired`` and the
    platform is told (``confirmation.expired``); one decided meanwhile is left alone."""
    now = now or timezone.now()
    expired = []
    due = Confirmation.objects.filter(state=Confirmation.State.PENDING, expires_at__lte=now).order_by("pk")
    for pk in list(due.values_list("pk", flat=True)):
        with transaction.atomic(durable=True):
            confirmation = _locked(pk)
            if confirmation.state == Confirmation.State.PENDING and confirmation.expires_at <= now:
                loans.confirmation_decide(confirmation, Confirmation.State.EXPIRED, actor_label="system:confirmations_expire")
                expired.append(pk)
    return expired


# -- access set up on the page (R-DEP-04: a client with no portal credentials yet) ---------------------


ACCESS_CODE_TTL = dt.timedelta(minutes=5)
ACCESS_CODE_ATTEMPTS = 5


class AccessRefusedError(DomainError):
    """The identity or the texted code does not match: no access is set up (the attempt counts)."""

    code, http_status = "access_refused", 403
    message = _("The identity number or the code is wrong ({attempts_left} attempts left). / 身份信息或验证码错误。")


def _code_hash(confirmation: Confirmation, code: str) -> str:
    key = f"{settings.SECRET_KEY}:custody-access:{confirmation.token}".encode()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def _opening_without_access(confirmation_id: int) -> Confirmation:
    confirmation = _locked(confirmation_id)
    if confirmation.kind != Kind.SUBACCOUNT_OPEN or confirmation.party.portal_users.exists():
        raise InvalidStateError(state="access_exists")  # sign in instead
    if not _pending_or_expired(confirmation):
        raise InvalidStateError(state=confirmation.state)
    return confirmation


def access_code_send(*, confirmation_id: int) -> str:
    """Text a one-time code to the client's mobile on file (the party's), to set up their portal
    access on an opening's page; returns the masked mobile. Raises InvalidStateError (the client
    already has access: sign in; decided; no mobile on file)."""
    with _atomic():
        confirmation = _opening_without_access(confirmation_id)
        party = confirmation.party
        mobile = party.mobile if party.mobile_encrypted else ""
        if not mobile:
            raise InvalidStateError(state="no_mobile")
        code = f"{secrets.randbelow(10**6):06d}"
        confirmation.data = {
            **confirmation.data,
            "access": {
                "hash": _code_hash(confirmation, code),
                "expires_at": (timezone.now() + ACCESS_CODE_TTL).isoformat(),
                "attempts": 0,
            },
        }
        confirmation.save(update_fields=["data", "updated_at"])
        cards.sms_send(
            mobile=mobile,
            purpose="custody_access",
            text=f"【存管银行】开户验证码 {code}，5分钟内有效，请勿告诉他人（包括平台）。"
            f"Your code is {code}; never give it to the platform.",
        )
        audit_record(action="custody.confirmation.access_code", target=confirmation, data={"mobile": party.mobile_masked})
        return party.mobile_masked


def access_set_up(*, confirmation_id: int, id_number: str, code: str, username: str, password: str, transaction_password: str):
    """R-DEP-04 for a client with no portal credentials yet: on the opening's page they prove who
    they are (their full ID number or credit code, and the code texted to the mobile on file; 5
    wrong tries burn the code) and choose a username, a password and a 6-digit transaction
    password. Returns the new portal user (of the party); the view signs them in and they confirm.
    Raises AccessRefusedError, FieldValidationError, InvalidStateError."""
    fields: dict[str, list[str]] = {}
    User = get_user_model()
    username = (username or "").strip()
    if not username or User.objects.filter(username__iexact=username).exists():
        fields["username"] = [str(_("Choose another username."))]
    try:
        password_validation.validate_password(password or "")
    except ValidationError as exc:
        fields["password"] = [str(m) for m in exc.messages]
    digits = str(transaction_password or "")
    if not digits.isdigit() or len(digits) != 6 or len(set(digits)) == 1 or digits in "0123456789" or digits in "9876543210":
        fields["transaction_password"] = [str(_("Six digits, not a run or a repeated digit."))]
    if fields:
        raise FieldValidationError(fields=fields)
    error = None
    with _atomic():
        confirmation = _opening_without_access(confirmation_id)
        party = confirmation.party
        access = dict(confirmation.data.get("access") or {})
        expired = not access or dt.datetime.fromisoformat(access["expires_at"]) <= timezone.now()
        known = (
            party_find_by_credit_code(id_number or "")
            if party.type == party.Type.ORGANISATION
            else party_find_by_id_number(id_number or "")
        )
        matches = (
            not expired
            and access.get("attempts", 0) < ACCESS_CODE_ATTEMPTS
            and hmac.compare_digest(access.get("hash", ""), _code_hash(confirmation, str(code or "").strip()))
            and known is not None
            and known.pk == party.pk
        )
        if not matches:
            access["attempts"] = access.get("attempts", 0) + 1
            confirmation.data = {**confirmation.data, "access": access}
            confirmation.save(update_fields=["data", "updated_at"])
            audit_record(action="custody.confirmation.access_refused", target=confirmation, data={"attempts": access["attempts"]})
            error = AccessRefusedError(attempts_left=max(0, ACCESS_CODE_ATTEMPTS - access["attempts"]))
        else:
            user = User.objects.create_user(username=username, password=password)
            party.portal_users.add(user)
            confirmation.data = {key: value for key, value in confirmation.data.items() if key != "access"}
            confirmation.save(update_fields=["data", "updated_at"])
            audit_record(action="custody.confirmation.access_set_up", target=confirmation, data={"user": user.pk})
    if error is not None:
        raise error  # the attempt is committed first
    transaction_password_set(party_id=party.pk, password=transaction_password, actor=user)  # its own durable transaction
    return user


# -- outcomes of withdrawals and recharges (accounts.payments' listener registry) ---------------------


def payment_outcome_notify(*, kind: str, row) -> None:
    """``accounts.payments.instructions.instruction_outcome_listeners``: a withdrawal or recharge a
    platform requested for its client ended: tell the platform (``<kind>.<state>``) after commit."""
    client = getattr(row, "client", "") or ""
    if kind not in ("withdrawal", "recharge") or not client.startswith("platform:"):
        return
    payload = {
        kind: row.pk,
        "out_request_no": row.out_request_no,
        "sub_account": row.account.number,
        "amount": f"{row.amount:.2f}",
        "state": row.state,
        "reason": getattr(row, "failure_reason", "") or None,
    }
    if kind == "withdrawal":
        payload["fee"] = f"{row.fee:.2f}"
    webhook_emit(owner=client, event=f"{kind}.{row.state}", payload=payload)
