from django.contrib import admin

from feeds.models import FeedToken


@admin.register(FeedToken)
class FeedTokenAdmin(admin.ModelAdmin):
    """Administrators see who has which feed and may revoke one; the secret is never shown."""

    list_display = ["user", "scope", "label", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", "revoked_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "label"]
    readonly_fields = ["user", "scope", "created_at", "last_used_at"]
    fields = ["user", "scope", "label", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request: object) -> bool:
        return False  # a feed is made by its owner, who alone sees its address

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False  # revoked, never deleted
