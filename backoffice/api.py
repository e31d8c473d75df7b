"""The API kit: OpenAPI parameters and error responses shared by every endpoint, input validation,
money and time fields, and the page-number pager. Imports no app."""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.urls import URLPattern, path, register_converter
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from backoffice.dates import day_in_range
from backoffice.errors import FieldValidationError, NotFoundError
from backoffice.idempotency import HEADER_IDEMPOTENCY_KEY, HEADER_REPLAYED, idempotent
from backoffice.money import MoneyError, parse_amount, to_money


class ErrorSerializer(serializers.Serializer):
    """Every refusal: ``{"code", "message", "fields"?, "data"?}``."""

    code = serializers.CharField(help_text="Stable snake_case code, part of the contract (e.g. insufficient_funds).")
    message = serializers.CharField(help_text="Human-readable, in the Accept-Language language (zh-hans or en).")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages of a validation_error.",
    )
    data = serializers.DictField(required=False, help_text="Named details, e.g. available and shortfall.")

    class Meta:
        ref_name = "Error"


# -- schema helpers ----------------------------------------------------------------------

_HEADER = OpenApiParameter.HEADER
# The four signing headers are the security scheme ``signature`` (backoffice.signing.SignatureAuthenticationScheme),
# not parameters: a generated client cannot know the signature before the body is serialised, so an auth hook adds
# them (README "Partner API"). Kept as a name for the views that spread it into their parameters.
SIGNING_PARAMETERS: list[OpenApiParameter] = []


