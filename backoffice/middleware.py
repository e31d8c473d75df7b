"""Response headers every page gets (README "Security").

- ``Permissions-Policy``: ``settings.PERMISSIONS_POLICY`` (browser features no page uses), on every
  response that does not set its own;
- ``Cache-Control: no-store`` (with Django's never-cache companions) on every page of the portal
  (URL namespace ``portal``) and on every download (``Content-Disposition: attachment``): a
  statement or an export never stays in a shared or browser cache. The console's pages already
  get it from the admin site (``admin_view`` is ``never_cache``).

Content-Security-Policy comes from django-csp, Referrer-Policy, HSTS and nosniff from Django's
SecurityMiddleware.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.cache import add_never_cache_headers

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
