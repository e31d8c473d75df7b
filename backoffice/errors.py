"""Domain errors and the one place that maps them to API responses.

A ``DomainError`` is a refused business request: it carries a stable ``code`` (part of the API
contract), an HTTP status, a translatable message and named data. Programming errors (an
unbalanced voucher) are not domain errors: they surface as 500 and fail tests.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.template import loader
from django.utils.encoding import force_str
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

from backoffice.branding import brand_name
from backoffice.parsers import JsonInputError, json_loads_strict

#: How a refusal shows its data to a person (console, portal): for a data key (``state``,
#: ``limit``, ``reasons``, ``field``...), functions from a stable code to its label, or None when
#: they do not know the code. Apps register them in ``AppConfig.ready()``; the API keeps the codes.
_DISPLAY_LABELS: dict[str, dict[str, object]] = {}


def register_display_labels(key: str, name: str, labels) -> None:
    """Register labels for the codes a refusal carries under ``key``: a mapping (choices, a dict)
    or a function ``code -> label | None``. Registering ``name`` again replaces it."""
    if not callable(labels):
        table = {str(code): label for code, label in (labels.items() if hasattr(labels, "items") else labels)}
        labels = table.get
    _DISPLAY_LABELS.setdefault(key, {})[name] = labels


def display_label(key: str, value) -> str:
    """The label of a code under ``key`` (a list: each labelled, joined), else the code itself."""
    if isinstance(value, (list, tuple)):
        separator = "、" if (get_language() or "").startswith("zh") else ", "
        return separator.join(display_label(key, item) for item in value)
    for function in _DISPLAY_LABELS.get(key, {}).values():
        label = function(str(value))
        if label is not None:
            return force_str(label)
    return force_str(value) if value is not None else ""


class DomainError(Exception):
    """A refused business request. Subclasses set code, http_status and a message template."""

    code = "domain_error"
    http_status = 400
    message = _("The request was refused.")

    def __init__(self, message=None, **data):
        self.data = {
            key: (str(value) if not isinstance(value, (int, str, bool, list, dict, type(None))) else value)
            for key, value in data.items()
        }
        self._message = message
        super().__init__(self.text)

    @property
    def text(self) -> str:
        template = force_str(self._message or self.message)
        try:
            return template.format(**self.data)
        except (KeyError, IndexError):
            return template

    def display_data(self) -> dict:
        """The data as a person reads it: each code replaced by its registered label."""
        return {key: display_label(key, value) for key, value in self.data.items()}

    @property
    def display_text(self) -> str:
        """The message with labels where the API's ``text`` has codes (console and portal)."""
        template = force_str(self._message or self.message)
        try:
            return template.format(**self.display_data())
        except (KeyError, IndexError):
            return template


class NotFoundError(DomainError):
    code, http_status = "not_found", 404
    message = _("Not found.")


class MakerCheckerError(DomainError):
    """Maker-checker (四眼原则): the user who made a request may not approve it. One code and one
    status everywhere (judicial freezes, withdrawal resolutions, and every later approval)."""

    code, http_status = "maker_checker_violation", 403
    message = _("The request must be approved by a different user from the one who made it.")


class InvalidStateError(DomainError):
    code, http_status = "invalid_state", 409
    message = _("The object's state ({state}) does not allow this.")


class IdempotencyConflictError(DomainError):
    code, http_status = "idempotency_key_mismatch", 422
    message = _("The idempotency key {key} was already used with a different request.")


class FieldValidationError(DomainError):
    code, http_status = "validation_error", 400
    message = _("Some fields are invalid.")

    def __init__(self, fields: dict[str, list[str]], message=None):
        super().__init__(message)
        self.fields = fields


def error_body(code: str, message, *, fields=None, data=None) -> dict:
    body = {"code": code, "message": force_str(message)}
    if fields:
        body["fields"] = {
            key: [force_str(m) for m in (value if isinstance(value, list) else [value])] for key, value in fields.items()
        }
    if data:
        body["data"] = data
    return body


