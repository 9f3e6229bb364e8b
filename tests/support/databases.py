"""Test databases: which backend a run uses, and creating and dropping them.

The backend comes from PYTHONNEST_TEST_DATABASE (sqlite, postgresql or
mysql). The servers are the local ones: PostgreSQL on 127.0.0.1:5432 (user
postgres, trust auth) and MariaDB on 127.0.0.1:3306 (root, no password).
Every database made here has a name unique to the run and is dropped after.
"""

from __future__ import annotations

import os

BACKEND_ENV = "PYTHONNEST_TEST_DATABASE"
BACKENDS = ("sqlite", "postgresql", "mysql")

SERVERS = {
    "postgresql": {"ENGINE": "postgresql", "USER": "postgres", "PASSWORD": "", "HOST": "127.0.0.1", "PORT": "5432"},
    "mysql": {"ENGINE": "mysql", "USER": "root", "PASSWORD": "", "HOST": "127.0.0.1", "PORT": "3306"},
}


def backend() -> str:
    name = os.environ.get(BACKEND_ENV, "sqlite")
    if name not in BACKENDS:
        raise SystemExit(f"{BACKEND_ENV}={name!r}: use one of {', '.join(BACKENDS)}")
    return name


def server_reachable(name: str) -> str | None:
    """None when the backend's server answers, else the reason it does not."""
    try:
        connection = _admin_connection(name)
    except Exception as exc:  # any driver error means "not reachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    connection.close()
    return None


def _admin_connection(name: str):
    if name == "postgresql":
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True, connect_timeout=5
        )
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True, connect_timeout=5)


def create_database(name: str, database: str) -> None:
    connection = _admin_connection(name)
    try:
        with connection.cursor() as cursor:
            if name == "postgresql":
                cursor.execute(f'DROP DATABASE IF EXISTS "{database}"')
                cursor.execute(f'CREATE DATABASE "{database}"')
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
                cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    finally:
        connection.close()


def drop_database(name: str, database: str) -> None:
    connection = _admin_connection(name)
    try:
        with connection.cursor() as cursor:
            if name == "postgresql":
                cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        connection.close()


def ini_text(root_path: str, database_name: str | None = None, extra: str = "") -> str:
    """A pythonnest.ini for the run's backend; ``database_name`` for servers."""
    name = backend()
    lines = ["[pythonnest]", f"ROOT_PATH = {root_path}", "DEBUG = false"]
    if name == "sqlite":
        lines.append("DATABASE_ENGINE = sqlite3")
        if database_name:
            lines.append(f"DATABASE_NAME = {database_name}")
    else:
        server = SERVERS[name]
        lines.append(f"DATABASE_ENGINE = {server['ENGINE']}")
        lines.append(f"DATABASE_NAME = {database_name or 'pythonnest_unused'}")
        for key in ("USER", "PASSWORD", "HOST", "PORT"):
            lines.append(f"DATABASE_{key} = {server[key]}")
    return "\n".join(lines) + "\n" + extra
