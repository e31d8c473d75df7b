"""Portal forms: the statement filter (GET), the sign-in form and the micro-deposit back-fill."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

from django import forms
from django.contrib.auth import authenticate
from django.core import signing
from django.utils.translation import gettext_lazy as _

from accounts import conf
from accounts.parties import identity
from accounts.payments.models import Recharge, Withdrawal
from backoffice import dates
from backoffice.money import MoneyError, parse_amount

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


def _queryable_day(day: dt.date | None) -> dt.date | None:
    """A statement filter's day, refused (a form error, not an overflow) beyond ``dates.FIRST_DAY`` .. ``LAST_DAY``."""
    if day is not None and not dates.day_in_range(day):
        raise forms.ValidationError(forms.DateField.default_error_messages["invalid"], code="date_out_of_range")
    return day


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

    def clean_date_from(self):
        return _queryable_day(self.cleaned_data.get("date_from"))

    def clean_date_to(self):
        return _queryable_day(self.cleaned_data.get("date_to"))

    def clean(self):
        data = super().clean()
        date_from: dt.date | None = data.get("date_from")
        date_to: dt.date | None = data.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise forms.ValidationError(_("The start date must not be after the end date."), code="date_order")
        return data


class MicroDepositForm(forms.Form):
    """The holder types the micro-deposit amount (小额鉴权金额) they received, in yuan: "0.37".

    Parsed exactly with ``backoffice.money.parse_amount``; more than two decimals is refused, never
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
        try:
            value = parse_amount(self.cleaned_data["amount"], typed=True)  # ".37" and "０.３７" too
        except MoneyError as exc:
            if exc.code == "precision":
                raise forms.ValidationError(_("Enter at most two decimals (fen), for example 0.37."), code="precision") from exc
            raise forms.ValidationError(_("Enter an amount in yuan, for example 0.37."), code="invalid") from exc
        if value <= 0:
            raise forms.ValidationError(_("The amount must be more than 0."), code="not_positive")
        largest = conf.microdeposit_max_amount()
        if value > largest:
            raise forms.ValidationError(
                _("A verification amount is at most %(largest)s yuan: check the amount in your bank's SMS or statement."),
                code="too_large",
                params={"largest": f"{largest:.2f}"},
            )
        return value


# How long a drawn confirmation (or recharge form) stays usable.
TOKEN_MAX_AGE = 15 * 60
WITHDRAWAL_SALT = "portal.withdrawal.confirm"
RECHARGE_SALT = "portal.recharge"
_SIX_DIGITS = re.compile(r"^[0-9]{6}$")  # ASCII only: Python's \d also matches other scripts' digits
# Full-width digits from a Chinese keyboard are the same password as their ASCII forms.
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def new_reference() -> str:
    """A business reference unique forever: "P" and a random UUID (33 characters)."""
    return "P" + uuid.uuid4().hex


def token_make(payload: dict, *, salt: str) -> str:
    return signing.dumps(payload, salt=salt, compress=True)


def token_read(token: str, *, salt: str) -> dict:
    """The payload of a token, or a ValidationError (code ``expired`` or ``invalid``)."""
    try:
        return signing.loads(token, salt=salt, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise forms.ValidationError(_("This page has expired. Please start again."), code="expired") from exc
    except signing.BadSignature as exc:
        raise forms.ValidationError(_("This page is not valid any more. Please start again."), code="invalid") from exc


def _amount_widget() -> forms.TextInput:
    return forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00", "size": 12})


def _password_widget(autocomplete: str = "off") -> forms.PasswordInput:
    return forms.PasswordInput(
        attrs={"inputmode": "numeric", "autocomplete": autocomplete, "maxlength": 6, "size": 8, "pattern": r"\d{6}"}
    )


def clean_amount_text(text: str) -> Decimal:
    """An amount in yuan typed by the holder ("100", "100.5", "1,000.00"), exactly; more than two
    decimals is refused, never rounded."""
    try:
        value = parse_amount(text or "", typed=True, thousands=True)
    except MoneyError as exc:
        if exc.code == "precision":
            raise forms.ValidationError(_("Enter at most two decimals (fen), for example 100.50."), code="precision") from exc
        raise forms.ValidationError(_("Enter an amount in yuan, for example 100.00."), code="invalid") from exc
    if value <= 0:
        raise forms.ValidationError(_("The amount must be more than 0."), code="not_positive")
    return value


class AmountField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Amount (yuan)"))
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault("widget", _amount_widget())
        kwargs.setdefault("error_messages", {"required": _("Enter the amount, for example 100.00.")})
        super().__init__(**kwargs)

    def clean(self, value):
        return clean_amount_text(super().clean(value))


class TransactionPasswordField(forms.CharField):
    """The 6-digit transaction password, typed (never shown back)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Transaction password"))
        kwargs.setdefault("max_length", 6)
        kwargs.setdefault("strip", False)
        kwargs.setdefault("widget", _password_widget())
        kwargs.setdefault("error_messages", {"required": _("Enter your 6-digit transaction password.")})
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value).translate(_FULL_WIDTH_DIGITS)
        if not _SIX_DIGITS.match(value):
            raise forms.ValidationError(_("The transaction password is exactly 6 digits."), code="format")
        return value


