"""The channel-instruction lifecycle: how an instruction that moves money through a payment channel
is accepted, submitted, queried, answered and re-driven. Withdrawals (payouts to the holder's card)
and recharges (collections from it) use it; merchants' payments, refunds and payouts will.

Each kind of instruction describes itself once, as an ``Instruction`` (its model, request-id
prefix, task names and state sets), and keeps only what differs: its acceptance rules, its money
movements (``succeed``, ``fail``, ``returned``), its strategy and its audit rows. The rules below
hold for every kind:

- The row is its own outbox. It is created with its money set aside in one durable transaction;
  its submission is enqueued by task name after that commit, robustly: a broker outage never turns
  an accepted instruction into an error, ``payments_sweep`` re-drives it (STACK.md trap 10).
- A channel is never called inside a database transaction (``assert_outside_transaction``).
  Submission first records the attempt (committed), then calls the channel with the request id
  ``{prefix}{pk:010d}``, the same on every re-submission, so the channel never pays twice, then
  records the answer. A channel that cannot be reached is an unknown outcome, never a failure.
- An answer (submit response, status query, callback, approved manual resolution) is applied
  exactly once, in one durable transaction, under the row lock: the state change, its money and
  its audit rows together. Money moves only with an idempotency key per step.
- Only success and failure end an instruction. "Processing" and "not found" leave it ``unknown``
  and schedule a status query with backoff (eagerly, nothing is scheduled: the sweeper and the
  console drive queries). "Not found" is not a status (R-WD-03): once the channel's grace period
  has passed since the latest submission, the instruction is re-submitted with the same request id
  (the channel de-duplicates it) and queried again. Only a channel registered with
  ``not_found_final_seconds`` (its contract: an order it has not seen that long after submission
  will never be processed) turns "not found" that long after the latest submission into a
  failure, and the row's ``failure_reason`` says so.
- A terminal state never regresses: an answer the row already reflects is ``no_change``; one that
  contradicts it raises a P1 alert and moves nothing (``contradiction``). A stale "processing" never
  overwrites a final channel status.
- What applying an answer did maps to what a stored callback records (``CALLBACK_OUTCOME``); a
  callback whose amount differs from the instruction's is not applied (a P1 alert).
- Alerts (``payment_alert``) are raised inside the caller's transaction, once while unacknowledged
  per kind and target, and never move money.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import conf
from accounts.ledger import postings as ledger
from accounts.ledger.chart import CREDIT, DEBIT, Role
from accounts.ledger.errors import AccountNotActiveError, InvalidAmountError
from accounts.ledger.selectors import internal_account_for
from accounts.payments.channels import (
    DEFINITIVE,
    ChannelAnswer,
    ChannelStatus,
    ChannelUnavailableError,
    adapter_for,
    assert_outside_transaction,
)
from accounts.payments.models import Channel, ChannelCallback, PaymentAlert, Withdrawal
from backoffice.audit import audit_record
from backoffice.errors import DomainError, FieldValidationError
from backoffice.money import MoneyError, to_money
from backoffice.registry import Registry
from backoffice.tasks import enqueue_on_commit, tasks_run_eagerly
from backoffice.texts import text_label, text_render, text_spec

__all__ = [
    "APPLIED",
    "CALLBACK_OUTCOME",
    "CONTRADICTION",
    "NO_CHANGE",
    "DuplicateReferenceError",
    "Instruction",
    "NoChannelError",
    "amount_parse",
    "channel_for",
    "instruction_alert",
    "instruction_apply_answer",
    "instruction_begin_submit",
    "instruction_callback_apply",
    "instruction_contradiction",
    "instruction_credit_or_suspense",
    "instruction_enqueue_submit",
    "instruction_query_status",
    "instruction_record_answer",
    "instruction_reference_clean",
    "instruction_resubmit",
    "instruction_row_create",
    "instruction_settle",
    "instruction_submit",
    "payment_alert",
    "payment_alert_acknowledge",
]

# What applying an answer did.
APPLIED, NO_CHANGE, CONTRADICTION = "applied", "no_change", "contradiction"

# What applying an answer did → what the stored callback records.
CALLBACK_OUTCOME = {
    APPLIED: ChannelCallback.Outcome.APPLIED,
    NO_CHANGE: ChannelCallback.Outcome.NO_CHANGE,
    CONTRADICTION: ChannelCallback.Outcome.CONTRADICTION,
}

# Where an answer comes from (the values of Withdrawal.Source, which every instruction records).
Source = Withdrawal.Source


# -- refusals -----------------------------------------------------------------------------------


class DuplicateReferenceError(DomainError):
    code, http_status = "duplicate_reference", 409
    message = _("The business reference {out_request_no} was already used.")


class NoChannelError(DomainError):
    code, http_status = "no_channel", 409
    message = _("No enabled payment channel handles {operation}.")


#: Who wants to know that an instruction ended: ``listener(kind=instruction.kind, row=row)`` for
#: every applied answer that leaves the row out of flight (succeeded, failed, returned), inside the
#: answer's transaction, after the row is saved. A higher app registers from its ``ready()``
#: (custody tells a platform by webhook that its client's withdrawal or recharge ended); accounts
#: never imports it.
instruction_outcome_listeners = Registry("instruction outcomes")


# -- one kind of instruction ----------------------------------------------------------------------


class Instruction:
    """One kind of channel instruction, as the lifecycle sees it: subclass it once per kind and
    keep one instance (it is also what ``callbacks.callback_handler_register`` takes).

    The model has ``request_id``, ``channel``, ``amount``, a django-fsm ``state`` with
    ``submitted`` and ``unknown`` states and ``mark_submitted``/``mark_unknown`` transitions,
    ``IN_FLIGHT``, ``channel_txn_id``, ``channel_status``, ``submit_attempts``, ``submitted_at``,
    ``last_submitted_at``, ``query_attempts``, ``last_activity_at``, ``resolved_by`` and
    ``resolved_at``."""

    #: The instruction's name: the audit prefix, and the name of PaymentAlert's and
    #: ChannelCallback's foreign key to it.
    kind: str
    #: The request id's prefix (``WD`` → ``WD0000000042``); callbacks are dispatched by it.
    prefix: str
    model: type[models.Model]
    #: Task names (accounts/tasks.py) that submit and query one row by its id.
    submit_task: str
    query_task: str
    #: States from which a submission is sent (or re-sent, with the same request id).
    submittable: tuple[str, ...]
    #: For a definitive status, the states that already reflect it (the answer is ``no_change``).
    #: Any other state than submitted or unknown contradicts it.
    settled: dict[ChannelStatus, tuple[str, ...]]
    #: The adapter method that sends a card instruction (``submit_payout``, ``submit_collection``).
    channel_method: str = ""
    #: Relations loaded with the locked row when an answer is recorded.
    related: tuple[str, ...] = ("channel",)
    #: The model counts status-query errors in a row (``query_errors``), reset by an answer.
    counts_query_errors: bool = False
    #: Another "processing" for an unknown row schedules another query (else the sweeper asks).
    requery_while_unknown: bool = True

    def request_id_for(self, pk: int) -> str:
        return f"{self.prefix}{pk:010d}"

    # What each kind does (the row is locked by the caller unless said otherwise).

    def send(self, row) -> ChannelAnswer:
        """Call the channel (outside any transaction); by default, ``channel_method`` with the
        row's bound card. Raises ChannelUnavailableError."""
        card = row.card
        return getattr(adapter_for(row.channel), self.channel_method)(
            request_id=row.request_id, amount=row.amount, card_number=card.card_number, holder_name=card.holder_name
        )

    def succeed(self, row, answer: ChannelAnswer, *, source: str, now: dt.datetime, actor=None) -> str:
        """The channel paid or collected; the row is submitted or unknown. Moves its money."""
        raise NotImplementedError

    def fail(self, row, answer: ChannelAnswer, *, source: str, now: dt.datetime, actor=None) -> str:
        """The channel definitively did not; the row is submitted or unknown. Undoes what acceptance set aside."""
        raise NotImplementedError

    def returned(self, row, answer: ChannelAnswer, *, source: str, now: dt.datetime, actor=None) -> str:
        """A return (退票) after a success; by default an instruction has none."""
        return NO_CHANGE

    def submitted(self, row) -> None:
        """Hook in the transaction that records a submission attempt."""

    def became_unknown(self, row, answer: ChannelAnswer) -> None:
        """Hook when a submitted row becomes unknown."""

    def answered(self, row, effect: str, *, source: str) -> None:
        """Hook after an answer was applied and the row saved."""

    def query_failed(self, *, pk: int, error: str, now: dt.datetime) -> None:
        """Hook (outside any transaction) when the channel could not answer a status query."""

    # The callback handler protocol (accounts.payments.callbacks).

    def callback_locate(self, *, channel: Channel, request_id: str):
        """The row ``request_id`` names on ``channel``, locked, or None."""
        return (
            self.model.objects.select_for_update(of=("self",))
            .select_related("channel")
            .filter(channel=channel, request_id=request_id)
            .first()
        )

    def callback_link(self, row) -> dict:
        """The ChannelCallback fields that point at ``row``."""
        return {self.kind: row}

    def alert_link(self, row) -> dict:
        """The PaymentAlert fields that point at ``row`` (a kind without a foreign key there:
        ``{"reference": row.request_id, "channel": row.channel}``)."""
        return {self.kind: row}

    def callback_apply(self, row, *, callback: ChannelCallback, event, now: dt.datetime) -> str:
        return instruction_callback_apply(self, row, callback=callback, event=event, now=now)


