"""Loading of ``pythonnest.ini``: the only place that reads the file.

The file keeps the keys of the original PythonNest (2014), so that an old
configuration still works. Everything is parsed into a frozen ``Config`` and
checked once; a bad value raises ``ConfigError`` with one line naming the key
and the file.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pythonnest.core.exceptions import ConfigError

CONFIG_ENV = "PYTHONNEST_CONFIG"
SECTION = "pythonnest"

# The original accepted Django's dotted names; short names are friendlier.
ENGINES = {
    "sqlite3": "django.db.backends.sqlite3",
    "sqlite": "django.db.backends.sqlite3",
    "postgresql": "django.db.backends.postgresql",
    "postgresql_psycopg2": "django.db.backends.postgresql",
    "postgres": "django.db.backends.postgresql",
    "mysql": "django.db.backends.mysql",
    "mariadb": "django.db.backends.mysql",
    "oracle": "django.db.backends.oracle",
}

XSENDFILE_MODES = {
    "false": None,
    "no": None,
    "off": None,
    "0": None,
    "": None,
    "true": "apache",
    "yes": "apache",
    "on": "apache",
    "1": "apache",
    "apache": "apache",
    "nginx": "nginx",
}

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}

# (key, default, comment) in the order the default file shows them.
# A default of None means "computed from the installation".
DEFAULTS: list[tuple[str, str | None, str]] = [
    ("ROOT_PATH", None, "root path for all data files (the database, static files, packages)"),
    ("HOST", "http://localhost:8000/", "full URI of your repository, as clients see it"),
    ("DEBUG", "false", "show tracebacks in the browser; never on a production server"),
    ("ADMIN_EMAIL", "admin@localhost", "where error reports are sent"),
    ("TIME_ZONE", "UTC", "time zone used to show dates"),
    ("LANGUAGE_CODE", "en-us", "default language of the web interface (en-us or fr-fr)"),
    (
        "USE_XSENDFILE",
        "false",
        "let the front web server send files: false, true or apache (X-Sendfile), nginx (X-Accel-Redirect)",
    ),
    (
        "XSENDFILE_NGINX_PREFIX",
        "/_pythonnest_blobs/",
        "with USE_XSENDFILE = nginx: the internal location aliased to ROOT_PATH/media/downloads/",
    ),
    ("DATABASE_ENGINE", "sqlite3", "sqlite3, postgresql, mysql or oracle (Django's dotted names work too)"),
    ("DATABASE_NAME", "", "path of the sqlite file (default: ROOT_PATH/database.sqlite3), or name of the database"),
    ("DATABASE_USER", "", ""),
    ("DATABASE_PASSWORD", "", ""),
    ("DATABASE_HOST", "", ""),
    ("DATABASE_PORT", "", ""),
    ("MAX_UPLOAD_SIZE", "100M", "largest file twine may upload, in bytes or with a K, M or G suffix"),
    ("ALLOW_REGISTRATION", "false", "let visitors create their own accounts in the web interface"),
    (
        "TRUSTED_PROXIES",
        "",
        "your reverse proxies' addresses or networks; their X-Forwarded-For names the client",
    ),
    (
        "README_REMOTE_IMAGES",
        "show",
        "show, or hide (replaced by their text): images a README loads from other sites, such as badges",
    ),
]
SECRET_KEYS = {"DATABASE_PASSWORD"}


@dataclass(frozen=True)
class Config:
    """The effective configuration, after defaults and checks."""

    path: Path
    file_exists: bool
    root_path: Path
    host: str
    debug: bool
    admin_email: str
    time_zone: str
    language_code: str
    xsendfile: str | None
    xsendfile_nginx_prefix: str
    database_engine: str
    database_name: str
    database_user: str
    database_password: str
    database_host: str
    database_port: str
    max_upload_size: int = 100 * 1024 * 1024
    allow_registration: bool = False
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # README_REMOTE_IMAGES = hide: no page makes a browser fetch an image from another site.
    hide_remote_images: bool = False
    # Other sections ([update], [export], ...) are kept raw for their owners.
    sections: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def blob_root(self) -> Path:
        return self.root_path / "media" / "downloads"

    @property
    def static_root(self) -> Path:
        return self.root_path / "static"

    def effective_values(self) -> dict[str, str]:
        """The values in force, as strings, for display; passwords are hidden."""
        values = {
            "ROOT_PATH": str(self.root_path),
            "HOST": self.host,
            "DEBUG": str(self.debug).lower(),
            "ADMIN_EMAIL": self.admin_email,
            "TIME_ZONE": self.time_zone,
            "LANGUAGE_CODE": self.language_code,
            "USE_XSENDFILE": self.xsendfile or "false",
            "XSENDFILE_NGINX_PREFIX": self.xsendfile_nginx_prefix,
            "DATABASE_ENGINE": self.database_engine,
            "DATABASE_NAME": self.database_name,
            "DATABASE_USER": self.database_user,
            "DATABASE_PASSWORD": "********" if self.database_password else "",
            "DATABASE_HOST": self.database_host,
            "DATABASE_PORT": self.database_port,
            "MAX_UPLOAD_SIZE": str(self.max_upload_size),
            "ALLOW_REGISTRATION": str(self.allow_registration).lower(),
            "TRUSTED_PROXIES": " ".join(str(network) for network in self.trusted_proxies),
            "README_REMOTE_IMAGES": "hide" if self.hide_remote_images else "show",
        }
        return values


def installation_prefix(package_dir: Path | None = None) -> Path:
    """The prefix the package is installed under (``<prefix>/lib/.../pythonnest``).

    As in the original, ``/foo/bar/lib/baz/pythonnest/djangoproject/settings.py``
    gives ``/foo/bar``. A source checkout has no ``lib`` folder above it; the
    running interpreter's prefix (the virtualenv) is used then.
    """
    package_dir = package_dir or Path(__file__).resolve().parent
    for parent in package_dir.parents:
        if parent.name in ("lib", "lib64", "Lib"):
            return parent.parent
    return Path(sys.prefix)


def default_config_path() -> Path:
    return installation_prefix() / "etc" / "pythonnest.ini"


def config_path() -> Path:
    """The file in use: ``$PYTHONNEST_CONFIG``, else ``<prefix>/etc/pythonnest.ini``."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser().absolute()
    return default_config_path()