class TransactionPasswordForm(forms.Form):
    """Set the transaction password (twice); changing an existing one also asks for the sign-in
    password, checked through ``authenticate`` so that django-axes counts the failures."""

    login_password = forms.CharField(
        label=_("Your sign-in password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": _("Enter your sign-in password to change the transaction password.")},
    )
    password = TransactionPasswordField(label=_("New transaction password (6 digits)"), widget=_password_widget("new-password"))
    password_again = TransactionPasswordField(
        label=_("New transaction password again"),
        widget=_password_widget("new-password"),
        error_messages={"required": _("Enter the new transaction password a second time.")},
    )

    def __init__(self, *args, request, changing: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        if not changing:
            del self.fields["login_password"]

    def clean_login_password(self):
        text = self.cleaned_data["login_password"]
        user = self.request.user
        checked = authenticate(self.request, username=user.get_username(), password=text)
        if checked is None or checked.pk != user.pk:
            raise forms.ValidationError(_("The sign-in password is wrong."), code="login_password")
        return text

    def clean(self):
        data = super().clean()
        first, second = data.get("password"), data.get("password_again")
        if first and second and first != second:
            self.add_error("password_again", forms.ValidationError(_("The two passwords differ."), code="mismatch"))
        return data


class WithdrawalAmountForm(forms.Form):
    """Step 1 of a withdrawal: the amount."""

    amount = AmountField(label=_("Amount to withdraw (yuan)"))


def token_check(token: str, *, salt: str, account, user) -> dict:
    """The payload of a page's token if it was drawn for this account and this user; else a
    ValidationError (``expired`` or ``invalid``)."""
    payload = token_read(token or "", salt=salt)
    if payload.get("account") != account.number or payload.get("user") != user.pk:
        raise forms.ValidationError(_("This page is not valid any more. Please start again."), code="invalid")
    return payload


class _TokenForm(forms.Form):
    """A form that carries its page's signed token (checked by the view with ``token_check``)."""

    token = forms.CharField(widget=forms.HiddenInput, required=False)


class WithdrawalConfirmForm(_TokenForm):
    """Step 2 of a withdrawal: the signed summary and the transaction password."""

    password = TransactionPasswordField()


class RechargeForm(_TokenForm):
    """A recharge from the bound card: the amount and the transaction password, with a signed
    business reference drawn with the page."""

    amount = AmountField(label=_("Amount to recharge (yuan)"))
    password = TransactionPasswordField()


def _state_choices(choices) -> list[tuple[str, str]]:
    return [("", _("All states")), *choices]


class WithdrawalFilterForm(forms.Form):
    state = forms.ChoiceField(label=_("State"), required=False, choices=_state_choices(Withdrawal.State.choices))


class RechargeFilterForm(forms.Form):
    state = forms.ChoiceField(label=_("State"), required=False, choices=_state_choices(Recharge.State.choices))


# -- card binding (绑卡) -----------------------------------------------------------------------------

BOUND_KIND_CHOICES = (
    ("class_i", _("A debit card (a Class I account)")),
    ("credit_card", _("A credit card")),
)


class CardBindForm(forms.Form):
    """Step 1 of a binding: the four elements (四要素), as registered with the card's bank. The
    formats are checked by the service (``accounts.cards.services.card_bind_check``), whose field
    errors the view puts on these fields."""

    holder_name = forms.CharField(
        label=_("Name on the card"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={"required": _("Enter the cardholder's name as registered with the card's bank.")},
    )
    id_number = forms.CharField(
        label=_("ID number"),
        max_length=30,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Enter your resident ID number.")},
    )
    card_number = forms.CharField(
        label=_("Card number"),
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "cc-number", "spellcheck": "false"}),
        error_messages={"required": _("Enter the card number.")},
    )
    reserved_mobile = forms.CharField(
        label=_("Mobile number registered with the card's bank"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
        error_messages={"required": _("Enter the mobile number you gave the card's bank.")},
    )
    bound_account_kind = forms.ChoiceField(
        label=_("Kind of card"),
        choices=BOUND_KIND_CHOICES,
        initial="class_i",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, ask_kind: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not ask_kind:
            self.fields["bound_account_kind"].widget = forms.HiddenInput()
            self.fields["bound_account_kind"].required = False

    def clean_bound_account_kind(self):
        return self.cleaned_data.get("bound_account_kind") or "class_i"

    # Every malformed element at once, with the identity module's own messages; the service
    # normalises and checks them again.
    def clean_id_number(self):
        return _identity(identity.normalise_id_number, self.cleaned_data["id_number"])

    def clean_card_number(self):
        return _identity(
            lambda v: identity.normalise_card_number(v, min_length=conf.card_min_length())[0], self.cleaned_data["card_number"]
        )

    def clean_reserved_mobile(self):
        return _identity(identity.normalise_mobile, self.cleaned_data["reserved_mobile"])


def _identity(normalise, value: str) -> str:
    try:
        return normalise(value)
    except identity.IdentityError as exc:
        raise forms.ValidationError(str(exc), code="format") from exc


class OneTimeCodeForm(forms.Form):
    """Step 2 of a binding: the 6-digit code texted to the card's reserved mobile."""

    code = forms.CharField(
        label=_("Verification code (6 digits)"),
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "size": 8}),
        error_messages={"required": _("Enter the 6-digit code from the SMS.")},
    )

    def clean_code(self):
        value = self.cleaned_data["code"].strip().translate(_FULL_WIDTH_DIGITS)
        if not _SIX_DIGITS.match(value):
            raise forms.ValidationError(_("The code is exactly 6 digits."), code="format")
        return value
