"""Load the demo data: parties, funded accounts, operator and portal users. Safe to run twice."""

import datetime as dt
import os
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.cards import services as cards
from accounts.cards.models import MicroDeposit
from accounts.ledger import postings as ledger
from accounts.ledger.chart import Role
from accounts.ledger.models import Account
from accounts.ledger.selectors import internal_account
from accounts.parties import identity
from accounts.parties.models import Party
from accounts.parties.services import account_open, party_create, party_kyc_approve
from accounts.payments import authorisation
from accounts.payments.models import Channel
from accounts.payments.services import channel_register
from backoffice.models import ApiClient
from backoffice.services import api_client_create

# Demo identities: ID numbers and credit codes built with a correct check character (accounts.parties.identity),
# mobiles in the 1380000xxxx demo range. Never real people's data.
PERSONS = {
    "张三 Zhang San": {"id_number": "11010519491231002X", "mobile": "13800000000"},
    "李四 Li Si": {
        "id_number": identity.make_id_number(address="310104", born=dt.date(1985, 6, 15), sequence=37),
        "mobile": "13800000001",
    },
    "王五 Wang Wu": {"id_number": "130503196704010016", "mobile": "13800000002"},
}
ORGANISATIONS = {
    "示例网贷平台 Demo Lending Platform": {
        "credit_code": identity.make_credit_code(body="91110105MA0000001"),
        "legal_representative": "赵六 Zhao Liu",
    },
    "示例商户 Demo Merchant": {
        "credit_code": identity.make_credit_code(body="91310104MA0000002"),
        "legal_representative": "钱七 Qian Qi",
    },
}
PARTIES = [
    # (name, type, role, tier, opening balance)
    ("张三 Zhang San", Party.Type.PERSON, Role.LENDER, Account.Tier.CLASS_I, Decimal("50000.00")),
    ("李四 Li Si", Party.Type.PERSON, Role.BORROWER, Account.Tier.CLASS_I, Decimal("1200.00")),
    ("王五 Wang Wu", Party.Type.PERSON, Role.LENDER, Account.Tier.CLASS_I, Decimal("8800.00")),
    (
        "示例网贷平台 Demo Lending Platform",
        Party.Type.ORGANISATION,
        Role.PLATFORM_OWN,
        Account.Tier.CORPORATE,
        Decimal("300000.00"),
    ),
    ("示例商户 Demo Merchant", Party.Type.ORGANISATION, Role.MERCHANT, Account.Tier.CORPORATE, Decimal("18000.00")),
]
OPERATORS = [
    ("ops", "operator", "ops-demo-pass-2026"),
    ("supervisor", "supervisor", "supervisor-demo-pass-2026"),
    ("auditor", "auditor", "auditor-demo-pass-2026"),
]
PORTAL_USERS = [
    ("zhangsan", "张三 Zhang San", "portal-demo-pass-2026"),
    ("merchant", "示例商户 Demo Merchant", "merchant-demo-pass-2026"),
]
DEMO_CLIENT = "demo-partner-bank"
# The simulator channels (in process): one per withdrawal strategy; the lower priority is used.
CHANNELS = [
    ("sim", "模拟通道（冻结） Simulator, freeze", Channel.Strategy.FREEZE, Decimal("1.00"), 10),
    ("sim-transit", "模拟通道（过渡户） Simulator, transit", Channel.Strategy.TRANSIT, Decimal("2.00"), 20),
]
# 张三's bound debit card (DOMAIN.md §2.4 test number) and transaction password, for the portal demo.
DEMO_CARD = ("张三 Zhang San", "6228480402564890018")
DEMO_TRANSACTION_PASSWORD = "135790"


