"""Sign-in lockout (django-axes), the client address behind trusted proxies, security headers
(CSP, Referrer-Policy, Permissions-Policy, HSTS, no-store), the self-hosted API docs and
``check --deploy`` under the production environment of README "Security"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.http import HttpResponse
from django.test import Client, RequestFactory

from backoffice.signing import client_ip

pytestmark = pytest.mark.filterwarnings("ignore:No directory at:UserWarning")

ROOT = Path(__file__).resolve().parent.parent
LOGIN = "/portal/login/"
PASSWORD = "portal-test-pass-2026"
WRONG = "wrong-password-2026"


def sign_in(username: str, password: str, *, ip: str = "10.0.0.1", **extra) -> int:
    """One portal sign-in from a fresh browser; returns the status (302 in, 200 refused, 429 locked)."""
    return Client().post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra).status_code


@pytest.fixture
def users(django_user_model):
    def make(*names):
        return [django_user_model.objects.create_user(username=name, password=PASSWORD) for name in names]

    return make


# -- lockout ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_twelve_usernames_attack_is_refused(users):
    """An attacker with an account of his own guesses at twelve colleagues' passwords from one
    address and signs in as himself between rounds: his own success resets only his own count,
    so every victim is locked at the fifth failure, and stays locked from any address."""
    victims = [user.username for user in users(*(f"victim{n:02d}" for n in range(12)))]
    users("mallory")
    refused = 0
    for _round in range(3):
        for victim in victims:
            for _guess in range(2):
                status = sign_in(victim, WRONG, ip="10.0.0.66")
                assert status in (200, 429)
                refused += status == 429
        assert sign_in("mallory", PASSWORD, ip="10.0.0.66") == 302
    # six guesses per victim: the fifth locked the victim (429) and the sixth was refused unchecked
    assert refused == 2 * len(victims)
    for victim in victims:
        assert sign_in(victim, PASSWORD, ip="10.0.0.66") == 429
        assert sign_in(victim, PASSWORD, ip="192.0.2.10") == 429  # another address changes nothing


@pytest.mark.django_db
def test_one_users_failures_do_not_lock_another_user_at_the_same_address(users):
    users("alice", "bob")
    for _guess in range(5):
        sign_in("alice", WRONG, ip="10.0.0.1")
    assert sign_in("alice", PASSWORD, ip="10.0.0.1") == 429
    assert sign_in("bob", PASSWORD, ip="10.0.0.1") == 302  # same address (the TLS proxy): not locked


@pytest.mark.django_db
def test_a_success_resets_only_the_users_own_count(users):
    users("alice", "bob")
    for _guess in range(4):
        sign_in("bob", WRONG, ip="10.0.0.1")
    assert sign_in("alice", PASSWORD, ip="10.0.0.1") == 302
    assert sign_in("bob", WRONG, ip="10.0.0.1") in (200, 429)  # the fifth failure
    assert sign_in("bob", PASSWORD, ip="10.0.0.1") == 429


@pytest.mark.django_db
def test_failures_count_per_username_across_addresses(users):
    users("alice")
    for n in range(5):
        sign_in("alice", WRONG, ip=f"198.51.100.{n + 1}")
    assert sign_in("alice", PASSWORD, ip="198.51.100.99") == 429


@pytest.mark.django_db
def test_axes_records_the_client_address_behind_a_trusted_proxy(users, settings):
    users("alice")
    settings.TRUSTED_PROXY_COUNT = 1
    sign_in("alice", WRONG, ip="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.7"]


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "6.6.6.6, 203.0.113.7", "10.9.9.9"),  # no proxy trusted: the header is the client's own
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the proxy appended what it saw; 6.6.6.6 is forged
        (2, "6.6.6.6, 203.0.113.7", "6.6.6.6"),
        (2, "203.0.113.7", "10.9.9.9"),  # fewer hops than proxies: the header is not trusted
        (1, "", "10.9.9.9"),
        (1, "6.6.6.6, not-an-address", "10.9.9.9"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_takes_the_hop_the_trusted_proxies_saw(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


# -- headers ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", [LOGIN, "/admin/login/", "/healthz"])
def test_every_page_has_the_security_headers(client, path):
    response = client.get(path)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "nonce-" not in csp  # no page but the docs uses a nonce
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def _both_csp_middlewares(request, response):
    """The headers our CSPMiddleware and django-csp's own give the same request and answer."""
    from csp.middleware import CSPMiddleware as DjangoCSPMiddleware

    from backoffice.middleware import CSPMiddleware

    answers = []
    for middleware_class in (CSPMiddleware, DjangoCSPMiddleware):
        middleware = middleware_class(lambda r: response)
        req = RequestFactory().get(request)
        middleware.process_request(req)
        answer = HttpResponse("x")
        for name, value in vars(response).items():
            if name.startswith("_csp"):
                setattr(answer, name, value)
        if getattr(response, "use_nonce", False):
            str(req.csp_nonce)
            req._csp_nonce = "fixed-nonce"
        middleware.process_response(req, answer)
        answers.append({name: answer.get(name) for name in ("Content-Security-Policy", "Content-Security-Policy-Report-Only")})
    return answers


