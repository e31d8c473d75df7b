"""The console kit: view-only and no-delete admin bases, refusal messages (and a service's field
errors on a form), the reason form, the confirmation page, the base of every console view (staff,
the model permission, ``DomainError`` shown with ``messages.error``) and the maker-checker
decision page. Imports no app."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import View
from django_fsm import TransitionNotAllowed

from backoffice.errors import DomainError, FieldValidationError, display_label
from backoffice.money import MoneyField
from backoffice.portal import money

MAX_BULK_IDS = 200


class NoWritesMixin:
    """No add, change or delete, whatever the user's permissions."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class NoDeleteMixin:
    """Never deleted from the console: no delete permission and no "delete selected" action."""

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


OPERATOR_SUFFIX = "__operator_name"


class OperatorNamesMixin:
    """Read-only references to users (maker, checker, reviewer...) show the username as text:
    Django would link them to the user's admin page, which is a 403 for everyone but a superuser."""

    def _user_fields(self) -> set[str]:
        user_model = get_user_model()
        return {
            f.name
            for f in self.model._meta.get_fields()
            if getattr(f, "many_to_one", False) and getattr(f, "related_model", None) is user_model
        }

    def _swap(self, names, readonly):
        users = self._user_fields()
        return [f"{n}{OPERATOR_SUFFIX}" if isinstance(n, str) and n in users and n in readonly else n for n in names]

    def get_readonly_fields(self, request, obj=None):
        names = list(super().get_readonly_fields(request, obj))
        return self._swap(names, set(names))

    def get_fields(self, request, obj=None):
        readonly = set(super().get_readonly_fields(request, obj))
        return self._swap(list(super().get_fields(request, obj)), readonly)

    def __getattr__(self, name):
        if not name.endswith(OPERATOR_SUFFIX):
            raise AttributeError(name)
        field_name = name[: -len(OPERATOR_SUFFIX)]
        field = self.model._meta.get_field(field_name)

        def operator_name(obj):
            user = getattr(obj, field_name, None)
            return user.get_username() if user is not None else "-"

        operator_name.short_description = field.verbose_name
        return operator_name


MONEY_SUFFIX = "__as_money"


class MoneyDisplayMixin:
    """Amounts (``MoneyField``) as people read them, ``1,234,567.89``, in the list and on the
    read-only page: Django would show ``1234567.89`` (no thousands separator). For view-only admins
    and inlines, whose every field is shown read-only; the column still sorts by the amount."""

    def _money_fields(self) -> set[str]:
        return {f.name for f in self.model._meta.concrete_fields if isinstance(f, MoneyField)}

    def _money_swap(self, names):
        money_fields = self._money_fields()
        swapped = [f"{n}{MONEY_SUFFIX}" if isinstance(n, str) and n in money_fields else n for n in names]
        return list(dict.fromkeys(swapped))

    def get_list_display(self, request):
        return self._money_swap(super().get_list_display(request))

    def get_readonly_fields(self, request, obj=None):
        # The shown names are read-only, so that the (unused) form leaves them out: each money
        # field the page shows, i.e. declared read-only or editable (a form field otherwise).
        names = list(super().get_readonly_fields(request, obj))
        shown = [
            f"{f.name}{MONEY_SUFFIX}"
            for f in self.model._meta.concrete_fields
            if isinstance(f, MoneyField) and (f.name in names or f.editable)
        ]
        return names + [name for name in shown if name not in names]

    def get_fields(self, request, obj=None):
        return self._money_swap(super().get_fields(request, obj))

    def get_fieldsets(self, request, obj=None):
        return [
            (
                name,
                {
                    **options,
                    "fields": [
                        self._money_swap(f) if isinstance(f, (list, tuple)) else self._money_swap([f])[0]
                        for f in options.get("fields", ())
                    ],
                },
            )
            for name, options in super().get_fieldsets(request, obj)
        ]

    def __getattr__(self, name):
        if not name.endswith(MONEY_SUFFIX):
            return super().__getattr__(name)
        field_name = name[: -len(MONEY_SUFFIX)]
        field = self.model._meta.get_field(field_name)

        def as_money(obj):
            value = getattr(obj, field_name, None)
            return "-" if value is None else money(value)

        as_money.short_description = field.verbose_name
        as_money.admin_order_field = field_name
        return as_money


class ViewOnlyAdmin(MoneyDisplayMixin, OperatorNamesMixin, NoWritesMixin, NoDeleteMixin, admin.ModelAdmin):
    """Records that are looked at, never added, edited or deleted in the console (ledger tables,
    records written only by services)."""