class StringIdConverter:
    """``<sid:...>``: an object id in a path, published as a string (as the object's ``id`` is in its answers) of 1 to
    18 digits. The view still receives an ``int``; anything else matches no route: a JSON 404 ``not_found``, never a
    500 (an id past the database's integer range included)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(StringIdConverter, "sid")

#: How the schema shows ``StringIdConverter`` (SPECTACULAR_SETTINGS["PATH_CONVERTER_OVERRIDES"]).
STRING_ID_SCHEMA = {"type": "string", "pattern": "^[0-9]{1,18}$", "example": "1"}


@extend_schema_field(STRING_ID_SCHEMA)
class StrIdField(serializers.Field):
    """An object id (or a reference to one) as the API publishes it: a string of digits, ``"123"`` (issue #13: one id
    type everywhere, the same as in ``<sid:...>`` paths). Out: ``str(pk)`` (``None`` stays ``null``). In: a string of
    1 to 18 digits or, for compatibility with clients written when ids were numbers, a JSON integer; the view receives
    an ``int``. Anything else (a bool, a float, ``"12a"``, ``0``) is a field error, never a 500."""

    default_error_messages = {"invalid": _('Send the id as a string of digits, for example "123".')}

    def to_representation(self, value) -> str:
        return str(value)

    def to_internal_value(self, data) -> int:
        if isinstance(data, bool) or not isinstance(data, (int, str)):
            self.fail("invalid")
        text = str(data)
        if not re.fullmatch(r"[0-9]{1,18}", text) or int(text) < 1:
            self.fail("invalid")
        return int(text)


def str_id(value) -> str | None:
    """An id for a hand-built answer or payload (webhooks, error ``data``): ``"123"``, ``None`` kept."""
    return None if value is None else str(value)


def slash_optional(urlpatterns: list) -> list:
    """Each route also without its trailing slash (``transfers`` beside ``transfers/``), answered alike: the schema
    publishes the form without (OpenAPI linters' rule), callers that use the slash keep working. The signature covers
    the path as sent, so either form signs and verifies."""
    out = []
    for pattern in urlpatterns:
        out.append(pattern)
        route = str(pattern.pattern)
        if isinstance(pattern, URLPattern) and route.endswith("/") and len(route) > 1:
            out.append(path(route[:-1], pattern.callback, pattern.default_args))
    return out


def idempotency_parameters(success: int, *, required: bool = True) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            HEADER_IDEMPOTENCY_KEY,
            str,
            _HEADER,
            required=required,
            description=(
                "1-255 printable characters, unique per client; a retry with the same key and body is replayed."
                if required
                else "Optional here (this request moves no money); if sent, a retry with the same key and body is "
                "replayed as for money-moving requests."
            ),
        ),
        OpenApiParameter(
            HEADER_REPLAYED,
            str,
            _HEADER,
            response=[success],
            enum=["true"],
            description="Present on a replayed answer (same status and body as the first).",
        ),
    ]


_ERROR_TEXT = {
    400: "validation_error (fields says which), idempotency_key_required",
    401: "missing_signature_headers, unknown_client, bad_signature, stale_timestamp, replayed_nonce",
    403: "forbidden_scope, ip_not_allowed",
    404: "not_found: no such object, or not visible to this client",
    409: "insufficient_funds (data.available, data.shortfall), account_not_active, invalid_state (data.state), "
    "idempotency_key_in_use",
    415: "unsupported_media_type: the body is not sent as application/json",
    422: "idempotency_key_mismatch: the key was used with a different request",
}
# What a body the strict JSON parser refuses answers (backoffice.parsers), added to every write's 400.
MALFORMED_TEXT = (
    "malformed_request: the body is not strict JSON (data.reason: syntax, not_utf8, duplicate_key, lone_surrogate, "
    "not_a_number for NaN/Infinity, too_deep)"
)
# What every paginated list may answer 404 for, beside a missing object.
PAGE_404_TEXT = "not_found: with ?page= only, no such page (page=0, not a number, or past the last page)"


def error_responses(*codes: int, texts: dict[int, str] | None = None) -> dict[int, OpenApiResponse]:
    """Error responses for the schema; ``texts`` replaces the default description of a status."""
    texts = texts or {}
    return {code: OpenApiResponse(ErrorSerializer, description=texts.get(code, _ERROR_TEXT[code])) for code in codes}


# What a POST that acts on a visible object may refuse: bad input, signature, scope, not found, state, body not
# JSON, key reuse.
WRITE_ERRORS = (400, 401, 403, 404, 409, 415, 422)


def write_parameters(success: int, *, required: bool = True) -> list[OpenApiParameter]:
    """A POST's headers: the signature's and the ``Idempotency-Key`` (``required=False``: for POSTs that move no money)."""
    return [*SIGNING_PARAMETERS, *idempotency_parameters(success, required=required)]


def list_parameters(filters: type[serializers.Serializer], items: str) -> list:
    """A paginated list's query: the signature's headers, the ``filters``, ``cursor``/``page_size`` (keyset pages,
    the default) and ``page`` (numbered pages, kept for callers that use them); ``items`` names the rows."""
    return [
        *SIGNING_PARAMETERS,
        filters,
        OpenApiParameter(
            "cursor",
            str,
            description=(
                "Opaque position of the next page, taken from the previous answer's `next` link (which carries it "
                "with the same filters). Without it: the first page. A garbled cursor is a 400 validation_error."
            ),
        ),
        OpenApiParameter("page_size", int, description=f"{items} per page (default 50, at most 200; 0 or not a number: 400)."),
        OpenApiParameter(
            "page",
            int,
            description=(
                "Numbered pages instead of cursor pages, from 1: the answer adds `count` and `previous`. Kept for "
                "callers that use them; a deep page costs more than the first (an offset and a count)."
            ),
        ),
    ]


def write_schema(
    operation_id: str,
    *,
    tag: str,
    summary: str,
    request,
    output,
    success: int = 201,
    key_required: bool = True,
    errors: tuple[int, ...] = WRITE_ERRORS,
    texts: dict[int, str] | None = None,
    **extra,
):
    """The schema of a signed POST: its ``Idempotency-Key`` (optional with ``key_required=False``), ``output`` on
    ``success``, the ``errors`` (``texts`` as for ``error_responses``) with 415 and, in the 400's text,
    ``malformed_request`` always; ``extra`` (description, examples) as given."""
    texts = dict(texts or {})
    text_400 = texts.get(400, _ERROR_TEXT[400])
    if "idempotency_key_required" not in text_400:  # where the key is optional: one sent malformed
        text_400 += "; idempotency_key_required (an Idempotency-Key sent malformed)"
    texts[400] = f"{text_400}; {MALFORMED_TEXT}"
    errors = (*errors, 415) if 415 not in errors else errors
    return extend_schema(
        operation_id=operation_id,
        tags=[tag],
        summary=summary,
        parameters=write_parameters(success, required=key_required),
        request=request,
        responses={success: output, **error_responses(*errors, texts=texts)},
        **extra,
    )


def detail_schema(operation_id: str, *, tag: str, summary: str, output: type[serializers.Serializer], description: str = ""):
    """The schema of a GET of one object the client may see: signed, 404 when missing or invisible."""
    return extend_schema(
        operation_id=operation_id,
        tags=[tag],
        summary=summary,
        description=description or None,
        parameters=SIGNING_PARAMETERS,
        responses={200: output, **error_responses(401, 403, 404)},
    )


def list_schema(
    operation_id: str,
    *,
    tag: str,
    summary: str,
    filters: type[serializers.Serializer],
    output: type[serializers.Serializer],
    items: str,
    errors: tuple[int, ...] = (400, 401, 403),
    description: str = "",
):
    """The schema of a signed, filtered, paginated GET list (``items``: see ``list_parameters``); 404 always (a page
    that does not exist), beside a missing object if ``errors`` names 404."""
    page_404 = f"{_ERROR_TEXT[404]}; {PAGE_404_TEXT}" if 404 in errors else PAGE_404_TEXT
    errors = (*errors, 404) if 404 not in errors else errors
    texts = {404: page_404, 400: "validation_error (fields says which: a filter, cursor, page or page_size)"}
    return extend_schema(
        operation_id=operation_id,
        tags=[tag],
        summary=summary,
        description=description or None,
        parameters=list_parameters(filters, items),
        responses={200: output(many=True), **error_responses(*errors, texts=texts)},
    )


def component(serializer_class: type[serializers.Serializer], ref_name: str) -> type[serializers.Serializer]:
    """``serializer_class`` under its own schema component name: each operation names its request and answer
    (``AccountDetail``, ``HoldCreated``) although several share one shape."""
    meta = type("Meta", (), {"ref_name": ref_name})
    return type(ref_name, (serializer_class,), {"Meta": meta, "__module__": serializer_class.__module__})


def idempotent_if_keyed(method):
    """Like ``idempotent``, but only when the request carries an ``Idempotency-Key``: for POSTs that
    move no money, where a key is welcome (safe retries) but not required."""
    keyed = idempotent(method)

    @functools.wraps(method)
    def wrapper(view, request, *args, **kwargs):
        if HEADER_IDEMPOTENCY_KEY in request.headers:
            return keyed(view, request, *args, **kwargs)
        return method(view, request, *args, **kwargs)

    return wrapper


# -- helpers -----------------------------------------------------------------------------


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def found_or_404(obj, message, sees: Callable[[Any], bool] | None = None):
    """``obj``, unless it is ``None`` or ``sees(obj)`` is false: then 404 ``not_found`` with ``message``, the same
    answer for both, so that a client cannot tell an object it may not see from a missing one."""
    if obj is None or (sees is not None and not sees(obj)):
        raise NotFoundError(message)
    return obj


class DateRangeFilterSerializer(serializers.Serializer):
    """A list filter with ``date_from`` and ``date_to`` (declared by each subclass, with its own help): each within
    ``dates.FIRST_DAY`` .. ``dates.LAST_DAY`` (9999-12-31 has no next day to end at), not reversed."""

    default_error_messages = {"date_out_of_range": _("Enter a valid date.")}

    def _day(self, value):
        if value is not None and not day_in_range(value):
            raise serializers.ValidationError(self.error_messages["date_out_of_range"], code="date_out_of_range")
        return value

    def validate_date_from(self, value):
        return self._day(value)

    def validate_date_to(self, value):
        return self._day(value)

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": [_("date_to must not be before date_from.")]})
        return attrs


AMOUNT_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"
# What MoneyInput reads at all: the pattern's digits and point, any number of decimals (more than two is told
# "precision") and a minus (told "not positive"); anything else is "invalid".
_AMOUNT_SHAPE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@extend_schema_field({"type": "string", "pattern": AMOUNT_PATTERN, "example": "100.00"})
class MoneyInput(serializers.Field):
    """A positive CNY amount sent as a JSON string with at most two decimals (``"1234.50"``).

    A JSON number is refused (it may already have been rounded by the sender's float), so are
    more than two decimals (never rounded here), zero and negative amounts.
    """

    default_error_messages = {
        "not_a_string": _('Send the amount as a JSON string, for example "100.00", not as a number.'),
        "invalid": _("Enter an amount in yuan, for example 100.00."),
        "precision": _("An amount has at most two decimals."),
        "not_positive": _("The amount must be greater than zero."),
        "too_large": _("The amount is too large."),
    }

    def to_internal_value(self, data) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_a_string")
        if not _AMOUNT_SHAPE.fullmatch(data):
            # Exactly the documented shape: no surrounding space, no "+", no full-width or other non-ASCII digit,
            # no exponent (parse_amount itself forgives some of these for the portal's typed amounts).
            self.fail("invalid")
        try:
            # A sign parses, so that "-5.00" is told it must be positive rather than malformed.
            amount = parse_amount(data, signed=True)
        except MoneyError as exc:
            self.fail(exc.code)  # invalid, precision or too_large: one message each above
        if amount <= 0:
            self.fail("not_positive")
        return amount

    def to_representation(self, value) -> str:
        return f"{to_money(value):.2f}"


@extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "example": "100.00"})
class MoneyOutput(serializers.Field):
    """An amount in a response: a string with exactly two decimals."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return f"{to_money(value):.2f}"


@extend_schema_field(OpenApiTypes.DATETIME)
class LocalDateTime(serializers.Field):
    """A time in the server's zone (Asia/Shanghai) with its offset, to the second: ``2026-12-01T15:04:05+08:00``."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value) -> str | None:
        if value is None:
            return None
        return timezone.localtime(value).isoformat(timespec="seconds")


class PagePagination(PageNumberPagination):
    """Numbered pages, kept for callers that ask ``?page=``: ``{"count", "next", "previous", "results"}`` with
    ``?page=`` and ``?page_size=`` (at most 200). A deep page costs more than the first (an OFFSET and a COUNT)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class KeysetPagination(BasePagination):
    """Cursor (keyset) pages, the default of every list: ``{"next", "results"}``, ``next`` the URL of the following
    page (``?cursor=``) or ``null`` on the last one.

    The cursor holds the sort key of the page's last row (every field of the list's ordering, ending with the primary
    key, so it is unique); the next page is ``WHERE key after cursor ORDER BY key LIMIT n+1``: an index range, so the
    last page costs what the first does, and rows inserted meanwhile never shift a page. The cursor is opaque
    (URL-safe base64 of JSON); a forged or garbled one is a 400 ``validation_error`` on ``cursor``."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self._page_size(request)
        ordering = self._ordering(queryset)
        queryset = queryset.order_by(*ordering)
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is not None:
            queryset = queryset.filter(self._after(queryset.model, ordering, self._decode(encoded, len(ordering))))
        try:
            rows = list(queryset[: self.page_size + 1])
        except (DjangoValidationError, ValueError, TypeError, OverflowError) as exc:  # a forged position
            raise self._invalid() from exc
        self.page = rows[: self.page_size]
        self.next_key = self._key(self.page[-1], ordering) if len(rows) > self.page_size else None
        return self.page

    def get_paginated_response(self, data):
        return Response({"next": self._next_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The following page (same filters, with ?cursor=), null on the last page.",
                },
                "count": {"type": "integer", "description": "Only with ?page=: the number of rows in all pages."},
                "previous": {"type": "string", "nullable": True, "format": "uri", "description": "Only with ?page=."},
                "results": schema,
            },
        }

    # -- internals

    def _invalid(self) -> FieldValidationError:
        return FieldValidationError({self.cursor_query_param: [str(_("Invalid cursor: use the next link as given."))]})

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = int(raw) if raw.isdigit() else 0
        if size < 1:
            raise FieldValidationError({self.page_size_query_param: [str(_("A whole number from 1 to 200."))]})
        return min(size, self.max_page_size)

    @staticmethod
    def _ordering(queryset) -> tuple[str, ...]:
        ordering = tuple(str(field) for field in queryset.query.order_by) or ("-pk",)
        if any("__" in field or "?" in field for field in ordering):
            raise AssertionError(f"keyset pages need plain field orderings, not {ordering}")
        if ordering[-1].lstrip("-") not in ("pk", "id"):
            ordering = (*ordering, "-pk" if ordering[0].startswith("-") else "pk")
        return ordering

    def _after(self, model, ordering, values) -> Q:
        """Rows strictly after ``values`` in ``ordering``: (a after x) or (a = x and b after y) or ..., with a
        leading (a at-or-after x) so that the database walks an index range."""
        names = [field.lstrip("-") for field in ordering]
        try:
            typed = [
                (model._meta.pk if name == "pk" else model._meta.get_field(name)).to_python(value)
                for name, value in zip(names, values, strict=True)
            ]
        except (DjangoValidationError, FieldDoesNotExist, ValueError, TypeError) as exc:
            raise self._invalid() from exc
        after = Q()
        for i, field in enumerate(ordering):
            same = {names[j]: typed[j] for j in range(i)}
            after |= Q(**same, **{f"{names[i]}__{'lt' if field.startswith('-') else 'gt'}": typed[i]})
        lead = f"{names[0]}__{'lte' if ordering[0].startswith('-') else 'gte'}"
        return Q(**{lead: typed[0]}) & after

    @staticmethod
    def _key(row, ordering) -> list[str]:
        key = []
        for field in ordering:
            value = getattr(row, field.lstrip("-"))
            key.append(value.isoformat() if hasattr(value, "isoformat") else str(value))
        return key

    def _decode(self, encoded: str, length: int) -> list[str]:
        try:
            padded = encoded + "=" * (-len(encoded) % 4)
            values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))
        except (ValueError, UnicodeError):
            values = None
        if not isinstance(values, list) or len(values) != length or not all(isinstance(v, str) for v in values):
            raise self._invalid()
        return values

    def _next_link(self) -> str | None:
        if self.next_key is None:
            return None
        token = base64.urlsafe_b64encode(json.dumps(self.next_key, separators=(",", ":")).encode()).decode()
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, token.rstrip("="))


def paginated(view, request, rows, serializer_class) -> Response:
    """One page of ``rows``, each shown by ``serializer_class``: numbered (``PagePagination``) when the caller asks
    ``?page=``, else a keyset page (``KeysetPagination``, the default)."""
    paginator = PagePagination() if "page" in request.query_params else KeysetPagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
