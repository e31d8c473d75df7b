"""The operator console: Django admin with a TOTP second factor (django-otp)."""

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.utils.translation import gettext_lazy as _
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm

from backoffice.navigation import group_app_list


class OperatorAuthenticationForm(OTPAdminAuthenticationForm):
    """Password and TOTP code in one submit when the operator has exactly one device.

    django-otp asks the user to pick a device once the password is accepted; with a single
    confirmed device there is nothing to pick, so it is chosen here (still the user's own).
    """

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                device = devices[0]
        return device


class BackofficeAdminSite(AdminSite):
    site_header = _("Custody back-office / 资金存管后台")
    site_title = _("Custody back-office")
    index_title = _("Operator console / 运营控制台")

    @property
    def login_form(self):
        return OperatorAuthenticationForm if settings.ADMIN_OTP_REQUIRED else AdminAuthenticationForm

    def get_app_list(self, request, app_label=None):
        """The index and the sidebar list the models by the operator's work (backoffice.navigation);
        an app's own page (``/admin/<app>/``) keeps Django's list of that app."""
        if app_label is not None:
            return super().get_app_list(request, app_label)
        return group_app_list(request, self._build_app_dict(request))

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        if settings.ADMIN_OTP_REQUIRED:
            return request.user.is_verified()
        return True