class ViewOnlyInline(MoneyDisplayMixin, OperatorNamesMixin, NoWritesMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


def refusal_text(exc: Exception) -> str:
    """What a refused request says to the operator: the domain message, with each bad field's reasons."""
    if isinstance(exc, FieldValidationError):
        parts = []
        for field, reasons in (exc.fields or {}).items():
            reasons = reasons if isinstance(reasons, (list, tuple)) else [reasons]
            parts.append(f"{display_label('field', field)}: {' '.join(str(r) for r in reasons)}")
        return "; ".join(parts) or exc.display_text
    if isinstance(exc, DomainError):
        return exc.display_text
    if isinstance(exc, TransitionNotAllowed):
        return gettext("The object's state does not allow this. / 当前状态不允许该操作。")
    return str(exc)


def add_field_errors(form, exc: FieldValidationError) -> None:
    """Put a service's per-field refusal on the form: on the field it names, or on the whole form."""
    for field, reasons in (exc.fields or {}).items():
        reasons = reasons if isinstance(reasons, (list, tuple)) else [reasons]
        form.add_error(field if field in form.fields else None, [str(r) for r in reasons])


def parse_ids(raw: str) -> list[int]:
    """``"3,1,x,2"`` → ``[1, 2, 3]``: the ids of a bulk action, junk ignored, at most 200."""
    ids = []
    for part in (raw or "").split(","):
        part = part.strip()
        if part.isdigit():
            ids.append(int(part))
    return sorted(set(ids))[:MAX_BULK_IDS]


class ReasonForm(forms.Form):
    """The confirmation form of a console action: the targets and a reason (or an optional note)."""

    ids = forms.CharField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(
        label=_("Reason / 原因"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Recorded in the audit log. / 将记入审计日志。"),
    )

    def __init__(self, *args, reason_required: bool = True, reason_label=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.reason_required = reason_required
        if reason_label is not None:
            self.fields["reason"].label = reason_label
        self.fields["reason"].required = reason_required

    def clean_reason(self):
        reason = (self.cleaned_data.get("reason") or "").strip()
        if self.reason_required and not reason:
            raise forms.ValidationError(_("A reason is required. / 必须填写原因。"), code="required")
        return reason


def render_confirmation(view, request, *, title, intro, targets, form, cancel_url, submit_label=None, status=200, **extra):
    """The shared confirmation page (``admin/accounts/confirm_action.html``)."""
    return TemplateResponse(
        request,
        "admin/accounts/confirm_action.html",
        view.context(
            request,
            title=title,
            intro=intro,
            targets=targets,
            form=form,
            cancel_url=cancel_url,
            submit_label=submit_label or gettext("Yes, I'm sure / 确认执行"),
            **extra,
        ),
        status=status,
    )


class ConsoleView(View):
    model_admin = None
    template_name = ""

    def context(self, request, **extra):
        model_admin = self.model_admin
        return {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "app_label": model_admin.model._meta.app_label,
            **extra,
        }

    def render(self, request, status=200, **extra):
        return TemplateResponse(request, self.template_name, self.context(request, **extra), status=status)


class DecisionForm(forms.Form):
    """A checker's decision: approve, or reject with a reason. A subclass declares ``decision`` and
    the note field (``note_field``) with its labels, and the message of a rejection without one."""

    note_field = "note"
    reason_needed = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The checker decides: nothing is pre-selected, and an empty choice is refused.
        decision = self.fields.get("decision")
        if decision is not None:
            decision.required = True
            decision.initial = None
            if isinstance(decision.widget, forms.RadioSelect):
                return  # radio buttons start with none checked
            choices = [(value, label) for value, label in decision.choices if value != ""]
            decision.choices = [("", _("— choose / 请选择 —")), *choices]

    def clean(self):
        data = super().clean()
        data[self.note_field] = (data.get(self.note_field) or "").strip()
        if data.get("decision") == "reject" and not data[self.note_field]:
            self.add_error(self.note_field, self.reason_needed)
        return data


class DecisionView(ConsoleView):
    """The checker's page of a maker-checker request: the request, then approve or reject.

    ``permission`` is the checker's; the service refuses the maker as checker (``is_maker`` in
    the page only warns), and that refusal, like any ``DomainError``, returns to this page with
    ``messages.error``. A subclass says how to load the request (``get_object``), how to show it
    (``page``), how to decide it (``decide``) and where to go once decided (``decided``)."""

    permission = ""
    form_class = DecisionForm
    url_name = ""  # this page's URL name, for a refusal

    def get_object(self, pk):
        raise NotImplementedError

    def page(self, request, obj, form):
        raise NotImplementedError

    def decide(self, request, obj, decision: str, note: str) -> None:
        raise NotImplementedError

    def decided(self, request, obj, decision: str):
        raise NotImplementedError

    def check(self, request, pk):
        if not request.user.has_perm(self.permission):
            raise PermissionDenied
        return self.get_object(pk)

    def get(self, request, pk):
        return self.page(request, self.check(request, pk), self.form_class())

    def post(self, request, pk):
        obj = self.check(request, pk)
        form = self.form_class(request.POST)
        if not form.is_valid():
            return self.page(request, obj, form)
        decision = form.cleaned_data["decision"]
        try:
            self.decide(request, obj, decision, form.cleaned_data[form.note_field])
        except DomainError as exc:
            messages.error(request, gettext("Refused: %(error)s / 复核被拒绝") % {"error": refusal_text(exc)})
            return HttpResponseRedirect(reverse(self.url_name, args=[obj.pk]))
        return self.decided(request, obj, decision)