# -- helpers shared by every kind -----------------------------------------------------------------


def amount_parse(value) -> Decimal:
    """A positive amount of money (Decimal, 0.01), or FieldValidationError on ``amount``."""
    try:
        amount = to_money(value)
    except (MoneyError, TypeError) as exc:
        raise FieldValidationError({"amount": [str(InvalidAmountError.message)]}) from exc
    if amount <= 0:
        raise FieldValidationError({"amount": [str(InvalidAmountError.message)]})
    return amount


def channel_for(*, operation: str, code: str | None = None) -> Channel:
    """The channel for ``operation`` ("withdrawal" or "recharge"): ``code`` if given, else the
    enabled one with the lowest priority. Raises NoChannelError."""
    channels = Channel.objects.filter(enabled=True, **{f"supports_{operation}": True})
    if code:
        channels = channels.filter(code=code)
    channel = channels.order_by("priority", "code").first()
    if channel is None:
        raise NoChannelError(operation=operation)
    return channel


def payment_alert(
    *,
    kind: str,
    message: str | dict,
    severity: str = PaymentAlert.Severity.P2,
    withdrawal=None,
    recharge=None,
    channel=None,
    reference: str = "",
    **data,
) -> PaymentAlert:
    """Raise an alert (once while it is unacknowledged, per kind and target). Inside the caller's
    transaction; alerts never move money. ``reference`` names a target without a foreign key here
    (a merchant payment's or refund's request id). ``message`` is a text spec
    (``backoffice.texts.text_spec``): kept in ``data["text"]`` and shown in the reader's language
    (``PaymentAlert.text``); the message column and the audit row get its bilingual rendering."""
    if isinstance(message, dict):
        data["text"] = message
        message = text_render(message, bilingual=True)
    channel = channel or getattr(withdrawal, "channel", None) or getattr(recharge, "channel", None)
    existing = PaymentAlert.objects.filter(
        kind=kind,
        acknowledged_at__isnull=True,
        withdrawal=withdrawal,
        recharge=recharge,
        channel=channel,
        reference=reference,
    ).first()
    if existing is not None:
        return existing
    alert = PaymentAlert.objects.create(
        kind=kind,
        severity=severity,
        message=message[:500],
        withdrawal=withdrawal,
        recharge=recharge,
        channel=channel,
        reference=reference[:64],
        data=data,
    )
    audit_record(action=f"payment_alert.{kind}", target=alert, data={"severity": severity, "message": message[:200], **data})
    return alert


