"""vmemlab settings: one module, driven by environment variables (listed in .env.example).

Development (the default) runs with embedded defaults: SQLite under var/, the Redis that `./lab up`
provides, a secret key generated once into var/. Production (VMEMLAB_ENV=production) requires
SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and REDIS_URL, and passes `manage.py check --deploy`.
"""

import re
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    env_time_zone,
    env_url,
    redis_database,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VMEMLAB_VAR_DIR", str(BASE_DIR / "var")))

ENVIRONMENT = env_str("VMEMLAB_ENV", "development")
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"VMEMLAB_ENV must be 'development' or 'production', not {ENVIRONMENT!r}."
    )
PRODUCTION = ENVIRONMENT == "production"

if PRODUCTION:
    missing = [
        name
        for name in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL")
        if not env_str(name).strip()
    ]
    if missing:
        raise ImproperlyConfigured(
            f"Production settings need {', '.join(missing)} in the environment."
        )


def _local_secret_key() -> str:
    """A key generated once into var/ so sessions survive restarts of a local lab."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or _local_secret_key()
DEBUG = env_bool("DEBUG", default=False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    # "," or " , " passes the presence check above but names no host: every request would be 400.
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must name at least one host (comma-separated), "
        f"not {env_str('ALLOWED_HOSTS')!r}."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "hostsim",
    "pools",
    "dashboard",
    "vsphere",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "dashboard.dbpool.DatabaseAdmissionMiddleware",  # last: see its docstring
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

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
                "dashboard.inventory_tree.inventory",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
_sqlite_path = VAR_DIR / "vmemlab.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_url(
            "DATABASE_URL",
            f"sqlite:///{_sqlite_path}",
            schemes={"sqlite", "postgres", "postgresql", "pgsql"},
        ),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write at once: WAL lets readers through, IMMEDIATE takes the write
    # lock at BEGIN so two writers queue on the timeout instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so a Celery worker process started by the tests sees the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-vmemlab.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A bounded pool per process (psycopg_pool, built into Django 5.1+) instead of a connection
    # per request: uvicorn runs every request in flight on a thread of its own, so without a cap
    # 100 pollers opened 100 connections ("sorry, too many clients already"), each costing a
    # PostgreSQL backend start. HTTP requests may use all but 2 of a web process's connections
    # (dashboard.dbpool: the rest serve the websocket connects) and wait up to
    # DATABASE_POOL_TIMEOUT for one, then get 503, not 500. More would not serve more: the
    # requests are CPU-bound on one GIL, and every extra one slows the event loop delivering the
    # live feeds (the live benchmark: with 6 at once, lag p95 1.3 s; with 2, 0.35 s; same req/s).
    # Budget against PostgreSQL's max_connections (default 100, 3 kept for superusers): 4 web
    # processes and 2 workers at the default 4 hold at most 24; beat opens none (it only queues
    # tasks), which leaves plenty for manage.py commands, psql and the test suite.
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured(
            "DATABASE_CONN_MAX_AGE must be 0 with PostgreSQL: connections come from a pool "
            "(DATABASE_POOL_MAX_SIZE)."
        )
    _pool_max = env_int("DATABASE_POOL_MAX_SIZE", 4, minimum=1, maximum=90)
    # setdefault: keep what DATABASE_URL's query string put there (sslmode=..., ...).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, _pool_max),  # kept open, so a request after a quiet spell waits for none
        "max_size": _pool_max,
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0, minimum=0.1, maximum=300.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes={"redis", "rediss", "unix"})

# The live feeds ride on Redis pub/sub (channels-redis's RedisPubSubChannelLayer). A group_send is
# one PUBLISH; each web process gets it once, over one connection, and queues it for its own
# sockets in that group. The list-based RedisChannelLayer pushed a copy per socket, and the web
# process fetched the copies one BRPOP round trip at a time: with 200 tabs open, a tick's samples
# reached the last tab 300 ms late on an idle machine and seconds late under load (bench live).
# Pub/sub keeps nothing for a process that is not listening; a tab that missed a sample (its
# socket was reconnecting) backfills it from the stats endpoint, as it always did.
# - Channel names are global to a Redis server, not to one of its databases, so the prefix names
#   the database: labs on two databases of one Redis (the test suite's workers) stay apart.
# - The receiver polls its connection (a 0.1 s wait, never a blocking read), so an idle socket is
#   not limited by the socket timeout; the timeout only notices a dead Redis.
CHANNEL_REDIS_SOCKET_TIMEOUT = 10  # seconds
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": CHANNEL_REDIS_SOCKET_TIMEOUT,
                    "socket_connect_timeout": 5,
                }
            ],
            "prefix": f"vmemlab.{redis_database(REDIS_URL)}.",
        },
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "vmemlab",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:inventory"
LOGOUT_REDIRECT_URL = "login"
# Password logins (form, admin, HTTP Basic) are throttled in the cache (config/login_throttle.py):
# 5 failures for one user name, or 20 from one address (a classroom behind one NAT mistypes more),
# within 15 minutes lock it for 15 minutes. A person who mistypes is not stopped; a guesser gets
# 480 tries a day per user name instead of as many as the server answers.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
LOGIN_CLIENT_FAILURE_LIMIT = env_int("LOGIN_CLIENT_FAILURE_LIMIT", 20, minimum=1, maximum=10000)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=1, maximum=24 * 3600)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.min.js comes from the plotly package on PyPI, so no CDN and no vendored copy.
    "dashboard.staticfinders.PlotlyJsFinder",
]
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(
        parents=True, exist_ok=True
    )  # collectstatic fills it; WhiteNoise wants it there

# Celery: Redis as broker; the beat schedule lives in config/celery.py.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker without its broker can do nothing but wait for it: it retries for as long as Redis is
# away (the default gives up after 100 tries, about 45 minutes, and the worker exits), after 2 s,
# then 4, 6 ... up to 30 s apart (kombu's ensure_connection), with one line per outage
# (config.log_filters.RedisOutageInOneLine).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Celery 6's default, set so that each lost connection does not warn of the change; it only
# cancels tasks with acks_late, and the lab has none.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

# The simulation's pace. ESXi keeps a real-time sample every 20 s; the lab runs SIM_SPEED times
# faster than the wall clock (our choice: 10, a tick every 2 wall seconds).
SAMPLE_INTERVAL = 20  # seconds of simulated time per real-time sample (vSphere real-time interval)
SIM_SPEED = env_float("SIM_SPEED", 10.0, minimum=0.1, maximum=1000.0)
SIM_CHECKPOINT_TICKS = env_int("SIM_CHECKPOINT_TICKS", 15, minimum=1)
SIM_SCAN_EVERY_TICKS = env_int("SIM_SCAN_EVERY_TICKS", 3, minimum=1)
# A fast-forward stores every 20 s sample (a day is 4,320 ticks per host, about a minute and a half
# of engine time on a demo host), so its length is bounded: 31 days covers vSphere's "Past month"
# chart, the longest period the lab keeps at a rollup finer than a day, and still ends in hours.
SIM_ADVANCE_MAX_SECONDS = env_int(
    "SIM_ADVANCE_MAX_SECONDS", 7 * 24 * 3600, minimum=20, maximum=31 * 24 * 3600
)

REST_FRAMEWORK = {
    # Basic first, so an anonymous request gets 401 with a WWW-Authenticate challenge, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.login_throttle.ThrottledBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["dashboard.api.permissions.ModelPermissionsWithView"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "dashboard.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "vmemlab API",
    "DESCRIPTION": (
        "Hosts, resource pools, VMs and performance counters, named like the vSphere API."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI's assets from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Security: cookies and headers; production turns on the HTTPS-only parts. Behind a TLS proxy:
# HTTPS=true, and the proxy sets SECURE_PROXY_SSL_HEADER (X-Forwarded-Proto: https), overwriting
# any value a client sent (README, Configuration). HTTPS=false serves plain HTTP (docker compose on
# localhost); `check --deploy` then rightly warns W004, W008, W012 and W016.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the dashboard's fetch() reads it to send X-CSRFToken
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    _https = env_bool("HTTPS", default=True)
    SESSION_COOKIE_SECURE = _https
    CSRF_COOKIE_SECURE = _https
    SECURE_SSL_REDIRECT = _https
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _https else 0, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
    SECURE_HSTS_PRELOAD = _https
    _proxy_header = env_str("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto").strip()
    if _proxy_header:
        if not re.fullmatch(r"[A-Za-z0-9-]+", _proxy_header):
            raise ImproperlyConfigured(
                "SECURE_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto "
                f"(or empty when no proxy terminates TLS), not {_proxy_header!r}."
            )
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}."
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "not_health_checks": {"()": "config.log_filters.NotHealthCheckAnswers"},
        "redis_outage": {"()": "config.log_filters.redis_outage"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redis_outage"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "django.request": {"filters": ["not_health_checks"]},
    },
}
