from django.contrib import admin

from feeds.models import FeedToken
from web.admin_access import SYSTEM, RoleAdmin


@admin.register(FeedToken)
class FeedTokenAdmin(RoleAdmin, admin.ModelAdmin):
    """Administrators see who has which feed and may revoke one; the secret is never shown.

    A feed is made by its owner, who alone sees its address (no add), and is
    revoked, never deleted (no delete).
    """

    view_roles = SYSTEM
    edit_roles = SYSTEM
    list_display = ["user", "scope", "label", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", "revoked_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "label"]
    readonly_fields = ["user", "scope", "created_at", "last_used_at"]
    fields = ["user", "scope", "label", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request: object, *args: object) -> bool:
        return False
