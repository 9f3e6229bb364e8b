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


class InvalidUpload(PythonNestError):
    """An upload form is malformed, incomplete or disagrees with its file."""


class UploadTooLarge(PythonNestError):
    """An upload is larger than MAX_UPLOAD_SIZE allows."""


class NotAuthenticated(PythonNestError):
    """The request carries no credentials, and the action needs them."""


class AuthenticationFailed(PythonNestError):
    """The username and password, or the API token, are not valid."""


class TooManyAttempts(PythonNestError):
    """Too many failed logins for this username from this address; wait."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(PythonNestError):
    """The user is known but lacks the right to do this."""


class InvalidRole(PythonNestError):
    """A role change would break a rule (an unknown role, no Owner left)."""


class UpstreamUnavailable(PythonNestError):
    """The upstream index did not answer usefully, even after the retries."""


class InvalidUpstream(PythonNestError):
    """The upstream index sent something malformed, unsafe or that is not an index."""


class UpdateRunning(PythonNestError):
    """Another ``update`` holds the database lock."""


class ProtectedName(PythonNestError):
    """A local project's name, which mirrored files may never join (DESIGN.md invariant 7)."""
