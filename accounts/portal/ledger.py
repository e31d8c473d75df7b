"""The self-service portal: a party's own accounts, their statements and statement exports,
and the micro-deposit back-fill (小额鉴权回填) of a card being bound.

Thin views over the selectors (``accounts.selectors``, ``accounts.limits.services.limits_remaining``,
``accounts.cards.services``, ``accounts.states.freezes.account_freezes``); the only write is the back-fill, through
``accounts.cards.services.micro_deposit_confirm``. A signed-in user sees the accounts of every party they
belong to (``Party.portal_users``) and nothing else: any other account number, or a card of
another account, answers 404, never 403, so the portal does not confirm that it exists.
The micro-deposit amount itself is never shown.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from accounts import conf
from accounts.cards import services as cards
from accounts.cards.models import BoundCard, MicroDeposit
from accounts.exports.labels import FEE_LABEL
from accounts.exports.models import ExportJob
from accounts.exports.responses import job_file_response, statement_response
from accounts.exports.services import export_job_create, export_job_for
from accounts.exports.statements import PORTAL, StatementQuery, withdrawal_fees
from accounts.ledger.chart import CREDIT
from accounts.ledger.errors import InvalidStateError
from accounts.ledger.models import Account, Entry
from accounts.ledger.selectors import account_get, account_statement, accounts_for_party, statement_kinds
from accounts.limits.models import LimitBucket, LimitPeriod
from accounts.limits.services import limits_remaining
from accounts.parties.models import Party
from accounts.portal.forms import MicroDepositForm, StatementFilterForm, kind_label
from accounts.states.freezes import account_freezes
from accounts.states.models import JudicialFreeze
from backoffice import dates
from backoffice.errors import DomainError, FieldValidationError
from backoffice.portal import money

PAGE_SIZE = 50
EXPORT_FORMATS = ("csv", "xlsx")


# What each state means for the holder, and what to do (states without a note need none).
STATE_NOTES = {
    Account.State.PENDING_VERIFICATION: gettext_lazy(
        "Not usable yet: the account opens once your bank card is verified. Enter the small verification "
        "amount the bank sent to your card."
    ),
    Account.State.NON_COUNTER_SUSPENDED: gettext_lazy(
        "Online and other non-counter transactions are paused because the account was not used after opening. "
        "Visit a branch with your ID to have them restored."
    ),
    Account.State.FROZEN: gettext_lazy("Frozen: money can come in, but no payments or withdrawals go out until it is lifted."),
    Account.State.DORMANT: gettext_lazy(
        "Dormant after a long time without use: money can come in; to pay or withdraw, reactivate the account "
        "at a branch with your ID."
    ),
    Account.State.CLOSED: gettext_lazy("Closed: the account no longer takes or makes payments."),
    Account.State.DEEMED_CLOSED: gettext_lazy(
        "Treated as closed after a long time without use; its balance is kept by the bank as unclaimed funds. "
        "Visit a branch with your ID to claim it."
    ),
}

# The limits as the holder reads them (accounts.limits.models.LimitBucket / LimitPeriod).
LIMIT_LABELS = {
    LimitBucket.INFLOW: gettext_lazy("Money in from non-bound accounts and cash deposits"),
    LimitBucket.OUTFLOW: gettext_lazy("Payments and money out to non-bound accounts"),
    LimitBucket.NON_BOUND_INFLOW: gettext_lazy("Money in from non-bound accounts"),
    LimitBucket.BALANCE: gettext_lazy("Balance cap"),
}
PERIOD_LABELS = {
    LimitPeriod.DAY: gettext_lazy("Today"),
    LimitPeriod.YEAR: gettext_lazy("This year"),
    LimitPeriod.MOMENT: gettext_lazy("At any time"),
}
FREEZE_LABELS = {
    JudicialFreeze.Kind.FULL: gettext_lazy("Full freeze of the balance: no payments out"),
    JudicialFreeze.Kind.PARTIAL: gettext_lazy("Freeze of an amount"),
    JudicialFreeze.Kind.DEBIT_BLOCKED: gettext_lazy("No payments out (money can still come in)"),
    JudicialFreeze.Kind.CREDIT_BLOCKED: gettext_lazy("No money in (payments out still possible)"),
}
# Account states in which limits mean nothing any more.
NO_LIMIT_STATES = (Account.State.CLOSED, Account.State.DEEMED_CLOSED)
CLOSED_STATES = NO_LIMIT_STATES


def own_account(request: HttpRequest, number: str) -> Account:
    account = account_get(number=number)
    if account is None or account.party_id is None or not request.user.parties.filter(pk=account.party_id).exists():
        raise Http404(_("No such account."))
    return account


def _limit_rows(account: Account) -> list[dict]:
    """Today's and this year's limits (and a Class III balance cap), formatted; [] for other tiers."""
    if account.state in NO_LIMIT_STATES:
        return []
    rows = []
    for item in limits_remaining(account=account):
        bucket = item["limit"].split("_", 1)[1].rsplit("_", 1)[0]  # "<tier>_<bucket>_<period>"
        rows.append(
            {
                "code": item["limit"],
                "label": LIMIT_LABELS.get(bucket, item["limit"]),
                "period": PERIOD_LABELS.get(item["period"], item["period"]),
                "is_cap": bucket == LimitBucket.BALANCE,
                "amount": money(item["amount"]),
                "used": money(item["used"]),
                "remaining": money(item["remaining"]),
                "exhausted": item["remaining"] <= 0,
            }
        )
    return rows


def _freeze_rows(account: Account) -> list[dict]:
    """Open judicial freezes: only the kind and the amount (no authority, document or dates)."""
    rows = []
    for freeze in account_freezes(account_id=account.pk, open_only=True):
        if freeze.state == JudicialFreeze.State.ACTIVE and freeze.holds_money:
            amount = freeze.frozen_amount
        else:
            amount = freeze.amount  # what a partial order asks for; None for the other kinds
        rows.append(
            {
                "kind": FREEZE_LABELS.get(freeze.kind, freeze.kind),
                "amount": money(amount) if amount is not None else None,
                "queued": freeze.state == JudicialFreeze.State.QUEUED,
            }
        )
    return rows


def card_rows(account: Account) -> list[dict]:
    """The account's cards worth showing: the live ones, or else the newest ended one."""
    all_cards = list(cards.card_list(account=account))
    live = [card for card in all_cards if card.state in BoundCard.LIVE_STATES]
    return [_card_row(account, card) for card in (live or all_cards[:1])]


