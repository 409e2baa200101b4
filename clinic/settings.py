"""Settings for the intrathecal pump clinic, read from the environment.

DEBUG is off unless the environment turns it on (DEBUG=true): a server
started without it never shows tracebacks or settings to a browser. The
developer's tools turn it on explicitly: ``make`` exports DEBUG=true, and the
tests and mypy load ``clinic.settings_dev``. Production sets SECRET_KEY,
ALLOWED_HOSTS and DATABASE_URL (PostgreSQL).
"""

import base64
import hashlib
import os
import secrets
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_HASHES
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no environment variable; anything unrecognised is an error."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Off unless set: forgetting the variable in production must not turn it on.
DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
# Commands that only read the models' code and the migration files and never
# sign anything (a session, a reset link): a schema check on a build machine
# or a hook runs them without the production secret. They get a random key of
# their own, so nothing could be signed with a key anyone else holds.
_KEYLESS_COMMANDS = frozenset({"makemigrations", "showmigrations"})
_KEYLESS_RUN = (
    len(sys.argv) > 1 and Path(sys.argv[0]).name == "manage.py" and sys.argv[1] in _KEYLESS_COMMANDS
)
SECRET_KEY = os.environ.get(
    "SECRET_KEY",
    _DEV_SECRET_KEY if DEBUG else secrets.token_urlsafe(50) if _KEYLESS_RUN else "",
)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off (DEBUG is off unless set: "
        "on a developer's machine use make run, or set DEBUG=true)"
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "web.admin_apps.ClinicAdminConfig",  # django.contrib.admin, its pages GET/HEAD/POST only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    # The outbox's worker and scheduler (issue 15; README, "Reminders").
    "django_q",
    "simple_history",
    "axes",
    # Only for its system check of the policy's settings; CSPMiddleware sets the header.
    "csp",
    # Layers, lowest first (docs/architecture.md; .importlinter enforces them).
    "patients",
    "pumps",
    "care",
    "importer",
    "demo",
    "outreach",
    "web",
    "audit",
    "backup",
    # Staff calendar feeds (issue 15): above audit, whose view log it writes.
    "feeds",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ under gunicorn (README, "Production"); right after security.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise, so static files keep their long caching and need no policy;
    # above the rest, so every answer Django makes gets both headers (issue 13).
    "clinic.headers.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # PostgreSQL cannot compare text with NUL: refused as 400, never a 500.
    "audit.hygiene.RejectNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "audit.idle.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Every request that reaches a view of patient data (audit/registry.py says which).
    "audit.middleware.ViewAuditMiddleware",
    # Last, so it sees the lockout flag the sign-in set and answers with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.roles.roles_context",
            ],
        },
    },
]

WSGI_APPLICATION = "clinic.wsgi.application"

