"""Forms of the platform portal: sign-in with a TOTP code, the sub-account filter, a webhook endpoint."""

from __future__ import annotations

from django import forms
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _
from django_otp import devices_for_user

from backoffice.portal import PortalLoginForm
from custody.models import PlatformUser, SubAccount


class PlatformLoginForm(PortalLoginForm):
    """Password (django-axes counts its failures) and the platform user's TOTP code in one submit.

    Only an active platform user may sign in here. A wrong code counts as a failed sign-in for
    django-axes too (the ``user_login_failed`` signal), and the device's own throttle applies."""

    otp_token = forms.CharField(
        label=_("Authenticator code / 动态验证码"),
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    error_messages = {
        **PortalLoginForm.error_messages,
        "not_platform_user": _("This sign-in is for platform users. / 此入口仅供平台用户登录。"),
        "invalid_token": _("The authenticator code is wrong or expired. / 动态验证码错误或已过期。"),
    }

    device = None

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None:
            return cleaned
        platform_user = PlatformUser.objects.filter(user=user, is_active=True).first()
        if platform_user is None:
            raise forms.ValidationError(self.error_messages["not_platform_user"], code="not_platform_user")
        token = (cleaned.get("otp_token") or "").strip()
        for device in devices_for_user(user, confirmed=True):
            allowed, _details = device.verify_is_allowed()
            if allowed and token and device.verify_token(token):
                self.device = device
                return cleaned
        user_login_failed.send(sender=__name__, credentials={"username": cleaned.get("username")}, request=self.request)
        raise forms.ValidationError(self.error_messages["invalid_token"], code="invalid_token")


class SubAccountFilterForm(forms.Form):
    q = forms.CharField(label=_("Number or name / 账号或户名"), required=False, max_length=64)
    role = forms.ChoiceField(label=_("Role / 角色"), required=False, choices=[("", _("All / 全部")), *SubAccount.Role.choices])


class EndpointForm(forms.Form):
    url = forms.CharField(label=_("URL / 地址"), max_length=500, widget=forms.URLInput(attrs={"placeholder": "https://"}))
    event_types = forms.CharField(
        label=_("Event types / 订阅事件"),
        max_length=500,
        initial="*",
        help_text=_("Comma-separated, e.g. loan.disbursed, bid.placed; * for all. / 逗号分隔，* 表示全部。"),
    )
    description = forms.CharField(label=_("Description / 说明"), max_length=200, required=False)

    def clean_event_types(self) -> list[str]:
        return [e.strip() for e in self.cleaned_data["event_types"].split(",") if e.strip()]


class ReconciliationUploadForm(forms.Form):
    """The platform's daily reconciliation file (CSV), as the API takes it."""

    file = forms.FileField(
        label=_("Daily file (CSV) / 对账文件（CSV）"),
        help_text=_(
            "Header: record,business_date,type,out_request_no,sub_account,amount,state. "
            "/ 表头：record,business_date,type,out_request_no,sub_account,amount,state。"
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
