"""Party use cases (creation, KYC review, personal data) and account opening (R-ACC-01/02).

Every service here is a top-level use case (``atomic(durable=True)``), writes an audit row and
leaves money to ``accounts.ledger.postings``.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import TransitionNotAllowed, can_proceed

from accounts import conf
from accounts.ledger.chart import ROLE_CHART
from accounts.ledger.errors import InvalidStateError, NotFoundError
from accounts.ledger.models import Account
from accounts.ledger.services import account_create_row
from accounts.parties import identity
from accounts.parties.errors import (
    DuplicatePartyError,
    KycMakerCheckerError,
    KycNotApprovedError,
    OpeningLimitExceededError,
    PersonalDataForbiddenError,
)
from accounts.parties.models import AccountOpeningOverride, Party, id_number_hash
from backoffice.audit import audit_record
from backoffice.errors import FieldValidationError
from backoffice.models import AuditLog

# -- parties: creation, KYC review, personal data -----------------------------------------------
#
# What a party may do in each KYC state (account_open enforces it):
# - pending_review: it may be found, reviewed and verified face to face; a person may open Class II
#   and III accounts (the electronic channel: they stay pending_verification until the card
#   binding has verified the identity with the bound account's bank, R-ACC-04/05). Class I
#   (opened at the counter) and corporate accounts wait for the approval.
# - approved: every account its type allows (persons I/II/III, organisations corporate).
# - rejected: no new account of any class until it resubmits (back to pending_review). Accounts it
#   already holds are not touched by the rejection: freezing or closing them is a separate action.


def _normalise(fields: dict[str, list], key: str, value, normaliser):
    try:
        return normaliser(value)
    except identity.IdentityError as exc:
        fields.setdefault(key, []).append(exc.args[0])
        return None


def _party_fields(
    *, type: str, name: str, id_number, mobile, credit_code, legal_representative
) -> tuple[dict[str, list], dict[str, str]]:
    """Validate and normalise a party's identity data; returns (field errors, clean values)."""
    fields: dict[str, list] = {}
    clean: dict[str, str] = {"name": (name or "").strip()}
    if type not in Party.Type.values:
        fields["type"] = [_("The type must be person or organisation.")]
    if not clean["name"]:
        fields["name"] = [_("The name is required.")]
    elif len(clean["name"]) > Party._meta.get_field("name").max_length:
        fields["name"] = [_("The name is too long (at most 200 characters).")]
    if mobile not in (None, ""):
        clean["mobile"] = _normalise(fields, "mobile", mobile, identity.normalise_mobile)
    if type == Party.Type.PERSON:
        if id_number in (None, ""):
            fields["id_number"] = [_("A person needs a resident ID number.")]
        else:
            clean["id_number"] = _normalise(fields, "id_number", id_number, identity.normalise_id_number)
        if credit_code not in (None, ""):
            fields["credit_code"] = [_("Only an organisation has a credit code.")]
        if legal_representative not in (None, ""):
            fields["legal_representative"] = [_("Only an organisation has a legal representative.")]
    elif type == Party.Type.ORGANISATION:
        if credit_code in (None, ""):
            fields["credit_code"] = [_("An organisation needs a unified social credit code.")]
        else:
            clean["credit_code"] = _normalise(fields, "credit_code", credit_code, identity.normalise_credit_code)
        clean["legal_representative"] = (legal_representative or "").strip()
        if not clean["legal_representative"]:
            fields["legal_representative"] = [_("An organisation needs a legal representative.")]
        elif len(clean["legal_representative"]) > Party._meta.get_field("legal_representative").max_length:
            fields["legal_representative"] = [_("The legal representative's name is too long (at most 100 characters).")]
        if id_number not in (None, ""):
            fields["id_number"] = [_("Only a person has a resident ID number.")]
    return fields, clean


def _refuse_duplicate(*, id_number: str | None, credit_code: str | None, exclude_pk: int | None = None) -> None:
    others = Party.objects.exclude(pk=exclude_pk) if exclude_pk else Party.objects.all()
    if id_number:
        existing = others.filter(id_number_hash=id_number_hash(id_number)).values_list("pk", flat=True).first()
        if existing is not None:
            raise DuplicatePartyError(party=str(existing), field="id_number")
    if credit_code:
        existing = others.filter(credit_code=credit_code).values_list("pk", flat=True).first()
        if existing is not None:
            raise DuplicatePartyError(party=str(existing), field="credit_code")


