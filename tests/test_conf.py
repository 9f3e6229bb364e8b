"""pythonnest.ini: location, defaults, compatibility with the original, errors."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pythonnest import conf
from pythonnest.core.exceptions import ConfigError


def write_ini(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "etc" / "pythonnest.ini"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[pythonnest]\n" + body, encoding="utf-8")
    return path


def test_no_file_gives_defaults_that_work(tmp_path):
    config = conf.load_config(tmp_path / "missing.ini")
    assert not config.file_exists
    assert config.root_path == conf.default_root_path().resolve()
    assert config.database_engine == "django.db.backends.sqlite3"
    assert config.database_name == str(config.root_path / "database.sqlite3")
    assert config.debug is False
    assert config.xsendfile is None


def test_original_readme_example_is_accepted(tmp_path):
    path = write_ini(
        tmp_path,
        f"""; root path for all data files
ROOT_PATH = {tmp_path / "data"}
HOST = http://localhost:8000/
DEBUG = True
ADMIN_EMAIL = admin@localhost
TIME_ZONE = Europe/Paris
LANGUAGE_CODE = fr-fr
USE_XSENDFILE = false
DATABASE_ENGINE = django.db.backends.sqlite3
DATABASE_NAME =
DATABASE_USER =
DATABASE_PASSWORD =
DATABASE_HOST =
DATABASE_PORT =
""",
    )
    config = conf.load_config(path)
    assert config.root_path == (tmp_path / "data").resolve()
    assert config.debug is True
    assert config.time_zone == "Europe/Paris"
    assert config.language_code == "fr-fr"
    assert config.database_engine == "django.db.backends.sqlite3"


@pytest.mark.parametrize(
    ("value", "engine"),
    [
        ("sqlite3", "django.db.backends.sqlite3"),
        ("django.db.backends.sqlite3", "django.db.backends.sqlite3"),
        ("postgresql", "django.db.backends.postgresql"),
        ("postgresql_psycopg2", "django.db.backends.postgresql"),
        ("django.db.backends.postgresql_psycopg2", "django.db.backends.postgresql"),
        ("django.db.backends.postgresql", "django.db.backends.postgresql"),
        ("mysql", "django.db.backends.mysql"),
        ("django.db.backends.mysql", "django.db.backends.mysql"),
        ("oracle", "django.db.backends.oracle"),
        ("django.db.backends.oracle", "django.db.backends.oracle"),
        ("PostgreSQL", "django.db.backends.postgresql"),
    ],
)
def test_database_engine_accepts_dotted_and_short_names(tmp_path, value, engine):
    path = write_ini(tmp_path, f"ROOT_PATH = {tmp_path}\nDATABASE_ENGINE = {value}\nDATABASE_NAME = x\n")
    assert conf.load_config(path).database_engine == engine


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("DATABASE_ENGINE = nosuchdb\n", "DATABASE_ENGINE"),
        ("DATABASE_ENGINE = django.db.backends.nosuchdb\n", "DATABASE_ENGINE"),
        ("ROOT_PATH = /proc/pythonnest-cannot-be-here\n", "ROOT_PATH"),
        ("DEBUG = perhaps\n", "DEBUG"),
        ("USE_XSENDFILE = lighttpd\n", "USE_XSENDFILE"),
        ("DATABASE_PORT = fivefour\n", "DATABASE_PORT"),
        ("HOST = localhost:8000\n", "HOST"),
        ("NO_SUCH_KEY = 1\n", "NO_SUCH_KEY"),
        ("XSENDFILE_NGINX_PREFIX = internal\n", "XSENDFILE_NGINX_PREFIX"),
        ("LANGUAGE_CODE = de\n", "LANGUAGE_CODE"),
        ("LANGUAGE_CODE = french\n", "LANGUAGE_CODE"),
        ("TRUSTED_PROXIES = 10.0.0.1 nginx\n", "TRUSTED_PROXIES"),
    ],
)
def test_a_bad_value_names_the_key_and_the_file(tmp_path, body, key):
    if "ROOT_PATH" not in body:
        body = f"ROOT_PATH = {tmp_path / 'data'}\n" + body
    path = write_ini(tmp_path, body)
    with pytest.raises(ConfigError) as error:
        conf.load_config(path)
    message = str(error.value)
    assert key in message and str(path) in message
    assert "\n" not in message


def test_a_malformed_file_is_one_clear_error(tmp_path):
    path = tmp_path / "pythonnest.ini"
    path.write_text("this is not an ini file\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="malformed configuration file") as error:
        conf.load_config(path)
    assert str(path) in str(error.value)


def test_relative_root_path_is_relative_to_the_file(tmp_path):
    path = write_ini(tmp_path, "ROOT_PATH = ../var/nest\n")
    assert conf.load_config(path).root_path == (tmp_path / "var" / "nest").resolve()


@pytest.mark.parametrize(
    ("value", "mode"),
    [("false", None), ("", None), ("true", "apache"), ("apache", "apache"), ("nginx", "nginx"), ("NGINX", "nginx")],
)
def test_use_xsendfile_modes(tmp_path, value, mode):
    path = write_ini(tmp_path, f"ROOT_PATH = {tmp_path}\nUSE_XSENDFILE = {value}\n")
    assert conf.load_config(path).xsendfile == mode


def test_effective_values_hide_the_password(tmp_path):
    path = write_ini(tmp_path, f"ROOT_PATH = {tmp_path}\nDATABASE_ENGINE = postgresql\nDATABASE_PASSWORD = s3cret\n")
    values = conf.load_config(path).effective_values()
    assert values["DATABASE_PASSWORD"] == "********"
    assert "s3cret" not in repr(values)


def test_environment_variable_overrides_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv(conf.CONFIG_ENV, str(tmp_path / "elsewhere.ini"))
    assert conf.config_path() == tmp_path / "elsewhere.ini"
    monkeypatch.delenv(conf.CONFIG_ENV)
    assert conf.config_path() == conf.default_config_path()


@pytest.mark.parametrize(
    ("package_dir", "prefix"),
    [
        ("/foo/bar/lib/baz/pythonnest", "/foo/bar"),
        ("/opt/venv/lib/python3.11/site-packages/pythonnest", "/opt/venv"),
        ("/usr/lib64/python3.12/site-packages/pythonnest", "/usr"),
    ],
)
def test_prefix_is_derived_from_the_installation(package_dir, prefix):
    assert conf.installation_prefix(Path(package_dir)) == Path(prefix)


def test_the_default_file_round_trips(tmp_path):
    path = tmp_path / "pythonnest.ini"
    path.write_text(conf.default_file_text(), encoding="utf-8")
    from_file = conf.load_config(path)
    defaults = conf.load_config(tmp_path / "missing.ini")
    assert from_file.effective_values() == defaults.effective_values()
    assert "; root path for all data files" in conf.default_file_text()


def test_secret_key_is_generated_once(tmp_path):
    first = conf.secret_key(tmp_path)
    assert len(first) >= 50
    assert conf.secret_key(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


class TestConfigCommand:
    def test_prints_path_and_effective_values(self, tmp_path, monkeypatch):
        path = write_ini(tmp_path, f"ROOT_PATH = {tmp_path / 'd'}\nDATABASE_PASSWORD = hunter2\n")
        monkeypatch.setenv(conf.CONFIG_ENV, str(path))
        out = io.StringIO()
        call_command("config", stdout=out)
        text = out.getvalue()
        assert f"Configuration file: {path}" in text
        assert f"ROOT_PATH = {(tmp_path / 'd').resolve()}" in text
        assert "DATABASE_PASSWORD = ********" in text
        assert "hunter2" not in text

    def test_writes_a_commented_default_file_once(self, tmp_path, monkeypatch):
        path = tmp_path / "etc" / "pythonnest.ini"
        monkeypatch.setenv(conf.CONFIG_ENV, str(path))
        call_command("config", "--write", stdout=io.StringIO())
        assert path.read_text(encoding="utf-8") == conf.default_file_text()
        with pytest.raises(CommandError, match="already exists"):
            call_command("config", "--write", stdout=io.StringIO())
        call_command("config", "--write", "--force", stdout=io.StringIO())

    def test_default_prints_the_file(self):
        out = io.StringIO()
        call_command("config", "--default", stdout=out)
        assert out.getvalue() == conf.default_file_text()


@pytest.mark.parametrize(
    ("value", "size"),
    [("100M", 100 * 1024**2), ("1024", 1024), ("5k", 5 * 1024), ("2 GB", 2 * 1024**3), ("10MiB", 10 * 1024**2)],
)
def test_max_upload_size_takes_units(tmp_path, value, size):
    path = write_ini(tmp_path, f"ROOT_PATH = {tmp_path}\nMAX_UPLOAD_SIZE = {value}\n")
    assert conf.load_config(path).max_upload_size == size


@pytest.mark.parametrize("value", ["lots", "-1", "0", "1.5G", "M"])
def test_a_bad_max_upload_size_names_the_key(tmp_path, value):
    path = write_ini(tmp_path, f"ROOT_PATH = {tmp_path}\nMAX_UPLOAD_SIZE = {value}\n")
    with pytest.raises(ConfigError, match="MAX_UPLOAD_SIZE = .* is not a size"):
        conf.load_config(path)


def test_upload_size_and_registration_defaults(tmp_path):
    config = conf.load_config(tmp_path / "missing.ini")
    assert config.max_upload_size == 100 * 1024**2
    assert config.allow_registration is False
    assert config.effective_values()["ALLOW_REGISTRATION"] == "false"
    path = write_ini(tmp_path, f"ROOT_PATH = {tmp_path}\nALLOW_REGISTRATION = yes\n")
    assert conf.load_config(path).allow_registration is True
    with pytest.raises(ConfigError, match="ALLOW_REGISTRATION = 'maybe' is not a boolean"):
        conf.load_config(write_ini(tmp_path, f"ROOT_PATH = {tmp_path}\nALLOW_REGISTRATION = maybe\n"))


@pytest.mark.parametrize(("value", "code"), [("fr-fr", "fr-fr"), ("FR_fr", "fr-fr"), ("en", "en"), ("en-US", "en-us")])
def test_language_code_is_normalized(tmp_path, value, code):
    path = write_ini(tmp_path, f"ROOT_PATH = {tmp_path / 'data'}\nLANGUAGE_CODE = {value}\n")
    assert conf.load_config(path).language_code == code


def test_trusted_proxies_take_addresses_and_networks(tmp_path):
    path = write_ini(tmp_path, f"ROOT_PATH = {tmp_path / 'data'}\nTRUSTED_PROXIES = 127.0.0.1, 10.1.0.0/16\n  ::1\n")
    config = conf.load_config(path)
    assert [str(network) for network in config.trusted_proxies] == ["127.0.0.1/32", "10.1.0.0/16", "::1/128"]
    assert config.effective_values()["TRUSTED_PROXIES"] == "127.0.0.1/32 10.1.0.0/16 ::1/128"
    assert conf.load_config(write_ini(tmp_path, f"ROOT_PATH = {tmp_path / 'data'}\n")).trusted_proxies == ()


@pytest.mark.parametrize(("value", "hide"), [("", False), ("show", False), ("Hide", True), (" hide ", True)])
def test_readme_remote_images(tmp_path, value, hide):
    config = conf.load_config(write_ini(tmp_path, f"ROOT_PATH = {tmp_path}\nREADME_REMOTE_IMAGES = {value}\n"))
    assert config.hide_remote_images is hide
    assert config.effective_values()["README_REMOTE_IMAGES"] == ("hide" if hide else "show")


def test_a_bad_readme_remote_images_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="README_REMOTE_IMAGES = 'proxy' is not valid"):
        conf.load_config(write_ini(tmp_path, f"ROOT_PATH = {tmp_path}\nREADME_REMOTE_IMAGES = proxy\n"))