# SQLite is the embedded default; PostgreSQL is production
# (DATABASE_URL=postgres://user@host:5432/name). An empty DATABASE_URL (a
# blank line in an env file) means unset, not a URL without a scheme.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
# Production connections (issue 11; README, "Database connections"): on
# PostgreSQL with DEBUG off each gunicorn worker keeps its connection for
# DB_CONN_MAX_AGE seconds (default 600) instead of opening one per request,
# and checks it at the start of a request before reusing it, so a connection
# the server dropped (restart, failover, idle timeout) is replaced, never
# shown to staff as an error.
#
# Persistent connections, not psycopg's pool: gunicorn's sync workers serve
# one request at a time, so a worker never needs more than one connection; a
# pool in each worker would hold min_size idle connections and a thread per
# process for no gain, and one more dependency. A pool pays with threaded or
# async workers (several requests per process); switch then. Setting
# DB_CONN_MAX_AGE=0 goes back to one connection per request.
_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
_PERSISTENT = _POSTGRES and not DEBUG
DATABASES["default"]["CONN_MAX_AGE"] = int(
    os.environ.get("DB_CONN_MAX_AGE", "600" if _PERSISTENT else "0")
)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = DATABASES["default"]["CONN_MAX_AGE"] != 0
# Prepared statements (core.compiled.prepares): the statements compiled once per
# process (the worklist's rows, the patient page's, the refill form's pump) are
# parsed and planned by PostgreSQL once per connection, from their second run,
# instead of on every run. Django's other queries are never prepared. Set
# DB_PREPARE_THRESHOLD=off behind a pooler in transaction mode that cannot keep
# prepared statements (PgBouncer before 1.21).
_PREPARE_THRESHOLD = os.environ.get("DB_PREPARE_THRESHOLD", "2").strip().lower()
if _POSTGRES and _PREPARE_THRESHOLD not in ("off", "none", ""):
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = int(_PREPARE_THRESHOLD)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a concurrent writer instead of failing at once with
    # "database is locked" when two nurses save at the same moment.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Tests use a file, not memory: the browser tests' live server answers
    # from several threads, and each needs its own connection to the same data.
    # One file per test process, so parallel runs never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"pump-clinic-test-{os.getpid()}.sqlite3")
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The lockout check comes first: a locked-out username+address is refused
# before any password is hashed (audit/backends.py says why it is subclassed).
AUTHENTICATION_BACKENDS = [
    "audit.backends.LockoutBackend",
    # Django's ModelBackend, reading each request's user with its roles in one query.
    "core.roles.StaffBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "pumps:worklist"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
# Dates shown to staff and "today" for every status are the clinic's local
# dates (clinical-rules.md section 3), so the clinic's zone is a setting.
TIME_ZONE = os.environ.get("TIME_ZONE", "America/Chicago")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# In production WhiteNoise serves the collected files (manage.py collectstatic)
# under hashed, compressed names with far-future caching; in development the
# files are read from STATICFILES_DIRS as they change.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# Files browsers ask for at the site's root (/favicon.ico): WhiteNoise serves
# static/root/ there, before any middleware that reads the session or database.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"

# --- Security (issue 5; README, "Production behind a TLS proxy") -----------------

# True only when a reverse proxy we run sits in front of the app: then its
# X-Forwarded-For names the client and X-Forwarded-Proto says whether the
# browser used HTTPS. Without a proxy these headers come from the client and
# anyone could forge them, so they are ignored.
TRUSTED_PROXY = env_bool("TRUSTED_PROXY", False)
if TRUSTED_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# HTTPS everywhere once DEBUG is off; each can be turned off for a local trial.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# The proxy's health probe may come over plain HTTP from inside; it shows no data.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^healthz/db$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
# A year of HSTS by default in production; start lower (e.g. 3600) while
# trying a new host name, since browsers remember it.
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"


# Content-Security-Policy (django-csp; issue 13): scripts, styles, fonts and
# images only from the app itself (static/, no CDN), no inline script or
# style, so text that slipped into a page unescaped cannot run. data: images
# are Bootstrap's CSS icons (the menu button, select arrows, close buttons).
# Pages may not be framed (as X-Frame-Options) nor post forms elsewhere.
#
# One exception, for the admin: django-simple-history's history page
# (simple_history/object_history_list.html) carries a single style attribute,
# style="border-top: 0". style-src-attr lets through an attribute whose text
# hashes to a listed value ('unsafe-hashes' means exactly that) and nothing
# else; every other inline style, and every inline script, stays refused.
# Django's own admin needs no exception.
def _style_attribute_hash(css: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()}'"


SIMPLE_HISTORY_STYLE_ATTRIBUTE = "border-top: 0"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_HASHES, _style_attribute_hash(SIMPLE_HISTORY_STYLE_ATTRIBUTE)],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# manage.py import_clinic refuses a file larger than this before reading it
# (docs/interfaces.md). The file is read as a stream, but every row is kept
# until the whole import has been checked (it is all or nothing).
IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", str(50 * 1024 * 1024)))

