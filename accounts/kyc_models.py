"""Records of the parties' and account-opening rules (DOMAIN.md §1.4, R-ACC-02).

Imported at the bottom of ``accounts/models.py``; written only by ``accounts.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["AccountOpeningOverride"]


class AccountOpeningOverride(models.Model):
    """An account opened beyond the per-person count limit of its class (R-ACC-02, "原则上"), with the reason.

    One row per overriding opening; append-only. ``held_before`` is how many non-closed accounts of the
    class the party held when the account was opened, ``maximum`` the configured limit then.
    """

    account = models.OneToOneField(
        "accounts.Account",
        on_delete=models.PROTECT,
        related_name="opening_override",
        editable=False,
        verbose_name=_("account / 账户"),
    )
    party = models.ForeignKey(
        "accounts.Party",
        on_delete=models.PROTECT,
        related_name="opening_overrides",
        editable=False,
        verbose_name=_("party / 客户"),
    )
    tier = models.CharField(_("tier / 账户类别"), max_length=16, editable=False)
    held_before = models.PositiveIntegerField(_("accounts held before / 开户前已持有"), editable=False)
    maximum = models.PositiveIntegerField(_("configured maximum / 上限"), editable=False)
    reason = models.CharField(_("reason / 理由"), max_length=500, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("by / 操作人"),
    )
    actor_label = models.CharField(_("by (label) / 操作方"), max_length=100, blank=True, editable=False)
    created_at = models.DateTimeField(_("at / 时间"), default=timezone.now, db_index=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("account-opening override / 超限开户记录")
        verbose_name_plural = _("account-opening overrides / 超限开户记录")
        constraints = [
            models.CheckConstraint(condition=~models.Q(reason=""), name="accountopeningoverride_reason_required"),
        ]

    def __str__(self) -> str:
        return f"override #{self.pk} {self.tier} ({self.held_before} held, max {self.maximum})"
