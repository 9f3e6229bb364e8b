"""The catalog: projects, releases, files, and the journal of every change.

Only ``pythonnest.core.services`` writes these tables; everything else reads
them (see DESIGN.md, "The shape").
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone


class Project(models.Model):
    """A named project; ``normalized_name`` is the PEP 503 form used in URLs."""

    class Origin(models.TextChoices):
        LOCAL = "local", "local"
        MIRRORED = "mirrored", "mirrored"

    name = models.CharField(max_length=200)
    normalized_name = models.CharField(max_length=200, unique=True)
    # The dependency-confusion guard (DESIGN.md invariant 7) reads this.
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.LOCAL)
    created = models.DateTimeField(default=timezone.now)
    # Serial of this project's newest journal entry (DESIGN.md invariant 1).
    last_serial = models.BigIntegerField(default=0, db_index=True)
    # "Restrict to this group": everyone outside it must not see the project
    # (DESIGN.md invariant 6). None means public.
    private_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        app_label = "pythonnest"
        ordering = ["normalized_name"]

    def __str__(self) -> str:
        return self.name


class Release(models.Model):
    """One version of a project, with the core metadata of its first file."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="releases")
    version = models.CharField(max_length=100)
    # packaging's canonical form, so that 1.0 and 1.0.0 are one release.
    canonical_version = models.CharField(max_length=100)
    # Indexed for the recent releases page (newest first).
    created = models.DateTimeField(default=timezone.now, db_index=True)
    yanked = models.BooleanField(default=False)
    yanked_reason = models.TextField(blank=True, default="")

    metadata_version = models.CharField(max_length=10, blank=True, default="")
    summary = models.CharField(max_length=512, blank=True, default="")
    description = models.TextField(blank=True, default="")
    description_content_type = models.CharField(max_length=255, blank=True, default="")
    author = models.TextField(blank=True, default="")
    author_email = models.TextField(blank=True, default="")
    maintainer = models.TextField(blank=True, default="")
    maintainer_email = models.TextField(blank=True, default="")
    license = models.TextField(blank=True, default="")
    license_expression = models.TextField(blank=True, default="")
    keywords = models.TextField(blank=True, default="")
    home_page = models.TextField(blank=True, default="")
    download_url = models.TextField(blank=True, default="")
    requires_python = models.CharField(max_length=255, blank=True, default="")
    # List-valued core metadata fields, stored as JSON lists (project_urls: a dict).
    classifiers = models.JSONField(default=list, blank=True)
    requires_dist = models.JSONField(default=list, blank=True)
    requires_external = models.JSONField(default=list, blank=True)
    provides_extra = models.JSONField(default=list, blank=True)
    provides_dist = models.JSONField(default=list, blank=True)
    obsoletes_dist = models.JSONField(default=list, blank=True)
    platform = models.JSONField(default=list, blank=True)
    supported_platform = models.JSONField(default=list, blank=True)
    license_files = models.JSONField(default=list, blank=True)
    dynamic = models.JSONField(default=list, blank=True)
    project_urls = models.JSONField(default=dict, blank=True)

    class Meta:
        app_label = "pythonnest"
        constraints = [
            models.UniqueConstraint(fields=["project", "canonical_version"], name="unique_release_version"),
        ]

    def __str__(self) -> str:
        return f"{self.project.name} {self.version}"


# Release columns that hold core metadata (copied between instances as a whole).
RELEASE_METADATA_FIELDS = (
    "metadata_version",
    "summary",
    "description",
    "description_content_type",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "license_expression",
    "keywords",
    "home_page",
    "download_url",
    "requires_python",
    "classifiers",
    "requires_dist",
    "requires_external",
    "provides_extra",
    "provides_dist",
    "obsoletes_dist",
    "platform",
    "supported_platform",
    "license_files",
    "dynamic",
    "project_urls",
)