def _save_party(party: Party, *, id_number: str | None, credit_code: str | None, update_fields=None) -> None:
    """Save inside a savepoint; a unique-constraint race becomes duplicate_party naming the winner."""
    try:
        with transaction.atomic():
            party.save(update_fields=update_fields)
    except IntegrityError:
        _refuse_duplicate(id_number=id_number, credit_code=credit_code, exclude_pk=party.pk)
        raise


def party_input_errors(
    *, type: str, name: str, id_number=None, mobile=None, credit_code=None, legal_representative=None
) -> dict[str, list]:
    """The field errors ``party_create`` would raise for this input (empty when it would pass),
    duplicates included; for forms that show errors beside their fields."""
    fields, clean = _party_fields(
        type=type,
        name=name,
        id_number=id_number,
        mobile=mobile,
        credit_code=credit_code,
        legal_representative=legal_representative,
    )
    if not fields:
        try:
            _refuse_duplicate(id_number=clean.get("id_number"), credit_code=clean.get("credit_code"))
        except DuplicatePartyError as exc:
            fields[exc.data.get("field") or "name"] = [exc.text]
    return fields


def _masked_identity(party: Party) -> dict[str, str]:
    """The party's identity data as it may appear in audit rows and logs: masked only."""
    return {
        "id_number": party.id_number_masked,
        "mobile": party.mobile_masked,
        "credit_code": party.credit_code_masked,
        "legal_representative": party.legal_representative,
    }


def party_create(
    *,
    type: str,
    name: str,
    id_number: str | None = None,
    mobile: str | None = None,
    credit_code: str | None = None,
    legal_representative: str | None = None,
    actor=None,
    actor_label: str = "",
) -> Party:
    """Create a party in KYC ``pending_review``.

    A person needs a name and a valid resident ID number (GB 11643, normalised to 18 characters:
    R-VER-01, R-VER-02) and may give a mobile; an organisation needs a name, a valid unified social
    credit code (GB 32100) and a legal representative (and may give a contact mobile). The ID
    number and the mobile are stored encrypted beside their keyed hashes; the audit row holds
    masked values only.

    Raises FieldValidationError (``fields`` names each bad field; nothing is written) and
    DuplicatePartyError (``duplicate_party``, 409, ``data.party`` = the existing party's id) when a
    party with the same ID number or credit code exists.
    """
    fields, clean = _party_fields(
        type=type,
        name=name,
        id_number=id_number,
        mobile=mobile,
        credit_code=credit_code,
        legal_representative=legal_representative,
    )
    if fields:
        raise FieldValidationError(fields=fields)
    with transaction.atomic(durable=not transaction.get_connection().in_atomic_block):
        _refuse_duplicate(id_number=clean.get("id_number"), credit_code=clean.get("credit_code"))
        party = Party(
            type=type,
            created_by=_user_or_none(actor),
            name=clean["name"],
            credit_code=clean.get("credit_code", ""),
            legal_representative=clean.get("legal_representative", ""),
        )
        if clean.get("id_number"):
            party.set_id_number(clean["id_number"])
        if clean.get("mobile"):
            party.set_mobile(clean["mobile"])
        _save_party(party, id_number=clean.get("id_number"), credit_code=clean.get("credit_code"))
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="party.create",
            target=party,
            data={"type": type, "name": party.name, **_masked_identity(party)},
        )
        return party


def party_edit(*, party_id: int, name: str, actor, changed: list[str] | None = None) -> Party:
    """An operator edits a party's name in the console: recorded as its last editor (who may then
    not approve its KYC), audited as ``party.change``. Identity data changes only by resubmission.
    Durable unless called inside the console's change-form transaction (as party_create).

    Raises NotFoundError, FieldValidationError (an empty name).
    """
    name = (name or "").strip()
    if not name:
        raise FieldValidationError(fields={"name": [_("A name is required.")]})
    with transaction.atomic(durable=not transaction.get_connection().in_atomic_block):
        party = _locked_party(party_id)
        party.name = name[:200]
        party.edited_by = _user_or_none(actor)
        party.save(update_fields=["name", "edited_by", "updated_at"])
        audit_record(
            actor=actor,
            action="party.change",
            target=party,
            data={"changed": changed or [], "type": party.type, "name": party.name},
        )
        return party


def _locked_party(party_id: int) -> Party:
    party = Party.objects.select_for_update().filter(pk=party_id).first()
    if party is None:
        raise NotFoundError()
    return party


def _kyc_transition(party: Party, method_name: str, **kwargs) -> str:
    """Run a KYC transition; TransitionNotAllowed never escapes: it is InvalidStateError."""
    before = party.kyc_state
    method = getattr(party, method_name)
    if not can_proceed(method):
        raise InvalidStateError(state=before)
    try:
        method(**kwargs)
    except TransitionNotAllowed:
        raise InvalidStateError(state=before)
    return before


