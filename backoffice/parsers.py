"""The one strict JSON reader of request bodies: the API's parser (``StrictJSONParser``, the default
in ``REST_FRAMEWORK``) and the channels' callback adapters (``json_loads_strict``) read JSON alike.

Refused, never guessed at: bytes that are not UTF-8, text that is not JSON, a key twice in one
object, a lone UTF-16 surrogate (``"\\ud800"``), ``NaN`` / ``Infinity``, and nesting deeper than
``MAX_JSON_DEPTH``. Numbers are never floats: a number with a point or an exponent is a ``Decimal`` (or its exact
text, ``str``, for a reader that asks), an integer an ``int``. Imports no app.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

__all__ = ["MAX_JSON_DEPTH", "JsonInputError", "StrictJSONParser", "json_loads_strict"]

# Request bodies of the API are at most a few objects deep; this is far above any of them and far
# below the interpreter's recursion limit.
MAX_JSON_DEPTH = 32

# A JSON string (with its escapes), or one bracket: the only tokens the depth scan needs.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_OPENING = frozenset("[{")


class JsonInputError(ValueError):
    """A body the strict reader refuses; ``reason`` says which rule (for logs and ``data.reason``)."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


def _check_depth(text: str) -> None:
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in _OPENING:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise JsonInputError("too_deep", f"nested deeper than {MAX_JSON_DEPTH}")
        elif token in "]}":
            depth -= 1


def _object(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise JsonInputError("duplicate_key", "a key appears twice in one object")
        result[key] = value
    return result


def _refuse_constant(name: str):
    raise JsonInputError("not_a_number", f"{name} is not a JSON number")


def _check_text(value) -> None:
    """Refuse lone surrogates anywhere (keys, values, array items); the depth is already bounded."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise JsonInputError("lone_surrogate", "a string holds a lone UTF-16 surrogate") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def json_loads_strict(body: bytes | str, *, parse_float=Decimal):
    """Parse a JSON body strictly (see the module docstring); raises ``JsonInputError``. A number with a
    point or an exponent is read by ``parse_float``: ``Decimal`` (exact), or ``str`` to keep its text."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonInputError("not_utf8", "the body is not UTF-8") from exc
    else:
        text = body
    _check_depth(text)
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_float=parse_float, parse_constant=_refuse_constant)
    except JsonInputError:
        raise
    except (ValueError, RecursionError) as exc:
        raise JsonInputError("syntax", "the body is not valid JSON") from exc
    _check_text(value)
    return value


class MalformedJsonError(exceptions.ParseError):
    """A body the strict reader refused: 400 ``malformed_request`` with ``data.reason``."""

    error_code = "malformed_request"
    default_detail = _("The request body is not valid JSON.")

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, reading with ``json_loads_strict``. An empty body is an empty object."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        if not body:
            return {}
        try:
            return json_loads_strict(body)
        except JsonInputError as exc:
            raise MalformedJsonError(exc.reason) from exc