def default_root_path() -> Path:
    return installation_prefix() / "var" / "pythonnest"


def _read_file(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str.upper  # keys are case-insensitive, shown upper-case
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc}") from exc
    except configparser.Error as exc:
        first_line = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: malformed configuration file: {first_line}") from exc
    return parser


def _boolean(key: str, value: str, path: Path) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ConfigError(f"{path}: {key} = {value!r} is not a boolean (use true or false)")


SIZE_SUFFIXES = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _size(key: str, value: str, path: Path) -> int:
    """A size in bytes from ``123``, ``100M`` or ``2 GB`` (binary multiples)."""
    text = value.strip().upper().removesuffix("IB").removesuffix("B")
    number, suffix = (text[:-1], text[-1]) if text[-1:] in SIZE_SUFFIXES and text[-1:] else (text, "")
    number = number.strip()
    if not number.isdigit() or int(number) == 0:
        raise ConfigError(f"{path}: {key} = {value!r} is not a size (use bytes, or a number with K, M or G)")
    return int(number) * SIZE_SUFFIXES[suffix]


def _networks(key: str, value: str, path: Path) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Addresses and networks (``10.0.0.1``, ``10.0.0.0/8``, ``::1``), separated by spaces or commas."""
    networks = []
    for word in value.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            raise ConfigError(f"{path}: {key}: {word!r} is not an IP address or network") from None
    return tuple(networks)


def _engine(value: str, path: Path) -> str:
    lowered = value.strip()
    if lowered.startswith("django.db.backends."):
        short = lowered.rsplit(".", 1)[1]
    else:
        short = lowered.lower()
    if short not in ENGINES:
        known = ", ".join(sorted({"sqlite3", "postgresql", "mysql", "oracle"}))
        raise ConfigError(f"{path}: DATABASE_ENGINE = {value!r} is not a known engine (use one of {known})")
    return ENGINES[short]


def _writable_root(value: str, path: Path) -> Path:
    root = Path(value).expanduser()
    if not root.is_absolute():
        # Relative to the configuration file, so the result does not depend
        # on the directory the command was started from.
        root = path.parent / root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{path}: ROOT_PATH = {value!r} cannot be created: {exc.strerror}") from exc
    if not os.access(root, os.W_OK | os.X_OK):
        raise ConfigError(f"{path}: ROOT_PATH = {value!r} is not writable")
    return root.resolve()


def load_config(path: Path | None = None) -> Config:
    """Read and check the configuration file; missing keys take their defaults.

    Raises ConfigError naming the file and the key when a value is bad.
    """
    path = path or config_path()
    parser = _read_file(path)
    values = {key: default for key, default, _ in DEFAULTS}
    if parser.has_section(SECTION):
        for key, value in parser.items(SECTION):
            if key not in values:
                raise ConfigError(f"{path}: unknown key {key} in [{SECTION}]")
            values[key] = value.strip()
    root_value = values["ROOT_PATH"] or str(default_root_path())
    root = _writable_root(root_value, path)
    xsendfile_value = values["USE_XSENDFILE"].strip().lower()
    if xsendfile_value not in XSENDFILE_MODES:
        raise ConfigError(
            f"{path}: USE_XSENDFILE = {values['USE_XSENDFILE']!r} is not valid (use false, true, apache or nginx)"
        )
    engine = _engine(values["DATABASE_ENGINE"], path)
    database_name = values["DATABASE_NAME"]
    if engine.endswith("sqlite3") and not database_name:
        database_name = str(root / "database.sqlite3")
    nginx_prefix = values["XSENDFILE_NGINX_PREFIX"] or "/_pythonnest_blobs/"
    if not nginx_prefix.startswith("/") or not nginx_prefix.endswith("/"):
        raise ConfigError(f"{path}: XSENDFILE_NGINX_PREFIX = {nginx_prefix!r} must start and end with '/'")
    port = values["DATABASE_PORT"]
    if port and not port.isdigit():
        raise ConfigError(f"{path}: DATABASE_PORT = {port!r} is not a port number")
    host = values["HOST"] or "http://localhost:8000/"
    if not host.startswith(("http://", "https://")):
        raise ConfigError(f"{path}: HOST = {host!r} must be a full URI such as http://localhost:8000/")
    sections = {
        name: {key: value for key, value in parser.items(name)} for name in parser.sections() if name != SECTION
    }
    return Config(
        path=path,
        file_exists=path.exists(),
        root_path=root,
        host=host,
        debug=_boolean("DEBUG", values["DEBUG"], path),
        admin_email=values["ADMIN_EMAIL"],
        time_zone=values["TIME_ZONE"] or "UTC",
        language_code=_language_code(values["LANGUAGE_CODE"] or "en-us", path),
        xsendfile=XSENDFILE_MODES[xsendfile_value],
        xsendfile_nginx_prefix=nginx_prefix,
        database_engine=engine,
        database_name=database_name,
        database_user=values["DATABASE_USER"],
        database_password=values["DATABASE_PASSWORD"],
        database_host=values["DATABASE_HOST"],
        database_port=port,
        max_upload_size=_size("MAX_UPLOAD_SIZE", values["MAX_UPLOAD_SIZE"] or "100M", path),
        allow_registration=_boolean("ALLOW_REGISTRATION", values["ALLOW_REGISTRATION"], path),
        trusted_proxies=_networks("TRUSTED_PROXIES", values["TRUSTED_PROXIES"], path),
        hide_remote_images=_remote_images(values["README_REMOTE_IMAGES"], path),
        sections=sections,
    )


def _remote_images(value: str, path: Path) -> bool:
    """README_REMOTE_IMAGES: True to hide them."""
    choice = value.strip().lower() or "show"
    if choice not in ("show", "hide"):
        raise ConfigError(f"{path}: README_REMOTE_IMAGES = {value!r} is not valid (use show or hide)")
    return choice == "hide"


# The languages the web interface ships in (settings.LANGUAGES), each in its own name.
LANGUAGES = (("en", "English"), ("fr", "Français"))


def _language_code(value: str, path: Path) -> str:
    """A Django language code (en, en-us, fr, fr-fr, ...) in one of the shipped languages."""
    code = value.strip().lower().replace("_", "-")
    if not re.fullmatch(r"[a-z]{2}(-[a-z0-9]{2,8})?", code) or code.split("-")[0] not in dict(LANGUAGES):
        raise ConfigError(
            f"{path}: LANGUAGE_CODE = {value!r} is not a language PythonNest ships (use en, en-us, fr or fr-fr)"
        )
    return code


def default_file_text() -> str:
    """A commented configuration file holding every key with its default."""
    lines = [
        "; PythonNest configuration.",
        f"; Its location is {default_config_path()}, or the path in ${CONFIG_ENV}.",
        "; Every key is optional; the values shown are the defaults.",
        "",
        f"[{SECTION}]",
    ]
    for key, default, comment in DEFAULTS:
        if comment:
            lines.append(f"; {comment}")
        value = str(default_root_path()) if default is None else default
        lines.append(f"{key} = {value}")
    lines.append("")
    return "\n".join(lines)


def secret_key(root: Path) -> str:
    """The Django SECRET_KEY, generated once and kept in ROOT_PATH/secret_key."""
    key_file = root / "secret_key"
    try:
        return key_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(50)
    temporary = root / f".secret_key.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    try:
        # Two processes starting together must agree on one key: the first
        # link wins and the loser reads the winner's key.
        os.link(temporary, key_file)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)
    return key_file.read_text(encoding="ascii").strip()
