"""Django settings for the test run: PythonNest's own, on a private ROOT_PATH.

pytest-django imports this before any conftest, so the configuration file
for the run is written here. The backend is chosen by
PYTHONNEST_TEST_DATABASE (see tests/support/databases.py).
"""

import os
import tempfile

from tests.support.databases import backend, ini_text

_run_root = tempfile.mkdtemp(prefix="pythonnest-test-")
_config = os.path.join(_run_root, "pythonnest.ini")
# pytest-django creates "test_<name>" from this and drops it at the end.
_database = None if backend() == "sqlite" else f"pythonnest_t{os.getpid()}"
with open(_config, "w", encoding="utf-8") as _handle:
    _handle.write(ini_text(os.path.join(_run_root, "data"), _database))
os.environ["PYTHONNEST_CONFIG"] = _config
os.environ["PYTHONNEST_TEST_RUN_ROOT"] = _run_root

from pythonnest.djangoproject.settings import *  # noqa: E402,F401,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if backend() == "sqlite":
    # A file, not memory, so that threads in the tests share the database
    # and sqlite's locking is exercised as in production.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_run_root, "test.sqlite3")}  # noqa: F405

os.makedirs(STATIC_ROOT, exist_ok=True)  # noqa: F405
