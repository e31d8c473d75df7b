"""The operator console: Django admin with a TOTP second factor (django-otp)."""

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm


class BackofficeAdminSite(AdminSite):
    site_header = _("Custody back-office / 资金存管后台")
    site_title = _("Custody back-office")
    index_title = _("Operator console / 运营控制台")

    @property
    def login_form(self):
        return OTPAdminAuthenticationForm if settings.ADMIN_OTP_REQUIRED else AdminAuthenticationForm

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        if settings.ADMIN_OTP_REQUIRED:
            return request.user.is_verified()
        return True
