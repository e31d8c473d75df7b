"""Settings of the custody back-office. Configuration comes only from the environment.

Every variable is listed with its default in README.md ("Configuration").
"""

from pathlib import Path

from csp.constants import NONCE, NONE, SELF, UNSAFE_HASHES
from django.utils.translation import gettext_lazy as _

from backoffice.env import database_from_url, env_bool, env_int, env_list, env_str
from backoffice.schema import choice_values

BASE_DIR = Path(__file__).resolve().parent.parent

# GENERAL
DEBUG = env_bool("DEBUG", default=False)
# Embedded mode (no DATABASE_URL: SQLite, `make run`) may run without a secret; production may not.
EMBEDDED = env_bool("EMBEDDED", default=not env_str("DATABASE_URL"))
SECRET_KEY = env_str("SECRET_KEY", default="dev-only-not-secret" if EMBEDDED else None, required=not EMBEDDED)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "backoffice.apps.BackofficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_filters",
    "django_celery_beat",
    "django_celery_results",
    "import_export",
    "simple_history",
    "backoffice",
    "accounts",
    "custody",
    "merchants",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "backoffice.middleware.CSPMiddleware",  # django-csp's, its policy built once per process
    "backoffice.middleware.SecurityHeadersMiddleware",
    # /api/ requests leave here for API_MIDDLEWARE (below): the partner API is signed and cookie-less.
    "backoffice.middleware.ApiLaneMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Under DEBUG, the branded 404/500 pages instead of Django's debug pages for the portal.
    "backoffice.errors.PortalDebugPagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # AxesMiddleware should be the last middleware (django-axes docs).
    "axes.middleware.AxesMiddleware",
]

# The chain of /api/ requests after ApiLaneMiddleware (the security headers above apply to them too): the language
# from Accept-Language (the API's messages), Django's common middleware (APPEND_SLASH, Content-Length) and
# X-Frame-Options. No session, CSRF, user, OTP, messages, axes, history or static files.
API_MIDDLEWARE = [
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Under DEBUG, an unknown /api/ path answers the JSON not_found, never Django's URL list.
    "backoffice.errors.PortalDebugPagesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "backoffice.branding.brand",
            ],
        },
    },
]

