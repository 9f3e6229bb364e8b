"""The Django admin for staff: the catalog read-only, roles, tokens and login throttles.

The catalog changes only through the service layer, which journals every
change, so the admin shows it without letting anyone edit it; the
``project`` command and the web UI make the changes.
"""

from __future__ import annotations

from django.contrib import admin, messages

from pythonnest.core import tokens
from pythonnest.core.models import ApiToken, FailedLogin, File, JournalEntry, Project, Release, Role


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse without changing: a change here would escape the journal."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RoleInline(admin.TabularInline):
    model = Role
    extra = 0
    autocomplete_fields = ["user"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ["name", "normalized_name", "origin", "private_group", "last_serial", "created"]
    list_filter = ["origin", "private_group"]
    search_fields = ["normalized_name", "name"]
    inlines = [RoleInline]


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = ["project", "version", "yanked", "created"]
    list_filter = ["yanked"]
    search_fields = ["project__normalized_name", "version"]
    list_select_related = ["project"]


@admin.register(File)
class FileAdmin(ReadOnlyAdmin):
    list_display = ["filename", "packagetype", "size", "upload_time", "sha256"]
    list_filter = ["packagetype"]
    search_fields = ["filename", "sha256"]


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["serial", "action", "project_name", "version", "filename", "source", "submitted_by", "created"]
    list_filter = ["action", "source"]
    search_fields = ["project_name", "filename"]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role", "created"]
    list_filter = ["role"]
    search_fields = ["project__normalized_name", "user__username"]
    autocomplete_fields = ["project", "user"]
    list_select_related = ["project", "user"]


@admin.action(description="Revoke the selected tokens")
def revoke_tokens(modeladmin, request, queryset) -> None:
    revoked = sum(tokens.revoke_token(token) for token in queryset)
    modeladmin.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made where their secret can be shown once: ``pythonnest-manage token create``."""

    list_display = ["prefix", "user", "project", "description", "created", "last_used", "revoked"]
    list_filter = ["revoked"]
    search_fields = ["prefix", "user__username", "description"]
    readonly_fields = ["user", "project", "prefix", "created", "last_used", "revoked"]
    exclude = ["digest"]
    actions = [revoke_tokens]
    list_select_related = ["user", "project"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FailedLogin)
class FailedLoginAdmin(admin.ModelAdmin):
    """Deleting a row lifts the throttle on that username and address at once."""

    list_display = ["username", "address", "failures", "first_failure"]
    search_fields = ["username", "address"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
