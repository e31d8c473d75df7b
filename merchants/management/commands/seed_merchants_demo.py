"""Load the merchant acquiring demo: an active merchant with payments, a refund, a settled batch and
a merchant portal user with TOTP. Run after ``seed_demo`` (it needs the console's ops/supervisor
users and the simulator channels). Safe to run twice: every step looks for what it would create
first; payments and refunds carry the merchant's own references (R-REF-02), the settlement batch is
unique per merchant, channel and business date, and money moves only through the services.

What it makes: the merchant "演示商户 Demo Shop" (applied by ``ops``, approved by ``supervisor``),
MDR 0.6 % for every method, T+1, a 5 % rolling reserve released after 30 days, its corporate
settlement account (bound by ``ops``, verified by ``supervisor``) and its standing settlement
authorisation (carried by the application, recorded by the approval); three payments today (one
with a platform coupon) and a partial refund; today's
settlement batch run through 清分 → 清算 (the simulator's real clearing file) → 结算 at once (a
demo shortcut: the beat settles on T+1) with its payout; the owner ``shop-owner`` with a TOTP device
whose otpauth:// URL is printed.
"""

from __future__ import annotations

import datetime as dt
import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.cards import services as cards
from accounts.parties import identity
from accounts.parties.models import Party
from accounts.parties.services import party_kyc_approve
from backoffice.dates import business_date
from merchants import onboarding, payments, payouts, refunds, settlement
from merchants.models import Merchant, MerchantPayout, MerchantUser, Payment, Refund, SettlementBatch
from merchants.users import merchant_user_create

NAME = "演示商户 Demo Shop"
CREDIT_CODE = identity.make_credit_code(body="91110108MA0000025")
ACCOUNT = ("110060149018800099887", "交通银行 Bank of Communications")
OWNER = ("shop-owner", "shop-owner-pass-2026")
CLIENT = "seed_merchants_demo"
ORDERS = [
    ("DEMO-ORDER-1", "wechat", "128.00", []),
    ("DEMO-ORDER-2", "alipay", "100.00", [{"amount": "5.00", "funder": "platform_coupon", "refundable": True}]),
    ("DEMO-ORDER-3", "unionpay", "66.60", []),
]
REFUND = ("DEMO-ORDER-1", "DEMO-REFUND-1", "28.00")


