"""Micro-deposit verification (小额鉴权, DOMAIN.md §2.2): amount range and once a day (R-VER-06),
back-fill attempts, the working-day TTL, unknown sends resolved only by query (R-VER-07), and a
pending Class II/III account usable only after verification (R-ACC-05)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import uuid4

import pytest

from accounts.cards import services as cards
from accounts.cards.models import BoundCard, Holiday, MicroDeposit
from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.errors import AccountNotActiveError, InvalidStateError
from accounts.ledger.models import Account, Transfer
from accounts.ledger.selectors import internal_account
from accounts.tests.cards_fixtures import *  # noqa: F403
from accounts.tests.cards_fixtures import ID_LI, at, card_number
from backoffice.celery_app import app as celery_app
from backoffice.errors import FieldValidationError
from backoffice.models import AuditLog

pytestmark = pytest.mark.django_db


def _deposit(card) -> MicroDeposit:
    return MicroDeposit.objects.filter(card=card).order_by("-pk").first()


def _card(card) -> BoundCard:
    return BoundCard.objects.get(pk=card.pk)


@pytest.fixture
def bound(open_account, bind, django_capture_on_commit_callbacks):
    """Bind a card and run the on-commit send task (eager): returns (account, card, deposit)."""

    def do(tier="II", number=None, account=None, **kwargs):
        account = account or open_account(tier)
        with django_capture_on_commit_callbacks(execute=True):
            card = bind(account, number or card_number(), **kwargs)
        return account, _card(card), _deposit(card)

    return do


def _wrong(amount: Decimal) -> str:
    return str(amount + Decimal("0.01") if amount < Decimal("0.50") else amount - Decimal("0.01"))


# -- R-VER-06 amount -------------------------------------------------------------------------------


def test_r_ver_06_amount_is_in_0_00_exclusive_to_0_50_inclusive():
    assert cards.micro_deposit_amount(randbelow=lambda n: 0) == Decimal("0.01")
    assert cards.micro_deposit_amount(randbelow=lambda n: n - 1) == Decimal("0.50")
    amounts = {cards.micro_deposit_amount() for _ in range(3000)}
    assert min(amounts) > Decimal("0.00") and max(amounts) <= Decimal("0.50")
    assert all(a == a.quantize(Decimal("0.01")) for a in amounts)
    assert len(amounts) > 40  # random, not constant


def test_r_ver_06_max_amount_is_configuration(settings):
    settings.ACCOUNTS_MICRODEPOSIT_MAX_AMOUNT = "0.30"
    assert cards.micro_deposit_amount(randbelow=lambda n: n - 1) == Decimal("0.30")


# -- sending and the ledger --------------------------------------------------------------------------


def test_accepted_send_posts_once_through_the_ledger_and_texts_the_holder(bound, sim):
    marketing_before = internal_account(Role.MARKETING).balance
    clearing_before = internal_account(Role.CLEARING).balance
    account, card, deposit = bound()

    assert deposit.state == MicroDeposit.State.AWAITING_BACKFILL and deposit.sent_on is not None
    transfer = Transfer.objects.get(client="accounts.micro_deposit", idempotency_key=f"microdeposit:{deposit.pk}")
    assert deposit.transfer_id == transfer.pk and transfer.amount == deposit.amount and transfer.kind == "micro_deposit"
    assert internal_account(Role.MARKETING).balance == marketing_before + deposit.amount
    assert internal_account(Role.CLEARING).balance == clearing_before - deposit.amount
    assert len(sim.calls_of("send_micro_deposit")) == 1
    sms = cards.sms_outbox(account=account).get()
    assert sms.mobile_masked == "138****0000" and card.last4 in sms.text and str(deposit.amount) not in sms.text

    # a repeated task run (redelivery) neither re-sends nor re-posts
    celery_app.tasks["accounts.micro_deposit_send"].delay(deposit.pk)
    assert len(sim.calls_of("send_micro_deposit")) == 1
    assert Transfer.objects.filter(kind="micro_deposit").count() == 1
    actions = list(cards.card_history(card=card).values_list("action", flat=True))
    assert actions[-3:] == ["micro_deposit.submit", "micro_deposit.accept", "micro_deposit.acknowledge"]
    assert not any(str(deposit.amount) in str(row.data) for row in AuditLog.objects.filter(target_type="accounts.microdeposit"))


def test_refused_send_moves_no_money_and_can_be_retried_next_day(bound, sim):
    account, card, deposit = bound(number=card_number(digits="7070"))
    assert deposit.state == MicroDeposit.State.SEND_FAILED and deposit.transfer_id is None
    assert card.state == BoundCard.State.AWAITING_MICRO_DEPOSIT
    assert not Transfer.objects.filter(kind="micro_deposit").exists()

    retry = cards.micro_deposit_retry(card_id=card.pk)
    today = deposit.sent_on
    cards.micro_deposit_send(micro_deposit_id=retry.pk, now=at(f"{today} 12:00"))
    retry = MicroDeposit.objects.get(pk=retry.pk)
    assert retry.state == MicroDeposit.State.INIT and retry.not_before == today + dt.timedelta(days=1)


# -- R-VER-06 once per account per day ----------------------------------------------------------------


def test_r_ver_06_at_most_one_micro_deposit_per_account_per_day(open_account, bind, sim):
    account = open_account("II")
    day = at("2030-05-06 09:00")
    first = bind(account, card_number(digits="1111"), now=day)
    second = bind(account, card_number(digits="2222"), now=day)
    d1, d2 = _deposit(first), _deposit(second)

    assert cards.micro_deposit_send(micro_deposit_id=d1.pk, now=day).state == MicroDeposit.State.AWAITING_BACKFILL
    late_evening = at("2030-05-06 23:59")
    held = cards.micro_deposit_send(micro_deposit_id=d2.pk, now=late_evening)
    assert held.state == MicroDeposit.State.INIT and held.not_before == dt.date(2030, 5, 7)
    assert len(sim.calls_of("send_micro_deposit")) == 1
    assert AuditLog.objects.filter(action="micro_deposit.rate_limited", target_id=str(d2.pk)).exists()

    # the sweep picks it up once its day has come; the send goes out the next day (Shanghai time)
    assert cards.micro_deposit_sweep(now=at("2030-05-06 23:59"))["sent"] == 0
    next_day = at("2030-05-07 00:00")
    assert cards.micro_deposit_sweep(now=next_day)["sent"] == 1  # enqueued (runs with the real clock)
    assert cards.micro_deposit_send(micro_deposit_id=d2.pk, now=next_day).state == MicroDeposit.State.AWAITING_BACKFILL
    assert MicroDeposit.objects.get(pk=d2.pk).sent_on == dt.date(2030, 5, 7)


def test_r_ver_06_the_daily_quota_is_per_account(open_account, bind, person):
    day = at("2030-05-06 09:00")
    a = open_account("II")
    b = open_account("II", party=person("李四", ID_LI), name="李四", id_no=ID_LI)
    da = _deposit(bind(a, card_number(digits="1111"), now=day))
    db_ = _deposit(bind(b, card_number(digits="1111"), name="李四", id_no=ID_LI, now=day))
    assert cards.micro_deposit_send(micro_deposit_id=da.pk, now=day).state == MicroDeposit.State.AWAITING_BACKFILL
    assert cards.micro_deposit_send(micro_deposit_id=db_.pk, now=day).state == MicroDeposit.State.AWAITING_BACKFILL


# -- R-VER-06 back-fill attempts -------------------------------------------------------------------


def test_r_ver_06_third_wrong_attempt_fails_the_verification(bound):
    account, card, deposit = bound()
    wrong = _wrong(deposit.amount)
    for left in (2, 1):
        with pytest.raises(cards.MicroDepositMismatchError) as refused:
            cards.micro_deposit_confirm(card_id=card.pk, amount=wrong)
        assert refused.value.code == "micro_deposit_mismatch" and refused.value.http_status == 422
        assert refused.value.data == {"attempts_left": left}
        assert _card(card).state == BoundCard.State.AWAITING_MICRO_DEPOSIT
    with pytest.raises(cards.MicroDepositMismatchError) as refused:
        cards.micro_deposit_confirm(card_id=card.pk, amount=wrong)
    assert refused.value.data == {"attempts_left": 0}
    assert _deposit(card).state == MicroDeposit.State.FAILED
    assert (_card(card).state, _card(card).failure_reason) == (BoundCard.State.FAILED, "micro_deposit_attempts_exhausted")
    with pytest.raises(InvalidStateError):
        cards.micro_deposit_confirm(card_id=card.pk, amount=str(deposit.amount))
    assert Account.objects.get(pk=account.pk).state == Account.State.PENDING_VERIFICATION


def test_r_ver_06_right_amount_at_the_third_attempt_verifies(bound):
    account, card, deposit = bound()
    for _ in range(2):
        with pytest.raises(cards.MicroDepositMismatchError):
            cards.micro_deposit_confirm(card_id=card.pk, amount=_wrong(deposit.amount))
    verified = cards.micro_deposit_confirm(card_id=card.pk, amount=f"{deposit.amount:.2f}")
    assert verified.state == BoundCard.State.VERIFIED and verified.verified_at is not None
    assert _deposit(card).attempts == 3


def test_r_ver_06_max_attempts_is_configuration(bound, settings):
    settings.ACCOUNTS_MICRODEPOSIT_MAX_ATTEMPTS = 1
    account, card, deposit = bound()
    with pytest.raises(cards.MicroDepositMismatchError) as refused:
        cards.micro_deposit_confirm(card_id=card.pk, amount=_wrong(deposit.amount))
    assert refused.value.data == {"attempts_left": 0} and _card(card).state == BoundCard.State.FAILED


@pytest.mark.parametrize("amount", ["0.371", 0.37, "abc", "0", "-0.10"])
def test_back_filled_amount_must_be_exact_money(bound, amount):
    account, card, deposit = bound()
    with pytest.raises(FieldValidationError):
        cards.micro_deposit_confirm(card_id=card.pk, amount=amount)
    assert _deposit(card).attempts == 0


def test_confirm_before_the_money_was_sent_is_an_invalid_state(open_account, bind):
    card = bind(open_account("II"))  # the on-commit send never ran
    with pytest.raises(InvalidStateError) as refused:
        cards.micro_deposit_confirm(card_id=card.pk, amount="0.10")
    assert refused.value.data == {"state": "init"}


# -- R-VER-06 TTL in working days --------------------------------------------------------------------


@pytest.fixture
def may_2030(db):
    """Friday 2030-05-03 is a (test) public holiday."""
    Holiday.objects.create(date=dt.date(2030, 5, 3), name="test holiday", is_working_day=False)


def _sent_on_thursday(open_account, bind):
    account = open_account("II")
    sent = at("2030-05-02 10:00")  # Thursday
    card = bind(account, now=sent)
    deposit = cards.micro_deposit_send(micro_deposit_id=_deposit(card).pk, now=sent)
    return account, card, deposit


def test_r_ver_06_day_7_working_day_still_confirms_across_weekend_and_holiday(may_2030, open_account, bind):
    account, card, deposit = _sent_on_thursday(open_account, bind)
    # Fri 3 holiday, weekend; Mon 6 (1) … Fri 10 (5), weekend, Mon 13 (6), Tue 14 (7)
    assert deposit.expires_at == at("2030-05-15 00:00")
    assert cards.micro_deposit_expire_due(now=at("2030-05-14 23:59:59")) == 0
    verified = cards.micro_deposit_confirm(card_id=card.pk, amount=deposit.amount, now=at("2030-05-14 23:59:59"))
    assert verified.state == BoundCard.State.VERIFIED


def test_r_ver_06_day_8_working_day_is_expired(may_2030, open_account, bind):
    account, card, deposit = _sent_on_thursday(open_account, bind)
    with pytest.raises(cards.MicroDepositExpiredError):
        cards.micro_deposit_confirm(card_id=card.pk, amount=deposit.amount, now=at("2030-05-15 09:00"))
    assert _deposit(card).state == MicroDeposit.State.EXPIRED
    assert (_card(card).state, _card(card).failure_reason) == (BoundCard.State.EXPIRED, "micro_deposit_expired")
    assert Account.objects.get(pk=account.pk).state == Account.State.PENDING_VERIFICATION


def test_r_ver_06_beat_job_expires_at_the_end_of_the_7th_working_day(may_2030, open_account, bind):
    account, card, deposit = _sent_on_thursday(open_account, bind)
    assert cards.micro_deposit_expire_due(now=at("2030-05-15 00:00")) == 1
    assert _deposit(card).state == MicroDeposit.State.EXPIRED and _card(card).state == BoundCard.State.EXPIRED
    assert cards.micro_deposit_expire_due(now=at("2030-05-16 00:00")) == 0  # idempotent


def test_r_ver_06_ttl_is_configuration(may_2030, open_account, bind, settings):
    settings.ACCOUNTS_MICRODEPOSIT_TTL_WORKING_DAYS = 1
    account, card, deposit = _sent_on_thursday(open_account, bind)
    assert deposit.expires_at == at("2030-05-07 00:00")  # Mon 6 is the first working day


# -- R-VER-07 unknown sends -----------------------------------------------------------------------------


def test_r_ver_07_unknown_send_is_resolved_by_query_not_resent(bound, sim):
    account, card, deposit = bound(number=card_number(digits="8080"))
    assert len(sim.calls_of("send_micro_deposit")) == 1
    assert len(sim.calls_of("query_micro_deposit")) == 1
    assert deposit.state == MicroDeposit.State.AWAITING_BACKFILL and deposit.query_attempts == 1
    assert Transfer.objects.filter(kind="micro_deposit").count() == 1
    assert cards.micro_deposit_confirm(card_id=card.pk, amount=deposit.amount).state == BoundCard.State.VERIFIED


def test_r_ver_07_query_finding_a_failure_moves_no_money(bound, sim):
    account, card, deposit = bound(number=card_number(digits="8081"))
    assert deposit.state == MicroDeposit.State.SEND_FAILED and deposit.transfer_id is None
    assert len(sim.calls_of("send_micro_deposit")) == 1


def test_r_ver_07_never_resent_while_the_outcome_stays_unknown(bound, sim, settings):
    settings.ACCOUNTS_MICRODEPOSIT_QUERY_MAX_ATTEMPTS = 4
    account, card, deposit = bound(number=card_number(digits="8082"))
    assert deposit.state == MicroDeposit.State.SEND_UNKNOWN
    assert len(sim.calls_of("query_micro_deposit")) == 4 and deposit.query_attempts == 4
    assert AuditLog.objects.filter(action="micro_deposit.query_exhausted", target_id=str(deposit.pk)).exists()

    cards.micro_deposit_send(micro_deposit_id=deposit.pk)  # a duplicate task
    with pytest.raises(InvalidStateError) as refused:
        cards.micro_deposit_retry(card_id=card.pk)
    assert refused.value.data == {"state": "send_unknown"}
    far_future = deposit.expires_at + dt.timedelta(days=30)
    assert cards.micro_deposit_expire_due(now=far_future) == 0  # resolved by query first, not expired
    assert len(sim.calls_of("send_micro_deposit")) == 1
    assert not Transfer.objects.filter(kind="micro_deposit").exists()

    # the sweep keeps asking; once the channel answers, the flow goes on
    from accounts.cards.provider import SENT, QueryResult

    sim.script_queries(deposit.request_id, QueryResult(SENT))
    stale = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    assert cards.micro_deposit_sweep(now=stale)["queried"] == 1
    assert _deposit(card).state == MicroDeposit.State.AWAITING_BACKFILL
    assert len(sim.calls_of("send_micro_deposit")) == 1


def test_r_ver_07_not_found_counts_as_failed_only_after_the_grace_period(bound, sim, settings):
    settings.ACCOUNTS_MICRODEPOSIT_QUERY_MAX_ATTEMPTS = 2
    account, card, deposit = bound(number=card_number(digits="8083"))
    assert deposit.state == MicroDeposit.State.SEND_UNKNOWN  # not found, but just submitted
    grace_end = deposit.submitted_at + dt.timedelta(seconds=300)
    assert cards.micro_deposit_query(micro_deposit_id=deposit.pk, now=grace_end - dt.timedelta(seconds=1)).state == "send_unknown"
    assert cards.micro_deposit_query(micro_deposit_id=deposit.pk, now=grace_end).state == MicroDeposit.State.SEND_FAILED
    assert len(sim.calls_of("send_micro_deposit")) == 1


class ExplodingProvider:
    def verify_elements(self, **kwargs):
        from accounts.cards.provider import BOUND_BANK, CONFIRMED, ElementsResult

        return ElementsResult(CONFIRMED, BOUND_BANK, bound_account_kind=kwargs["bound_account_kind"])

    def send_micro_deposit(self, **kwargs):
        raise TimeoutError("channel timed out")

    def query_micro_deposit(self, **kwargs):
        raise ConnectionError("channel down")


def test_r_ver_07_a_crashing_channel_leaves_the_send_unknown(bound, settings):
    settings.ACCOUNTS_VERIFICATION_PROVIDER = "accounts.tests.cards.test_microdeposit_flow.ExplodingProvider"
    settings.ACCOUNTS_MICRODEPOSIT_QUERY_MAX_ATTEMPTS = 1
    account, card, deposit = bound()
    assert deposit.state == MicroDeposit.State.SEND_UNKNOWN and deposit.query_attempts == 1


# -- R-ACC-05 pending until verified ------------------------------------------------------------------


def _post(account_from, account_to, amount="10.00"):
    return ledger.post_transfer(
        client="test",
        idempotency_key=str(uuid4()),
        kind="test",
        legs=ledger.move(from_account_id=account_from.pk, to_account_id=account_to.pk, amount=Decimal(amount)),
    )


@pytest.mark.parametrize("tier", ["II", "III"])
def test_r_acc_05_pending_account_rejects_inflow_and_outflow_until_micro_deposit_confirmed(
    tier, open_account, bound, clearing, reload
):
    account = open_account(tier)
    assert account.state == Account.State.PENDING_VERIFICATION
    with pytest.raises(AccountNotActiveError) as refused:
        _post(clearing, account)
    assert refused.value.data["direction"] == "inflow"
    with pytest.raises(AccountNotActiveError) as refused:
        _post(account, clearing)
    assert refused.value.data["direction"] == "outflow"

    # elements confirmed and the money sent: still pending
    account, card, deposit = bound(account=account)
    assert reload(account).state == Account.State.PENDING_VERIFICATION
    with pytest.raises(AccountNotActiveError):
        _post(clearing, account)
    with pytest.raises(cards.MicroDepositMismatchError):
        cards.micro_deposit_confirm(card_id=card.pk, amount=_wrong(deposit.amount))
    assert reload(account).state == Account.State.PENDING_VERIFICATION

    cards.micro_deposit_confirm(card_id=card.pk, amount=deposit.amount)
    account = reload(account)
    assert account.state == Account.State.ACTIVE
    activation = AuditLog.objects.get(action="account.activate", target_id=str(account.pk))
    assert activation.data == {
        "from": "pending_verification",
        "to": "active",
        "reason": "micro_deposit_verified",
        "card": card.pk,
    }
    _post(clearing, account, "100.00")
    _post(account, clearing, "40.00")
    assert reload(account).balance == Decimal("60.00")
    assert cards.card_withdrawal_card(account=account).pk == card.pk


def test_r_acc_05_verification_of_an_active_account_leaves_it_active(bound, reload):
    account, card, deposit = bound(tier="I")
    assert account.state == Account.State.ACTIVE
    cards.micro_deposit_confirm(card_id=card.pk, amount=deposit.amount)
    assert reload(account).state == Account.State.ACTIVE
    assert not AuditLog.objects.filter(action="account.activate").exists()


# -- wiring ---------------------------------------------------------------------------------------------


def test_tasks_have_stable_names_and_beat_jobs_exist():
    from django_celery_beat.models import PeriodicTask

    for name in ("accounts.micro_deposit_send", "accounts.micro_deposit_query", "accounts.micro_deposit_expire"):
        assert name in celery_app.tasks
        assert celery_app.tasks[name].acks_late
    beat = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"accounts.micro_deposit_expire", "accounts.micro_deposit_sweep"} <= beat


def test_expire_task_runs_the_service(may_2030, open_account, bind):
    _sent_on_thursday(open_account, bind)
    assert celery_app.tasks["accounts.micro_deposit_expire"].delay().get() == 0  # real clock: 2030 is far ahead
