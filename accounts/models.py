"""Every model of the ``accounts`` app, re-exported by name (Zulip's ``zerver/models/__init__.py`` style).

Django imports this module to find the app's models; faces, tasks and tests may import models from
here. Domain packages import from their own ``models`` module or a lower package's, never from
here (it would pull every domain into the ledger).
"""

from accounts.cards.models import (
    BinEntry,
    BoundCard,
    CardType,
    Holiday,
    MicroDeposit,
    OneTimeCode,
    SmsMessage,
)
from accounts.exports.models import ExportJob
from accounts.ledger.models import (
    Account,
    CheckpointBalance,
    Entry,
    Hold,
    LedgerCheckpoint,
    Subject,
    Transfer,
)
from accounts.limits.models import (
    KycTask,
    LimitBucket,
    LimitCounter,
    LimitPeriod,
    LimitRule,
    LimitRuleSet,
    LimitTier,
)
from accounts.parties.models import (
    AccountOpeningOverride,
    Party,
)
from accounts.payments.models import (
    Channel,
    ChannelCallback,
    PaymentAlert,
    Recharge,
    TransactionPassword,
    Withdrawal,
    WithdrawalResolution,
)
from accounts.states.models import (
    DormancyNotice,
    DormancyPolicy,
    FreezeRequest,
    JudicialDeduction,
    JudicialFreeze,
    JudicialFreezeRenewal,
)

__all__ = [
    "Account",
    "AccountOpeningOverride",
    "BinEntry",
    "BoundCard",
    "CardType",
    "CheckpointBalance",
    "Channel",
    "ChannelCallback",
    "DormancyNotice",
    "DormancyPolicy",
    "Entry",
    "ExportJob",
    "FreezeRequest",
    "Hold",
    "LedgerCheckpoint",
    "Holiday",
    "JudicialDeduction",
    "JudicialFreeze",
    "JudicialFreezeRenewal",
    "KycTask",
    "LimitBucket",
    "LimitCounter",
    "LimitPeriod",
    "LimitRule",
    "LimitRuleSet",
    "LimitTier",
    "MicroDeposit",
    "OneTimeCode",
    "Party",
    "PaymentAlert",
    "Recharge",
    "SmsMessage",
    "Subject",
    "TransactionPassword",
    "Transfer",
    "Withdrawal",
    "WithdrawalResolution",
]