@pytest.mark.parametrize(
    "path, overrides",
    [
        ("/api/v1/transfers/", {}),
        ("/portal/", {}),
        ("/api/docs/", {"use_nonce": True}),
        ("/portal/", {"_csp_update": {"img-src": ["https://tiles.example"]}}),
        ("/portal/", {"_csp_replace": {"script-src": None}}),
        ("/portal/", {"_csp_exempt": True}),
    ],
)
def test_the_policy_built_once_is_the_one_django_csp_builds(settings, path, overrides):
    # backoffice.middleware.CSPMiddleware builds the policy of an answer without nonce or override once per process;
    # every answer must still get exactly the headers django-csp itself would give it.
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'self'"], "report-uri": "/r/"}}
    response = HttpResponse("x")
    for name, value in overrides.items():
        setattr(response, name, value)
    ours, theirs = _both_csp_middlewares(path, response)
    assert ours == theirs
    assert sorted(ours["Content-Security-Policy-Report-Only"].split("; ")) == ["default-src 'self'", "report-uri /r/"]
    if not overrides.get("_csp_exempt"):
        assert "default-src 'self'" in ours["Content-Security-Policy"]


def test_a_changed_policy_setting_is_built_anew(settings, client):
    # The per-process policy follows a changed setting (tests, override_settings), never a stale header.
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'self'"], "img-src": ["'self'", "data:"]}}
    directives = client.get("/healthz")["Content-Security-Policy"].split("; ")
    assert sorted(directives) == ["default-src 'self'", "img-src 'self' data:"]  # django-csp orders them as a set does


@pytest.mark.django_db
def test_portal_pages_are_never_cached(client, django_user_model):
    assert "no-store" in client.get(LOGIN)["Cache-Control"]
    client.force_login(django_user_model.objects.create_user(username="holder", password=PASSWORD))
    assert "no-store" in client.get("/portal/")["Cache-Control"]


@pytest.mark.django_db
def test_https_redirect_and_hsts_follow_the_settings(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = Client().get(LOGIN)
    assert response.status_code == 301 and response["Location"].startswith("https://")
    assert Client().get("/healthz").status_code == 200  # probes stay on plain HTTP
    response = Client().get(LOGIN, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_template_has_inline_script_or_style():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if template.name == "swagger_ui.html":  # drf-spectacular's page: the CSP nonce (README "Security")
            assert text.count("nonce=") == 2
            continue
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert "<style" not in text and "style=" not in text, template


# -- API docs -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_docs_load_nothing_from_another_host(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert any("swagger-ui-bundle" in url for url in urls)
    assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert "cdn" not in html.lower()
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert html.count(f'nonce="{nonce}"') == 2  # the inline style and config script, nothing else
    bundle = next(url for url in urls if "swagger-ui-bundle" in url)
    served = client.get(bundle)
    assert served.status_code == 200
    served.close()  # a streamed static file: close it


# -- check --deploy -----------------------------------------------------------------------------

PRODUCTION_ENV = {
    "DATABASE_URL": "postgres://backoffice:pw@db.internal:5432/backoffice",
    "SECRET_KEY": "k" * 20 + "-production-like-secret-key-of-sufficient-length-" + "z" * 10,
    "ALLOWED_HOSTS": "custody.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://custody.example.com",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "PII_ENCRYPTION_KEYS": "FxAUF9ln1u4nCCGzDwEwdOeeS7ifKbDNEVXgqDVjYQw=",
    "PII_HASH_KEY": "production-hash-key",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto=https",
    "TRUSTED_PROXY_COUNT": "1",
}


def _manage(*args: str) -> subprocess.CompletedProcess:
    # Only the production environment: nothing the test run set (DEBUG, EMBEDDED, or the
    # DJANGO_ALLOW_ASYNC_UNSAFE that the browser tests' Playwright needs) leaks into the check.
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "VIRTUAL_ENV") if key in os.environ}
    env.update(PRODUCTION_ENV)
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_check_deploy_is_clean_under_the_production_environment():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_production_environment_reaches_the_settings():
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_PROXY_SSL_HEADER, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.TRUSTED_PROXY_COUNT, s.DEBUG)"
    )
    result = _manage("shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "('HTTP_X_FORWARDED_PROTO', 'https') 31536000 True 1 False"