class Command(BaseCommand):
    help = "Load the merchant acquiring demo (merchant, payments, a refund, a settled batch, a portal user with TOTP)."

    def handle(self, *args, **options):
        users = get_user_model().objects
        maker, checker = users.filter(username="ops").first(), users.filter(username="supervisor").first()
        if maker is None or checker is None:
            raise CommandError("run seed_demo first: the demo merchant is applied by ops and approved by supervisor")
        merchant = self._merchant(maker, checker)
        for number, method, amount, discounts in ORDERS:
            if not Payment.objects.filter(merchant=merchant, out_trade_no=number).exists():
                payments.payment_create(
                    merchant_id=merchant.pk,
                    client=CLIENT,
                    out_trade_no=number,
                    method=method,
                    order_amount=amount,
                    discounts=discounts,
                    actor_label=CLIENT,
                )
        # Submitted after commit (inline tasks); driven here too, so the demo never depends on a worker
        # (a no-op for a row already answered: the lifecycle's submission is idempotent).
        for pk in Payment.objects.filter(merchant=merchant, state=Payment.State.CREATED).values_list("pk", flat=True):
            payments.payment_submit(payment_id=pk)
        order, number, amount = REFUND
        payment = Payment.objects.get(merchant=merchant, out_trade_no=order)
        if not Refund.objects.filter(merchant=merchant, out_refund_no=number).exists():
            refunds.refund_create(
                payment_id=payment.pk, client=CLIENT, out_refund_no=number, amount=amount, reason="demo", actor_label=CLIENT
            )
        for pk in Refund.objects.filter(merchant=merchant, state=Refund.State.CREATED).values_list("pk", flat=True):
            refunds.refund_submit(refund_id=pk)
        batch = self._settle(merchant, payment.channel, payment.business_date)
        for pk in MerchantPayout.objects.filter(merchant=merchant, state=MerchantPayout.State.CREATED).values_list(
            "pk", flat=True
        ):
            payouts.payout_submit(payout_id=pk)
        uri = self._owner(merchant)
        self._report(merchant, batch, uri)

    def _merchant(self, maker, checker) -> Merchant:
        merchant = Merchant.objects.filter(credit_code=CREDIT_CODE).exclude(state=Merchant.State.CLOSED).first()
        if merchant is None:
            merchant = onboarding.merchant_apply(
                name=NAME,
                credit_code=CREDIT_CODE,
                legal_representative="王五 Wang Wu",
                settlement_cycle_days=1,
                reserve_rate="0.05",
                reserve_release_days=30,
                authorisation_reference="DEMO-SA-1",
                authorisation_signed_on=dt.date(2026, 1, 5),
                authorisation_signatory="王五 Wang Wu",
                actor=maker,
            )
        if merchant.party.kyc_state == Party.KycState.PENDING_REVIEW:
            party_kyc_approve(party_id=merchant.party_id, actor_label=CLIENT, note="demo data")
        if merchant.state == Merchant.State.APPLIED:
            merchant = onboarding.merchant_submit_for_review(merchant_id=merchant.pk, actor=maker)
        if merchant.state == Merchant.State.APPLIED and not merchant.authorisation_reference:
            # An application recorded by an older seed: it carries the authorisation now.
            merchant = onboarding.merchant_authorisation_set(
                merchant_id=merchant.pk,
                reference="DEMO-SA-1",
                signed_on=dt.date(2026, 1, 5),
                signatory="王五 Wang Wu",
                actor=maker,
            )
        if merchant.state == Merchant.State.KYC_REVIEW:
            merchant = onboarding.merchant_approve(merchant_id=merchant.pk, actor=checker)
        if not merchant.fee_rates.exists():
            for method in ("wechat", "alipay", "unionpay", "card"):
                onboarding.merchant_fee_rate_set(
                    merchant_id=merchant.pk, method=method, rate="0.006", effective_from=dt.date(2020, 1, 1), actor=maker
                )
        merchant = Merchant.objects.get(pk=merchant.pk)
        if merchant.settlement_card_id is None:
            card = onboarding.merchant_settlement_bind(
                merchant_id=merchant.pk, account_number=ACCOUNT[0], bank_name=ACCOUNT[1], verification="operator", actor=maker
            )
            cards.corporate_account_verify(card_id=card.pk, actor=checker, evidence="开户许可证 account licence (demo)")
        return Merchant.objects.get(pk=merchant.pk)

    def _settle(self, merchant, channel, day) -> SettlementBatch:
        """清分 → 清算 → 结算 of the payments' business date, at once (the beat would settle on T+1)."""
        batch = settlement.batch_open(merchant=merchant, channel=channel, business_date=day)
        settlement.batch_clear(batch_id=batch.pk)
        settlement.batch_reconcile(batch_id=batch.pk)
        return settlement.batch_settle(batch_id=batch.pk)

    def _owner(self, merchant) -> str:
        username, password = OWNER
        merchant_user = MerchantUser.objects.filter(user__username=username).select_related("user").first()
        if merchant_user is None:
            _user, uri = merchant_user_create(
                merchant=merchant, username=username, password=password, role="owner", actor_label=CLIENT
            )
            return uri
        device = TOTPDevice.objects.filter(user=merchant_user.user, confirmed=True).order_by("pk").first()
        return device.config_url if device else ""

    def _report(self, merchant, batch, uri: str) -> None:
        base = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        username, password = OWNER
        self.stdout.write(f"Merchants demo loaded: merchant {merchant.pk} {merchant.name} ({merchant.get_state_display()}).")
        self.stdout.write(f"  merchant portal {base}/portal/merchants/login/ (demo only, never in production)")
        self.stdout.write(f"    {username:<15} {password:<28} (owner) + the code of this TOTP key:")
        self.stdout.write(f"    {uri}")
        self.stdout.write("    (scan it into an authenticator app, or: oathtool --totp -b <secret>)")
        self.stdout.write(
            f"    settlement {batch.business_date} {batch.get_state_display()}: net {batch.net_amount:.2f}, reserve "
            f"{batch.reserve_amount:.2f}, to available {batch.available_amount:.2f}; today {business_date(timezone.now())}"
        )
