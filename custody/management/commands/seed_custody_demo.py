"""Load the P2P custody demo: a live platform with its clients, loans and a platform portal user.
Run after ``seed_demo`` (it needs the console's ops/supervisor users and the simulator channels).
Safe to run twice: every step looks for what it would create first, and every money movement goes
through the ledger's services with an idempotency key or a business reference.

What it makes: the platform ``DEMO`` "P2P Demo / 演示平台" (applied by ``ops``, approved by
``supervisor``) with own funds (an opening deposit) and a margin hold on them; three lenders and a
borrower, each with a verified same-name debit card (the simulators), a transaction password and
money recharged from that card through the recharge service; standing authorisations (lenders:
bid; borrower: fee and auto_repay); a loan disbursed from three bids with its first instalment
repaid, and a loan in fundraising, partly bid; a platform user ``platform-demo`` (owner) with a
TOTP device whose otpauth:// URL is printed.

Fees and reconciliation: fee schedule v1 (whole-amount tiers on the daily pool balance, monthly
minimum 500.00) created by ``ops`` and approved by ``supervisor``, in force from the first day of
last month; v2, a draft copy in marginal mode from next month, so the history shows both modes.
Every closed business date from the first of last month to yesterday is accrued (``fees_accrue``
from the ledger's entries before each cut-off) and last month's invoice is issued (not collected).
Since vouchers are never backdated, the pool was empty on those days: the accruals are honest
zeros and the invoice is the monthly minimum top-up. Two daily files go through the
reconciliation service: yesterday's, written from the bank's own records and day-end balances
(reconciled), and the day before's with a recharge the bank never saw (unreconciled, one long).
The fee and reconciliation steps run once per demo platform: a rerun on a later day adds nothing.

History: vouchers are never backdated, so the portal's 30-day pool chart shows the days since the
demo was seeded (a flat line before). The first instalment is repaid with the service's business
date set to its due date (``today=``), as a platform's scheduled repayment would be.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from stdnum import luhn

from accounts.cards import services as cards
from accounts.cards.models import MicroDeposit
from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.models import Account, Hold
from accounts.ledger.selectors import internal_account
from accounts.parties import identity
from accounts.parties.models import Party
from accounts.parties.services import party_create, party_kyc_approve
from accounts.payments import authorisation, recharges
from accounts.payments.models import Recharge
from backoffice.dates import business_date
from custody import services
from custody.fees import selectors as fee_selectors
from custody.fees import services as fees
from custody.fees.models import FeeInvoice, FeeSchedule
from custody.loans import services as loans
from custody.loans.authorisations import standing_authorisation_grant
from custody.models import (
    Bid,
    LendingPlatform,
    Loan,
    PlatformDocument,
    PlatformUser,
    Repayment,
    StandingAuthorisation,
    SubAccount,
)
from custody.platform_users.services import platform_user_create
from custody.reconciliation import files as reconciliation_files
from custody.reconciliation import selectors as reconciliation_selectors
from custody.reconciliation.models import ReconciliationFile
from custody.reconciliation.services import reconciliation_file_import

CODE = "DEMO"
NAME = "P2P Demo / 演示平台"
ORGANISATION = {
    "name": "演示网贷信息中介有限公司 P2P Demo Co., Ltd.",
    "credit_code": identity.make_credit_code(body="91110108MA0000009"),
    "legal_representative": "孙八 Sun Ba",
}
OWN_FUNDS = Decimal("500000.00")
MARGIN = Decimal("200000.00")
# (name, role, ID number, mobile, card's last 4 digits, recharged amount). Demo identities only.
CLIENTS = [
    ("陈一 Chen Yi", "lender", dt.date(1980, 3, 2), "13800000010", "1001", Decimal("60000.00")),
    ("周二 Zhou Er", "lender", dt.date(1986, 7, 21), "13800000011", "1002", Decimal("45000.00")),
    ("吴九 Wu Jiu", "lender", dt.date(1991, 11, 9), "13800000012", "1003", Decimal("30000.00")),
    ("郑十 Zheng Shi", "borrower", dt.date(1978, 5, 30), "13800000013", "1004", Decimal("5000.00")),
]
TRANSACTION_PASSWORD = "246810"
BIG = Decimal("1000000.00")
# The disbursed loan (three bids fill it) and the loan in fundraising (two bids so far).
DISBURSED = (
    "DEMO-L1",
    "经营周转借款 Working capital",
    Decimal("60000.00"),
    [("DEMO-B1", 0, "30000.00"), ("DEMO-B2", 1, "20000.00"), ("DEMO-B3", 2, "10000.00")],
)
FUNDRAISING = (
    "DEMO-L2",
    "装修借款 Home renovation",
    Decimal("50000.00"),
    [("DEMO-B4", 0, "15000.00"), ("DEMO-B5", 1, "10000.00")],
)
PLATFORM_USER = ("platform-demo", "platform-demo-pass-2026")
SEED_CLIENT = "seed_custody_demo"
# Fee schedule v1 (approved, whole amount) and v2 (draft, marginal): (lower bound, annual %).
FEE_BANDS = [
    (Decimal("0.00"), Decimal("0.03")),
    (Decimal("1000000.00"), Decimal("0.025")),
    (Decimal("10000000.00"), Decimal("0.02")),
]
FEE_MINIMUM = Decimal("500.00")


def _card_number(last4: str) -> str:
    body = "622848" + "0" * 8 + last4
    return body + luhn.calc_check_digit(body)


class Command(BaseCommand):
    help = "Load the idempotent P2P custody demo (platform DEMO, clients, loans, platform user). Run after seed_demo."

    def handle(self, *args, **options):
        users = get_user_model().objects
        maker, checker = users.filter(username="ops").first(), users.filter(username="supervisor").first()
        if maker is None or checker is None:
            raise CommandError("run seed_demo first: the demo platform is applied by ops and approved by supervisor")
        platform = self._platform(maker, checker)
        subs = [self._client(platform, *client) for client in CLIENTS]
        lenders, borrower = subs[:3], subs[3]
        self._loan(platform, borrower, lenders, *DISBURSED, disburse=True)
        self._loan(platform, borrower, lenders, *FUNDRAISING, disburse=False)
        uri = self._platform_user(platform)
        today = business_date(timezone.now())
        self._fees(platform, maker, checker, today)
        self._reconciliation(platform, today)
        self._report(platform, uri)

    # -- the platform ----------------------------------------------------------------------------

    def _platform(self, maker, checker) -> LendingPlatform:
        platform = LendingPlatform.objects.filter(code=CODE).first()
        if platform is None:
            party = Party.objects.filter(name=ORGANISATION["name"]).first() or party_create(
                type=Party.Type.ORGANISATION, actor_label="seed_custody_demo", **ORGANISATION
            )
            if party.kyc_state == Party.KycState.PENDING_REVIEW:
                party = party_kyc_approve(party_id=party.pk, actor_label="seed_custody_demo", note="demo data")
            platform = services.platform_apply(code=CODE, name=NAME, credit_code=party.credit_code, party=party, actor=maker)
        if platform.state == LendingPlatform.State.APPLIED:
            for kind in PlatformDocument.REQUIRED_KINDS:
                if not platform.documents.filter(kind=kind).exists():
                    services.platform_document_add(platform_id=platform.pk, kind=kind, number=f"DEMO-{kind}", actor=maker)
            platform = services.platform_submit_for_review(platform_id=platform.pk, actor=maker)
        if platform.state == LendingPlatform.State.UNDER_REVIEW:
            platform = services.platform_approve(platform_id=platform.pk, actor=checker, note="demo data")
        ledger.post_transfer(
            client="seed_custody_demo",
            idempotency_key=f"opening:{CODE}:own_funds",
            kind="opening_deposit",
            legs=ledger.move(
                from_account_id=internal_account(Role.CLEARING).pk, to_account_id=platform.own_funds_id, amount=OWN_FUNDS
            ),
            memo="Demo own funds / 演示自有资金",
        )
        services.platform_margin_place(platform_id=platform.pk, amount=MARGIN, key="demo", actor=checker)
        return LendingPlatform.objects.get(pk=platform.pk)

    # -- a client: sub-account, verified card, password, recharge, standing authorisation ----------

    def _client(self, platform, name, role, born, mobile, last4, recharge) -> SubAccount:
        id_number = identity.make_id_number(address="110108", born=born, sequence=int(last4[-2:]) * 2 + 1)
        sub = SubAccount.objects.filter(platform=platform, party__name=name, role=role).select_related("account").first()
        if sub is None:
            sub = services.subaccount_open(
                platform=platform,
                role=role,
                identity_data={"type": "person", "name": name, "id_number": id_number, "mobile": mobile},
                actor_label="seed_custody_demo",
            )
        account = sub.account
        if cards.card_withdrawal_card(account=account) is None:
            card = cards.card_list(account=account).filter(state__in=["verifying", "awaiting_micro_deposit"]).first()
            if card is None:
                card = cards.card_bind(
                    account=account,
                    card_number=_card_number(last4),
                    holder_name=name,
                    id_number=id_number,
                    reserved_mobile=mobile,
                    bound_account_kind="class_i",
                    actor=None,
                )
            deposit = MicroDeposit.objects.filter(card=card).order_by("-pk").first()
            if deposit is not None and deposit.state == "init":
                # Normally sent by the after-commit task; sending here (idempotent) lets the demo go on
                # when the command runs inside a transaction (the tests).
                deposit = cards.micro_deposit_send(micro_deposit_id=deposit.pk)
            if deposit is not None and deposit.state == "awaiting_backfill":
                cards.micro_deposit_confirm(card_id=card.pk, amount=str(deposit.amount))
        party = Party.objects.get(pk=sub.party_id)
        if party.kyc_state == Party.KycState.PENDING_REVIEW:
            party_kyc_approve(party_id=party.pk, actor_label="seed_custody_demo", note="demo data")
        if not authorisation.transaction_password_is_set(party=party):
            authorisation.transaction_password_set(party_id=party.pk, password=TRANSACTION_PASSWORD)
        reference = f"DEMO-RC-{last4}"
        recharge_row = Recharge.objects.filter(client="seed_custody_demo", out_request_no=reference).first()
        if recharge_row is None:
            recharge_row = recharges.recharge_create(
                client="seed_custody_demo",
                out_request_no=reference,
                account=Account.objects.get(pk=account.pk),
                amount=recharge,
                authorization={"method": "password", "password": TRANSACTION_PASSWORD},
                actor_label="seed_custody_demo",
            )
        if recharge_row.state == Recharge.State.CREATED:
            recharges.recharge_submit(recharge_id=recharge_row.pk)  # idempotent, as above
        types = ["bid"] if role == "lender" else ["fee", "auto_repay"]
        if not StandingAuthorisation.objects.filter(grantor=sub, revoked_at__isnull=True).exists():
            standing_authorisation_grant(
                grantor=sub,
                instruction_types=types,
                per_instruction_max=BIG,
                cumulative_max=BIG,
                expires_at=timezone.now() + dt.timedelta(days=365),
                granted_via="seed_custody_demo",
            )
        return SubAccount.objects.select_related("account", "party").get(pk=sub.pk)

    # -- loans -------------------------------------------------------------------------------------

    def _loan(self, platform, borrower, lenders, reference, title, amount, bids, *, disburse: bool) -> Loan:
        loan = Loan.objects.filter(platform=platform, out_request_no=reference).first()
        if loan is None:
            loan = loans.loan_create(
                platform=platform,
                borrower_number=borrower.account.number,
                amount=amount,
                title=title,
                annual_rate=Decimal("0.10"),
                term_months=6,
                method="equal_instalment",
                fundraising_deadline=timezone.now() + dt.timedelta(days=10),
                service_fee_rate=Decimal("0.01"),
                out_request_no=reference,
            )
        for bid_reference, index, bid_amount in bids:
            if not Bid.objects.filter(platform=platform, out_request_no=bid_reference).exists():
                lender = lenders[index]
                auth = StandingAuthorisation.objects.filter(grantor=lender, revoked_at__isnull=True).order_by("pk").first()
                loans.bid_place(
                    loan_id=loan.pk,
                    platform=platform,
                    lender_number=lender.account.number,
                    amount=Decimal(bid_amount),
                    out_request_no=bid_reference,
                    authorization={"method": "standing", "id": auth.pk},
                )
        if not disburse:
            return loan
        borrower_auth = StandingAuthorisation.objects.filter(grantor=borrower, revoked_at__isnull=True).order_by("pk").first()
        loan = Loan.objects.get(pk=loan.pk)
        if loan.state == Loan.State.FULL:
            loans.loan_disburse(loan_id=loan.pk, platform=platform, authorization={"method": "standing", "id": borrower_auth.pk})
        first = loan.instalments.order_by("number").first()
        if first is not None and not Repayment.objects.filter(instalment=first).exists():
            loans.instalment_repay(
                loan_id=loan.pk,
                platform=platform,
                payer_number=borrower.account.number,
                out_request_no=f"{reference}-R1",
                authorization={"method": "standing", "id": borrower_auth.pk},
                today=first.due_date,
            )
        return Loan.objects.get(pk=loan.pk)

    # -- custody fees: two schedules, a month of accruals, last month's invoice ---------------------

    def _fees(self, platform, maker, checker, today: dt.date) -> None:
        if FeeSchedule.objects.filter(platform=platform).exists():
            return  # once per demo platform (a rerun on a later day adds nothing)
        this_month = fee_selectors.month_start(today)
        last_month = fee_selectors.month_start(this_month - dt.timedelta(days=1))
        v1 = fees.fee_schedule_create(
            platform=platform,
            bands=FEE_BANDS,
            actor=maker,
            basis=FeeSchedule.Basis.DAILY_POOL_BALANCE,
            mode=FeeSchedule.Mode.WHOLE_AMOUNT,
            day_count=FeeSchedule.DayCount.DAYS_365,
            rounding=FeeSchedule.Rounding.AT_INVOICE,
            monthly_minimum=FEE_MINIMUM,
            per_withdrawal_payer=FeeSchedule.Payer.USER,
            effective_from=last_month,
        )
        fees.fee_schedule_submit(schedule_id=v1.pk, actor=maker)
        fees.fee_schedule_approve(schedule_id=v1.pk, actor=checker, note="demo data")
        v2 = fees.fee_schedule_new_version(schedule_id=v1.pk, effective_from=fee_selectors.next_month(this_month), actor=maker)
        fees.fee_schedule_update(schedule_id=v2.pk, mode=FeeSchedule.Mode.MARGINAL, actor=maker)
        fees.invoice_issue(platform=platform, month=last_month, actor=maker, as_of=today)  # accrues last month first
        day = this_month
        while day < today:
            fees.fees_accrue(platform=platform, business_date=day, as_of=today)
            day += dt.timedelta(days=1)

    # -- reconciliation: one reconciled day, one unreconciled -------------------------------------

    def _daily_file(self, platform, day: dt.date, extra: list[str]) -> bytes:
        """The platform's file for ``day`` as its books would agree with the bank's: the bank's
        succeeded records moved that day and every sub-account's day-end balance, plus ``extra``."""
        lines = [",".join(reconciliation_files.HEADER)]
        records = reconciliation_selectors.bank_records_on(platform=platform, day=day)
        for (kind, reference), record in sorted(records.items()):
            if record.state == "succeeded":
                lines.append(f"instruction,{day},{kind},{reference},{record.sub_account},{record.amount:.2f},succeeded")
        accounts = reconciliation_selectors.subaccount_numbers(platform=platform)
        for number, balance in sorted(reconciliation_selectors.day_end_balances(accounts=accounts, day=day).items()):
            lines.append(f"balance,{day},,,{number},{balance:.2f},")
        lines.extend(line.format(day=day) for line in extra)
        return ("\n".join(lines) + "\n").encode("utf-8")

    def _reconciliation(self, platform, today: dt.date) -> None:
        if ReconciliationFile.objects.filter(platform=platform, client=SEED_CLIENT).exists():
            return  # once per demo platform
        lender = SubAccount.objects.filter(platform=platform, role="lender").select_related("account").order_by("pk").first()
        for day, extra in (
            (
                today - dt.timedelta(days=2),
                [f"instruction,{{day}},recharge,DEMO-RC-UNKNOWN,{lender.account.number},100.00,succeeded"],
            ),
            (today - dt.timedelta(days=1), []),
        ):
            reconciliation_file_import(
                platform=platform,
                content=self._daily_file(platform, day, extra),
                source=ReconciliationFile.Source.API,
                client=SEED_CLIENT,
            )

    # -- the platform portal user --------------------------------------------------------------------

    def _platform_user(self, platform) -> str:
        username, password = PLATFORM_USER
        platform_user = PlatformUser.objects.filter(user__username=username).select_related("user").first()
        if platform_user is None:
            _platform_user, uri = platform_user_create(
                platform=platform, username=username, password=password, role="owner", actor_label="seed_custody_demo"
            )
            return uri
        device = TOTPDevice.objects.filter(user=platform_user.user, confirmed=True).order_by("pk").first()
        return device.config_url if device else ""

    def _report(self, platform, uri: str) -> None:
        base = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        username, password = PLATFORM_USER
        self.stdout.write(f"Custody demo loaded: platform {platform.code} {platform.name} ({platform.get_state_display()}).")
        self.stdout.write(f"  platform portal {base}/portal/custody/platform/login/ (demo only, never in production)")
        self.stdout.write(f"    {username:<15} {password:<28} (owner) + the code of this TOTP key:")
        self.stdout.write(f"    {uri}")
        self.stdout.write("    (scan it into an authenticator app, or: oathtool --totp -b <secret>)")
        self.stdout.write(f"    clients' transaction password: {TRANSACTION_PASSWORD}")
        for sub in SubAccount.objects.filter(platform=platform).select_related("account", "party").order_by("pk"):
            self.stdout.write(
                f"    {sub.get_role_display():<20} {sub.account.number} {sub.party.name} balance {sub.account.balance:.2f}"
            )
        margin = Hold.objects.filter(account_id=platform.own_funds_id, reason=Hold.Reason.MARGIN, state=Hold.State.ACTIVE)
        own = Account.objects.get(pk=platform.own_funds_id)
        self.stdout.write(f"    own funds {own.number} balance {own.balance:.2f}, margin {sum(h.amount for h in margin):.2f}")
        in_force = fee_selectors.schedule_in_force(platform=platform, day=business_date(timezone.now()))
        if in_force is not None:
            self.stdout.write(f"    fee schedule in force: v{in_force.version} {in_force.get_mode_display()}")
        for invoice in FeeInvoice.objects.filter(platform=platform).order_by("month"):
            self.stdout.write(f"    invoice {invoice.number} {invoice.total:.2f} ({invoice.get_state_display()})")
        for day in reconciliation_selectors.reconciliation_days(platform=platform)[:5]:
            self.stdout.write(f"    reconciliation {day.business_date} {day.get_state_display()}")