# DATABASES: embedded SQLite by default, PostgreSQL in production and CI.
DATABASES = {"default": database_from_url(env_str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {
        # Writers queue at BEGIN: SQLite has no SELECT ... FOR UPDATE, so this is what keeps the
        # embedded ledger serial (https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-transaction-behavior).
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": env_str("SQLITE_TEST_NAME", default="") or None}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
# Services own their transactions (atomic(durable=True)); see CONVENTIONS.md pitfall 9.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# BRAND: the customer-facing name of the bank's custody service (portal title and header, error
# pages), in Chinese and in English (backoffice.branding).
BRAND_NAME = env_str("BRAND_NAME", default="资金存管服务")
BRAND_NAME_EN = env_str("BRAND_NAME_EN", default="Custody Service")

# AUTHENTICATION
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/portal/login/"
LOGIN_REDIRECT_URL = "/portal/"
LOGOUT_REDIRECT_URL = "/portal/login/"
# Operators sign in with a TOTP second factor. Only the embedded demo may waive it.
ADMIN_OTP_REQUIRED = env_bool("ADMIN_OTP_REQUIRED", default=True) or not EMBEDDED
OTP_TOTP_ISSUER = "Custody back-office"

# django-axes: failures are counted per username, whatever the address (an attacker who rotates
# addresses is still refused), and per (username, address); never per address alone, which behind
# the TLS proxy would lock everybody out for one user's typos. A successful sign-in resets only the
# attempts these parameters match, i.e. that user's own: never another user's count.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 30) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", ["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The client's address: REMOTE_ADDR, or with TRUSTED_PROXY_COUNT proxies in front the address the
# outermost of them saw (X-Forwarded-For, counted from the right). axes would use django-ipware
# (AXES_IPWARE_PROXY_COUNT) if it were installed; it is not, so axes asks our function.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "backoffice.signing.client_ip"
AXES_LOCKOUT_TEMPLATE = "lockout.html"
AXES_VERBOSE = False

# I18N
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
# One date format in both languages: "2026-12-08 01:30" (backoffice/formats/).
FORMAT_MODULE_PATH = ["backoffice.formats"]

# STATIC
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Files the application writes (export jobs' files): never served as static files; the portal and
# the console stream them to their owner only.
MEDIA_ROOT = env_str("MEDIA_ROOT", default=str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": env_str("STATICFILES_STORAGE", default="django.contrib.staticfiles.storage.StaticFilesStorage")},
}
WHITENOISE_USE_FINDERS = True

# REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["backoffice.signing.SignatureAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["backoffice.signing.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["backoffice.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backoffice.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "backoffice.api.KeysetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Custody back-office partner API",
    "DESCRIPTION": (
        "Signed REST API for partner banks: parties, account opening, card binding and micro-deposit "
        "verification, accounts with their limits, statements, transfers and holds, recharges and withdrawals "
        "through payment channels, and the channels' callbacks; for P2P platforms (scope `platform:{code}`), "
        "their clients' depository sub-accounts, loans, fees and reconciliation; for merchants, payments, refunds "
        "and settlements. Signing: the security scheme `signature`; errors: each operation's description lists "
        "its codes by HTTP status."
    ),
    "VERSION": "1.0.0",
    "CONTACT": {"name": "Custody API support / 存管接口支持", "email": "api-support@bank.example"},
    # An example host: each bank serves the API on its own; the paths carry /api/v1.
    "SERVERS": [{"url": "https://custody.bank.example", "description": "The bank's API host (replace with yours)."}],
    "TAGS": [
        {"name": "parties", "description": "Customers (persons and organisations) and their identity data, masked."},
        {"name": "accounts", "description": "Account opening, balances, limits and statements."},
        {"name": "cards", "description": "Binding a bank card to an account and verifying it (micro-deposit)."},
        {"name": "authorisation", "description": "One-time codes that authorise money leaving or entering."},
        {"name": "ledger", "description": "Transfers between accounts, and holds (freeze, release, capture)."},
        {"name": "money in and out", "description": "Recharges and withdrawals through payment channels."},
        {"name": "channels", "description": "Payment channels' callbacks (signed with the channel's key, not ours)."},
        {"name": "custody: platforms", "description": "P2P platforms: settlement account and clients' sub-accounts."},
        {"name": "custody: confirmations", "description": "Clients' recharges, withdrawals and debts confirmed by them."},
        {"name": "custody: loans", "description": "Loans, bids, disbursement and repayments."},
        {"name": "custody: fees", "description": "The platform's fee schedule, accruals and invoices."},
        {"name": "custody: reconciliation", "description": "Daily reconciliation files, days and custody reports."},
        {"name": "merchants: payments and refunds", "description": "Merchants' payments, refunds and refund payouts."},
        {"name": "merchants: settlements", "description": "Merchants' settlement batches and their payouts."},
    ],
    "PREPROCESSING_HOOKS": ["backoffice.schema.preprocessing_hook"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "backoffice.schema.postprocessing_hook"],
    "SERVE_INCLUDE_SCHEMA": False,
    # backoffice.api.StringIdConverter: an id in a path is a string of digits, as the id in the answers.
    "PATH_CONVERTER_OVERRIDES": {"sid": {"type": "string", "pattern": "^[0-9]{1,18}$", "example": "1"}},
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI from the project's own static files (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Named by string (the kernel imports no app): custody's sub-account roles beside accounts' roles.
    # Every enum named by its domain noun (tests: no generic StateEnum, no hashed Kind8a1Enum). Named by string (the
    # kernel imports no app); a callable is read when the schema is generated.
    "ENUM_NAME_OVERRIDES": {
        "AccountTierEnum": choice_values("accounts.ledger.models.Account.Tier"),
        "AccountOpenTierEnum": ["I", "II", "III", "corporate"],
        "AccountRoleEnum": "accounts.ledger.chart.ROLE_CHOICES",
        "AccountStateEnum": "accounts.ledger.models.Account.State",
        "AccountLimitPeriodEnum": choice_values("accounts.limits.models.LimitPeriod"),
        "EntrySideEnum": ["debit", "credit"],
        "TransferKindEnum": "accounts.api.serializers.transfer_kinds",
        "HoldReasonEnum": "accounts.ledger.models.Hold.Reason",
        "HoldCreateReasonEnum": "accounts.api.serializers.HOLD_CREATE_REASONS",
        "HoldStateEnum": "accounts.ledger.models.Hold.State",
        "PartyTypeEnum": choice_values("accounts.parties.models.Party.Type"),
        "PartyKycStateEnum": choice_values("accounts.parties.models.Party.KycState"),
        "CardBindingStateEnum": "accounts.cards.models.BoundCard.State",
        "CardTypeEnum": ["debit", "credit", "prepaid", "unknown"],
        "CardBoundAccountKindEnum": choice_values("accounts.cards.models.BoundCard.BoundAccountKind"),
        "MicroDepositStateEnum": choice_values("accounts.cards.models.MicroDeposit.State"),
        "OtpPurposeEnum": ["recharge", "withdrawal", "instruction"],
        "WithdrawalStateEnum": choice_values("accounts.payments.models.Withdrawal.State"),
        "WithdrawalSettlesEnum": choice_values("accounts.payments.models.Withdrawal.Settles"),
        "WithdrawalStrategyEnum": choice_values("accounts.payments.models.Channel.Strategy"),
        # recharges, merchants' payments and refunds: one set of states of a request sent to a payment channel
        "ChannelRequestStateEnum": choice_values("accounts.payments.models.Recharge.State"),
        "ChannelCallbackOutcomeEnum": choice_values("accounts.payments.models.ChannelCallback.Outcome"),
        # custody's sub-account roles beside accounts' roles
        "SubAccountRoleEnum": "custody.models.SUBACCOUNT_ROLE_CHOICES",
        "PlatformSettlementVerificationEnum": ["micro_deposit", "operator"],
        # two choice sets share the field name "method": a loan's repayment method, a payment's means
        "RepaymentMethodEnum": "custody.loans.models.Method",
        "RepaymentDebtStateEnum": "custody.loans.models.RepaymentDebt.State",
        "LoanStateEnum": "custody.loans.models.Loan.State",
        "LoanBidStateEnum": "custody.loans.models.Bid.State",
        "LoanInstalmentStateEnum": "custody.loans.models.LoanInstalment.State",
        "ConfirmationKindEnum": "custody.loans.models.Confirmation.Kind",
        "ConfirmationStateEnum": "custody.loans.models.Confirmation.State",
        "FeeBasisEnum": choice_values("custody.fees.models.FeeSchedule.Basis"),
        "FeeModeEnum": choice_values("custody.fees.models.FeeSchedule.Mode"),
        "FeeDayCountEnum": choice_values("custody.fees.models.FeeSchedule.DayCount"),
        "FeeRoundingEnum": choice_values("custody.fees.models.FeeSchedule.Rounding"),
        "FeePerWithdrawalPayerEnum": choice_values("custody.fees.models.FeeSchedule.Payer"),
        "FeeInvoiceStateEnum": "custody.fees.models.FeeInvoice.State",
        "FeeInvoiceLineKindEnum": "custody.fees.models.FeeInvoiceLine.Kind",
        "ReconciliationItemKindEnum": "custody.reconciliation.models.ReconciliationItem.Kind",
        "PaymentMethodEnum": "merchants.models.PaymentMethod",
        "PaymentDiscountFunderEnum": choice_values("merchants.models.PaymentDiscount.Funder"),
        "RefundPayoutOriginEnum": ["console", "api", "portal"],
        "SettlementBatchStateEnum": "merchants.models.SettlementBatch.State",
        "SettlementItemKindEnum": "merchants.models.SettlementItem.Kind",
        "SettlementItemMatchEnum": choice_values("merchants.models.Match"),
        "MerchantPayoutStateEnum": "merchants.models.MerchantPayout.State",
    },
}
API_SIGNATURE_MAX_SKEW = env_int("API_SIGNATURE_MAX_SKEW", 300)  # seconds
API_NONCE_TTL = 24 * 3600  # seconds a nonce stays refused
# API clients cached per process; every signed request checks the cached row in the statement that records its nonce.
API_CLIENT_CACHE = env_bool("API_CLIENT_CACHE", default=True)
# POST /api/v1/transfers/ in one statement on PostgreSQL (accounts.api.transfer_fast, posting through
# accounts.ledger.postings.post_transfer_signed); off: the general path only.
API_TRANSFER_ONE_STATEMENT = env_bool("API_TRANSFER_ONE_STATEMENT", default=True)
API_IDEMPOTENCY_TTL = env_int("API_IDEMPOTENCY_TTL_HOURS", 48) * 3600
# An in-flight idempotency record older than this is taken over by a retry: the ledger's own
# (client, key) idempotency makes the re-run safe.
API_IDEMPOTENCY_STALE_AFTER = env_int("API_IDEMPOTENCY_STALE_AFTER", 120)

# OUTBOUND WEBHOOKS (backoffice.webhooks): attempts per delivery before it is dead, the backoff
# before attempt n+1 (base * 2**(n-1), capped, with jitter) and the HTTP timeout of one attempt.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_BACKOFF_SECONDS = env_int("WEBHOOK_BACKOFF_SECONDS", 30)
WEBHOOK_BACKOFF_MAX_SECONDS = env_int("WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5)

# CELERY: no broker configured means the embedded mode, where tasks run inline after commit.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)

# PERSONAL DATA: Fernet keys (comma-separated; the first encrypts, all decrypt, so keys rotate) and
# the key of the search hashes. Unset, both are derived from SECRET_KEY; production sets its own.
PII_ENCRYPTION_KEYS = env_list("PII_ENCRYPTION_KEYS", default=[])
PII_HASH_KEY = env_str("PII_HASH_KEY", default="")

# ACCOUNTS: the DOMAIN.md numbers marked [U] are configuration with their defaults; every one is
# read by accounts/conf.py from the environment variable of its name (README "Configuration").

# LEDGER
# Deadlock / serialization failures are retried this many times before the error surfaces.
LEDGER_MAX_RETRIES = env_int("LEDGER_MAX_RETRIES", 5)
# On PostgreSQL, post_transfer without guards posts through the ledger_post_transfer() function
# (one round trip; migration 0008); false forces the Python path everywhere.
LEDGER_PG_FUNCTION = env_bool("LEDGER_PG_FUNCTION", default=True)
# The most vouchers post_transfers (and POST /api/v1/transfers/batch/) takes in one batch.
LEDGER_BATCH_MAX = env_int("LEDGER_BATCH_MAX", 100)

# SECURITY (production; README "Security")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not EMBEDDED)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not EMBEDDED)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
# Behind the TLS proxy: the header (and value) by which it says the request came over HTTPS, e.g.
# "X-Forwarded-Proto=https". Only set it when the proxy overwrites that header on every request.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    _header_name, _, _header_value = _proxy_ssl_header.partition("=")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _header_name.strip().upper().replace("-", "_"), _header_value.strip() or "https")
# Health probes come from the orchestrator over plain HTTP, inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Browser features no page uses (backoffice.middleware.SecurityHeadersMiddleware).
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
# Content-Security-Policy (django-csp): our pages load scripts and styles from our own origin only.
# Exactly three inline pieces are allowed, and why:
# - the API docs page (templates/drf_spectacular/swagger_ui.html): drf-spectacular's inline style
#   and configuration script carry the per-request nonce (NONCE is sent only on pages that use it);
# - Django admin's change list has one <style> block (a list without actions): its hash;
# - django-import-export's export form has two style attributes and one event handler (its
#   "select all" box): their hashes ('unsafe-hashes' admits only attributes with exactly these
#   contents).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [
            SELF,
            NONCE,
            UNSAFE_HASHES,
            "'sha256-wid4zL8fR53ZYy1ljOepzR77Dn6vWUUxuNnnWWBP3I8='",  # onchange="onSelectToggleChange(event)"
        ],
        "style-src": [
            SELF,
            NONCE,
            UNSAFE_HASHES,
            "'sha256-blvLUW3UscWqsXGByNOqdBboM+ShWAuugp2mC/wbafU='",  # admin/change_list.html <style>
            "'sha256-mHgUAqxc8GPXM/QhzkHrHujcrQTU9fd6ZjWz+icxKcA='",  # style="padding: 0;"
            "'sha256-+YWRMZ88jMyO7jVlBA52tZADiPobPIUA8LAWee68Fvs='",  # style="font-weight: bold;"
        ],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
