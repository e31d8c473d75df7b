"""Labels of the codes that refusals and channel answers carry, for people (console, portal).

The API keeps the stable codes (``data.state = "rejected"``, ``data.limit = "II_outflow_day"``);
a person reads "Rejected / 已驳回" or "Class II outflow, calendar day / 二类户…". Registered once
in ``AccountsConfig.ready()`` through ``backoffice.errors.register_display_labels``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from backoffice.errors import register_display_labels

#: Field names a service's FieldValidationError may name, as the operator reads them.
FIELD_LABELS = {
    "id_number": _("resident ID number / 身份证号码"),
    "credit_code": _("unified social credit code / 统一社会信用代码"),
    "mobile": _("mobile / 手机号"),
    "name": _("name / 名称"),
    "type": _("type / 类型"),
    "legal_representative": _("legal representative / 法定代表人"),
    "reason": _("reason / 原因"),
    "amount": _("amount / 金额"),
    "document_number": _("document number / 文书编号"),
    "authority": _("authority / 有权机关"),
    "expires_at": _("expires at / 到期时间"),
    "kind": _("kind / 方式"),
    "account": _("account / 账户"),
    "tier": _("tier / 账户类别"),
    "court_account_name": _("payee account name / 收款户名"),
    "court_account_number": _("payee account number / 收款账号"),
    "court_bank": _("payee bank / 收款行"),
    "actor": _("operator / 经办人"),
    "effective_at": _("effective at / 生效时间"),
    "action": _("action / 操作"),
}

#: The permissions a refusal names (``FreezePermissionError``): what they allow, not their codes.
PERMISSION_LABELS = {
    "accounts.request_judicial_freeze": _("request judicial freezes / 申请司法冻结"),
    "accounts.approve_judicial_freeze": _("approve judicial freezes / 复核司法冻结"),
}

#: Why an account may not close (``accounts.states.services.account_close_blockers``).
CLOSE_BLOCKER_LABELS = {
    "balance": _("balance not zero / 余额不为零"),
    "active_holds": _("active holds / 有未解除的冻结"),
    "judicial_freezes": _("open judicial freezes / 有司法冻结"),
    "judicial_blocks": _("judicial blocks / 司法止付"),
    "pending_freeze_requests": _("pending judicial-freeze requests / 有待复核的司法冻结申请"),
    "withdrawals_in_flight": _("withdrawals in flight / 有在途提现"),
    "recharges_in_flight": _("recharges in flight / 有在途充值"),
}

#: Why a tier refuses a movement (``accounts.limits.services.TierFlowNotAllowedError``).
TIER_REFUSAL_LABELS = {
    "face_to_face_required": _("face-to-face verification required / 须面签核实"),
    "not_allowed_for_class_iii": _("not allowed for Class III / 三类户不允许"),
    "non_bound_inflow_not_enabled": _("non-bound inflow not enabled / 未开通非绑定转入"),
}

#: What a payment channel answered to a status query (``accounts.payments.channels.ChannelStatus``).
CHANNEL_STATUS_LABELS = {
    "success": _("paid / 已付款"),
    "failure": _("not paid / 未付款"),
    "processing": _("processing / 处理中"),
    "not_found": _("order not found / 查无此单"),
    "returned": _("returned / 已退汇"),
}


def limit_label(code: str) -> str | None:
    """``II_outflow_day`` → "Class II / 二类户 · Outflow… · Calendar day / 自然日"."""
    from accounts.limits.models import LimitBucket, LimitPeriod, LimitTier

    tier, _sep, rest = code.partition("_")
    for period in LimitPeriod.values:
        if rest.endswith("_" + period):
            bucket = rest[: -len(period) - 1]
            if tier in LimitTier.values and bucket in LimitBucket.values:
                return f"{LimitTier(tier).label} · {LimitBucket(bucket).label} · {LimitPeriod(period).label}"
    return None


def channel_status_label(code: str) -> str:
    """A channel's answer as the operator reads it (an unknown answer stays as the channel sent it)."""
    return str(CHANNEL_STATUS_LABELS.get(code, code or "-"))


def register() -> None:
    from accounts.cards.models import BoundCard, MicroDeposit
    from accounts.ledger.models import Account, Hold
    from accounts.limits.services import FlowKind
    from accounts.parties.models import Party
    from accounts.payments.models import Recharge, Withdrawal, WithdrawalResolution
    from accounts.states.models import FreezeRequest, JudicialFreeze

    register_display_labels("field", "accounts", FIELD_LABELS)
    register_display_labels("permission", "accounts", PERMISSION_LABELS)
    register_display_labels("reasons", "accounts", CLOSE_BLOCKER_LABELS)
    register_display_labels("reason", "accounts.tier", TIER_REFUSAL_LABELS)
    register_display_labels("limit", "accounts.limits", limit_label)
    register_display_labels("flow", "accounts.limits", FlowKind.choices)
    register_display_labels("tier", "accounts", Account.Tier.choices)
    register_display_labels("status", "accounts.channels", CHANNEL_STATUS_LABELS)
    # A state code means the same in each of these (the first that knows it answers).
    for name, choices in (
        ("party.kyc", Party.KycState.choices),
        ("account", Account.State.choices),
        ("withdrawal", Withdrawal.State.choices),
        ("recharge", Recharge.State.choices),
        ("freeze_request", FreezeRequest.State.choices),
        ("judicial_freeze", JudicialFreeze.State.choices),
        ("hold", Hold.State.choices),
        ("resolution", WithdrawalResolution.State.choices),
        ("card", BoundCard.State.choices),
        ("micro_deposit", MicroDeposit.State.choices),
    ):
        register_display_labels("state", name, choices)