_KYC_FIELDS = ["kyc_state", "kyc_reviewed_by", "kyc_reviewed_at", "kyc_rejection_reason", "updated_at"]


def _kyc_review(*, party_id: int, method_name: str, actor, actor_label: str, data: dict, **transition_kwargs) -> Party:
    """One KYC decision under the party's lock: the transition, its fields saved, an audit row
    ``party.<method_name>`` with the states before and after and ``data``."""
    party = _locked_party(party_id)
    before = _kyc_transition(party, method_name, by=_user_or_none(actor), **transition_kwargs)
    party.save(update_fields=_KYC_FIELDS)
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action=f"party.{method_name}",
        target=party,
        data={"from": before, "to": party.kyc_state, **data},
    )
    return party


#: The audit actions of a party's makers: whoever wrote one of these may not approve its KYC.
MAKER_ACTIONS = ("party.create", "party.change", "party.kyc_resubmit")


def party_makers(party: Party) -> set[int]:
    """The ids of the users who created or edited the party (its fields and its audit trail)."""
    makers = {pk for pk in (party.created_by_id, party.edited_by_id) if pk}
    makers.update(
        AuditLog.objects.filter(
            target_type=Party._meta.label_lower, target_id=str(party.pk), action__in=MAKER_ACTIONS, actor__isnull=False
        ).values_list("actor_id", flat=True)
    )
    return makers


def party_is_maker(*, party: Party, user) -> bool:
    """Whether ``user`` created or edited ``party`` (and so may not approve its KYC)."""
    user = _user_or_none(user)
    return user is not None and user.pk in party_makers(party)


@transaction.atomic(durable=True)
def party_kyc_approve(*, party_id: int, actor=None, actor_label: str = "", note: str = "") -> Party:
    """KYC review: pending_review → approved, by someone other than the party's makers (四眼原则).

    Raises NotFoundError, InvalidStateError (any other state), KycMakerCheckerError
    (``maker_checker_violation``: the actor created or edited the party).
    """
    party = _locked_party(party_id)
    if party_is_maker(party=party, user=actor):
        raise KycMakerCheckerError()
    return _kyc_review(party_id=party_id, method_name="kyc_approve", actor=actor, actor_label=actor_label, data={"note": note})


@transaction.atomic(durable=True)
def party_kyc_reject(*, party_id: int, reason: str, actor=None, actor_label: str = "") -> Party:
    """KYC review: pending_review → rejected, with a reason (required).

    Raises FieldValidationError (no reason), NotFoundError, InvalidStateError (any other state).
    """
    reason = (reason or "").strip()
    if not reason:
        raise FieldValidationError(fields={"reason": [_("A rejection needs a reason.")]})
    return _kyc_review(
        party_id=party_id,
        method_name="kyc_reject",
        actor=actor,
        actor_label=actor_label,
        data={"reason": reason},
        reason=reason[:500],
    )


@transaction.atomic(durable=True)
def party_kyc_resubmit(
    *,
    party_id: int,
    name: str | None = None,
    id_number: str | None = None,
    mobile: str | None = None,
    credit_code: str | None = None,
    legal_representative: str | None = None,
    actor=None,
    actor_label: str = "",
) -> Party:
    """A rejected party resubmits, optionally with corrected data: rejected → pending_review.

    Fields left ``None`` keep their value; given ones are validated as in party_create. Raises
    FieldValidationError, DuplicatePartyError, NotFoundError, InvalidStateError (not rejected).
    """
    party = _locked_party(party_id)
    if party.kyc_state != Party.KycState.REJECTED:
        raise InvalidStateError(state=party.kyc_state)
    current_id = party.id_number if party.type == Party.Type.PERSON else None
    fields, clean = _party_fields(
        type=party.type,
        name=party.name if name is None else name,
        id_number=current_id if id_number is None else id_number,
        mobile=None if mobile is None else mobile,
        credit_code=(party.credit_code or None) if credit_code is None else credit_code,
        legal_representative=(party.legal_representative or None) if legal_representative is None else legal_representative,
    )
    if fields:
        raise FieldValidationError(fields=fields)
    _refuse_duplicate(id_number=clean.get("id_number"), credit_code=clean.get("credit_code"), exclude_pk=party.pk)
    changed = []
    if clean["name"] != party.name:
        party.name, changed = clean["name"], [*changed, "name"]
    if clean.get("id_number") and clean["id_number"] != current_id:
        party.set_id_number(clean["id_number"])
        changed.append("id_number")
    if mobile is not None and clean.get("mobile") and clean["mobile"] != party.mobile:
        party.set_mobile(clean["mobile"])
        changed.append("mobile")
    if party.type == Party.Type.ORGANISATION:
        if clean["credit_code"] != party.credit_code:
            party.credit_code, changed = clean["credit_code"], [*changed, "credit_code"]
        if clean["legal_representative"] != party.legal_representative:
            party.legal_representative, changed = clean["legal_representative"], [*changed, "legal_representative"]
    before = _kyc_transition(party, "kyc_resubmit")
    if _user_or_none(actor) is not None:
        party.edited_by = actor
    _save_party(party, id_number=clean.get("id_number"), credit_code=clean.get("credit_code"))
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="party.kyc_resubmit",
        target=party,
        data={"from": before, "to": party.kyc_state, "changed": changed, **_masked_identity(party)},
    )
    return party


