"""Platform users (平台操作员): people of a lending platform who sign in to the bank's platform
portal (``/portal/custody/platform/``) to watch their platform's pool, sub-accounts, loans and
webhooks.

Invariants: a Django user is the user of at most ONE platform (one row per user), so a page of
another platform is never theirs (404); each has their own second factor (a confirmed django-otp
TOTP device), required at every sign-in. Roles: ``owner`` (everything, creates webhook endpoints),
``finance`` (resends webhook deliveries), ``viewer`` (reads only). Written by
``custody.platform_users.services`` only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from backoffice.models import TimeStampedModel


class PlatformUser(TimeStampedModel):
    """A Django user acting for one lending platform, in one role."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner / 管理员")
        FINANCE = "finance", _("Finance / 财务")
        VIEWER = "viewer", _("Viewer / 只读")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="platform_user", verbose_name=_("user / 用户")
    )
    platform = models.ForeignKey(
        "custody.LendingPlatform",
        on_delete=models.PROTECT,
        related_name="platform_users",
        verbose_name=_("platform / 平台"),
    )
    role = models.CharField(_("role / 角色"), max_length=10, choices=Role.choices)
    is_active = models.BooleanField(_("active / 启用"), default=True)

    class Meta:
        verbose_name = _("platform user / 平台用户")
        verbose_name_plural = _("platform users / 平台用户")
        ordering = ["platform", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"

    @property
    def can_resend(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.FINANCE)

    @property
    def can_manage_endpoints(self) -> bool:
        return self.role == self.Role.OWNER
