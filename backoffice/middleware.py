"""Response headers every page gets (README "Security").

- ``Permissions-Policy``: ``settings.PERMISSIONS_POLICY`` (browser features no page uses), on every
  response that does not set its own;
- ``Cache-Control: no-store`` (with Django's never-cache companions) on every page of the portal
  (URL namespace ``portal``) and on every download (``Content-Disposition: attachment``): a
  statement or an export never stays in a shared or browser cache. The console's pages already
  get it from the admin site (``admin_view`` is ``never_cache``).

Content-Security-Policy comes from django-csp (``CSPMiddleware`` below: its policy, built once per process for
the answers that carry no nonce and no per-view override), Referrer-Policy, HSTS and nosniff from Django's
SecurityMiddleware.

``ApiLaneMiddleware`` gives ``/api/`` requests a short chain of their own (issue #14), after the headers.
"""

from __future__ import annotations

import functools
import http.client

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.cache import add_never_cache_headers
from django.utils.module_loading import import_string

NO_STORE_NAMESPACES = frozenset({"portal"})


def _no_store(request, response) -> bool:
    if response.get("Content-Disposition", "").lower().startswith("attachment"):
        return True
    match = getattr(request, "resolver_match", None)
    return bool(match and NO_STORE_NAMESPACES.intersection(match.namespaces))


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "PERMISSIONS_POLICY", "")
        if policy and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = policy
        if _no_store(request, response):
            add_never_cache_headers(response)
        return response


# Per-response overrides of django-csp's decorators (@csp_update, @csp_replace, @csp_override, @csp_exempt and
# their report-only twins): an answer that carries one takes django-csp's own path.
_CSP_OVERRIDES = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
# (report only?, header, setting, exemption attribute)
_CSP_HEADERS = (
    (False, HEADER, "CONTENT_SECURITY_POLICY", "_csp_exempt"),
    (True, HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", "_csp_exempt_ro"),
)


@functools.cache
def _static_policy(report_only: bool) -> tuple[str, tuple[str, ...]]:
    """The policy django-csp builds for an answer without nonce or override, and its excluded URL prefixes."""
    setting = "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY"
    prefixes = tuple((getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ())
    return build_policy(report_only=report_only), prefixes


@receiver(setting_changed)
def _forget_static_policy(*, setting, **kwargs) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _static_policy.cache_clear()


class CSPMiddleware(DjangoCSPMiddleware):
    """django-csp's middleware; an answer whose request used no nonce and that carries no per-view override (every
    API answer, most pages) gets the policy built once per process instead of once per response (issue #14:
    building it cost about 0.1 ms a request). Anything else goes through django-csp unchanged;
    tests/test_security.py holds the two paths to the same headers."""

    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _CSP_OVERRIDES
        ):
            return super().process_response(request, response)
        if settings.DEBUG and response.status_code in (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND):
            return response  # django-csp leaves Django's debug pages alone
        for report_only, header, _setting, exempt in _CSP_HEADERS:
            policy, excluded = _static_policy(report_only)
            if (
                policy
                and header not in response
                and getattr(response, exempt, False) is False
                and not request.path_info.startswith(excluded)
            ):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header is written is an error, not a silent gap.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


class ApiLaneMiddleware:
    """``/api/`` requests take a short middleware chain (``settings.API_MIDDLEWARE``) instead of the rest of
    ``settings.MIDDLEWARE``.

    The partner API is signed, stateless and cookie-less: it needs no session, CSRF token, user, second
    factor, messages, login lockout, history user or static files. Placed right after the security-header
    middlewares (SecurityMiddleware, CSP, ``SecurityHeadersMiddleware``), which every answer still gets, it
    sends ``/api/`` requests through ``API_MIDDLEWARE`` (the language from Accept-Language, Django's common
    middleware, X-Frame-Options) to the view; every other path goes on through the full chain, unchanged.
    """

    PREFIX = "/api/"

    def __init__(self, get_response):
        self.get_response = get_response
        self.api_response = _ApiHandler().chain()

    def __call__(self, request):
        if request.path_info.startswith(self.PREFIX):
            return self.api_response(request)
        return self.get_response(request)


class _ApiHandler(BaseHandler):
    """Django's request handler with ``settings.API_MIDDLEWARE`` for its chain (synchronous middleware only)."""

    def chain(self):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.API_MIDDLEWARE):
            instance = import_string(path)(handler)
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler
        return handler