def _card_row(account: Account, card: BoundCard) -> dict:
    awaiting = card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT
    stage = _stage(card, cards.micro_deposit_current(card=card), timezone.now()) if awaiting else None
    return {
        "card": card,
        "masked": card.card_number_masked,
        "bank": card.bank_name,
        "state": card.get_state_display(),
        "state_code": card.state,
        "awaiting": awaiting,  # the verification is under way: the card page says what happens next
        "needs_backfill": stage == STAGE_BACKFILL,  # the holder can enter the amount now
        "url": reverse("portal:card_verify", args=[account.number, card.pk]),
    }


# Who binds a card in the portal (accounts.portal.cards): a person's Class I/II/III account.
BIND_TIERS = (Account.Tier.CLASS_I, Account.Tier.CLASS_II, Account.Tier.CLASS_III)
ASK_KIND_TIERS = (Account.Tier.CLASS_II, Account.Tier.CLASS_III)  # R-ACC-03: Class I or credit card


def can_bind(account: Account) -> bool:
    """The holder may bind a card to ``account`` here: a person's Class I/II/III account, not
    closed, with no recharge-and-withdrawal card being verified or verified."""
    party = account.party
    if party is None or party.type != Party.Type.PERSON or account.tier not in BIND_TIERS or account.state in CLOSED_STATES:
        return False
    return not BoundCard.objects.filter(
        account=account, purpose=BoundCard.Purpose.RECHARGE_WITHDRAWAL, state__in=BoundCard.LIVE_STATES
    ).exists()


def account_row(account: Account, *, details: bool = True) -> dict:
    row = {
        "account": account,
        "balance": money(account.balance),
        "available": money(account.available),
        "frozen": money(account.frozen),
        "state_note": STATE_NOTES.get(account.state, ""),
    }
    if details:
        rows = card_rows(account)
        row.update(
            cards=rows,
            awaiting_cards=[c for c in rows if c["awaiting"]],
            limits=_limit_rows(account),
            freezes=_freeze_rows(account),
        )
        row["can_bind"] = can_bind(account)
        row["has_details"] = bool(row["state_note"] or rows or row["limits"] or row["freezes"] or row["can_bind"])
    return row


def _entry_row(entry: Entry) -> dict:
    return {
        "entry": entry,
        "kind": kind_label(entry.transfer.kind),
        "is_credit": entry.side == CREDIT,
        "amount": money(entry.amount),
        "balance_after": money(entry.balance_after),
    }