# A signed-in screen left open on a ward is signed out after this many idle
# minutes (audit/idle.py). The store's own expiry is a backstop, pushed on by
# the idle clock's refreshes.
SESSION_IDLE_TIMEOUT_MINUTES = int(os.environ.get("SESSION_IDLE_TIMEOUT_MINUTES", "15"))
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# django-axes: after AXES_FAILURE_LIMIT failed sign-ins for one username from
# one address, that pair is locked out for AXES_COOLOFF_MINUTES. Keyed on the
# pair so an attacker cannot lock a nurse out from elsewhere on the network.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "audit.ip.client_ip"

# --- Two-step sign-in and passwords (issue 13; README, "Who may see and change what") ---
# django-otp keeps each user's authenticator app (TOTP) and recovery codes (static
# tokens); the accounts app holds the pages and the enforcement (accounts/policy.py).
INSTALLED_APPS += [
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "accounts",
]
# OTPMiddleware marks request.user verified or not, so it follows AuthenticationMiddleware.
# The enforcement follows the idle sign-out: an idle session ends before it is asked a code.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("audit.idle.IdleTimeoutMiddleware") + 1,
    "accounts.middleware.SecondFactorMiddleware",
)
# Roles that must use two-step sign-in: physicians and administrators in production
# (superusers and admin-site staff count as administrators); add "nurse" to include
# nurses; "none" requires it of nobody. The demo (DEBUG on) requires it of nobody, so
# the README's demo logins sign in with the password alone; anyone may still turn it on.
_OTP_ROLES = {"nurse", "physician", "administrator"}
OTP_REQUIRED_ROLES = [
    role.lower()
    for role in env_list("OTP_REQUIRED_ROLES", "none" if DEBUG else "physician,administrator")
    if role.lower() != "none"
]
if set(OTP_REQUIRED_ROLES) - _OTP_ROLES:
    raise ImproperlyConfigured(
        f"OTP_REQUIRED_ROLES names roles among {sorted(_OTP_ROLES)} or none, "
        f"not {os.environ.get('OTP_REQUIRED_ROLES')!r}"
    )
OTP_TOTP_ISSUER = "Pump clinic"  # the name staff see in their authenticator app
# Wrong codes make the next try wait 1, 2, 4, 8... seconds, per device (django-otp's
# throttling, on by default; set here so no one turns it off by accident).
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# The admin lists devices (an administrator removes a lost phone's) but never shows a secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Password reset links go by email: printed to the console unless EMAIL_BACKEND says
# otherwise (django.core.mail.backends.smtp.EmailBackend with the EMAIL_* below).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "pump-clinic@localhost")
# A reset link works once, for an hour (Django's default is three days).
PASSWORD_RESET_TIMEOUT = 60 * 60

# Reverting a history entry would save an old version whole, bypassing the
# services that keep the schedule right; history stays read-only.
SIMPLE_HISTORY_REVERT_DISABLED = True

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Print-outs (issue 14): the clinic's name heads every printed page.
CLINIC_NAME = os.environ.get("CLINIC_NAME", "Pump clinic")

# Phone numbers (issue 14): a number typed without a country code is read as a
# number of this region (ISO 3166 code). "US" as the project's locale is
# (LANGUAGE_CODE en-us, TIME_ZONE America/Chicago); a clinic elsewhere sets its own.
PHONENUMBER_DEFAULT_REGION = os.environ.get("PHONENUMBER_DEFAULT_REGION", "US").upper()

# Pharmacy orders (issue 14): how many days before a refill the order must
# reach the pharmacy, for a drug whose own lead time is blank in the admin.
# A compounded admixture is prepared to order and takes longer.
PHARMACY_LEAD_DAYS = int(os.environ.get("PHARMACY_LEAD_DAYS", "7"))
PHARMACY_LEAD_DAYS_COMPOUNDED = int(os.environ.get("PHARMACY_LEAD_DAYS_COMPOUNDED", "14"))