@transaction.atomic(durable=True)
def payment_alert_acknowledge(*, alert_id: int, actor, note: str = "") -> PaymentAlert:
    """Acknowledge an alert (once): who and when on the alert, the note in the audit row. A P1
    alert needs a note (what was looked at, what was done): FieldValidationError without one."""
    alert = PaymentAlert.objects.select_for_update().get(pk=alert_id)
    note = (note or "").strip()
    if alert.acknowledged_at is None:
        if alert.severity == PaymentAlert.Severity.P1 and not note:
            raise FieldValidationError(
                {"reason": [str(_("Acknowledging a P1 alert needs a note. / 确认 P1 告警须填写处理说明。"))]}
            )
        alert.acknowledged_at, alert.acknowledged_by = timezone.now(), actor
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "updated_at"])
        audit_record(actor=actor, action="payment_alert.acknowledge", target=alert, data={"note": note[:500]})
    return alert


def instruction_alert(instruction: Instruction, row, **kwargs) -> PaymentAlert:
    """``payment_alert`` about one row of ``instruction``."""
    return payment_alert(**instruction.alert_link(row), **kwargs)


# -- acceptance -----------------------------------------------------------------------------------


def instruction_reference_clean(instruction: Instruction, *, client: str, out_request_no) -> str:
    """The client's business reference, stripped. Raises FieldValidationError (1 to 64
    characters) or DuplicateReferenceError (the client used it already)."""
    out_request_no = str(out_request_no or "").strip()
    if not out_request_no or len(out_request_no) > 64:
        raise FieldValidationError({"out_request_no": [str(_("A business reference of 1 to 64 characters is required."))]})
    first = instruction.model.objects.filter(client=client, out_request_no=out_request_no).first()
    if first is not None:
        raise DuplicateReferenceError(out_request_no=out_request_no, id=str(first.pk))
    return out_request_no


