"""Choices of the outbox (issue 15)."""

from django.db import models


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class MessageState(models.TextChoices):
    QUEUED = "queued", "Queued"
    # Claimed by a worker and handed (or about to be handed) to the provider:
    # never re-sent blindly (outreach.outbox.reconcile_stale says how it ends).
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class MessageKind(models.TextChoices):
    VISIT_REMINDER = "visit_reminder", "Visit reminder"
    REFILL_CALL = "refill_call", "Please call to book a refill"


class TaskState(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