class File(models.Model):
    """A distribution file; its bytes live in the blob store under ``sha256``."""

    class PackageType(models.TextChoices):
        WHEEL = "bdist_wheel", "wheel"
        SDIST = "sdist", "source"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="files")
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="files")
    filename = models.CharField(max_length=255, unique=True)
    packagetype = models.CharField(max_length=20, choices=PackageType.choices)
    python_version = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    md5 = models.CharField(max_length=32)
    blake2_256 = models.CharField(max_length=64)
    upload_time = models.DateTimeField(default=timezone.now)
    requires_python = models.CharField(max_length=255, blank=True, default="")
    # The PEP 658 core metadata file, itself a blob; empty when not offered.
    metadata_sha256 = models.CharField(max_length=64, blank=True, default="")
    # Where the file came from, for a redirect when the blob is missing.
    upstream_url = models.CharField(max_length=2000, blank=True, default="")

    class Meta:
        app_label = "pythonnest"
        ordering = ["filename"]

    def __str__(self) -> str:
        return self.filename


class JournalEntry(models.Model):
    """One change to the catalog; serials strictly increase in commit order."""

    class Action(models.TextChoices):
        CREATE_PROJECT = "create_project", "create project"
        ADD_FILE = "add_file", "add file"
        REMOVE_FILE = "remove_file", "remove file"
        REMOVE_RELEASE = "remove_release", "remove release"
        REMOVE_PROJECT = "remove_project", "remove project"
        YANK_RELEASE = "yank_release", "yank release"
        UNYANK_RELEASE = "unyank_release", "unyank release"
        UPDATE_METADATA = "update_metadata", "update metadata"
        SET_ORIGIN = "set_origin", "set origin"
        SET_PRIVATE = "set_private", "set private group"

    serial = models.BigIntegerField(primary_key=True)
    action = models.CharField(max_length=30, choices=Action.choices)
    # Normalized name, kept as text: the entry outlives a deleted project.
    project_name = models.CharField(max_length=200, db_index=True)
    version = models.CharField(max_length=100, blank=True, default="")
    filename = models.CharField(max_length=255, blank=True, default="", db_index=True)
    data = models.JSONField(default=dict, blank=True)
    # What made the change: add, upload, update, import, web, admin.
    source = models.CharField(max_length=20)
    submitted_by = models.CharField(max_length=150, blank=True, default="")
    created = models.DateTimeField(default=timezone.now, db_index=True)
    # The id of the project's private group just after the change, null when
    # it was public: the history of a private project stays private, even
    # once the project is deleted (the XML-RPC changelog reads it). Not a
    # foreign key: a deleted group must not turn the history public.
    private_group_id = models.IntegerField(null=True, blank=True)

    class Meta:
        app_label = "pythonnest"
        ordering = ["serial"]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return f"#{self.serial} {self.action} {self.project_name}"


class SerialCounter(models.Model):
    """The single row that hands out serials.

    Writers lock it for the rest of their transaction, so that serials are
    given in the order transactions commit, which a reader polling
    ``changelog_since_serial`` relies on.
    """

    value = models.BigIntegerField(default=0)

    class Meta:
        app_label = "pythonnest"

    def __str__(self) -> str:
        return str(self.value)


class RemovedFilename(models.Model):
    """A filename that was deleted; as on PyPI, an upload may never reuse it."""

    filename = models.CharField(max_length=255, unique=True)
    serial = models.BigIntegerField()

    class Meta:
        app_label = "pythonnest"

    def __str__(self) -> str:
        return self.filename


class InstanceIdentity(models.Model):
    """The single row holding this instance's UUID, made once, named in bundles."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "pythonnest"
        verbose_name_plural = "instance identity"

    def __str__(self) -> str:
        return str(self.uuid)


class PendingBlob(models.Model):
    """A file exported to a tag without its bytes (``export --allow-missing``).

    The next export to that tag sends the bytes when the store has them again,
    even though the file was added before that export's range.
    """

    tag = models.CharField(max_length=100)
    project_name = models.CharField(max_length=200)
    filename = models.CharField(max_length=255)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "pythonnest"
        constraints = [models.UniqueConstraint(fields=["tag", "filename"], name="unique_pending_blob")]
        indexes = [models.Index(fields=["tag", "project_name"], name="pending_blob_tag_project")]

    def __str__(self) -> str:
        return f"{self.tag}: {self.filename}"


class SyncState(models.Model):
    """How far export or import has gone for one tag (one peer)."""

    class Direction(models.TextChoices):
        EXPORT = "export", "export"
        IMPORT = "import", "import"

    tag = models.CharField(max_length=100)
    direction = models.CharField(max_length=6, choices=Direction.choices)
    # For an import, the source instance; for an export, ours.
    peer_instance = models.CharField(max_length=36, blank=True, default="")
    last_serial = models.BigIntegerField(default=0)
    updated = models.DateTimeField(default=timezone.now)
    # What the operator forced through (a gap accepted with --force), kept for audit.
    forced = models.JSONField(default=list, blank=True)

    class Meta:
        app_label = "pythonnest"
        constraints = [models.UniqueConstraint(fields=["tag", "direction"], name="unique_sync_state")]

    def __str__(self) -> str:
        return f"{self.direction} {self.tag} @ {self.last_serial}"


# -- Accounts: roles, API tokens and login throttling (issue 3) -------------
# Not catalog content: they are changed by ``pythonnest.core.access``,
# ``tokens`` and ``accounts``, and never journaled or exported.


class Role(models.Model):
    """A user's role on a project: Owners manage roles, Maintainers upload."""

    class Kind(models.TextChoices):
        OWNER = "Owner", "Owner"
        MAINTAINER = "Maintainer", "Maintainer"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_roles")
    role = models.CharField(max_length=20, choices=Kind.choices)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "pythonnest"
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="unique_project_role")]

    def __str__(self) -> str:
        return f"{self.role} of {self.project_id}: {self.user_id}"