def instruction_row_create(instruction: Instruction, *, client: str, out_request_no: str, **fields):
    """Create the row (in a savepoint, inside the acceptance transaction) and give it its request
    id. A reference taken meanwhile raises DuplicateReferenceError."""
    try:
        with transaction.atomic():
            row = instruction.model.objects.create(client=client, out_request_no=out_request_no, **fields)
    except IntegrityError as exc:
        first = instruction.model.objects.filter(client=client, out_request_no=out_request_no).first()
        raise DuplicateReferenceError(out_request_no=out_request_no, id=str(first.pk) if first else None) from exc
    row.request_id = instruction.request_id_for(row.pk)
    row.save(update_fields=["request_id", "updated_at"])
    return row


def instruction_credit_or_suspense(
    instruction: Instruction,
    row,
    *,
    client: str,
    key: str,
    kind: str,
    debits: list[tuple[int, Decimal]],
    memo: str,
    metadata: dict,
    explain,
    refusals: tuple[type[Exception], ...] = (AccountNotActiveError,),
    guards=(),
):
    """Post what ``debits`` take (internal accounts) to the row's customer account, in one
    voucher. If the account refuses it now (``refusals``: its state, a judicial credit block, its
    limits through ``guards``), post it to the suspense account instead with a P1 alert, never
    lost and never forced (R-DEP-10: allocated later by maker-checker); ``explain(exc)`` says why.
    Returns (voucher, credited to suspense)."""
    total = sum((value for _pk, value in debits), Decimal("0"))
    legs = [ledger.Leg(pk, DEBIT, value) for pk, value in debits]
    try:
        with transaction.atomic():
            transfer = ledger.post_transfer(
                client=client,
                idempotency_key=key,
                kind=kind,
                legs=[*legs, ledger.Leg(row.account_id, CREDIT, total)],
                memo=memo,
                metadata=metadata,
                guards=guards,
            )
        return transfer, False
    except refusals as exc:
        instruction_alert(
            instruction,
            row,
            kind=PaymentAlert.Kind.SUSPENSE_CREDIT,
            severity=PaymentAlert.Severity.P1,
            message=text_spec(
                _(
                    "{reference}: {why}; it is on the suspense account awaiting allocation. "
                    "/ {reference}：{why}；已记入挂账账户，待分配。"
                ),
                reference=row.request_id,
                why=explain(exc),
            ),
        )
        transfer = ledger.post_transfer(
            client=client,
            idempotency_key=key,
            kind=kind,
            legs=[*legs, ledger.Leg(internal_account_for(Role.SUSPENSE, account=row.account).pk, CREDIT, total)],
            memo=memo + " → suspense",
            metadata={**metadata, "suspense": True},
        )
        return transfer, True


