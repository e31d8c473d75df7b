from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    default = True
    name = "backoffice"
    verbose_name = _("Back-office / 后台")

    def ready(self):
        # Registers the webhook Celery tasks (backoffice.webhook_deliver, backoffice.webhook_sweep),
        # which live beside the service that enqueues them.
        from backoffice import webhooks  # noqa: F401


class BackofficeAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "backoffice.admin_site.BackofficeAdminSite"
