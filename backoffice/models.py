"""Shared kernel models: partner API clients, nonces, idempotency records, the audit log and
outbound webhooks (endpoints, deliveries and their attempts)."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

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

    # No index of its own: the unique (client, nonce) serves lookups by client.
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+", db_index=False)
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "nonce"], name="apinonce_unique_per_client")]


class IdempotencyRecord(models.Model):
    """The stored answer to a money-moving API request, keyed per client by ``Idempotency-Key``."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", _("In flight / 处理中")
        DONE = "done", _("Done / 已完成")

    # No index of its own: the unique (client, key) serves lookups by client.
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="+", db_index=False)
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


class WebhookEndpoint(TimeStampedModel):
    """Where an owner (a platform, a merchant) wants to be told of events: a URL, the event types it
    subscribes to (``"*"`` for all) and the secret that signs each delivery (``backoffice.webhooks``).

    ``owner`` is an opaque key the emitting app chooses (``"platform:P001"``, ``"merchant:12"``):
    the kernel knows no app. The secret is shown once, at creation or rotation, and kept encrypted
    with ``backoffice.crypto`` like an API client's. Endpoints are deactivated, never deleted.
    """

    owner = models.CharField(_("owner / 所属方"), max_length=64, db_index=True)
    url = models.URLField(_("URL / 地址"), max_length=500)
    description = models.CharField(_("description / 说明"), max_length=200, blank=True)
    secret_encrypted = models.TextField(_("secret (encrypted) / 签名密钥（密文）"), editable=False)
    event_types = models.JSONField(_("event types / 订阅事件"), default=list, blank=True)
    is_active = models.BooleanField(_("active / 启用"), default=True)

    class Meta:
        verbose_name = _("webhook endpoint / 回调地址")
        verbose_name_plural = _("webhook endpoints / 回调地址")

    def __str__(self) -> str:
        return f"{self.owner} → {self.url}"

    @staticmethod
    def new_secret() -> str:
        return "whsec_" + secrets.token_urlsafe(32)

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value) if value else ""

    @property
    def secret_hint(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()[:8]

    def subscribes_to(self, event: str) -> bool:
        return "*" in self.event_types or event in self.event_types


class WebhookDelivery(FSMModelMixin, TimeStampedModel):
    """One event sent to one endpoint: the exact bytes, and where their delivery stands.

    pending → delivered (a 2xx answer) | retrying (anything else; tried again with backoff) →
    delivered | dead (after ``WEBHOOK_MAX_ATTEMPTS`` attempts). A resend is a new delivery of the
    same bytes (``resend_of``); the dead or delivered row stays as it was.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending / 待发送")
        RETRYING = "retrying", _("Retrying / 重试中")
        DELIVERED = "delivered", _("Delivered / 已送达")
        DEAD = "dead", _("Dead / 已放弃")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("endpoint / 回调地址")
    )
    owner = models.CharField(_("owner / 所属方"), max_length=64, db_index=True)
    event = models.CharField(_("event / 事件"), max_length=64, db_index=True)
    event_id = models.UUIDField(_("event id / 事件编号"), db_index=True)
    # The request body exactly as sent (UTF-8 JSON text): the signature covers these bytes, and a
    # retry or a resend sends them again unchanged.
    payload = models.TextField(_("payload / 报文"))
    state = FSMField(_("state / 状态"), default=State.PENDING, choices=State.choices, protected=True, db_index=True)
    attempts = models.PositiveIntegerField(_("attempts / 尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at / 下次尝试"), null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(_("last attempt at / 最近尝试"), null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(_("last HTTP status / 最近状态码"), null=True, blank=True)
    last_error = models.CharField(_("last error or answer / 最近错误或应答"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered at / 送达时间"), null=True, blank=True)
    resend_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="resends",
        verbose_name=_("resend of / 重发自"),
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook delivery / 回调投递")
        verbose_name_plural = _("webhook deliveries / 回调投递")
        permissions = [("resend_webhookdelivery", "Can resend a webhook delivery / 可重发回调投递")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="delivered") | Q(delivered_at__isnull=False), name="webhookdelivery_delivered_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} → {self.endpoint.url}"

    @transition(field=state, source=[State.PENDING, State.RETRYING], target=State.DELIVERED)
    def mark_delivered(self):
        """The endpoint answered 2xx."""

    mark_delivered.alters_data = True

    @transition(field=state, source=[State.PENDING, State.RETRYING], target=State.RETRYING)
    def mark_retrying(self):
        """The endpoint did not answer 2xx; another attempt is due later."""

    mark_retrying.alters_data = True

    @transition(field=state, source=[State.PENDING, State.RETRYING], target=State.DEAD)
    def mark_dead(self):
        """The last allowed attempt failed: no more automatic attempts."""

    mark_dead.alters_data = True


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery (append-only): when, the status or the error, how long."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.PROTECT, related_name="attempt_log", verbose_name=_("delivery / 投递")
    )
    number = models.PositiveIntegerField(_("attempt / 第几次"))
    at = models.DateTimeField(_("at / 时间"), default=timezone.now)
    status = models.PositiveSmallIntegerField(_("HTTP status / 状态码"), null=True, blank=True)
    error = models.CharField(_("error or answer / 错误或应答"), max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms) / 耗时（毫秒）"), default=0)

    class Meta:
        ordering = ["delivery", "number"]
        verbose_name = _("webhook attempt / 投递尝试")
        verbose_name_plural = _("webhook attempts / 投递尝试")
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhookattempt_unique_number"),
        ]