def _flatten_drf(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, msgs in _flatten_drf(value).items():
                    out[f"{key}.{sub}"] = msgs
            elif isinstance(value, list):
                out[key] = [force_str(v) if not isinstance(v, dict) else str(v) for v in value]
            else:
                out[key] = [force_str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [force_str(v) for v in detail]}
    return {"non_field_errors": [force_str(detail)]}


def api_exception_handler(exc, context):
    """DRF EXCEPTION_HANDLER: every refusal becomes ``{"code", "message", "fields"?, "data"?}``."""
    if isinstance(exc, FieldValidationError):
        return Response(error_body(exc.code, exc.text, fields=exc.fields), status=exc.http_status)
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.text, data=exc.data or None), status=exc.http_status)
    if isinstance(exc, TransitionNotAllowed):
        state = getattr(getattr(exc, "object", None), "state", "")
        return Response(
            error_body("invalid_state", _("The object's state does not allow this."), data={"state": str(state)}),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(error_body("validation_error", _("Some fields are invalid."), fields=fields), status=400)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", _("Not found.")), status=404)
    if isinstance(exc, PermissionDenied):
        return Response(error_body("forbidden", _("You do not have permission to do this.")), status=403)
    if isinstance(exc, drf_exceptions.ValidationError):
        return Response(
            error_body("validation_error", _("Some fields are invalid."), fields=_flatten_drf(exc.detail)), status=400
        )
    if isinstance(exc, drf_exceptions.ParseError):
        reason = getattr(exc, "reason", None)  # backoffice.parsers: duplicate_key, too_deep, lone_surrogate, ...
        data = {"reason": reason} if reason else None
        return Response(error_body("malformed_request", _("The request body is not valid JSON."), data=data), status=400)
    if isinstance(exc, drf_exceptions.AuthenticationFailed | drf_exceptions.NotAuthenticated):
        code = getattr(exc, "error_code", None) or "unauthenticated"
        response = Response(error_body(code, exc.detail), status=401)
        response["WWW-Authenticate"] = "Signature"
        return response
    if isinstance(exc, drf_exceptions.PermissionDenied):
        code = getattr(exc, "error_code", None) or "forbidden_scope"
        return Response(error_body(code, exc.detail), status=403)
    if isinstance(exc, drf_exceptions.NotFound):
        return Response(error_body("not_found", _("Not found.")), status=404)
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return Response(error_body("method_not_allowed", exc.detail), status=405)
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return Response(error_body("unsupported_media_type", exc.detail), status=415)
    if isinstance(exc, drf_exceptions.NotAcceptable):
        return Response(error_body("not_acceptable", exc.detail), status=406)
    if isinstance(exc, drf_exceptions.Throttled):
        return Response(error_body("throttled", exc.detail), status=429)
    if isinstance(exc, drf_exceptions.APIException):
        return Response(error_body(exc.default_code, exc.detail), status=exc.status_code)
    if isinstance(exc, RecursionError):
        return _unreadable_body(context)
    return None


def _unreadable_body(context):
    """A body the strict parser refuses, met first by a lenient reader (the idempotency fingerprint runs before
    the view parses): 400 ``malformed_request`` as the parser would answer; any other recursion is a bug (500)."""
    request = context.get("request")
    try:
        json_loads_strict(request.body if request is not None else b"")
    except JsonInputError as refused:
        data = {"reason": refused.reason}
        return Response(error_body("malformed_request", _("The request body is not valid JSON."), data=data), status=400)
    return None


# -- Django's error views: JSON under /api/ (every API answer is JSON), branded pages elsewhere -------

API_PREFIX = "/api/"
CONSOLE_PREFIX = "/admin/"

#: Where "back" leads from an error page, by path prefix (the longest first), and what it says.
HOMES = (
    ("/portal/merchants/", "/portal/merchants/", _("Back to the merchant portal / 返回商户端首页")),
    ("/portal/custody/", "/portal/custody/", _("Back to the platform portal / 返回平台端首页")),
    ("/portal/", "/portal/", _("Back to my accounts / 返回我的账户")),
    (CONSOLE_PREFIX, CONSOLE_PREFIX, _("Back to the console home / 返回控制台首页")),
)
DEFAULT_HOME = ("/", _("Back to the home page / 返回首页"))

MESSAGES = {
    403: (
        _("Access denied / 无权访问"),
        _("You do not have permission to open this page. / 您没有打开此页面的权限。"),
    ),
    404: (
        _("Page not found / 页面不存在"),
        _(
            "The page you asked for does not exist or is no longer available. Check the address. "
            "/ 您访问的页面不存在或已失效，请检查网址。"
        ),
    ),
    500: (
        _("Something went wrong / 系统出错了"),
        _("An error occurred on our side and has been recorded. Please try again later. / 系统发生错误，已记录，请稍后重试。"),
    ),
}
CONSOLE_403 = _(
    "You do not have permission to open this page. Ask a supervisor if your work needs it. "
    "/ 您没有打开此页面的权限。如工作需要，请联系主管开通。"
)


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def _json_error(code: str, message, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code, json_dumps_params={"ensure_ascii": False})


def error_page(request, status_code: int) -> HttpResponse:
    """The branded error page of the area the path belongs to (console or portal), in the active
    language, with a way back. Self-contained (no context processor, no database): a 500 may be
    rendered while the database is the problem. Never shows the exception's text."""
    path = getattr(request, "path", "") or ""
    home_url, back_label = next(((home, label) for prefix, home, label in HOMES if path.startswith(prefix)), DEFAULT_HOME)
    console = path.startswith(CONSOLE_PREFIX)
    title, message = MESSAGES[status_code]
    if console and status_code == 403:
        message = CONSOLE_403
    context = {
        "status": status_code,
        "area": "console" if console else "portal",
        "title": title,
        "message": message,
        "home_url": home_url,
        "back_label": back_label,
        "brand_name": brand_name(),
    }
    response = HttpResponse(loader.render_to_string("errors/page.html", context), status=status_code)
    response.branded_error = True
    return response


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    """``handler400``: 400 ``malformed_request`` under /api/."""
    if _is_api(request):
        return _json_error("malformed_request", _("Malformed request."), 400)
    return defaults.bad_request(request, exception, template_name)


def permission_denied(request, exception, template_name=defaults.ERROR_403_TEMPLATE_NAME):
    """``handler403``: 403 ``forbidden`` under /api/, the branded page elsewhere."""
    if _is_api(request):
        return _json_error("forbidden", _("You do not have permission to perform this action."), 403)
    return error_page(request, 403)


def page_not_found(request, exception, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    """``handler404``: 404 ``not_found`` under /api/ (a path no route matches: ``/api/v1/cards/abc/``),
    the branded page elsewhere."""
    if _is_api(request):
        return _json_error("not_found", _("Not found."), 404)
    return error_page(request, 404)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """``handler500``: 500 ``server_error`` under /api/ (a bug: it is logged and must fail a test),
    the branded page elsewhere."""
    if _is_api(request):
        return _json_error("server_error", _("A server error occurred."), 500)
    return error_page(request, 500)


class PortalDebugPagesMiddleware:
    """Under ``DEBUG`` (``make run``), Django answers an unmatched path or a ``Http404`` with its
    technical 404 page (the whole URL list) and an exception with its debug page (the traceback,
    the settings) instead of calling the handlers above.

    - A 404 is never Django's page, anywhere: the console and the portal get their branded 404, a
      path under ``/api/`` the API's JSON ``not_found`` (every API answer is JSON), any other path
      the portal's layout. The URL list reaches no one.
    - A 500 is branded in the portal (a customer never sees a traceback); in the console it stays
      Django's debug page, for the developers who run ``make run``.

    Without DEBUG the handlers already do all this, and the middleware passes everything on."""

    PREFIXES_500 = ("/portal/",)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            not settings.DEBUG
            or getattr(response, "branded_error", False)
            or not response.get("Content-Type", "").startswith("text/html")
        ):
            return response
        if response.status_code == 404:
            if _is_api(request):
                return _json_error("not_found", _("Not found."), 404)
            return error_page(request, 404)
        if response.status_code == 500 and request.path.startswith(self.PREFIXES_500):
            return error_page(request, 500)
        return response
