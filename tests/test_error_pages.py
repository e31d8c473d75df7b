"""Branded 403, 404 and 500 pages (backoffice.errors) in the console's and the portal's layout, in
both languages, with a way back; the portal never shows Django's debug pages, even under DEBUG;
the favicon and the brand name setting (backoffice.branding)."""

from __future__ import annotations

import pytest
from django.urls import include, path, reverse

from accounts.tests.admin_support import console_fixture  # noqa: F401  (the `console` fixture)


def _boom(request):
    raise RuntimeError("secret detail of a bug")


# This module is also a URLconf (``pytest.mark.urls``): the project's routes plus two that fail.
urlpatterns = [
    path("portal/boom/", _boom),
    path("admin-boom/", _boom),
    path("", include("backoffice.urls")),
]
handler403 = "backoffice.errors.permission_denied"
handler404 = "backoffice.errors.page_not_found"
handler500 = "backoffice.errors.server_error"

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]

DEBUG_MARKERS = ("Using the URLconf", "urlpatterns", "Traceback", "technical", "DEBUG = True", "secret detail")


def _assert_branded(response, *, status, back, texts=()):
    html = response.content.decode()
    assert response.status_code == status
    assert f'id="error-{status}"' in html
    assert f'id="error-back" href="{back}"' in html
    assert "brand/favicon.svg" in html
    for marker in DEBUG_MARKERS:
        assert marker not in html, marker
    for text in texts:
        assert text in html, text
    assert " / " not in html.split("<title>")[1].split("</title>")[0]  # a label, not an untranslated pair
    return html


def test_portal_404_is_branded_in_chinese_with_a_way_back(client):
    response = client.get("/portal/no-such-page/")
    _assert_branded(response, status=404, back="/portal/", texts=("页面不存在", "返回我的账户", "资金存管服务"))


def test_portal_404_in_english(client):
    response = client.get("/portal/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    _assert_branded(response, status=404, back="/portal/", texts=("Page not found", "Back to my accounts", "Custody Service"))


def test_merchant_and_platform_portals_lead_back_to_their_own_home(client):
    _assert_branded(client.get("/portal/merchants/x/y/z/"), status=404, back="/portal/merchants/")
    _assert_branded(client.get("/portal/custody/x/y/z/"), status=404, back="/portal/custody/")


def test_portal_404_is_branded_even_under_debug(client, settings):
    settings.DEBUG = True  # as `make run` sets it
    response = client.get("/portal/no-such-page/")
    _assert_branded(response, status=404, back="/portal/", texts=("页面不存在",))


@pytest.mark.urls("tests.test_error_pages")
def test_portal_500_is_branded_even_under_debug(client, settings):
    settings.DEBUG = True
    client.raise_request_exception = False
    response = client.get("/portal/boom/")
    _assert_branded(response, status=500, back="/portal/", texts=("系统出错了",))


@pytest.mark.urls("tests.test_error_pages")
def test_500_without_debug_is_branded(client):
    client.raise_request_exception = False
    response = client.get("/portal/boom/", HTTP_ACCEPT_LANGUAGE="en")
    _assert_branded(response, status=500, back="/portal/", texts=("Something went wrong",))


def test_console_404_has_the_console_layout(console):
    client = console("auditor")
    response = client.get("/admin/no-such-page/")
    html = _assert_branded(response, status=404, back="/admin/", texts=("返回控制台首页", "运营控制台"))
    assert "area-console" in html


def test_console_403_is_branded_and_tells_whom_to_ask(console):
    client = console("auditor")
    response = client.get(reverse("admin:auth_user_add"), HTTP_ACCEPT_LANGUAGE="en")
    _assert_branded(response, status=403, back="/admin/", texts=("Access denied", "Ask a supervisor"))


def test_api_errors_stay_json(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_found"


def test_favicon_is_served_by_the_project_and_linked_from_both_layouts(client, console):
    redirect = client.get("/favicon.ico")
    assert redirect.status_code == 302 and redirect["Location"].endswith("brand/favicon.svg")
    icon = client.get(redirect["Location"])
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)
    assert "brand/favicon.svg" in client.get("/portal/login/").content.decode()
    assert "brand/favicon.svg" in console("auditor").get(reverse("admin:index")).content.decode()


def test_brand_name_setting_titles_the_portal(client, settings):
    settings.BRAND_NAME = "示例银行资金存管"
    settings.BRAND_NAME_EN = "Example Bank Custody Service"
    chinese = client.get("/portal/login/").content.decode()
    assert "示例银行资金存管</title>" in chinese and 'class="brand-name">示例银行资金存管<' in chinese
    assert "Custody back-office" not in chinese
    english = client.get("/portal/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Example Bank Custody Service</title>" in english


def test_console_404_is_branded_even_under_debug(console, settings):
    settings.DEBUG = True  # `make run`: Django's technical 404 would list every URL
    client = console("auditor")
    response = client.get("/admin/no-such-page/")
    html = _assert_branded(response, status=404, back="/admin/", texts=("页面不存在", "返回控制台首页"))
    assert "area-console" in html
    english = client.get("/admin/accounts/no-such-model/", HTTP_ACCEPT_LANGUAGE="en")
    _assert_branded(english, status=404, back="/admin/", texts=("Page not found",))


def test_no_404_shows_the_url_list_under_debug(client, settings):
    settings.DEBUG = True
    _assert_branded(client.get("/no-such-page/"), status=404, back="/")
    api = client.get("/api/v1/no-such-thing/")
    assert api.status_code == 404 and api["Content-Type"].startswith("application/json")
    assert api.json()["code"] == "not_found"


@pytest.mark.urls("tests.test_error_pages")
def test_console_500_under_debug_stays_for_developers(client, settings):
    settings.DEBUG = True
    client.raise_request_exception = False
    response = client.get("/admin-boom/")
    assert response.status_code == 500 and not getattr(response, "branded_error", False)