# Reminders and the outbox (issue 15; README, "Reminders and the outbox").
# The clinic's phone is the only number a message gives.
CLINIC_PHONE = os.environ.get("CLINIC_PHONE", "555-0100")
# Days before a booked visit that a reminder goes ("7,1": a week and a day before),
# at this local time of day.
OUTREACH_REMINDER_OFFSETS_DAYS = [
    int(days) for days in os.environ.get("OUTREACH_REMINDER_OFFSETS_DAYS", "7,1").split(",") if days
]
OUTREACH_SEND_AT = os.environ.get("OUTREACH_SEND_AT", "09:00")
# Template languages kept by the clinic: code:name pairs. With one language the
# patient's preferred language is not asked.
OUTREACH_LANGUAGES = [
    tuple(pair.split(":", 1))
    for pair in os.environ.get("OUTREACH_LANGUAGES", "en:English").split(",")
    if ":" in pair
]
# SMS: outreach.sms.ConsoleSmsBackend (prints), outreach.sms.HttpSmsBackend (a
# provider speaking the fake provider's HTTP protocol, HMAC-signed) or
# outreach.sms.TwilioSmsBackend (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM).
OUTREACH_SMS_BACKEND = os.environ.get("OUTREACH_SMS_BACKEND", "outreach.sms.ConsoleSmsBackend")
OUTREACH_SMS_URL = os.environ.get("OUTREACH_SMS_URL", "")
OUTREACH_SMS_SECRET = os.environ.get("OUTREACH_SMS_SECRET", "")
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM = os.environ.get("TWILIO_FROM", "")
# The address staff and patients reach the app by, for the unsubscribe link in emails.
OUTREACH_SITE_URL = os.environ.get("OUTREACH_SITE_URL", "http://127.0.0.1:8000")
# A worker's claim on a message lasts this long; a "sending" row older than that
# is reconciled (outreach.outbox.reconcile_stale), never re-sent blindly.
OUTREACH_LEASE_SECONDS = int(os.environ.get("OUTREACH_LEASE_SECONDS", "300"))
OUTREACH_MAX_ATTEMPTS = int(os.environ.get("OUTREACH_MAX_ATTEMPTS", "5"))
OUTREACH_RETRY_BASE_SECONDS = int(os.environ.get("OUTREACH_RETRY_BASE_SECONDS", "60"))
OUTREACH_BATCH_SIZE = int(os.environ.get("OUTREACH_BATCH_SIZE", "200"))
# Outcomes are written every this many messages, in one transaction: a worker
# that dies leaves at most this many rows "sending" for reconciliation.
OUTREACH_MARK_EVERY = int(os.environ.get("OUTREACH_MARK_EVERY", "20"))
# Tests only: the worker process exits right after the provider accepted a
# message and before it is marked sent (a crash between send and mark).
OUTREACH_CRASH_AFTER_SEND = env_bool("OUTREACH_CRASH_AFTER_SEND", False)

# django-q2: the database (ORM) broker by default, Redis when Q_REDIS_URL is set.
Q_CLUSTER: dict[str, object] = {
    "name": "clinic",
    "workers": int(os.environ.get("Q_WORKERS", "1")),
    "timeout": 240,
    "retry": 300,
    "catch_up": False,
    "max_attempts": 1,
    "ack_failures": True,
    "save_limit": 250,
    "poll": 2,
    # django-q2 pops this key whenever the environment sets Q_CLUSTER_NAME (a queue of
    # its own, e.g. two clinics on one Redis server): without it, KeyError at start.
    "ALT_CLUSTERS": {},
}
# Q_REDIS_URL: redis://[:password@]host:6379/0 (rediss:// for TLS); the queue's key
# is django_q:<cluster name>:q, so Q_CLUSTER_NAME keeps two clinics apart on one server.
if os.environ.get("Q_REDIS_URL"):
    Q_CLUSTER["redis"] = os.environ["Q_REDIS_URL"]
else:
    Q_CLUSTER["orm"] = "default"