def instruction_enqueue_submit(instruction: Instruction, row) -> None:
    """Submit ``row`` once the acceptance commits. Robust: a broker outage after commit must not
    turn an accepted instruction into an error answer; the row is its own outbox and
    payments_sweep submits it (STACK.md trap 10)."""
    enqueue_on_commit(instruction.submit_task, row.pk, robust=True)


def _schedule_query(instruction: Instruction, row) -> None:
    """With a broker, ask again later with backoff. Eagerly (tests, the embedded demo) nothing is
    scheduled: a query there would run at once and loop; the sweeper and the console drive them."""
    if tasks_run_eagerly():
        return
    enqueue_on_commit(instruction.query_task, row.pk, countdown=conf.query_backoff(row.query_attempts), robust=True)


# -- submission and queries (outside any transaction) ---------------------------------------------


@transaction.atomic(durable=True)
def instruction_begin_submit(instruction: Instruction, pk: int, *, now: dt.datetime):
    """Record a submission attempt (committed before the channel is called); None unless the row
    is in a submittable state."""
    row = instruction.model.objects.select_for_update().filter(pk=pk).first()
    if row is None or row.state not in instruction.submittable:
        return None
    row.mark_submitted()
    row.submit_attempts += 1
    row.submitted_at = row.submitted_at or now
    row.last_submitted_at = now
    row.last_activity_at = now
    row.save()
    instruction.submitted(row)
    return row


def instruction_submit(instruction: Instruction, pk: int, *, now: dt.datetime | None = None):
    """Submit (or re-submit, with the same request id) and record the answer. A no-op for a row
    that is not submittable: safe to run twice, from a task or the sweeper."""
    assert_outside_transaction()
    row = instruction_begin_submit(instruction, pk, now=now or timezone.now())
    if row is None:
        return instruction.model.objects.filter(pk=pk).first()
    try:
        answer = instruction.send(row)
    except ChannelUnavailableError as exc:
        answer = ChannelAnswer(ChannelStatus.PROCESSING, message=f"no answer: {exc}")
    return instruction_record_answer(instruction, pk, answer=answer, source=Source.RESPONSE)


def instruction_query_status(instruction: Instruction, pk: int, *, now: dt.datetime | None = None, actor=None):
    """Ask the channel about a row whose outcome is unknown (never re-submits); a no-op unless it
    is ``unknown``. Raises ChannelUnavailableError (after ``Instruction.query_failed``)."""
    assert_outside_transaction()
    row = instruction.model.objects.select_related("channel").filter(pk=pk).first()
    if row is None or row.state != row.State.UNKNOWN:
        return row
    now = now or timezone.now()
    try:
        answer = adapter_for(row.channel).query(request_id=row.request_id)
    except ChannelUnavailableError as exc:
        instruction.query_failed(pk=pk, error=str(exc), now=now)
        raise
    row = instruction_record_answer(instruction, pk, answer=answer, source=Source.QUERY, now=now, actor=actor)
    if answer.status == ChannelStatus.NOT_FOUND and _resubmit_due(row, now):
        return instruction_resubmit(instruction, pk, now=now)
    return row


def _not_found_final(row, now: dt.datetime) -> bool:
    """The channel's contract says an order it has not seen this long after submission will never
    be processed, and that long has passed since the latest submission."""
    final = row.channel.not_found_final_seconds
    last = row.last_submitted_at or row.submitted_at
    return final is not None and last is not None and now - last > dt.timedelta(seconds=final)