def _statement_rows(account: Account, entries: list[Entry]) -> list[dict]:
    """The page's lines: one per entry, except a withdrawal's debit of amount + fee, which is two
    lines as in the exports (``accounts.exports.statements``): the fee (手续费) first, with the
    balance after it (newest first), then the amount, with the balance before the fee."""
    fees = withdrawal_fees((entry.transfer.metadata or {}).get("withdrawal") for entry in entries)
    rows = []
    for entry in entries:
        reference = (entry.transfer.metadata or {}).get("withdrawal")
        fee = fees.get(reference) if reference is not None else None
        if fee is None or fee[0] + fee[1] != entry.amount:
            rows.append(_entry_row(entry))
            continue
        principal, charge = fee
        inflow = entry.side == account.normal_side
        before_fee = entry.balance_after - charge if inflow else entry.balance_after + charge
        rows.append({**_entry_row(entry), "kind": str(FEE_LABEL), "amount": money(charge), "is_fee": True})
        rows.append({**_entry_row(entry), "amount": money(principal), "balance_after": money(before_fee)})
    return rows


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    parties = list(request.user.parties.order_by("name"))
    accounts = accounts_for_party(party_ids=[party.pk for party in parties]).select_related("party")
    rows = [account_row(account) for account in accounts]
    return render(
        request,
        "portal/dashboard.html",
        {"parties": parties, "rows": rows, "detail_rows": [row for row in rows if row["has_details"]]},
    )


def _filtered_statement(request: HttpRequest, account: Account):
    """(form, entries or None): entries are None while the filter form has errors."""
    form = StatementFilterForm(request.GET, kinds=statement_kinds(account=account))
    if not form.is_valid():
        return form, None
    entries = account_statement(
        account=account,
        date_from=form.cleaned_data["date_from"],
        date_to=form.cleaned_data["date_to"],
        kind=form.cleaned_data["kind"] or None,
    )
    return form, entries


@login_required
@require_GET
def statement(request: HttpRequest, number: str) -> HttpResponse:
    account = own_account(request, number)
    form, entries = _filtered_statement(request, account)
    details = account_row(account)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page")) if entries is not None else None
    rows = _statement_rows(account, list(page.object_list)) if page else []
    return render(
        request,
        "portal/statement.html",
        {"form": form, "page_obj": page, "rows": rows, "details": details, **details},
    )


@login_required
@require_GET
def statement_export(request: HttpRequest, number: str) -> HttpResponse:
    account = own_account(request, number)
    fmt = request.GET.get("format", "csv")
    if fmt not in EXPORT_FORMATS:
        return HttpResponseBadRequest(_("Unknown export format: choose CSV or XLSX."), content_type="text/plain; charset=utf-8")
    form, entries = _filtered_statement(request, account)
    if entries is None:
        # Send the user back to the statement, where the same filters show their errors.
        query = request.GET.copy()
        query.pop("format", None)
        return redirect(f"{reverse('portal:statement', args=[account.number])}?{query.urlencode()}")
    query = StatementQuery(
        account_id=account.pk,
        audience=PORTAL,
        date_from=form.cleaned_data["date_from"],
        date_to=form.cleaned_data["date_to"],
        kind=form.cleaned_data["kind"] or None,
    )
    if entries.count() > conf.export_sync_max_rows():
        # Too big to build within a request: a background job, and its progress page.
        job = export_job_create(owner=request.user, query=query, fmt=fmt)
        return redirect("portal:export_job", job.pk)
    return statement_response(query, fmt)


@login_required
@require_GET
def export_job(request: HttpRequest, pk: int) -> HttpResponse:
    """A background export's progress (the page refreshes itself until it is finished), then its link."""
    job = export_job_for(job_id=pk, owner=request.user, audience=ExportJob.Audience.PORTAL)
    if job is None:
        raise Http404(_("No such export."))
    return render(request, "portal/export_job.html", {"job": job, "account": job.account})


@login_required
@require_GET
def export_job_download(request: HttpRequest, pk: int) -> HttpResponse:
    job = export_job_for(job_id=pk, owner=request.user, audience=ExportJob.Audience.PORTAL)
    if job is None or job.state != ExportJob.State.DONE or not job.file:
        raise Http404(_("No such export."))
    return job_file_response(job)


# -- micro-deposit back-fill (小额鉴权回填) ---------------------------------------------------

# Where a card being bound stands, as the holder sees it; each stage has its own text and next step.
STAGE_BACKFILL = "backfill"  # the amount was sent: the form is shown
STAGE_SENDING = "sending"  # not sent yet, or the bank is waiting for the channel's answer
STAGE_SEND_FAILED = "send_failed"  # the channel refused the payment: the bank must send a new one
STAGE_VERIFYING = "verifying"  # the card's elements are being checked with its bank
STAGE_VERIFIED = "verified"
STAGE_EXPIRED = "expired"
STAGE_FAILED = "failed"  # too many wrong amounts
STAGE_REJECTED = "rejected"  # the card's bank did not confirm the card details


