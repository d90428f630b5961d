"""Django settings for crowdtest, read from the environment.

With nothing set the app runs on SQLite with Celery tasks executed in-process, so that
`make run` works on a bare machine. `DATABASE_URL` switches to PostgreSQL and
`CELERY_BROKER_URL` to a Redis broker with real workers. See docs/configuration.md.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# Django's generic classes (ModelAdmin[Model], QuerySet[Model]) subscriptable at run time,
# as the type checker reads them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and not env_bool("CROWDTEST_INSECURE_DEFAULTS"):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (see docs/configuration.md); "
            "`make run` sets DEBUG=1 for local use."
        )
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The public base URL raters and crowd platforms reach us at (HTTPS in production).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crowdtest.jobs",
    "crowdtest.staff",
    "crowdtest.corpus",
    "crowdtest.design",
    "crowdtest.rating",
    "crowdtest.results",
    "crowdtest.platforms",
    "crowdtest.training",
    "axes",
]

MIDDLEWARE = [
    "crowdtest.staff.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "crowdtest.languages.RaterLanguageMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login
]

ROOT_URLCONF = "crowdtest.urls"
WSGI_APPLICATION = "crowdtest.wsgi.application"

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
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # The web process runs gthread workers (deploy/gunicorn.conf.py), a pool of threads
    # per process (and, with GUNICORN_WORKER_CLASS=asgi, a thread per sync view), so
    # persistent connections (one per thread) would be many and short-lived. PostgreSQL
    # gets psycopg's connection pool: a few connections per process, shared by its requests.
    # A connection that sat idle in the pool is checked before it is handed out, so a
    # restarted database costs no failed request; one given back moments ago is not
    # (crowdtest/postgresql/: a check per request is a round trip per request under a crowd).
    # DATABASE_POOL_SIZE bounds the connections of one process (workers x size must stay
    # under the server's max_connections); DATABASE_POOL_SIZE=0 goes back to persistent
    # connections (a process that keeps its threads: celery, manage.py), checked at each
    # request's first query (CONN_HEALTH_CHECKS).
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_health_checks=True)}
    _pool_size = int(os.environ.get("DATABASE_POOL_SIZE", "8"))
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # crowdtest/postgresql/: the pool's own checks, and the rater's hot statements
        # prepared once per connection (only their cursors bind on the server; Django's
        # bind on the client and never prepare).
        DATABASES["default"]["ENGINE"] = "crowdtest.postgresql"
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 0)
    if DATABASES["default"]["ENGINE"] == "crowdtest.postgresql" and _pool_size > 0:
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, _pool_size),
            "max_size": _pool_size,
            "timeout": 10,  # a request waits at most this long for a free connection
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = 60
    if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        # As the embedded default below: concurrent writers queue instead of failing.
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"timeout": 30, "transaction_mode": "IMMEDIATE"}
        )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "var" / "crowdtest.sqlite3")),
            # In-process background tasks write from a second thread.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one
# account from one address, that pair is locked out for LOGIN_COOLOFF_MINUTES, on the
# staff login and the admin's alike; a right password resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "staff/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "crowdtest.access.client_ip"
AXES_VERBOSE = False
# Proxies whose X-Forwarded-For names the client ("*": any, when only the proxy can reach
# the app, as in docker-compose).
TRUSTED_PROXY_IPS = [
    p.strip() for p in os.environ.get("TRUSTED_PROXY_IPS", "127.0.0.1,::1").split(",") if p.strip()
]
LOGIN_URL = "staff:login"
LOGIN_REDIRECT_URL = "staff:home"
LOGOUT_REDIRECT_URL = "staff:login"

LANGUAGE_CODE = "en"
# The languages a test can offer its raters (the page, its script and the spoken
# prompts); each experiment picks some of them (its `languages` setting).
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files ---------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "media/"

AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
# Also used by `import_tracks s3://...` (S3-compatible stores).
AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL") or None
if AWS_STORAGE_BUCKET_NAME:
    # Credentials come from the standard AWS environment variables or an instance role.
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": AWS_STORAGE_BUCKET_NAME,
                "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
                "endpoint_url": AWS_S3_ENDPOINT_URL,
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {
            "BACKEND": (
                "django.contrib.staticfiles.storage.StaticFilesStorage"
                if DEBUG
                else "whitenoise.storage.CompressedManifestStaticFilesStorage"
            )
        },
    }

# Each rater's copies of the clips they are given (see crowdtest/rating/delivery.py): a
# local folder, also when the media are on S3. Behind nginx, set CROWDTEST_ACCEL_REDIRECT to
# the internal location that serves this folder ("/_protected/"): the app then answers
# clip requests with X-Accel-Redirect and nginx sends the bytes (ranges, 304s, HEAD).
CLIP_ROOT = Path(os.environ.get("CLIP_ROOT", str(BASE_DIR / "var" / "clips")))
CLIP_ACCEL_REDIRECT = os.environ.get("CROWDTEST_ACCEL_REDIRECT", "")

# Model run folders (checkpoints, predictions): local disk of the gpu workers.
MODEL_RUNS_ROOT = Path(os.environ.get("MODEL_RUNS_ROOT", str(MEDIA_ROOT / "model_runs")))

# Folders that `import_tracks` and manifests may read from (colon-separated).
IMPORT_ROOTS = [
    Path(p).resolve() for p in os.environ.get("IMPORT_ROOTS", str(BASE_DIR / "var")).split(":") if p
]

# --- Celery -------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL) or None
# No broker: tasks run in this process ("thread": in a background thread after the
# request, "sync": inline, as the tests use).
TASKS_IN_PROCESS = os.environ.get("TASKS_IN_PROCESS", "thread" if not CELERY_BROKER_URL else "")
if TASKS_IN_PROCESS not in {"", "thread", "sync"}:
    raise ImproperlyConfigured("TASKS_IN_PROCESS must be 'thread' or 'sync'.")
# A gpu task (a fold, a chunk of archive scoring, a stretch of pre-training) stops this
# many seconds before its hard time limit and queues its continuation; it must exceed
# the longest epoch, or the soft time limit interrupts the epoch instead.
GPU_HANDOVER_MARGIN_S = int(os.environ.get("GPU_HANDOVER_MARGIN_S", str(20 * 60)))
# Files per shard of an archive scoring: each shard is one gpu-queue task, so this many
# files are what a killed worker leaves to another and what one worker takes at a time
# (256 clips: a few minutes on a CPU worker, seconds on a GPU).
SCORING_SHARD_FILES = int(os.environ.get("SCORING_SHARD_FILES", "256"))

# --- Security (production) ------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FILES = 2000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # In-process tasks (no broker) would log every task's success into the console.
        "celery.app.trace": {"level": "WARNING" if TASKS_IN_PROCESS else "INFO"},
    },
}
