"""Forms of the merchant portal: sign-in with a TOTP code, filters, a refund, a payout, an API key,
a webhook endpoint."""

from __future__ import annotations

from django import forms
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _
from django_otp import devices_for_user

from backoffice.portal import PortalLoginForm
from merchants.models import MerchantUser, Payment, PaymentMethod, SettlementBatch

OTP_FIELD = {
    "label": _("Authenticator code / 动态验证码"),
    "max_length": 8,
    "widget": forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
}


class MerchantLoginForm(PortalLoginForm):
    """Password (django-axes counts its failures) and the merchant user's TOTP code in one submit.
    Only an active merchant user signs in here; a wrong code counts as a failed sign-in."""

    otp_token = forms.CharField(**OTP_FIELD)

    error_messages = {
        **PortalLoginForm.error_messages,
        "not_merchant_user": _("This sign-in is for merchant users. / 此入口仅供商户用户登录。"),
        "invalid_token": _("The authenticator code is wrong or expired. / 动态验证码错误或已过期。"),
    }

    device = None

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None:
            return cleaned
        if not MerchantUser.objects.filter(user=user, is_active=True).exists():
            raise forms.ValidationError(self.error_messages["not_merchant_user"], code="not_merchant_user")
        token = (cleaned.get("otp_token") or "").strip()
        for device in devices_for_user(user, confirmed=True):
            allowed, _details = device.verify_is_allowed()
            if allowed and token and device.verify_token(token):
                self.device = device
                return cleaned
        user_login_failed.send(sender=__name__, credentials={"username": cleaned.get("username")}, request=self.request)
        raise forms.ValidationError(self.error_messages["invalid_token"], code="invalid_token")


class PaymentFilterForm(forms.Form):
    q = forms.CharField(label=_("Order or request number / 订单号或请求号"), required=False, max_length=64)
    state = forms.ChoiceField(label=_("State / 状态"), required=False, choices=[("", _("All / 全部")), *Payment.State.choices])
    method = forms.ChoiceField(
        label=_("Method / 支付方式"), required=False, choices=[("", _("All / 全部")), *PaymentMethod.choices]
    )
    date_from = forms.DateField(
        label=_("From (business date) / 起始业务日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=_("To / 截止"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class SettlementFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("State / 状态"), required=False, choices=[("", _("All / 全部")), *SettlementBatch.State.choices]
    )
    date_from = forms.DateField(
        label=_("From (business date) / 起始业务日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=_("To / 截止"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class RefundForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount / 退款金额"), min_value=0.01, max_digits=14, decimal_places=2)
    reason = forms.CharField(label=_("Reason / 退款原因"), required=False, max_length=200)


class RefundConfirmForm(RefundForm):
    out_refund_no = forms.CharField(widget=forms.HiddenInput, max_length=64)
    otp_token = forms.CharField(**OTP_FIELD)


class RefundPayoutForm(forms.Form):
    """A refund payout (代付) past the channel's refund window: the payer's account and the amount."""

    payee_name = forms.CharField(label=_("Payee name (the payer) / 收款人姓名（付款人）"), max_length=200)
    payee_account = forms.CharField(
        label=_("Payee account number / 收款账号"),
        max_length=40,
        help_text=_("The payer's bank account, 8 to 32 digits. / 付款人银行账号，8至32位数字。"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    amount = forms.DecimalField(label=_("Amount / 金额"), min_value=0.01, max_digits=14, decimal_places=2)
    reason = forms.CharField(label=_("Reason / 原因"), max_length=200, initial=_("Refund past the channel's window / 超期退款"))

    def clean_payee_account(self) -> str:
        account = "".join(self.cleaned_data["payee_account"].split())
        if not account.isdigit() or not 8 <= len(account) <= 32:
            raise forms.ValidationError(_("An account number of 8 to 32 digits. / 账号须为8至32位数字。"))
        return account


class RefundPayoutConfirmForm(RefundPayoutForm):
    out_payout_no = forms.CharField(widget=forms.HiddenInput, max_length=48)
    otp_token = forms.CharField(**OTP_FIELD)


class PayoutForm(forms.Form):
    otp_token = forms.CharField(**OTP_FIELD)


class ApiKeyForm(forms.Form):
    SCOPES = [
        ("payments", _("Payments / 收款")),
        ("refunds", _("Refunds / 退款")),
        ("settlements", _("Settlements / 结算")),
    ]
    label = forms.SlugField(label=_("Name / 名称"), max_length=40)
    scopes = forms.MultipleChoiceField(label=_("Scopes / 权限"), choices=SCOPES, widget=forms.CheckboxSelectMultiple)


class EndpointForm(forms.Form):
    url = forms.CharField(label=_("URL / 地址"), max_length=500, widget=forms.URLInput(attrs={"placeholder": "https://"}))
    event_types = forms.CharField(
        label=_("Event types / 订阅事件"),
        max_length=500,
        initial="*",
        help_text=_("Comma-separated, e.g. payment.succeeded, refund.succeeded; * for all. / 逗号分隔，* 表示全部。"),
    )
    description = forms.CharField(label=_("Description / 说明"), max_length=200, required=False)

    def clean_event_types(self) -> list[str]:
        return [e.strip() for e in self.cleaned_data["event_types"].split(",") if e.strip()]
