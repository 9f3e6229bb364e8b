"""The errors of PythonNest's domain.

Views map them to HTTP status codes and commands to one line and a non-zero
exit; nothing deep in the code calls ``sys.exit``.
"""


class PythonNestError(Exception):
    """Base of every error PythonNest reports to a user."""


class ConfigError(PythonNestError):
    """The configuration file has a bad value; the message names key and file."""


class InvalidName(PythonNestError):
    """A project name does not follow the standard's rules."""


class InvalidDistribution(PythonNestError):
    """A distribution file is unreadable, misnamed or disagrees with its metadata."""


class DuplicateFile(PythonNestError):
    """A file with this name is already in the catalog."""


class IntegrityFailure(PythonNestError):
    """Bytes do not match the digest they were promised to have."""


class NotFound(PythonNestError):
    """The project, release or file does not exist (or is not visible)."""


class BundleError(PythonNestError):
    """A bundle is malformed, damaged, forged, or cannot be written."""


class BundleGap(BundleError):
    """A bundle starts after the last serial imported for its tag."""