def _resubmit_due(row, now: dt.datetime) -> bool:
    """An unknown row the channel does not know, past the grace since its latest submission, on a
    channel without a "not found is final" contract (there, re-sending would restart its clock)."""
    last = row.last_submitted_at or row.submitted_at
    return (
        row.state == row.State.UNKNOWN
        and row.channel.not_found_final_seconds is None
        and last is not None
        and now - last > dt.timedelta(seconds=row.channel.not_found_grace_seconds)
    )


@transaction.atomic(durable=True)
def _begin_resubmit(instruction: Instruction, pk: int, *, now: dt.datetime):
    """Record a re-submission of an unknown row the channel does not know (committed before the
    channel is called); None if it was answered or re-submitted meanwhile. The row stays unknown."""
    row = instruction.model.objects.select_for_update(of=("self",)).select_related("channel").filter(pk=pk).first()
    if row is None or row.channel_status != ChannelStatus.NOT_FOUND.value or not _resubmit_due(row, now):
        return None
    row.submit_attempts += 1
    row.last_submitted_at = now
    row.last_activity_at = now
    row.save(update_fields=["submit_attempts", "last_submitted_at", "last_activity_at", "updated_at"])
    instruction.submitted(row)
    return row


def instruction_resubmit(instruction: Instruction, pk: int, *, now: dt.datetime | None = None):
    """R-WD-03: the channel still does not know an unknown row after its grace period: send it
    again with the same request id (the channel de-duplicates it, it never pays twice) and record
    the answer; the row stays unknown until a definitive one. A no-op unless that is still so."""
    assert_outside_transaction()
    now = now or timezone.now()
    row = _begin_resubmit(instruction, pk, now=now)
    if row is None:
        return instruction.model.objects.filter(pk=pk).first()
    try:
        answer = instruction.send(row)
    except ChannelUnavailableError as exc:
        answer = ChannelAnswer(ChannelStatus.PROCESSING, message=f"no answer: {exc}")
    return instruction_record_answer(instruction, pk, answer=answer, source=Source.RESPONSE, now=now)


# -- answers (under the row lock) -----------------------------------------------------------------


@transaction.atomic(durable=True)
def instruction_record_answer(
    instruction: Instruction, pk: int, *, answer: ChannelAnswer, source: str, now: dt.datetime | None = None, actor=None
):
    """Record a channel answer (or an approved manual outcome) in one transaction: the state
    change, its money and its audit rows together."""
    row = instruction.model.objects.select_for_update(of=("self",)).select_related(*instruction.related).get(pk=pk)
    instruction_apply_answer(instruction, row, answer, source=source, now=now or timezone.now(), actor=actor)
    return row


def instruction_apply_answer(
    instruction: Instruction, row, answer: ChannelAnswer, *, source: str, now: dt.datetime, actor=None
) -> str:
    """Building block (row locked by the caller): apply one answer and save the row. Returns the
    effect: ``applied``, ``no_change`` or ``contradiction``."""
    status = answer.status
    if answer.channel_txn_id and not row.channel_txn_id:
        row.channel_txn_id = answer.channel_txn_id
    if row.state in instruction.model.IN_FLIGHT or status in DEFINITIVE:
        row.channel_status = status.value  # a stale "processing" does not overwrite a final answer
    row.last_activity_at = now
    if source == Source.QUERY:
        row.query_attempts += 1
        if instruction.counts_query_errors:
            row.query_errors = 0
    if status == ChannelStatus.NOT_FOUND and row.state in (row.State.SUBMITTED, row.State.UNKNOWN) and _not_found_final(row, now):
        # Only by the channel's contract, and from the LATEST submission (R-WD-03); otherwise
        # "not found" is no answer: the row stays unknown and is re-submitted after the grace.
        status = ChannelStatus.FAILURE
        answer = ChannelAnswer(
            ChannelStatus.FAILURE,
            message=f"not found {row.channel.not_found_final_seconds} s after the last submission: channel "
            f"{row.channel.code} declares such an order final (never processed)",
        )
    if status in (ChannelStatus.SUCCESS, ChannelStatus.FAILURE):
        effect = instruction_settle(instruction, row, answer, source=source, now=now, actor=actor)
    elif status == ChannelStatus.RETURNED:
        effect = instruction.returned(row, answer, source=source, now=now, actor=actor)
    else:
        effect = _pending(instruction, row, answer)
    row.save()
    instruction.answered(row, effect, source=source)
    if effect == APPLIED and row.state not in instruction.model.IN_FLIGHT:
        for _name, listener in instruction_outcome_listeners:
            listener(kind=instruction.kind, row=row)
    return effect


