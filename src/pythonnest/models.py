"""Django looks for an app's models here; they live in ``pythonnest.core``."""

from pythonnest.core.models import File, JournalEntry, Project, Release, SerialCounter  # noqa: F401
