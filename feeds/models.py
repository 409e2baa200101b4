"""Secret calendar feed addresses of staff members (issue 15, item 7).

A calendar app cannot sign in, so the address itself is the secret. Only its
SHA-256 is stored: a copy of the database (a backup, a dump) gives nobody a
working feed address. A token is revoked, never deleted, so the page and the
admin keep who had which feed and when it was last read.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class FeedScope(models.TextChoices):
    CLINIC = "clinic", "Every booked visit of the clinic"
    MINE = "mine", "My visits (booked by me, or of my patients)"


class FeedToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    scope = models.CharField(max_length=8, choices=FeedScope.choices)
    label = models.CharField(max_length=60, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=FeedScope.values), name="feedtoken_scope_known"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} feed of {self.user}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