def instruction_settle(instruction: Instruction, row, answer: ChannelAnswer, *, source: str, now: dt.datetime, actor=None) -> str:
    """A definitive answer (success or failure): applied only to a row that awaits one (submitted
    or unknown); ``no_change`` where the row already reflects it; else a contradiction."""
    if row.state in instruction.settled.get(answer.status, ()):
        return NO_CHANGE
    if row.state not in (row.State.SUBMITTED, row.State.UNKNOWN):
        return instruction_contradiction(instruction, row, answer, source)
    handler = instruction.succeed if answer.status == ChannelStatus.SUCCESS else instruction.fail
    return handler(row, answer, source=source, now=now, actor=actor)


def _pending(instruction: Instruction, row, answer: ChannelAnswer) -> str:
    if row.state == row.State.SUBMITTED:
        row.mark_unknown()
        instruction.became_unknown(row, answer)
        _schedule_query(instruction, row)
        return APPLIED
    if row.state == row.State.UNKNOWN and instruction.requery_while_unknown:
        _schedule_query(instruction, row)
    return NO_CHANGE


def instruction_contradiction(instruction: Instruction, row, answer: ChannelAnswer, source: str) -> str:
    """The channel contradicts the row's state: a P1 alert, nothing moves."""
    instruction_alert(
        instruction,
        row,
        kind=PaymentAlert.Kind.CONTRADICTION,
        severity=PaymentAlert.Severity.P1,
        message=text_spec(
            _(
                "{reference} is {state} ({resolved_by}), but the channel now says {says} (by {source}). Nothing was "
                "moved: investigate. / {reference} 已是「{state}」（{resolved_by}），但通道现称「{says}」（{source}）。"
                "未做任何账务处理，请核查。"
            ),
            reference=row.request_id,
            state=row.State(row.state).label,
            resolved_by=Source(row.resolved_by).label
            if row.resolved_by in Source.values
            else (row.resolved_by or _("no source / 无来源")),
            says=text_label("status", answer.status.value),
            source=Source(source).label if source in Source.values else source,
        ),
        state=row.state,
        channel_says=answer.status.value,
        source=source,
    )
    return CONTRADICTION


def instruction_callback_apply(instruction: Instruction, row, *, callback: ChannelCallback, event, now: dt.datetime) -> str:
    """Apply a verified callback (row locked, callback row just stored); returns its outcome."""
    if event.amount != row.amount:
        instruction_alert(
            instruction,
            row,
            kind=PaymentAlert.Kind.AMOUNT_MISMATCH,
            severity=PaymentAlert.Severity.P1,
            message=text_spec(
                _(
                    "{reference}: a callback reports {reported}, the instruction is {amount}. Nothing was moved. "
                    "/ {reference}：回调报告金额 {reported}，业务金额为 {amount}。未做任何账务处理。"
                ),
                reference=row.request_id,
                reported=event.amount,
                amount=row.amount,
            ),
            callback=callback.pk,
        )
        return ChannelCallback.Outcome.AMOUNT_MISMATCH
    answer = ChannelAnswer(event.status, event.channel_txn_id, event.amount, "callback")
    effect = instruction_apply_answer(instruction, row, answer, source=Source.CALLBACK, now=now)
    return CALLBACK_OUTCOME[effect]
