"""Shared kernel models: partner API clients, nonces, idempotency records and the audit log."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice import crypto


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created at / 创建时间"), default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(_("updated at / 更新时间"), auto_now=True)

    class Meta:
        abstract = True


class ApiClient(TimeStampedModel):
    """A partner bank (or a platform's server) that calls the REST API with signed requests.

    Scopes name what the client may do (``accounts:read``, ``accounts:write``, ``transfers:write``,
    ``holds:write``, ``parties:write``, ``cards:write``)
    and which accounts it sees (``party:<id>``, ``account:<number>``); ``*`` grants everything.
    The secret is shown once, at creation, and never again; the HMAC check needs the secret
    itself, so the database keeps it, encrypted with ``backoffice.crypto`` (``PII_ENCRYPTION_KEYS``,
    rotated by ``manage.py rotate_secrets``) like a channel's callback secret: a database dump alone
    does not sign requests.
    """

    name = models.CharField(_("name / 名称"), max_length=100, unique=True)
    client_id = models.CharField(_("client id / 客户端编号"), max_length=40, unique=True, editable=False)
    secret_encrypted = models.TextField(_("secret (encrypted) / 密钥（密文）"), editable=False)
    scopes = models.JSONField(_("scopes / 权限范围"), default=list, blank=True)
    ip_allowlist = models.JSONField(_("IP allow-list / IP 白名单"), default=list, blank=True)
    is_active = models.BooleanField(_("active / 启用"), default=True)

    class Meta:
        verbose_name = _("API client / 接口客户端")
        verbose_name_plural = _("API clients / 接口客户端")

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    @staticmethod
    def new_credentials() -> tuple[str, str]:
        return "cl_" + secrets.token_hex(10), secrets.token_urlsafe(32)

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value) if value else ""

    def has_scope(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes

    @property
    def secret_hint(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()[:8]


class ApiNonce(models.Model):
    """A nonce seen from a client; refused again for settings.API_NONCE_TTL."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "nonce"], name="apinonce_unique_per_client")]


class IdempotencyRecord(models.Model):
    """The stored answer to a money-moving API request, keyed per client by ``Idempotency-Key``."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", _("In flight / 处理中")
        DONE = "done", _("Done / 已完成")

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True)
    # The answer's bytes exactly as first sent (UTF-8 JSON text): a replay is byte-identical, which
    # a JSON column would not give (PostgreSQL's jsonb reorders keys and respaces).
    response_body = models.TextField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotencyrecord_unique_per_client"),
            models.CheckConstraint(
                condition=Q(state="in_flight") | Q(response_status__isnull=False),
                name="idempotencyrecord_done_has_response",
            ),
        ]


def operator_reference(verbose_name, *, editable: bool = True) -> models.ForeignKey:
    """A user who acted (maker, checker, reviewer, operator): optional, never deleted while
    referenced (PROTECT), with no reverse accessor on the user."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=editable,
        verbose_name=verbose_name,
    )


class AuditLog(models.Model):
    """Append-only record of every state change and every sensitive view (who, what, on what)."""

    created_at = models.DateTimeField(_("at / 时间"), default=timezone.now, db_index=True, editable=False)
    actor = operator_reference(_("actor / 操作人"))
    actor_label = models.CharField(_("actor label / 操作方"), max_length=100, blank=True)
    action = models.CharField(_("action / 动作"), max_length=64, db_index=True)
    target_type = models.CharField(_("target type / 对象类型"), max_length=64, blank=True)
    target_id = models.CharField(_("target / 对象"), max_length=64, blank=True, db_index=True)
    data = models.JSONField(_("data / 数据"), default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit record / 审计记录")
        verbose_name_plural = _("audit log / 审计日志")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target_type}:{self.target_id}"