class Command(BaseCommand):
    help = "Load idempotent demo data (parties, funded accounts, ops/supervisor/auditor and portal users)."

    def handle(self, *args, **options):
        clearing = internal_account(Role.CLEARING)
        for name, ptype, role, tier, opening in PARTIES:
            identity = PERSONS[name] if ptype == Party.Type.PERSON else ORGANISATIONS[name]
            party = Party.objects.filter(name=name).first() or party_create(
                type=ptype, name=name, actor_label="seed_demo", **identity
            )
            if party.kyc_state == Party.KycState.PENDING_REVIEW:
                party = party_kyc_approve(party_id=party.pk, actor_label="seed_demo", note="demo data")
            account = Account.objects.filter(party=party, role=role).first() or account_open(
                party=party, role=role, tier=tier, actor_label="seed_demo"
            )
            ledger.post_transfer(
                client="seed_demo",
                idempotency_key=f"opening:{account.number}",
                kind="opening_deposit",
                legs=ledger.move(from_account_id=clearing.pk, to_account_id=account.pk, amount=opening),
                memo="Demo opening deposit / 演示开户存入",
            )
        user_model = get_user_model()
        with transaction.atomic():
            for username, group, password in OPERATORS:
                user, _ = user_model.objects.get_or_create(username=username, defaults={"is_staff": True})
                user.is_staff = True
                user.set_password(password)
                user.save()
                user.groups.set([Group.objects.get(name=group)])
            for username, party_name, password in PORTAL_USERS:
                user, _ = user_model.objects.get_or_create(username=username)
                user.set_password(password)
                user.save()
                Party.objects.get(name=party_name).portal_users.add(user)
        for code, name, strategy, fee, priority in CHANNELS:
            if not Channel.objects.filter(code=code).exists():
                channel_register(
                    code=code,
                    name=name,
                    withdrawal_strategy=strategy,
                    withdrawal_fee=fee,
                    priority=priority,
                    callback_secret=f"demo-{code}-callback-secret",
                )
        self._demo_card()
        client = ApiClient.objects.filter(name=DEMO_CLIENT).first()
        if client is None:
            client, _secret = api_client_create(name=DEMO_CLIENT, scopes=["*"])
        base = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        self.stdout.write("Demo data loaded. Sign in with (demo only, never in production):")
        self.stdout.write(f"  console  {base}/admin/")
        for username, group, password in OPERATORS:
            self.stdout.write(f"    {username:<11} {password:<28} ({group})")
        self.stdout.write(f"  portal   {base}/portal/")
        for username, party_name, password in PORTAL_USERS:
            self.stdout.write(f"    {username:<11} {password:<28} ({party_name})")
        self.stdout.write(f"    transaction password of {DEMO_CARD[0]}: {DEMO_TRANSACTION_PASSWORD} (withdrawals, recharges)")
        self.stdout.write(f"  API      client_id={client.client_id} secret={client.secret} (demo client, scope *)")
        for account in Account.objects.filter(kind=Account.Kind.CUSTOMER).order_by("pk"):
            self.stdout.write(f"    account {account.number} {account.name} balance {account.balance:.2f}")

    def _demo_card(self) -> None:
        """Bind and verify 张三's debit card (element check and micro-deposit by the simulators)
        and set the transaction password, once."""
        name, number = DEMO_CARD
        party = Party.objects.get(name=name)
        account = Account.objects.filter(party=party).order_by("pk").first()
        if cards.card_withdrawal_card(account=account) is None:
            card = cards.card_list(account=account).filter(state__in=["verifying", "awaiting_micro_deposit"]).first()
            if card is None:
                card = cards.card_bind(
                    account=account,
                    card_number=number,
                    holder_name=name,
                    id_number=PERSONS[name]["id_number"],
                    reserved_mobile=PERSONS[name]["mobile"],
                    bound_account_kind="class_i",
                    actor=None,
                )
            deposit = MicroDeposit.objects.filter(card=card).order_by("-pk").first()
            if deposit is not None and deposit.state == "awaiting_backfill":
                cards.micro_deposit_confirm(card_id=card.pk, amount=str(deposit.amount))
        if not authorisation.transaction_password_is_set(party=party):
            authorisation.transaction_password_set(party_id=party.pk, password=DEMO_TRANSACTION_PASSWORD)