def _own_card(request: HttpRequest, number: str, card_id: int) -> tuple[Account, BoundCard]:
    account = own_account(request, number)
    card = BoundCard.objects.filter(pk=card_id, account=account).first()
    if card is None:
        raise Http404(_("No such card."))
    return account, card


def _stage(card: BoundCard, deposit: MicroDeposit | None, now) -> str:
    if card.state == BoundCard.State.VERIFIED:
        return STAGE_VERIFIED
    if card.state == BoundCard.State.VERIFYING:
        return STAGE_VERIFYING
    if card.state == BoundCard.State.EXPIRED:
        return STAGE_EXPIRED
    if card.state == BoundCard.State.FAILED:
        return STAGE_FAILED if card.failure_reason == "micro_deposit_attempts_exhausted" else STAGE_REJECTED
    # awaiting_micro_deposit
    if deposit is None or deposit.state in (MicroDeposit.State.INIT, MicroDeposit.State.SEND_UNKNOWN, MicroDeposit.State.SENT):
        return STAGE_SENDING
    if deposit.state == MicroDeposit.State.AWAITING_BACKFILL:
        return STAGE_BACKFILL if now < deposit.expires_at else STAGE_EXPIRED
    if deposit.state == MicroDeposit.State.EXPIRED:
        return STAGE_EXPIRED
    return STAGE_SEND_FAILED


def _mismatch_text(attempts_left: int) -> str:
    return ngettext(
        "The amount does not match the verification amount. You have %(count)d attempt left.",
        "The amount does not match the verification amount. You have %(count)d attempts left.",
        attempts_left,
    ) % {"count": attempts_left}


@login_required
@require_http_methods(["GET", "POST"])
def card_verify(request: HttpRequest, number: str, card_id: int) -> HttpResponse:
    """Show where a card's verification stands; on POST, back-fill the micro-deposit amount.

    Post/redirect/get on every outcome that changes the card (verified, failed, expired); a wrong
    amount with attempts left, or an unreadable one, shows the form again with the error.
    """
    account, card = _own_card(request, number, card_id)
    here = reverse("portal:card_verify", args=[account.number, card.pk])
    form = MicroDepositForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        was_pending = account.state == Account.State.PENDING_VERIFICATION
        try:
            cards.micro_deposit_confirm(card_id=card.pk, amount=form.cleaned_data["amount"], actor=request.user)
        except FieldValidationError as exc:
            for error in exc.fields.get("amount", []) or [exc.text]:
                form.add_error("amount", error)
        except cards.MicroDepositMismatchError as exc:
            attempts_left = int(exc.data.get("attempts_left") or 0)
            if attempts_left > 0:
                form.add_error("amount", _mismatch_text(attempts_left))
            else:
                messages.error(request, _("The amount did not match and no attempts are left: this card was not verified."))
                return redirect(here)
        except cards.MicroDepositExpiredError:
            messages.error(request, _("The time to enter the verification amount has passed."))
            return redirect(here)
        except InvalidStateError:
            messages.warning(request, _("This card is not waiting for a verification amount."))
            return redirect(here)
        except DomainError as exc:  # any other refusal: say it, never a 500
            messages.error(request, exc.text)
            return redirect(here)
        else:
            account = Account.objects.get(pk=account.pk)
            if was_pending and account.state == Account.State.ACTIVE:
                messages.success(
                    request,
                    _("Your card is verified. Account %(number)s is now active.") % {"number": account.number},
                )
            else:
                messages.success(request, _("Your card is verified."))
            return redirect(here)

    card = BoundCard.objects.get(pk=card.pk)
    account = Account.objects.select_related("party").get(pk=account.pk)
    deposit = cards.micro_deposit_current(card=card)
    stage = _stage(card, deposit, timezone.now())
    deadline = None
    if deposit is not None and deposit.expires_at is not None:
        deadline = timezone.localtime(deposit.expires_at, dates.bank_tz())
    return render(
        request,
        "portal/card_verify.html",
        {
            "form": form,
            "stage": stage,
            "card_row": _card_row(account, card),
            # Only what the holder may see of the micro-deposit: never its amount.
            "attempts_left": deposit.attempts_left if deposit is not None else None,
            "deadline": deadline,
            "can_bind": can_bind(account),
            **account_row(account, details=False),
        },
    )
