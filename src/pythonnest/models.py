"""Django looks for an app's models here; they live in ``pythonnest.core``."""

from pythonnest.core.models import (  # noqa: F401
    ApiToken,
    FailedLogin,
    File,
    InstanceIdentity,
    JournalEntry,
    Project,
    Release,
    RemovedFilename,
    Role,
    SerialCounter,
    SyncState,
    UpdateLock,
    Upstream,
    UpstreamProject,
)