class ApiToken(models.Model):
    """An API token; only the sha256 of its secret is kept, so it is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    # None: every project the user may upload to. Deleting the project
    # deletes the token, rather than widening it to every project.
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens")
    description = models.CharField(max_length=100, blank=True, default="")
    digest = models.CharField(max_length=64, unique=True)
    # The start of the secret, enough for a person to recognise the token.
    prefix = models.CharField(max_length=20)
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "pythonnest"
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.description or 'no description'})"


class FailedLogin(models.Model):
    """Failed password logins of one username from one address, for throttling."""

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=45)
    failures = models.PositiveIntegerField(default=0)
    first_failure = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "pythonnest"
        constraints = [models.UniqueConstraint(fields=["username", "address"], name="unique_failed_login")]

    def __str__(self) -> str:
        return f"{self.username} from {self.address}: {self.failures}"


# -- Mirroring: upstream state and the update lock (issue 4) -----------------
# Not catalog content: ``pythonnest.sync`` keeps them, nothing journals or
# exports them. They say how far ``update`` got, so that it resumes.


class Upstream(models.Model):
    """An index this instance mirrors, and how far the last complete run got."""

    # The simple index URL, normalized (scheme://host/path/ with a trailing slash).
    url = models.CharField(max_length=500, unique=True)
    # The upstream's serial when the last run finished without a failure;
    # None for an index without serials, or before the first complete run.
    last_serial = models.BigIntegerField(null=True, blank=True)
    # What the filters were, so that a change of filters re-examines every project.
    filter_digest = models.CharField(max_length=64, blank=True, default="")
    last_run = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "pythonnest"

    def __str__(self) -> str:
        return f"{self.url} @ {self.last_serial}"


class UpstreamProject(models.Model):
    """One project mirrored from an upstream, in step with it as of ``last_serial``."""

    upstream = models.ForeignKey(Upstream, on_delete=models.CASCADE, related_name="projects")
    normalized_name = models.CharField(max_length=200)
    # The upstream's serial of the project when it was last mirrored whole;
    # 0 for an index without serials.
    last_serial = models.BigIntegerField(default=0)
    # The filters it was mirrored with: under other filters it is looked at again.
    filter_digest = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        app_label = "pythonnest"
        constraints = [
            models.UniqueConstraint(fields=["upstream", "normalized_name"], name="unique_upstream_project"),
        ]

    def __str__(self) -> str:
        return f"{self.normalized_name} @ {self.last_serial}"


class UpdateLock(models.Model):
    """A lease that lets one ``update`` run at a time, on any number of machines.

    A row, not a database-specific advisory lock, so that it works the same
    on sqlite, PostgreSQL and MySQL; the holder renews ``expires`` while it
    runs, and a holder killed with -9 loses the lease when it expires (or at
    once, when the next run is on the same machine and the PID is gone).
    """

    name = models.CharField(max_length=50, unique=True)
    owner = models.CharField(max_length=200, blank=True, default="")
    acquired = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "pythonnest"

    def __str__(self) -> str:
        return f"{self.name}: {self.owner or 'free'}"
