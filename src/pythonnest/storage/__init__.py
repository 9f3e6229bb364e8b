"""Blob storage: the local content-addressed filesystem store."""

from __future__ import annotations

from django.conf import settings

from pythonnest.storage.local import LocalBlobStore


def blob_store() -> LocalBlobStore:
    """The store configured in settings; read at the edge, passed inward."""
    return LocalBlobStore(settings.PYTHONNEST_BLOB_ROOT)