@transaction.atomic(durable=True)
def party_face_to_face_verify(*, party_id: int, actor=None, actor_label: str = "", note: str = "") -> Party:
    """Record that staff verified a person's identity face to face (counter, or self-service with staff).

    Used by the limit rules (R-ACC-09 Class II cash and non-bound inflows, R-ACC-12 Class III
    non-bound inflows). Recording it again (a later counter visit) updates who and when. Raises
    FieldValidationError (neither actor nor actor_label: who verified must be known), NotFoundError,
    InvalidStateError (an organisation, or a party whose KYC was rejected).
    """
    user = _user_or_none(actor)
    if user is None and not actor_label:
        raise FieldValidationError(fields={"actor": [_("Face-to-face verification must name who verified.")]})
    party = _locked_party(party_id)
    if party.type != Party.Type.PERSON:
        raise InvalidStateError(_("Only a person can be verified face to face."), state=party.type)
    if party.kyc_state == Party.KycState.REJECTED:
        raise InvalidStateError(state=party.kyc_state)
    previously = party.face_to_face_verified
    party.face_to_face_verified = True
    party.face_to_face_verified_by = user
    party.face_to_face_verified_at = timezone.now()
    party.save(update_fields=["face_to_face_verified", "face_to_face_verified_by", "face_to_face_verified_at", "updated_at"])
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="party.face_to_face_verify",
        target=party,
        data={"again": previously, "note": note},
    )
    return party


VIEW_PERSONAL_DATA = "accounts.view_personal_data"


def party_reveal_personal_data(*, party_id: int, actor, reason: str = "") -> dict[str, str]:
    """The party's unmasked personal data, for an actor with ``accounts.view_personal_data``.

    Every reveal writes an audit row (which fields, the reason; never the values). A refused attempt
    is audited too (``party.reveal_personal_data_denied``) and raises PersonalDataForbiddenError
    (``forbidden``, 403). Raises NotFoundError for an unknown party.
    """
    party = Party.objects.filter(pk=party_id).first()
    if party is None:
        raise NotFoundError()
    user = _user_or_none(actor)
    if user is None or not user.is_active or not user.has_perm(VIEW_PERSONAL_DATA):
        with transaction.atomic(durable=True):
            audit_record(actor=user, action="party.reveal_personal_data_denied", target=party, data={"reason": reason})
        raise PersonalDataForbiddenError()
    revealed = {
        "id_number": party.id_number,
        "mobile": party.mobile,
        "credit_code": party.credit_code,
        "legal_representative": party.legal_representative,
    }
    with transaction.atomic(durable=True):
        audit_record(
            actor=user,
            action="party.reveal_personal_data",
            target=party,
            data={"fields": sorted(key for key, value in revealed.items() if value), "reason": reason},
        )
    return revealed


