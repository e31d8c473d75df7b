"""Texts written now and read later, in the reader's language: an alert's body, written by a
service (in a Celery worker, a callback, an API request: whatever language is active then) and
read by an operator in Chinese or English.

What is stored is a *spec*, plain JSON and auditable: a translatable template (a msgid, "English
/ 中文" like every label of the project, with ``{name}`` placeholders) and its params. It is
rendered through gettext when shown (``text_render``), so each reader gets their language; its
bilingual rendering (``text_render(spec, bilingual=True)``: the msgid itself, "English … / 中文 …")
is what goes into a searchable message column and the audit row.

A param is kept so that it can be shown in any language later:

- a lazy label (``Withdrawal.State.UNKNOWN.label``, ``gettext_lazy(...)``) → its msgid;
- ``text_label(key, code)`` → a code shown through the refusal labels (``backoffice.errors.display_label``);
- a ``Decimal`` → money, shown with thousands separators (``1,234.50``);
- a ``DomainError`` → its own template and data (``text_error``);
- another spec → rendered in place; anything else → its text.

Imports no app.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.encoding import force_str
from django.utils.functional import Promise
from django.utils.translation import gettext, override

__all__ = ["text_error", "text_label", "text_render", "text_spec"]


def _msgid(value: Promise) -> str:
    with override(None):  # no catalogue: a lazy gettext string is its msgid
        return force_str(value)


def _param(value):
    from backoffice.errors import DomainError

    if isinstance(value, dict) and ("template" in value or "label" in value or "money" in value or "msgid" in value):
        return value
    if isinstance(value, Promise):
        return {"msgid": _msgid(value)}
    if isinstance(value, bool) or value is None:
        return force_str(value)
    if isinstance(value, Decimal):
        return {"money": f"{value:.2f}"}
    if isinstance(value, int):
        return value
    if isinstance(value, DomainError):
        return text_error(value)
    return force_str(value)


def text_spec(template, **params) -> dict:
    """A text to store: ``template`` (a ``gettext_lazy``/``gettext_noop`` msgid with ``{name}``
    placeholders) and its ``params``."""
    return {
        "template": _msgid(template) if isinstance(template, Promise) else str(template),
        "params": {name: _param(value) for name, value in params.items()},
    }


def text_label(key: str, code) -> dict:
    """A code to show by its label under ``key`` (``display_label``: ``state``, ``status``, ``field``...)."""
    return {"label": key, "code": force_str(code)}


def text_error(exc) -> dict:
    """A refusal (``DomainError``) as a spec: its message template with its data, each data value
    shown through the labels of its key, as the console shows a refusal."""
    template = exc._message or exc.message
    return text_spec(template, **{key: text_label(key, value) for key, value in exc.data.items()})


def _show(value, bilingual: bool) -> str:
    from backoffice.errors import display_label

    if isinstance(value, dict):
        if "template" in value:
            return text_render(value, bilingual=bilingual)
        if "msgid" in value:
            return value["msgid"] if bilingual else gettext(value["msgid"])
        if "money" in value:
            try:
                return f"{Decimal(value['money']):,.2f}"
            except (ArithmeticError, ValueError, TypeError):
                return force_str(value["money"])
        if "label" in value:
            if bilingual:
                with override(None):
                    return display_label(value["label"], value.get("code"))
            return display_label(value["label"], value.get("code"))
    if isinstance(value, list):
        return ", ".join(_show(item, bilingual) for item in value)
    return force_str(value)


def text_render(spec: dict, *, bilingual: bool = False) -> str:
    """The spec in the active language (``bilingual``: its msgid, "English … / 中文 …", for the
    record). A template whose placeholders do not match its params is shown as it is."""
    template = spec.get("template", "")
    params = {name: _show(value, bilingual) for name, value in (spec.get("params") or {}).items()}
    if bilingual:
        with override(None):
            translated = template
    else:
        translated = gettext(template) if template else ""
    try:
        return translated.format(**params)
    except (KeyError, IndexError, ValueError):
        return translated
