"""Response headers every page gets (README "Security").

- ``Permissions-Policy``: ``settings.PERMISSIONS_POLICY`` (browser features no page uses), on every
  response that does not set its own;
- ``Cache-Control: no-store`` (with Django's never-cache companions) on every page of the portal
  (URL namespace ``portal``) and on every download (``Content-Disposition: attachment``): a
  statement or an export never stays in a shared or browser cache. The console's pages already
  get it from the admin site (``admin_view`` is ``never_cache``).

Content-Security-Policy comes from django-csp, Referrer-Policy, HSTS and nosniff from Django's
SecurityMiddleware.

``ApiLaneMiddleware`` gives ``/api/`` requests a short chain of their own (issue #14), after the headers.
"""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
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
