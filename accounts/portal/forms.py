"""Portal forms: the statement filter (GET), the sign-in form and the micro-deposit back-fill."""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from accounts import cards_conf
from backoffice.money import MoneyError, to_money

# Voucher kinds the portal knows how to name; any other kind is shown as its code.
KIND_LABELS = {
    "opening_deposit": _("Opening deposit"),
    "funding": _("Funding"),
    "recharge": _("Recharge"),
    "withdrawal": _("Withdrawal"),
    "withdrawal_capture": _("Withdrawal"),
    "withdrawal_refund": _("Withdrawal returned"),
    "transfer": _("Transfer"),
    "reversal": _("Reversal"),
    "bid": _("Bid"),
    "disbursement": _("Disbursement"),
    "repayment": _("Repayment"),
    "payment": _("Payment"),
    "refund": _("Refund"),
    "settlement": _("Settlement"),
    "fee": _("Fee"),
    "custody_fee": _("Custody fee"),
    "adjustment": _("Manual adjustment"),
}


def kind_label(kind: str):
    return KIND_LABELS.get(kind, kind)


class PortalLoginForm(AuthenticationForm):
    """Django's sign-in form; django-axes counts its failures (it receives the request)."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("Username")
        self.fields["password"].label = _("Password")
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})


class StatementFilterForm(forms.Form):
    """Filters of an account statement. Dates are business days in Asia/Shanghai, both inclusive."""

    date_from = forms.DateField(
        label=_("From"), required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"})
    )
    kind = forms.ChoiceField(label=_("Kind"), required=False)

    def __init__(self, *args, kinds: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("All kinds"))] + [(kind, kind_label(kind)) for kind in kinds]
        for name in ("date_from", "date_to"):
            self.fields[name].error_messages["invalid"] = _("Enter a date as YYYY-MM-DD.")

    def clean(self):
        data = super().clean()
        date_from: dt.date | None = data.get("date_from")
        date_to: dt.date | None = data.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise forms.ValidationError(_("The start date must not be after the end date."), code="date_order")
        return data


# Digits with an optional decimal point and at most two decimals ("0.37", ".37", "1"): no
# exponents, signs, thousands separators or a third decimal, even a zero ("0.370").
_AMOUNT_SHAPE = re.compile(r"^(?:\d{1,12}(?:\.\d*)?|\.\d+)$")


class MicroDepositForm(forms.Form):
    """The holder types the micro-deposit amount (小额鉴权金额) they received, in yuan: "0.37".

    Parsed exactly with ``backoffice.money.to_money``; more than two decimals is refused, never
    rounded. An amount above the largest possible micro-deposit is refused here, before it costs
    one of the back-fill attempts (the range itself is public, R-VER-06).
    """

    amount = forms.CharField(
        label=_("Amount received (yuan)"),
        max_length=20,
        strip=True,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00", "size": 8}),
        error_messages={"required": _("Enter the amount you received, for example 0.37.")},
    )

    def clean_amount(self):
        text = self.cleaned_data["amount"].replace("\uff0e", ".")  # a full-width point from a Chinese keyboard
        if not _AMOUNT_SHAPE.match(text):
            raise forms.ValidationError(_("Enter an amount in yuan, for example 0.37."), code="invalid")
        if "." in text and len(text.split(".", 1)[1]) > 2:
            raise forms.ValidationError(_("Enter at most two decimals (fen), for example 0.37."), code="precision")
        try:
            value = to_money(text)
        except MoneyError as exc:
            raise forms.ValidationError(_("Enter an amount in yuan, for example 0.37."), code="invalid") from exc
        if value <= 0:
            raise forms.ValidationError(_("The amount must be more than 0."), code="not_positive")
        largest = cards_conf.microdeposit_max_amount()
        if value > largest:
            raise forms.ValidationError(
                _("A verification amount is at most %(largest)s yuan: check the amount in your bank's SMS or statement."),
                code="too_large",
                params={"largest": f"{largest:.2f}"},
            )
        return value