def _user_or_none(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


PERSON_TIERS = (Account.Tier.CLASS_I, Account.Tier.CLASS_II, Account.Tier.CLASS_III, Account.Tier.DEPOSITORY)
ORGANISATION_TIERS = (Account.Tier.CORPORATE, Account.Tier.DEPOSITORY)
# Tiers that wait in pending_verification until a bound card is verified (R-ACC-04/05); a P2P
# depository sub-account too (R-DEP-04: opened for the client, usable once the client's own card verifies).
PENDING_UNTIL_CARD_TIERS = (Account.Tier.CLASS_II, Account.Tier.CLASS_III, Account.Tier.DEPOSITORY)


def _tier_maximum(tier: str) -> tuple[str, int] | None:
    """(limit name, maximum) of the per-person count of a tier, or None when it is not counted."""
    if tier == Account.Tier.CLASS_I:
        return "class_i_per_person", 1
    if tier == Account.Tier.CLASS_II:
        return "class_ii_per_person", conf.max_class2_per_person()
    if tier == Account.Tier.CLASS_III:
        return "class_iii_per_person", conf.max_class3_per_person()
    return None


def account_open(
    *,
    party: Party,
    role: str,
    tier: str,
    name: str = "",
    override_reason: str = "",
    actor=None,
    actor_label: str = "",
    owner: str = "",
) -> Account:
    """Open a customer account. Class II/III wait in pending_verification until a card is verified.

    ``owner`` puts the account in someone's books ("" the bank's; "platform:<code>" a P2P platform's,
    set by ``custody``'s services). A depository sub-account (tier ``depository``, 存管子账户) is
    opened only with an owner, for a person or an organisation; it is
    outside the Class I/II/III counting (R-ACC-01/02) and the tier limits, and waits in
    pending_verification until its same-name debit card is verified.

    Rules: persons get Class I, II or III, organisations corporate (else FieldValidationError on
    ``tier``); the party's KYC state must allow the class (see the table above party_create; else
    KycNotApprovedError, ``kyc_not_approved``); R-ACC-01 one non-closed Class I per person per bank,
    never overridable; R-ACC-02 at most ACCOUNTS_MAX_CLASS2_PER_PERSON Class II and
    ACCOUNTS_MAX_CLASS3_PER_PERSON Class III non-closed accounts per person, beyond which an
    ``override_reason`` is required and recorded (audit row + AccountOpeningOverride). Count
    refusals raise OpeningLimitExceededError (``limit_exceeded``, data limit/maximum/held/remaining).
    The party row is locked (select_for_update) before counting, so concurrent openings for one
    person are serialized on PostgreSQL.
    """
    rule = ROLE_CHART.get(role)
    if rule is None or rule.internal:
        raise InvalidStateError(f"Role {role!r} is not a customer role.", state=role)
    if tier not in Account.Tier.values or tier == Account.Tier.INTERNAL:
        raise FieldValidationError(fields={"tier": [_("The tier must be I, II, III or corporate.")]})
    if tier == Account.Tier.DEPOSITORY and not owner:
        raise FieldValidationError(fields={"tier": [_("A depository sub-account is opened only for a platform.")]})
    if party.type == Party.Type.PERSON and tier not in PERSON_TIERS:
        raise FieldValidationError(fields={"tier": [_("A person's account is Class I, II or III.")]})
    if party.type == Party.Type.ORGANISATION and tier not in ORGANISATION_TIERS:
        raise FieldValidationError(fields={"tier": [_("An organisation's account is a corporate account.")]})
    override_reason = (override_reason or "").strip()
    state = Account.State.PENDING_VERIFICATION if tier in PENDING_UNTIL_CARD_TIERS else Account.State.ACTIVE
    with transaction.atomic(durable=not transaction.get_connection().in_atomic_block):
        party = _locked_party(party.pk)  # the lock that makes the counting below race-safe
        if party.kyc_state == Party.KycState.REJECTED or (
            party.kyc_state != Party.KycState.APPROVED and tier not in PENDING_UNTIL_CARD_TIERS
        ):
            raise KycNotApprovedError(state=party.kyc_state, tier=tier)
        override = None
        counted = _tier_maximum(tier)
        if counted is not None:
            limit, maximum = counted
            held = (
                Account.objects.filter(party=party, kind=Account.Kind.CUSTOMER, tier=tier)
                .exclude(state=Account.State.CLOSED)
                .count()
            )
            if held >= maximum:
                if tier == Account.Tier.CLASS_I or not override_reason:
                    raise OpeningLimitExceededError(limit=limit, maximum=maximum, held=held, remaining=0)
                override = {"limit": limit, "maximum": maximum, "held": held, "reason": override_reason[:500]}
        account = account_create_row(
            party=party,
            name=name or party.name,
            role=role,
            tier=tier,
            kind=Account.Kind.CUSTOMER,
            state=state,
            internal=False,
            owner=owner,
        )
        if override is not None:
            AccountOpeningOverride.objects.create(
                account=account,
                party=party,
                tier=tier,
                held_before=override["held"],
                maximum=override["maximum"],
                reason=override["reason"],
                actor=_user_or_none(actor),
                actor_label=(actor_label or (actor.get_username() if _user_or_none(actor) else "system"))[:100],
            )
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="account.open",
            target=account,
            data={
                "role": role,
                "tier": tier,
                "party": party.pk,
                **({"owner": owner} if owner else {}),
                **({"override": override} if override else {}),
            },
        )
        return account
