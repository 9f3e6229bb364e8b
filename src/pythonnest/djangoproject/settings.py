"""Django settings, built from ``pythonnest.ini`` (see ``pythonnest.conf``).

The configuration file sits at ``<prefix>/etc/pythonnest.ini`` relative to
this file's installation, as in the original PythonNest; the environment
variable PYTHONNEST_CONFIG points elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from pythonnest.conf import LANGUAGES as SHIPPED_LANGUAGES
from pythonnest.conf import load_config, secret_key

# The web UI's templates and static files.
WEB_DIR = Path(__file__).resolve().parent.parent / "web"

PYTHONNEST = load_config()

ROOT_PATH = PYTHONNEST.root_path
SECRET_KEY = secret_key(ROOT_PATH)
DEBUG = PYTHONNEST.debug
ADMINS = [("PythonNest administrator", PYTHONNEST.admin_email)]
SERVER_EMAIL = PYTHONNEST.admin_email
DEFAULT_FROM_EMAIL = PYTHONNEST.admin_email

# Clients reach a mirror under many names (an IP, a proxy's name); the HOST
# key says how to build absolute links, not which Host headers to accept.
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pythonnest.apps.PythonNestConfig",
]
MIGRATION_MODULES = {"pythonnest": "pythonnest.migrations"}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "pythonnest.djangoproject.urls"
WSGI_APPLICATION = "pythonnest.djangoproject.wsgi.application"
APPEND_SLASH = True

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [WEB_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "pythonnest.web.context.site",
            ],
        },
    },
]


def _database() -> dict:
    database = {
        "ENGINE": PYTHONNEST.database_engine,
        "NAME": PYTHONNEST.database_name,
        "USER": PYTHONNEST.database_user,
        "PASSWORD": PYTHONNEST.database_password,
        "HOST": PYTHONNEST.database_host,
        "PORT": PYTHONNEST.database_port,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": None},
    }
    if PYTHONNEST.database_engine.endswith("sqlite3"):
        # IMMEDIATE takes the write lock when a transaction starts, so that
        # writers queue instead of failing with "database is locked".
        database["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # Connections are kept (CONN_MAX_AGE above), as for the server
        # engines: opening one and running its PRAGMAs cost more than serving
        # a cached index page (docs/performance.md).
    elif PYTHONNEST.database_engine.endswith("mysql"):
        _use_pymysql_if_needed()
        database["OPTIONS"] = {"charset": "utf8mb4", "isolation_level": "read committed"}
        database["TEST"] = {"NAME": None, "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"}
    return database


def _use_pymysql_if_needed() -> None:
    """Let the pure-Python PyMySQL stand in when mysqlclient is not installed."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        try:
            import pymysql
        except ImportError:
            return
        pymysql.install_as_MySQLdb()


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "pythonnest",
        "OPTIONS": {"MAX_ENTRIES": 5000},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = PYTHONNEST.language_code
# Ours first: Django's admin catalog would otherwise win for the strings both have ("Change").
LOCALE_PATHS = [Path(__file__).resolve().parent.parent / "locale"]
LANGUAGES = list(SHIPPED_LANGUAGES)
TIME_ZONE = PYTHONNEST.time_zone
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [WEB_DIR / "static"]
STATIC_ROOT = PYTHONNEST.static_root
MEDIA_ROOT = PYTHONNEST.root_path / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Where blobs live, read by pythonnest.storage at the edge.
PYTHONNEST_BLOB_ROOT = PYTHONNEST.blob_root

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "pythonnest": {"handlers": ["console"], "level": "INFO" if DEBUG else "WARNING", "propagate": False},
        "django": {"handlers": ["console"], "level": "WARNING"},
    },
}
