"""Portal forms: the statement filter (GET) and the sign-in form."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

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
